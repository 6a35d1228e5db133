//! Row-wise softmax and log-softmax, computed stably (max subtracted first).

use ndarray::{Array2, ArrayView2, Axis};

use crate::error::{check_finite, Error, Result};

/// Checks a softmax temperature (finite and > 0) and the logits (finite).
fn check_inputs(x: &ArrayView2<f32>, t: f32, op: &'static str) -> Result<()> {
    if !(t > 0.0 && t.is_finite()) {
        return Err(Error::param(
            "temperature",
            format!("{op}: must be finite and > 0, got {t}"),
        ));
    }
    check_finite(x.iter(), || format!("{op} input"))
}

/// Softmax of each row of `x`, optionally at temperature `t` (`softmax(x / t)`).
///
/// The row maximum is subtracted before exponentiating, so large logits do not overflow; every
/// output is in [0, 1] and each row sums to 1. Errors with [`Error::InvalidParam`] if `t` is not
/// finite and > 0 (`t = 0` would divide by zero), and with [`Error::NonFinite`] on a NaN or
/// infinite logit.
pub fn softmax_rows(x: ArrayView2<f32>, t: f32) -> Result<Array2<f32>> {
    check_inputs(&x, t, "softmax_rows")?;
    Ok(softmax_rows_unchecked(x, t))
}

/// [`softmax_rows`] for callers that have checked `t` and `x` (the attention scores, the
/// losses).
pub(crate) fn softmax_rows_unchecked(x: ArrayView2<f32>, t: f32) -> Array2<f32> {
    let mut out = x.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut sum = 0.0f32;
        row.mapv_inplace(|v| {
            let e = ((v - max) / t).exp();
            sum += e;
            e
        });
        row.mapv_inplace(|v| v / sum);
    }
    out
}

/// Log-softmax of each row of `x` at temperature `t`: `log softmax(x / t)`.
///
/// Errors as [`softmax_rows`] does, and with [`Error::NonFinite`] if a log-probability falls
/// below f32's range (logits more than ~3.4e38·t apart), instead of returning −∞.
pub fn log_softmax_rows(x: ArrayView2<f32>, t: f32) -> Result<Array2<f32>> {
    check_inputs(&x, t, "log_softmax_rows")?;
    let mut out = x.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let lse = row.iter().map(|&v| ((v - max) / t).exp()).sum::<f32>().ln();
        row.mapv_inplace(|v| (v - max) / t - lse);
    }
    check_finite(out.iter(), || {
        format!("log_softmax_rows output (logits too far apart at temperature {t})")
    })?;
    Ok(out)
}

/// Index of the largest value in each row (the first one on ties); for a single-column input,
/// the logit of a binary classifier, 1 where the value is positive and 0 otherwise.
pub fn argmax_rows(x: ArrayView2<f32>) -> Vec<usize> {
    if x.ncols() == 1 {
        return x.column(0).iter().map(|&v| usize::from(v > 0.0)).collect();
    }
    x.axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn softmax_rows_sum_to_one_and_survive_large_logits() {
        let x = array![[1.0f32, 2.0, 3.0], [1000.0, 1000.0, -1000.0]];
        let p = softmax_rows(x.view(), 1.0).unwrap();
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!((p[[1, 0]] - 0.5).abs() < 1e-6);
        let lp = log_softmax_rows(x.view(), 2.0).unwrap();
        let p2 = softmax_rows(x.view(), 2.0).unwrap();
        for (a, b) in lp.iter().zip(p2.iter()) {
            assert!((a.exp() - b).abs() < 1e-6);
        }
    }

    #[test]
    fn bad_temperatures_and_logits_are_errors() {
        let x = array![[1.0f32, 2.0]];
        for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                softmax_rows(x.view(), t),
                Err(Error::InvalidParam { .. })
            ));
            assert!(matches!(
                log_softmax_rows(x.view(), t),
                Err(Error::InvalidParam { .. })
            ));
        }
        let nan = array![[1.0f32, f32::NAN]];
        assert!(matches!(
            softmax_rows(nan.view(), 1.0),
            Err(Error::NonFinite(_))
        ));
        let far = array![[-3e38f32, 3e38]];
        assert!(matches!(
            log_softmax_rows(far.view(), 1.0),
            Err(Error::NonFinite(_))
        ));
    }

    #[test]
    fn argmax_handles_binary_logits() {
        assert_eq!(argmax_rows(array![[0.3f32], [-0.2]].view()), vec![1, 0]);
        assert_eq!(argmax_rows(array![[0.1f32, 0.7, 0.7]].view()), vec![1]);
    }
}
