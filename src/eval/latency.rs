//! Inference latency: median wall time of repeated batch-1 and batch-N forward passes.
//!
//! This is for reports, not for benchmarking kernels (criterion does that in `benches/`): it
//! gives the number a user feels, a median over `repeats` runs after one warm-up.

use std::time::{Duration, Instant};

use ndarray::{s, ArrayView2};

use crate::error::{Error, Result};
use crate::nn::Forward;

/// Median latencies of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median time of a forward pass on one row.
    pub batch1: Duration,
    /// Median time of a forward pass on `batch_n` rows.
    pub batch_n: Duration,
    /// The batch size of `batch_n`.
    pub n: usize,
}

/// Most repeats [`measure_latency`] (and a [`CompressionReport`](super::CompressionReport))
/// accepts per median: enough for any stable median, few enough that a typo does not run for
/// days.
pub const MAX_REPEATS: usize = 100_000;

/// Median wall time of `repeats` forward passes of `model` on the first row of `x` and on the
/// first `n` rows (all of `x` if it has fewer), each after one warm-up pass.
///
/// Errors with [`Error::Empty`] for an `x` without rows, [`Error::InvalidParam`] for `n` or
/// `repeats` of 0 or `repeats` above [`MAX_REPEATS`], and as the model's forward pass.
pub fn measure_latency<M: Forward + ?Sized>(
    model: &M,
    x: ArrayView2<f32>,
    n: usize,
    repeats: usize,
) -> Result<Latency> {
    if x.nrows() == 0 {
        return Err(Error::Empty("latency input".into()));
    }
    check_repeats("n", n, repeats)?;
    let n = n.min(x.nrows());
    Ok(Latency {
        batch1: median_time(model, x.slice(s![..1, ..]), repeats)?,
        batch_n: median_time(model, x.slice(s![..n, ..]), repeats)?,
        n,
    })
}

/// Checks a latency batch size (≥ 1) and repeat count (1 ..= [`MAX_REPEATS`]).
pub(crate) fn check_repeats(n_name: &'static str, n: usize, repeats: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::param(
            n_name,
            "the latency batch size must be ≥ 1, got 0",
        ));
    }
    if !(1..=MAX_REPEATS).contains(&repeats) {
        return Err(Error::param(
            "repeats",
            format!("must be in 1..={MAX_REPEATS}, got {repeats}"),
        ));
    }
    Ok(())
}

fn median_time<M: Forward + ?Sized>(
    model: &M,
    x: ArrayView2<f32>,
    repeats: usize,
) -> Result<Duration> {
    model.forward(x)?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        let y = model.forward(x)?;
        times.push(t.elapsed());
        std::hint::black_box(y);
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}
