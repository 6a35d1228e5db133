//! Loss functions, each returning the batch-mean loss and its gradient with respect to the
//! model's outputs.

use ndarray::{Array2, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, Error, Result};
use crate::nn::{log_softmax_rows, sigmoid, softmax_rows};

/// Which loss a [`Trainer`](super::Trainer) minimises against class labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Loss {
    /// Softmax cross-entropy on logits, see [`softmax_cross_entropy`].
    CrossEntropy,
    /// Sigmoid binary cross-entropy on logits, see [`binary_cross_entropy`]. With one output
    /// column the label (0 or 1) is the target; with several, the one-hot label.
    BinaryCrossEntropy,
    /// Mean squared error against the one-hot label (or the label itself for one output).
    Mse,
}

impl Loss {
    /// The loss and ∂loss/∂outputs of `outputs` against class `labels`.
    pub fn against_labels(
        self,
        outputs: ArrayView2<f32>,
        labels: &[usize],
    ) -> Result<(f32, Array2<f32>)> {
        match self {
            Loss::CrossEntropy => softmax_cross_entropy(outputs, labels),
            Loss::BinaryCrossEntropy => {
                binary_cross_entropy(outputs, label_targets(outputs, labels)?.view())
            }
            Loss::Mse => mse(outputs, label_targets(outputs, labels)?.view()),
        }
    }
}

/// Targets for a label-based loss: the label itself for a single output column, else one-hot.
fn label_targets(outputs: ArrayView2<f32>, labels: &[usize]) -> Result<Array2<f32>> {
    // A single output column is a binary logit: labels 0 and 1.
    check_labels(outputs, labels, outputs.ncols().max(2), "label targets")?;
    let k = outputs.ncols();
    let mut t = Array2::zeros(outputs.dim());
    for (i, &l) in labels.iter().enumerate() {
        if k == 1 {
            t[[i, 0]] = l as f32;
        } else {
            t[[i, l]] = 1.0;
        }
    }
    Ok(t)
}

/// Checks a batch against its labels: as many labels as rows, each below `classes`, finite
/// outputs.
fn check_labels(
    outputs: ArrayView2<f32>,
    labels: &[usize],
    classes: usize,
    op: &'static str,
) -> Result<()> {
    if outputs.nrows() == 0 {
        return Err(Error::Empty(format!("{op}: empty batch")));
    }
    if labels.len() != outputs.nrows() {
        return Err(Error::shape(op, outputs.nrows(), labels.len()));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
        return Err(Error::param(
            "labels",
            format!("label {bad} out of range for {} outputs", outputs.ncols()),
        ));
    }
    check_finite(outputs.iter(), || format!("{op} outputs"))
}

fn check_same(a: ArrayView2<f32>, b: ArrayView2<f32>, op: &'static str) -> Result<()> {
    if a.dim() != b.dim() {
        return Err(Error::shape(op, a.dim(), b.dim()));
    }
    if a.is_empty() {
        return Err(Error::Empty(format!("{op}: empty batch")));
    }
    check_finite(a.iter().chain(b.iter()), || format!("{op} inputs"))
}

/// Softmax cross-entropy `−(1/B) Σ_i log softmax(z_i)[y_i]` for logits `z` (B, C) and labels
/// `y`; gradient `(softmax(z) − onehot(y)) / B`.
pub fn softmax_cross_entropy(
    logits: ArrayView2<f32>,
    labels: &[usize],
) -> Result<(f32, Array2<f32>)> {
    check_labels(logits, labels, logits.ncols(), "softmax_cross_entropy")?;
    let b = logits.nrows() as f32;
    let logp = log_softmax_rows(logits, 1.0)?;
    let loss = -labels
        .iter()
        .enumerate()
        .map(|(i, &l)| logp[[i, l]])
        .sum::<f32>()
        / b;
    let mut grad = logp.mapv(f32::exp);
    for (i, &l) in labels.iter().enumerate() {
        grad[[i, l]] -= 1.0;
    }
    grad /= b;
    Ok((loss, grad))
}

/// Binary cross-entropy on logits, `mean(max(z, 0) − z·y + log(1 + e^{−|z|}))` over all
/// elements (the overflow-free form of `−y log σ(z) − (1−y) log(1−σ(z))`); targets must be in
/// [0, 1]; gradient `(σ(z) − y) / N`.
pub fn binary_cross_entropy(
    logits: ArrayView2<f32>,
    targets: ArrayView2<f32>,
) -> Result<(f32, Array2<f32>)> {
    check_same(logits, targets, "binary_cross_entropy")?;
    if let Some(bad) = targets.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Error::param(
            "targets",
            format!("must be in [0, 1], got {bad}"),
        ));
    }
    let n = logits.len() as f32;
    let mut loss = 0.0f32;
    let mut grad = Array2::zeros(logits.dim());
    Zip::from(&mut grad)
        .and(&logits)
        .and(&targets)
        .for_each(|g, &z, &y| {
            loss += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            *g = (sigmoid(z) - y) / n;
        });
    Ok((loss / n, grad))
}

/// Mean squared error `mean((p − t)²)` over all elements; gradient `2(p − t) / N`.
pub fn mse(pred: ArrayView2<f32>, target: ArrayView2<f32>) -> Result<(f32, Array2<f32>)> {
    check_same(pred, target, "mse")?;
    let n = pred.len() as f32;
    let diff = &pred - &target;
    let loss = diff.iter().map(|d| d * d).sum::<f32>() / n;
    Ok((loss, diff * (2.0 / n)))
}

/// KL divergence between temperature-softened distributions, averaged over the batch:
/// `(1/B) Σ_i KL(softmax(t_i/T) ‖ softmax(s_i/T))` for teacher logits `t` and student logits
/// `s`, with gradient with respect to `s` of `(softmax(s/T) − softmax(t/T)) / (T·B)`.
///
/// This is the plain KL term. Hinton, Vinyals & Dean (2015) multiply it by T² in the
/// distillation loss so that its gradients keep their scale as T changes; the distillation loss
/// applies that factor, this function does not.
pub fn kl_div_with_temperature(
    student_logits: ArrayView2<f32>,
    teacher_logits: ArrayView2<f32>,
    temperature: f32,
) -> Result<(f32, Array2<f32>)> {
    check_same(student_logits, teacher_logits, "kl_div_with_temperature")?;
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(Error::param(
            "temperature",
            format!("must be finite and > 0, got {temperature}"),
        ));
    }
    let b = student_logits.nrows() as f32;
    let log_ps = log_softmax_rows(student_logits, temperature)?;
    let log_pt = log_softmax_rows(teacher_logits, temperature)?;
    let pt = log_pt.mapv(f32::exp);
    let loss = Zip::from(&pt)
        .and(&log_pt)
        .and(&log_ps)
        .fold(
            0.0f32,
            |acc, &p, &lt, &ls| if p > 0.0 { acc + p * (lt - ls) } else { acc },
        )
        / b;
    let grad = (softmax_rows(student_logits, temperature)? - &pt) / (temperature * b);
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_grad_close, numeric_grad};
    use ndarray::array;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        Array2::from_shape_fn((rows, cols), |_| rng.random_range(-2.0..2.0f32))
    }

    #[test]
    fn cross_entropy_gradient_matches_finite_differences() {
        let z = random(4, 5, 1);
        let labels = [0, 4, 2, 2];
        let (_, g) = softmax_cross_entropy(z.view(), &labels).unwrap();
        let num = numeric_grad(&z, |zp| {
            softmax_cross_entropy(zp.view(), &labels).unwrap().0
        });
        assert_grad_close(&g, &num, "CE");
    }

    #[test]
    fn bce_gradient_matches_finite_differences() {
        let z = random(3, 2, 2);
        let t = array![[0.0f32, 1.0], [1.0, 0.3], [0.5, 0.0]];
        let (_, g) = binary_cross_entropy(z.view(), t.view()).unwrap();
        let num = numeric_grad(&z, |zp| {
            binary_cross_entropy(zp.view(), t.view()).unwrap().0
        });
        assert_grad_close(&g, &num, "BCE");
    }

    #[test]
    fn mse_gradient_matches_finite_differences() {
        let p = random(3, 4, 3);
        let t = random(3, 4, 4);
        let (_, g) = mse(p.view(), t.view()).unwrap();
        let num = numeric_grad(&p, |pp| mse(pp.view(), t.view()).unwrap().0);
        assert_grad_close(&g, &num, "MSE");
    }

    #[test]
    fn kl_gradient_matches_finite_differences_at_temperature() {
        let s = random(3, 6, 5);
        let t = random(3, 6, 6);
        for temp in [1.0f32, 2.5] {
            let (loss, g) = kl_div_with_temperature(s.view(), t.view(), temp).unwrap();
            assert!(loss > 0.0);
            let num = numeric_grad(&s, |sp| {
                kl_div_with_temperature(sp.view(), t.view(), temp)
                    .unwrap()
                    .0
            });
            assert_grad_close(&g, &num, &format!("KL T={temp}"));
        }
        let (zero, _) = kl_div_with_temperature(s.view(), s.view(), 2.0).unwrap();
        assert!(zero.abs() < 1e-6);
    }

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let (loss, _) = softmax_cross_entropy(array![[0.0f32, 0.0]].view(), &[1]).unwrap();
        assert!((loss - 2f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn losses_reject_bad_input() {
        let z = random(2, 3, 0);
        assert!(softmax_cross_entropy(z.view(), &[0]).is_err());
        assert!(softmax_cross_entropy(z.view(), &[0, 3]).is_err());
        // One output column is not a two-class softmax.
        assert!(softmax_cross_entropy(Array2::zeros((1, 1)).view(), &[1]).is_err());
        assert!(Loss::BinaryCrossEntropy
            .against_labels(Array2::zeros((1, 1)).view(), &[1])
            .is_ok());
        assert!(mse(z.view(), random(3, 2, 0).view()).is_err());
        assert!(binary_cross_entropy(z.view(), (z.clone() + 5.0).view()).is_err());
        assert!(kl_div_with_temperature(z.view(), z.view(), 0.0).is_err());
        assert!(kl_div_with_temperature(z.view(), z.view(), f32::NAN).is_err());
        let mut nan = z.clone();
        nan[[0, 0]] = f32::NAN;
        assert!(matches!(
            softmax_cross_entropy(nan.view(), &[0, 1]),
            Err(Error::NonFinite(_))
        ));
        assert!(Loss::CrossEntropy
            .against_labels(Array2::zeros((0, 3)).view(), &[])
            .is_err());
    }
}
