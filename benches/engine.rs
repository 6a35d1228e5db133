//! The f32 engine: MLP forward at batch 1 and 256, and one transformer block forward.
//!
//! Run: `cargo bench --bench engine` (results in `docs/benchmarks.md`).
//!
//! These are the f32 baselines that the compressed models are measured against later. Inputs
//! and weights are seeded random values; a warm cache is intended here (the digits MLP is
//! 200 KB, and the block's 7 MB of weights are re-read from cache on every call).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::nn::{Activation, BlockConfig, Mlp, NormPlacement, TransformerBlock};
use shrink::Forward;

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0f32))
}

fn mlp_forward(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mlp = Mlp::new(&[64, 256, 128, 10], Activation::Relu, &mut rng).unwrap();
    let mut group = c.benchmark_group("mlp_forward_64_256_128_10");
    for batch in [1usize, 256] {
        let x = random(batch, 64, &mut rng);
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &x, |b, x| {
            b.iter(|| mlp.forward(x.view()).unwrap())
        });
    }
    group.finish();
}

fn transformer_block_forward(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let config = BlockConfig {
        hidden: 384,
        heads: 12,
        intermediate: 1536,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        layer_norm_eps: 1e-12,
    };
    let block = TransformerBlock::new(&config, &mut rng).unwrap();
    let x = random(128, 384, &mut rng);
    let mut group = c.benchmark_group("transformer_block");
    group.sample_size(30);
    // One token is one element: tokens per second.
    group.throughput(Throughput::Elements(128));
    group.bench_function("seq128_hidden384_heads12_ffn1536", |b| {
        b.iter(|| block.forward(x.view(), None, false).unwrap())
    });
    group.finish();
}

criterion_group!(benches, mlp_forward, transformer_block_forward);
criterion_main!(benches);
