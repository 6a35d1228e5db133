//! Sparse (CSR) rows times a dense vector: `out[j] = Σ_k v_k·x[c_k]` over the stored entries
//! of row `r0 + j`. Values are f32 or int8 codes (widened in registers).
//!
//! Each path runs the same eight-accumulator scalar-load loop compiled with its features
//! (vector gathers measured slower, see `csr_rows`); AVX-512 machines run pruned f32 layers
//! on the packed layout of [`super::sparse_packed`] instead. Column indices are clamped to
//! `x.len() − 1` (so no index can read outside `x`, whatever the structure) and the row
//! pointers sliced with bounds checks. [`crate::sparse::CsrMatrix`] validates every index when
//! it is built, so the clamp never changes a result there.

use super::dispatch::Isa;
use super::par::for_rows;
use super::simd::Wt;
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

/// The dot products of rows `r0..r0 + out.len()`, eight independent scalar accumulators per
/// row, each non-zero one load of its index, one of `x` and one multiply-add.
///
/// Compiled inside each path's `#[target_feature]` wrapper (so `mul_add` is one fused
/// instruction), but deliberately not vectorised: on this crate's reference machine (AVX-512,
/// Sapphire Rapids class, gather microcode-mitigated) a 16-lane `vgatherdps` cost ~2.9 cycles
/// per non-zero, and these scalar loads ~1.2, at the measured ~2.63 GHz (1024×1024 at 90%,
/// one thread: 116 µs gathered, 49 µs scalar). The loads, not the arithmetic, bound the loop.
///
/// # Safety
/// Only called from a wrapper whose features the CPU has. Indices are clamped to
/// `x.len() − 1` and the row slices bounds-checked, so any structure is memory-safe (a bad one
/// gives wrong sums, or a panic when its row pointers are out of range).
#[inline(always)]
pub(crate) unsafe fn csr_rows<T: CsrValue>(m: Csr<'_, T>, x: &[f32], r0: usize, out: &mut [f32]) {
    let Some(last) = x.len().checked_sub(1) else {
        out.fill(0.0);
        return;
    };
    for (j, o) in out.iter_mut().enumerate() {
        let (cols, vals) = m.row(r0 + j);
        let n = cols.len().min(vals.len());
        let mut acc = [0.0f32; 8];
        let mut k = 0;
        // SAFETY (the `term`s): every `k` passed is below `n`, the length of both slices.
        while k + 8 <= n {
            for (u, a) in acc.iter_mut().enumerate() {
                *a = term(cols, vals, x, last, k + u, *a);
            }
            k += 8;
        }
        while k < n {
            acc[0] = term(cols, vals, x, last, k, acc[0]);
            k += 1;
        }
        *o = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    }
}

/// `a + vals[k]·x[min(cols[k], last)]` (a function, not a closure: closures do not inherit the
/// caller's target features, and `mul_add` must compile to one instruction).
///
/// # Safety
/// `k` below both slice lengths; `last < x.len()`.
#[inline(always)]
unsafe fn term<T: Wt>(cols: &[u16], vals: &[T], x: &[f32], last: usize, k: usize, a: f32) -> f32 {
    let c = usize::from(*cols.get_unchecked(k)).min(last);
    vals.get_unchecked(k)
        .to_f32()
        .mul_add(*x.get_unchecked(c), a)
}

/// Rows per parallel task of the sparse products.
const ROWS_PER_TASK: usize = 64;

/// Dense multiply-adds one non-zero is worth, for the thread threshold.
const NONZERO_COST: usize = 8;

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
    /// [`csr_rows`] on `isa` (already checked available).
    fn rows(isa: Isa, m: Csr<'_, Self>, x: &[f32], r0: usize, out: &mut [f32]);
}

macro_rules! csr_value {
    ($T:ty, $f:ident) => {
        impl CsrValue for $T {
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
csr_value!(f32, csr_f32);
csr_value!(i8, csr_i8);

/// `out[r] = Σ values·x[cols]` over each row on path `isa` (already checked), rows split over
/// threads. `m.row_ptr.len()` must be `out.len() + 1`.
pub(crate) fn csr_dots<T: CsrValue>(isa: Isa, m: Csr<'_, T>, x: &[f32], out: &mut [f32]) {
    // The thread threshold counts dense multiply-adds; a non-zero costs several of them (one
    // scalar load of `x` each, ~0.4 ns warm), so a 1024×1024 layer at 90% is worth two threads.
    let work = m.values.len().saturating_mul(NONZERO_COST);
    for_rows(out, 1, ROWS_PER_TASK, work, |r0, o| {
        T::rows(isa, m, x, r0, o)
    });
}

/// Checks a CSR structure of `rows` rows and `cols` columns: row pointers from 0,
/// non-decreasing, ending at nnz; every column index below `cols`.
pub(crate) fn check_csr(
    row_ptr: &[u32],
    col_idx: &[u16],
    nnz: usize,
    cols: usize,
    rows: usize,
) -> Result<()> {
    let Some(ptrs) = rows.checked_add(1) else {
        return Err(Error::too_large(
            "csr",
            format!("{rows} rows overflow usize"),
        ));
    };
    super::check_len("csr row_ptr", ptrs, row_ptr.len())?;
    super::check_len("csr col_idx", nnz, col_idx.len())?;
    let bad = |why: &str| Err(Error::Format(format!("invalid CSR structure: {why}")));
    if row_ptr[0] != 0 || row_ptr[rows] as usize != nnz {
        return bad("row pointers must run from 0 to nnz");
    }
    if row_ptr.windows(2).any(|w| w[0] > w[1]) {
        return bad("row pointers decrease");
    }
    if col_idx.iter().any(|&c| usize::from(c) >= cols) {
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
    check_csr(row_ptr, col_idx, values.len(), x.len(), out.len())?;
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
    check_csr(row_ptr, col_idx, values.len(), x.len(), out.len())?;
    let m = Csr {
        row_ptr,
        col_idx,
        values,
    };
    csr_dots(isa, m, x, out);
    Ok(())
}
