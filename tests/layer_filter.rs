//! One layer filter for pruners and quantizers, and the `StructuredPruner` trait: the glob rules,
//! every pruner and quantizer touching exactly the layers a filter selects, the old shorthands
//! (`skip`, `exclude`) against the filter, typos as errors, and structured pruning written once
//! for an MLP and an encoder.

mod common;

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::nn::{
    glob_matches, Activation, Encoder, EncoderConfig, LayerFilter, Linear, Mlp, NamedLinears,
    NormPlacement,
};
use shrink::prune::{
    ActivationNorms, FfnChannelPruner, HeadPruner, MagnitudePruner, NeuronPruner, NmPruner, Pruner,
    RandomPruner, StructuredPruner, ThresholdPruner, WandaPruner,
};
use shrink::quant::{
    Calibration, Gptq, Granularity, Ptq, Qat, QuantLinear, QuantScheme, QuantWeight, Quantizer,
};
use shrink::Error;

fn config() -> EncoderConfig {
    EncoderConfig {
        vocab_size: 40,
        hidden_size: 16,
        num_heads: 4,
        num_layers: 3,
        intermediate_size: 32,
        max_positions: 12,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    }
}

fn encoder(seed: u64) -> Encoder {
    Encoder::new(config(), &mut StdRng::seed_from_u64(seed)).unwrap()
}

fn mlp(sizes: &[usize], seed: u64) -> Mlp {
    Mlp::new(sizes, Activation::Relu, &mut StdRng::seed_from_u64(seed)).unwrap()
}

fn linears(model: &dyn NamedLinears) -> Vec<(String, Linear)> {
    let mut out = Vec::new();
    model.visit_linears(&mut |n, l| out.push((n.to_string(), l.clone())));
    out
}

/// The names of the layers whose weights, bias or mask differ between two f32 models.
fn changed(before: &dyn NamedLinears, after: &dyn NamedLinears) -> Vec<String> {
    linears(before)
        .into_iter()
        .zip(linears(after))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((n, _), _)| n)
        .collect()
}

fn quantized_names_encoder(q: &Encoder<QuantLinear>) -> Vec<String> {
    let mut out = Vec::new();
    q.visit_layers(&mut |n, l| {
        if !matches!(l.weight(), QuantWeight::F32(_)) {
            out.push(n.to_string());
        }
    });
    out
}

fn quantized_names_mlp(q: &Mlp<QuantLinear>) -> Vec<String> {
    q.layers()
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l.weight(), QuantWeight::F32(_)))
        .map(|(i, _)| format!("layers.{i}"))
        .collect()
}

fn assert_layers_error<T: std::fmt::Debug>(r: shrink::Result<T>, pattern: &str) {
    match r {
        Err(Error::InvalidParam {
            name: "layers",
            reason,
        }) => assert!(reason.contains(pattern), "{reason}"),
        other => panic!("expected InvalidParam `layers` naming `{pattern}`, got {other:?}"),
    }
}

#[test]
fn glob_rules() {
    let yes = [
        ("layers.0", "layers.0"),
        ("layers.*", "layers.11"),
        ("layers.1*", "layers.1"),
        ("layers.1*", "layers.12"),
        ("blocks.*.ffn.*", "blocks.0.ffn.in"),
        ("blocks.*.ffn.*", "blocks.10.ffn.out"),
        ("blocks.*.attn.o", "blocks.2.attn.o"),
        ("blocks.1.**", "blocks.1.attn.q"),
        ("blocks.**", "blocks.1.ffn.out"),
        ("**.o", "blocks.0.attn.o"),
        ("**", "layers.3"),
        ("blocks.**.q", "blocks.0.attn.q"),
        ("blocks.**.attn.q", "blocks.0.attn.q"),
        ("*s.*", "layers.0"),
        ("b*s.*.a*n.*", "blocks.0.attn.v"),
        ("blocks.0.**.attn.**", "blocks.0.attn.k"),
    ];
    let no = [
        ("layers.0", "layers.01"),
        ("layers.0", "layers.0.x"),
        ("layers.1*", "layers.2"),
        ("blocks.*", "blocks.0.attn.q"), // `*` never crosses a dot
        ("*", "layers.0"),
        ("*.o", "blocks.0.attn.o"),
        ("blocks.*.ffn.*", "blocks.0.attn.q"),
        ("blocks.1.**", "blocks.10.attn.q"),
        ("blocks.1.**", "blocks.0.attn.q"),
        ("**.o", "blocks.0.attn.out"),
        ("layers.*", "layer.0"),
        ("Layers.0", "layers.0"), // case matters
    ];
    for (p, n) in yes {
        assert!(glob_matches(p, n), "`{p}` should match `{n}`");
        assert!(LayerFilter::new().include(p).matches(n));
        assert!(!LayerFilter::new().exclude(p).matches(n));
    }
    for (p, n) in no {
        assert!(!glob_matches(p, n), "`{p}` should not match `{n}`");
        assert!(!LayerFilter::new().include(p).matches(n));
        assert!(LayerFilter::new().exclude(p).matches(n));
    }
    // Includes are OR-ed, excludes win.
    let f = LayerFilter::new()
        .include("blocks.0.**")
        .include("**.ffn.in")
        .exclude("**.attn.o");
    assert!(f.matches("blocks.0.attn.q"));
    assert!(f.matches("blocks.2.ffn.in"));
    assert!(!f.matches("blocks.0.attn.o"));
    assert!(!f.matches("blocks.2.ffn.out"));
    // No pattern: everything.
    assert!(LayerFilter::new().is_all());
    assert!(LayerFilter::new().matches("anything.at.all"));
    assert_eq!(LayerFilter::default(), LayerFilter::new());
}

#[test]
fn bad_patterns_and_typos_are_errors_naming_the_pattern() {
    let names: Vec<String> = linears(&encoder(0)).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 18);
    for bad in [
        "",
        "blocks..attn",
        ".blocks",
        "blocks.",
        "blocks.0**",
        "a.***",
    ] {
        let f = LayerFilter::new().include(bad);
        assert!(
            matches!(f.check(), Err(Error::InvalidParam { name: "layers", .. })),
            "{bad:?}"
        );
        assert_layers_error(f.apply(&names), &format!("`{bad}`"));
        assert_layers_error(LayerFilter::new().exclude(bad).apply(&names), bad);
    }
    // A pattern matching no layer, as include or exclude.
    assert_layers_error(
        LayerFilter::new().include("blocks.*.fnn.*").apply(&names),
        "blocks.*.fnn.*",
    );
    assert_layers_error(
        LayerFilter::new().exclude("blocks.3.**").apply(&names),
        "blocks.3.**",
    );
    // Every pattern matches something but together they select nothing.
    assert_layers_error(
        LayerFilter::new()
            .include("blocks.0.**")
            .exclude("blocks.0.*.*")
            .apply(&names),
        "selects no layer",
    );
    // Selection keeps the model's order.
    let f = LayerFilter::new()
        .include("**.o")
        .include("blocks.0.attn.q");
    assert_eq!(
        f.apply(&names).unwrap(),
        [
            "blocks.0.attn.q",
            "blocks.0.attn.o",
            "blocks.1.attn.o",
            "blocks.2.attn.o"
        ]
    );
    // No pattern selects every layer, even of a model with none.
    assert_eq!(LayerFilter::new().apply(&names).unwrap(), names);
    assert!(LayerFilter::new().apply(&[]).unwrap().is_empty());
}

/// The filter a pruner and a quantizer share in the encoder tests.
fn encoder_filter() -> LayerFilter {
    LayerFilter::new()
        .include("blocks.*.attn.*")
        .include("blocks.1.ffn.in")
        .exclude("**.o")
        .exclude("blocks.2.**")
}

const ENCODER_SELECTED: [&str; 7] = [
    "blocks.0.attn.q",
    "blocks.0.attn.k",
    "blocks.0.attn.v",
    "blocks.1.attn.q",
    "blocks.1.attn.k",
    "blocks.1.attn.v",
    "blocks.1.ffn.in",
];

#[test]
fn pruners_and_quantizers_touch_the_same_layers_of_an_encoder() {
    let dense = encoder(1);
    let filter = encoder_filter();
    let pruners: Vec<Box<dyn Pruner>> = vec![
        Box::new(MagnitudePruner::new(0.5).layers(filter.clone())),
        Box::new(MagnitudePruner::new(0.5).global().layers(filter.clone())),
        Box::new(RandomPruner::new(0.5, 3).layers(filter.clone())),
        Box::new(ThresholdPruner::new(0.5).layers(filter.clone())),
        Box::new(NmPruner::new(2, 4).layers(filter.clone())),
    ];
    for p in &pruners {
        let mut m = dense.clone();
        let report = p.prune(&mut m).unwrap();
        let reported: Vec<&str> = report.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(reported, ENCODER_SELECTED);
        assert_eq!(changed(&dense, &m), ENCODER_SELECTED);
    }

    let seqs: Vec<Vec<u32>> = (0..6)
        .map(|i| (0..10).map(|j| ((i * 7 + j * 3) % 40) as u32).collect())
        .collect();
    let calibration = Calibration::from_encoder(&dense, &seqs).unwrap();
    let int8 = QuantScheme::int8(Granularity::PerChannel);
    let quantizers: Vec<Box<dyn Quantizer>> = vec![
        Box::new(Ptq::new(int8).layers(filter.clone())),
        Box::new(Gptq::new(int8).layers(filter.clone())),
    ];
    for q in &quantizers {
        let qe = q.quantize_encoder(&dense, Some(&calibration)).unwrap();
        assert_eq!(quantized_names_encoder(&qe), ENCODER_SELECTED);
    }
}

#[test]
fn pruners_and_quantizers_touch_the_same_layers_of_an_mlp() {
    let (train, _) = common::digits();
    let dense = mlp(&[64, 32, 32, 16, 10], 2);
    let filter = LayerFilter::new().include("layers.*").exclude("layers.3");
    let selected = ["layers.0", "layers.1", "layers.2"];
    let filter2 = LayerFilter::new().include("layers.1").include("layers.3");
    let selected2 = ["layers.1", "layers.3"];
    let x = train.features().slice(ndarray::s![..64, ..]).to_owned();
    let norms = ActivationNorms::from_mlp(&dense, x.view()).unwrap();
    for (f, want) in [(&filter, &selected[..]), (&filter2, &selected2[..])] {
        let pruners: Vec<Box<dyn Pruner>> = vec![
            Box::new(MagnitudePruner::new(0.6).layers(f.clone())),
            Box::new(RandomPruner::new(0.6, 9).layers(f.clone())),
            Box::new(ThresholdPruner::new(0.3).layers(f.clone())),
            Box::new(NmPruner::new(1, 4).layers(f.clone())),
            Box::new(WandaPruner::new(0.6, norms.clone()).layers(f.clone())),
        ];
        for p in &pruners {
            let mut m = dense.clone();
            p.prune(&mut m).unwrap();
            assert_eq!(changed(&dense, &m), want);
        }
        let calibration = Calibration::from_mlp(&dense, &[x.view()]).unwrap();
        let int4 = QuantScheme::int4(Granularity::PerGroup(16));
        let quantizers: Vec<Box<dyn Quantizer>> = vec![
            Box::new(Ptq::new(int4).layers(f.clone())),
            Box::new(Gptq::new(int4).layers(f.clone())),
        ];
        for q in &quantizers {
            let qm = q.quantize_mlp(&dense, Some(&calibration)).unwrap();
            assert_eq!(quantized_names_mlp(&qm), want);
        }
        // QAT: the unselected layers are trained normally and stay f32.
        let qat = Qat::new(int4).layers(f.clone()).epochs(1).seed(4);
        assert_eq!(qat.layer_filter(), f);
        let (_, qm) = qat.fit(&dense, &train).unwrap();
        assert_eq!(quantized_names_mlp(&qm), want);
    }
}

#[test]
fn old_shorthands_equal_the_filter() {
    let dense = mlp(&[64, 32, 32, 10], 5);
    // Pruners: `.skip(names)` is a filter excluding those names.
    let names = ["layers.0", "layers.2"];
    let filter = LayerFilter::new().exclude("layers.0").exclude("layers.2");
    let pairs: Vec<(Box<dyn Pruner>, Box<dyn Pruner>)> = vec![
        (
            Box::new(MagnitudePruner::new(0.7).global().skip(names)),
            Box::new(MagnitudePruner::new(0.7).global().layers(filter.clone())),
        ),
        (
            Box::new(RandomPruner::new(0.7, 1).skip(names)),
            Box::new(RandomPruner::new(0.7, 1).layers(filter.clone())),
        ),
        (
            Box::new(ThresholdPruner::new(0.2).skip(names)),
            Box::new(ThresholdPruner::new(0.2).layers(filter.clone())),
        ),
        (
            Box::new(NmPruner::new(2, 4).skip(names)),
            Box::new(NmPruner::new(2, 4).layers(filter.clone())),
        ),
    ];
    for (old, new) in &pairs {
        let (mut a, mut b) = (dense.clone(), dense.clone());
        let (ra, rb) = (old.prune(&mut a).unwrap(), new.prune(&mut b).unwrap());
        assert_eq!(ra, rb);
        assert_eq!(a, b);
        assert_eq!(changed(&dense, &a), ["layers.1"]);
    }
    assert_eq!(
        MagnitudePruner::new(0.5).skip(names),
        MagnitudePruner::new(0.5).layers(filter.clone())
    );
    assert_eq!(
        MagnitudePruner::new(0.5).skip(names).layer_filter(),
        &filter
    );
    // `skip` replaces the filter, as it replaced the skip list.
    assert_eq!(
        MagnitudePruner::new(0.5)
            .layers(LayerFilter::new().include("layers.1"))
            .skip(names),
        MagnitudePruner::new(0.5).skip(names)
    );
    // An empty skip list is the default filter: every layer.
    assert_eq!(
        MagnitudePruner::new(0.5).skip(Vec::<String>::new()),
        MagnitudePruner::new(0.5)
    );

    // Quantizers: `.exclude(p)` quantizes the same layers as `.layers(filter excluding p)`.
    let s = QuantScheme::int8(Granularity::PerChannel);
    let old = Ptq::new(s).exclude("layers.1").quantize_mlp(&dense, None);
    let new = Ptq::new(s)
        .layers(LayerFilter::new().exclude("layers.1"))
        .quantize_mlp(&dense, None);
    assert_eq!(old.unwrap(), new.unwrap());
    let x = Array2::from_shape_fn((32, 64), |(i, j)| ((i * 31 + j * 17) % 13) as f32 - 6.0);
    let calibration = Calibration::from_mlp(&dense, &[x.view()]).unwrap();
    let old = Gptq::new(s)
        .exclude("layers.*")
        .layer_scheme("layers.2", s)
        .quantize_mlp(&dense, Some(&calibration));
    let new = Gptq::new(s)
        .layers(LayerFilter::new().include("layers.2"))
        .quantize_mlp(&dense, Some(&calibration));
    let (old, new) = (old.unwrap(), new.unwrap());
    assert_eq!(old, new);
    assert_eq!(quantized_names_mlp(&new), ["layers.2"]);
    // The one documented difference: an exclude rule is a rule, so a later rule overrides it;
    // the filter always wins.
    let f16 = QuantScheme::f16();
    let rule = Ptq::new(s)
        .exclude("layers.1")
        .layer_scheme("layers.1", f16);
    let filtered = Ptq::new(s)
        .layers(LayerFilter::new().exclude("layers.1"))
        .layer_scheme("layers.1", f16);
    assert_eq!(rule.scheme_for("layers.1"), Some(f16));
    assert_eq!(filtered.scheme_for("layers.1"), None);
}

#[test]
fn a_pattern_matching_nothing_is_an_error_and_changes_nothing() {
    let dense = mlp(&[64, 32, 32, 10], 6);
    let typo = LayerFilter::new().include("layer.1");
    let pruners: Vec<Box<dyn Pruner>> = vec![
        Box::new(MagnitudePruner::new(0.5).layers(typo.clone())),
        Box::new(RandomPruner::new(0.5, 0).layers(typo.clone())),
        Box::new(ThresholdPruner::new(0.5).layers(typo.clone())),
        Box::new(NmPruner::new(2, 4).layers(typo.clone())),
        Box::new(WandaPruner::new(0.5, ActivationNorms::default()).layers(typo.clone())),
        Box::new(MagnitudePruner::new(0.5).skip(["layers.3"])),
    ];
    for p in &pruners {
        let mut m = dense.clone();
        let r = p.prune(&mut m);
        match r {
            Err(Error::InvalidParam {
                name: "layers",
                ref reason,
            }) => {
                assert!(
                    reason.contains("layer.1") || reason.contains("layers.3"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(&m, &dense);
    }
    let s = QuantScheme::int8(Granularity::PerChannel);
    assert_layers_error(
        Ptq::new(s).layers(typo.clone()).quantize_mlp(&dense, None),
        "layer.1",
    );
    assert_layers_error(
        Gptq::new(s).layers(typo.clone()).quantize_mlp(&dense, None),
        "layer.1",
    );
    let (train, _) = common::digits();
    assert_layers_error(
        Qat::new(s).layers(typo.clone()).fit(&dense, &train),
        "layer.1",
    );
    assert_layers_error(
        Ptq::new(s)
            .layers(LayerFilter::new().include(""))
            .quantize_encoder(&encoder(0), None),
        "``",
    );
    // A rule pattern matching nothing keeps its own name.
    assert!(matches!(
        Ptq::new(s)
            .layer_scheme("layers.*.q", s)
            .quantize_mlp(&dense, None),
        Err(Error::InvalidParam { name: "rules", .. })
    ));
    // The structured pruners: their groups are hidden layers or blocks.
    assert_layers_error(
        NeuronPruner::new(0.5)
            .layers(LayerFilter::new().include("layers.2")) // the output layer
            .prune(&dense),
        "layers.2",
    );
    let e = encoder(0);
    assert_layers_error(
        HeadPruner::new(0.5)
            .layers(LayerFilter::new().include("blocks.0.attn.q")) // a layer, not a block
            .prune(&e),
        "blocks.0.attn.q",
    );
    assert_layers_error(
        FfnChannelPruner::new(0.5)
            .layers(LayerFilter::new().exclude("blocks.*"))
            .prune(&e),
        "selects no layer",
    );
}

/// Structured pruning written once: scores, prunes and checks a pruner on any model kind.
fn prune_and_check<P: StructuredPruner>(pruner: &P, model: &P::Model, want: &[&str]) -> P::Model {
    let groups = pruner.groups(model);
    let scores = pruner.scores(model).unwrap();
    let names: Vec<&str> = scores.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want);
    assert!(names.iter().all(|n| groups.iter().any(|g| g == n)));
    assert!(names.iter().all(|n| pruner.layer_filter().matches(n)));
    let (smaller, report) = pruner.prune(model).unwrap();
    let summary = pruner.summary(&report);
    assert_eq!(summary.layers.len(), scores.len());
    for ((name, s), (unit, before, kept)) in scores.iter().zip(&summary.layers) {
        assert_eq!(name, unit);
        assert_eq!(s.len(), *before);
        let remove = ((*before as f32 * pruner.fraction()).round() as usize).min(before - 1);
        assert_eq!(*kept, before - remove, "{name}");
    }
    assert!(summary.params_after < summary.params_before);
    // Pruning again from the same model gives the same result (the model is not changed).
    let (again, report2) = pruner.prune(model).unwrap();
    assert_eq!(pruner.summary(&report2), summary);
    drop(again);
    smaller
}

#[test]
fn structured_pruners_through_one_trait() {
    let m = mlp(&[12, 20, 16, 10, 4], 7);
    let all = NeuronPruner::new(0.5);
    let small = prune_and_check(&all, &m, &["layers.0", "layers.1", "layers.2"]);
    assert_eq!(small.sizes(), [12, 10, 8, 5, 4]);
    // Unfiltered, the trait and the inherent method agree.
    assert_eq!(
        StructuredPruner::prune(&all, &m).unwrap(),
        NeuronPruner::prune(&all, &m).unwrap()
    );
    let some = NeuronPruner::new(0.5).layers(LayerFilter::new().exclude("layers.1"));
    let small = prune_and_check(&some, &m, &["layers.0", "layers.2"]);
    assert_eq!(small.sizes(), [12, 10, 16, 5, 4]);
    // The unselected layer keeps its incoming weights from the kept inputs.
    assert_eq!(small.layers()[1].in_features(), 10);

    let e = encoder(8);
    let heads = HeadPruner::new(0.5).layers(LayerFilter::new().exclude("blocks.1"));
    let narrow = prune_and_check(&heads, &e, &["blocks.0", "blocks.2"]);
    assert_eq!(narrow.block_widths(), [(2, 32), (4, 32), (2, 32)]);
    assert_eq!(narrow.blocks()[1], e.blocks()[1]);
    let channels = FfnChannelPruner::new(0.25).layers(LayerFilter::new().include("blocks.1*"));
    let narrow = prune_and_check(&channels, &narrow, &["blocks.1"]);
    assert_eq!(narrow.block_widths(), [(2, 32), (4, 24), (2, 32)]);
    let ids = [1u32, 5, 9, 3];
    assert_eq!(narrow.forward(&ids, None, None).unwrap().dim(), (4, 16));
    // Through the trait, unfiltered, with a random score check: the kept heads are the
    // highest-scored ones.
    let all_heads = HeadPruner::new(0.5);
    let scores = all_heads.scores(&e).unwrap();
    let (_, report) = StructuredPruner::prune(&all_heads, &e).unwrap();
    for ((_, s), block) in scores.iter().zip(&report.blocks) {
        let min_kept = block
            .kept_heads
            .iter()
            .map(|&h| s[h])
            .fold(f32::INFINITY, f32::min);
        let max_removed = (0..s.len())
            .filter(|h| !block.kept_heads.contains(h))
            .map(|h| s[h])
            .fold(f32::NEG_INFINITY, f32::max);
        assert!(min_kept >= max_removed);
    }
    // Bad settings through the trait.
    assert!(matches!(
        NeuronPruner::new(1.0).scores(&m),
        Err(Error::InvalidParam {
            name: "fraction",
            ..
        })
    ));
    let mut bad = e.clone();
    let mut rng = StdRng::seed_from_u64(9);
    bad.visit_linears_mut(&mut |name, l| {
        if name == "blocks.2.ffn.in" {
            // `set_params` checks finiteness; write through `params_mut` instead.
            let (w, _) = l.params_mut();
            w[rng.random_range(0..16)] = f32::NAN;
        }
    });
    assert!(matches!(
        FfnChannelPruner::new(0.5).scores(&bad),
        Err(Error::NonFinite(_))
    ));
    // A filter leaving the bad block out does not look at it.
    let skip_bad = FfnChannelPruner::new(0.5).layers(LayerFilter::new().exclude("blocks.2"));
    assert_eq!(skip_bad.scores(&bad).unwrap().len(), 2);
}
