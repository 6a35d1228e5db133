//! Tested twins of the README snippets the doctests compile but cannot run (`no_run`: they
//! read a checkpoint from disk). Each runs the same calls on a fixture and keeps the
//! snippet's assertions.

use std::path::PathBuf;

use shrink::nn::Encoder;
use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The README's encoder snippet, on the tiny BERT checkpoint (Hugging Face names, hidden 32,
/// 2 blocks, random weights) instead of `model.safetensors` / `config.json`.
#[test]
fn readme_encoder_snippet_on_the_bert_fixture() -> shrink::Result<()> {
    let encoder = Encoder::load_hf_bert(
        fixture("bert_tiny.safetensors"),
        fixture("bert_tiny_config.json"),
    )?;
    // Token ids inside the fixture's vocabulary; the README's are BERT-base ids.
    let vocab = encoder.config().vocab_size as u32;
    let tokens = [101 % vocab, 7592 % vocab, 2088 % vocab, 102 % vocab];
    let hidden = encoder.forward(&tokens, None, None)?;
    assert_eq!(hidden.dim(), (4, encoder.config().hidden_size));

    let int8 =
        Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_encoder(&encoder, None)?;
    let hidden8 = int8.forward(&tokens, None, None)?;
    assert!(int8.storage_bytes() < encoder.storage_bytes());
    let mut worst = 1.0f32;
    for (a, b) in hidden.rows().into_iter().zip(hidden8.rows()) {
        let cosine = a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
        worst = worst.min(cosine);
        assert!(cosine > 0.999, "cosine {cosine}");
    }
    eprintln!(
        "bert fixture int8: {} -> {} bytes, worst token cosine {worst:.6}",
        encoder.storage_bytes(),
        int8.storage_bytes()
    );
    Ok(())
}

/// The README quickstart's pruning recipe against the one it replaced, and over other seeds
/// and splits (the numbers `docs/results.md` quotes). A few seconds in release.
#[test]
fn quickstart_pruning_recipe_holds_across_seeds() -> shrink::Result<()> {
    use rand::{rngs::StdRng, SeedableRng};
    use shrink::data::Dataset;
    use shrink::eval::evaluate;
    use shrink::nn::{Activation, Mlp};
    use shrink::prune::{CubicSchedule, MagnitudePruner, Pruner};
    use shrink::train::{Adam, Trainer};

    let run = |seed: u64, split: u64, gradual: bool| -> shrink::Result<(f32, f32)> {
        let (train, test) = Dataset::digits().standardized_split(0.2, split)?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut mlp = Mlp::new(&[64, 128, 10], Activation::Relu, &mut rng)?;
        Trainer::new(Adam::new(1e-3))
            .epochs(10)
            .seed(seed)
            .fit(&mut mlp, &train, None)?;
        let mut pruned = mlp.clone();
        if gradual {
            let schedule = CubicSchedule {
                initial: 0.0,
                target: 0.9,
                start_step: 0,
                frequency: train.len().div_ceil(32) / 2,
                intervals: 16,
            };
            let callback = schedule.callback(|s| MagnitudePruner::new(s).global())?;
            Trainer::new(Adam::new(3e-3))
                .epochs(15)
                .seed(seed + 1)
                .fit_with(&mut pruned, &train, None, callback)?;
        } else {
            MagnitudePruner::new(0.9).global().prune(&mut pruned)?;
            Trainer::new(Adam::new(1e-3)).epochs(5).seed(seed + 1).fit(
                &mut pruned,
                &train,
                None,
            )?;
        }
        Ok((
            evaluate(&mlp, &test)?.accuracy,
            evaluate(&pruned, &test)?.accuracy,
        ))
    };

    let (dense, one_shot) = run(0, 42, false)?;
    let (_, gradual) = run(0, 42, true)?;
    eprintln!(
        "quickstart seeds: f32 {dense:.4}, one-shot + 5 epochs {one_shot:.4}, gradual {gradual:.4}"
    );
    assert!(
        one_shot < dense - 0.05,
        "the old recipe lost {}",
        dense - one_shot
    );
    assert!(gradual >= dense - 0.01);

    let mut deltas = Vec::new();
    for (seed, split) in (0..8).map(|s| (s, 42)).chain((0..4).map(|s| (0, s))) {
        let (d, g) = run(seed, split, true)?;
        deltas.push(100.0 * (g - d));
    }
    let worst = deltas.iter().cloned().fold(f32::MAX, f32::min);
    let best = deltas.iter().cloned().fold(f32::MIN, f32::max);
    eprintln!("gradual minus f32, 8 seeds and 4 splits: {deltas:.2?} points (worst {worst:+.2}, best {best:+.2})");
    assert!(worst >= -1.0, "worst {worst}");
    Ok(())
}
