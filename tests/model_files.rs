//! Model files through one interface: every kind round-trips exactly through
//! `ModelFile::{to_bytes, from_bytes, save, load}`, `load_any` / `from_bytes_any` return the
//! right kind, and a file of another kind, garbage, a truncated file or one without a recorded
//! kind is an error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::io::{from_bytes_any, load_any, AnyModel, ModelFile};
use shrink::nn::{Activation, Encoder, EncoderConfig, Linear, Mlp, NormPlacement};
use shrink::prune::{FfnChannelPruner, HeadPruner, MagnitudePruner, Pruner};
use shrink::quant::{
    ActivationMode, Calibration, Granularity, Ptq, QuantLinear, QuantScheme, Quantizer,
};
use shrink::sparse::SparseLinear;
use shrink::{Error, Forward};

/// A path in the temp directory no other test (or process) uses; the caller removes it.
fn temp_path(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "shrink-model-files-{}-{what}-{}.safetensors",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Asserts two files are the same bytes, reporting the first difference rather than both files.
#[track_caller]
fn assert_same_bytes(a: &[u8], b: &[u8], what: &str) {
    if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
        let show = |v: &[u8]| {
            String::from_utf8_lossy(&v[i.saturating_sub(40)..(i + 40).min(v.len())]).into_owned()
        };
        panic!(
            "{what}: bytes differ at {i} of {} / {}: {:?} vs {:?}",
            a.len(),
            b.len(),
            show(a),
            show(b)
        );
    }
    assert_eq!(a.len(), b.len(), "{what}: lengths");
}

fn mlp() -> Mlp {
    // Mixed activations, so that the file must record each one.
    let m = Mlp::new(
        &[12, 24, 16, 5],
        Activation::Relu,
        &mut StdRng::seed_from_u64(11),
    )
    .unwrap();
    let layers = m.layers().to_vec();
    let activations = vec![Activation::Relu, Activation::Gelu, m.activations()[2]];
    Mlp::from_layers(layers, activations).unwrap()
}

fn sparse_mlp() -> Mlp<SparseLinear> {
    let mut m = mlp();
    MagnitudePruner::new(0.8).global().prune(&mut m).unwrap();
    m.map_layers(|_, l| SparseLinear::from_linear(l)).unwrap()
}

/// Mixed precision: int8 per channel with static activations, int4 groups (asymmetric), f16.
fn quant_mlp() -> Mlp<QuantLinear> {
    let m = mlp();
    let x = Array2::from_shape_fn((16, 12), |(i, j)| ((i * 12 + j) as f32 * 0.37).sin());
    let cal = Calibration::from_mlp(&m, &[x.view()]).unwrap();
    Ptq::new(QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static))
        .layer_scheme(
            "layers.1",
            QuantScheme::int4(Granularity::PerGroup(8)).asymmetric(),
        )
        .layer_scheme("layers.2", QuantScheme::f16())
        .quantize_mlp(&m, Some(&cal))
        .unwrap()
}

fn encoder(placement: NormPlacement) -> Encoder {
    let config = EncoderConfig {
        vocab_size: 30,
        hidden_size: 32,
        num_heads: 4,
        num_layers: 2,
        intermediate_size: 64,
        max_positions: 12,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement,
        causal: false,
    };
    Encoder::new(config, &mut StdRng::seed_from_u64(5)).unwrap()
}

/// An encoder narrowed by head and FFN-channel pruning (blocks narrower than its config).
fn narrowed_encoder() -> Encoder {
    let (e, _) = HeadPruner::new(0.5)
        .prune(&encoder(NormPlacement::PreLn))
        .unwrap();
    let (e, _) = FfnChannelPruner::new(0.25).prune(&e).unwrap();
    assert!(e.is_narrowed());
    e
}

fn quant_encoder(e: &Encoder) -> Encoder<QuantLinear> {
    Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .layer_scheme(
            "blocks.*.ffn.*",
            QuantScheme::int4(Granularity::PerGroup(16)),
        )
        .layer_scheme("blocks.1.attn.o", QuantScheme::bf16())
        .quantize_encoder(e, None)
        .unwrap()
}

/// One model of every kind (two of some), as `AnyModel`s, named.
fn every_kind() -> Vec<(&'static str, AnyModel)> {
    vec![
        ("dense mlp", mlp().into()),
        ("sparse mlp", sparse_mlp().into()),
        ("quantized mlp", quant_mlp().into()),
        ("post-LN encoder", encoder(NormPlacement::PostLn).into()),
        ("narrowed encoder", narrowed_encoder().into()),
        (
            "quantized encoder",
            quant_encoder(&encoder(NormPlacement::PostLn)).into(),
        ),
        (
            "quantized narrowed encoder",
            quant_encoder(&narrowed_encoder()).into(),
        ),
    ]
}

/// Round trips of one kind through the trait: bytes and file give a model equal to the
/// original whose bytes are the original's bytes, i.e. bit for bit the same.
fn round_trip<M: ModelFile + PartialEq + std::fmt::Debug>(name: &str, model: &M) {
    let bytes = model.to_bytes().unwrap();
    assert_same_bytes(
        &model.to_bytes().unwrap(),
        &bytes,
        &format!("{name}: to_bytes twice"),
    );
    let back = M::from_bytes(&bytes).unwrap();
    assert_eq!(&back, model, "{name}: from_bytes");
    assert_same_bytes(
        &back.to_bytes().unwrap(),
        &bytes,
        &format!("{name}: after from_bytes"),
    );

    let path = temp_path(M::KIND);
    model.save(&path).unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    let loaded = M::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_same_bytes(&on_disk, &bytes, &format!("{name}: save writes to_bytes"));
    let loaded = loaded.unwrap();
    assert_eq!(&loaded, model, "{name}: load");
    assert_same_bytes(
        &loaded.to_bytes().unwrap(),
        &bytes,
        &format!("{name}: after load"),
    );
}

#[test]
fn every_kind_round_trips_bit_for_bit_through_bytes_and_files() {
    for (name, any) in every_kind() {
        match &any {
            AnyModel::Mlp(m) => round_trip(name, m),
            AnyModel::SparseMlp(m) => round_trip(name, m),
            AnyModel::QuantMlp(m) => round_trip(name, m),
            AnyModel::Encoder(e) => round_trip(name, e),
            AnyModel::QuantEncoder(e) => round_trip(name, e),
            other => panic!("{name}: a kind this test does not know: {}", other.kind()),
        }
    }
}

#[test]
fn the_earlier_names_write_and_read_the_same_files() {
    let m = mlp();
    assert_same_bytes(&m.to_safetensors().unwrap(), &m.to_bytes().unwrap(), "m");
    assert_eq!(Mlp::from_safetensors(&m.to_bytes().unwrap()).unwrap(), m);
    let s = sparse_mlp();
    assert_same_bytes(&s.to_safetensors().unwrap(), &s.to_bytes().unwrap(), "s");
    assert_eq!(
        Mlp::<SparseLinear>::from_sparse_safetensors(&s.to_bytes().unwrap()).unwrap(),
        s
    );
    let q = quant_mlp();
    assert_same_bytes(
        &q.to_quantized_safetensors().unwrap(),
        &q.to_bytes().unwrap(),
        "q",
    );
    assert_eq!(
        Mlp::<QuantLinear>::from_quantized_safetensors(&q.to_bytes().unwrap()).unwrap(),
        q
    );
    let e = narrowed_encoder();
    assert_same_bytes(&e.to_safetensors().unwrap(), &e.to_bytes().unwrap(), "e");
    assert_eq!(
        Encoder::from_safetensors(&e.to_bytes().unwrap()).unwrap(),
        e
    );
    let qe = quant_encoder(&e);
    assert_same_bytes(
        &qe.to_quantized_safetensors().unwrap(),
        &qe.to_bytes().unwrap(),
        "qe",
    );
    assert_eq!(
        Encoder::<QuantLinear>::from_quantized_safetensors(&qe.to_bytes().unwrap()).unwrap(),
        qe
    );
    // The inherent `load` of the dense kinds needs no annotation and reads the trait's files.
    let path = temp_path("inherent");
    ModelFile::save(&m, &path).unwrap();
    let loaded = Mlp::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap(), m);
    let path = temp_path("inherent-encoder");
    ModelFile::save(&e, &path).unwrap();
    let loaded = Encoder::load(&path);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded.unwrap(), e);
}

#[test]
fn load_any_returns_each_kind_as_saved() {
    let expected = [
        "mlp",
        "sparse_mlp",
        "quant_mlp",
        "encoder",
        "encoder",
        "quant_encoder",
        "quant_encoder",
    ];
    for ((name, model), kind) in every_kind().into_iter().zip(expected) {
        assert_eq!(model.kind(), kind, "{name}");
        let bytes = model.to_bytes().unwrap();
        let from_bytes = from_bytes_any(&bytes).unwrap();
        assert_eq!(from_bytes, model, "{name}: from_bytes_any");
        assert_eq!(from_bytes.kind(), kind, "{name}");
        assert_eq!(from_bytes.storage_bytes(), model.storage_bytes(), "{name}");
        assert_eq!(from_bytes.param_count(), model.param_count(), "{name}");

        let path = temp_path(kind);
        model.save(&path).unwrap();
        let loaded = load_any(&path);
        std::fs::remove_file(&path).unwrap();
        let loaded = loaded.unwrap();
        assert_eq!(loaded, model, "{name}: load_any");
        assert_same_bytes(
            &loaded.to_bytes().unwrap(),
            &bytes,
            &format!("{name}: after load_any"),
        );
    }
}

#[test]
fn any_model_converts_back_to_its_kind_only() {
    let m = mlp();
    let any = from_bytes_any(&m.to_bytes().unwrap()).unwrap();
    assert!(matches!(any, AnyModel::Mlp(_)));
    let back: Mlp = any.clone().try_into().unwrap();
    assert_eq!(back, m);
    assert!(matches!(
        Mlp::<QuantLinear>::try_from(any.clone()),
        Err(Error::Format(_))
    ));
    assert!(matches!(
        Encoder::<Linear>::try_from(any),
        Err(Error::Format(_))
    ));

    let e = narrowed_encoder();
    let any = load_any_bytes(&e.to_bytes().unwrap());
    assert!(matches!(any, AnyModel::Encoder(_)));
    assert_eq!(Encoder::<Linear>::try_from(any.clone()).unwrap(), e);
    assert!(matches!(
        Mlp::<Linear>::try_from(any),
        Err(Error::Format(_))
    ));

    let q = quant_encoder(&e);
    let any = load_any_bytes(&q.to_bytes().unwrap());
    assert!(matches!(any, AnyModel::QuantEncoder(_)));
    assert!(matches!(
        Encoder::<Linear>::try_from(any.clone()),
        Err(Error::Format(_))
    ));
    assert_eq!(Encoder::<QuantLinear>::try_from(any).unwrap(), q);

    let s = sparse_mlp();
    let any = load_any_bytes(&s.to_bytes().unwrap());
    assert!(matches!(any, AnyModel::SparseMlp(_)));
    assert_eq!(Mlp::<SparseLinear>::try_from(any).unwrap(), s);

    let q = quant_mlp();
    let any = load_any_bytes(&q.to_bytes().unwrap());
    assert!(matches!(any, AnyModel::QuantMlp(_)));
    assert_eq!(Mlp::<QuantLinear>::try_from(any).unwrap(), q);
}

fn load_any_bytes(bytes: &[u8]) -> AnyModel {
    from_bytes_any(bytes).unwrap()
}

#[test]
fn any_model_runs_the_mlp_kinds_and_refuses_feature_rows_for_encoders() {
    let x = Array2::from_shape_fn((3, 12), |(i, j)| ((i * 12 + j) as f32 * 0.21).cos());
    for (name, any) in every_kind() {
        match &any {
            AnyModel::Mlp(m) => {
                assert_eq!(any.forward(x.view()).unwrap(), m.forward(x.view()).unwrap())
            }
            AnyModel::SparseMlp(m) => {
                assert_eq!(any.forward(x.view()).unwrap(), m.forward(x.view()).unwrap())
            }
            AnyModel::QuantMlp(m) => {
                assert_eq!(any.forward(x.view()).unwrap(), m.forward(x.view()).unwrap())
            }
            _ => {
                assert!(any.as_forward().is_none(), "{name}");
                assert!(
                    matches!(any.forward(x.view()), Err(Error::InvalidParam { .. })),
                    "{name}"
                );
                continue;
            }
        }
        let f = any.as_forward().unwrap();
        assert_eq!(f.in_features(), 12, "{name}");
        assert_eq!(f.out_features(), 5, "{name}");
        assert_eq!(f.storage_bytes(), any.storage_bytes(), "{name}");
        // A wrong width is an error, not a panic.
        assert!(
            any.forward(Array2::zeros((2, 11)).view()).is_err(),
            "{name}"
        );
    }
}

/// `from_bytes` of the kind of `any`.
fn from_bytes_as(any: &AnyModel, bytes: &[u8]) -> Result<(), Error> {
    match any {
        AnyModel::Mlp(_) => Mlp::<Linear>::from_bytes(bytes).map(drop),
        AnyModel::SparseMlp(_) => Mlp::<SparseLinear>::from_bytes(bytes).map(drop),
        AnyModel::QuantMlp(_) => Mlp::<QuantLinear>::from_bytes(bytes).map(drop),
        AnyModel::Encoder(_) => Encoder::<Linear>::from_bytes(bytes).map(drop),
        AnyModel::QuantEncoder(_) => Encoder::<QuantLinear>::from_bytes(bytes).map(drop),
        other => panic!("a kind this test does not know: {}", other.kind()),
    }
}

#[test]
fn a_file_of_one_kind_is_not_another_kind() {
    let models = every_kind();
    for (name, model) in &models {
        let bytes = model.to_bytes().unwrap();
        for (other_name, other) in &models {
            let result = from_bytes_as(other, &bytes);
            if other.kind() == model.kind() {
                assert!(result.is_ok(), "{name} as {other_name}: {result:?}");
            } else {
                assert!(
                    matches!(&result, Err(Error::Format(m)) if m.contains(model.kind())),
                    "{name} as {other_name}: {result:?}"
                );
            }
        }
    }
}

/// The tensors of `bytes` re-serialised with `metadata` (`None`: no metadata block at all).
fn relabel(bytes: &[u8], metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    safetensors::serialize(st.tensors(), metadata).unwrap()
}

fn metadata(kind: Option<&str>, config: &str) -> HashMap<String, String> {
    let mut m = HashMap::from([("shrink.config".to_string(), config.to_string())]);
    if let Some(kind) = kind {
        m.insert("shrink.kind".into(), kind.into());
    }
    m
}

#[test]
fn load_any_refuses_garbage_truncated_kindless_and_unknown_kinds() {
    let mut rng = StdRng::seed_from_u64(3);
    for len in [0, 1, 7, 8, 64, 4096] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        assert!(from_bytes_any(&garbage).is_err(), "{len} random bytes");
    }
    // A header length far beyond the file.
    let mut huge = u64::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(matches!(from_bytes_any(&huge), Err(Error::Parse { .. })));

    for (name, model) in every_kind() {
        let bytes = model.to_bytes().unwrap();
        for cut in [
            0,
            4,
            8,
            9,
            bytes.len() / 3,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            assert!(
                from_bytes_any(&bytes[..cut]).is_err(),
                "{name} cut to {cut} of {} bytes",
                bytes.len()
            );
        }

        let st = safetensors::SafeTensors::read_metadata(&bytes).unwrap().1;
        let config = st.metadata().as_ref().unwrap()["shrink.config"].clone();
        // No metadata at all, metadata without a kind, and a kind this version does not know.
        for (what, relabelled) in [
            ("no metadata", relabel(&bytes, None)),
            ("no kind", relabel(&bytes, Some(metadata(None, &config)))),
            (
                "unknown kind",
                relabel(&bytes, Some(metadata(Some("gguf_llama"), &config))),
            ),
        ] {
            assert!(
                matches!(from_bytes_any(&relabelled), Err(Error::Format(_))),
                "{name}, {what}: {:?}",
                from_bytes_any(&relabelled)
            );
        }
        // A kind that lies about the tensors is refused by that kind's loader.
        for kind in ["mlp", "sparse_mlp", "quant_mlp", "encoder", "quant_encoder"] {
            if kind != model.kind() {
                let lie = relabel(&bytes, Some(metadata(Some(kind), &config)));
                assert!(from_bytes_any(&lie).is_err(), "{name} labelled {kind}");
            }
        }
    }

    // A Hugging Face checkpoint records no kind: it loads with `load_hf_bert`, not `load_any`.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bert_tiny.safetensors"
    );
    let err = load_any(fixture).unwrap_err();
    assert!(
        matches!(&err, Error::Format(m) if m.contains("load_hf_bert")),
        "{err:?}"
    );
    // A missing file is an I/O error.
    assert!(matches!(
        load_any(temp_path("never-written")),
        Err(Error::Io(_))
    ));
    // The kind-specific loaders refuse the same files.
    assert!(matches!(Encoder::load(fixture), Err(Error::Format(_))));
    assert!(matches!(
        Mlp::<QuantLinear>::load(temp_path("never-written")),
        Err(Error::Io(_))
    ));
}
