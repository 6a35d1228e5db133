//! Affine quantization of scalars: choosing `(s, z)` from a range, `q = clamp(round(x/s) + z)`
//! and `x̂ = s·(q − z)` (Jacob et al. 2018).
//!
//! Edge cases, all without division by zero:
//! - a zero range (an all-zero tensor or group) gets `s = 1`, `z = 0` clamped into the code
//!   range, so `0` round-trips exactly;
//! - a tiny range is floored at `s = f32::MIN_POSITIVE` (f32) or the smallest normal f16
//!   (`6.1e-5`, int4), so `x/s` stays finite;
//! - asymmetric ranges are widened to contain 0, so 0 is exactly representable;
//! - a scale that does not fit in f16 (int4 weights above ~4.5e5) is an error;
//! - NaN or infinite range ends are an error ([`Error::NonFinite`]), and so are an inverted
//!   range `lo > hi` and a bit width other than 8 or 4 ([`Error::InvalidParam`]);
//! - the range width is computed in f64, so finite ends as far apart as `±f32::MAX` give a
//!   finite scale.
//!
//! [`quantize`], [`dequantize`] and [`fake_quantize`] are the per-element arithmetic and do not
//! check their arguments (they run inside quantization loops): they expect `QParams` from
//! [`choose_params`] and a code range from [`code_range`]. They never panic: an inverted code
//! range gives `qmax`, and a hand-made non-finite or zero scale gives codes at the range ends.
//!
//! Inside the representable range `[s·(qmin − z), s·(qmax − z)]` the round-trip error is at
//! most `s/2`.

use half::f16;
use serde::{Deserialize, Serialize};

use super::scheme::IntScheme;
use crate::error::{Error, Result};

/// A scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QParams {
    /// Step between codes, > 0.
    pub scale: f32,
    /// The code that represents 0.
    pub zero: i32,
}

/// The signed code range of `bits`-bit codes: int8 [−128, 127]; int4 symmetric [−8, 7],
/// asymmetric [0, 15].
pub fn code_range(bits: u8, symmetric: bool) -> (i32, i32) {
    match (bits, symmetric) {
        (4, true) => (-8, 7),
        (4, false) => (0, 15),
        _ => (-128, 127),
    }
}

/// Whether scales of this width are stored in f16 (int4) rather than f32 (int8).
pub(crate) fn f16_scales(bits: u8) -> bool {
    bits == 4
}

/// The smallest f16 value ≥ `s`, or an error if `s` is above f16's range.
fn round_up_f16(s: f32) -> Result<f32> {
    let s = s.max(f16::MIN_POSITIVE.to_f32());
    let h = f16::from_f32(s);
    let v = if h.to_f32() < s {
        f16::from_bits(h.to_bits() + 1).to_f32()
    } else {
        h.to_f32()
    };
    if !v.is_finite() {
        return Err(Error::param(
            "scale",
            format!("scale {s} does not fit in f16 (weights too large for int4 scales)"),
        ));
    }
    Ok(v)
}

/// The `(s, z)` for values in `[lo, hi]` with the given integer scheme (see the module docs).
///
/// Errors: [`Error::NonFinite`] if an end is NaN or infinite, [`Error::InvalidParam`] if
/// `lo > hi` or `scheme.bits` is not 8 or 4, and for int4 a scale that does not fit in f16.
pub fn choose_params(lo: f32, hi: f32, scheme: IntScheme) -> Result<QParams> {
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(Error::NonFinite(format!("quantization range [{lo}, {hi}]")));
    }
    if lo > hi {
        return Err(Error::param(
            "range",
            format!("quantization range [{lo}, {hi}] is inverted (lo > hi)"),
        ));
    }
    if scheme.bits != 8 && scheme.bits != 4 {
        return Err(Error::param(
            "bits",
            format!("supported integer widths are 8 and 4, got {}", scheme.bits),
        ));
    }
    let (qmin, qmax) = code_range(scheme.bits, scheme.symmetric);
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    // In f64: `hi − lo` of two finite f32 can overflow f32, its quotient cannot.
    let raw = if scheme.symmetric {
        f64::from(lo.abs().max(hi)) / f64::from(qmax)
    } else {
        (f64::from(hi) - f64::from(lo)) / f64::from(qmax - qmin)
    } as f32;
    let mut scale = if raw > 0.0 {
        raw.max(f32::MIN_POSITIVE)
    } else {
        1.0
    };
    if f16_scales(scheme.bits) {
        scale = round_up_f16(scale)?;
    }
    let zero = if scheme.symmetric || raw == 0.0 {
        0.clamp(qmin, qmax)
    } else {
        ((qmin as f32 - lo / scale).round() as i32).clamp(qmin, qmax)
    };
    Ok(QParams { scale, zero })
}

/// `clamp(round(x/s) + z, qmin, qmax)`.
#[inline]
pub fn quantize(x: f32, p: QParams, qmin: i32, qmax: i32) -> i32 {
    // max then min, not `clamp`, which panics on an inverted range.
    ((x / p.scale).round() as i32)
        .saturating_add(p.zero)
        .max(qmin)
        .min(qmax)
}

/// `s·(q − z)`.
#[inline]
pub fn dequantize(q: i32, p: QParams) -> f32 {
    p.scale * (q - p.zero) as f32
}

/// `dequantize(quantize(x))`: the fake-quantized value used in QAT and error measurements.
#[inline]
pub fn fake_quantize(x: f32, p: QParams, qmin: i32, qmax: i32) -> f32 {
    dequantize(quantize(x, p, qmin, qmax), p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Granularity;

    fn scheme(bits: u8, symmetric: bool) -> IntScheme {
        IntScheme {
            bits,
            symmetric,
            granularity: Granularity::PerTensor,
        }
    }

    #[test]
    fn zero_range_round_trips_exactly() {
        for (bits, sym) in [(8, true), (8, false), (4, true), (4, false)] {
            let p = choose_params(0.0, 0.0, scheme(bits, sym)).unwrap();
            assert_eq!(p.scale, 1.0);
            let (lo, hi) = code_range(bits, sym);
            assert_eq!(fake_quantize(0.0, p, lo, hi), 0.0);
        }
        assert!(choose_params(f32::NAN, 1.0, scheme(8, true)).is_err());
        assert!(choose_params(0.0, 1e9, scheme(4, true)).is_err());
        assert!(matches!(
            choose_params(2.0, -2.0, scheme(8, true)),
            Err(Error::InvalidParam { name: "range", .. })
        ));
        assert!(matches!(
            choose_params(-1.0, 1.0, scheme(3, true)),
            Err(Error::InvalidParam { name: "bits", .. })
        ));
        let wide = choose_params(-f32::MAX, f32::MAX, scheme(8, false)).unwrap();
        assert!(wide.scale.is_finite() && wide.scale > 0.0);
        assert_eq!(quantize(1.0, wide, 5, 3), 3);
        let tiny = choose_params(-1e-42, 1e-42, scheme(8, true)).unwrap();
        assert!(tiny.scale > 0.0 && (1e-42f32 / tiny.scale).is_finite());
    }
}
