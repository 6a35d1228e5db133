//! Classification metrics: accuracy, confusion matrix, macro-F1.

use ndarray::Array2;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::limits;
use crate::nn::Forward;

/// The metrics of a classifier on a labelled set.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Fraction of samples predicted correctly.
    pub accuracy: f32,
    /// Unweighted mean of the per-class F1 scores, see [`macro_f1`].
    pub macro_f1: f32,
    /// `confusion[[true, predicted]]` counts.
    pub confusion: Array2<usize>,
}

fn check_pair(predicted: &[usize], labels: &[usize]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::Empty("no labels to score".into()));
    }
    if predicted.len() != labels.len() {
        return Err(Error::shape("metrics", labels.len(), predicted.len()));
    }
    Ok(())
}

/// Fraction of positions where `predicted` equals `labels`.
pub fn accuracy(predicted: &[usize], labels: &[usize]) -> Result<f32> {
    check_pair(predicted, labels)?;
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f32 / labels.len() as f32)
}

/// The `n_classes × n_classes` matrix whose entry `[t, p]` counts samples of true class `t`
/// predicted as `p`. Errors with [`Error::Empty`] / [`Error::ShapeMismatch`] as [`accuracy`],
/// [`Error::InvalidParam`] if `n_classes` is 0 or a class is out of range, and
/// [`Error::TooLarge`] if the matrix would exceed
/// [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or cannot be allocated.
pub fn confusion_matrix(
    predicted: &[usize],
    labels: &[usize],
    n_classes: usize,
) -> Result<Array2<usize>> {
    const OP: &str = "confusion_matrix";
    check_pair(predicted, labels)?;
    if n_classes == 0 {
        return Err(Error::param("n_classes", "must be at least 1, got 0"));
    }
    if let Some(c) = predicted
        .iter()
        .chain(labels)
        .copied()
        .find(|&c| c >= n_classes)
    {
        return Err(Error::param(
            "class",
            format!("class {c} out of range for {n_classes} classes"),
        ));
    }
    let n = limits::elements(OP, &[n_classes, n_classes])?;
    let mut m = Array2::from_shape_vec((n_classes, n_classes), limits::try_zeroed(OP, n)?)
        .map_err(|e| Error::shape(OP, (n_classes, n_classes), e.to_string()))?;
    for (&p, &t) in predicted.iter().zip(labels) {
        m[[t, p]] += 1;
    }
    Ok(m)
}

/// Macro-averaged F1 from a square confusion matrix: the mean over classes of
/// `F1_c = 2·TP / (2·TP + FP + FN)`. Classes that neither occur nor are predicted
/// (`2·TP + FP + FN = 0`) are left out of the mean rather than counted as 0 or 1. Errors with
/// [`Error::ShapeMismatch`] on a non-square matrix and [`Error::Empty`] on a matrix that counts
/// no sample (0 × 0, or all zeros): there is no F1 to report.
pub fn macro_f1(confusion: &Array2<usize>) -> Result<f32> {
    let n = confusion.nrows();
    if confusion.ncols() != n {
        return Err(Error::shape(
            "macro_f1 confusion matrix",
            (n, n),
            confusion.dim(),
        ));
    }
    if confusion.iter().all(|&c| c == 0) {
        return Err(Error::Empty(format!(
            "macro_f1 of a {n} × {n} confusion matrix that counts no sample"
        )));
    }
    let mut sum = 0.0f64;
    let mut counted = 0usize;
    for c in 0..n {
        let tp = confusion[[c, c]] as f64;
        let fn_ = confusion.row(c).sum() as f64 - tp;
        let fp = confusion.column(c).sum() as f64 - tp;
        let denom = 2.0 * tp + fp + fn_;
        if denom > 0.0 {
            sum += 2.0 * tp / denom;
            counted += 1;
        }
    }
    // A matrix with a sample has a class with 2·TP + FP + FN > 0.
    Ok((sum / counted.max(1) as f64) as f32)
}

/// Accuracy, macro-F1 and the confusion matrix of `model` on `data`. Errors as the model's
/// forward pass does (a wrong width is [`Error::ShapeMismatch`], a non-finite output
/// [`Error::NonFinite`]) and as [`confusion_matrix`] (more classes than the element limit).
pub fn evaluate<M: Forward + ?Sized>(model: &M, data: &Dataset) -> Result<Metrics> {
    let predicted = model.predict(data.features())?;
    let n_classes = data.n_classes().max(model.out_features());
    let confusion = confusion_matrix(&predicted, data.labels(), n_classes)?;
    Ok(Metrics {
        accuracy: accuracy(&predicted, data.labels())?,
        macro_f1: macro_f1(&confusion)?,
        confusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn metrics_match_hand_computed_values() {
        let labels = [0, 0, 1, 1, 2];
        let pred = [0, 1, 1, 1, 0];
        assert!((accuracy(&pred, &labels).unwrap() - 0.6).abs() < 1e-6);
        let m = confusion_matrix(&pred, &labels, 3).unwrap();
        assert_eq!(m, array![[1, 1, 0], [0, 2, 0], [1, 0, 0]]);
        // F1: class 0 = 2/(2+1+1) = 0.5, class 1 = 4/(4+1) = 0.8, class 2 = 0.
        assert!((macro_f1(&m).unwrap() - (0.5 + 0.8 + 0.0) / 3.0).abs() < 1e-6);
    }

    #[test]
    fn metrics_reject_bad_input() {
        assert!(accuracy(&[], &[]).is_err());
        assert!(accuracy(&[0], &[0, 1]).is_err());
        assert!(confusion_matrix(&[3], &[0], 3).is_err());
        assert!(macro_f1(&Array2::zeros((3, 2))).is_err());
    }
}
