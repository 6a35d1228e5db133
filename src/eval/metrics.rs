//! Classification metrics: accuracy, confusion matrix, macro-F1.

use ndarray::Array2;

use crate::data::Dataset;
use crate::error::{Error, Result};
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
/// predicted as `p`. Errors if a class is out of range.
pub fn confusion_matrix(
    predicted: &[usize],
    labels: &[usize],
    n_classes: usize,
) -> Result<Array2<usize>> {
    check_pair(predicted, labels)?;
    let mut m = Array2::zeros((n_classes, n_classes));
    for (&p, &t) in predicted.iter().zip(labels) {
        if p >= n_classes || t >= n_classes {
            return Err(Error::param(
                "class",
                format!("class {} out of range for {n_classes} classes", p.max(t)),
            ));
        }
        m[[t, p]] += 1;
    }
    Ok(m)
}

/// Macro-averaged F1 from a square confusion matrix: the mean over classes of
/// `F1_c = 2·TP / (2·TP + FP + FN)`. Classes that neither occur nor are predicted
/// (`2·TP + FP + FN = 0`) are left out of the mean rather than counted as 0 or 1. Errors on a
/// non-square matrix.
pub fn macro_f1(confusion: &Array2<usize>) -> Result<f32> {
    let n = confusion.nrows();
    if confusion.ncols() != n {
        return Err(Error::shape(
            "macro_f1 confusion matrix",
            (n, n),
            confusion.dim(),
        ));
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
    Ok(if counted == 0 {
        0.0
    } else {
        (sum / counted as f64) as f32
    })
}

/// Accuracy, macro-F1 and the confusion matrix of `model` on `data`.
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
