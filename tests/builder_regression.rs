//! Regression tests for a rustc 1.95.0 miscompile (rust-lang/rust#155241) that hit the `Ptq`
//! builder: two `Ptq::new(s)` arguments with the same value, each passed by value to a closure
//! that pushes rules, were merged into one stack slot by MIR GVN. The second call then started
//! from the first call's half-built rule list (it saw four rules instead of three) and the two
//! results freed the same buffer (double free, abort). See `docs/compiler-notes.md`.
//!
//! These tests build their closures the way users do and check the rules after every call, so
//! they fail (or abort) if `Ptq::new` is ever again an inlinable constant. They only show the
//! bug in optimized builds (`[profile.test] opt-level = 3`, and `cargo test --release`).

use rand::{rngs::StdRng, SeedableRng};
use shrink::nn::{Activation, Mlp};
use shrink::quant::{Gptq, Granularity, LayerRule, Ptq, Qat, QuantScheme, QuantWeight, Quantizer};

fn schemes() -> [QuantScheme; 4] {
    [
        QuantScheme::int4(Granularity::PerGroup(32)),
        QuantScheme::int8(Granularity::PerChannel),
        QuantScheme::int8(Granularity::PerTensor),
        QuantScheme::f16(),
    ]
}

fn expected(s1: QuantScheme, s2: QuantScheme, s3: QuantScheme) -> Vec<LayerRule> {
    [("a", s1), ("b", s2), ("c", s3)]
        .into_iter()
        .map(|(p, s)| LayerRule {
            pattern: p.to_string(),
            scheme: Some(s),
        })
        .collect()
}

/// The reported shape: a closure taking the builder by value, chaining three `layer_scheme`
/// calls, called twice with equal fresh builders.
#[test]
fn closure_taking_builder_by_value_called_twice() {
    let [s0, s1, s2, s3] = schemes();
    let f = |p: Ptq| {
        p.layer_scheme("a", s1)
            .layer_scheme("b", s2)
            .layer_scheme("c", s3)
    };
    let a = f(Ptq::new(s0));
    let b = f(Ptq::new(s0));
    assert_eq!(a.rules(), expected(s1, s2, s3).as_slice());
    assert_eq!(b.rules(), expected(s1, s2, s3).as_slice());
    assert_eq!(a, b);
    // Both own their rules: changing one leaves the other alone.
    let a = a.exclude("d");
    assert_eq!(a.rules().len(), 4);
    assert_eq!(b.rules().len(), 3);
}

/// A single `exclude` in the closure (the smallest closure body that still mutates).
#[test]
fn one_rule_closure_called_twice() {
    let [s0, ..] = schemes();
    let f = |p: Ptq| p.exclude("layers.1");
    let a = f(Ptq::new(s0));
    let b = f(Ptq::new(s0));
    assert_eq!(a.rules().len(), 1);
    assert_eq!(b.rules().len(), 1);
    assert_eq!(b.scheme_for("layers.1"), None);
    assert_eq!(b.scheme_for("layers.0"), Some(s0));
}

/// The closure builds the whole builder itself (no argument), called twice.
#[test]
fn closure_building_the_builder_called_twice() {
    let [s0, s1, s2, s3] = schemes();
    let make = || {
        Ptq::new(s0)
            .layer_scheme("a", s1)
            .layer_scheme("b", s2)
            .layer_scheme("c", s3)
    };
    for _ in 0..2 {
        assert_eq!(make().rules(), expected(s1, s2, s3).as_slice());
    }
    let (a, b) = (make(), make());
    assert_eq!(a, b);
}

/// A generic helper taking `FnOnce(Ptq) -> Ptq`, the shape of the upstream reproducer.
#[test]
fn fn_once_helper_called_twice() {
    fn with(s: QuantScheme, g: impl FnOnce(Ptq) -> Ptq) -> Ptq {
        g(Ptq::new(s))
    }
    let [s0, s1, s2, s3] = schemes();
    let a = with(s0, |p| {
        p.layer_scheme("a", s1)
            .layer_scheme("b", s2)
            .layer_scheme("c", s3)
    });
    let b = with(s0, |p| {
        p.layer_scheme("a", s1)
            .layer_scheme("b", s2)
            .layer_scheme("c", s3)
    });
    assert_eq!(a.rules(), expected(s1, s2, s3).as_slice());
    assert_eq!(b.rules(), expected(s1, s2, s3).as_slice());
}

/// `Gptq` and `Qat` hold a `Ptq` made by `Ptq::new`; before `Ptq::new` was kept out of line, the
/// second of two closure-built values differed from the first on rustc 1.95.0.
#[test]
fn gptq_and_qat_closures_called_twice() {
    let [s0, s1, s2, _] = schemes();
    let g = |q: Gptq| q.layer_scheme("a", s1).layer_scheme("b", s2).exclude("c");
    let want = Gptq::new(s0)
        .layer_scheme("a", s1)
        .layer_scheme("b", s2)
        .exclude("c");
    let (a, b) = (g(Gptq::new(s0)), g(Gptq::new(s0)));
    assert_eq!(a, want);
    assert_eq!(b, want);

    let q = |q: Qat| q.layer_scheme("a", s1).layer_scheme("b", s2).exclude("c");
    let want = Qat::new(s0)
        .layer_scheme("a", s1)
        .layer_scheme("b", s2)
        .exclude("c");
    let (a, b) = (q(Qat::new(s0)), q(Qat::new(s0)));
    assert_eq!(a, want);
    assert_eq!(b, want);
}

/// The same through observable behaviour: quantize a small MLP twice with builders made by one
/// closure and check which layer got which storage.
#[test]
fn quantized_layers_follow_the_rules_each_time() {
    let mlp = Mlp::new(
        &[64, 32, 32, 10],
        Activation::Relu,
        &mut StdRng::seed_from_u64(7),
    )
    .expect("small MLP");
    let s0 = QuantScheme::int4(Granularity::PerGroup(32));
    let f = |p: Ptq| {
        p.layer_scheme("layers.0", QuantScheme::int8(Granularity::PerChannel))
            .layer_scheme("layers.1", QuantScheme::f16())
            .exclude("layers.2")
    };
    let first = f(Ptq::new(s0));
    let second = f(Ptq::new(s0));
    for ptq in [&first, &second] {
        assert_eq!(ptq.rules().len(), 3);
        let q = ptq.quantize_mlp(&mlp, None).expect("quantize");
        let kinds: Vec<&str> = q
            .layers()
            .iter()
            .map(|l| match l.weight() {
                QuantWeight::Int8(_) => "int8",
                QuantWeight::F16 { .. } => "f16",
                QuantWeight::F32(_) => "f32",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["int8", "f16", "f32"]);
    }
}
