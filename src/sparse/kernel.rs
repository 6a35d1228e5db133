//! Sparse × dense products over CSR slices.
//!
//! `row_ptr` (rows + 1 entries), `col_idx` and `values` (nnz entries each) describe the sparse
//! matrix; callers ([`CsrMatrix`](super::CsrMatrix)) guarantee the structure is valid, and the
//! kernels still index safely (a bad structure panics rather than reading out of bounds; it
//! cannot be built through the public API). The batch-1 products run the packed lookup kernel of
//! [`crate::kernels::sparse_packed`] on AVX-512, the CSR kernel of [`crate::kernels::sparse`]
//! elsewhere; the batch-N products stay loops over the batch.

use crate::kernels::sparse::{csr_dots, Csr};
use crate::kernels::sparse_packed::PackedSparse;
use crate::kernels::Isa;

/// `y[r] = bias[r] + Σ_k values[k]·x[col_idx[k]]` over row `r`'s entries, for one input row.
///
/// Runs the CSR kernel of [`crate::kernels::sparse`] on the best instruction set the CPU has,
/// rows split over threads.
pub(crate) fn csr_matvec(
    row_ptr: &[u32],
    col_idx: &[u16],
    values: &[f32],
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    let m = Csr {
        row_ptr,
        col_idx,
        values,
    };
    csr_dots(Isa::best(), m, x, y);
    for (o, &b) in y.iter_mut().zip(bias) {
        *o += b;
    }
}

/// [`csr_matvec`] on the packed layout (`p` built from the same matrix; `x` and `y` of its
/// widths): the AVX-512 lookup kernel of [`crate::kernels::sparse_packed`].
pub(crate) fn packed_matvec(p: &PackedSparse, x: &[f32], bias: &[f32], y: &mut [f32]) {
    p.matvec(Isa::best(), x, y);
    for (o, &b) in y.iter_mut().zip(bias) {
        *o += b;
    }
}

/// `Y = X·Wᵀ + b` for a batch: `xt` is X transposed (in × batch, row-major), `y` is (batch ×
/// out, row-major). Each stored weight scales a contiguous row of `xt`, so the inner loop runs
/// over the batch and vectorises.
pub(crate) fn csr_matmul_t(
    row_ptr: &[u32],
    col_idx: &[u16],
    values: &[f32],
    xt: &[f32],
    batch: usize,
    bias: &[f32],
    y: &mut [f32],
) {
    let out = bias.len();
    let mut acc = vec![0.0f32; batch];
    for r in 0..out {
        acc.iter_mut().for_each(|a| *a = bias[r]);
        let (start, end) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
        for (&c, &v) in col_idx[start..end].iter().zip(&values[start..end]) {
            let xrow = &xt[usize::from(c) * batch..(usize::from(c) + 1) * batch];
            for (a, &xv) in acc.iter_mut().zip(xrow) {
                *a += v * xv;
            }
        }
        for (b, &a) in acc.iter().enumerate() {
            y[b * out + r] = a;
        }
    }
}

/// [`csr_matvec`] with int8 values and one scale per row (symmetric, weight-only):
/// `y[r] = bias[r] + scales[r]·Σ_k q[k]·x[col_idx[k]]`. The codes are widened in registers;
/// no f32 weight is ever materialised.
pub(crate) fn csr_i8_matvec(
    row_ptr: &[u32],
    col_idx: &[u16],
    codes: &[i8],
    scales: &[f32],
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    let m = Csr {
        row_ptr,
        col_idx,
        values: codes,
    };
    csr_dots(Isa::best(), m, x, y);
    for ((o, &b), &s) in y.iter_mut().zip(bias).zip(scales) {
        *o = b + s * *o;
    }
}

/// [`csr_matmul_t`] with int8 values and one scale per row.
#[allow(clippy::too_many_arguments)]
pub(crate) fn csr_i8_matmul_t(
    row_ptr: &[u32],
    col_idx: &[u16],
    codes: &[i8],
    scales: &[f32],
    xt: &[f32],
    batch: usize,
    bias: &[f32],
    y: &mut [f32],
) {
    let out = bias.len();
    let mut acc = vec![0.0f32; batch];
    for r in 0..out {
        acc.iter_mut().for_each(|a| *a = 0.0);
        let (start, end) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
        for (&c, &q) in col_idx[start..end].iter().zip(&codes[start..end]) {
            let v = f32::from(q);
            let xrow = &xt[usize::from(c) * batch..(usize::from(c) + 1) * batch];
            for (a, &xv) in acc.iter_mut().zip(xrow) {
                *a += v * xv;
            }
        }
        for (b, &a) in acc.iter().enumerate() {
            y[b * out + r] = bias[r] + scales[r] * a;
        }
    }
}
