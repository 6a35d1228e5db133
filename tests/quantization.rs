//! Quantization on the digits baseline and on an encoder: accuracy per scheme, exact bytes,
//! round-trip bounds, integer arithmetic, GPTQ against RTN, QAT, and error cases.
//!
//! Run: `cargo test --release --test quantization -- --nocapture` (prints the measured figures).

mod common;

use std::sync::OnceLock;

use shrink::data::Dataset;
use shrink::eval::evaluate;
use shrink::nn::Mlp;
use shrink::quant::{
    ActivationMode, Calibration, Gptq, Granularity, Ptq, Qat, QuantReport, QuantScheme, Quantizer,
};
use shrink::Forward;

struct Setup {
    train: Dataset,
    test: Dataset,
    mlp: Mlp,
    calibration: Calibration,
    f32_accuracy: f32,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let (train, test) = common::digits();
        let mlp = common::trained_mlp(&train, &[64, 256, 128, 10], 30, 0);
        let calibration = Calibration::from_mlp(&mlp, &[train.features()]).unwrap();
        let f32_accuracy = evaluate(&mlp, &test).unwrap().accuracy;
        Setup {
            train,
            test,
            mlp,
            calibration,
            f32_accuracy,
        }
    })
}

fn accuracy(m: &dyn Forward, test: &Dataset) -> f32 {
    evaluate(m, test).unwrap().accuracy
}

#[test]
fn digits_ptq_and_gptq_accuracy_and_bytes() {
    let s = setup();
    let f32_bytes = s.mlp.storage_bytes();
    let int8 = QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static);
    let q8 = Ptq::new(int8)
        .quantize_mlp(&s.mlp, Some(&s.calibration))
        .unwrap();
    let int4 = QuantScheme::int4(Granularity::PerGroup(32));
    let q4 = Ptq::new(int4).quantize_mlp(&s.mlp, None).unwrap();
    let g4 = Gptq::new(int4)
        .quantize_mlp(&s.mlp, Some(&s.calibration))
        .unwrap();
    let (a8, a4, ag) = (
        accuracy(&q8, &s.test),
        accuracy(&q4, &s.test),
        accuracy(&g4, &s.test),
    );
    let r8 = q8.storage_bytes() as f32 / f32_bytes as f32;
    let r4 = q4.storage_bytes() as f32 / f32_bytes as f32;
    eprintln!(
        "f32 {:.4} ({f32_bytes} B) | int8 static ch {a8:.4} ({} B, {r8:.4}) | int4 g32 RTN {a4:.4} \
         ({} B, {r4:.4}) | GPTQ int4 g32 {ag:.4} ({} B)",
        s.f32_accuracy,
        q8.storage_bytes(),
        q4.storage_bytes(),
        g4.storage_bytes()
    );
    eprintln!("{}", QuantReport::for_mlp(&s.mlp, &q4).unwrap());
    assert!(s.f32_accuracy - a8 <= 0.005, "int8 static: {a8}");
    assert!(s.f32_accuracy - a4 <= 0.02, "int4 RTN: {a4}");
    assert!(ag >= a4, "GPTQ {ag} < RTN {a4}");
    assert!(r8 <= 0.27, "int8 bytes ratio {r8}");
    assert!(r4 <= 0.16, "int4 bytes ratio {r4}");
    // Exact bytes: values + scales (+ zero points) + f32 biases.
    let want8: usize = [(64, 256), (256, 128), (128, 10)]
        .iter()
        .map(|&(i, o)| i * o + 4 * o + 4 * o)
        .sum::<usize>()
        + 3 * 8;
    assert_eq!(q8.storage_bytes(), want8);
    let want4: usize = [(64, 256), (256, 128), (128, 10)]
        .iter()
        .map(|&(i, o)| i * o / 2 + 2 * (i / 32) * o + 4 * o)
        .sum();
    assert_eq!(q4.storage_bytes(), want4);
}

#[test]
fn half_precision_models_agree_with_f32() {
    let s = setup();
    let want = s.mlp.predict(s.test.features()).unwrap();
    for scheme in [QuantScheme::f16(), QuantScheme::bf16()] {
        let q = Ptq::new(scheme).quantize_mlp(&s.mlp, None).unwrap();
        let got = q.predict(s.test.features()).unwrap();
        let same = want.iter().zip(&got).filter(|(a, b)| a == b).count() as f32 / want.len() as f32;
        eprintln!(
            "{}: agreement {same:.4}, {} B",
            scheme.label(),
            q.storage_bytes()
        );
        assert!(same >= 0.995, "{}: {same}", scheme.label());
    }
}

#[test]
fn qat_int4_is_within_a_point_of_f32() {
    let s = setup();
    let int4 = QuantScheme::int4(Granularity::PerGroup(32));
    let (_, q) = Qat::new(int4)
        .epochs(3)
        .seed(0)
        .fit(&s.mlp, &s.train)
        .unwrap();
    let a = accuracy(&q, &s.test);
    eprintln!("QAT int4 g32: {a:.4} (f32 {:.4})", s.f32_accuracy);
    assert!(s.f32_accuracy - a <= 0.01, "QAT int4 {a}");
}

/// int4 g32 weights with dynamic int8 activations (W4A8, per 32 columns) keep the weight-only
/// int4 accuracy, and batch 1 (the integer kernel) agrees with batch N (the f32 GEMM on the
/// dequantized activations).
#[test]
fn int4_with_int8_activations_matches_weight_only_int4() {
    let s = setup();
    let g32 = Granularity::PerGroup(32);
    let wo = Ptq::new(QuantScheme::int4(g32))
        .quantize_mlp(&s.mlp, None)
        .unwrap();
    let w4a8 = Ptq::new(QuantScheme::int4(g32).activations(ActivationMode::Dynamic))
        .quantize_mlp(&s.mlp, None)
        .unwrap();
    let (a_wo, a_dyn) = (accuracy(&wo, &s.test), accuracy(&w4a8, &s.test));
    eprintln!("int4 g32 weight-only {a_wo:.4} | int4 g32 x int8 dynamic {a_dyn:.4}");
    assert!(a_wo - a_dyn <= 0.006, "W4A8 {a_dyn} vs weight-only {a_wo}");
    let x = s.test.features().slice(ndarray::s![..16, ..]).to_owned();
    let batch = w4a8.forward(x.view()).unwrap();
    for i in 0..x.nrows() {
        let one = w4a8.forward(x.slice(ndarray::s![i..i + 1, ..])).unwrap();
        for (a, b) in one.row(0).iter().zip(batch.row(i)) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "row {i}: {a} vs {b}"
            );
        }
    }
    let static_int4 = QuantScheme::int4(g32).activations(ActivationMode::Static);
    assert!(Ptq::new(static_int4)
        .quantize_mlp(&s.mlp, Some(&s.calibration))
        .is_err());
}
