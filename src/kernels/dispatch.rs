//! Run-time choice of the instruction set (matrixmultiply's practice): the CPU is probed once,
//! the best [`Isa`] is cached, and every public kernel runs on it. The `*_on` variants of the
//! kernels take an [`Isa`] explicitly, so tests and benchmarks can run every path the host
//! has (including [`Isa::Scalar`]) against the scalar reference; asking for a path the CPU
//! lacks is an error, never undefined behaviour.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// An instruction-set path of the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Plain Rust, always compiled: the reference every other path is tested against.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C (256-bit vectors). int8 × int8 products widen to i16 and use
    /// `vpmaddwd`.
    Avx2,
    /// [`Isa::Avx2`] plus AVX-VNNI: int8 × int8 products with the 256-bit `vpdpbusd`.
    AvxVnni,
    /// x86_64 AVX-512 F/BW/VL (+ AVX2, FMA, F16C): 512-bit float kernels. int8 × int8
    /// products use the AVX2 `vpmaddwd` kernel.
    Avx512,
    /// [`Isa::Avx512`] plus AVX-512-VNNI: int8 × int8 products with the 512-bit `vpdpbusd`.
    Avx512Vnni,
    /// aarch64 Advanced SIMD (NEON, 128-bit vectors of 4 f32). int8 × int8 products widen with
    /// `smull` and accumulate pairs with `sadalp` (exact).
    Neon,
    /// [`Isa::Neon`] plus the `dotprod` extension: int8 × int8 products with `sdot`.
    NeonDot,
}

/// Every path, best last (paths of different architectures never compete: at most one
/// architecture's paths are available).
const ALL: [Isa; 7] = [
    Isa::Scalar,
    Isa::Neon,
    Isa::NeonDot,
    Isa::Avx2,
    Isa::AvxVnni,
    Isa::Avx512,
    Isa::Avx512Vnni,
];

static BEST: OnceLock<Isa> = OnceLock::new();

impl Isa {
    /// The fastest path this CPU supports (probed once, then cached).
    pub fn best() -> Isa {
        *BEST.get_or_init(|| {
            ALL.iter()
                .rev()
                .copied()
                .find(|isa| isa.is_available())
                .unwrap_or(Isa::Scalar)
        })
    }

    /// Every path this CPU supports, [`Isa::Scalar`] first.
    pub fn available() -> Vec<Isa> {
        ALL.iter().copied().filter(|i| i.is_available()).collect()
    }

    /// Every path the kernels know, whether or not this CPU has it.
    pub fn all() -> &'static [Isa] {
        &ALL
    }

    /// Whether this CPU can run the path. Under Miri only [`Isa::Scalar`] is: Miri cannot
    /// run the SIMD intrinsics, so [`Isa::best`] and [`Isa::available`] fall back to scalar.
    pub fn is_available(self) -> bool {
        if cfg!(miri) {
            return self == Isa::Scalar;
        }
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86_has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => x86_has_avx2() && std::is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86_has_avx512(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => x86_has_avx512() && std::is_x86_feature_detected!("avx512vnni"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDot => {
                std::arch::is_aarch64_feature_detected!("neon")
                    && std::arch::is_aarch64_feature_detected!("dotprod")
            }
            // Paths of other architectures.
            _ => false,
        }
    }

    /// A short lower-case name (`"avx512vnni"`), for benchmark ids and messages.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avxvnni",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
            Isa::NeonDot => "neondot",
        }
    }

    /// Errors unless the CPU supports the path; the `*_on` kernels call it first.
    pub fn check(self) -> Result<Isa> {
        if self.is_available() {
            Ok(self)
        } else {
            Err(Error::param(
                "isa",
                format!("this CPU cannot run the {} kernels", self.name()),
            ))
        }
    }

    /// f32 lanes of the path's float vectors (0 for the scalar path).
    pub(crate) fn lanes(self) -> usize {
        match self.float_family() {
            Isa::Avx512 => 16,
            Isa::Avx2 => 8,
            Isa::Neon => 4,
            _ => 0,
        }
    }

    /// The float-kernel family of the path: AVX-512, AVX2 or NEON vectors, or scalar.
    pub(crate) fn float_family(self) -> Isa {
        match self {
            Isa::AvxVnni => Isa::Avx2,
            Isa::Avx512Vnni => Isa::Avx512,
            Isa::NeonDot => Isa::Neon,
            other => other,
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn x86_has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c")
}

#[cfg(target_arch = "x86_64")]
fn x86_has_avx512() -> bool {
    x86_has_avx2()
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_is_always_available_and_best_is_available() {
        assert!(Isa::Scalar.is_available());
        assert_eq!(Isa::available()[0], Isa::Scalar);
        assert!(Isa::best().is_available());
        assert!(Isa::available().contains(&Isa::best()));
        for isa in Isa::all() {
            assert_eq!(isa.check().is_ok(), isa.is_available(), "{}", isa.name());
        }
    }
}
