//! Sparse (CSR) rows times a dense vector, with SIMD gathers: `out[j] = Σ_k v_k·x[c_k]` over
//! the stored entries of row `r0 + j`. Values are f32 or int8 codes (widened in registers).
//!
//! The vector paths load 8 or 16 `u16` column indices, clamp them to `x.len() − 1` (so no
//! index can read outside `x`, whatever the structure) and gather; the row pointers are
//! sliced with bounds checks. [`crate::sparse::CsrMatrix`] validates every index when it is
//! built, so the clamp never changes a result there.

use super::dispatch::Isa;
use super::par::for_rows;
use super::simd::{Simd, Wt};
use crate::error::{Error, Result};

/// CSR arrays: `row_ptr` (rows + 1), `col_idx` and `values` (nnz each).
#[derive(Clone, Copy)]
pub(crate) struct Csr<'a, T> {
    pub(crate) row_ptr: &'a [u32],
    pub(crate) col_idx: &'a [u16],
    pub(crate) values: &'a [T],
}

impl<'a, T> Csr<'a, T> {
    /// Column indices and values of row `r` (bounds-checked slicing).
    #[inline(always)]
    fn row(&self, r: usize) -> (&'a [u16], &'a [T]) {
        let (a, b) = (self.row_ptr[r] as usize, self.row_ptr[r + 1] as usize);
        (&self.col_idx[a..b], &self.values[a..b])
    }
}

/// The gathered dot products of rows `r0..r0 + out.len()`.
///
/// # Safety
/// CPU supports `S`. (Indices are clamped and slices bounds-checked, so any structure is
/// memory-safe; a bad one gives wrong sums, or a panic in the scalar tail.)
#[inline(always)]
pub(crate) unsafe fn csr_rows<S: Simd, T: CsrValue>(
    m: Csr<'_, T>,
    x: &[f32],
    r0: usize,
    out: &mut [f32],
) {
    let l = S::LANES;
    for (j, o) in out.iter_mut().enumerate() {
        let (cols, vals) = m.row(r0 + j);
        let n = cols.len().min(vals.len());
        let mut k = 0;
        let mut total = 0.0;
        if !x.is_empty() && n > 0 {
            let (cp, vp, xp) = (cols.as_ptr(), vals.as_ptr(), x.as_ptr());
            let mut acc = [S::zero(); 2];
            while k + 2 * l <= n {
                for (u, a) in acc.iter_mut().enumerate() {
                    let o = k + u * l;
                    *a = S::fmadd(
                        T::load::<S>(vp.add(o)),
                        S::gather(xp, x.len(), cp.add(o)),
                        *a,
                    );
                }
                k += 2 * l;
            }
            // The tail (fewer than 2·LANES entries) as masked gathers: a scalar loop here cost
            // as much as the vector part at ~100 non-zeros per row.
            while k < n {
                let c = (n - k).min(l);
                acc[0] = S::fmadd(
                    T::load_partial::<S>(vp.add(k), c),
                    S::gather_partial(xp, x.len(), cp.add(k), c),
                    acc[0],
                );
                k += c;
            }
            total = S::hsum(S::add(acc[0], acc[1]));
        }
        *o = total;
    }
}

/// Rows per parallel task of the sparse products.
const ROWS_PER_TASK: usize = 64;

/// Dense multiply-adds one gathered non-zero is worth, for the thread threshold.
const GATHER_COST: usize = 8;

/// Scalar reference of [`csr_rows`]: four accumulators, as the original kernel.
fn csr_rows_scalar<T: Wt>(m: Csr<'_, T>, x: &[f32], r0: usize, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        let (cols, vals) = m.row(r0 + j);
        let mut acc = [0.0f32; 4];
        let (c4, v4) = (cols.chunks_exact(4), vals.chunks_exact(4));
        let (cr, vr) = (c4.remainder(), v4.remainder());
        for (c, v) in c4.zip(v4) {
            for l in 0..4 {
                acc[l] += v[l].to_f32() * x[usize::from(c[l])];
            }
        }
        for (&c, &v) in cr.iter().zip(vr) {
            acc[0] += v.to_f32() * x[usize::from(c)];
        }
        *o = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

/// A stored value type of the sparse kernels (f32 or int8 codes) and its per-path rows.
pub(crate) trait CsrValue: Wt + Send {
    /// The first `count ≤ S::LANES` values at `p` as f32 lanes, zeros after them.
    ///
    /// # Safety
    /// `p` valid for `count` values, CPU supports `S`.
    unsafe fn load_partial<S: Simd>(p: *const Self, count: usize) -> S::V;
    /// [`csr_rows`] on `isa` (already checked available).
    fn rows(isa: Isa, m: Csr<'_, Self>, x: &[f32], r0: usize, out: &mut [f32]);
}

macro_rules! csr_value {
    ($T:ty, $f:ident, $partial:ident) => {
        impl CsrValue for $T {
            #[inline(always)]
            unsafe fn load_partial<S: Simd>(p: *const Self, count: usize) -> S::V {
                S::$partial(p, count)
            }
            fn rows(isa: Isa, m: Csr<'_, Self>, x: &[f32], r0: usize, out: &mut [f32]) {
                match isa.float_family() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `isa` was checked available, so the CPU has the wrapper's
                    // features; indices are clamped and slices bounds-checked inside.
                    Isa::Avx512 => unsafe { super::x86::avx512::$f(m, x, r0, out) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: as above.
                    Isa::Avx2 => unsafe { super::x86::avx2::$f(m, x, r0, out) },
                    #[cfg(target_arch = "aarch64")]
                    // SAFETY: as above.
                    Isa::Neon => unsafe { super::arm::neon::$f(m, x, r0, out) },
                    _ => csr_rows_scalar(m, x, r0, out),
                }
            }
        }
    };
}
csr_value!(f32, csr_f32, load_partial);
csr_value!(i8, csr_i8, load_i8_partial);

/// `out[r] = Σ values·x[cols]` over each row on path `isa` (already checked), rows split over
/// threads. `m.row_ptr.len()` must be `out.len() + 1`.
pub(crate) fn csr_dots<T: CsrValue>(isa: Isa, m: Csr<'_, T>, x: &[f32], out: &mut [f32]) {
    // The thread threshold counts dense multiply-adds; a gathered non-zero costs about as much
    // as eight of them here (measured: ~0.6 ns per non-zero against ~0.1 ns per dense
    // multiply-add, warm, AVX-512), so a 1024×1024 layer at 90% sparsity is worth two threads.
    let work = m.values.len().saturating_mul(GATHER_COST);
    for_rows(out, 1, ROWS_PER_TASK, work, |r0, o| {
        T::rows(isa, m, x, r0, o)
    });
}

/// Checks a CSR structure against `rows`, `x.len()` and `out.len()`: row pointers from 0,
/// non-decreasing, ending at nnz; every column index inside `x`.
fn check_csr(row_ptr: &[u32], col_idx: &[u16], nnz: usize, x: &[f32], rows: usize) -> Result<()> {
    super::check_len("csr row_ptr", rows + 1, row_ptr.len())?;
    super::check_len("csr col_idx", nnz, col_idx.len())?;
    let bad = |why: &str| Err(Error::Format(format!("invalid CSR structure: {why}")));
    if row_ptr[0] != 0 || row_ptr[rows] as usize != nnz {
        return bad("row pointers must run from 0 to nnz");
    }
    if row_ptr.windows(2).any(|w| w[0] > w[1]) {
        return bad("row pointers decrease");
    }
    if col_idx.iter().any(|&c| usize::from(c) >= x.len()) {
        return bad("column index outside x");
    }
    Ok(())
}

/// `out[r] = Σ_k values[k]·x[col_idx[k]]` over row `r`'s entries, on path `isa`: the checked
/// entry point of the CSR kernel (structure validated, `out.len()` rows).
pub fn csr_dots_on(
    isa: Isa,
    row_ptr: &[u32],
    col_idx: &[u16],
    values: &[f32],
    x: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    check_csr(row_ptr, col_idx, values.len(), x, out.len())?;
    let m = Csr {
        row_ptr,
        col_idx,
        values,
    };
    csr_dots(isa, m, x, out);
    Ok(())
}

/// [`csr_dots_on`] with int8 values (the raw code sums; scales are the caller's).
pub fn csr_dots_i8_on(
    isa: Isa,
    row_ptr: &[u32],
    col_idx: &[u16],
    values: &[i8],
    x: &[f32],
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    check_csr(row_ptr, col_idx, values.len(), x, out.len())?;
    let m = Csr {
        row_ptr,
        col_idx,
        values,
    };
    csr_dots(isa, m, x, out);
    Ok(())
}
