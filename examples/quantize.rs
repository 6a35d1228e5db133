//! Quantizes the digits MLP with every scheme and prints, per scheme, test accuracy, exact
//! bytes, compression ratio against f32 and the mean weight SQNR.
//!
//! Run: `cargo run --release --example quantize`
//!
//! Baseline as `train_digits`: MLP 64-256-128-10 (ReLU), Adam 1e-3 with decoupled weight decay
//! 0.5, 30 epochs, batch 32, seed 0, on the stratified 80/20 split (seed 42) standardised on the
//! training part. Calibration (static activations, GPTQ) uses the training features.

use std::time::Instant;

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::eval::evaluate;
use shrink::nn::{Activation, Mlp};
use shrink::quant::{
    ActivationMode, Calibration, Gptq, Granularity, Observer, Ptq, Qat, QuantLinear, QuantReport,
    QuantScheme, Quantizer,
};
use shrink::train::{Adam, Trainer};
use shrink::Forward;

fn row(name: &str, q: &Mlp<QuantLinear>, mlp: &Mlp, test: &Dataset) -> shrink::Result<()> {
    let acc = evaluate(q, test)?.accuracy;
    let report = QuantReport::for_mlp(mlp, q)?;
    let bytes = q.storage_bytes();
    let sqnr = report.mean_sqnr_db();
    println!(
        "{name:<34} {acc:>8.4} {bytes:>9} {:>7.2}x {:>9}",
        mlp.storage_bytes() as f32 / bytes as f32,
        if sqnr.is_finite() {
            format!("{sqnr:.2}")
        } else {
            "exact".into()
        }
    );
    Ok(())
}

fn main() -> shrink::Result<()> {
    let start = Instant::now();
    let (train, test) = Dataset::digits().standardized_split(0.2, 42)?;
    let mut rng = StdRng::seed_from_u64(0);
    let mut mlp = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng)?;
    Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(30)
        .batch_size(32)
        .seed(0)
        .fit(&mut mlp, &train, None)?;
    let calibration = Calibration::from_mlp(&mlp, &[train.features()])?;

    println!(
        "{:<34} {:>8} {:>9} {:>8} {:>9}",
        "scheme", "accuracy", "bytes", "ratio", "SQNR dB"
    );
    println!(
        "{:<34} {:>8.4} {:>9} {:>7.2}x {:>9}",
        "f32",
        evaluate(&mlp, &test)?.accuracy,
        mlp.storage_bytes(),
        1.0,
        "-"
    );
    let ch = Granularity::PerChannel;
    let g32 = Granularity::PerGroup(32);
    let ptq = [
        ("f16", QuantScheme::f16()),
        ("bf16", QuantScheme::bf16()),
        ("int8 per-channel, weight-only", QuantScheme::int8(ch)),
        (
            "int8 per-channel, dynamic act.",
            QuantScheme::int8(ch).activations(ActivationMode::Dynamic),
        ),
        (
            "int8 per-channel, static act.",
            QuantScheme::int8(ch).activations(ActivationMode::Static),
        ),
        (
            "int8 per-tensor, static act.",
            QuantScheme::int8(Granularity::PerTensor).activations(ActivationMode::Static),
        ),
        ("int4 per-channel RTN", QuantScheme::int4(ch)),
        ("int4 g32 RTN", QuantScheme::int4(g32)),
        ("int4 g32 asym RTN", QuantScheme::int4(g32).asymmetric()),
        ("int4 g64 RTN", QuantScheme::int4(Granularity::PerGroup(64))),
    ];
    for (name, scheme) in ptq {
        row(
            name,
            &Ptq::new(scheme).quantize_mlp(&mlp, Some(&calibration))?,
            &mlp,
            &test,
        )?;
    }
    let mse = Ptq::new(QuantScheme::int4(g32)).weight_observer(Observer::Mse);
    row(
        "int4 g32 RTN, MSE clipping",
        &mse.quantize_mlp(&mlp, None)?,
        &mlp,
        &test,
    )?;
    let gptq = Gptq::new(QuantScheme::int4(g32)).quantize_mlp(&mlp, Some(&calibration))?;
    row("int4 g32 GPTQ", &gptq, &mlp, &test)?;
    let gptq = Gptq::new(QuantScheme::int4(g32))
        .act_order(true)
        .quantize_mlp(&mlp, Some(&calibration))?;
    row("int4 g32 GPTQ, act-order", &gptq, &mlp, &test)?;
    let gptq = Gptq::new(QuantScheme::int4(ch)).quantize_mlp(&mlp, Some(&calibration))?;
    row("int4 per-channel GPTQ", &gptq, &mlp, &test)?;
    let mixed = Ptq::new(QuantScheme::int4(g32)).layer_scheme("layers.2", QuantScheme::int8(ch));
    row(
        "int4 g32, last layer int8",
        &mixed.quantize_mlp(&mlp, None)?,
        &mlp,
        &test,
    )?;
    let (_, qat) = Qat::new(QuantScheme::int4(g32))
        .epochs(3)
        .seed(0)
        .fit(&mlp, &train)?;
    row("int4 g32 QAT (3 epochs)", &qat, &mlp, &test)?;
    println!("({:.1} s)", start.elapsed().as_secs_f32());
    Ok(())
}
