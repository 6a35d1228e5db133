//! The order in which the batch-1 kernels visit the rows of a block: four rows per pass, one
//! from each quarter of the block, so that every pass keeps four weight streams in flight that
//! lie far apart in memory (a block is up to [`GEMV_ROWS`](super::GEMV_ROWS) rows). Each stream's
//! next row is the same stream's row of the next pass, one row length ahead, which is what the
//! kernels prefetch.
//!
//! Measured on the development machine (W4A8, 4096², cold, two threads): four adjacent rows per
//! pass (four streams inside two 4 KiB pages, blocks of 32 rows) read 24–27 GB/s; four rows a
//! quarter-block apart in blocks of 128 rows, 29–34 GB/s, and one thread 13–15 → 16–19 GB/s.
//! The hardware prefetcher follows one stream per page, so streams in separate pages keep more
//! reads in flight.

/// Row indices, relative to the block, of pass `q` out of `passes` (= rows / 4): one per
/// quarter of the block's first `4·passes` rows. The rows past those run one by one.
#[inline(always)]
pub(crate) fn pass_rows(q: usize, passes: usize) -> [usize; 4] {
    [q, q + passes, q + 2 * passes, q + 3 * passes]
}

/// `rows` shifted by `r0` (written out: a closure passed to `array::map` would be compiled
/// outside the kernel's target features, as a call).
#[inline(always)]
pub(crate) fn offset(rows: [usize; 4], r0: usize) -> [usize; 4] {
    [r0 + rows[0], r0 + rows[1], r0 + rows[2], r0 + rows[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_each_row_once() {
        for n in [0usize, 3, 4, 9, 128, 131] {
            let passes = n / 4;
            let mut seen = vec![0u8; n];
            for q in 0..passes {
                for r in pass_rows(q, passes) {
                    seen[r] += 1;
                }
            }
            for s in &mut seen[4 * passes..] {
                *s += 1;
            }
            assert!(seen.iter().all(|&s| s == 1), "{n}");
        }
    }
}
