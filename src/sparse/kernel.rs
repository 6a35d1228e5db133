//! Sparse × dense products over CSR slices.
//!
//! `row_ptr` (rows + 1 entries), `col_idx` and `values` (nnz entries each) describe the sparse
//! matrix; callers ([`CsrMatrix`](super::CsrMatrix)) guarantee the structure is valid, and the
//! kernels still index safely (a bad structure panics rather than reading out of bounds; it
//! cannot be built through the public API).

/// `y[r] = bias[r] + Σ_k values[k]·x[col_idx[k]]` over row `r`'s entries, for one input row.
///
/// Four independent accumulators hide the add latency of the gathered products.
pub fn csr_matvec(
    row_ptr: &[u32],
    col_idx: &[u16],
    values: &[f32],
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    for (r, out) in y.iter_mut().enumerate() {
        let (start, end) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
        let cols = &col_idx[start..end];
        let vals = &values[start..end];
        let mut acc = [0.0f32; 4];
        let mut c4 = cols.chunks_exact(4);
        let mut v4 = vals.chunks_exact(4);
        for (c, v) in (&mut c4).zip(&mut v4) {
            acc[0] += v[0] * x[usize::from(c[0])];
            acc[1] += v[1] * x[usize::from(c[1])];
            acc[2] += v[2] * x[usize::from(c[2])];
            acc[3] += v[3] * x[usize::from(c[3])];
        }
        for (&c, &v) in c4.remainder().iter().zip(v4.remainder()) {
            acc[0] += v * x[usize::from(c)];
        }
        *out = bias[r] + (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

/// `Y = X·Wᵀ + b` for a batch: `xt` is X transposed (in × batch, row-major), `y` is (batch ×
/// out, row-major). Each stored weight scales a contiguous row of `xt`, so the inner loop runs
/// over the batch and vectorises.
pub fn csr_matmul_t(
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
pub fn csr_i8_matvec(
    row_ptr: &[u32],
    col_idx: &[u16],
    codes: &[i8],
    scales: &[f32],
    x: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    for (r, out) in y.iter_mut().enumerate() {
        let (start, end) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
        let cols = &col_idx[start..end];
        let vals = &codes[start..end];
        let mut acc = [0.0f32; 4];
        let mut c4 = cols.chunks_exact(4);
        let mut v4 = vals.chunks_exact(4);
        for (c, v) in (&mut c4).zip(&mut v4) {
            acc[0] += f32::from(v[0]) * x[usize::from(c[0])];
            acc[1] += f32::from(v[1]) * x[usize::from(c[1])];
            acc[2] += f32::from(v[2]) * x[usize::from(c[2])];
            acc[3] += f32::from(v[3]) * x[usize::from(c[3])];
        }
        for (&c, &v) in c4.remainder().iter().zip(v4.remainder()) {
            acc[0] += f32::from(v) * x[usize::from(c)];
        }
        *out = bias[r] + scales[r] * ((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
}

/// [`csr_matmul_t`] with int8 values and one scale per row.
#[allow(clippy::too_many_arguments)]
pub fn csr_i8_matmul_t(
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
