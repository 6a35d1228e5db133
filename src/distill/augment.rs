//! Seeded input augmentation for label-free transfer: the teacher labels whatever inputs it is
//! shown, so new inputs near the data distribution carry more of its function to the student.
//!
//! [`GaussianNoise`] returns the original rows followed by `copies` noisy copies of each,
//! `x + σ·ε` with `ε ~ N(0, I)`, from one seeded generator. On standardised features (zero
//! mean, unit variance per feature) `σ` is in units of each feature's spread.

use ndarray::{Array2, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};

use crate::error::{check_finite, Error, Result};

/// Gaussian-noise augmentation: the inputs plus `copies` noisy copies of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianNoise {
    /// Number of noisy copies of each row (0 = the inputs unchanged).
    pub copies: usize,
    /// Standard deviation σ of the noise, finite and ≥ 0.
    pub std: f32,
    /// Seed of the noise.
    pub seed: u64,
}

impl GaussianNoise {
    /// `copies` copies with noise of standard deviation `std`, seeded by `seed`.
    pub fn new(copies: usize, std: f32, seed: u64) -> Self {
        GaussianNoise { copies, std, seed }
    }

    /// Validates σ.
    pub fn check(&self) -> Result<()> {
        if self.std >= 0.0 && self.std.is_finite() {
            Ok(())
        } else {
            Err(Error::param(
                "std",
                format!("must be finite and ≥ 0, got {}", self.std),
            ))
        }
    }

    /// The rows of `x` followed by `copies` noisy copies, `(1 + copies)·N` rows in all.
    ///
    /// Errors: [`Error::InvalidParam`] for a bad σ, [`Error::NonFinite`] for non-finite inputs
    /// or a noisy value that overflows f32 (σ near f32's range), and [`Error::TooLarge`] if
    /// `(1 + copies)·N·width` overflows or exceeds [`crate::limits::MAX_ELEMENTS`] or cannot be
    /// allocated, checked before anything is allocated.
    pub fn apply(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check()?;
        let copies = self
            .copies
            .checked_add(1)
            .ok_or_else(|| Error::too_large("augmentation", "copies + 1 overflows usize"))?;
        let n = crate::limits::elements("augmentation", &[copies, x.nrows(), x.ncols()])?;
        check_finite(x.iter(), || "augmentation inputs".into())?;
        let normal =
            Normal::new(0.0f32, self.std).map_err(|e| Error::param("std", e.to_string()))?;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut data = crate::limits::try_zeroed::<f32>("augmentation", n)?;
        let width = x.len();
        // The originals, then each copy in row-major order (one draw per value, as before).
        for (dst, &v) in data.iter_mut().zip(x.iter()) {
            *dst = v;
        }
        for chunk in data[width.min(n)..].chunks_exact_mut(width.max(1)) {
            for (dst, &v) in chunk.iter_mut().zip(x.iter()) {
                *dst = v + normal.sample(&mut rng);
            }
        }
        check_finite(data.iter(), || {
            format!("augmented inputs (noise σ = {} overflows f32)", self.std)
        })?;
        Array2::from_shape_vec((copies * x.nrows(), x.ncols()), data)
            .map_err(|e| Error::shape("augmentation", n, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn noise_is_seeded_and_keeps_the_originals() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        let a = GaussianNoise::new(2, 0.5, 7).apply(x.view()).unwrap();
        assert_eq!(a.dim(), (6, 2));
        assert_eq!(a.slice(ndarray::s![..2, ..]), x);
        assert_ne!(a.slice(ndarray::s![2..4, ..]), x);
        assert_eq!(a, GaussianNoise::new(2, 0.5, 7).apply(x.view()).unwrap());
        assert_ne!(a, GaussianNoise::new(2, 0.5, 8).apply(x.view()).unwrap());
        assert!(GaussianNoise::new(1, -1.0, 0).apply(x.view()).is_err());
        assert!(GaussianNoise::new(1, f32::NAN, 0).apply(x.view()).is_err());
        assert!(matches!(
            GaussianNoise::new(usize::MAX, 0.1, 0).apply(x.view()),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            GaussianNoise::new(usize::MAX / 2, 0.1, 0).apply(x.view()),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            GaussianNoise::new(1, 3e38, 0).apply(array![[3e38f32]].view()),
            Err(Error::NonFinite(_))
        ));
    }
}
