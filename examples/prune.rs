//! Prunes the digits MLP to 0/50/80/90/95/98% global magnitude sparsity, with and without
//! fine-tuning, and prints sparsity, non-zeros, sparse bytes and test accuracy; then random
//! pruning at 90% (the baseline), structured pruning of half the hidden neurons, and the
//! L1 → threshold → fine-tune pipeline.
//!
//! Run: `cargo run --release --example prune`

use std::time::Instant;

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::eval::evaluate;
use shrink::nn::{Activation, Mlp};
use shrink::prune::{MagnitudePruner, NeuronPruner, Pruner, RandomPruner, Scope, ThresholdPruner};
use shrink::sparse::SparseLinear;
use shrink::train::{Adam, Trainer};
use shrink::Forward;

fn fine_tuner() -> Trainer {
    Trainer::new(Adam::new(1e-3)).epochs(15).seed(1)
}

fn row(label: &str, model: &Mlp, test: &Dataset) -> shrink::Result<()> {
    let sparse = model.map_layers(|_, l| SparseLinear::from_linear(l))?;
    let nnz: usize = sparse.layers().iter().map(|l| l.weights().nnz()).sum();
    let weights: usize = model.layers().iter().map(|l| l.weight().len()).sum();
    println!(
        "{label:<34} {:>8.3} {:>8} {:>10} {:>10} {:>9.4}",
        1.0 - nnz as f32 / weights as f32,
        nnz,
        model.storage_bytes(),
        sparse.storage_bytes(),
        evaluate(&sparse, test)?.accuracy
    );
    Ok(())
}

fn main() -> shrink::Result<()> {
    let start = Instant::now();
    let (train, test) = Dataset::digits().standardized_split(0.2, 42)?;

    let mut rng = StdRng::seed_from_u64(0);
    let mut dense = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng)?;
    Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(30)
        .seed(0)
        .fit(&mut dense, &train, None)?;
    eprintln!("trained the dense baseline in {:.2?}", start.elapsed());

    println!(
        "{:<34} {:>8} {:>8} {:>10} {:>10} {:>9}",
        "model", "sparsity", "nnz", "f32 bytes", "CSR bytes", "accuracy"
    );
    for sparsity in [0.0f32, 0.5, 0.8, 0.9, 0.95, 0.98] {
        let mut pruned = dense.clone();
        MagnitudePruner::new(sparsity).global().prune(&mut pruned)?;
        row(
            &format!("magnitude {:.0}%", sparsity * 100.0),
            &pruned,
            &test,
        )?;
        fine_tuner().fit(&mut pruned, &train, None)?;
        row(
            &format!("magnitude {:.0}% + fine-tune", sparsity * 100.0),
            &pruned,
            &test,
        )?;
    }
    let mut random = dense.clone();
    RandomPruner::new(0.9, 7)
        .scope(Scope::Global)
        .prune(&mut random)?;
    row("random 90%", &random, &test)?;
    fine_tuner().fit(&mut random, &train, None)?;
    row("random 90% + fine-tune", &random, &test)?;

    let (mut smaller, report) = NeuronPruner::new(0.5).prune(&dense)?;
    println!(
        "structured 50% of hidden neurons: {} → {} parameters, accuracy {:.4}",
        report.params_before,
        report.params_after,
        evaluate(&smaller, &test)?.accuracy
    );
    fine_tuner().fit(&mut smaller, &train, None)?;
    println!(
        "  after fine-tuning: accuracy {:.4}, {} bytes (dense f32)",
        evaluate(&smaller, &test)?.accuracy,
        smaller.storage_bytes()
    );

    // L1-regularised training, threshold pruning, fine-tuning.
    let mut l1 = Mlp::new(
        &[64, 256, 128, 10],
        Activation::Relu,
        &mut StdRng::seed_from_u64(0),
    )?;
    Trainer::new(Adam::new(1e-3))
        .epochs(30)
        .l1(1e-4)
        .seed(0)
        .fit(&mut l1, &train, None)?;
    row("L1-trained (λ = 1e-4)", &l1, &test)?;
    let r = ThresholdPruner::new(0.05).prune(&mut l1)?;
    row(
        &format!("threshold α=0.05 ({:.0}%)", r.sparsity() * 100.0),
        &l1,
        &test,
    )?;
    fine_tuner().fit(&mut l1, &train, None)?;
    row("threshold + fine-tune", &l1, &test)?;
    eprintln!("total {:.2?}", start.elapsed());
    Ok(())
}
