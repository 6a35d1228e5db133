//! Work split over output rows. With the default `threads` feature the blocks run on rayon's
//! pool; without it, one after the other. Each output is computed by exactly one task with a
//! fixed order of operations, and the blocks do not depend on the number of threads, so results
//! are bit-identical for any thread count.

use crate::error::{Error, Result};

/// Products smaller than this (multiply-adds) run on the calling thread: spawning costs more
/// than it saves.
pub(crate) const PAR_MIN_WORK: usize = 1 << 18;

/// Runs `f(first_row, chunk)` over `out` in chunks of `rows_per_task · width` elements (the
/// last may be shorter), in parallel when `work` (multiply-adds) is large enough.
pub(crate) fn for_rows<T, F>(out: &mut [T], width: usize, rows_per_task: usize, work: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    let chunk = (rows_per_task.max(1) * width).max(1);
    #[cfg(feature = "threads")]
    {
        if work >= PAR_MIN_WORK && out.len() > chunk && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, c)| f(i * rows_per_task.max(1), c));
            return;
        }
    }
    let _ = work;
    for (i, c) in out.chunks_mut(chunk).enumerate() {
        f(i * rows_per_task.max(1), c);
    }
}

/// Runs `f` with the kernels limited to `threads` threads (a dedicated rayon pool). Without the
/// `threads` feature the kernels are single-threaded and `f` simply runs. Errors on 0 threads
/// or when the pool cannot be built.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    if threads == 0 {
        return Err(Error::param("threads", "need at least one thread"));
    }
    #[cfg(feature = "threads")]
    {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::param("threads", e.to_string()))?;
        Ok(pool.install(f))
    }
    #[cfg(not(feature = "threads"))]
    {
        Ok(f())
    }
}

/// Number of threads the kernels use from the current context (1 without the `threads`
/// feature).
pub fn current_threads() -> usize {
    #[cfg(feature = "threads")]
    {
        rayon::current_num_threads()
    }
    #[cfg(not(feature = "threads"))]
    {
        1
    }
}
