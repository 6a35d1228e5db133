//! Pruned layers and models against their dense f32 counterparts.
//!
//! Run: `cargo bench --bench prune` (results in `docs/benchmarks.md`).
//!
//! - a 1024×1024 layer at batch 1 and 32: dense f32 vs `SparseLinear` at 90% and 95% sparsity
//!   (magnitude-pruned random weights; batch 1 runs the packed layout on AVX-512, CSR
//!   elsewhere; batch 32 runs CSR). The dense weight is 4 MiB, the CSR ones 0.6 / 0.3 MiB and
//!   the packed ones 0.9 / 0.5 MiB; all stay in this machine's L2/L3 across iterations (a
//!   warm-cache comparison);
//! - the digits MLP 64-256-128-10 vs its structured-pruned 64-128-64-10 at batch 1 and 256.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{Array1, Array2};
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::nn::{Activation, Linear, LinearLayer, Mlp};
use shrink::prune::{MagnitudePruner, NeuronPruner, Pruner};
use shrink::sparse::SparseLinear;
use shrink::Forward;

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0f32))
}

fn sparse_vs_dense_layer(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let n = 1024;
    let dense = Linear::new(random(n, n, &mut rng), Array1::zeros(n)).unwrap();
    let mut group = c.benchmark_group("layer_1024x1024");
    for batch in [1usize, 32] {
        let x = random(batch, n, &mut rng);
        group.throughput(Throughput::Elements((batch * n * n) as u64));
        group.bench_with_input(BenchmarkId::new("dense_f32", batch), &x, |b, x| {
            b.iter(|| dense.forward(x.view()).unwrap())
        });
        for sparsity in [0.9f32, 0.95] {
            let mut mlp =
                Mlp::from_layers(vec![dense.clone()], vec![Activation::Identity]).unwrap();
            MagnitudePruner::new(sparsity).prune(&mut mlp).unwrap();
            let sparse = SparseLinear::from_linear(&mlp.layers()[0]).unwrap();
            let id = format!("sparse_{:.0}pct", sparsity * 100.0);
            group.bench_with_input(BenchmarkId::new(id, batch), &x, |b, x| {
                b.iter(|| LinearLayer::forward(&sparse, x.view()).unwrap())
            });
        }
    }
    group.finish();
}

fn structured_vs_dense_mlp(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let dense = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng).unwrap();
    let (small, _) = NeuronPruner::new(0.5).prune(&dense).unwrap();
    let mut group = c.benchmark_group("mlp_structured_50pct");
    for batch in [1usize, 256] {
        let x = random(batch, 64, &mut rng);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(
            BenchmarkId::new("dense_64_256_128_10", batch),
            &x,
            |b, x| b.iter(|| dense.forward(x.view()).unwrap()),
        );
        group.bench_with_input(
            BenchmarkId::new("pruned_64_128_64_10", batch),
            &x,
            |b, x| b.iter(|| small.forward(x.view()).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, sparse_vs_dense_layer, structured_vs_dense_mlp);
criterion_main!(benches);
