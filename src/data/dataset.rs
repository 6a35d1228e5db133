//! A labelled dataset of f32 feature rows, with a stratified split and seeded mini-batches.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{rngs::StdRng, SeedableRng};

use crate::error::{Error, Result};
use crate::limits;

/// Feature rows (`Array2<f32>`, one sample per row) and a class label per row.
///
/// ```
/// use shrink::data::Dataset;
///
/// let digits = Dataset::digits();
/// assert_eq!(digits.features().dim(), (1797, 64));
/// let (train, test) = digits.stratified_split(0.2, 42)?;
/// assert_eq!(train.len() + test.len(), 1797);
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Array2<f32>,
    labels: Vec<usize>,
    n_classes: usize,
}

impl Dataset {
    /// Builds a dataset; `n_classes` must exceed every label. Errors on an empty set
    /// ([`Error::Empty`]), a label count that differs from the row count
    /// ([`Error::ShapeMismatch`]), a label out of range ([`Error::InvalidParam`]), more classes
    /// than [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) ([`Error::TooLarge`]: no model could
    /// output them), or non-finite features ([`Error::NonFinite`]).
    pub fn new(features: Array2<f32>, labels: Vec<usize>, n_classes: usize) -> Result<Self> {
        limits::elements("Dataset::new n_classes", &[n_classes])?;
        if features.nrows() == 0 || features.ncols() == 0 {
            return Err(Error::Empty(format!(
                "dataset features have shape {:?}",
                features.dim()
            )));
        }
        if labels.len() != features.nrows() {
            return Err(Error::shape(
                "Dataset::new labels",
                features.nrows(),
                labels.len(),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= n_classes) {
            return Err(Error::param(
                "labels",
                format!("label {bad} is not below n_classes = {n_classes}"),
            ));
        }
        crate::nn::ensure_finite(&features, || "dataset features".into())?;
        Ok(Dataset {
            features,
            labels,
            n_classes,
        })
    }

    /// The feature matrix, (samples, features).
    pub fn features(&self) -> ArrayView2<'_, f32> {
        self.features.view()
    }

    /// The label of each row.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false: a dataset holds at least one sample.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of features per sample.
    pub fn n_features(&self) -> usize {
        self.features.ncols()
    }

    /// The samples at `indices`, in that order (repeats allowed). Errors if an index is out of
    /// range ([`Error::InvalidParam`]), the list is empty ([`Error::Empty`]), or the selection
    /// would exceed [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) features ([`Error::TooLarge`]).
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        if indices.is_empty() {
            return Err(Error::Empty("no indices to select".into()));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::param(
                "indices",
                format!("index {bad} out of range for {} samples", self.len()),
            ));
        }
        limits::elements("Dataset::select", &[indices.len(), self.n_features()])?;
        Dataset::new(
            self.features.select(Axis(0), indices),
            indices.iter().map(|&i| self.labels[i]).collect(),
            self.n_classes,
        )
    }

    /// The same labels with new features (e.g. scaled), which must have the same row count.
    pub fn with_features(&self, features: Array2<f32>) -> Result<Dataset> {
        Dataset::new(features, self.labels.clone(), self.n_classes)
    }

    /// [`Dataset::stratified_split`], then both parts standardised with a
    /// [`StandardScaler`](super::StandardScaler) fitted on the training part only.
    pub fn standardized_split(&self, test_fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        let (train, test) = self.stratified_split(test_fraction, seed)?;
        let (_, train, mut rest) = super::StandardScaler::fit_split(&train, &[&test])?;
        let test = rest
            .pop()
            .ok_or_else(|| Error::Empty("test split".into()))?;
        Ok((train, test))
    }

    /// Splits into (train, test) so that each class contributes `test_fraction` of its samples
    /// (rounded) to the test part, chosen by a seeded shuffle. Errors unless
    /// `0 < test_fraction < 1` and both parts end up non-empty.
    pub fn stratified_split(&self, test_fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(Error::param(
                "test_fraction",
                format!("must be in (0, 1), got {test_fraction}"),
            ));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut train = Vec::new();
        let mut test = Vec::new();
        // The rows of each class present, in ascending class order (one pass, not one per
        // class: `n_classes` may be far larger than the data). Shuffling an absent class's empty
        // list drew nothing from `rng`, so skipping it keeps seeded splits unchanged.
        let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, &l) in self.labels.iter().enumerate() {
            by_class.entry(l).or_default().push(i);
        }
        for mut idx in by_class.into_values() {
            idx.shuffle(&mut rng);
            let n_test = (idx.len() as f32 * test_fraction).round() as usize;
            test.extend_from_slice(&idx[..n_test]);
            train.extend_from_slice(&idx[n_test..]);
        }
        if train.is_empty() || test.is_empty() {
            return Err(Error::Empty(format!(
                "split of {} samples at {test_fraction} leaves a part empty",
                self.len()
            )));
        }
        train.shuffle(&mut rng);
        test.shuffle(&mut rng);
        Ok((self.select(&train)?, self.select(&test)?))
    }
}

/// Row indices `0..n` shuffled by `rng` and cut into batches of `batch_size` (the last may be
/// shorter). Errors with [`Error::InvalidParam`] for a `batch_size` of 0 and
/// [`Error::TooLarge`] if `n` exceeds [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or its
/// indices cannot be allocated. `n = 0` gives no batches.
pub fn shuffled_batches(
    n: usize,
    batch_size: usize,
    rng: &mut impl rand::Rng,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(Error::param("batch_size", "must be at least 1, got 0"));
    }
    let mut idx = limits::try_zeroed::<usize>("shuffled_batches", n)?;
    idx.iter_mut().enumerate().for_each(|(i, v)| *v = i);
    idx.shuffle(rng);
    Ok(idx.chunks(batch_size).map(<[usize]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let d = Dataset::digits();
        let (train, test) = d.stratified_split(0.2, 3).unwrap();
        assert_eq!(train.len() + test.len(), d.len());
        for class in 0..10 {
            let total = d.labels().iter().filter(|&&l| l == class).count();
            let in_test = test.labels().iter().filter(|&&l| l == class).count();
            assert_eq!(in_test, (total as f32 * 0.2).round() as usize);
        }
        let (_, test2) = d.stratified_split(0.2, 3).unwrap();
        assert_eq!(test, test2);
        let (_, test3) = d.stratified_split(0.2, 4).unwrap();
        assert_ne!(test, test3);
    }

    #[test]
    fn rejects_bad_construction() {
        let x = Array2::<f32>::zeros((3, 2));
        assert!(matches!(
            Dataset::new(Array2::zeros((0, 2)), vec![], 2),
            Err(Error::Empty(_))
        ));
        assert!(matches!(
            Dataset::new(x.clone(), vec![0, 1], 2),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(Dataset::new(x.clone(), vec![0, 1, 2], 2).is_err());
        let mut nan = x;
        nan[[1, 1]] = f32::INFINITY;
        assert!(matches!(
            Dataset::new(nan, vec![0, 1, 1], 2),
            Err(Error::NonFinite(_))
        ));
        let d = Dataset::digits();
        assert!(d.stratified_split(1.0, 0).is_err());
        assert!(d.stratified_split(0.0, 0).is_err());
    }

    #[test]
    fn batches_cover_every_row_once() {
        let mut rng = StdRng::seed_from_u64(0);
        let b = shuffled_batches(10, 4, &mut rng).unwrap();
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
        let mut all: Vec<usize> = b.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
