//! The thin `#[target_feature]` wrappers shared by the SIMD paths of every architecture
//! (`x86/avx2.rs`, `x86/avx512.rs`, `arm/neon.rs`): one macro invocation per path instantiates
//! the generic float bodies with the path's vector type and features.

/// The thin `#[target_feature]` wrappers of one float path: each instantiates a generic body of
/// [`crate::kernels::blocks`] (or the sparse bodies) with the path's vector type.
macro_rules! float_wrappers {
    ($feat:literal, $S:ty, $MR:literal) => {
        use half::{bf16, f16};

        use crate::kernels::blocks::{self, Q4, Q8};
        use crate::kernels::simd::Acts;
        use crate::kernels::sparse as sp;

        /// Batch-1 f32/f16/bf16 block; see [`blocks::gemv_t`].
        ///
        /// # Safety
        /// The CPU has this path's features; the lengths of [`blocks::gemv_t`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemv_f32(x: &[f32], w: &[f32], cols: usize, r0: usize, o: &mut [f32]) {
            blocks::gemv_t::<$S, f32>(x, w, cols, r0, o)
        }

        /// # Safety
        /// As [`gemv_f32`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemv_f16(x: &[f32], w: &[f16], cols: usize, r0: usize, o: &mut [f32]) {
            blocks::gemv_t::<$S, f16>(x, w, cols, r0, o)
        }

        /// # Safety
        /// As [`gemv_f32`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemv_bf16(
            x: &[f32],
            w: &[bf16],
            cols: usize,
            r0: usize,
            o: &mut [f32],
        ) {
            blocks::gemv_t::<$S, bf16>(x, w, cols, r0, o)
        }

        /// Batch-N f32 block; see [`blocks::gemm_t`].
        ///
        /// # Safety
        /// The CPU has this path's features; the lengths of [`blocks::gemm_t`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemm_f32(
            a: Acts<'_>,
            w: &[f32],
            cols: usize,
            r0: usize,
            o: &mut [f32],
        ) {
            blocks::gemm_t::<$S, $MR, f32>(a, w, cols, r0, o)
        }

        /// # Safety
        /// As [`gemm_f32`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemm_f16(
            a: Acts<'_>,
            w: &[f16],
            cols: usize,
            r0: usize,
            o: &mut [f32],
        ) {
            blocks::gemm_t::<$S, $MR, f16>(a, w, cols, r0, o)
        }

        /// # Safety
        /// As [`gemm_f32`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemm_bf16(
            a: Acts<'_>,
            w: &[bf16],
            cols: usize,
            r0: usize,
            o: &mut [f32],
        ) {
            blocks::gemm_t::<$S, $MR, bf16>(a, w, cols, r0, o)
        }

        /// # Safety
        /// The CPU has this path's features; the lengths of [`blocks::gemv_q8`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemv_q8(x: &[f32], m: Q8<'_>, r0: usize, o: &mut [f32]) {
            blocks::gemv_q8::<$S>(x, m, r0, o)
        }

        /// # Safety
        /// The CPU has this path's features; the lengths of [`blocks::gemm_q8`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemm_q8(a: Acts<'_>, m: Q8<'_>, r0: usize, o: &mut [f32]) {
            blocks::gemm_q8::<$S, $MR>(a, m, r0, o)
        }

        /// # Safety
        /// The CPU has this path's features; the lengths of [`blocks::gemm_q4`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemm_q4(a: Acts<'_>, m: Q4<'_>, r0: usize, o: &mut [f32]) {
            blocks::gemm_q4::<$S, $MR>(a, m, r0, o)
        }

        /// Sparse rows with f32 values; see [`sp::csr_rows`].
        ///
        /// # Safety
        /// The CPU has this path's features; the structure checks of [`sp::csr_rows`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn csr_f32(m: sp::Csr<'_, f32>, x: &[f32], r0: usize, o: &mut [f32]) {
            sp::csr_rows::<f32>(m, x, r0, o)
        }

        /// Sparse rows with int8 values; see [`sp::csr_rows`].
        ///
        /// # Safety
        /// As [`csr_f32`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn csr_i8(m: sp::Csr<'_, i8>, x: &[f32], r0: usize, o: &mut [f32]) {
            sp::csr_rows::<i8>(m, x, r0, o)
        }

        /// Sum of a buffer (the read-bandwidth probe).
        ///
        /// # Safety
        /// The CPU has this path's features.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn sum(x: &[f32]) -> f32 {
            crate::kernels::simd::sum::<$S>(x)
        }
    };
}
pub(crate) use float_wrappers;

/// The wrapper of the generic int4 × f32 batch-1 block, for the paths without a dedicated one
/// (AVX-512 has `x86::int4`).
macro_rules! q4_split_wrapper {
    ($feat:literal, $S:ty) => {
        /// # Safety
        /// The CPU has this path's features; the lengths of
        /// [`crate::kernels::blocks::gemv_q4`].
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn gemv_q4(
            xs: &[f32],
            gsum: &[f32],
            m: crate::kernels::blocks::Q4<'_>,
            r0: usize,
            o: &mut [f32],
        ) {
            crate::kernels::blocks::gemv_q4::<$S>(xs, gsum, m, r0, o)
        }
    };
}
pub(crate) use q4_split_wrapper;
