//! Writes the seed corpora of the fuzz targets under `fuzz/seeds/<target>/`: small valid files
//! of every model kind the loaders read (so the fuzzer starts from real headers, configs and
//! tensors rather than from nothing), and a few decoded-kernel-call inputs.
//!
//! Run from anywhere: `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`. The
//! output is deterministic (fixed seeds); the files are committed.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::io::ModelFile;
use shrink::nn::{Activation, Encoder, EncoderConfig, Mlp, NormPlacement};
use shrink::prune::{MagnitudePruner, Pruner};
use shrink::quant::{ActivationMode, Calibration, Granularity, Ptq, QuantScheme, Quantizer};
use shrink::sparse::SparseLinear;

fn dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&d).unwrap();
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    assert!(
        bytes.len() < 100_000,
        "{target}/{name} is {} bytes",
        bytes.len()
    );
    fs::write(dir(target).join(name), bytes).unwrap();
    println!("{target}/{name}: {} bytes", bytes.len());
}

fn mlps() {
    let mut rng = StdRng::seed_from_u64(0);
    let mlp = Mlp::new(&[8, 16, 4], Activation::Relu, &mut rng).unwrap();
    write("load_mlp", "dense", &mlp.to_bytes().unwrap());
    let gelu = Mlp::new(&[4, 4, 4, 2], Activation::Gelu, &mut rng).unwrap();
    write("load_mlp", "dense_gelu", &gelu.to_bytes().unwrap());

    let mut pruned = mlp.clone();
    MagnitudePruner::new(0.6).prune(&mut pruned).unwrap();
    let sparse = pruned
        .map_layers(|_, l| SparseLinear::from_linear(l))
        .unwrap();
    write("load_mlp", "sparse", &sparse.to_bytes().unwrap());

    let x = Array2::from_shape_fn((6, 8), |_| rng.random_range(-1.0f32..1.0));
    let cal = Calibration::from_mlp(&mlp, &[x.view()]).unwrap();
    let schemes = [
        ("q_int8_channel", QuantScheme::int8(Granularity::PerChannel)),
        (
            "q_int8_channel_asym_static",
            QuantScheme::int8(Granularity::PerChannel)
                .asymmetric()
                .activations(ActivationMode::Static),
        ),
        (
            "q_int8_group_asym",
            QuantScheme::int8(Granularity::PerGroup(4)).asymmetric(),
        ),
        (
            "q_int8_tensor_dynamic",
            QuantScheme::int8(Granularity::PerTensor).activations(ActivationMode::Dynamic),
        ),
        ("q_int4_group", QuantScheme::int4(Granularity::PerGroup(8))),
        (
            "q_int4_channel_asym",
            QuantScheme::int4(Granularity::PerChannel).asymmetric(),
        ),
        ("q_f16", QuantScheme::f16()),
        ("q_bf16", QuantScheme::bf16()),
    ];
    for (name, scheme) in schemes {
        let q = Ptq::new(scheme).quantize_mlp(&mlp, Some(&cal)).unwrap();
        write("load_mlp", name, &q.to_bytes().unwrap());
    }
    // int4 weights × int8 activations (W4A8): symmetric int4 in groups of 32, dynamic.
    let wide = Mlp::new(&[32, 4, 2], Activation::Relu, &mut rng).unwrap();
    let w4a8 = QuantScheme::int4(Granularity::PerGroup(32)).activations(ActivationMode::Dynamic);
    let q = Ptq::new(w4a8)
        .exclude("layers.1")
        .quantize_mlp(&wide, None)
        .unwrap();
    write("load_mlp", "q_w4a8", &q.to_bytes().unwrap());
}

fn encoders() {
    let config = EncoderConfig {
        vocab_size: 20,
        hidden_size: 8,
        num_heads: 2,
        num_layers: 1,
        intermediate_size: 16,
        max_positions: 8,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    };
    let mut rng = StdRng::seed_from_u64(1);
    let post = Encoder::new(config, &mut rng).unwrap();
    write("load_encoder", "post_ln", &post.to_bytes().unwrap());
    let pre = Encoder::new(
        EncoderConfig {
            placement: NormPlacement::PreLn,
            causal: true,
            type_vocab_size: 0,
            num_layers: 2,
            ..config
        },
        &mut rng,
    )
    .unwrap();
    write("load_encoder", "pre_ln_causal", &pre.to_bytes().unwrap());
    let ptq = Ptq::new(QuantScheme::int8(Granularity::PerChannel)).layer_scheme(
        "blocks.*.ffn.*",
        QuantScheme::int4(Granularity::PerGroup(8)),
    );
    write(
        "load_encoder",
        "quant_mixed",
        &ptq.quantize_encoder(&post, None)
            .unwrap()
            .to_bytes()
            .unwrap(),
    );
    let f16 = Ptq::new(QuantScheme::f16())
        .quantize_encoder(&pre, None)
        .unwrap();
    write("load_encoder", "quant_f16", &f16.to_bytes().unwrap());
}

fn hf_bert() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let config = fs::read(fixtures.join("bert_tiny_config.json")).unwrap();
    let model = fs::read(fixtures.join("bert_tiny.safetensors")).unwrap();
    let seed = |config: &[u8], model: &[u8]| {
        let mut s = u16::try_from(config.len()).unwrap().to_le_bytes().to_vec();
        s.extend_from_slice(config);
        s.extend_from_slice(model);
        s
    };
    write("load_hf_bert", "bert_tiny", &seed(&config, &model));
    // The config alone (the parser's paths), and a minimal config with no checkpoint.
    write("load_hf_bert", "config_only", &seed(&config, &[]));
    let minimal = br#"{"vocab_size":4,"hidden_size":2,"num_attention_heads":1,"num_hidden_layers":1,"intermediate_size":2,"max_position_embeddings":2,"type_vocab_size":0,"layer_norm_eps":1e-5,"hidden_act":"relu"}"#;
    write("load_hf_bert", "config_minimal", &seed(minimal, &[]));
}

fn kernels() {
    // One seed per operation (the first byte picks it): small dimensions, lengths as asked,
    // then pseudo-random value bytes.
    let mut rng = StdRng::seed_from_u64(2);
    for op in 0u8..13 {
        let mut s = vec![op];
        // Dimensions and length bytes: small, below the "wrong length" and "huge" ranges.
        s.extend((0..12).map(|_| rng.random_range(1u8..40)));
        s.extend((0..400).map(|_| rng.random_range(0u8..0xDF)));
        write("kernels", &format!("op{op:02}"), &s);
    }
}

fn main() {
    mlps();
    encoders();
    hf_bert();
    kernels();
}
