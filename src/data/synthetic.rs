//! Seeded synthetic datasets for tests and examples.

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::Dataset;
use crate::error::{Error, Result};
use crate::limits;

/// A zero-mean normal distribution with standard deviation `std`, which must be finite and ≥ 0.
fn gaussian(name: &'static str, std: f32) -> Result<Normal<f32>> {
    if !(std >= 0.0 && std.is_finite()) {
        return Err(Error::param(
            name,
            format!("must be finite and ≥ 0, got {std}"),
        ));
    }
    Normal::new(0.0f32, std).map_err(|e| Error::param(name, e.to_string()))
}

/// Gaussian blobs: `n_classes` clusters of `per_class` points in `dim` dimensions, centres drawn
/// uniformly from [−5, 5]^dim, points drawn around them with standard deviation `spread`.
///
/// Errors with [`Error::InvalidParam`] for a zero size or a `spread` that is negative or not
/// finite, and with [`Error::TooLarge`] if the set (per_class · n_classes × dim) exceeds
/// [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or cannot be allocated — checked before
/// anything is allocated.
pub fn blobs(
    per_class: usize,
    n_classes: usize,
    dim: usize,
    spread: f32,
    seed: u64,
) -> Result<Dataset> {
    if per_class == 0 || n_classes == 0 || dim == 0 {
        return Err(Error::param(
            "blobs",
            format!("sizes must be positive, got per_class={per_class}, n_classes={n_classes}, dim={dim}"),
        ));
    }
    const OP: &str = "synthetic::blobs";
    let normal = gaussian("spread", spread)?;
    // Size everything before allocating anything.
    let n_centres = limits::elements(OP, &[n_classes, dim])?;
    let n = limits::product(OP, &[per_class, n_classes])?;
    let n_features = limits::elements(OP, &[n, dim])?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centres = limits::try_zeroed::<f32>(OP, n_centres)?;
    centres
        .iter_mut()
        .for_each(|c| *c = rng.random_range(-5.0..5.0f32));
    let mut labels = limits::try_zeroed::<usize>(OP, n)?;
    labels
        .iter_mut()
        .enumerate()
        .for_each(|(i, l)| *l = i % n_classes);
    let mut features = limits::try_zeroed::<f32>(OP, n_features)?;
    // Row-major, as `from_shape_fn` drew them: seeded sets are unchanged.
    for (i, row) in features.chunks_exact_mut(dim).enumerate() {
        let centre = &centres[labels[i] * dim..(labels[i] + 1) * dim];
        for (v, &c) in row.iter_mut().zip(centre) {
            *v = c + normal.sample(&mut rng);
        }
    }
    let features = Array2::from_shape_vec((n, dim), features)
        .map_err(|e| Error::shape(OP, (n, dim), e.to_string()))?;
    Dataset::new(features, labels, n_classes)
}

/// Two interleaved spirals in the plane (2 classes, `per_class` points each), with Gaussian
/// noise of standard deviation `noise`: a set no linear model separates.
///
/// Errors as [`blobs`] does: [`Error::InvalidParam`] for a zero `per_class` or a bad `noise`,
/// [`Error::TooLarge`] for a set beyond the element limit.
pub fn two_spirals(per_class: usize, noise: f32, seed: u64) -> Result<Dataset> {
    if per_class == 0 {
        return Err(Error::param("per_class", "must be positive, got 0"));
    }
    const OP: &str = "synthetic::two_spirals";
    let normal = gaussian("noise", noise)?;
    let n = limits::product(OP, &[2, per_class])?;
    limits::elements(OP, &[n, 2])?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut features = Array2::from_shape_vec((n, 2), limits::try_zeroed::<f32>(OP, 2 * n)?)
        .map_err(|e| Error::shape(OP, (n, 2), e.to_string()))?;
    let mut labels = limits::try_zeroed::<usize>(OP, n)?;
    for i in 0..n {
        let class = i % 2;
        let t = (i / 2) as f32 / per_class as f32 * 3.0 * std::f32::consts::PI + 0.5;
        let sign = if class == 0 { 1.0 } else { -1.0 };
        features[[i, 0]] = sign * t * t.cos() / 3.0 + normal.sample(&mut rng);
        features[[i, 1]] = sign * t * t.sin() / 3.0 + normal.sample(&mut rng);
        labels[i] = class;
    }
    Dataset::new(features, labels, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_seeded_and_shaped() {
        let a = blobs(10, 3, 4, 0.5, 1).unwrap();
        assert_eq!(a.features().dim(), (30, 4));
        assert_eq!(a, blobs(10, 3, 4, 0.5, 1).unwrap());
        assert_ne!(a, blobs(10, 3, 4, 0.5, 2).unwrap());
        let s = two_spirals(50, 0.05, 0).unwrap();
        assert_eq!(s.features().dim(), (100, 2));
        assert!(blobs(10, 3, 4, -1.0, 1).is_err());
        assert!(two_spirals(0, 0.1, 1).is_err());
    }
}
