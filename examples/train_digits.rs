//! Trains an MLP on the embedded UCI digits data and prints its test accuracy and macro-F1.
//!
//! Run: `cargo run --release --example train_digits`
//!
//! Stratified 80/20 train/test split (seed 42); features standardised with statistics of the
//! training part only; Adam with decoupled weight decay for a fixed budget of 30 epochs.
//! (Early stopping on a held-out part of the 1,437 training images was tried and measured
//! worse: a 144-image validation set is too noisy to pick the stopping epoch.)

use std::time::Instant;

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::eval::{evaluate, measure_latency};
use shrink::nn::{Activation, Mlp};
use shrink::train::{Adam, TrainEvent, Trainer};
use shrink::Forward;

fn main() -> shrink::Result<()> {
    let start = Instant::now();
    let (train, test) = Dataset::digits().standardized_split(0.2, 42)?;

    let mut rng = StdRng::seed_from_u64(0);
    let mut mlp = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng)?;
    let trainer = Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(30)
        .batch_size(32)
        .seed(0);
    let history = trainer.fit_with(&mut mlp, &train, None, |event, _| {
        if let TrainEvent::Epoch(s) = event {
            eprintln!("epoch {:3}  train loss {:.4}", s.epoch, s.train_loss);
        }
        Ok(())
    })?;

    let m = evaluate(&mlp, &test)?;
    let lat = measure_latency(&mlp, test.features(), 256, 50)?;
    println!("model          MLP 64-256-128-10 (ReLU)");
    println!(
        "parameters     {} ({} bytes in f32)",
        mlp.param_count(),
        mlp.storage_bytes()
    );
    println!("epochs         {}", history.epochs.len());
    println!("test accuracy  {:.4}", m.accuracy);
    println!("test macro-F1  {:.4}", m.macro_f1);
    println!(
        "latency        batch 1: {:?}, batch {}: {:?}",
        lat.batch1, lat.n, lat.batch_n
    );
    println!(
        "confusion (rows = true class, columns = predicted):\n{}",
        m.confusion
    );
    println!("total time     {:.2?}", start.elapsed());
    Ok(())
}
