//! The AVX-512 int4 × f32 batch-1 kernel: packed codes become scaled f32 weights by a table
//! lookup in registers, never through an f32 copy of the matrix.
//!
//! `vpermps` reads only the low four bits of each index lane, so sixteen codes zero-extended to
//! 32-bit lanes (`vpmovzxbd`) index a 16-entry table directly — the low nibbles as they are,
//! the high ones after a 4-bit shift. The table is the group's weights `s_g·(u − z)` for
//! `u = 0..15`, made once per row and group with one multiply, so a 32-column block of one row
//! costs a widening load, a shift, two lookups and two FMAs (the generic path converts with
//! two `vcvtdq2ps`, masks, and scales each group's partial sum with one more FMA).
//!
//! Symmetric codes fold `z = 8` into the table; per-group zero points use the table of `s_g·u`
//! and subtract `Σ_g s_g·z_g·Σ_{k∈g} x_k` once per row.

use std::arch::x86_64::*;

use super::avx512::mask16;
use crate::kernels::blocks::Q4;
use crate::kernels::passes::{offset, pass_rows};

/// Groups whose f16 scales are converted per pass (a row's scales for them sit on the stack).
const CHUNK: usize = 64;

/// `out[j]` = row `r0 + j` of the packed int4 matrix times `x`, four rows per pass (one per
/// quarter of the block: four weight streams far apart in flight, see `passes`; each
/// activation block loaded once for the four).
///
/// # Safety
/// The CPU has AVX-512 F/BW/VL and F16C; `xs` is `x` split in blocks of 32 columns (the 16 even
/// columns, then the 16 odd ones: `int4::split_x` with 16 lanes), `gsum` holds `Σ x` per group
/// when `m.zeros` is not empty; `m`'s codes, scales and zero points match its layout, whose group
/// is a multiple of 32; rows `r0..r0 + out.len()` exist.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub(crate) unsafe fn gemv_q4_table(
    xs: &[f32],
    gsum: &[f32],
    m: Q4<'_>,
    r0: usize,
    out: &mut [f32],
) {
    let passes = out.len() / 4;
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let got = rows_table::<4>(xs, gsum, m, offset(rel, r0));
        for (j, v) in rel.into_iter().zip(got) {
            out[j] = v;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * passes) {
        *o = rows_table::<1>(xs, gsum, m, [r0 + j])[0];
    }
}

/// `R` rows of [`gemv_q4_table`].
///
/// # Safety
/// As [`gemv_q4_table`], for the rows `rows`.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn rows_table<const R: usize>(
    xs: &[f32],
    gsum: &[f32],
    m: Q4<'_>,
    rows: [usize; R],
) -> [f32; R] {
    let (cols, group) = (m.layout.cols, m.layout.group);
    let row_bytes = cols / 2;
    let blocks = group / 32;
    let n_groups = cols / group;
    let asym = !m.zeros.is_empty();
    let iota = _mm512_setr_ps(
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    );
    // Symmetric codes: the table is s·(u − 8); with zero points, s·u and a correction.
    let base = if asym {
        iota
    } else {
        _mm512_sub_ps(iota, _mm512_set1_ps(8.0))
    };
    let mut rp = [std::ptr::null::<u8>(); R];
    let mut sc = [std::ptr::null::<u16>(); R];
    let mut zp: [&[u8]; R] = [&[]; R];
    for r in 0..R {
        let (row, s, z) = m.row(rows[r]);
        rp[r] = row.as_ptr();
        sc[r] = s.as_ptr().cast();
        zp[r] = z;
    }
    let xp = xs.as_ptr();
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut corr = [0.0f32; R];
    let mut sbuf = [[0.0f32; CHUNK]; R];
    for g0 in (0..n_groups).step_by(CHUNK) {
        let n = (n_groups - g0).min(CHUNK);
        for r in 0..R {
            let mut p = 0;
            while p < n {
                let mask = mask16(n - p);
                let h = _mm256_maskz_loadu_epi16(mask, sc[r].add(g0 + p).cast());
                _mm512_mask_storeu_ps(sbuf[r].as_mut_ptr().add(p), mask, _mm512_cvtph_ps(h));
                p += 16;
            }
            if asym {
                for q in 0..n {
                    corr[r] += sbuf[r][q] * f32::from(zp[r][g0 + q]) * gsum[g0 + q];
                }
            }
        }
        for q in 0..n {
            let mut table = [_mm512_setzero_ps(); R];
            for r in 0..R {
                table[r] = _mm512_mul_ps(base, _mm512_set1_ps(sbuf[r][q]));
            }
            let mut k = (g0 + q) * group;
            for _ in 0..blocks {
                let xlo = _mm512_loadu_ps(xp.add(k));
                let xhi = _mm512_loadu_ps(xp.add(k + 16));
                for r in 0..R {
                    let b = rp[r].add(k / 2);
                    // The same bytes of this stream's next row (the row of the next pass):
                    // rows are short (cols/2 bytes) and the hardware prefetcher does not run
                    // that far ahead in time. (A prefetch never faults; the address is formed
                    // with wrapping_add.)
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(row_bytes).cast());
                    let v = _mm512_cvtepu8_epi32(_mm_loadu_si128(b.cast()));
                    let lo = _mm512_permutexvar_ps(v, table[r]);
                    let hi = _mm512_permutexvar_ps(_mm512_srli_epi32::<4>(v), table[r]);
                    acc[r][0] = _mm512_fmadd_ps(xlo, lo, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(xhi, hi, acc[r][1]);
                }
                k += 32;
            }
        }
    }
    let mut out = [0.0f32; R];
    for r in 0..R {
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1])) - corr[r];
    }
    out
}
