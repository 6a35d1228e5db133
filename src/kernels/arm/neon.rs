//! The NEON float path (4 f32 lanes, 128-bit `float32x4_t`).
//!
//! NEON has no masked loads or stores: partial loads and stores go through a 4-lane stack
//! buffer.
//! f16 is converted with integer operations (exact for every value, subnormals included), so
//! the path needs only the baseline `neon` feature, not `fp16`.

use std::arch::aarch64::*;

use crate::kernels::simd::Simd;

/// The NEON vector type.
#[derive(Clone, Copy)]
pub(crate) struct Neon;

/// `2¹¹²`: rebiases an f16 exponent (bias 15) moved into f32 position to the f32 bias (127).
const F16_REBIAS: f32 = f32::from_bits((127 + 112) << 23);

/// Four u32 lanes of f16 bit patterns (upper halves zero) as f32: the magnitude shifted into
/// f32 position and multiplied by [`F16_REBIAS`] (exact for normals and subnormals), the
/// exponent forced to all ones for infinities and NaNs (which land at `≥ 2¹⁶`), the sign put
/// back.
///
/// # Safety
/// The CPU has NEON.
#[inline(always)]
unsafe fn f16_bits_to_f32(h: uint32x4_t) -> float32x4_t {
    let sign = vshlq_n_u32::<16>(vandq_u32(h, vdupq_n_u32(0x8000)));
    let mag = vshlq_n_u32::<13>(vandq_u32(h, vdupq_n_u32(0x7fff)));
    let f = vmulq_f32(vreinterpretq_f32_u32(mag), vdupq_n_f32(F16_REBIAS));
    let special = vcgeq_f32(f, vdupq_n_f32(65536.0));
    let bits = vorrq_u32(
        vreinterpretq_u32_f32(f),
        vandq_u32(special, vdupq_n_u32(0x7f80_0000)),
    );
    vreinterpretq_f32_u32(vorrq_u32(bits, sign))
}

/// Four bytes at `p` in the low half of a 64-bit vector (the high half zero).
///
/// # Safety
/// The CPU has NEON; `p` is valid for 4 bytes.
#[inline(always)]
unsafe fn load4_u8(p: *const u8) -> uint8x8_t {
    vcreate_u8(u64::from(p.cast::<u32>().read_unaligned()))
}

// SAFETY: every method is only reached through the `#[target_feature(enable = "neon")]`
// wrappers below, which callers enter after `Isa::Neon.check()` succeeded; pointer validity is
// the documented precondition of each trait method, and the stack-buffer copies never read or
// write more than `count ≤ 4` elements of the caller's memory.
unsafe impl Simd for Neon {
    const LANES: usize = 4;
    type V = float32x4_t;

    #[inline(always)]
    unsafe fn zero() -> float32x4_t {
        vdupq_n_f32(0.0)
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> float32x4_t {
        vdupq_n_f32(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        vld1q_f32(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: float32x4_t) {
        vst1q_f32(p, v)
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: float32x4_t, count: usize) {
        let mut buf = [0.0f32; 4];
        vst1q_f32(buf.as_mut_ptr(), v);
        std::ptr::copy_nonoverlapping(buf.as_ptr(), p, count.min(4));
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> float32x4_t {
        f16_bits_to_f32(vmovl_u16(vld1_u16(p)))
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> float32x4_t {
        vreinterpretq_f32_u32(vshlq_n_u32::<16>(vmovl_u16(vld1_u16(p))))
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> float32x4_t {
        let b = vreinterpret_s8_u8(load4_u8(p.cast()));
        vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b))))
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, count: usize) -> float32x4_t {
        let mut buf = [0.0f32; 4];
        std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), count.min(4));
        vld1q_f32(buf.as_ptr())
    }
    #[inline(always)]
    unsafe fn load_u4(p: *const u8) -> (float32x4_t, float32x4_t) {
        let b = load4_u8(p);
        let lo = vand_u8(b, vdup_n_u8(0x0f));
        let hi = vshr_n_u8::<4>(b);
        // Bytes in column order: low nibble of byte i, then its high nibble.
        let c = vmovl_u8(vzip1_u8(lo, hi));
        let a = vcvtq_f32_u32(vmovl_u16(vget_low_u16(c)));
        let d = vcvtq_f32_u32(vmovl_u16(vget_high_u16(c)));
        (a, d)
    }
    #[inline(always)]
    unsafe fn load_u4_split(p: *const u8) -> (float32x4_t, float32x4_t) {
        let v = vmovl_u16(vget_low_u16(vmovl_u8(load4_u8(p))));
        let lo = vandq_u32(v, vdupq_n_u32(0x0f));
        let hi = vshrq_n_u32::<4>(v);
        (vcvtq_f32_u32(lo), vcvtq_f32_u32(hi))
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const u8) {
        // No stable prefetch intrinsic on aarch64 (`_prefetch` is unstable): a hint only, so
        // leaving it out changes no result.
        let _ = p;
    }
    #[inline(always)]
    unsafe fn fmadd(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // vfmaq_f32(c, a, b) = c + a·b, fused.
        vfmaq_f32(c, a, b)
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vaddq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vsubq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vmulq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn hsum(v: float32x4_t) -> f32 {
        vaddvq_f32(v)
    }
}

crate::kernels::wrappers::float_wrappers!("neon", Neon, 4);
crate::kernels::wrappers::q4_split_wrapper!("neon", Neon);

#[cfg(test)]
mod tests {
    use half::{bf16, f16};

    use super::*;
    use crate::kernels::Isa;

    fn lanes(v: float32x4_t) -> [f32; 4] {
        let mut out = [0.0f32; 4];
        // SAFETY: NEON is available (asserted by the callers via `Isa::Neon.check()`); `out`
        // holds 4 floats.
        unsafe { vst1q_f32(out.as_mut_ptr(), v) };
        out
    }

    #[test]
    fn neon_is_detected_and_best() {
        assert!(Isa::Neon.is_available());
        let dot = std::arch::is_aarch64_feature_detected!("dotprod");
        assert_eq!(Isa::NeonDot.is_available(), dot);
        let best = if dot { Isa::NeonDot } else { Isa::Neon };
        assert_eq!(Isa::best(), best);
        let mut want = vec![Isa::Scalar, Isa::Neon];
        want.extend(dot.then_some(Isa::NeonDot));
        assert_eq!(Isa::available(), want);
    }

    #[test]
    fn f16_conversion_matches_half_on_every_bit_pattern() {
        Isa::Neon.check().unwrap();
        let all: Vec<u16> = (0..=u16::MAX).collect();
        for c in all.chunks_exact(4) {
            // SAFETY: NEON checked; `c` holds 4 values.
            let got = lanes(unsafe { Neon::load_f16(c.as_ptr()) });
            for (&g, &h) in got.iter().zip(c) {
                let want = f16::from_bits(h).to_f32();
                if want.is_nan() {
                    assert!(g.is_nan(), "{h:#06x}: {g}");
                } else {
                    assert_eq!(g.to_bits(), want.to_bits(), "{h:#06x}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn bf16_i8_and_nibble_loads_match_scalar() {
        Isa::Neon.check().unwrap();
        let bits: [u16; 4] = [0x3f80, 0xc2f7, 0x0001, 0x7f80];
        // SAFETY: NEON checked; every pointer below is valid for the lanes read.
        unsafe {
            let want: Vec<f32> = bits.iter().map(|&b| bf16::from_bits(b).to_f32()).collect();
            assert_eq!(lanes(Neon::load_bf16(bits.as_ptr())).to_vec(), want);
            let q: [i8; 4] = [-128, -1, 0, 127];
            assert_eq!(lanes(Neon::load_i8(q.as_ptr())), [-128.0, -1.0, 0.0, 127.0]);
            let p: [u8; 4] = [0x10, 0x32, 0x54, 0xf6];
            let (a, b) = Neon::load_u4(p.as_ptr());
            assert_eq!(lanes(a), [0.0, 1.0, 2.0, 3.0]);
            assert_eq!(lanes(b), [4.0, 5.0, 6.0, 15.0]);
            let (lo, hi) = Neon::load_u4_split(p.as_ptr());
            assert_eq!(lanes(lo), [0.0, 2.0, 4.0, 6.0]);
            assert_eq!(lanes(hi), [1.0, 3.0, 5.0, 15.0]);
        }
    }

    #[test]
    fn partial_loads_and_stores_stay_in_bounds() {
        Isa::Neon.check().unwrap();
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        // SAFETY: NEON checked; each call reads or writes at most `count` elements.
        unsafe {
            assert_eq!(
                lanes(Neon::load_partial(x.as_ptr(), 3)),
                [1.0, 2.0, 3.0, 0.0]
            );
            let mut dst = [9.0f32; 4];
            Neon::store_partial(dst.as_mut_ptr(), Neon::splat(7.0), 2);
            assert_eq!(dst, [7.0, 7.0, 9.0, 9.0]);
            let v = Neon::fmadd(Neon::splat(2.0), Neon::load(x.as_ptr()), Neon::splat(1.0));
            assert_eq!(lanes(v), [3.0, 5.0, 7.0, 9.0]);
            assert_eq!(Neon::hsum(v), 24.0);
        }
    }
}
