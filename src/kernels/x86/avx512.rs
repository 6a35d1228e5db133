//! The AVX-512 F/BW/VL float path (16 f32 lanes).

use std::arch::x86_64::*;

use crate::kernels::simd::Simd;

/// The AVX-512 vector type.
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

// SAFETY: every method is only reached through the `#[target_feature]` wrappers below, which
// callers enter after `Isa::Avx512.check()` (or a better path) succeeded; pointer validity is
// the documented precondition of each trait method.
unsafe impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;

    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m512 {
        _mm512_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m512, count: usize) {
        _mm512_mask_storeu_ps(p, mask16(count), v)
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()))
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> __m512 {
        let w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast()));
        _mm512_castsi512_ps(_mm512_slli_epi32::<16>(w))
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> __m512 {
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast())))
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, count: usize) -> __m512 {
        _mm512_maskz_loadu_ps(mask16(count), p)
    }
    #[inline(always)]
    unsafe fn load_u4(p: *const u8) -> (__m512, __m512) {
        let b = _mm_loadu_si128(p.cast());
        let m = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(b, m);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(b), m);
        let a = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi)));
        let d = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpackhi_epi8(lo, hi)));
        (a, d)
    }
    // (The int4 batch-1 path on AVX-512 is `x86::int4`'s table kernel; the trait's int4 and
    // prefetch methods stay for the generic bodies.)
    #[inline(always)]
    unsafe fn load_u4_split(p: *const u8) -> (__m512, __m512) {
        let v = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast()));
        let lo = _mm512_and_si512(v, _mm512_set1_epi32(0x0F));
        let hi = _mm512_srli_epi32::<4>(v);
        (_mm512_cvtepi32_ps(lo), _mm512_cvtepi32_ps(hi))
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn hsum(v: __m512) -> f32 {
        _mm512_reduce_add_ps(v)
    }
}

/// The lane mask of the first `count` (capped at 16) lanes.
#[inline(always)]
pub(crate) fn mask16(count: usize) -> u16 {
    ((1u32 << count.min(16)) - 1) as u16
}

crate::kernels::x86::float_wrappers!("avx512f,avx512bw,avx512vl,avx2,fma,f16c", Avx512, 4);
