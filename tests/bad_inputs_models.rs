//! Bad inputs to the models, layers, data sets, metrics and sparse storage (issue #13): every
//! one is an `Err` of the expected variant — never a panic, an abort, a hang or `Ok` holding
//! NaN/Inf — and a failing `&mut` call leaves its receiver bit-identical.

use std::collections::HashMap;

use ndarray::{array, Array1, Array2, Array3};
use rand::{rngs::StdRng, SeedableRng};
use shrink::data::{shuffled_batches, synthetic, Dataset, StandardScaler};
use shrink::eval::{
    accuracy, confusion_matrix, evaluate, macro_f1, measure_latency, sqnr_db, CompressionReport,
    MAX_REPEATS,
};
use shrink::limits::{MAX_ELEMENTS, MAX_PARAMS};
use shrink::nn::{
    Activation, BlockConfig, Encoder, EncoderConfig, Forward, LayerNorm, Linear, LinearLayer, Mlp,
    MultiHeadAttention, NamedLinears, NormPlacement, TransformerBlock,
};
use shrink::sparse::{CsrMatrix, SparseInt8Linear, SparseLinear, MAX_COLS};
use shrink::Error;

fn rng() -> StdRng {
    StdRng::seed_from_u64(13)
}

macro_rules! assert_err {
    ($r:expr, $pat:pat) => {{
        let r = $r;
        assert!(
            matches!(r, Err($pat)),
            "expected {}, got {:?}",
            stringify!($pat),
            r
        );
    }};
}

fn small_mlp() -> Mlp {
    Mlp::new(&[4, 8, 3], Activation::Relu, &mut rng()).unwrap()
}

fn encoder_config() -> EncoderConfig {
    EncoderConfig {
        vocab_size: 20,
        hidden_size: 8,
        num_heads: 2,
        num_layers: 2,
        intermediate_size: 16,
        max_positions: 6,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    }
}

fn block_config() -> BlockConfig {
    BlockConfig {
        hidden: 4,
        heads: 1,
        intermediate: 8,
        activation: Activation::Gelu,
        placement: NormPlacement::PreLn,
        layer_norm_eps: 1e-5,
    }
}

fn dataset() -> Dataset {
    synthetic::blobs(5, 3, 4, 0.5, 1).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Sizes nobody validated: TooLarge before anything is allocated.

#[test]
fn mlp_with_a_2_pow_40_hidden_layer_is_too_large() {
    assert_err!(
        Mlp::new(&[4, 1 << 40, 2], Activation::Relu, &mut rng()),
        Error::TooLarge { .. }
    );
}

#[test]
fn mlp_with_a_2_pow_62_hidden_layer_is_too_large() {
    assert_err!(
        Mlp::new(&[4, 1 << 62, 2], Activation::Relu, &mut rng()),
        Error::TooLarge { .. }
    );
}

#[test]
fn mlp_whose_layers_fit_but_whose_total_does_not_is_too_large() {
    // Three layers of 2^31 weights each: every one under MAX_ELEMENTS, the sum over MAX_PARAMS.
    // Refused before the first (8 GiB) layer is allocated.
    const { assert!(3 << 31 > MAX_PARAMS) };
    assert_err!(
        Mlp::new(
            &[1 << 16, 1 << 15, 1 << 16, 1 << 15],
            Activation::Relu,
            &mut rng()
        ),
        Error::TooLarge { .. }
    );
}

#[test]
fn mlp_sizes_that_are_zero_or_too_few_are_invalid() {
    assert_err!(
        Mlp::new(&[4, 0, 2], Activation::Relu, &mut rng()),
        Error::InvalidParam { name: "sizes", .. }
    );
    assert_err!(
        Mlp::new(&[4], Activation::Relu, &mut rng()),
        Error::InvalidParam { name: "sizes", .. }
    );
}

#[test]
fn linear_init_of_absurd_sizes_is_too_large() {
    assert_err!(Linear::init(1 << 40, 4, &mut rng()), Error::TooLarge { .. });
    assert_err!(
        Linear::init(usize::MAX, usize::MAX, &mut rng()),
        Error::TooLarge { .. }
    );
    assert_err!(
        Linear::init(MAX_ELEMENTS, 1, &mut rng()),
        Error::TooLarge { .. }
    );
    assert_err!(Linear::init(0, 4, &mut rng()), Error::InvalidParam { .. });
}

#[test]
fn layer_norm_of_an_absurd_width_is_too_large() {
    assert_err!(LayerNorm::identity(1 << 62, 1e-5), Error::TooLarge { .. });
    assert_err!(
        LayerNorm::identity(usize::MAX, 1e-5),
        Error::TooLarge { .. }
    );
}

#[test]
fn encoder_with_hidden_2_pow_62_is_too_large() {
    let config = EncoderConfig {
        hidden_size: 1 << 62,
        num_heads: 1,
        ..encoder_config()
    };
    assert_err!(config.check(), Error::TooLarge { .. });
    assert_err!(Encoder::new(config, &mut rng()), Error::TooLarge { .. });
}

#[test]
fn encoder_with_a_vocabulary_of_10_pow_12_is_too_large() {
    let config = EncoderConfig {
        vocab_size: 1_000_000_000_000,
        ..encoder_config()
    };
    assert_err!(Encoder::new(config, &mut rng()), Error::TooLarge { .. });
}

#[test]
fn encoder_with_10_pow_12_layers_is_too_large() {
    let config = EncoderConfig {
        num_layers: 1_000_000_000_000,
        ..encoder_config()
    };
    assert_err!(Encoder::new(config, &mut rng()), Error::TooLarge { .. });
}

#[test]
fn encoder_with_absurd_intermediate_positions_or_types_is_too_large() {
    let base = encoder_config();
    for config in [
        EncoderConfig {
            intermediate_size: 1 << 40,
            ..base
        },
        EncoderConfig {
            max_positions: 1 << 62,
            ..base
        },
        EncoderConfig {
            type_vocab_size: usize::MAX,
            ..base
        },
        EncoderConfig {
            hidden_size: 1 << 40,
            num_heads: 1 << 40,
            ..base
        },
    ] {
        assert_err!(Encoder::new(config, &mut rng()), Error::TooLarge { .. });
    }
}

#[test]
fn encoder_config_with_bad_values_is_invalid() {
    let base = encoder_config();
    assert_err!(
        Encoder::new(
            EncoderConfig {
                num_heads: 3,
                ..base
            },
            &mut rng()
        ),
        Error::InvalidParam { name: "heads", .. }
    );
    assert_err!(
        Encoder::new(
            EncoderConfig {
                vocab_size: 0,
                ..base
            },
            &mut rng()
        ),
        Error::InvalidParam {
            name: "vocab_size",
            ..
        }
    );
    assert_err!(
        Encoder::new(
            EncoderConfig {
                layer_norm_eps: f32::NAN,
                ..base
            },
            &mut rng()
        ),
        Error::InvalidParam {
            name: "layer_norm_eps",
            ..
        }
    );
}

#[test]
fn encoder_config_param_count_matches_a_built_encoder() {
    let config = encoder_config();
    let encoder = Encoder::new(config, &mut rng()).unwrap();
    assert_eq!(config.param_count().unwrap(), encoder.param_count());
}

#[test]
fn transformer_block_of_absurd_sizes_is_too_large() {
    for config in [
        BlockConfig {
            hidden: 1 << 40,
            ..block_config()
        },
        BlockConfig {
            intermediate: 1 << 62,
            ..block_config()
        },
        BlockConfig {
            hidden: 1 << 20,
            heads: 4,
            ..block_config()
        },
    ] {
        assert_err!(config.check(), Error::TooLarge { .. });
        assert_err!(
            TransformerBlock::new(&config, &mut rng()),
            Error::TooLarge { .. }
        );
    }
}

#[test]
fn attention_of_absurd_width_is_too_large() {
    assert_err!(
        MultiHeadAttention::init(1 << 20, 4, &mut rng()),
        Error::TooLarge { .. }
    );
    assert_err!(
        MultiHeadAttention::init(1 << 62, 1, &mut rng()),
        Error::TooLarge { .. }
    );
}

#[test]
fn attention_heads_times_head_dim_overflowing_is_too_large() {
    let mut r = rng();
    let l = Linear::init(4, 4, &mut r).unwrap();
    assert_err!(
        MultiHeadAttention::with_head_dim(l.clone(), l.clone(), l.clone(), l, 1 << 40, 1 << 40),
        Error::TooLarge { .. }
    );
}

#[test]
fn attention_over_a_sequence_whose_scores_exceed_the_limit_is_too_large() {
    // 65,537 tokens of width 4 are 1 MiB; their (seq × seq) scores would be 16 GiB per head.
    let seq = (1 << 16) + 1;
    let x = Array2::<f32>::zeros((seq, 4));
    let block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
    assert_err!(block.forward(x.view(), None, false), Error::TooLarge { .. });
    let attn = block.attention();
    assert_err!(attn.forward(x.view(), None, false), Error::TooLarge { .. });
}

#[test]
fn blobs_of_absurd_size_are_too_large() {
    assert_err!(
        synthetic::blobs(1 << 40, 3, 4, 0.5, 0),
        Error::TooLarge { .. }
    );
    assert_err!(
        synthetic::blobs(usize::MAX, 2, 2, 0.5, 0),
        Error::TooLarge { .. }
    );
    // The centres alone are too many.
    assert_err!(
        synthetic::blobs(1, 1 << 40, 1 << 30, 0.5, 0),
        Error::TooLarge { .. }
    );
}

#[test]
fn blobs_with_bad_values_are_invalid() {
    assert_err!(
        synthetic::blobs(0, 3, 4, 0.5, 0),
        Error::InvalidParam { .. }
    );
    assert_err!(
        synthetic::blobs(5, 3, 4, f32::NAN, 0),
        Error::InvalidParam { name: "spread", .. }
    );
    assert_err!(
        synthetic::blobs(5, 3, 4, f32::INFINITY, 0),
        Error::InvalidParam { name: "spread", .. }
    );
}

#[test]
fn two_spirals_of_absurd_size_are_too_large() {
    assert_err!(
        synthetic::two_spirals(1 << 40, 0.1, 0),
        Error::TooLarge { .. }
    );
    assert_err!(
        synthetic::two_spirals(usize::MAX / 2 + 1, 0.1, 0),
        Error::TooLarge { .. }
    );
    assert_err!(
        synthetic::two_spirals(10, -1.0, 0),
        Error::InvalidParam { name: "noise", .. }
    );
}

#[test]
fn synthetic_sets_are_unchanged_by_the_size_checks() {
    // Seeded generation draws in the same order as before: same seed, same set; and the sets
    // have the documented shapes.
    let a = synthetic::blobs(10, 3, 4, 0.5, 1).unwrap();
    assert_eq!(a, synthetic::blobs(10, 3, 4, 0.5, 1).unwrap());
    assert_eq!(a.features().dim(), (30, 4));
    assert_eq!(&a.labels()[..4], &[0, 1, 2, 0]);
    let s = synthetic::two_spirals(7, 0.0, 3).unwrap();
    assert_eq!(s.features().dim(), (14, 2));
    assert_eq!(&s.labels()[..4], &[0, 1, 0, 1]);
}

// ---------------------------------------------------------------------------------------------
// Silent garbage: NaN/Inf in, or finite input that overflows, is NonFinite — never Ok(inf).

#[test]
fn an_mlp_with_an_inf_bias_is_refused_at_construction() {
    assert_err!(
        Linear::new(array![[1.0, 2.0]], array![f32::INFINITY]),
        Error::NonFinite(_)
    );
}

#[test]
fn an_mlp_given_an_inf_bias_after_construction_fails_its_forward_pass() {
    let mut mlp = small_mlp();
    mlp.layers_mut()[1].params_mut().1[0] = f32::INFINITY;
    let r = mlp.forward(Array2::zeros((2, 4)).view());
    match r {
        Err(Error::NonFinite(what)) => assert!(what.contains("layers.1"), "{what}"),
        other => panic!("expected NonFinite naming layers.1, got {other:?}"),
    }
    assert_err!(
        mlp.predict(Array2::zeros((1, 4)).view()),
        Error::NonFinite(_)
    );
}

#[test]
fn an_mlp_given_a_nan_weight_after_construction_fails_its_forward_pass() {
    let mut mlp = small_mlp();
    mlp.layers_mut()[0].params_mut().0[3] = f32::NAN;
    match mlp.forward(Array2::ones((1, 4)).view()) {
        Err(Error::NonFinite(what)) => assert!(what.contains("layers.0"), "{what}"),
        other => panic!("expected NonFinite naming layers.0, got {other:?}"),
    }
}

#[test]
fn an_input_of_3e38_that_overflows_is_an_error_not_ok_inf() {
    // Weights of 1: 4 × 3e38 overflows f32 in the first layer.
    let layer = Linear::new(Array2::ones((2, 4)), Array1::zeros(2)).unwrap();
    let mlp = Mlp::from_layers(vec![layer.clone()], vec![Activation::Identity]).unwrap();
    let x = Array2::from_elem((1, 4), 3e38f32);
    assert_err!(mlp.forward(x.view()), Error::NonFinite(_));
    assert_err!(layer.forward(x.view()), Error::NonFinite(_));
    // The same for a random model: whatever it returns is finite or an error.
    let mlp = Mlp::new(&[4, 16, 16, 2], Activation::Relu, &mut rng()).unwrap();
    let x = Array2::from_elem((3, 4), 3e38f32);
    match mlp.forward(x.view()) {
        Ok(y) => assert!(y.iter().all(|v| v.is_finite()), "{y}"),
        Err(e) => assert!(matches!(e, Error::NonFinite(_)), "{e:?}"),
    }
}

#[test]
fn an_mlp_hidden_output_that_overflows_names_the_layer() {
    let big = Linear::new(Array2::from_elem((3, 2), 1e30), Array1::zeros(3)).unwrap();
    let next = Linear::new(Array2::from_elem((1, 3), 1e30), Array1::zeros(1)).unwrap();
    let mlp = Mlp::from_layers(vec![big, next], vec![Activation::Relu; 2]).unwrap();
    // Layer 0 gives 2e30 (finite); layer 1 gives 6e60 = inf.
    match mlp.forward(array![[1.0f32, 1.0]].view()) {
        Err(Error::NonFinite(what)) => assert!(what.contains("layers.1"), "{what}"),
        other => panic!("expected NonFinite naming layers.1, got {other:?}"),
    }
    assert!(mlp.hidden(array![[1.0f32, 1.0]].view(), 0).is_ok());
}

#[test]
fn nan_or_inf_inputs_are_refused_by_every_forward() {
    let mut nan = Array2::<f32>::zeros((2, 4));
    nan[[1, 2]] = f32::NAN;
    let mut inf = Array2::<f32>::zeros((2, 4));
    inf[[0, 0]] = f32::NEG_INFINITY;
    let mlp = small_mlp();
    let layer = Linear::init(4, 3, &mut rng()).unwrap();
    let block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
    let ln = LayerNorm::identity(4, 1e-5).unwrap();
    let sparse = SparseLinear::from_linear(&layer).unwrap();
    let sparse8 = SparseInt8Linear::from_linear(&layer).unwrap();
    for x in [&nan, &inf] {
        assert_err!(mlp.forward(x.view()), Error::NonFinite(_));
        assert_err!(mlp.hidden(x.view(), 0), Error::NonFinite(_));
        assert_err!(mlp.forward_train(x.view()), Error::NonFinite(_));
        assert_err!(layer.forward(x.view()), Error::NonFinite(_));
        assert_err!(block.forward(x.view(), None, false), Error::NonFinite(_));
        assert_err!(
            block.attention().forward(x.view(), None, false),
            Error::NonFinite(_)
        );
        assert_err!(ln.forward(x.view()), Error::NonFinite(_));
        assert_err!(LinearLayer::forward(&sparse, x.view()), Error::NonFinite(_));
        assert_err!(
            LinearLayer::forward(&sparse8, x.view()),
            Error::NonFinite(_)
        );
    }
}

#[test]
fn a_layer_norm_whose_output_overflows_is_an_error() {
    let ln = LayerNorm::new(Array1::from_elem(4, 3e38), Array1::zeros(4), 1e-5).unwrap();
    assert_err!(
        ln.forward(array![[1.0f32, 2.0, 3.0, 10.0]].view()),
        Error::NonFinite(_)
    );
}

#[test]
fn a_transformer_block_with_a_nan_weight_fails_its_forward_pass() {
    let mut block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
    block.visit_linears_mut(&mut |name, l| {
        if name == "ffn.out" {
            l.params_mut().0[0] = f32::NAN;
        }
    });
    let x = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f32 * 0.1);
    assert_err!(block.forward(x.view(), None, false), Error::NonFinite(_));
    assert_err!(Forward::forward(&block, x.view()), Error::NonFinite(_));
}

#[test]
fn an_encoder_with_a_nan_weight_names_the_block() {
    let mut encoder = Encoder::new(encoder_config(), &mut rng()).unwrap();
    encoder.visit_linears_mut(&mut |name, l| {
        if name == "blocks.1.attn.v" {
            l.params_mut().1[0] = f32::NAN;
        }
    });
    match encoder.forward(&[1, 2, 3], None, None) {
        Err(Error::NonFinite(what)) => assert!(what.contains("blocks.1"), "{what}"),
        other => panic!("expected NonFinite naming blocks.1, got {other:?}"),
    }
    let ids = array![[1u32, 2, 3]];
    assert_err!(
        encoder.forward_batch(ids.view(), None, None),
        Error::NonFinite(_)
    );
    assert_err!(
        encoder.mean_pool(ids.view(), None, None),
        Error::NonFinite(_)
    );
}

#[test]
fn sparse_layers_whose_output_overflows_are_errors() {
    let dense = Linear::new(array![[3e38f32, 3e38, 0.0]], array![0.0]).unwrap();
    let sparse = SparseLinear::from_linear(&dense).unwrap();
    let x1 = array![[1.0f32, 1.0, 1.0]];
    let x2 = array![[1.0f32, 1.0, 1.0], [0.0, 0.0, 0.0]];
    assert_err!(
        LinearLayer::forward(&sparse, x1.view()),
        Error::NonFinite(_)
    );
    assert_err!(
        LinearLayer::forward(&sparse, x2.view()),
        Error::NonFinite(_)
    );
    let sparse8 = SparseInt8Linear::from_linear(&dense).unwrap();
    assert_err!(
        LinearLayer::forward(&sparse8, x1.view()),
        Error::NonFinite(_)
    );
    // And as the layers of an Mlp.
    let mlp = Mlp::from_layers(vec![sparse], vec![Activation::Identity]).unwrap();
    assert_err!(mlp.forward(x2.view()), Error::NonFinite(_));
}

#[test]
fn a_sparse_int8_layer_of_a_layer_with_a_nan_bias_is_refused() {
    let mut dense = Linear::init(3, 2, &mut rng()).unwrap();
    dense.params_mut().1[1] = f32::NAN;
    assert_err!(SparseInt8Linear::from_linear(&dense), Error::NonFinite(_));
    assert_err!(SparseLinear::from_linear(&dense), Error::NonFinite(_));
    dense.params_mut().0[0] = f32::INFINITY;
    assert_err!(SparseInt8Linear::from_linear(&dense), Error::NonFinite(_));
}

#[test]
fn mean_pool_states_refuses_non_finite_states_and_does_not_overflow() {
    let mut states = Array3::<f32>::zeros((1, 2, 3));
    states[[0, 1, 2]] = f32::NAN;
    assert_err!(
        Encoder::mean_pool_states(states.view(), None),
        Error::NonFinite(_)
    );
    // The mean of two values of 3e38 is 3e38, not inf.
    let big = Array3::from_elem((1, 2, 3), 3e38f32);
    let pooled = Encoder::mean_pool_states(big.view(), None).unwrap();
    assert!(pooled.iter().all(|&v| v == 3e38), "{pooled}");
    assert_err!(
        Encoder::mean_pool_states(Array3::zeros((0, 2, 3)).view(), None),
        Error::Empty(_)
    );
    let none = array![[0u8, 0]];
    assert_err!(
        Encoder::mean_pool_states(Array3::zeros((1, 2, 3)).view(), Some(none.view())),
        Error::Empty(_)
    );
    assert_err!(
        Encoder::mean_pool_states(Array3::zeros((1, 2, 3)).view(), Some(array![[1u8]].view())),
        Error::ShapeMismatch { .. }
    );
}

// ---------------------------------------------------------------------------------------------
// Shapes, ids and masks.

#[test]
fn wrong_widths_are_shape_mismatches() {
    let x = Array2::<f32>::zeros((2, 5));
    let layer = Linear::init(4, 3, &mut rng()).unwrap();
    assert_err!(small_mlp().forward(x.view()), Error::ShapeMismatch { .. });
    assert_err!(layer.forward(x.view()), Error::ShapeMismatch { .. });
    let block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
    assert_err!(
        block.forward(x.view(), None, false),
        Error::ShapeMismatch { .. }
    );
    let sparse = SparseLinear::from_linear(&layer).unwrap();
    assert_err!(
        LinearLayer::forward(&sparse, x.view()),
        Error::ShapeMismatch { .. }
    );
}

#[test]
fn an_empty_sequence_is_empty() {
    let block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
    assert_err!(
        block.forward(Array2::zeros((0, 4)).view(), None, false),
        Error::Empty(_)
    );
    let encoder = Encoder::new(encoder_config(), &mut rng()).unwrap();
    assert_err!(encoder.forward(&[], None, None), Error::Empty(_));
    assert_err!(
        encoder.forward_batch(Array2::<u32>::zeros((2, 0)).view(), None, None),
        Error::Empty(_)
    );
    assert_err!(
        encoder.forward_batch(Array2::<u32>::zeros((0, 3)).view(), None, None),
        Error::Empty(_)
    );
}

#[test]
fn encoder_ids_types_and_lengths_out_of_range_are_invalid() {
    let encoder = Encoder::new(encoder_config(), &mut rng()).unwrap();
    assert_err!(
        encoder.forward(&[1, 20], None, None),
        Error::InvalidParam { name: "ids", .. }
    );
    assert_err!(
        encoder.forward(&[1, u32::MAX], None, None),
        Error::InvalidParam { name: "ids", .. }
    );
    assert_err!(
        encoder.forward(&[1; 7], None, None),
        Error::InvalidParam { name: "ids", .. }
    );
    assert_err!(
        encoder.forward(&[1, 2], Some(&[0, 2]), None),
        Error::InvalidParam {
            name: "token_types",
            ..
        }
    );
    assert_err!(
        encoder.forward(&[1, 2], Some(&[0]), None),
        Error::ShapeMismatch { .. }
    );
    // A batch longer than max_positions is refused before its output is allocated.
    assert_err!(
        encoder.forward_batch(Array2::<u32>::zeros((2, 1000)).view(), None, None),
        Error::InvalidParam { name: "ids", .. }
    );
    assert_err!(
        encoder.forward_batch(
            Array2::<u32>::zeros((2, 3)).view(),
            None,
            Some(Array2::<u8>::ones((2, 2)).view())
        ),
        Error::ShapeMismatch { .. }
    );
}

#[test]
fn a_mask_that_hides_every_key_is_invalid() {
    let encoder = Encoder::new(encoder_config(), &mut rng()).unwrap();
    assert_err!(
        encoder.forward(&[1, 2], None, Some(&[false, false])),
        Error::InvalidParam {
            name: "key_mask",
            ..
        }
    );
}

#[test]
fn mlp_from_layers_rejects_empty_and_mismatched_layers() {
    let mut r = rng();
    assert_err!(Mlp::<Linear>::from_layers(vec![], vec![]), Error::Empty(_));
    let a = Linear::init(4, 3, &mut r).unwrap();
    let b = Linear::init(5, 2, &mut r).unwrap();
    assert_err!(
        Mlp::from_layers(vec![a.clone(), b], vec![Activation::Relu; 2]),
        Error::ShapeMismatch { .. }
    );
    assert_err!(
        Mlp::from_layers(vec![a], vec![Activation::Relu; 2]),
        Error::ShapeMismatch { .. }
    );
}

#[test]
fn mlp_hidden_index_past_the_last_layer_is_invalid() {
    assert_err!(
        small_mlp().hidden(Array2::zeros((1, 4)).view(), 2),
        Error::InvalidParam { name: "index", .. }
    );
}

#[test]
fn mlp_backward_with_another_models_cache_is_a_shape_mismatch_not_a_panic() {
    let mlp = small_mlp();
    let other = Mlp::new(&[4, 6, 5, 3], Activation::Relu, &mut rng()).unwrap();
    let (_, cache) = other.forward_train(Array2::zeros((2, 4)).view()).unwrap();
    assert_err!(
        mlp.backward(&cache, Array2::zeros((2, 3)).view()),
        Error::ShapeMismatch { .. }
    );
    // Same layer count, other widths.
    let wide = Mlp::new(&[4, 9, 3], Activation::Relu, &mut rng()).unwrap();
    let (_, cache) = wide.forward_train(Array2::zeros((2, 4)).view()).unwrap();
    assert_err!(
        mlp.backward(&cache, Array2::zeros((2, 3)).view()),
        Error::ShapeMismatch { .. }
    );
    let (_, own) = mlp.forward_train(Array2::zeros((2, 4)).view()).unwrap();
    assert_err!(
        mlp.backward(&own, Array2::zeros((3, 3)).view()),
        Error::ShapeMismatch { .. }
    );
}

// ---------------------------------------------------------------------------------------------
// `&mut` calls that fail leave the receiver unchanged.

#[test]
fn failing_set_params_leaves_the_layer_unchanged() {
    let mut layer = Linear::init(3, 2, &mut rng()).unwrap();
    layer
        .set_mask(array![[true, false, true], [true, true, false]])
        .unwrap();
    let before = layer.clone();
    assert_err!(
        layer.set_params(
            array![[1.0, f32::NAN, 0.0], [0.0, 0.0, 0.0]],
            array![0.0, 0.0]
        ),
        Error::NonFinite(_)
    );
    assert_eq!(layer, before);
    assert_err!(
        layer.set_params(Array2::zeros((2, 3)), array![0.0, f32::INFINITY]),
        Error::NonFinite(_)
    );
    assert_eq!(layer, before);
    assert_err!(
        layer.set_params(Array2::zeros((3, 2)), Array1::zeros(3)),
        Error::ShapeMismatch { .. }
    );
    assert_eq!(layer, before);
    assert_err!(
        layer.set_params(Array2::zeros((2, 3)), Array1::zeros(3)),
        Error::ShapeMismatch { .. }
    );
    assert_eq!(layer, before);
}

#[test]
fn failing_set_mask_leaves_the_layer_unchanged() {
    let mut layer = Linear::init(3, 2, &mut rng()).unwrap();
    let before = layer.clone();
    assert_err!(
        layer.set_mask(Array2::from_elem((3, 2), false)),
        Error::ShapeMismatch { .. }
    );
    assert_eq!(layer, before);
}

#[test]
fn failing_report_add_leaves_the_report_unchanged() {
    let data = dataset();
    let mlp = Mlp::new(&[4, 6, 3], Activation::Relu, &mut rng()).unwrap();
    let mut report = CompressionReport::new(4, 2).unwrap();
    report.add("base", &mlp, &data, &HashMap::new()).unwrap();
    let before = report.clone();
    // Wrong width.
    let wide = Mlp::new(&[5, 3], Activation::Relu, &mut rng()).unwrap();
    assert_err!(
        report.add("wide", &wide, &data, &HashMap::new()),
        Error::ShapeMismatch { .. }
    );
    assert_eq!(report, before);
    // A model whose outputs are NaN.
    let mut broken = mlp.clone();
    broken.layers_mut()[0].params_mut().0[0] = f32::NAN;
    assert_err!(
        report.add("broken", &broken, &data, &HashMap::new()),
        Error::NonFinite(_)
    );
    assert_eq!(report, before);
}

// ---------------------------------------------------------------------------------------------
// Data sets.

#[test]
fn dataset_new_rejects_mismatched_empty_non_finite_and_out_of_range() {
    let x = Array2::<f32>::zeros((3, 2));
    assert_err!(
        Dataset::new(x.clone(), vec![0, 1], 2),
        Error::ShapeMismatch { .. }
    );
    assert_err!(
        Dataset::new(Array2::zeros((0, 2)), vec![], 2),
        Error::Empty(_)
    );
    assert_err!(
        Dataset::new(Array2::zeros((3, 0)), vec![0, 0, 0], 2),
        Error::Empty(_)
    );
    let mut nan = x.clone();
    nan[[2, 1]] = f32::NAN;
    assert_err!(Dataset::new(nan, vec![0, 1, 1], 2), Error::NonFinite(_));
    assert_err!(
        Dataset::new(x.clone(), vec![0, 1, 2], 2),
        Error::InvalidParam { name: "labels", .. }
    );
    assert_err!(
        Dataset::new(x.clone(), vec![0, 0, 0], 0),
        Error::InvalidParam { name: "labels", .. }
    );
    assert_err!(
        Dataset::new(x, vec![0, 0, 0], usize::MAX),
        Error::TooLarge { .. }
    );
}

#[test]
fn dataset_select_rejects_out_of_range_and_empty() {
    let d = dataset();
    assert_err!(
        d.select(&[0, d.len()]),
        Error::InvalidParam {
            name: "indices",
            ..
        }
    );
    assert_err!(d.select(&[usize::MAX]), Error::InvalidParam { .. });
    assert_err!(d.select(&[]), Error::Empty(_));
}

#[test]
fn stratified_split_rejects_fractions_outside_zero_one() {
    let d = dataset();
    for f in [
        f32::NAN,
        0.0,
        -0.5,
        1.0,
        1.5,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        assert_err!(
            d.stratified_split(f, 0),
            Error::InvalidParam {
                name: "test_fraction",
                ..
            }
        );
    }
    // A fraction that rounds every class to no test sample leaves the test part empty.
    assert_err!(d.stratified_split(0.01, 0), Error::Empty(_));
}

#[test]
fn stratified_split_with_a_huge_class_count_is_fast_and_seeded() {
    // n_classes far above the labels used: one pass over the rows, not one per class.
    let d = Dataset::new(
        Array2::from_shape_fn((8, 2), |(i, j)| (i * 2 + j) as f32),
        vec![0, 1, 0, 1, 0, 1, 0, 1],
        1 << 30,
    )
    .unwrap();
    let (train, test) = d.stratified_split(0.5, 7).unwrap();
    assert_eq!((train.len(), test.len()), (4, 4));
    assert_eq!(d.stratified_split(0.5, 7).unwrap(), (train, test));
}

#[test]
fn shuffled_batches_rejects_a_zero_batch_and_absurd_counts() {
    assert_err!(
        shuffled_batches(10, 0, &mut rng()),
        Error::InvalidParam {
            name: "batch_size",
            ..
        }
    );
    assert_err!(
        shuffled_batches(usize::MAX, 4, &mut rng()),
        Error::TooLarge { .. }
    );
    assert!(shuffled_batches(0, 4, &mut rng()).unwrap().is_empty());
}

#[test]
fn scaler_rejects_empty_non_finite_and_mismatched_input() {
    assert_err!(
        StandardScaler::fit(Array2::<f32>::zeros((0, 3)).view()),
        Error::Empty(_)
    );
    assert_err!(
        StandardScaler::fit(array![[1.0f32, f32::NAN]].view()),
        Error::NonFinite(_)
    );
    let s = StandardScaler::fit(array![[1.0f32, 2.0], [3.0, 2.0]].view()).unwrap();
    assert_err!(
        s.transform(array![[1.0f32]].view()),
        Error::ShapeMismatch { .. }
    );
    assert_err!(
        s.transform(array![[f32::INFINITY, 0.0]].view()),
        Error::NonFinite(_)
    );
}

#[test]
fn scaler_on_constant_and_extreme_columns_gives_finite_values() {
    // A constant column (std 0) is centred to 0, not divided into NaN; columns near f32::MAX
    // neither overflow the mean nor the deviations.
    let x = array![
        [5.0f32, 3e38, -3.4e38, 1.0],
        [5.0, 3e38, 3.4e38, 1.0 + f32::EPSILON],
        [5.0, -3e38, 3.4e38, 1.0]
    ];
    let s = StandardScaler::fit(x.view()).unwrap();
    let y = s.transform(x.view()).unwrap();
    assert!(y.iter().all(|v| v.is_finite()), "{y}");
    assert!(y.column(0).iter().all(|&v| v == 0.0));
    assert!(s.mean().iter().all(|v| v.is_finite()));
    assert!(s.scale().iter().all(|v| v.is_finite() && *v > 0.0));
}

#[test]
fn scaler_transform_that_overflows_is_non_finite() {
    // Standard deviation 1e-3: a value 3e38 away becomes 3e41.
    let s = StandardScaler::fit(array![[0.0f32], [0.002]].view()).unwrap();
    assert_err!(s.transform(array![[3e38f32]].view()), Error::NonFinite(_));
}

// ---------------------------------------------------------------------------------------------
// Metrics, latency, SQNR, reports.

#[test]
fn macro_f1_of_a_0x0_matrix_is_empty() {
    assert_err!(macro_f1(&Array2::<usize>::zeros((0, 0))), Error::Empty(_));
}

#[test]
fn macro_f1_of_a_matrix_without_samples_is_empty() {
    assert_err!(macro_f1(&Array2::<usize>::zeros((3, 3))), Error::Empty(_));
    assert_err!(
        macro_f1(&Array2::<usize>::zeros((3, 2))),
        Error::ShapeMismatch { .. }
    );
}

#[test]
fn accuracy_and_confusion_reject_empty_and_mismatched() {
    assert_err!(accuracy(&[], &[]), Error::Empty(_));
    assert_err!(accuracy(&[0], &[0, 1]), Error::ShapeMismatch { .. });
    assert_err!(confusion_matrix(&[], &[], 3), Error::Empty(_));
    assert_err!(confusion_matrix(&[0], &[0], 0), Error::InvalidParam { .. });
    assert_err!(
        confusion_matrix(&[3], &[0], 3),
        Error::InvalidParam { name: "class", .. }
    );
    assert_err!(
        confusion_matrix(&[0], &[0], 1 << 40),
        Error::TooLarge { .. }
    );
}

#[test]
fn evaluate_rejects_wrong_widths_and_broken_models() {
    let data = dataset();
    let wide = Mlp::new(&[5, 3], Activation::Relu, &mut rng()).unwrap();
    assert_err!(evaluate(&wide, &data), Error::ShapeMismatch { .. });
    let mut broken = Mlp::new(&[4, 3], Activation::Relu, &mut rng()).unwrap();
    broken.layers_mut()[0].params_mut().1[2] = f32::INFINITY;
    assert_err!(evaluate(&broken, &data), Error::NonFinite(_));
    // A model with far more outputs than any confusion matrix may hold is refused, not
    // aborted: here the data set claims MAX_ELEMENTS classes (its square is over the limit).
    let many = Dataset::new(Array2::zeros((2, 4)), vec![0, 1], MAX_ELEMENTS).unwrap();
    let mlp = Mlp::new(&[4, 3], Activation::Relu, &mut rng()).unwrap();
    assert_err!(evaluate(&mlp, &many), Error::TooLarge { .. });
}

#[test]
fn measure_latency_bounds_its_repeats() {
    let mlp = small_mlp();
    let x = Array2::<f32>::zeros((4, 4));
    assert_err!(
        measure_latency(&mlp, x.view(), 2, 0),
        Error::InvalidParam {
            name: "repeats",
            ..
        }
    );
    assert_err!(
        measure_latency(&mlp, x.view(), 2, usize::MAX),
        Error::InvalidParam {
            name: "repeats",
            ..
        }
    );
    assert_err!(
        measure_latency(&mlp, x.view(), 2, MAX_REPEATS + 1),
        Error::InvalidParam {
            name: "repeats",
            ..
        }
    );
    assert_err!(
        measure_latency(&mlp, x.view(), 0, 3),
        Error::InvalidParam { name: "n", .. }
    );
    assert_err!(
        measure_latency(&mlp, Array2::zeros((0, 4)).view(), 2, 3),
        Error::Empty(_)
    );
    assert_err!(
        measure_latency(&mlp, Array2::zeros((2, 5)).view(), 2, 3),
        Error::ShapeMismatch { .. }
    );
}

#[test]
fn compression_report_bounds_batch_and_repeats() {
    assert_err!(
        CompressionReport::new(0, 3),
        Error::InvalidParam { name: "batch", .. }
    );
    assert_err!(
        CompressionReport::new(8, 0),
        Error::InvalidParam {
            name: "repeats",
            ..
        }
    );
    assert_err!(
        CompressionReport::new(8, usize::MAX),
        Error::InvalidParam {
            name: "repeats",
            ..
        }
    );
}

#[test]
fn sqnr_rejects_empty_non_finite_and_mismatched() {
    let a = array![[1.0f32, 2.0]];
    assert_err!(sqnr_db(a.view(), a.t()), Error::ShapeMismatch { .. });
    let e = Array2::<f32>::zeros((0, 3));
    assert_err!(sqnr_db(e.view(), e.view()), Error::Empty(_));
    let nan = array![[1.0f32, f32::NAN]];
    assert_err!(sqnr_db(a.view(), nan.view()), Error::NonFinite(_));
    assert_err!(sqnr_db(nan.view(), a.view()), Error::NonFinite(_));
    // Differences of ±3e38 would overflow f32; summed in f64 they give a finite ratio.
    let big = array![[3e38f32, -3e38]];
    let neg = array![[-3e38f32, 3e38]];
    let db = sqnr_db(big.view(), neg.view()).unwrap();
    assert!(db.is_finite(), "{db}");
}

// ---------------------------------------------------------------------------------------------
// Sparse storage.

#[test]
fn csr_wider_than_u16_indices_is_too_large() {
    let w = Array2::<f32>::zeros((1, MAX_COLS + 1));
    assert_err!(CsrMatrix::from_dense(w.view()), Error::TooLarge { .. });
    assert!(CsrMatrix::from_dense(Array2::<f32>::zeros((1, MAX_COLS)).view()).is_ok());
    assert_err!(
        CsrMatrix::from_parts(1, MAX_COLS + 1, vec![0, 0], vec![], vec![]),
        Error::TooLarge { .. }
    );
}

#[test]
fn csr_with_a_dense_shape_over_the_limit_is_too_large() {
    assert_err!(
        CsrMatrix::from_parts(usize::MAX, 3, vec![0], vec![], vec![]),
        Error::TooLarge { .. }
    );
    assert_err!(
        CsrMatrix::from_parts(1 << 20, 1 << 16, vec![0], vec![], vec![]),
        Error::TooLarge { .. }
    );
}

#[test]
fn csr_with_an_inconsistent_structure_is_a_format_error() {
    let cases = [
        (2, 3, vec![0u32, 1], vec![0u16], vec![1.0f32]),
        (1, 3, vec![0, 1], vec![3], vec![1.0]),
        (2, 3, vec![0, 2, 1], vec![0, 1], vec![1.0, 2.0]),
        (1, 3, vec![1, 1], vec![0], vec![1.0]),
        (1, 3, vec![0, 2], vec![1, 1], vec![1.0, 2.0]),
        (1, 3, vec![0, 5], vec![0], vec![1.0]),
        (1, 3, vec![0, 1], vec![0, 1], vec![1.0]),
    ];
    for (rows, cols, rp, ci, v) in cases {
        assert_err!(
            CsrMatrix::from_parts(rows, cols, rp, ci, v),
            Error::Format(_)
        );
    }
}

#[test]
fn csr_with_non_finite_values_is_non_finite() {
    assert_err!(
        CsrMatrix::from_parts(1, 3, vec![0, 1], vec![0], vec![f32::NAN]),
        Error::NonFinite(_)
    );
    assert_err!(
        CsrMatrix::from_dense(array![[0.0f32, f32::INFINITY]].view()),
        Error::NonFinite(_)
    );
}

#[test]
fn sparse_linear_rejects_bad_bias_and_empty_weights() {
    let csr = CsrMatrix::from_dense(array![[0.0f32, 1.0], [2.0, 0.0]].view()).unwrap();
    assert_err!(
        SparseLinear::new(csr.clone(), Array1::zeros(3)),
        Error::ShapeMismatch { .. }
    );
    assert_err!(
        SparseLinear::new(csr, array![0.0, f32::NAN]),
        Error::NonFinite(_)
    );
    let empty = CsrMatrix::from_parts(0, 4, vec![0], vec![], vec![]).unwrap();
    assert_err!(SparseLinear::new(empty, Array1::zeros(0)), Error::Empty(_));
    let no_cols = CsrMatrix::from_parts(2, 0, vec![0, 0, 0], vec![], vec![]).unwrap();
    assert_err!(
        SparseLinear::new(no_cols, Array1::zeros(2)),
        Error::Empty(_)
    );
}

#[test]
fn activation_backward_of_mismatched_shapes_is_a_shape_mismatch_not_a_panic() {
    let pre = Array2::<f32>::zeros((2, 3));
    let grad = Array2::<f32>::zeros((3, 2));
    for act in [Activation::Identity, Activation::Relu, Activation::Gelu] {
        assert_err!(
            act.backward(pre.view(), grad.view()),
            Error::ShapeMismatch { .. }
        );
    }
}

#[test]
fn an_mlp_whose_layer_was_replaced_by_another_width_errors_instead_of_panicking() {
    let mut mlp = small_mlp();
    mlp.layers_mut()[1] = Linear::init(5, 3, &mut rng()).unwrap();
    let x = Array2::<f32>::zeros((2, 4));
    assert_err!(mlp.forward(x.view()), Error::ShapeMismatch { .. });
    assert_err!(mlp.forward_train(x.view()), Error::ShapeMismatch { .. });
}

#[test]
fn a_block_whose_projection_was_replaced_by_another_width_errors_instead_of_panicking() {
    let x = Array2::from_shape_fn((3, 4), |(i, j)| (i + j) as f32 * 0.1);
    for target in ["attn.q", "attn.v", "attn.o", "ffn.out"] {
        let mut block = TransformerBlock::new(&block_config(), &mut rng()).unwrap();
        block.visit_linears_mut(&mut |name, l| {
            if name == target {
                let (i, o) = (l.in_features(), l.out_features());
                let (i, o) = if target == "attn.o" {
                    (i, o - 1)
                } else {
                    (i, o - 2)
                };
                *l = Linear::init(i, o, &mut rng()).unwrap();
            }
        });
        assert_err!(
            block.forward(x.view(), None, false),
            Error::ShapeMismatch { .. }
        );
    }
}

#[test]
fn activations_of_extreme_finite_values_are_finite() {
    // The Mlp checks each layer's output before its activation and relies on this.
    let x = array![[
        f32::MAX,
        -f32::MAX,
        1e13,
        -1e13,
        3e38,
        -3e38,
        0.0,
        f32::MIN_POSITIVE
    ]];
    for act in [
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::GeluTanh,
    ] {
        let y = act.forward(x.view());
        assert!(y.iter().all(|v| v.is_finite()), "{act:?}: {y}");
    }
}
