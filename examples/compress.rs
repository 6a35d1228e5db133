//! The main job: train a teacher, prune it, quantize it, distill a small student from it,
//! quantize the student, and print what each stage cost in accuracy and saved in bytes and
//! time.
//!
//! Run: `cargo run --release --example compress`
//!
//! On the embedded UCI digits (stratified 80/20 split, seed 42, standardised on the training
//! part): a 64-256-128-10 MLP trained with an L1 penalty; pruned to 97% global magnitude
//! sparsity and fine-tuned with the masks held, dead neurons removed; its kept weights quantized to int8 (sparse
//! storage); a 64-32-10 student distilled from the f32 teacher with Hinton's soft targets and
//! quantized to int8 per channel, weight-only. Progress goes to stderr; the report to stdout, and as CSV and
//! JSON to `target/compress_report.{csv,json}`. Fixed seeds: the same numbers every run (the
//! latencies aside).

use std::time::Instant;

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::distill::{Schedule, SoftTargets};
use shrink::nn::{Activation, Mlp};
use shrink::pipeline::{DistillStep, Pipeline, QuantStep, Teacher};
use shrink::prune::MagnitudePruner;
use shrink::quant::{Granularity, Ptq, QuantScheme};
use shrink::train::{Adam, TrainEvent, Trainer};

fn main() -> shrink::Result<()> {
    let start = Instant::now();
    let (train, test) = Dataset::digits().standardized_split(0.2, 42)?;

    // 1. The teacher, trained with a small L1 penalty that pushes weights towards zero.
    let mut teacher = Mlp::new(
        &[64, 256, 128, 10],
        Activation::Relu,
        &mut StdRng::seed_from_u64(0),
    )?;
    Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(30)
        .l1(1e-4)
        .seed(0)
        .fit_with(&mut teacher, &train, None, |event, _| {
            if let TrainEvent::Epoch(s) = event {
                eprintln!("[teacher] epoch {:2}  loss {:.4}", s.epoch, s.train_loss);
            }
            Ok(())
        })?;

    // 2–5. Prune + fine-tune, quantize, distill, quantize the student.
    let student_schedule = Schedule::new(Adam::new(3e-3)).epochs(60).seed(0);
    let output = Pipeline::new()
        .prune(
            MagnitudePruner::new(0.97).global(),
            Some(Trainer::new(Adam::new(1e-3)).epochs(15).seed(1)),
        )
        .quantize(QuantStep::SparseInt8)
        .distill(DistillStep {
            sizes: vec![64, 32, 10],
            distiller: SoftTargets::new(4.0, 0.5, student_schedule),
            seed: 0,
            teacher: Teacher::Original,
            // Weight-only int8: codes widened in registers, activations stay f32 (at this size
            // quantizing the activations costs more time than the int8 x int8 product saves).
            quantize: Some(QuantStep::Quantizer(Box::new(Ptq::new(QuantScheme::int8(
                Granularity::PerChannel,
            ))))),
        })
        .progress(true)
        .run(&teacher, &train, &test)?;

    println!("{}", output.report);
    println!("{}", output.report.layer_table());
    std::fs::create_dir_all("target")?;
    std::fs::write("target/compress_report.csv", output.report.to_csv())?;
    std::fs::write("target/compress_report.json", output.report.to_json()?)?;
    eprintln!(
        "wrote target/compress_report.csv and .json; total {:.2?}",
        start.elapsed()
    );
    Ok(())
}
