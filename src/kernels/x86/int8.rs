//! int8 × int8 → i32 kernels, exact.
//!
//! - `vpmaddwd` (AVX2): both operands widened to i16, products summed in pairs into i32 —
//!   exact, no saturation (unlike `vpmaddubsw`, whose i16 pair sums saturate).
//! - `vpdpbusd` (AVX-VNNI 256-bit, AVX-512-VNNI 512-bit): u8 × s8 in groups of four into i32.
//!   Activations enter as `a + 128 ∈ [0, 255]` (the caller flips their sign bit), so the
//!   kernel computes `Σ (a+128)·b = Σ a·b + 128·Σ b` and subtracts `128·Σ b`, with `Σ b`
//!   accumulated by the same instruction against a vector of ones. Lane sums wrap modulo 2³²;
//!   the true result fits in i32 (`k < MAX_I8_DOT_LEN`), so the wrapped difference is exact.
//!
//! Vector steps cover the first `k − k % STEP` columns; the rest is a scalar tail on the
//! original signed activations.

use std::arch::x86_64::*;

// Scalar `Σ a·b` over a tail: the scalar reference's dot product.
use crate::kernels::int8::dot_i8_unchecked as tail;
use crate::kernels::passes::{offset, pass_rows};

/// The operations of one int8 path.
///
/// # Safety
/// Methods may only run on a CPU with the path's features; pointers must be valid for `STEP`
/// bytes.
pub(crate) unsafe trait I8Path: Copy {
    /// Bytes per vector step.
    const STEP: usize;
    /// Whether activations enter biased by +128 (u8), with the `128·Σ b` correction.
    const BIASED: bool;
    type V: Copy;
    unsafe fn zero() -> Self::V;
    /// One step of activations (u8 if `BIASED`, else i8).
    unsafe fn load_a(p: *const u8) -> Self::V;
    /// One step of weights (i8).
    unsafe fn load_b(p: *const i8) -> Self::V;
    /// A vector of u8 ones (for `Σ b` when biased).
    unsafe fn ones() -> Self::V;
    /// `acc + Σ a·b` per i32 lane.
    unsafe fn dot(acc: Self::V, a: Self::V, b: Self::V) -> Self::V;
    /// Wrapping sum of the i32 lanes.
    unsafe fn hsum(v: Self::V) -> i32;
    /// The wrapping lane sums of four vectors, reduced together (cheaper than four
    /// [`I8Path::hsum`]s).
    unsafe fn hsum4(v: [Self::V; 4]) -> [i32; 4];
    /// `a − b` per i32 lane (wrapping).
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `128·v` per i32 lane (wrapping).
    unsafe fn times128(v: Self::V) -> Self::V;
}

/// AVX2 `vpmaddwd` on i16-widened bytes, 16 per step.
#[derive(Clone, Copy)]
pub(crate) struct Madd;

// SAFETY: reached only through `gemv_madd`/`gemm_madd`, entered after `Isa::check` found AVX2.
unsafe impl I8Path for Madd {
    const STEP: usize = 16;
    const BIASED: bool = false;
    type V = __m256i;
    #[inline(always)]
    unsafe fn zero() -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline(always)]
    unsafe fn load_a(p: *const u8) -> __m256i {
        _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()))
    }
    #[inline(always)]
    unsafe fn load_b(p: *const i8) -> __m256i {
        _mm256_cvtepi8_epi16(_mm_loadu_si128(p.cast()))
    }
    #[inline(always)]
    unsafe fn ones() -> __m256i {
        _mm256_set1_epi16(1)
    }
    #[inline(always)]
    unsafe fn dot(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
    }
    #[inline(always)]
    unsafe fn hsum(v: __m256i) -> i32 {
        hsum256(v)
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m256i; 4]) -> [i32; 4] {
        let [a, b, c, d] = v;
        hadd4([half256(a), half256(b), half256(c), half256(d)])
    }
    #[inline(always)]
    unsafe fn sub(a: __m256i, b: __m256i) -> __m256i {
        _mm256_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn times128(v: __m256i) -> __m256i {
        _mm256_slli_epi32::<7>(v)
    }
}

/// The two 256-bit halves of `v` added (i32 lanes, wrapping).
#[inline(always)]
unsafe fn half512(v: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v))
}

/// The two 128-bit halves of `v` added (i32 lanes, wrapping).
#[inline(always)]
unsafe fn half256(v: __m256i) -> __m128i {
    _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
}

/// `[Σ v0, Σ v1, Σ v2, Σ v3]` of four 4-lane vectors by three horizontal adds (wrapping).
#[inline(always)]
unsafe fn hadd4(v: [__m128i; 4]) -> [i32; 4] {
    let [a, b, c, d] = v;
    let r = _mm_hadd_epi32(_mm_hadd_epi32(a, b), _mm_hadd_epi32(c, d));
    let mut out = [0i32; 4];
    _mm_storeu_si128(out.as_mut_ptr().cast(), r);
    out
}

#[inline(always)]
unsafe fn hsum256(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// AVX-VNNI 256-bit `vpdpbusd`, 32 bytes per step.
#[derive(Clone, Copy)]
pub(crate) struct Vnni256;

// SAFETY: reached only through the `vnni256` wrappers, entered after `Isa::AvxVnni.check()`.
unsafe impl I8Path for Vnni256 {
    const STEP: usize = 32;
    const BIASED: bool = true;
    type V = __m256i;
    #[inline(always)]
    unsafe fn zero() -> __m256i {
        _mm256_setzero_si256()
    }
    #[inline(always)]
    unsafe fn load_a(p: *const u8) -> __m256i {
        _mm256_loadu_si256(p.cast())
    }
    #[inline(always)]
    unsafe fn load_b(p: *const i8) -> __m256i {
        _mm256_loadu_si256(p.cast())
    }
    #[inline(always)]
    unsafe fn ones() -> __m256i {
        _mm256_set1_epi8(1)
    }
    #[inline(always)]
    unsafe fn dot(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
        _mm256_dpbusd_avx_epi32(acc, a, b)
    }
    #[inline(always)]
    unsafe fn hsum(v: __m256i) -> i32 {
        hsum256(v)
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m256i; 4]) -> [i32; 4] {
        let [a, b, c, d] = v;
        hadd4([half256(a), half256(b), half256(c), half256(d)])
    }
    #[inline(always)]
    unsafe fn sub(a: __m256i, b: __m256i) -> __m256i {
        _mm256_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn times128(v: __m256i) -> __m256i {
        _mm256_slli_epi32::<7>(v)
    }
}

/// AVX-512-VNNI `vpdpbusd`, 64 bytes per step.
#[derive(Clone, Copy)]
pub(crate) struct Vnni512;

// SAFETY: reached only through the `vnni512` wrappers, entered after
// `Isa::Avx512Vnni.check()`.
unsafe impl I8Path for Vnni512 {
    const STEP: usize = 64;
    const BIASED: bool = true;
    type V = __m512i;
    #[inline(always)]
    unsafe fn zero() -> __m512i {
        _mm512_setzero_si512()
    }
    #[inline(always)]
    unsafe fn load_a(p: *const u8) -> __m512i {
        _mm512_loadu_si512(p.cast())
    }
    #[inline(always)]
    unsafe fn load_b(p: *const i8) -> __m512i {
        _mm512_loadu_si512(p.cast())
    }
    #[inline(always)]
    unsafe fn ones() -> __m512i {
        _mm512_set1_epi8(1)
    }
    #[inline(always)]
    unsafe fn dot(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
        _mm512_dpbusd_epi32(acc, a, b)
    }
    #[inline(always)]
    unsafe fn hsum(v: __m512i) -> i32 {
        _mm512_reduce_add_epi32(v)
    }
    #[inline(always)]
    unsafe fn hsum4(v: [__m512i; 4]) -> [i32; 4] {
        let [a, b, c, d] = v;
        hadd4([
            half256(half512(a)),
            half256(half512(b)),
            half256(half512(c)),
            half256(half512(d)),
        ])
    }
    #[inline(always)]
    unsafe fn sub(a: __m512i, b: __m512i) -> __m512i {
        _mm512_sub_epi32(a, b)
    }
    #[inline(always)]
    unsafe fn times128(v: __m512i) -> __m512i {
        _mm512_slli_epi32::<7>(v)
    }
}

/// `Σ b` over the vector part `[0, kv)` of a weight row, computed as the kernel sees it.
#[inline(always)]
unsafe fn vec_sum<P: I8Path>(b: *const i8, kv: usize) -> i32 {
    let ones = P::ones();
    let mut s = P::zero();
    let mut t = 0;
    while t < kv {
        s = P::dot(s, ones, P::load_b(b.add(t)));
        t += P::STEP;
    }
    P::hsum(s)
}

/// Batch 1: `out[j] = Σ_t a[t]·b[r0 + j, t]`. `au` is `a` with the sign bit flipped (only read
/// when `P::BIASED`).
///
/// # Safety
/// CPU supports `P`; `a.len() == k`, `au.len() == k` when biased, `b` holds rows
/// `r0..r0 + out.len()` of `k` bytes.
#[inline(always)]
pub(crate) unsafe fn gemv<P: I8Path>(
    a: &[i8],
    au: &[u8],
    b: &[i8],
    k: usize,
    r0: usize,
    out: &mut [i32],
) {
    let kv = k - k % P::STEP;
    let ap: *const u8 = if P::BIASED {
        au.as_ptr()
    } else {
        a.as_ptr().cast()
    };
    let ones = P::ones();
    // Four rows at a time, one per quarter of the block: each activation step feeds four
    // rows, and four weight streams far apart are in flight (what it takes to approach DRAM
    // bandwidth; see `passes`).
    let passes = out.len() / 4;
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let at = offset(rel, r0);
        let rows = [
            &b[at[0] * k..(at[0] + 1) * k],
            &b[at[1] * k..(at[1] + 1) * k],
            &b[at[2] * k..(at[2] + 1) * k],
            &b[at[3] * k..(at[3] + 1) * k],
        ];
        let rp = [
            rows[0].as_ptr(),
            rows[1].as_ptr(),
            rows[2].as_ptr(),
            rows[3].as_ptr(),
        ];
        let mut acc = [P::zero(); 4];
        let mut s = [P::zero(); 4];
        let mut t = 0;
        while t < kv {
            let av = P::load_a(ap.add(t));
            for r in 0..4 {
                // The same step of this stream's next row (the row of the next pass): short
                // rows outrun the hardware prefetcher. A prefetch never faults (wrapping
                // address).
                _mm_prefetch::<_MM_HINT_T0>(rp[r].wrapping_add(t + k).cast());
                let bv = P::load_b(rp[r].add(t));
                acc[r] = P::dot(acc[r], av, bv);
                if P::BIASED {
                    s[r] = P::dot(s[r], ones, bv);
                }
            }
            t += P::STEP;
        }
        // One reduction for the four rows, of `acc − 128·s` lane by lane (wrapping, exact
        // modulo 2³², like the sums themselves).
        let mut lanes = acc;
        if P::BIASED {
            for r in 0..4 {
                lanes[r] = P::sub(acc[r], P::times128(s[r]));
            }
        }
        let sums = P::hsum4(lanes);
        for r in 0..4 {
            out[rel[r]] = if kv < k {
                sums[r].wrapping_add(tail(&a[kv..], &rows[r][kv..]))
            } else {
                sums[r]
            };
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(4 * passes) {
        let row = &b[(r0 + j) * k..(r0 + j + 1) * k];
        let bp = row.as_ptr();
        let (mut acc, mut acc2, mut s) = (P::zero(), P::zero(), P::zero());
        let mut t = 0;
        while t + 2 * P::STEP <= kv {
            let (b0, b1) = (P::load_b(bp.add(t)), P::load_b(bp.add(t + P::STEP)));
            acc = P::dot(acc, P::load_a(ap.add(t)), b0);
            acc2 = P::dot(acc2, P::load_a(ap.add(t + P::STEP)), b1);
            if P::BIASED {
                s = P::dot(P::dot(s, ones, b0), ones, b1);
            }
            t += 2 * P::STEP;
        }
        if t < kv {
            let b0 = P::load_b(bp.add(t));
            acc = P::dot(acc, P::load_a(ap.add(t)), b0);
            if P::BIASED {
                s = P::dot(s, ones, b0);
            }
        }
        let mut v = P::hsum(acc).wrapping_add(P::hsum(acc2));
        if P::BIASED {
            v = v.wrapping_sub(P::hsum(s).wrapping_mul(128));
        }
        *o = if kv < k {
            v.wrapping_add(tail(&a[kv..], &row[kv..]))
        } else {
            v
        };
    }
}

/// Batch N: `out_t[j·m + i] = Σ_t a[i, t]·b[r0 + j, t]` for the `out_t.len() / m` weight rows
/// of the block, in tiles of `MR` activation rows × 4 weight rows.
///
/// # Safety
/// CPU supports `P`; `a.len() == m·k`, `au.len() == m·k` when biased, `b` holds the block's
/// rows of `k` bytes, `out_t.len()` a multiple of `m`.
#[inline(always)]
pub(crate) unsafe fn gemm<P: I8Path, const MR: usize>(
    a: &[i8],
    au: &[u8],
    m: usize,
    b: &[i8],
    k: usize,
    r0: usize,
    out_t: &mut [i32],
) {
    let rows = out_t.len() / m.max(1);
    let kv = k - k % P::STEP;
    let ap: *const u8 = if P::BIASED {
        au.as_ptr()
    } else {
        a.as_ptr().cast()
    };
    for j0 in (0..rows).step_by(4) {
        let nr = (rows - j0).min(4);
        let blk = &b[(r0 + j0) * k..(r0 + j0 + nr) * k];
        let bp: [*const i8; 4] =
            std::array::from_fn(|j| blk.as_ptr().add(if j < nr { j * k } else { 0 }));
        let mut sums = [0i32; 4];
        if P::BIASED {
            for (j, s) in sums.iter_mut().enumerate().take(nr) {
                *s = vec_sum::<P>(bp[j], kv).wrapping_mul(128);
            }
        }
        let mut i0 = 0;
        while i0 < m {
            let mr = (m - i0).min(MR);
            let ar: [*const u8; MR] =
                std::array::from_fn(|i| ap.add(if i < mr { (i0 + i) * k } else { i0 * k }));
            let mut acc = [[P::zero(); 4]; MR];
            let mut t = 0;
            while t < kv {
                let bv = [
                    P::load_b(bp[0].add(t)),
                    P::load_b(bp[1].add(t)),
                    P::load_b(bp[2].add(t)),
                    P::load_b(bp[3].add(t)),
                ];
                for i in 0..MR {
                    let av = P::load_a(ar[i].add(t));
                    for j in 0..4 {
                        acc[i][j] = P::dot(acc[i][j], av, bv[j]);
                    }
                }
                t += P::STEP;
            }
            for i in 0..mr {
                let arow = &a[(i0 + i) * k..(i0 + i + 1) * k];
                // The four weight rows' sums for activation row i, reduced together.
                let hs = P::hsum4(acc[i]);
                for j in 0..nr {
                    let brow = &blk[j * k..(j + 1) * k];
                    let v = hs[j].wrapping_sub(sums[j]);
                    out_t[(j0 + j) * m + i0 + i] = v.wrapping_add(tail(&arow[kv..], &brow[kv..]));
                }
            }
            i0 += MR;
        }
    }
}

macro_rules! int8_wrappers {
    ($gemv:ident, $gemm:ident, $feat:literal, $P:ty, $MR:literal) => {
        /// Batch-1 int8 block; see [`gemv`].
        ///
        /// # Safety
        /// The CPU has the path's features; the lengths of [`gemv`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $gemv(
            a: &[i8],
            au: &[u8],
            b: &[i8],
            k: usize,
            r0: usize,
            out: &mut [i32],
        ) {
            gemv::<$P>(a, au, b, k, r0, out)
        }

        /// Batch-N int8 block; see [`gemm`].
        ///
        /// # Safety
        /// The CPU has the path's features; the lengths of [`gemm`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $gemm(
            a: &[i8],
            au: &[u8],
            m: usize,
            b: &[i8],
            k: usize,
            r0: usize,
            out_t: &mut [i32],
        ) {
            gemm::<$P, $MR>(a, au, m, b, k, r0, out_t)
        }
    };
}

int8_wrappers!(gemv_madd, gemm_madd, "avx2", Madd, 2);
int8_wrappers!(gemv_vnni256, gemm_vnni256, "avx2,avxvnni", Vnni256, 2);
int8_wrappers!(
    gemv_vnni512,
    gemm_vnni512,
    "avx512f,avx512bw,avx512vnni",
    Vnni512,
    6
);
