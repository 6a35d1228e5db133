//! x86_64 paths: [`avx2`] (AVX2 + FMA + F16C, 256-bit) and [`avx512`] (AVX-512 F/BW/VL,
//! 512-bit) implement the float vector trait; [`int8`] holds the int8 × int8 kernels
//! (`vpmaddwd`, AVX-VNNI and AVX-512-VNNI `vpdpbusd`), [`int4`] the AVX-512 int4 × f32 batch-1
//! kernel (table lookup), [`w4a8`] int4 × int8, [`sparse_packed`] the packed sparse layout.
//!
//! Every function here is `unsafe` for one reason: it is compiled with CPU features the caller
//! must have checked ([`crate::kernels::Isa::check`]); slice lengths are the callers' checks,
//! documented per function.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod int4;
pub(crate) mod int8;
pub(crate) mod quantize;
pub(crate) mod sparse_packed;
pub(crate) mod w4a8;

/// The shared wrapper macro ([`crate::kernels::wrappers`]), under the name the x86 paths use.
pub(crate) use crate::kernels::wrappers::float_wrappers;
