//! The AVX-512-VNNI W4A8 batch-1 kernel (see [`crate::kernels::w4a8`]).

use std::arch::x86_64::*;

use half::f16;

use crate::kernels::blocks::Q4;
use crate::kernels::passes::{offset, pass_rows};
use crate::kernels::w4a8::{row_blocks, ActBlocks, SplitActs, ACT_BLOCK, STEP};

/// `out[j] = Σ_b s_g·s_b·Σ (u − 8)·q` for rows `r0..r0 + out.len()`, 128 columns per step.
///
/// # Safety
/// The CPU has AVX-512 F/BW/VNNI and F16C; `sp` was split from `a`, whose width is the
/// layout's; the packed codes and scales match the layout and the rows exist; the group is
/// 32, 64 or a multiple of 128.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemv_vnni512(
    a: &ActBlocks,
    sp: &SplitActs,
    m: Q4<'_>,
    r0: usize,
    out: &mut [f32],
) {
    let steps = m.layout.cols / STEP;
    let idx = match m.layout.group {
        32 => _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
        _ => _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    };
    // Four rows at a time, one per quarter of the block (four weight streams far apart in
    // flight, activations loaded once for the four; see `passes`), then the rest one by one.
    let passes = out.len() / 4;
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let rows = offset(rel, r0);
        let got = match m.layout.group {
            32 => rows_n::<4, 32>(a, sp, m, rows, steps, idx),
            64 => rows_n::<4, 64>(a, sp, m, rows, steps, idx),
            _ => rows_n::<4, 0>(a, sp, m, rows, steps, idx),
        };
        for (j, v) in rel.into_iter().zip(got) {
            out[j] = v;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * passes) {
        *o = match m.layout.group {
            32 => rows_n::<1, 32>(a, sp, m, [r0 + j], steps, idx)[0],
            64 => rows_n::<1, 64>(a, sp, m, [r0 + j], steps, idx)[0],
            _ => rows_n::<1, 0>(a, sp, m, [r0 + j], steps, idx)[0],
        };
    }
}

/// `R` rows of [`gemv_vnni512`], for weight groups of `G` = 32 or 64 columns, or (`G` = 0) a
/// multiple of 128. (The group is a constant so the loop has no branch and no call: a call
/// would force the accumulators out of registers.)
///
/// # Safety
/// As [`gemv_vnni512`], for the rows `rows`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn rows_n<const R: usize, const G: usize>(
    a: &ActBlocks,
    sp: &SplitActs,
    m: Q4<'_>,
    rows: [usize; R],
    steps: usize,
    idx: __m512i,
) -> [f32; R] {
    let (cols, group) = (m.layout.cols, m.layout.group);
    let nib = _mm512_set1_epi8(0x0F);
    let (xp, lsp, lqp) = (
        sp.even_odd.as_ptr(),
        sp.lane_scale.as_ptr(),
        sp.lane_qsum.as_ptr(),
    );
    let mut rp = [std::ptr::null::<u8>(); R];
    let mut scp = [std::ptr::null::<f16>(); R];
    let mut sl: [&[f16]; R] = [&[]; R];
    for r in 0..R {
        let (row, s, _) = m.row(rows[r]);
        rp[r] = row.as_ptr();
        scp[r] = s.as_ptr();
        sl[r] = s;
    }
    let mut total = [_mm512_setzero_ps(); R];
    let mut corr = [_mm512_setzero_ps(); R];
    for st in 0..steps {
        let xe = _mm512_loadu_si512(xp.add(st * STEP).cast());
        let xo = _mm512_loadu_si512(xp.add(st * STEP + STEP / 2).cast());
        let ls = _mm512_loadu_ps(lsp.add(st * 16));
        let lq = _mm512_loadu_ps(lqp.add(st * 16));
        for r in 0..R {
            // Rows are short (cols/2 bytes): prefetch the same step of this stream's next
            // row (the row of the next pass), which the hardware prefetcher does not reach in
            // time. (A prefetch never faults; the address is formed with wrapping_add.)
            let ahead = rp[r].wrapping_add(st * STEP / 2 + cols / 2);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            let v = _mm512_loadu_si512(rp[r].add(st * STEP / 2).cast());
            let lo = _mm512_and_si512(v, nib);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(v), nib);
            let acc = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xe);
            let acc = _mm512_dpbusd_epi32(acc, hi, xo);
            // The weight scale of each lane's group.
            let sw = match G {
                32 => {
                    let h = _mm_loadl_epi64(scp[r].add(st * 4).cast());
                    _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_cvtph_ps(h)))
                }
                64 => {
                    let bits = std::ptr::read_unaligned(scp[r].add(st * 2).cast::<i32>());
                    let h = _mm_cvtsi32_si128(bits);
                    _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_cvtph_ps(h)))
                }
                _ => {
                    let bits = sl[r][st * STEP / group].to_bits();
                    let h = _mm_cvtsi32_si128(i32::from(bits));
                    _mm512_broadcastss_ps(_mm_cvtph_ps(h))
                }
            };
            let w = _mm512_mul_ps(sw, ls);
            total[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), w, total[r]);
            corr[r] = _mm512_fmadd_ps(sw, lq, corr[r]);
        }
    }
    let mut out = [0.0f32; R];
    for r in 0..R {
        out[r] = _mm512_reduce_add_ps(total[r]) - 8.0 * _mm512_reduce_add_ps(corr[r]);
        if steps * STEP < cols {
            out[r] += row_blocks(a, m, rows[r], steps * STEP / ACT_BLOCK);
        }
    }
    out
}
