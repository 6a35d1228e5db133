//! The transformer encoder against float64 references computed by
//! `tests/fixtures/make_bert_fixture.py` (post-LN BERT in Hugging Face format, pre-LN and causal
//! pre-LN in shrink's own format), file round trips, and one test per error case.
//!
//! Run with `cargo test --release --test encoder`.

use std::path::PathBuf;

use ndarray::{Array2, Array3, ArrayView2, Ix2};
use rand::{rngs::StdRng, SeedableRng};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use shrink::nn::{Activation, Encoder, EncoderConfig, NamedLinears, NormPlacement};
use shrink::{Error, Forward};

const TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn bert_config() -> String {
    std::fs::read_to_string(fixture("bert_tiny_config.json")).unwrap()
}

/// Every F32 tensor of a safetensors file as (name, shape, values), in file order.
fn tensors(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            let values = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (name, t.shape().to_vec(), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Serialises (name, shape, values) triples as an F32 safetensors file without metadata.
fn write(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((n, s, _), b)| {
        (
            n.as_str(),
            TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
        )
    });
    safetensors::serialize(views, None).unwrap()
}

/// The BERT fixture with `edit` applied to its tensors.
fn edited_bert(edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) -> Vec<u8> {
    let mut t = tensors(&read("bert_tiny.safetensors"));
    edit(&mut t);
    write(&t)
}

struct Expected {
    ids: Array2<u32>,
    types: Array2<u32>,
    mask: Array2<u8>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Expected {
    fn load(name: &str) -> Expected {
        let tensors = tensors(&read(name));
        let mut e = Expected {
            ids: Array2::zeros((0, 0)),
            types: Array2::zeros((0, 0)),
            mask: Array2::zeros((0, 0)),
            tensors,
        };
        e.ids = e
            .get("input_ids")
            .into_dimensionality::<Ix2>()
            .unwrap()
            .mapv(|v| v as u32);
        e.mask = e
            .get("attention_mask")
            .into_dimensionality::<Ix2>()
            .unwrap()
            .mapv(|v| v as u8);
        e.types = match e.tensors.iter().any(|t| t.0 == "token_type_ids") {
            true => e
                .get("token_type_ids")
                .into_dimensionality::<Ix2>()
                .unwrap()
                .mapv(|v| v as u32),
            false => Array2::zeros(e.ids.dim()),
        };
        e
    }

    fn get(&self, name: &str) -> ndarray::ArrayD<f32> {
        let (_, shape, values) = self.tensors.iter().find(|t| t.0 == name).unwrap();
        ndarray::ArrayD::from_shape_vec(shape.clone(), values.clone()).unwrap()
    }
}

fn max_abs_diff<D: ndarray::Dimension>(
    a: &ndarray::Array<f32, D>,
    b: &ndarray::ArrayD<f32>,
) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Compares hidden states and mean pooling with the reference tensors `{state}` and `{pooled}`.
fn check_against(encoder: &Encoder, e: &Expected, types: bool, suffix: &str, what: &str) {
    let types = types.then(|| e.types.view());
    let states: Array3<f32> = encoder
        .forward_batch(e.ids.view(), types, Some(e.mask.view()))
        .unwrap();
    let pooled = encoder
        .mean_pool(e.ids.view(), types, Some(e.mask.view()))
        .unwrap();
    let err_states = max_abs_diff(&states, &e.get(&format!("last_hidden_state{suffix}")));
    let err_pooled = max_abs_diff(&pooled, &e.get(&format!("mean_pooled{suffix}")));
    eprintln!(
        "{what}: max abs error last_hidden_state {err_states:.3e}, mean_pooled {err_pooled:.3e}"
    );
    assert!(
        err_states < TOLERANCE,
        "{what}: last_hidden_state error {err_states}"
    );
    assert!(
        err_pooled < TOLERANCE,
        "{what}: mean_pooled error {err_pooled}"
    );
}

fn bert() -> Encoder {
    Encoder::load_hf_bert(
        fixture("bert_tiny.safetensors"),
        fixture("bert_tiny_config.json"),
    )
    .unwrap()
}

#[test]
fn bert_matches_float64_reference() {
    let encoder = bert();
    let c = encoder.config();
    assert_eq!((c.hidden_size, c.num_heads, c.num_layers), (32, 4, 2));
    assert_eq!(
        (c.activation, c.placement, c.causal),
        (Activation::Gelu, NormPlacement::PostLn, false)
    );
    check_against(
        &encoder,
        &Expected::load("bert_tiny_expected.safetensors"),
        true,
        "",
        "BERT post-LN",
    );
}

#[test]
fn preln_matches_float64_reference() {
    let encoder = Encoder::load(fixture("preln_tiny.safetensors")).unwrap();
    assert_eq!(encoder.config().placement, NormPlacement::PreLn);
    assert!(encoder.embedding_norm().is_none() && encoder.final_norm().is_some());
    check_against(
        &encoder,
        &Expected::load("preln_tiny_expected.safetensors"),
        false,
        "",
        "pre-LN",
    );
}

#[test]
fn causal_preln_matches_float64_reference() {
    let encoder = Encoder::load(fixture("preln_causal_tiny.safetensors")).unwrap();
    assert!(encoder.config().causal);
    let e = Expected::load("preln_tiny_expected.safetensors");
    check_against(&encoder, &e, false, "_causal", "pre-LN causal");
}

#[test]
fn unpadded_sequence_matches_its_padded_row() {
    let encoder = bert();
    let e = Expected::load("bert_tiny_expected.safetensors");
    let batch = encoder
        .forward_batch(e.ids.view(), Some(e.types.view()), Some(e.mask.view()))
        .unwrap();
    let row = 2;
    let n = e.mask.row(row).iter().filter(|&&m| m != 0).count();
    let ids: Vec<u32> = e.ids.row(row).iter().take(n).copied().collect();
    let types: Vec<u32> = e.types.row(row).iter().take(n).copied().collect();
    let alone = encoder.forward(&ids, Some(&types), None).unwrap();
    let padded = batch.index_axis(ndarray::Axis(0), row);
    let diff = alone
        .iter()
        .zip(padded.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-5, "padding changed real outputs by {diff}");
}

#[test]
fn bert_prefix_and_gamma_beta_names_load_identically() {
    let renamed = edited_bert(|t| {
        for (name, _, _) in t.iter_mut() {
            *name = format!("bert.{name}")
                .replace("LayerNorm.weight", "LayerNorm.gamma")
                .replace("LayerNorm.bias", "LayerNorm.beta");
        }
        // Extra tensors a real checkpoint carries are ignored.
        t.push(("bert.pooler.dense.bias".into(), vec![32], vec![0.0; 32]));
    });
    let a = Encoder::from_hf_bert(&renamed, &bert_config()).unwrap();
    assert_eq!(a, bert());
}

#[test]
fn save_load_round_trip_is_bitwise_exact() {
    let e = Expected::load("bert_tiny_expected.safetensors");
    let original = bert();
    let path =
        std::env::temp_dir().join(format!("shrink-encoder-{}.safetensors", std::process::id()));
    original.save(&path).unwrap();
    let loaded = Encoder::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded, original);
    let run = |m: &Encoder| {
        m.forward_batch(e.ids.view(), Some(e.types.view()), Some(e.mask.view()))
            .unwrap()
    };
    let (a, b) = (run(&original), run(&loaded));
    assert!(a
        .iter()
        .zip(b.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits()));

    // A random pre-LN causal model without token types, through bytes.
    let m = Encoder::new(
        tiny(NormPlacement::PreLn, 4, true),
        &mut StdRng::seed_from_u64(9),
    )
    .unwrap();
    let back = Encoder::from_safetensors(&m.to_safetensors().unwrap()).unwrap();
    assert_eq!(back, m);
    let (a, b) = (
        m.forward(&[1, 2, 3], None, None).unwrap(),
        back.forward(&[1, 2, 3], None, None).unwrap(),
    );
    assert!(a
        .iter()
        .zip(b.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn names_and_sizes() {
    let encoder = bert();
    let names = encoder.linear_names();
    assert_eq!(names.len(), 12);
    assert_eq!(
        &names[..6],
        [
            "blocks.0.attn.q",
            "blocks.0.attn.k",
            "blocks.0.attn.v",
            "blocks.0.attn.o",
            "blocks.0.ffn.in",
            "blocks.0.ffn.out"
        ]
    );
    let stored: usize = tensors(&read("bert_tiny.safetensors"))
        .iter()
        .map(|t| t.2.len())
        .sum();
    assert_eq!(encoder.param_count(), stored);
    assert_eq!(encoder.storage_bytes(), 4 * stored);
    let block = &encoder.blocks()[0];
    assert_eq!(
        Forward::forward(block, Array2::zeros((3, 32)).view())
            .unwrap()
            .dim(),
        (3, 32)
    );
    assert_eq!((block.in_features(), block.out_features()), (32, 32));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Encoder>();
    check::<EncoderConfig>();
    check::<shrink::nn::TransformerBlock>();
    check::<shrink::nn::MultiHeadAttention>();
    check::<shrink::nn::LayerNorm>();
}

// ---- error cases -------------------------------------------------------------------------

fn tiny(placement: NormPlacement, heads: usize, causal: bool) -> EncoderConfig {
    EncoderConfig {
        vocab_size: 20,
        hidden_size: 8,
        num_heads: heads,
        num_layers: 1,
        intermediate_size: 16,
        max_positions: 6,
        type_vocab_size: if causal { 0 } else { 2 },
        layer_norm_eps: 1e-5,
        activation: Activation::GeluTanh,
        placement,
        causal,
    }
}

fn assert_param<T: std::fmt::Debug>(r: Result<T, Error>, want: &str) {
    match r {
        Err(Error::InvalidParam { name, .. }) => assert_eq!(name, want),
        other => panic!("expected InvalidParam({want}), got {other:?}"),
    }
}

#[test]
fn zero_heads_is_invalid_param() {
    let mut rng = StdRng::seed_from_u64(0);
    assert_param(
        Encoder::new(tiny(NormPlacement::PostLn, 0, false), &mut rng),
        "heads",
    );
    let json = bert_config().replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 0");
    assert_param(
        Encoder::from_hf_bert(&read("bert_tiny.safetensors"), &json),
        "heads",
    );
}

#[test]
fn hidden_not_divisible_by_heads_is_invalid_param() {
    let mut rng = StdRng::seed_from_u64(0);
    assert_param(
        Encoder::new(tiny(NormPlacement::PreLn, 3, false), &mut rng),
        "heads",
    );
    let json = bert_config().replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5");
    assert_param(
        Encoder::from_hf_bert(&read("bert_tiny.safetensors"), &json),
        "heads",
    );
}

#[test]
fn missing_tensor_is_reported_by_name() {
    let gone = "encoder.layer.1.output.dense.bias";
    let bytes = edited_bert(|t| t.retain(|x| x.0 != gone));
    match Encoder::from_hf_bert(&bytes, &bert_config()) {
        Err(Error::MissingTensor(name)) => assert_eq!(name, gone),
        other => panic!("{other:?}"),
    }
}

#[test]
fn misshaped_tensor_is_shape_mismatch() {
    let bytes = edited_bert(|t| {
        let q = t
            .iter_mut()
            .find(|x| x.0 == "encoder.layer.0.attention.self.query.weight")
            .unwrap();
        q.1 = vec![16, 64];
    });
    let r = Encoder::from_hf_bert(&bytes, &bert_config());
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
}

#[test]
fn truncated_file_is_format_error() {
    let bytes = read("bert_tiny.safetensors");
    for cut in [bytes.len() - 1, bytes.len() / 2, 20, 4] {
        let r = Encoder::from_hf_bert(&bytes[..cut], &bert_config());
        assert!(
            matches!(r, Err(Error::Format(_) | Error::Parse { .. })),
            "cut at {cut}: {r:?}"
        );
    }
    let own = bert().to_safetensors().unwrap();
    assert!(matches!(
        Encoder::from_safetensors(&own[..own.len() - 8]),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
}

#[test]
fn garbage_bytes_are_format_error() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(matches!(
        Encoder::from_hf_bert(&garbage, &bert_config()),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
    assert!(matches!(
        Encoder::from_safetensors(&garbage),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
    assert!(matches!(
        Encoder::from_safetensors(&[]),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
    assert!(matches!(
        Encoder::from_hf_bert(&read("bert_tiny.safetensors"), "not json"),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
    // A valid file of another kind.
    assert!(matches!(
        Encoder::from_safetensors(&read("bert_tiny.safetensors")),
        Err(Error::Format(_) | Error::Parse { .. })
    ));
}

#[test]
fn nan_in_weights_is_non_finite() {
    let bytes = edited_bert(|t| {
        let w = t
            .iter_mut()
            .find(|x| x.0 == "encoder.layer.1.intermediate.dense.weight")
            .unwrap();
        w.2[17] = f32::NAN;
    });
    assert!(matches!(
        Encoder::from_hf_bert(&bytes, &bert_config()),
        Err(Error::NonFinite(_))
    ));
    let bytes = edited_bert(|t| {
        let w = t
            .iter_mut()
            .find(|x| x.0 == "embeddings.word_embeddings.weight")
            .unwrap();
        w.2[3] = f32::INFINITY;
    });
    assert!(matches!(
        Encoder::from_hf_bert(&bytes, &bert_config()),
        Err(Error::NonFinite(_))
    ));
}

#[test]
fn token_id_out_of_range_is_invalid_param() {
    let encoder = bert();
    assert_param(encoder.forward(&[1, 60, 2], None, None), "ids");
    assert_param(encoder.forward(&[1, u32::MAX], None, None), "ids");
    let ids = ndarray::array![[1u32, 2], [3, 99]];
    assert_param(encoder.forward_batch(ids.view(), None, None), "ids");
    assert_param(encoder.forward(&[1, 2], Some(&[0, 2]), None), "token_types");
}

#[test]
fn sequence_too_long_is_invalid_param() {
    let encoder = bert();
    assert!(encoder.forward(&[1; 24], None, None).is_ok());
    assert_param(encoder.forward(&[1; 25], None, None), "ids");
}

#[test]
fn empty_and_mismatched_inputs_are_errors() {
    let encoder = bert();
    assert!(matches!(
        encoder.forward(&[], None, None),
        Err(Error::Empty(_))
    ));
    assert!(matches!(
        encoder.forward(&[1, 2], Some(&[0]), None),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        encoder.forward(&[1, 2], None, Some(&[true])),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_param(
        encoder.forward(&[1, 2], None, Some(&[false, false])),
        "key_mask",
    );
    let ids = Array2::<u32>::ones((2, 3));
    let mask = Array2::<u8>::ones((2, 4));
    assert!(matches!(
        encoder.forward_batch(ids.view(), None, Some(mask.view())),
        Err(Error::ShapeMismatch { .. })
    ));
    let none: ArrayView2<u32> = ArrayView2::from_shape((0, 3), &[]).unwrap();
    assert!(matches!(
        encoder.forward_batch(none, None, None),
        Err(Error::Empty(_))
    ));
    let states = Array3::<f32>::zeros((1, 2, 4));
    let zero_mask = Array2::<u8>::zeros((1, 2));
    assert!(matches!(
        Encoder::mean_pool_states(states.view(), Some(zero_mask.view())),
        Err(Error::Empty(_))
    ));
}
