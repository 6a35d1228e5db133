//! Work split over output rows. With the default `threads` feature the blocks run on the
//! calling thread and rayon's pool; without it, one after the other. Each output is computed by exactly one task with a
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
            share_blocks(out, chunk, rows_per_task.max(1), &f);
            return;
        }
    }
    let _ = work;
    for (i, c) in out.chunks_mut(chunk).enumerate() {
        f(i * rows_per_task.max(1), c);
    }
}

/// Runs `f` over the blocks of `out` on the calling thread and up to `threads − 1` workers of
/// the current rayon pool.
///
/// The calling thread works from the start instead of handing everything to the pool and
/// sleeping (what a parallel iterator does when called from outside the pool): at batch 1 a
/// whole product takes 10–100 µs, and waiting for two pool threads to wake costs a good part of
/// that. Each participant owns a contiguous range of blocks, the same on every call, so the
/// weights it reads stay in its core's cache between calls (with blocks handed out first come,
/// first served, 90%- and 95%-sparse 1024×1024 layers took 21.8 and 20.0 µs; with fixed ranges
/// 18.1–20.6 and 11.6–12.0 µs); a participant that finishes early takes blocks from the back of
/// the others' ranges, so a late worker delays nothing.
#[cfg(feature = "threads")]
fn share_blocks<T, F>(out: &mut [T], chunk: usize, rows_per_task: usize, f: &F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync + Send,
{
    use std::collections::VecDeque;
    use std::sync::Mutex;

    let n = out.len().div_ceil(chunk);
    let parts = rayon::current_num_threads().min(n);
    // Participant p's range: blocks n·p/parts .. n·(p+1)/parts, as (index of its first untaken
    // block, its untaken blocks — the owner takes from the front, others from the back).
    let mut blocks = out.chunks_mut(chunk);
    let ranges: Vec<_> = (0..parts)
        .map(|p| {
            let (start, end) = (n * p / parts, n * (p + 1) / parts);
            let mine: VecDeque<&mut [T]> = blocks.by_ref().take(end - start).collect();
            Mutex::new((start, mine))
        })
        .collect();
    // Takes the next block of range `q`: from the front for its owner, the back otherwise.
    let take = |q: usize, front: bool| -> Option<(usize, &mut [T])> {
        let mut r = ranges[q].lock().ok()?;
        let (start, blocks) = &mut *r;
        if front {
            let b = blocks.pop_front()?;
            let i = *start;
            *start += 1;
            Some((i, b))
        } else {
            let b = blocks.pop_back()?;
            Some((*start + blocks.len(), b))
        }
    };
    let work = |p: usize| {
        while let Some((i, b)) = take(p, true) {
            f(i * rows_per_task, b);
        }
        for q in (1..parts).map(|k| (p + k) % parts) {
            while let Some((i, b)) = take(q, false) {
                f(i * rows_per_task, b);
            }
        }
    };
    rayon::in_place_scope(|s| {
        for p in 1..parts {
            let work = &work;
            s.spawn(move |_| work(p));
        }
        work(0);
    });
}

/// Runs `f` with the kernels limited to `threads` threads (a dedicated rayon pool). Without the
/// `threads` feature the kernels are single-threaded and `f` simply runs. Errors
/// ([`Error::InvalidParam`]) on 0 threads, on more than [`crate::limits::MAX_THREADS`] (a pool
/// of 100 000 threads would take minutes to start, or exhaust the process's threads) or when
/// the pool cannot be built.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    if threads == 0 || threads > crate::limits::MAX_THREADS {
        return Err(Error::param(
            "threads",
            format!(
                "{threads} threads: need 1 to {}",
                crate::limits::MAX_THREADS
            ),
        ));
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
