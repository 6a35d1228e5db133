//! Files that are inconsistent are errors, not models that quietly differ from what was saved
//! (issue #13): every loader, fed a valid tiny model edited in one way, returns the expected
//! `Error` variant. The edits are the inconsistency classes the loaders check: unexpected
//! tensors, stored parts the configuration says are absent (zero points of symmetric layers,
//! token-type tables with `type_vocab_size = 0`, Hugging Face layers beyond
//! `num_hidden_layers`), configuration sizes the file cannot hold or the crate's limits refuse,
//! and finite values no trained network holds (1e38 weights, absurd quantization scales).

use std::collections::HashMap;
use std::path::PathBuf;

use half::{bf16, f16};
use ndarray::Array1;
use rand::{rngs::StdRng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde_json::{json, Value};
use shrink::io::MAX_MAGNITUDE;
use shrink::kernels::GroupLayout;
use shrink::nn::{Activation, Encoder, EncoderConfig, Linear, Mlp, NormPlacement};
use shrink::prune::HeadPruner;
use shrink::quant::{
    ActQuant, Granularity, Int4Weight, Int8Weight, Ptq, QParams, QuantLinear, QuantScheme,
    QuantWeight, Quantizer,
};
use shrink::sparse::SparseLinear;
use shrink::Error;

// ---- editing safetensors files ----------------------------------------------------------

/// A tensor as stored: name, dtype, shape, little-endian bytes.
type Tensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// The tensors and metadata of a file.
fn parts(bytes: &[u8]) -> (Vec<Tensor>, HashMap<String, String>) {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let tensors = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
        .collect();
    (tensors, meta.metadata().clone().unwrap_or_default())
}

/// The file with its tensors and metadata edited by `f`.
fn edit(bytes: &[u8], f: impl FnOnce(&mut Vec<Tensor>, &mut HashMap<String, String>)) -> Vec<u8> {
    let (mut tensors, mut meta) = parts(bytes);
    f(&mut tensors, &mut meta);
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// The file with its `shrink.config` JSON edited by `f`.
fn edit_config(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    edit(bytes, |_, meta| {
        let mut config: Value = serde_json::from_str(&meta["shrink.config"]).unwrap();
        f(&mut config);
        meta.insert("shrink.config".into(), config.to_string());
    })
}

/// The file with one more tensor.
fn add(bytes: &[u8], name: &str, dtype: Dtype, shape: Vec<usize>, data: Vec<u8>) -> Vec<u8> {
    edit(bytes, |t, _| t.push((name.into(), dtype, shape, data)))
}

/// The file with one more small f32 tensor.
fn add_f32(bytes: &[u8], name: &str) -> Vec<u8> {
    add(bytes, name, Dtype::F32, vec![2], f32s(&[0.5, -0.5]))
}

/// The file without tensor `name`.
fn remove(bytes: &[u8], name: &str) -> Vec<u8> {
    edit(bytes, |t, _| {
        let before = t.len();
        t.retain(|x| x.0 != name);
        assert_eq!(t.len(), before - 1, "{name} not in the file");
    })
}

/// The file with element `i` of tensor `name` replaced by `v`, written in the tensor's dtype.
fn set(bytes: &[u8], name: &str, i: usize, v: f32) -> Vec<u8> {
    edit(bytes, |t, _| {
        let (_, dtype, _, data) = t.iter_mut().find(|x| x.0 == name).expect(name);
        match dtype {
            Dtype::F32 => data[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes()),
            Dtype::F16 => data[2 * i..2 * i + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes()),
            Dtype::BF16 => data[2 * i..2 * i + 2].copy_from_slice(&bf16::from_f32(v).to_le_bytes()),
            other => panic!("{name} has dtype {other:?}"),
        }
    })
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Asserts that `$r` is `Err` matching `$p`, naming the case on failure.
macro_rules! assert_err {
    ($case:expr, $r:expr, $p:pat $(if $guard:expr)?) => {
        match $r.map(|_| ()) {
            Err($p) $(if $guard)? => {}
            other => panic!("{}: expected {}, got {:?}", $case, stringify!($p), other),
        }
    };
}

/// Asserts an `Error::Format` whose message names `what`.
fn assert_format_naming<T>(case: &str, r: shrink::Result<T>, what: &str) {
    match r {
        Err(Error::Format(m)) => assert!(m.contains(what), "{case}: {m:?} does not name {what}"),
        Err(e) => panic!("{case}: expected Format naming {what}, got {e:?}"),
        Ok(_) => panic!("{case}: expected Format naming {what}, got Ok"),
    }
}

/// Asserts an `Error::UnexpectedTensor` carrying exactly the tensor's name.
fn assert_unexpected<T>(case: &str, r: shrink::Result<T>, name: &str) {
    match r {
        Err(Error::UnexpectedTensor(n)) => assert_eq!(n, name, "{case}"),
        Err(e) => panic!("{case}: expected UnexpectedTensor({name}), got {e:?}"),
        Ok(_) => panic!("{case}: expected UnexpectedTensor({name}), got Ok"),
    }
}

const HUGE: u64 = 1 << 40;

// ---- dense MLP ----------------------------------------------------------------------------

fn dense() -> Vec<u8> {
    let mlp = Mlp::new(&[4, 6, 3], Activation::Relu, &mut StdRng::seed_from_u64(11)).unwrap();
    let bytes = mlp.to_safetensors().unwrap();
    assert_eq!(Mlp::from_safetensors(&bytes).unwrap(), mlp);
    bytes
}

#[test]
fn dense_mlp_files() {
    let ok = dense();
    let load = Mlp::from_safetensors;
    assert_unexpected(
        "mlp: unexpected tensor",
        load(&add_f32(&ok, "layers.2.weight")),
        "layers.2.weight",
    );
    assert_format_naming(
        "mlp: LayerNorm-free 1e38 weight",
        load(&set(&ok, "layers.1.weight", 3, 1e38)),
        "layers.1.weight",
    );
    assert_format_naming(
        "mlp: bias just beyond the bound",
        load(&set(&ok, "layers.0.bias", 0, -2.0 * MAX_MAGNITUDE)),
        "layers.0.bias",
    );
    // The bound itself is accepted.
    assert!(load(&set(&ok, "layers.0.bias", 0, MAX_MAGNITUDE)).is_ok());
    assert_err!(
        "mlp: NaN bias",
        load(&set(&ok, "layers.0.bias", 1, f32::NAN)),
        Error::NonFinite(_)
    );
    assert_err!(
        "mlp: hidden width the file cannot hold",
        load(&edit_config(&ok, |c| c["sizes"][1] = json!(HUGE))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "mlp: sizes whose product overflows",
        load(&edit_config(&ok, |c| c["sizes"] = json!([u64::MAX, u64::MAX, 3]))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "mlp: missing bias",
        load(&remove(&ok, "layers.1.bias")),
        Error::MissingTensor(n) if n == "layers.1.bias"
    );
    assert_err!(
        "mlp: config width disagrees with the tensors",
        load(&edit_config(&ok, |c| c["sizes"][1] = json!(5))),
        Error::ShapeMismatch { .. }
    );
}

// ---- sparse MLP ---------------------------------------------------------------------------

fn sparse() -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(12);
    let mlp = Mlp::new(&[5, 4, 2], Activation::Relu, &mut rng).unwrap();
    let sparse = mlp
        .map_layers(|_, l| {
            // Zero every other weight so the CSR structure is not trivially dense.
            let mut w = l.weight().to_owned();
            w.iter_mut().step_by(2).for_each(|v| *v = 0.0);
            SparseLinear::from_linear(&Linear::new(w, l.bias().to_owned())?)
        })
        .unwrap();
    let bytes = sparse.to_safetensors().unwrap();
    assert_eq!(
        Mlp::<SparseLinear>::from_sparse_safetensors(&bytes).unwrap(),
        sparse
    );
    bytes
}

#[test]
fn sparse_mlp_files() {
    let ok = sparse();
    let load = Mlp::<SparseLinear>::from_sparse_safetensors;
    assert_unexpected(
        "sparse: unexpected tensor",
        load(&add_f32(&ok, "layers.0.weight")),
        "layers.0.weight",
    );
    assert_format_naming(
        "sparse: 1e38 value",
        load(&set(&ok, "layers.1.values", 0, 1e38)),
        "layers.1.values",
    );
    assert_format_naming(
        "sparse: 1e38 bias",
        load(&set(&ok, "layers.0.bias", 0, -1e38)),
        "layers.0.bias",
    );
    assert_err!(
        "sparse: nnz the file cannot hold",
        load(&edit_config(&ok, |c| c["nnz"][0] = json!(HUGE))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "sparse: rows the file cannot hold",
        load(&edit_config(&ok, |c| c["sizes"][1] = json!(HUGE))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "sparse: input width beyond one tensor's limit",
        load(&edit_config(&ok, |c| c["sizes"][0] = json!(u64::MAX))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "sparse: missing column indices",
        load(&remove(&ok, "layers.0.col_idx")),
        Error::MissingTensor(n) if n == "layers.0.col_idx"
    );
}

// ---- quantized MLP ------------------------------------------------------------------------

/// A quantized MLP 16 → 8 → 8 → 4: int8 asymmetric per channel with static activations,
/// int4 asymmetric in groups of 8, and bf16.
fn quant_mlp() -> Mlp<QuantLinear> {
    let layout = |rows, cols, group| GroupLayout {
        rows,
        cols,
        group,
        per_tensor: false,
    };
    let int8 = Int8Weight::from_parts(
        layout(8, 16, 16),
        (0..128).map(|i| (i * 37 % 255 - 127) as i8).collect(),
        (0..8).map(|i| 0.01 + 0.001 * i as f32).collect(),
        (0..8).map(|i| i as i8 - 4).collect(),
    )
    .unwrap();
    let int4 = Int4Weight::from_parts(
        layout(8, 8, 8),
        (0..32).map(|i| (i * 73 % 256) as u8).collect(),
        (0..8)
            .map(|i| f16::from_f32(0.05 + 0.01 * i as f32))
            .collect(),
        (0..8).map(|i| (i * 2) as u8).collect(),
    )
    .unwrap();
    let bf = QuantWeight::Bf16 {
        rows: 4,
        cols: 8,
        data: (0..32)
            .map(|i| bf16::from_f32(0.1 * i as f32 - 1.6))
            .collect(),
    };
    let static_act = ActQuant::Static(QParams {
        scale: 0.05,
        zero: 3,
    });
    let bias = |n: usize| Array1::from_iter((0..n).map(|i| 0.01 * i as f32));
    Mlp::from_layers(
        vec![
            QuantLinear::new(QuantWeight::Int8(int8), bias(8), static_act).unwrap(),
            QuantLinear::new(QuantWeight::Int4(int4), bias(8), ActQuant::None).unwrap(),
            QuantLinear::new(bf, bias(4), ActQuant::None).unwrap(),
        ],
        vec![Activation::Relu, Activation::Relu, Activation::Identity],
    )
    .unwrap()
}

#[test]
fn quantized_mlp_files() {
    let model = quant_mlp();
    let ok = model.to_quantized_safetensors().unwrap();
    let load = Mlp::<QuantLinear>::from_quantized_safetensors;
    assert_eq!(load(&ok).unwrap(), model);
    assert_format_naming(
        "quant mlp: int8 layer marked symmetric with zero points stored",
        load(&edit_config(&ok, |c| {
            c["layers"][0]["symmetric"] = json!(true)
        })),
        "layers.0.zeros",
    );
    assert_format_naming(
        "quant mlp: int4 layer marked symmetric with zero points stored",
        load(&edit_config(&ok, |c| {
            c["layers"][1]["symmetric"] = json!(true)
        })),
        "layers.1.zeros",
    );
    assert_err!(
        "quant mlp: asymmetric layer without zero points",
        load(&remove(&ok, "layers.0.zeros")),
        Error::MissingTensor(n) if n == "layers.0.zeros"
    );
    assert_format_naming(
        "quant mlp: zero points on a bf16 layer",
        load(&add(&ok, "layers.2.zeros", Dtype::I8, vec![4], vec![0; 4])),
        "layers.2.zeros",
    );
    assert_unexpected(
        "quant mlp: unexpected tensor",
        load(&add_f32(&ok, "layers.1.extra")),
        "layers.1.extra",
    );
    assert_format_naming(
        "quant mlp: int8 scale of 1e38",
        load(&set(&ok, "layers.0.scales", 2, 1e38)),
        "layers.0.scales",
    );
    // 1e10 / 255 is the largest asymmetric int8 scale; just above it is refused.
    assert_format_naming(
        "quant mlp: int8 scale dequantizing beyond the bound",
        load(&set(&ok, "layers.0.scales", 0, MAX_MAGNITUDE / 200.0)),
        "layers.0.scales",
    );
    assert_format_naming(
        "quant mlp: subnormal int8 scale",
        load(&set(&ok, "layers.0.scales", 1, 1e-40)),
        "layers.0.scales",
    );
    assert_format_naming(
        "quant mlp: zero int4 scale",
        load(&set(&ok, "layers.1.scales", 1, 0.0)),
        "layers.1.scales",
    );
    assert_format_naming(
        "quant mlp: negative int4 scale",
        load(&set(&ok, "layers.1.scales", 1, -0.5)),
        "layers.1.scales",
    );
    assert_format_naming(
        "quant mlp: static activation scale of 1e38",
        load(&edit_config(&ok, |c| {
            c["inputs"][0]["static"]["scale"] = json!(1e38)
        })),
        "static activation",
    );
    assert_format_naming(
        "quant mlp: bf16 weight of 1e38",
        load(&set(&ok, "layers.2.weight", 5, 1e38)),
        "layers.2.weight",
    );
    assert_format_naming(
        "quant mlp: bias of 1e38",
        load(&set(&ok, "layers.1.bias", 0, 1e38)),
        "layers.1.bias",
    );
    assert_err!(
        "quant mlp: width the file cannot hold",
        load(&edit_config(&ok, |c| c["sizes"][2] = json!(HUGE))),
        Error::TooLarge { .. }
    );
    assert_err!(
        "quant mlp: NaN scale",
        load(&set(&ok, "layers.0.scales", 0, f32::NAN)),
        Error::Format(_)
    );
}

// ---- encoders -----------------------------------------------------------------------------

fn encoder_config(type_vocab_size: usize) -> EncoderConfig {
    EncoderConfig {
        vocab_size: 30,
        hidden_size: 16,
        num_heads: 4,
        num_layers: 2,
        intermediate_size: 32,
        max_positions: 8,
        type_vocab_size,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    }
}

fn encoder(type_vocab_size: usize) -> Encoder {
    Encoder::new(
        encoder_config(type_vocab_size),
        &mut StdRng::seed_from_u64(13),
    )
    .unwrap()
}

/// The encoder with half its heads pruned (a file with per-block widths).
fn narrowed() -> Encoder {
    let (n, _) = HeadPruner::new(0.5).prune(&encoder(2)).unwrap();
    assert!(n.is_narrowed());
    n
}

/// The cases every f32 encoder file (plain or narrowed) must reject.
fn encoder_cases(what: &str, ok: &[u8]) {
    let load = Encoder::from_safetensors;
    let case = |c: &str| format!("{what}: {c}");
    assert_unexpected(
        &case("unexpected tensor"),
        load(&add_f32(ok, "blocks.0.attn.extra.bias")),
        "blocks.0.attn.extra.bias",
    );
    assert_format_naming(
        &case("type_vocab_size 0 with a token-type table"),
        load(&edit_config(ok, |c| c["type_vocab_size"] = json!(0))),
        "embeddings.token_type",
    );
    assert_format_naming(
        &case("LayerNorm gain of 1e38"),
        load(&set(ok, "blocks.1.ln2.weight", 0, 1e38)),
        "blocks.1.ln2.weight",
    );
    assert_format_naming(
        &case("embedding of -1e38"),
        load(&set(ok, "embeddings.word", 7, -1e38)),
        "embeddings.word",
    );
    assert_format_naming(
        &case("FFN weight of 1e20"),
        load(&set(ok, "blocks.0.ffn.in.weight", 7, 1e20)),
        "blocks.0.ffn.in.weight",
    );
    for (field, value) in [
        ("intermediate_size", json!(u64::MAX)),
        ("intermediate_size", json!(HUGE)),
        ("vocab_size", json!(u64::MAX)),
        ("max_positions", json!(HUGE)),
        ("type_vocab_size", json!(HUGE)),
    ] {
        assert_err!(
            case(&format!("{field} = {value}")),
            load(&edit_config(ok, |c| c[field] = value.clone())),
            Error::TooLarge { .. }
        );
    }
    assert_err!(
        case("hidden size and heads beyond the limits"),
        load(&edit_config(ok, |c| {
            c["hidden_size"] = json!(1u64 << 62);
            c["num_heads"] = json!(1u64 << 60);
        })),
        Error::TooLarge { .. }
    );
    assert_err!(
        case("missing LayerNorm"),
        load(&remove(ok, "blocks.0.ln1.bias")),
        Error::MissingTensor(n) if n == "blocks.0.ln1.bias"
    );
}

#[test]
fn encoder_files() {
    let model = encoder(2);
    let ok = model.to_safetensors().unwrap();
    assert_eq!(Encoder::from_safetensors(&ok).unwrap(), model);
    encoder_cases("encoder", &ok);
    assert_err!(
        "encoder: num_layers = u64::MAX",
        Encoder::from_safetensors(&edit_config(&ok, |c| c["num_layers"] = json!(u64::MAX))),
        Error::TooLarge { .. }
    );
    // Without token types: storing a table anyway is the same inconsistency.
    let plain = encoder(0).to_safetensors().unwrap();
    assert_format_naming(
        "encoder: token-type table without type_vocab_size",
        Encoder::from_safetensors(&add(
            &plain,
            "embeddings.token_type",
            Dtype::F32,
            vec![2, 16],
            f32s(&[0.1; 32]),
        )),
        "embeddings.token_type",
    );
}

#[test]
fn narrowed_encoder_files() {
    let model = narrowed();
    let ok = model.to_safetensors().unwrap();
    assert_eq!(Encoder::from_safetensors(&ok).unwrap(), model);
    encoder_cases("narrowed encoder", &ok);
    // The unpruned width may not exceed the limits even though the blocks are narrower.
    assert_err!(
        "narrowed encoder: intermediate_size and block widths of 2^40",
        Encoder::from_safetensors(&edit_config(&ok, |c| {
            c["intermediate_size"] = json!(HUGE);
            c["blocks"][0]["intermediate"] = json!(HUGE);
        })),
        Error::TooLarge { .. }
    );
}

// ---- quantized encoder --------------------------------------------------------------------

fn quant_encoder(model: &Encoder) -> Vec<u8> {
    let ptq = Ptq::new(QuantScheme::int8(Granularity::PerChannel).asymmetric()).layer_scheme(
        "blocks.*.ffn.*",
        QuantScheme::int4(Granularity::PerGroup(16)).asymmetric(),
    );
    let q = ptq.quantize_encoder(model, None).unwrap();
    let bytes = q.to_quantized_safetensors().unwrap();
    assert_eq!(
        Encoder::<QuantLinear>::from_quantized_safetensors(&bytes).unwrap(),
        q
    );
    bytes
}

/// Marks layer `name` symmetric in a quantized encoder's metadata.
fn mark_symmetric(c: &mut Value, name: &str) {
    c["layers"][name][0]["symmetric"] = json!(true);
}

#[test]
fn quantized_encoder_files() {
    let load = Encoder::<QuantLinear>::from_quantized_safetensors;
    for (what, model) in [
        ("quant encoder", encoder(2)),
        ("narrowed quant encoder", narrowed()),
    ] {
        let ok = quant_encoder(&model);
        let case = |c: &str| format!("{what}: {c}");
        assert_format_naming(
            &case("int8 layer marked symmetric with zero points stored"),
            load(&edit_config(&ok, |c| mark_symmetric(c, "blocks.0.attn.k"))),
            "blocks.0.attn.k.zeros",
        );
        assert_format_naming(
            &case("int4 layer marked symmetric with zero points stored"),
            load(&edit_config(&ok, |c| mark_symmetric(c, "blocks.1.ffn.out"))),
            "blocks.1.ffn.out.zeros",
        );
        assert_format_naming(
            &case("a format listed for a layer it does not have"),
            load(&edit_config(&ok, |c| {
                c["layers"]["blocks.7.attn.q"] = c["layers"]["blocks.0.attn.q"].clone()
            })),
            "blocks.7.attn.q",
        );
        assert_unexpected(
            &case("unexpected tensor"),
            load(&add_f32(&ok, "blocks.1.attn.q.weight_orig")),
            "blocks.1.attn.q.weight_orig",
        );
        assert_format_naming(
            &case("type_vocab_size 0 with a token-type table"),
            load(&edit_config(&ok, |c| c["type_vocab_size"] = json!(0))),
            "embeddings.token_type",
        );
        assert_format_naming(
            &case("int8 scale of 1e38"),
            load(&set(&ok, "blocks.0.attn.v.scales", 0, 1e38)),
            "blocks.0.attn.v.scales",
        );
        assert_format_naming(
            &case("LayerNorm shift of 1e38"),
            load(&set(&ok, "embeddings.norm.bias", 3, 1e38)),
            "embeddings.norm.bias",
        );
        assert_err!(
            case("intermediate_size = u64::MAX"),
            load(&edit_config(&ok, |c| c["intermediate_size"] = json!(u64::MAX))),
            Error::TooLarge { .. }
        );
        assert_err!(
            case("vocab_size the file cannot hold"),
            load(&edit_config(&ok, |c| c["vocab_size"] = json!(HUGE))),
            Error::TooLarge { .. }
        );
        assert_err!(
            case("missing scales"),
            load(&remove(&ok, "blocks.1.attn.o.scales")),
            Error::MissingTensor(n) if n == "blocks.1.attn.o.scales"
        );
    }
}

// ---- Hugging Face BERT --------------------------------------------------------------------

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn bert_config() -> Value {
    serde_json::from_slice(&fixture("bert_tiny_config.json")).unwrap()
}

/// The BERT fixture loaded with its config edited by `f`.
fn bert_with(bytes: &[u8], f: impl FnOnce(&mut Value)) -> shrink::Result<Encoder> {
    let mut config = bert_config();
    f(&mut config);
    Encoder::from_hf_bert(bytes, &config.to_string())
}

#[test]
fn hugging_face_bert_files() {
    let ok = fixture("bert_tiny.safetensors");
    let good = bert_with(&ok, |_| {}).unwrap();

    // Tensors real checkpoints carry that the encoder does not use are accepted.
    let extras = edit(&ok, |t, _| {
        let f = |n: &str, shape: Vec<usize>| {
            let len = shape.iter().product::<usize>();
            (n.to_string(), Dtype::F32, shape, f32s(&vec![0.25; len]))
        };
        t.push((
            "embeddings.position_ids".into(),
            Dtype::I64,
            vec![1, 24],
            (0..24i64).flat_map(|i| i.to_le_bytes()).collect(),
        ));
        t.push(f("pooler.dense.weight", vec![32, 32]));
        t.push(f("pooler.dense.bias", vec![32]));
        t.push(f("cls.predictions.bias", vec![60]));
        t.push(f("cls.predictions.transform.dense.weight", vec![32, 32]));
        t.push(f("cls.seq_relationship.weight", vec![2, 32]));
        t.push(f("classifier.weight", vec![3, 32]));
    });
    assert_eq!(bert_with(&extras, |_| {}).unwrap(), good);

    assert_format_naming(
        "bert: config with fewer layers than the file",
        bert_with(&ok, |c| c["num_hidden_layers"] = json!(1)),
        "encoder.layer.1.",
    );
    assert_err!(
        "bert: config with more layers than the file",
        bert_with(&ok, |c| c["num_hidden_layers"] = json!(3)),
        Error::MissingTensor(n) if n.starts_with("encoder.layer.2.")
    );
    assert_format_naming(
        "bert: type_vocab_size 0 with a token-type table",
        bert_with(&ok, |c| c["type_vocab_size"] = json!(0)),
        "embeddings.token_type_embeddings.weight",
    );
    assert_unexpected(
        "bert: unknown extra tensor",
        bert_with(&add_f32(&ok, "encoder.rel_bias"), |_| {}),
        "encoder.rel_bias",
    );
    assert_unexpected(
        "bert: a head not on the documented list",
        bert_with(&add_f32(&ok, "lm_head.bias"), |_| {}),
        "lm_head.bias",
    );
    assert_unexpected(
        "bert: LayerNorm stored as both weight and gamma",
        bert_with(
            &add(
                &ok,
                "embeddings.LayerNorm.gamma",
                Dtype::F32,
                vec![32],
                f32s(&[1.0; 32]),
            ),
            |_| {},
        ),
        "embeddings.LayerNorm.gamma",
    );
    assert_format_naming(
        "bert: LayerNorm gain of 1e38",
        bert_with(
            &set(&ok, "encoder.layer.0.output.LayerNorm.weight", 4, 1e38),
            |_| {},
        ),
        "encoder.layer.0.output.LayerNorm.weight",
    );
    for (field, value) in [
        ("intermediate_size", json!(u64::MAX)),
        ("intermediate_size", json!(HUGE)),
        ("num_hidden_layers", json!(u64::MAX)),
        ("vocab_size", json!(HUGE)),
        ("max_position_embeddings", json!(u64::MAX)),
    ] {
        assert_err!(
            format!("bert: {field} = {value}"),
            bert_with(&ok, |c| c[field] = value.clone()),
            Error::TooLarge { .. }
        );
    }
    // A checkpoint's own dtype conversions keep working: f16 weights load.
    let half = edit(&ok, |t, _| {
        for (_, d, _, b) in t.iter_mut() {
            *b = b
                .chunks_exact(4)
                .flat_map(|c| {
                    f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes()
                })
                .collect();
            *d = Dtype::F16;
        }
    });
    let h = bert_with(&half, |_| {}).unwrap();
    let diff = (&h.word_embeddings() - &good.word_embeddings())
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(diff < 1e-2, "{diff}");
}
