//! Structured pruning of transformer blocks: attention heads (Michel, Levy & Neubig 2019) and
//! FFN channels. Exact parameter counts, equivalence with the unpruned model whose removed
//! heads / channels are zeroed, file round trips of encoders whose blocks differ, padded
//! batches, errors, and the output similarity on the BERT fixture.
//!
//! Run with `cargo test --release --test pruning_transformer -- --nocapture` to see the
//! measured cosine similarities.

use std::path::PathBuf;

use ndarray::{Array2, Array3, Axis};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use shrink::nn::{
    Activation, Encoder, EncoderConfig, Linear, MultiHeadAttention, NamedLinears, NormPlacement,
};
use shrink::prune::{
    keep_ffn_channels, keep_heads, FfnChannelPruner, HeadPruner, NeuronNorm, TransformerPruneReport,
};
use shrink::{Error, Forward};

fn config(placement: NormPlacement, causal: bool) -> EncoderConfig {
    EncoderConfig {
        vocab_size: 50,
        hidden_size: 32,
        num_heads: 4,
        num_layers: 2,
        intermediate_size: 64,
        max_positions: 16,
        type_vocab_size: if causal { 0 } else { 2 },
        layer_norm_eps: 1e-5,
        activation: Activation::Gelu,
        placement,
        causal,
    }
}

fn encoder(placement: NormPlacement, causal: bool, seed: u64) -> Encoder {
    Encoder::new(config(placement, causal), &mut StdRng::seed_from_u64(seed)).unwrap()
}

/// A right-padded batch of three rows (7, 5 and 3 real tokens).
fn batch() -> (Array2<u32>, Array2<u8>) {
    let ids = Array2::from_shape_fn((3, 7), |(b, i)| ((b * 7 + i * 3 + 1) % 50) as u32);
    let mask = Array2::from_shape_fn((3, 7), |(b, i)| u8::from(i < 7 - 2 * b));
    (ids, mask)
}

fn run(e: &Encoder) -> Array3<f32> {
    let (ids, mask) = batch();
    e.forward_batch(ids.view(), None, Some(mask.view()))
        .unwrap()
}

fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Zeroes, in a copy of `layer`, the weight rows (and bias entries) `rows` and the weight
/// columns `cols`.
fn zeroed(layer: &Linear, rows: &[usize], cols: &[usize]) -> Linear {
    let mut w = layer.weight().to_owned();
    let mut b = layer.bias().to_owned();
    for &r in rows {
        w.row_mut(r).fill(0.0);
        b[r] = 0.0;
    }
    for &c in cols {
        w.column_mut(c).fill(0.0);
    }
    Linear::new(w, b).unwrap()
}

/// The unpruned encoder with the heads and channels the report removed zeroed out: V rows and
/// O columns of each removed head, FFN-in rows and bias entries and FFN-out columns of each
/// removed channel.
fn zero_removed(original: &Encoder, report: &TransformerPruneReport) -> Encoder {
    let mut z = original.clone();
    let d = original.blocks()[0].attention().head_dim();
    z.visit_linears_mut(&mut |name, layer| {
        let parts: Vec<&str> = name.split('.').collect();
        let r = &report.blocks[parts[1].parse::<usize>().unwrap()];
        let gone_heads: Vec<usize> = (0..r.heads_before)
            .filter(|h| !r.kept_heads.contains(h))
            .flat_map(|h| h * d..(h + 1) * d)
            .collect();
        let gone_channels: Vec<usize> = (0..r.channels_before)
            .filter(|c| !r.kept_channels.contains(c))
            .collect();
        let new = match (parts[2], parts[3]) {
            ("attn", "v") => zeroed(layer, &gone_heads, &[]),
            ("attn", "o") => zeroed(layer, &[], &gone_heads),
            ("ffn", "in") => zeroed(layer, &gone_channels, &[]),
            ("ffn", "out") => zeroed(layer, &[], &gone_channels),
            _ => return,
        };
        *layer = new;
    });
    z
}

/// Parameters of a block of width `h` with `heads` heads of width `d` and `inter` channels:
/// Q, K, V (weight + bias), O, FFN in, FFN out, two LayerNorms.
fn block_params(h: usize, heads: usize, d: usize, inter: usize) -> usize {
    let inner = heads * d;
    3 * (inner * h + inner) + (h * inner + h) + (inter * h + inter) + (h * inter + h) + 4 * h
}

#[test]
fn parameter_counts_are_exact() {
    let e = encoder(NormPlacement::PostLn, false, 0);
    // Embeddings 50·32 + 16·32 + 2·32, embedding LayerNorm 2·32.
    let embeddings = 1600 + 512 + 64 + 64;
    // Unpruned block: 4·(32·32 + 32) + (64·32 + 64) + (32·64 + 32) + 4·32 = 8544.
    assert_eq!(block_params(32, 4, 8, 64), 8544);
    assert_eq!(e.param_count(), embeddings + 2 * 8544);
    assert_eq!(e.param_count(), 19_328);

    let (fewer_heads, r1) = HeadPruner::new(0.5).prune(&e).unwrap();
    let (small, r2) = FfnChannelPruner::new(0.25).prune(&fewer_heads).unwrap();
    // 2 heads of width 8 and 48 channels:
    // 3·(16·32 + 16) + (32·16 + 32) + (48·32 + 48) + (32·48 + 32) + 4·32 = 5408.
    assert_eq!(block_params(32, 2, 8, 48), 5408);
    assert_eq!(small.param_count(), embeddings + 2 * 5408);
    assert_eq!(small.param_count(), 13_056);
    assert_eq!(small.storage_bytes(), 4 * 13_056);
    assert_eq!(small.block_widths(), [(2, 48), (2, 48)]);
    assert_eq!(
        small.config(),
        e.config(),
        "the configuration keeps the unpruned shape"
    );

    assert_eq!(
        (r1.params_before, r1.params_after, r2.params_after),
        (19_328, embeddings + 2 * block_params(32, 2, 8, 64), 13_056)
    );
    for (r, after) in r1.blocks.iter().zip(small.blocks()) {
        assert_eq!((r.heads_before, r.heads_after), (4, 2));
        assert_eq!((r.channels_before, r.channels_after), (64, 64));
        // 3·(16·32 + 16) + (32·16 + 32) + (64·32 + 64) + (32·64 + 32) + 4·32 = 6448.
        assert_eq!((r.params_before, r.params_after), (8544, 6448));
        assert_eq!(r.kept_heads.len(), 2);
        assert_eq!(after.attention().inner(), 16);
        assert_eq!(after.attention().head_dim(), 8);
    }
    for r in &r2.blocks {
        assert_eq!((r.heads_before, r.heads_after), (2, 2));
        assert_eq!((r.channels_before, r.channels_after), (64, 48));
        assert_eq!((r.params_before, r.params_after), (6448, 5408));
    }
    assert_eq!(r2.blocks[1].name, "blocks.1");

    // Fraction 0 keeps everything; a fraction near 1 keeps one head / channel per block.
    let (same, _) = HeadPruner::new(0.0).prune(&e).unwrap();
    assert_eq!(same, e);
    let (one, _) = HeadPruner::new(0.99).prune(&e).unwrap();
    let (one, _) = FfnChannelPruner::new(0.999).prune(&one).unwrap();
    assert_eq!(one.block_widths(), [(1, 1), (1, 1)]);
    assert_eq!(
        one.param_count(),
        embeddings + 2 * block_params(32, 1, 8, 1)
    );
    assert!(one.forward(&[1, 2, 3], None, None).is_ok());
}

#[test]
fn pruned_heads_equal_zeroed_heads() {
    for (placement, causal) in [
        (NormPlacement::PostLn, false),
        (NormPlacement::PreLn, false),
        (NormPlacement::PreLn, true),
    ] {
        let e = encoder(placement, causal, 1);
        for norm in [NeuronNorm::L1, NeuronNorm::L2] {
            let (pruned, report) = HeadPruner::new(0.5).norm(norm).prune(&e).unwrap();
            let reference = zero_removed(&e, &report);
            let diff = max_diff(&run(&pruned), &run(&reference));
            assert!(
                diff < 1e-5,
                "{placement:?} causal={causal} {norm:?}: {diff}"
            );
            // And pruning changed something.
            assert!(max_diff(&run(&pruned), &run(&e)) > 1e-3);
        }
    }
}

#[test]
fn pruned_channels_equal_zeroed_channels() {
    for placement in [NormPlacement::PostLn, NormPlacement::PreLn] {
        let e = encoder(placement, false, 2);
        let (pruned, report) = FfnChannelPruner::new(0.5).prune(&e).unwrap();
        let diff = max_diff(&run(&pruned), &run(&zero_removed(&e, &report)));
        assert!(diff < 1e-5, "{placement:?}: {diff}");
        // Both at once.
        let (heads, rh) = HeadPruner::new(0.25).prune(&e).unwrap();
        let (both, rc) = FfnChannelPruner::new(0.25).prune(&heads).unwrap();
        let zeroed = zero_removed(&zero_removed(&e, &rh), &rc);
        let diff = max_diff(&run(&both), &run(&zeroed));
        assert!(diff < 1e-5, "{placement:?} heads+channels: {diff}");
    }
}

#[test]
fn a_single_block_prunes_the_same_way() {
    let e = encoder(NormPlacement::PostLn, false, 3);
    let block = &e.blocks()[0];
    let (small, r) = HeadPruner::new(0.5).prune_block(block).unwrap();
    let (small, rc) = FfnChannelPruner::new(0.5).prune_block(&small).unwrap();
    assert_eq!(r.name, "block");
    assert_eq!((small.attention().heads(), small.intermediate()), (2, 32));
    assert_eq!(Forward::param_count(&small), block_params(32, 2, 8, 32));
    assert_eq!(rc.params_after, block_params(32, 2, 8, 32));
    // The block-level choice is the one the encoder-level pruner makes.
    let (_, er) = HeadPruner::new(0.5).prune(&e).unwrap();
    assert_eq!(er.blocks[0].kept_heads, r.kept_heads);
    // keep_heads with the reported indices rebuilds the same block.
    let again = keep_heads(block, &r.kept_heads).unwrap();
    let again = keep_ffn_channels(&again, &rc.kept_channels).unwrap();
    assert_eq!(again, small);
    let x = Array2::from_shape_fn((5, 32), |(i, j)| ((i * 32 + j) as f32 * 0.21).sin());
    let (a, b) = (
        Forward::forward(&small, x.view()).unwrap(),
        Forward::forward(&again, x.view()).unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.dim(), (5, 32));
}

#[test]
fn blocks_of_different_widths_save_and_load_exactly() {
    let e = encoder(NormPlacement::PostLn, false, 4);
    let b0 = keep_heads(&e.blocks()[0], &[1, 3]).unwrap();
    let b0 = keep_ffn_channels(&b0, &(0..64).step_by(3).collect::<Vec<_>>()).unwrap();
    let b1 = keep_heads(&e.blocks()[1], &[0, 1, 2]).unwrap();
    let mixed = e.with_blocks(vec![b0, b1]).unwrap();
    assert_eq!(mixed.block_widths(), [(2, 22), (3, 64)]);
    assert!(mixed.is_narrowed() && !e.is_narrowed());

    let path = std::env::temp_dir().join(format!(
        "shrink-pruned-encoder-{}.safetensors",
        std::process::id()
    ));
    mixed.save(&path).unwrap();
    let loaded = Encoder::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded, mixed);
    let (a, b) = (run(&mixed), run(&loaded));
    assert!(a
        .iter()
        .zip(b.iter())
        .all(|(x, y)| x.to_bits() == y.to_bits()));

    // Uniformly pruned, pre-LN causal, through bytes.
    let c = encoder(NormPlacement::PreLn, true, 5);
    let (c, _) = HeadPruner::new(0.25).prune(&c).unwrap();
    let (c, _) = FfnChannelPruner::new(0.25).prune(&c).unwrap();
    let back = Encoder::from_safetensors(&c.to_safetensors().unwrap()).unwrap();
    assert_eq!(back, c);
    assert!(run(&c)
        .iter()
        .zip(run(&back).iter())
        .all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// The `shrink.config` metadata of an encoder file, and a copy of the file with it replaced.
fn config_json(bytes: &[u8]) -> String {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    meta.metadata().as_ref().unwrap()["shrink.config"].clone()
}

fn with_config_json(bytes: &[u8], json: &str) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut metadata = meta.metadata().clone().unwrap();
    metadata.insert("shrink.config".into(), json.into());
    safetensors::serialize(st.tensors(), Some(metadata)).unwrap()
}

#[test]
fn file_config_lists_block_widths_only_when_narrowed() {
    let e = encoder(NormPlacement::PostLn, false, 6);
    let plain = e.to_safetensors().unwrap();
    assert!(!config_json(&plain).contains("blocks"));
    let (p, _) = HeadPruner::new(0.5).prune(&e).unwrap();
    let bytes = p.to_safetensors().unwrap();
    let json = config_json(&bytes);
    assert!(
        json.contains(r#""blocks":[{"heads":2,"intermediate":64},{"heads":2,"intermediate":64}]"#),
        "{json}"
    );
    // Widths beyond the configuration, or the wrong number of blocks: a format error.
    for bad in [
        json.replace(r#"{"heads":2,"#, r#"{"heads":5,"#),
        json.replace(r#"{"heads":2,"#, r#"{"heads":0,"#),
        json.replace(r#""intermediate":64}"#, r#""intermediate":65}"#),
        json.replace(r#",{"heads":2,"intermediate":64}]"#, "]"),
    ] {
        let r = Encoder::from_safetensors(&with_config_json(&bytes, &bad));
        assert!(
            matches!(r, Err(Error::Format(_) | Error::Parse { .. })),
            "{bad}: {r:?}"
        );
    }
    // Widths that disagree with the stored tensors, or none for narrowed tensors: a shape error.
    let wrong = json.replace(r#"{"heads":2,"#, r#"{"heads":3,"#);
    let r = Encoder::from_safetensors(&with_config_json(&bytes, &wrong));
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
    let start = json.find(r#","blocks""#).unwrap();
    let stripped = format!("{}}}", &json[..start]);
    let r = Encoder::from_safetensors(&with_config_json(&bytes, &stripped));
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
}

#[test]
fn padded_batches_still_work() {
    let e = encoder(NormPlacement::PostLn, false, 7);
    let (p, _) = HeadPruner::new(0.5).prune(&e).unwrap();
    let (p, _) = FfnChannelPruner::new(0.5).prune(&p).unwrap();
    let (ids, mask) = batch();
    let states = run(&p);
    // Each padded row's real tokens equal the unpadded sequence's outputs.
    for b in 0..3 {
        let n = mask.row(b).iter().filter(|&&m| m != 0).count();
        let real: Vec<u32> = ids.row(b).iter().take(n).copied().collect();
        let alone = p.forward(&real, None, None).unwrap();
        let row = states.index_axis(Axis(0), b);
        approx::assert_abs_diff_eq!(alone, row.slice(ndarray::s![..n, ..]), epsilon = 1e-5);
    }
    let pooled = p.mean_pool(ids.view(), None, Some(mask.view())).unwrap();
    assert_eq!(pooled.dim(), (3, 32));
    assert!(pooled.iter().all(|v| v.is_finite()));
}

#[test]
fn bad_settings_are_errors() {
    let e = encoder(NormPlacement::PostLn, false, 8);
    let before = e.clone();
    for f in [-0.1, 1.0, 2.0, f32::NAN] {
        for r in [
            HeadPruner::new(f).prune(&e).map(|_| ()),
            FfnChannelPruner::new(f).prune(&e).map(|_| ()),
            HeadPruner::new(f).prune_block(&e.blocks()[0]).map(|_| ()),
            FfnChannelPruner::new(f)
                .prune_block(&e.blocks()[0])
                .map(|_| ()),
        ] {
            assert!(
                matches!(
                    r,
                    Err(Error::InvalidParam {
                        name: "fraction",
                        ..
                    })
                ),
                "{f}: {r:?}"
            );
        }
    }
    assert_eq!(e, before);
    let block = &e.blocks()[0];
    for kept in [&[][..], &[2, 1], &[0, 4], &[1, 1]] {
        assert!(matches!(
            keep_heads(block, kept),
            Err(Error::InvalidParam { name: "heads", .. })
        ));
    }
    assert!(matches!(
        keep_ffn_channels(block, &[64]),
        Err(Error::InvalidParam {
            name: "channels",
            ..
        })
    ));

    // Blocks that do not fit the encoder's configuration.
    let other = Encoder::new(
        EncoderConfig {
            num_heads: 8,
            ..config(NormPlacement::PostLn, false)
        },
        &mut StdRng::seed_from_u64(0),
    )
    .unwrap();
    let wrong_head_dim = keep_heads(&other.blocks()[0], &[0, 1]).unwrap();
    let r = e.with_blocks(vec![wrong_head_dim, block.clone()]);
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
    let r = e.with_blocks(vec![block.clone()]);
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
    let pre = encoder(NormPlacement::PreLn, false, 0);
    let r = e.with_blocks(vec![pre.blocks()[0].clone(), block.clone()]);
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");

    // Attention with an inner width that is not heads·head_dim.
    let mut rng = StdRng::seed_from_u64(0);
    let lin = |i, o, rng: &mut StdRng| Linear::init(i, o, rng).unwrap();
    let (q, k, v, o) = (
        lin(32, 16, &mut rng),
        lin(32, 16, &mut rng),
        lin(32, 16, &mut rng),
        lin(16, 32, &mut rng),
    );
    assert!(
        MultiHeadAttention::with_head_dim(q.clone(), k.clone(), v.clone(), o.clone(), 2, 8).is_ok()
    );
    assert!(matches!(
        MultiHeadAttention::with_head_dim(q.clone(), k.clone(), v.clone(), o.clone(), 3, 8),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        MultiHeadAttention::with_head_dim(q.clone(), k.clone(), v.clone(), o.clone(), 2, 0),
        Err(Error::InvalidParam {
            name: "head_dim",
            ..
        })
    ));
    assert!(matches!(
        MultiHeadAttention::with_head_dim(q, k, v, o, 0, 8),
        Err(Error::InvalidParam { name: "heads", .. })
    ));
}

// ---- the BERT fixture ----------------------------------------------------------------------

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Per row of `a` and `b` (batch, hidden): the cosine similarity.
fn cosines(a: &Array2<f32>, b: &Array2<f32>) -> Vec<f32> {
    a.rows()
        .into_iter()
        .zip(b.rows())
        .map(|(x, y)| x.dot(&y) / (x.dot(&x).sqrt() * y.dot(&y).sqrt()))
        .collect()
}

/// Mean and minimum of the cosine similarities of the mean-pooled outputs and of every real
/// token's hidden state.
fn similarity(original: &Encoder, pruned: &Encoder) -> (f32, f32, f32, f32) {
    // A fixed batch of 8 right-padded sequences over the fixture's 60-token vocabulary.
    let ids = Array2::from_shape_fn((8, 20), |(b, i)| ((b * 13 + i * 7 + 3) % 60) as u32);
    let types = Array2::from_shape_fn((8, 20), |(_, i)| u32::from(i >= 10));
    let mask = Array2::from_shape_fn((8, 20), |(b, i)| u8::from(i < 20 - 2 * b));
    let pooled = |e: &Encoder| {
        e.mean_pool(ids.view(), Some(types.view()), Some(mask.view()))
            .unwrap()
    };
    let pc = cosines(&pooled(original), &pooled(pruned));
    let states = |e: &Encoder| {
        let s = e
            .forward_batch(ids.view(), Some(types.view()), Some(mask.view()))
            .unwrap();
        let real: Vec<usize> = (0..8 * 20)
            .filter(|&k| mask[[k / 20, k % 20]] != 0)
            .collect();
        s.into_shape_with_order((8 * 20, 32))
            .unwrap()
            .select(Axis(0), &real)
    };
    let tc = cosines(&states(original), &states(pruned));
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let min = |v: &[f32]| v.iter().copied().fold(f32::INFINITY, f32::min);
    (mean(&pc), min(&pc), mean(&tc), min(&tc))
}

#[test]
fn bert_fixture_keeps_its_outputs_after_pruning_a_quarter() {
    let bert = Encoder::load_hf_bert(
        fixture("bert_tiny.safetensors"),
        fixture("bert_tiny_config.json"),
    )
    .unwrap();
    let (h, _) = HeadPruner::new(0.25).prune(&bert).unwrap();
    let (both, report) = FfnChannelPruner::new(0.25).prune(&h).unwrap();
    assert_eq!(both.block_widths(), [(3, 48), (3, 48)]);
    let (p_mean, p_min, t_mean, t_min) = similarity(&bert, &both);
    eprintln!(
        "BERT fixture, 25% heads + 25% FFN channels (L1): params {} -> {}; cosine pooled mean \
         {p_mean:.4} min {p_min:.4}, tokens mean {t_mean:.4} min {t_min:.4}",
        bert.param_count(),
        both.param_count()
    );
    let (c, _) = FfnChannelPruner::new(0.25).prune(&bert).unwrap();
    for (name, e) in [("heads only", &h), ("channels only", &c)] {
        let (a, b, cc, d) = similarity(&bert, e);
        eprintln!("  {name}: pooled mean {a:.4} min {b:.4}, tokens mean {cc:.4} min {d:.4}");
    }
    // Baseline: the same numbers of heads and channels removed at random (5 draws).
    let mut rng = StdRng::seed_from_u64(0);
    let mut random = Vec::new();
    for _ in 0..5 {
        let blocks = bert
            .blocks()
            .iter()
            .map(|b| {
                let mut heads: Vec<usize> = (0..4).collect();
                heads.shuffle(&mut rng);
                let mut heads = heads[..3].to_vec();
                heads.sort_unstable();
                let mut ch: Vec<usize> = (0..64).collect();
                ch.shuffle(&mut rng);
                let mut ch = ch[..48].to_vec();
                ch.sort_unstable();
                keep_ffn_channels(&keep_heads(b, &heads).unwrap(), &ch).unwrap()
            })
            .collect();
        random.push(similarity(&bert, &bert.with_blocks(blocks).unwrap()));
    }
    let r_mean = random.iter().map(|r| r.0).sum::<f32>() / 5.0;
    let r_tok = random.iter().map(|r| r.2).sum::<f32>() / 5.0;
    eprintln!("  random (5 draws): pooled mean {r_mean:.4}, tokens mean {r_tok:.4}");
    assert_eq!(both.param_count(), report.params_after);
    // Measured (no fine-tuning exists for the encoder): pooled mean 0.878, min 0.842; tokens
    // mean 0.888; random removal 0.715 / 0.798.
    assert!(p_min > 0.8, "pooled cosine min {p_min}");
    assert!(t_mean > 0.85, "token cosine mean {t_mean}");
    assert!(
        p_mean > r_mean + 0.1,
        "norm ranking {p_mean} vs random {r_mean}"
    );
}

/// Latency of a larger random encoder before and after pruning (one sequence of 128 tokens).
/// Not a pass/fail test: run with `cargo test --release --test pruning_transformer -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn latency_of_pruned_encoders() {
    let config = EncoderConfig {
        vocab_size: 1000,
        hidden_size: 256,
        num_heads: 8,
        num_layers: 4,
        intermediate_size: 1024,
        max_positions: 128,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    };
    let e = Encoder::new(config, &mut StdRng::seed_from_u64(0)).unwrap();
    let ids: Vec<u32> = (0..128).map(|i| (i * 37 % 1000) as u32).collect();
    let median_ms = |m: &Encoder| {
        let mut t: Vec<f64> = (0..30)
            .map(|_| {
                let start = std::time::Instant::now();
                std::hint::black_box(m.forward(&ids, None, None).unwrap());
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[15]
    };
    let base = median_ms(&e);
    eprintln!("dense: {} params, {base:.2} ms", e.param_count());
    for f in [0.25, 0.5] {
        let (p, _) = HeadPruner::new(f).prune(&e).unwrap();
        let (p, _) = FfnChannelPruner::new(f).prune(&p).unwrap();
        let ms = median_ms(&p);
        eprintln!(
            "{:.0}% heads + channels: {} params, {ms:.2} ms ({:.2}x)",
            f * 100.0,
            p.param_count(),
            base / ms
        );
    }
}
