//! The AVX2 + FMA + F16C float path (8 f32 lanes).

use std::arch::x86_64::*;

use crate::kernels::simd::Simd;

/// The AVX2 vector type.
#[derive(Clone, Copy)]
pub(crate) struct Avx2;

// SAFETY: every method is only reached through the `#[target_feature]` wrappers below, which
// callers enter after `Isa::Avx2.check()` (or a better path) succeeded; pointer validity is the
// documented precondition of each trait method.
unsafe impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;

    #[inline(always)]
    unsafe fn zero() -> __m256 {
        _mm256_setzero_ps()
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        _mm256_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, v: __m256, count: usize) {
        _mm256_maskstore_ps(p, lanes_below(count), v)
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.cast()))
    }
    #[inline(always)]
    unsafe fn load_bf16(p: *const u16) -> __m256 {
        let w = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast()));
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(w))
    }
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast())))
    }
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, count: usize) -> __m256 {
        _mm256_maskload_ps(p, lanes_below(count))
    }
    #[inline(always)]
    unsafe fn load_u4(p: *const u8) -> (__m256, __m256) {
        let b = _mm_loadl_epi64(p.cast());
        let m = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(b, m);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(b), m);
        // Bytes in column order: low nibble of byte i, then its high nibble.
        let c = _mm_unpacklo_epi8(lo, hi);
        let a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(c));
        let d = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(c)));
        (a, d)
    }
    #[inline(always)]
    unsafe fn load_u4_split(p: *const u8) -> (__m256, __m256) {
        let v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast()));
        let lo = _mm256_and_si256(v, _mm256_set1_epi32(0x0F));
        let hi = _mm256_srli_epi32::<4>(v);
        (_mm256_cvtepi32_ps(lo), _mm256_cvtepi32_ps(hi))
    }
    #[inline(always)]
    unsafe fn prefetch(p: *const u8) {
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }
}

/// All-ones in the first `count` (≤ 8) 32-bit lanes, zeros after.
///
/// # Safety
/// The CPU has AVX2.
#[inline(always)]
unsafe fn lanes_below(count: usize) -> __m256i {
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(count.min(8) as i32), lanes)
}

crate::kernels::x86::float_wrappers!("avx2,fma,f16c", Avx2, 2);
crate::kernels::wrappers::q4_split_wrapper!("avx2,fma,f16c", Avx2);
