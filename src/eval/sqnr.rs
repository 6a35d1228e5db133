//! Signal-to-quantization-noise ratio of an approximation.

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::nn::ensure_finite;

/// `10·log10(Σ a² / Σ (a − b)²)` in dB for a reference `a` and its approximation `b`, summed in
/// f64 (so values near `f32::MAX` do not overflow).
///
/// Two exact limits are returned as infinities, by definition rather than by overflow: `+∞`
/// when `b` equals `a` (no noise, including an all-zero reference) and `−∞` when the reference
/// is all zeros but `b` is not (no signal). Errors with [`Error::ShapeMismatch`] if the shapes
/// differ, [`Error::Empty`] if they hold no element, and [`Error::NonFinite`] if either holds a
/// NaN or an infinity.
pub fn sqnr_db(reference: ArrayView2<f32>, approx: ArrayView2<f32>) -> Result<f32> {
    if reference.dim() != approx.dim() {
        return Err(Error::shape("sqnr_db", reference.dim(), approx.dim()));
    }
    if reference.is_empty() {
        return Err(Error::Empty(format!(
            "sqnr_db of shape {:?}",
            reference.dim()
        )));
    }
    ensure_finite(&reference, || "sqnr_db reference".into())?;
    ensure_finite(&approx, || "sqnr_db approximation".into())?;
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&a, &b) in reference.iter().zip(approx.iter()) {
        let (a, b) = (f64::from(a), f64::from(b));
        signal += a * a;
        noise += (a - b) * (a - b);
    }
    Ok(if noise == 0.0 {
        f32::INFINITY
    } else {
        // Both sums are finite (at most 4·f32::MAX² per element, far inside f64), so this is a
        // finite number or −∞ for a zero signal.
        (10.0 * (signal / noise).log10()) as f32
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn matches_the_definition() {
        let a = array![[3.0f32, 4.0]];
        let b = array![[3.0f32, 3.0]];
        // Σa² = 25, Σ(a−b)² = 1 → 10·log10(25) ≈ 13.98 dB.
        assert!((sqnr_db(a.view(), b.view()).unwrap() - 13.979_4).abs() < 1e-3);
        assert_eq!(sqnr_db(a.view(), a.view()).unwrap(), f32::INFINITY);
        assert!(sqnr_db(a.view(), a.t()).is_err());
    }
}
