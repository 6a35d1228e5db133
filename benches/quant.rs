//! Quantized inference against f32: the digits-sized MLP forward at batch 1 and 256, and one
//! 1024×1024 layer as a matrix-vector product (GEMV) per weight format.
//!
//! Run: `cargo bench --bench quant` (medians in `docs/benchmarks.md`).
//!
//! The kernels run on the best instruction set the CPU has (`Isa::best`), with the default
//! thread pool; `f32_linear` is a whole `Linear` layer, `f32_kernel` its GEMV alone. Weights
//! and inputs are seeded random values; caches are warm.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use ndarray::{Array1, Array2};
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::kernels::{float, int4, int8, GroupLayout};
use shrink::nn::{Activation, Linear, LinearLayer, Mlp};
use shrink::quant::{ActivationMode, Calibration, Granularity, Ptq, QuantScheme, Quantizer};
use shrink::Forward;

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0f32))
}

fn mlp_forward(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mlp = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng).unwrap();
    let calib = random(256, 64, &mut rng);
    let cal = Calibration::from_mlp(&mlp, &[calib.view()]).unwrap();
    let ch = Granularity::PerChannel;
    let models = [
        (
            "int8_static",
            QuantScheme::int8(ch).activations(ActivationMode::Static),
        ),
        ("int8_weight_only", QuantScheme::int8(ch)),
        ("int4_g32", QuantScheme::int4(Granularity::PerGroup(32))),
        ("f16", QuantScheme::f16()),
    ]
    .map(|(n, s)| (n, Ptq::new(s).quantize_mlp(&mlp, Some(&cal)).unwrap()));
    let mut group = c.benchmark_group("quant_mlp_forward_64_256_128_10");
    for batch in [1usize, 256] {
        let x = random(batch, 64, &mut rng);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("f32", batch), &x, |b, x| {
            b.iter(|| mlp.forward(x.view()).unwrap())
        });
        for (name, m) in &models {
            group.bench_with_input(BenchmarkId::new(*name, batch), &x, |b, x| {
                b.iter(|| m.forward(x.view()).unwrap())
            });
        }
    }
    group.finish();
}

fn gemv_1024(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let n = 1024;
    let w = random(n, n, &mut rng);
    let x = random(1, n, &mut rng);
    let xs = x.as_slice().unwrap();
    let linear = Linear::new(w.clone(), Array1::zeros(n)).unwrap();
    let wf: Vec<f32> = w.iter().copied().collect();
    let wh: Vec<f16> = wf.iter().map(|&v| f16::from_f32(v)).collect();
    let q8: Vec<i8> = wf.iter().map(|&v| (v * 127.0).round() as i8).collect();
    let qx: Vec<i8> = xs.iter().map(|&v| (v * 127.0).round() as i8).collect();
    let ch = GroupLayout {
        rows: n,
        cols: n,
        group: n,
        per_tensor: false,
    };
    let g32 = GroupLayout {
        rows: n,
        cols: n,
        group: 32,
        per_tensor: false,
    };
    let s8 = vec![1.0 / 127.0; n];
    let codes: Vec<u8> = wf
        .iter()
        .map(|&v| ((v * 7.0).round() + 8.0) as u8)
        .collect();
    let packed = int4::pack_int4(&codes, n, n).unwrap();
    let s4 = vec![f16::from_f32(1.0 / 7.0); g32.n_scales()];
    let mut out = vec![0.0f32; n];
    let mut out_i = vec![0i32; n];

    let mut group = c.benchmark_group("gemv_1024x1024");
    group.throughput(Throughput::Elements((n * n) as u64));
    group.bench_function("f32_linear", |b| {
        b.iter(|| LinearLayer::forward(&linear, x.view()).unwrap())
    });
    group.bench_function("f32_kernel", |b| {
        b.iter(|| float::gemm_f32(xs, 1, &wf, n, n, &mut out).unwrap())
    });
    group.bench_function("f16_weights", |b| {
        b.iter(|| float::gemm_f16_f32(xs, 1, &wh, n, n, &mut out).unwrap())
    });
    group.bench_function("int8_weights_f32_act", |b| {
        b.iter(|| int8::gemm_q8_f32(xs, 1, &q8, &s8, &[], ch, &mut out).unwrap())
    });
    group.bench_function("int8_x_int8_i32", |b| {
        b.iter(|| int8::gemm_i8_i32(&qx, &q8, 1, n, n, &mut out_i).unwrap())
    });
    group.bench_function("int4_g32_weights_f32_act", |b| {
        b.iter(|| int4::gemm_q4_f32(xs, 1, &packed, &s4, &[], g32, &mut out).unwrap())
    });
    group.finish();
}

criterion_group!(benches, mlp_forward, gemv_1024);
criterion_main!(benches);
