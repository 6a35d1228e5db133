//! NEON int8 × int8 → i32 kernels, exact, 16 bytes per step, written once over [`Dot16`]:
//!
//! - [`Widen`] (baseline NEON): `smull`/`smull2` (i8 × i8 → i16; `|a·b| ≤ 2¹⁴` fits) then
//!   `sadalp` (adjacent i16 pairs added into i32 lanes);
//! - [`Sdot`] (the `dotprod` extension): `sdot`, four i8 products summed into each i32 lane.
//!   The intrinsic is unstable in Rust, so it is one instruction of inline assembly.
//!
//! No saturation anywhere; the true result fits in i32 (`k < MAX_I8_DOT_LEN`), so every lane
//! does too. The last `k % 16` columns are a scalar tail.

use std::arch::aarch64::*;

// Scalar `Σ a·b` over a tail: the scalar reference's dot product.
use crate::kernels::int8::dot_i8_unchecked as tail;

/// Bytes per vector step.
const STEP: usize = 16;

/// One way to accumulate 16 byte products into four i32 lanes.
///
/// # Safety
/// [`Dot16::dot16`] may only run on a CPU with the implementor's features.
pub(crate) unsafe trait Dot16: Copy {
    /// `acc + Σ a·b` over 16 bytes, per i32 lane (four products per lane).
    unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// Baseline NEON: widening multiplies and pairwise accumulation.
#[derive(Clone, Copy)]
pub(crate) struct Widen;

// SAFETY: reached only through `gemv_neon`/`gemm_neon` (`neon` enabled), entered after
// `Isa::Neon.check()` (or a better path) succeeded.
unsafe impl Dot16 for Widen {
    #[inline(always)]
    unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
        vpadalq_s16(acc, vmull_high_s8(a, b))
    }
}

/// The `dotprod` extension's `sdot`.
#[derive(Clone, Copy)]
pub(crate) struct Sdot;

// SAFETY: reached only through `gemv_sdot`/`gemm_sdot` (`neon,dotprod` enabled), entered after
// `Isa::NeonDot.check()` succeeded, so the CPU executes `sdot`.
unsafe impl Dot16 for Sdot {
    #[inline(always)]
    unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: register-only instruction (no memory, stack or flags touched); the CPU has
        // `dotprod` (see above).
        std::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }
}

/// Batch 1: `out[j] = Σ_t a[t]·b[r0 + j, t]`, four weight rows at a time.
///
/// # Safety
/// The CPU supports `P`; `a.len() == k`, `b` holds rows `r0..r0 + out.len()` of `k` bytes.
#[inline(always)]
unsafe fn gemv<P: Dot16>(a: &[i8], b: &[i8], k: usize, r0: usize, out: &mut [i32]) {
    let kv = k - k % STEP;
    let ap = a.as_ptr();
    let quads = out.len() / 4;
    for q in 0..quads {
        let j = 4 * q;
        let blk = &b[(r0 + j) * k..(r0 + j + 4) * k];
        let bp = blk.as_ptr();
        let rp = [bp, bp.add(k), bp.add(2 * k), bp.add(3 * k)];
        let mut acc = [vdupq_n_s32(0); 4];
        let mut t = 0;
        while t < kv {
            let av = vld1q_s8(ap.add(t));
            for r in 0..4 {
                acc[r] = P::dot16(acc[r], av, vld1q_s8(rp[r].add(t)));
            }
            t += STEP;
        }
        for r in 0..4 {
            let row = &blk[r * k..(r + 1) * k];
            out[j + r] = vaddvq_s32(acc[r]).wrapping_add(tail(&a[kv..], &row[kv..]));
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * quads) {
        let row = &b[(r0 + j) * k..(r0 + j + 1) * k];
        let bp = row.as_ptr();
        let (mut acc, mut acc2) = (vdupq_n_s32(0), vdupq_n_s32(0));
        let mut t = 0;
        while t + 2 * STEP <= kv {
            acc = P::dot16(acc, vld1q_s8(ap.add(t)), vld1q_s8(bp.add(t)));
            acc2 = P::dot16(acc2, vld1q_s8(ap.add(t + STEP)), vld1q_s8(bp.add(t + STEP)));
            t += 2 * STEP;
        }
        if t < kv {
            acc = P::dot16(acc, vld1q_s8(ap.add(t)), vld1q_s8(bp.add(t)));
        }
        *o = vaddvq_s32(vaddq_s32(acc, acc2)).wrapping_add(tail(&a[kv..], &row[kv..]));
    }
}

/// Activation rows per batch-N tile.
const MR: usize = 4;

/// Batch N: `out_t[j·m + i] = Σ_t a[i, t]·b[r0 + j, t]` for the `out_t.len() / m` weight rows
/// of the block, in tiles of [`MR`] activation rows × 4 weight rows (16 accumulators).
///
/// # Safety
/// The CPU supports `P`; `a.len() == m·k`, `b` holds the block's rows of `k` bytes,
/// `out_t.len()` a multiple of `m`.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn gemm<P: Dot16>(a: &[i8], m: usize, b: &[i8], k: usize, r0: usize, out_t: &mut [i32]) {
    let rows = out_t.len() / m.max(1);
    let kv = k - k % STEP;
    let ap = a.as_ptr();
    for j0 in (0..rows).step_by(4) {
        let nr = (rows - j0).min(4);
        let blk = &b[(r0 + j0) * k..(r0 + j0 + nr) * k];
        // Missing rows of a partial tile repeat row 0; their results are dropped.
        let bp: [*const i8; 4] =
            std::array::from_fn(|j| blk.as_ptr().add(if j < nr { j * k } else { 0 }));
        let mut i0 = 0;
        while i0 < m {
            let mr = (m - i0).min(MR);
            let ar: [*const i8; MR] =
                std::array::from_fn(|i| ap.add(if i < mr { (i0 + i) * k } else { i0 * k }));
            let mut acc = [[vdupq_n_s32(0); 4]; MR];
            let mut t = 0;
            while t < kv {
                let bv = [
                    vld1q_s8(bp[0].add(t)),
                    vld1q_s8(bp[1].add(t)),
                    vld1q_s8(bp[2].add(t)),
                    vld1q_s8(bp[3].add(t)),
                ];
                for i in 0..MR {
                    let av = vld1q_s8(ar[i].add(t));
                    for j in 0..4 {
                        acc[i][j] = P::dot16(acc[i][j], av, bv[j]);
                    }
                }
                t += STEP;
            }
            for i in 0..mr {
                let arow = &a[(i0 + i) * k..(i0 + i + 1) * k];
                for j in 0..nr {
                    let brow = &blk[j * k..(j + 1) * k];
                    let v = vaddvq_s32(acc[i][j]);
                    out_t[(j0 + j) * m + i0 + i] = v.wrapping_add(tail(&arow[kv..], &brow[kv..]));
                }
            }
            i0 += MR;
        }
    }
}

macro_rules! int8_wrappers {
    ($gemv:ident, $gemm:ident, $feat:literal, $P:ty) => {
        /// Batch-1 int8 block; see [`gemv`].
        ///
        /// # Safety
        /// The CPU has the path's features; the lengths of [`gemv`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $gemv(a: &[i8], b: &[i8], k: usize, r0: usize, out: &mut [i32]) {
            gemv::<$P>(a, b, k, r0, out)
        }

        /// Batch-N int8 block; see [`gemm`].
        ///
        /// # Safety
        /// The CPU has the path's features; the lengths of [`gemm`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $gemm(
            a: &[i8],
            m: usize,
            b: &[i8],
            k: usize,
            r0: usize,
            out_t: &mut [i32],
        ) {
            gemm::<$P>(a, m, b, k, r0, out_t)
        }
    };
}

int8_wrappers!(gemv_neon, gemm_neon, "neon", Widen);
int8_wrappers!(gemv_sdot, gemm_sdot, "neon,dotprod", Sdot);
