//! Signal-to-quantization-noise ratio of an approximation.

use ndarray::ArrayView2;

use crate::error::{Error, Result};

/// `10·log10(Σ a² / Σ (a − b)²)` in dB for a reference `a` and its approximation `b` (+∞ when
/// they are equal). Errors if the shapes differ.
pub fn sqnr_db(reference: ArrayView2<f32>, approx: ArrayView2<f32>) -> Result<f32> {
    if reference.dim() != approx.dim() {
        return Err(Error::shape("sqnr_db", reference.dim(), approx.dim()));
    }
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for (&a, &b) in reference.iter().zip(approx.iter()) {
        signal += f64::from(a) * f64::from(a);
        noise += f64::from(a - b) * f64::from(a - b);
    }
    Ok(if noise == 0.0 {
        f32::INFINITY
    } else {
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
