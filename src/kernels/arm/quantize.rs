//! NEON bodies of [`crate::kernels::quantize`]: the finite range of a row and the exact int8
//! quantizer. NEON rounds half away from zero in one instruction (`frinta`, `vrndaq_f32`), the
//! rounding of the scalar `f32::round`; the quotient is an IEEE division, the clamp happens in
//! f32 before the (then exact) conversion, and a NaN or infinite input is reported (the caller
//! returns `Error::NonFinite`).

use std::arch::aarch64::*;

use crate::kernels::quantize::quantize_one;

/// `(min(0, x…), max(0, x…))`, or `None` if a value is not finite; 4 lanes, the tail scalar.
///
/// # Safety
/// The CPU has NEON.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn range_neon(x: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
    let inf = vdupq_n_f32(f32::INFINITY);
    // All ones while every lane seen so far was finite (|v| < ∞ is false for ±∞ and NaN).
    let mut ok = vdupq_n_u32(u32::MAX);
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let v = vld1q_f32(c.as_ptr());
        lo = vminq_f32(lo, v);
        hi = vmaxq_f32(hi, v);
        ok = vandq_u32(ok, vcltq_f32(vabsq_f32(v), inf));
    }
    let mut finite = vminvq_u32(ok) != 0;
    let (mut lo, mut hi) = (vminvq_f32(lo), vmaxvq_f32(hi));
    for &v in rest {
        finite &= v.is_finite();
        lo = lo.min(v);
        hi = hi.max(v);
    }
    finite.then_some((lo, hi))
}

/// `out = clamp(round(x/scale) + zero, −128, 127)`, 8 lanes per step, the tail scalar. Returns
/// `false` (codes unspecified) if a value of `x` is not finite.
///
/// # Safety
/// The CPU has NEON; `out.len() == x.len()`.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn quantize_neon(x: &[f32], scale: f32, zero: i32, out: &mut [i8]) -> bool {
    let inf = vdupq_n_f32(f32::INFINITY);
    // All ones while every lane seen so far was finite (|v| < ∞ is false for ±∞ and NaN).
    let mut ok = vdupq_n_u32(u32::MAX);
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    let body = x.len() - rest.len();
    for (c, oc) in chunks.zip(out.chunks_exact_mut(8)) {
        let (xa, xb) = (vld1q_f32(c.as_ptr()), vld1q_f32(c.as_ptr().add(4)));
        ok = vandq_u32(ok, vcltq_f32(vabsq_f32(xa), inf));
        ok = vandq_u32(ok, vcltq_f32(vabsq_f32(xb), inf));
        let a = quantize4(xa, scale, zero);
        let b = quantize4(xb, scale, zero);
        // Values are already in [−128, 127]: the narrowing moves only drop zero bits.
        let w = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
        vst1_s8(oc.as_mut_ptr(), vmovn_s16(w));
    }
    let mut finite = vminvq_u32(ok) != 0;
    for (o, &v) in out[body..].iter_mut().zip(rest) {
        finite &= v.is_finite();
        *o = quantize_one(v, scale, zero);
    }
    finite
}

/// Four codes of [`quantize_neon`] as i32 lanes in `[−128, 127]`.
///
/// # Safety
/// The CPU has NEON.
#[inline(always)]
unsafe fn quantize4(x: float32x4_t, scale: f32, zero: i32) -> int32x4_t {
    let r = vrndaq_f32(vdivq_f32(x, vdupq_n_f32(scale)));
    // NaN → 0 (the scalar `NaN as i32`), so the code is `zero`.
    let r = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(r), vceqq_f32(r, r)));
    let y = vaddq_f32(r, vdupq_n_f32(zero as f32));
    let y = vminq_f32(vmaxq_f32(y, vdupq_n_f32(-128.0)), vdupq_n_f32(127.0));
    vcvtq_s32_f32(y)
}
