//! Activation quantization to int8, the per-call front of integer inference (Jacob et al. 2018):
//!
//! - [`range_f32`]: the row's `(min(0, x), max(0, x))` in one pass, or `None` if any value is
//!   NaN or infinite;
//! - [`quantize_i8`]: `q = clamp(round(x/s) + z, −128, 127)` per element, with IEEE division
//!   (never a reciprocal multiply) and rounding half away from zero — bit-for-bit the scalar
//!   `crate::quant::affine::quantize`, on every path.
//!
//! The NEON path (`arm::quantize`) rounds half away from zero in one instruction (`frinta`).
//! The x86 SIMD paths (AVX2, AVX-512; see `x86::quantize`) round as `t = trunc(v)`, then
//! `t ± 1` when `|v − t| ≥ 0.5` (`v − t` is exact in f32), add `z` and clamp in f32 (exact for
//! every value that can land inside the code range) before converting. A NaN or infinite
//! input is [`Error::NonFinite`] on every path, found in the same pass as the codes (one
//! compare per vector beside the division); finite inputs whose quotient overflows saturate to
//! −128 or 127.

#[cfg(target_arch = "aarch64")]
use super::arm;
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{check_len, Isa};
use crate::error::{Error, Result};

/// `(min(0, x…), max(0, x…))` of `x`, or `None` if a value is NaN or infinite. Runs on
/// [`Isa::best`].
pub fn range_f32(x: &[f32]) -> Option<(f32, f32)> {
    range_f32_impl(Isa::best(), x)
}

/// [`range_f32`] on a chosen path (an error if the CPU lacks it).
pub fn range_f32_on(isa: Isa, x: &[f32]) -> Result<Option<(f32, f32)>> {
    Ok(range_f32_impl(isa.check()?, x))
}

fn range_f32_impl(isa: Isa, x: &[f32]) -> Option<(f32, f32)> {
    match isa.float_family() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available (checked by the callers or returned by `Isa::best`).
        Isa::Avx512 => unsafe { x86::quantize::range_avx512(x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::quantize::range_avx2(x) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { arm::quantize::range_neon(x) },
        _ => range_scalar(x),
    }
}

/// The scalar reference of [`range_f32`].
pub(crate) fn range_scalar(x: &[f32]) -> Option<(f32, f32)> {
    let (mut lo, mut hi, mut finite) = (0.0f32, 0.0f32, true);
    for &v in x {
        finite &= v.is_finite();
        lo = lo.min(v);
        hi = hi.max(v);
    }
    finite.then_some((lo, hi))
}

/// One code: `clamp(round(x/scale) + zero, −128, 127)`, rounding half away from zero (the
/// scalar reference of [`quantize_i8`]).
#[inline]
pub fn quantize_one(x: f32, scale: f32, zero: i32) -> i8 {
    ((x / scale).round() as i32)
        .saturating_add(zero)
        .clamp(-128, 127) as i8
}

/// Checks the parameters every path handles identically: a positive finite scale and a zero
/// point inside the int8 range.
fn check_params(scale: f32, zero: i32) -> Result<()> {
    let ok = scale.is_finite() && scale > 0.0 && (-128..=127).contains(&zero);
    if !ok {
        return Err(Error::param(
            "quantize_i8",
            format!("scale {scale} / zero {zero} out of range"),
        ));
    }
    Ok(())
}

/// `out[i] = clamp(round(x[i]/scale) + zero, −128, 127)` (see the module docs); `scale` must be
/// positive and finite, `zero` in `[−128, 127]`, `out` as long as `x`
/// ([`Error::InvalidParam`], [`Error::ShapeMismatch`] otherwise, before anything is written).
/// A NaN or infinite value of `x` is [`Error::NonFinite`] (`out` then holds unspecified codes).
/// Runs on [`Isa::best`].
pub fn quantize_i8(x: &[f32], scale: f32, zero: i32, out: &mut [i8]) -> Result<()> {
    quantize_i8_impl(Isa::best(), x, scale, zero, out)
}

/// [`quantize_i8`] on a chosen path (an error if the CPU lacks it).
pub fn quantize_i8_on(isa: Isa, x: &[f32], scale: f32, zero: i32, out: &mut [i8]) -> Result<()> {
    quantize_i8_impl(isa.check()?, x, scale, zero, out)
}

/// [`quantize_i8_on`] on a path known to be available.
fn quantize_i8_impl(isa: Isa, x: &[f32], scale: f32, zero: i32, out: &mut [i8]) -> Result<()> {
    check_len("quantize_i8 out", x.len(), out.len())?;
    check_params(scale, zero)?;
    let finite = match isa.float_family() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available (checked by `quantize_i8_on` or returned by `Isa::best`);
        // out.len() == x.len().
        Isa::Avx512 => unsafe { x86::quantize::quantize_avx512(x, scale, zero, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::quantize::quantize_avx2(x, scale, zero, out) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::Neon => unsafe { arm::quantize::quantize_neon(x, scale, zero, out) },
        _ => {
            let mut finite = true;
            for (o, &v) in out.iter_mut().zip(x) {
                finite &= v.is_finite();
                *o = quantize_one(v, scale, zero);
            }
            finite
        }
    };
    if !finite {
        return Err(Error::NonFinite("quantize_i8 input".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{quantize, QParams};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Ties, near-ties, huge quotients, zeros, infinities and NaN, in every lane position.
    /// (Callers drop the non-finite values where they need an `Ok`.)
    fn hostile(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
        let special = [
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            127.5,
            -128.5,
            0.0,
            -0.0,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            8_388_607.5,
            16_777_216.0,
            3e9,
            -3e9,
        ];
        (0..n)
            .map(|i| match i % 3 {
                0 => special[rng.random_range(0..special.len())] * scale,
                1 => rng.random_range(-300.0..300.0f32) * scale,
                _ => (rng.random_range(-600..600) as f32 * 0.5) * scale,
            })
            .collect()
    }

    #[test]
    fn every_path_quantizes_exactly_like_the_scalar_reference() {
        let mut rng = StdRng::seed_from_u64(11);
        for isa in Isa::available() {
            for &n in &[0usize, 1, 7, 8, 15, 16, 17, 33, 64, 100, 257] {
                for &(scale, zero) in &[(1.0f32, 0), (0.037, -5), (2.5e-3, 127), (1e-38, -128)] {
                    let mut x = hostile(&mut rng, n, scale);
                    let bad = x.iter().position(|v| !v.is_finite());
                    let mut got = vec![0i8; n];
                    if bad.is_some() {
                        let r = quantize_i8_on(isa, &x, scale, zero, &mut got);
                        assert!(
                            matches!(r, Err(Error::NonFinite(_))),
                            "{} n={n}",
                            isa.name()
                        );
                        // The same row with its non-finite values replaced must quantize.
                        for v in &mut x {
                            if !v.is_finite() {
                                *v = -3.5 * scale;
                            }
                        }
                    }
                    quantize_i8_on(isa, &x, scale, zero, &mut got).unwrap();
                    for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                        let want = quantize(v, QParams { scale, zero }, -128, 127);
                        assert_eq!(i32::from(g), want, "{} n={n} [{i}] x={v:e}", isa.name());
                        assert_eq!(g, quantize_one(v, scale, zero));
                    }
                }
            }
        }
    }

    #[test]
    fn every_path_finds_the_range_or_non_finite() {
        let mut rng = StdRng::seed_from_u64(12);
        for isa in Isa::available() {
            for &n in &[0usize, 1, 5, 16, 17, 31, 64, 100] {
                let mut x: Vec<f32> = (0..n).map(|_| rng.random_range(-3.0..2.0f32)).collect();
                let want = range_scalar(&x);
                assert!(want.is_some());
                assert_eq!(range_f32_on(isa, &x).unwrap(), want, "{} n={n}", isa.name());
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    for pos in [0, n / 2, n.saturating_sub(1)] {
                        if n == 0 {
                            continue;
                        }
                        let keep = x[pos];
                        x[pos] = bad;
                        assert_eq!(range_f32_on(isa, &x).unwrap(), None, "{} {bad}", isa.name());
                        x[pos] = keep;
                    }
                }
            }
            // Positive-only and negative-only rows still include 0.
            assert_eq!(range_f32_on(isa, &[1.0, 2.0]).unwrap(), Some((0.0, 2.0)));
            assert_eq!(range_f32_on(isa, &[-1.0; 20]).unwrap(), Some((-1.0, 0.0)));
        }
    }

    #[test]
    fn a_non_finite_value_in_any_lane_is_an_error_on_every_path() {
        for isa in Isa::available() {
            for n in [1usize, 7, 8, 9, 16, 17, 33] {
                for pos in [0, n / 2, n - 1] {
                    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                        let mut x = vec![0.25f32; n];
                        x[pos] = bad;
                        let mut out = vec![0i8; n];
                        let r = quantize_i8_on(isa, &x, 0.01, 3, &mut out);
                        assert!(
                            matches!(r, Err(Error::NonFinite(_))),
                            "{} n={n} pos={pos} {bad}",
                            isa.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_bad_lengths_and_params() {
        let mut out = [0i8; 2];
        assert!(quantize_i8(&[1.0; 3], 1.0, 0, &mut out).is_err());
        assert!(quantize_i8(&[1.0; 2], 0.0, 0, &mut out).is_err());
        assert!(quantize_i8(&[1.0; 2], f32::NAN, 0, &mut out).is_err());
        assert!(quantize_i8(&[1.0; 2], 1.0, 128, &mut out).is_err());
        assert_eq!(out, [0, 0]);
    }
}
