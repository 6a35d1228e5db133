//! Sparsity × bit-width grid on the digits MLP: writes `sweep.svg` (test accuracy against
//! stored size on a log scale with ticks in kB; each model a marker coloured by its sparsity and
//! shaped by its bit width, models that would coincide spread side by side; the Pareto front a
//! black line with its models labelled) and `sweep.csv`, and prints every model and the front.
//!
//! Run: `cargo run --release --example sweep` (about 3 s; files in the current directory).
//!
//! For each sparsity (global magnitude, 10 epochs of fine-tuning with masks held; dead neurons
//! removed), each bit width: f32 (CSR when sparse), int8 (CSR with per-row scales when sparse,
//! dense per-channel otherwise) and int4 (dense, per group of 32 inputs, before dead-neuron
//! removal: there is no sparse int4 format, so its bytes do not fall with sparsity).

mod plot;

use std::path::Path;

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::eval::evaluate;
use shrink::nn::{Activation, Mlp};
use shrink::prune::{compact, MagnitudePruner, Pruner};
use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};
use shrink::sparse::{SparseInt8Linear, SparseLinear};
use shrink::train::{Adam, Trainer};
use shrink::Forward;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = Dataset::digits().standardized_split(0.2, 42)?;
    let mut base = Mlp::new(
        &[64, 256, 128, 10],
        Activation::Relu,
        &mut StdRng::seed_from_u64(0),
    )?;
    Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(30)
        .l1(1e-4)
        .seed(0)
        .fit(&mut base, &train, None)?;
    let mut points = Vec::new();
    for sparsity in [0.0f32, 0.5, 0.8, 0.9, 0.95, 0.97] {
        let mut masked = base.clone();
        if sparsity > 0.0 {
            MagnitudePruner::new(sparsity).global().prune(&mut masked)?;
            Trainer::new(Adam::new(1e-3))
                .epochs(10)
                .seed(1)
                .fit(&mut masked, &train, None)?;
        }
        let m = compact(&masked)?.0;
        let mut add = |bits: u32, model: &dyn Forward| -> shrink::Result<()> {
            let p = plot::Point {
                sparsity,
                bits,
                bytes: model.storage_bytes(),
                accuracy: evaluate(model, &test)?.accuracy,
            };
            eprintln!(
                "sparsity {:>4.2}  {:>2} bits  {:>7} bytes  accuracy {:.4}",
                p.sparsity, p.bits, p.bytes, p.accuracy
            );
            points.push(p);
            Ok(())
        };
        if sparsity > 0.0 {
            add(32, &m.map_layers(|_, l| SparseLinear::from_linear(l))?)?;
            add(8, &m.map_layers(|_, l| SparseInt8Linear::from_linear(l))?)?;
        } else {
            add(32, &m)?;
            add(
                8,
                &Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_mlp(&m, None)?,
            )?;
        }
        // int4 in groups of 32 needs input widths divisible by 32, which compaction does not
        // keep: quantize the pruned model before compaction.
        let int4 = Ptq::new(QuantScheme::int4(Granularity::PerGroup(32)));
        add(4, &int4.quantize_mlp(&masked, None)?)?;
    }
    std::fs::write("sweep.csv", plot::to_csv(&points))?;
    plot::write_svg(&points, Path::new("sweep.svg"))?;
    println!("wrote sweep.svg and sweep.csv ({} models)", points.len());
    for &i in &plot::pareto_front(&points) {
        let p = &points[i];
        println!(
            "pareto: sparsity {:.2}, {} bits, {} bytes, accuracy {:.4}",
            p.sparsity, p.bits, p.bytes, p.accuracy
        );
    }
    Ok(())
}
