//! Row-wise softmax and log-softmax, computed stably (max subtracted first).

use ndarray::{Array2, ArrayView2, Axis};

/// Softmax of each row of `x`, optionally at temperature `t` (`softmax(x / t)`).
///
/// The row maximum is subtracted before exponentiating, so large logits do not overflow.
pub fn softmax_rows(x: ArrayView2<f32>, t: f32) -> Array2<f32> {
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
pub fn log_softmax_rows(x: ArrayView2<f32>, t: f32) -> Array2<f32> {
    let mut out = x.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let lse = row.iter().map(|&v| ((v - max) / t).exp()).sum::<f32>().ln();
        row.mapv_inplace(|v| (v - max) / t - lse);
    }
    out
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
        let p = softmax_rows(x.view(), 1.0);
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-6);
        }
        assert!((p[[1, 0]] - 0.5).abs() < 1e-6);
        let lp = log_softmax_rows(x.view(), 2.0);
        let p2 = softmax_rows(x.view(), 2.0);
        for (a, b) in lp.iter().zip(p2.iter()) {
            assert!((a.exp() - b).abs() < 1e-6);
        }
    }

    #[test]
    fn argmax_handles_binary_logits() {
        assert_eq!(argmax_rows(array![[0.3f32], [-0.2]].view()), vec![1, 0]);
        assert_eq!(argmax_rows(array![[0.1f32, 0.7, 0.7]].view()), vec![1]);
    }
}
