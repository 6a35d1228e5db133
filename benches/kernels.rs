//! The fast kernels per weight format, on this machine's memory bandwidth.
//!
//! Run: `cargo bench --bench kernels` (about 7 minutes; medians in `docs/benchmarks.md`).
//!
//! - `bandwidth`: Σ over a 1 GiB f32 buffer with 1 and 2 threads — the read bandwidth every
//!   batch-1 kernel is stated against (`Throughput::Bytes`).
//! - `gemv_cold/<shape>`: batch 1 (y = W·x) for f32, f16, bf16, int8 weight-only (per-channel
//!   f32 scales), int8 × int8 (→ i32), int4 (groups of 32, f16 scales) and 90% sparsity
//!   (through `SparseLinear::forward`, the path a pruned model runs: the packed layout on
//!   AVX-512, CSR elsewhere),
//!   on 4096×4096 and 11008×4096. Measured **cold**: each call reads the next of enough copies
//!   of the weights to total ≥ 1 GiB (more than this machine's 300 MiB L3), so every call reads
//!   its weights from DRAM — scales included: codes and scales rotate together.
//!   `Throughput::Bytes` = weight bytes including scales (and indices and padding for the
//!   sparse layouts).
//! - `gemv_warm/1024x1024`: the same formats on a 1024×1024 layer that stays in cache.
//! - `gemm/<shape>/<batch>`: batch 32 and 128, `Throughput::Elements` = multiply-adds
//!   (batch·rows·cols); `f32_ndarray` is ndarray's `dot` (matrixmultiply) on the same shape,
//!   the f32 baseline; `int8_dynamic_layer` is a whole `QuantLinear` with run-time activation
//!   quantization (quantize, i8 GEMM, rescale).
//! - `models`: the digits MLP at batch 1 and a transformer block at sequence 128, f32 against
//!   quantized.
//!
//! Threads: the kernels use rayon's pool (2 threads here) unless the id says `t1`.
//! Weights and inputs are seeded random values.

use std::hint::black_box;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use half::{bf16, f16};
use ndarray::{Array1, Array2};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rayon::ThreadPool;
use shrink::kernels::{float, int4, int8, sum_f32_on, w4a8, GroupLayout, Isa};
use shrink::nn::TransformerBlock;
use shrink::nn::{Activation, BlockConfig, Linear, LinearLayer, Mlp, NormPlacement};
use shrink::quant::{ActivationMode, Calibration, Granularity, Ptq, QuantScheme, Quantizer};
use shrink::sparse::{CsrMatrix, SparseLinear};
use shrink::Forward;

const GIB: usize = 1 << 30;

fn pool(threads: usize) -> ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn floats(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0f32)).collect()
}

/// One weight matrix in every format, built from the same random f32 values.
struct Formats {
    rows: usize,
    cols: usize,
    f32: Vec<f32>,
    f16: Vec<f16>,
    bf16: Vec<bf16>,
    q8: Vec<i8>,
    s8: Vec<f32>,
    q4: Vec<u8>,
    s4: Vec<f16>,
}

impl Formats {
    fn new(rows: usize, cols: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let f32 = floats(rows * cols, &mut rng);
        let codes: Vec<u8> = f32
            .iter()
            .map(|&v| ((v * 7.0).round() + 8.0) as u8)
            .collect();
        Formats {
            rows,
            cols,
            f16: f32.iter().map(|&v| f16::from_f32(v)).collect(),
            bf16: f32.iter().map(|&v| bf16::from_f32(v)).collect(),
            q8: f32.iter().map(|&v| (v * 127.0).round() as i8).collect(),
            s8: vec![1.0 / 127.0; rows],
            q4: int4::pack_int4(&codes, rows, cols).unwrap(),
            s4: vec![f16::from_f32(1.0 / 7.0); rows * cols / 32],
            f32,
        }
    }
    fn ch(&self) -> GroupLayout {
        GroupLayout {
            rows: self.rows,
            cols: self.cols,
            group: self.cols,
            per_tensor: false,
        }
    }
    fn g32(&self) -> GroupLayout {
        GroupLayout {
            group: 32,
            ..self.ch()
        }
    }
}

/// Enough clones of `w` to total ≥ 1 GiB (at least 2).
fn rotation<T: Clone>(w: &T, bytes: usize) -> Vec<T> {
    (0..GIB.div_ceil(bytes).max(2)).map(|_| w.clone()).collect()
}

fn bandwidth(c: &mut Criterion) {
    let buf = vec![1.0f32; GIB / 4];
    let mut g = c.benchmark_group("bandwidth");
    g.sample_size(10).throughput(Throughput::Bytes(GIB as u64));
    for t in [1usize, 2] {
        let p = pool(t);
        g.bench_function(BenchmarkId::new("sum_1GiB_f32", format!("t{t}")), |b| {
            p.install(|| b.iter(|| sum_f32_on(Isa::best(), black_box(&buf)).unwrap()))
        });
    }
    g.finish();
}

/// Benches `f(copy, out)` over a rotation of `copies`, on `threads` threads.
fn cold<T: Sync>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    threads: usize,
    copies: &[T],
    rows: usize,
    mut f: impl FnMut(&T, &mut [f32]) + Send,
) {
    let p = pool(threads);
    let mut out = vec![0.0f32; rows];
    let mut i = 0;
    g.bench_function(BenchmarkId::new(id, format!("t{threads}")), |b| {
        p.install(|| {
            b.iter(|| {
                i = (i + 1) % copies.len();
                f(&copies[i], &mut out);
            })
        })
    });
}

fn gemv_cold(c: &mut Criterion) {
    for (rows, cols) in [(4096usize, 4096usize), (11008, 4096)] {
        let fm = Formats::new(rows, cols, 1);
        let mut rng = StdRng::seed_from_u64(2);
        let x = floats(cols, &mut rng);
        let xq: Vec<i8> = x.iter().map(|&v| (v * 127.0).round() as i8).collect();
        let mut g = c.benchmark_group(format!("gemv_cold/{rows}x{cols}"));
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_millis(500))
            .measurement_time(std::time::Duration::from_secs(2));
        let n = rows * cols;
        let (ch, g32) = (fm.ch(), fm.g32());

        g.throughput(Throughput::Bytes(4 * n as u64));
        let copies = rotation(&fm.f32, 4 * n);
        for t in [1, 2] {
            cold(&mut g, "f32", t, &copies, rows, |w, o| {
                float::gemm_f32(&x, 1, w, rows, cols, o).unwrap()
            });
        }
        drop(copies);
        g.throughput(Throughput::Bytes(2 * n as u64));
        let copies = rotation(&fm.f16, 2 * n);
        cold(&mut g, "f16", 2, &copies, rows, |w, o| {
            float::gemm_f16_f32(&x, 1, w, rows, cols, o).unwrap()
        });
        drop(copies);
        let copies = rotation(&fm.bf16, 2 * n);
        cold(&mut g, "bf16", 2, &copies, rows, |w, o| {
            float::gemm_bf16_f32(&x, 1, w, rows, cols, o).unwrap()
        });
        drop(copies);

        // Codes and scales rotate together: both are read from DRAM.
        g.throughput(Throughput::Bytes((n + 4 * rows) as u64));
        let copies = rotation(&(fm.q8.clone(), fm.s8.clone()), n + 4 * rows);
        for t in [1, 2] {
            cold(&mut g, "int8_weight_only", t, &copies, rows, |(q, s), o| {
                int8::gemm_q8_f32(&x, 1, q, s, &[], ch, o).unwrap()
            });
        }
        g.throughput(Throughput::Bytes(n as u64));
        // The i32 output lives outside the timed call, like the f32 one.
        let mut oi = vec![0i32; rows];
        for t in [1, 2] {
            cold(&mut g, "int8_x_int8", t, &copies, rows, |(q, _), _| {
                int8::gemm_i8_i32(&xq, q, 1, rows, cols, &mut oi).unwrap();
                black_box(&oi);
            });
        }
        drop(copies);

        let bytes4 = n / 2 + 2 * g32.n_scales();
        g.throughput(Throughput::Bytes(bytes4 as u64));
        let copies = rotation(&(fm.q4.clone(), fm.s4.clone()), bytes4);
        for t in [1, 2] {
            cold(&mut g, "int4_g32", t, &copies, rows, |(q, s), o| {
                int4::gemm_q4_f32(&x, 1, q, s, &[], g32, o).unwrap()
            });
        }
        // The same weights against int8 activations (per 32 columns, quantized per call).
        for t in [1, 2] {
            cold(&mut g, "int4_g32_x_int8", t, &copies, rows, |(q, s), o| {
                w4a8::gemv_q4_i8(&x, q, s, g32, o).unwrap()
            });
        }
        drop(copies);

        if rows == cols {
            // 90% magnitude-sparse CSR: keep |w| ≥ 0.9 of U(−1, 1).
            let mut row_ptr = vec![0u32];
            let (mut ci, mut vals) = (Vec::new(), Vec::new());
            for r in 0..rows {
                for (k, &v) in fm.f32[r * cols..(r + 1) * cols].iter().enumerate() {
                    if v.abs() >= 0.9 {
                        ci.push(k as u16);
                        vals.push(v);
                    }
                }
                row_ptr.push(ci.len() as u32);
            }
            // The model path: a SparseLinear (structure validated once, when built), as a
            // pruned model runs it: the packed layout on AVX-512 (its bytes are what a call
            // reads), CSR elsewhere.
            let csr_bytes = 6 * vals.len() + 4 * row_ptr.len() + 4 * rows;
            let csr = CsrMatrix::from_parts(rows, cols, row_ptr, ci, vals).unwrap();
            let layer = SparseLinear::new(csr, Array1::zeros(rows)).unwrap();
            let bytes = match layer.packed_bytes() {
                0 => csr_bytes,
                packed => packed + 4 * rows,
            };
            g.throughput(Throughput::Bytes(bytes as u64));
            let copies = rotation(&layer, bytes);
            let xa = Array2::from_shape_vec((1, cols), x.clone()).unwrap();
            for t in [1, 2] {
                cold(&mut g, "sparse_90pct", t, &copies, rows, |l, o| {
                    let y = l.forward(xa.view()).unwrap();
                    o.copy_from_slice(y.as_slice().unwrap());
                });
            }
        }
        g.finish();
    }
}

fn gemv_warm(c: &mut Criterion) {
    let n = 1024;
    let fm = Formats::new(n, n, 3);
    let x = floats(n, &mut StdRng::seed_from_u64(4));
    let xq: Vec<i8> = x.iter().map(|&v| (v * 127.0).round() as i8).collect();
    let linear_nd = Array2::from_shape_vec((n, n), fm.f32.clone()).unwrap();
    let xa = Array1::from(x.clone());
    let (ch, g32) = (fm.ch(), fm.g32());
    let mut out = vec![0.0f32; n];
    let mut oi = vec![0i32; n];
    let mut g = c.benchmark_group("gemv_warm/1024x1024");
    g.sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    g.throughput(Throughput::Elements((n * n) as u64));
    g.bench_function("f32_ndarray", |b| b.iter(|| linear_nd.dot(&xa)));
    g.bench_function("f32", |b| {
        b.iter(|| float::gemm_f32(&x, 1, &fm.f32, n, n, &mut out).unwrap())
    });
    g.bench_function("f16", |b| {
        b.iter(|| float::gemm_f16_f32(&x, 1, &fm.f16, n, n, &mut out).unwrap())
    });
    g.bench_function("bf16", |b| {
        b.iter(|| float::gemm_bf16_f32(&x, 1, &fm.bf16, n, n, &mut out).unwrap())
    });
    g.bench_function("int8_weight_only", |b| {
        b.iter(|| int8::gemm_q8_f32(&x, 1, &fm.q8, &fm.s8, &[], ch, &mut out).unwrap())
    });
    g.bench_function("int8_x_int8", |b| {
        b.iter(|| int8::gemm_i8_i32(&xq, &fm.q8, 1, n, n, &mut oi).unwrap())
    });
    g.bench_function("int4_g32", |b| {
        b.iter(|| int4::gemm_q4_f32(&x, 1, &fm.q4, &fm.s4, &[], g32, &mut out).unwrap())
    });
    g.finish();
}

fn gemm(c: &mut Criterion) {
    for (rows, cols) in [(1024usize, 1024usize), (4096, 4096), (11008, 4096)] {
        let fm = Formats::new(rows, cols, 5);
        let w_nd = Array2::from_shape_vec((rows, cols), fm.f32.clone()).unwrap();
        let dense = Linear::new(w_nd.clone(), Array1::zeros(rows)).unwrap();
        let dynamic = Ptq::new(
            QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Dynamic),
        )
        .quantize_linear("layer", &dense, None)
        .unwrap();
        drop(dense);
        let (ch, g32) = (fm.ch(), fm.g32());
        let mut g = c.benchmark_group(format!("gemm/{rows}x{cols}"));
        g.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(std::time::Duration::from_millis(300))
            .measurement_time(std::time::Duration::from_secs(2));
        for batch in [32usize, 128] {
            let mut rng = StdRng::seed_from_u64(6);
            let x = floats(batch * cols, &mut rng);
            let xa = Array2::from_shape_vec((batch, cols), x.clone()).unwrap();
            let xq: Vec<i8> = x.iter().map(|&v| (v * 127.0).round() as i8).collect();
            let mut out = vec![0.0f32; batch * rows];
            let mut oi = vec![0i32; batch * rows];
            g.throughput(Throughput::Elements((batch * rows * cols) as u64));
            g.bench_function(BenchmarkId::new("f32_ndarray", batch), |b| {
                b.iter(|| xa.dot(&w_nd.t()))
            });
            g.bench_function(BenchmarkId::new("f32", batch), |b| {
                b.iter(|| float::gemm_f32(&x, batch, &fm.f32, rows, cols, &mut out).unwrap())
            });
            g.bench_function(BenchmarkId::new("f16", batch), |b| {
                b.iter(|| float::gemm_f16_f32(&x, batch, &fm.f16, rows, cols, &mut out).unwrap())
            });
            g.bench_function(BenchmarkId::new("bf16", batch), |b| {
                b.iter(|| float::gemm_bf16_f32(&x, batch, &fm.bf16, rows, cols, &mut out).unwrap())
            });
            g.bench_function(BenchmarkId::new("int8_weight_only", batch), |b| {
                b.iter(|| int8::gemm_q8_f32(&x, batch, &fm.q8, &fm.s8, &[], ch, &mut out).unwrap())
            });
            g.bench_function(BenchmarkId::new("int8_x_int8", batch), |b| {
                b.iter(|| int8::gemm_i8_i32(&xq, &fm.q8, batch, rows, cols, &mut oi).unwrap())
            });
            g.bench_function(BenchmarkId::new("int8_dynamic_layer", batch), |b| {
                b.iter(|| dynamic.forward(xa.view()).unwrap())
            });
            g.bench_function(BenchmarkId::new("int4_g32", batch), |b| {
                b.iter(|| int4::gemm_q4_f32(&x, batch, &fm.q4, &fm.s4, &[], g32, &mut out).unwrap())
            });
        }
        g.finish();
    }
}

fn models(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(7);
    let mlp = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng).unwrap();
    let calib = Array2::from_shape_fn((256, 64), |_| rng.random_range(-1.0..1.0f32));
    let cal = Calibration::from_mlp(&mlp, &[calib.view()]).unwrap();
    let ch = Granularity::PerChannel;
    let schemes = [
        (
            "int8_static",
            QuantScheme::int8(ch).activations(ActivationMode::Static),
        ),
        (
            "int8_dynamic",
            QuantScheme::int8(ch).activations(ActivationMode::Dynamic),
        ),
        ("int8_weight_only", QuantScheme::int8(ch)),
        ("int4_g32", QuantScheme::int4(Granularity::PerGroup(32))),
    ];
    let x = Array2::from_shape_fn((1, 64), |_| rng.random_range(-1.0..1.0f32));
    let mut g = c.benchmark_group("models");
    g.sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    g.bench_function("digits_mlp_batch1/f32", |b| {
        b.iter(|| mlp.forward(x.view()).unwrap())
    });
    for (name, s) in schemes {
        let q = Ptq::new(s).quantize_mlp(&mlp, Some(&cal)).unwrap();
        g.bench_function(format!("digits_mlp_batch1/{name}"), |b| {
            b.iter(|| q.forward(x.view()).unwrap())
        });
    }
    let config = BlockConfig {
        hidden: 384,
        heads: 12,
        intermediate: 1536,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        layer_norm_eps: 1e-12,
    };
    let block = TransformerBlock::new(&config, &mut rng).unwrap();
    let xs = Array2::from_shape_fn((128, 384), |_| rng.random_range(-1.0..1.0f32));
    g.bench_function("block_seq128/f32", |b| {
        b.iter(|| block.forward(xs.view(), None, false).unwrap())
    });
    for (name, s) in [
        (
            "int8_dynamic",
            QuantScheme::int8(ch).activations(ActivationMode::Dynamic),
        ),
        ("int8_weight_only", QuantScheme::int8(ch)),
        ("int4_g32", QuantScheme::int4(Granularity::PerGroup(32))),
    ] {
        let ptq = Ptq::new(s);
        let q = block
            .map_linears(|n, l| ptq.quantize_linear(n, l, None))
            .unwrap();
        g.bench_function(format!("block_seq128/{name}"), |b| {
            b.iter(|| q.forward(xs.view(), None, false).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bandwidth, gemv_cold, gemv_warm, gemm, models);
criterion_main!(benches);
