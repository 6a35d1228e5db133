//! Per-format bodies of the SIMD kernels over a block of output rows, generic over [`Simd`]:
//! the batch-1 products (`gemv_*`, one output per weight row) and the batch-N products
//! (`gemm_*`, a (rows × batch) block of the transposed output). The per-instruction-set
//! wrappers (`wrappers.rs`, invoked in `x86/` and `arm/`) instantiate them.

use half::f16;

use super::passes::{offset, pass_rows};
use super::simd::{self, group_pieces, Acts, PanelRows, Simd, Wt};
use super::GroupLayout;

/// An int8 weight matrix with its scales, lengths checked by the caller.
#[derive(Clone, Copy)]
pub(crate) struct Q8<'a> {
    pub(crate) q: &'a [i8],
    pub(crate) scales: &'a [f32],
    pub(crate) zeros: &'a [i8],
    pub(crate) layout: GroupLayout,
}

impl<'a> Q8<'a> {
    /// Codes, scales and zero points of row `r`.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> (&'a [i8], &'a [f32], &'a [i8]) {
        let c = self.layout.cols;
        let s = self.layout.row_scales(r);
        let z = if self.zeros.is_empty() {
            &self.zeros[..0]
        } else {
            &self.zeros[s.clone()]
        };
        (&self.q[r * c..(r + 1) * c], &self.scales[s], z)
    }
}

/// A packed int4 weight matrix with its scales, lengths checked by the caller.
#[derive(Clone, Copy)]
pub(crate) struct Q4<'a> {
    pub(crate) packed: &'a [u8],
    pub(crate) scales: &'a [f16],
    pub(crate) zeros: &'a [u8],
    pub(crate) layout: GroupLayout,
}

impl<'a> Q4<'a> {
    /// Packed bytes, scales and zero points of row `r`.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> (&'a [u8], &'a [f16], &'a [u8]) {
        let b = super::int4::packed_row_bytes(self.layout.cols);
        let s = self.layout.row_scales(r);
        let z = if self.zeros.is_empty() {
            &self.zeros[..0]
        } else {
            &self.zeros[s.clone()]
        };
        (&self.packed[r * b..(r + 1) * b], &self.scales[s], z)
    }
}

/// Batch 1, weights of type `T` (f32, f16, bf16): `out[j] = x·w[r0 + j]`.
///
/// # Safety
/// CPU supports `S`; `x.len() == cols`, `w` holds rows `r0..r0 + out.len()`.
#[inline(always)]
pub(crate) unsafe fn gemv_t<S: Simd, T: Wt>(
    x: &[f32],
    w: &[T],
    cols: usize,
    r0: usize,
    out: &mut [f32],
) {
    let w = &w[r0 * cols..(r0 + out.len()) * cols];
    simd::rows_dot::<S, T>(x, w, cols, out);
}

/// Batch N, weights of type `T`: `out_t[j, i] = x[i]·w[r0 + j]`.
///
/// # Safety
/// CPU supports `S`; `a` holds `batch·cols` activations (packed for `S`, if at all), `w` holds
/// rows `r0..r0 + out_t.len()/batch`.
#[inline(always)]
pub(crate) unsafe fn gemm_t<S: Simd, const MR: usize, T: Wt>(
    a: Acts<'_>,
    w: &[T],
    cols: usize,
    r0: usize,
    out_t: &mut [f32],
) {
    let rows = out_t.len() / a.batch.max(1);
    let w = &w[r0 * cols..(r0 + rows) * cols];
    if let Some(wf) = T::as_f32(w) {
        simd::gemm_direct::<S, MR>(a, wf, cols, out_t);
    } else {
        simd::gemm_panel::<S, MR, _>(a, cols, out_t, &ConvRows { w, cols });
    }
}

/// f16/bf16 (any [`Wt`]) rows of a block, converted for the panel.
struct ConvRows<'a, T> {
    w: &'a [T],
    cols: usize,
}

impl<T: Wt> PanelRows for ConvRows<'_, T> {
    #[inline(always)]
    unsafe fn fill<S: Simd>(&self, j: usize, k0: usize, dst: &mut [f32]) {
        let at = j * self.cols + k0;
        simd::deq::<S, T>(&self.w[at..at + dst.len()], 0.0, 1.0, dst);
    }
}

/// int8 rows of a block (`r0` = first row), dequantized for the panel.
struct Q8Rows<'a> {
    m: Q8<'a>,
    r0: usize,
}

impl PanelRows for Q8Rows<'_> {
    #[inline(always)]
    unsafe fn fill<S: Simd>(&self, j: usize, k0: usize, dst: &mut [f32]) {
        let (q, s, z) = self.m.row(self.r0 + j);
        for (g, a, b) in group_pieces(k0, dst.len(), self.m.layout.group) {
            let zg = z.get(g).map_or(0.0, |&v| f32::from(v));
            simd::deq::<S, i8>(&q[a..b], zg, s[g], &mut dst[a - k0..b - k0]);
        }
    }
}

/// Packed int4 rows of a block (`r0` = first row), unpacked and dequantized for the panel.
struct Q4Rows<'a> {
    m: Q4<'a>,
    r0: usize,
}

impl PanelRows for Q4Rows<'_> {
    #[inline(always)]
    unsafe fn fill<S: Simd>(&self, j: usize, k0: usize, dst: &mut [f32]) {
        let (row, s, z) = self.m.row(self.r0 + j);
        for (g, a, b) in group_pieces(k0, dst.len(), self.m.layout.group) {
            let zg = f32::from(z.get(g).copied().unwrap_or(super::int4::SYMMETRIC_ZERO));
            let sg = s[g].to_f32();
            let piece = &mut dst[a - k0..b - k0];
            if a % 2 == 0 {
                simd::deq_q4::<S>(row, a, zg, sg, piece);
            } else {
                for (t, d) in piece.iter_mut().enumerate() {
                    *d = (f32::from(super::int4::code_at(row, a + t)) - zg) * sg;
                }
            }
        }
    }
}

/// Batch 1, int8 weights × f32 activations.
///
/// # Safety
/// CPU supports `S`; `x.len() == cols`, rows `r0..r0 + out.len()` exist in `m`.
#[inline(always)]
pub(crate) unsafe fn gemv_q8<S: Simd>(x: &[f32], m: Q8<'_>, r0: usize, out: &mut [f32]) {
    // Groups of whole vector pairs: four rows per pass (see `passes`), the rest row by row.
    let passes = if m.layout.group.is_multiple_of(2 * S::LANES) {
        out.len() / 4
    } else {
        0
    };
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let at = offset(rel, r0);
        let (a, b, c, d) = (m.row(at[0]), m.row(at[1]), m.row(at[2]), m.row(at[3]));
        let (q, s, g) = ([a.0, b.0, c.0, d.0], [a.1, b.1, c.1, d.1], m.layout.group);
        let got = if m.zeros.is_empty() {
            simd::rows_q8::<S, 4, false>(x, q, s, [&[]; 4], g)
        } else {
            simd::rows_q8::<S, 4, true>(x, q, s, [a.2, b.2, c.2, d.2], g)
        };
        for (j, v) in rel.into_iter().zip(got) {
            out[j] = v;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * passes) {
        let (q, s, z) = m.row(r0 + j);
        *o = simd::row_q8::<S>(x, q, s, z, m.layout.group);
    }
}

/// Batch N, int8 weights × f32 activations.
///
/// # Safety
/// CPU supports `S`; `a` as in [`gemm_t`], rows `r0..r0 + out_t.len()/batch` exist in `m`.
#[inline(always)]
pub(crate) unsafe fn gemm_q8<S: Simd, const MR: usize>(
    a: Acts<'_>,
    m: Q8<'_>,
    r0: usize,
    out_t: &mut [f32],
) {
    simd::gemm_panel::<S, MR, _>(a, m.layout.cols, out_t, &Q8Rows { m, r0 });
}

/// Batch 1, packed int4 weights × split f32 activations (see [`simd::row_q4_split`]).
///
/// # Safety
/// CPU supports `S`; `xs` and `gsum` as [`simd::row_q4_split`] needs them for `m`'s layout
/// (group a multiple of `2·LANES`), rows `r0..r0 + out.len()` exist in `m`.
#[inline(always)]
pub(crate) unsafe fn gemv_q4<S: Simd>(
    xs: &[f32],
    gsum: &[f32],
    m: Q4<'_>,
    r0: usize,
    out: &mut [f32],
) {
    let passes = out.len() / 4;
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let at = offset(rel, r0);
        let (a, b, c, d) = (m.row(at[0]), m.row(at[1]), m.row(at[2]), m.row(at[3]));
        let got = simd::row_q4_split::<S, 4>(
            xs,
            [a.0, b.0, c.0, d.0],
            [a.1, b.1, c.1, d.1],
            [a.2, b.2, c.2, d.2],
            gsum,
            m.layout.group,
        );
        for (j, v) in rel.into_iter().zip(got) {
            out[j] = v;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * passes) {
        let (row, s, z) = m.row(r0 + j);
        *o = simd::row_q4_split::<S, 1>(xs, [row], [s], [z], gsum, m.layout.group)[0];
    }
}

/// Batch N, packed int4 weights × f32 activations.
///
/// # Safety
/// CPU supports `S`; `a` as in [`gemm_t`], rows `r0..r0 + out_t.len()/batch` exist in `m`.
#[inline(always)]
pub(crate) unsafe fn gemm_q4<S: Simd, const MR: usize>(
    a: Acts<'_>,
    m: Q4<'_>,
    r0: usize,
    out_t: &mut [f32],
) {
    simd::gemm_panel::<S, MR, _>(a, m.layout.cols, out_t, &Q4Rows { m, r0 });
}
