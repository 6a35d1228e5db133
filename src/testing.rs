//! Helpers shared by the unit tests: central finite differences and gradient comparison.

use ndarray::Array2;

/// Central finite-difference gradient of the scalar `f` at `x`, with step 1e-2 (f32 arithmetic
/// makes smaller steps noisier than the O(h²) truncation error they save).
pub(crate) fn numeric_grad(x: &Array2<f32>, f: impl Fn(&Array2<f32>) -> f32) -> Array2<f32> {
    let h = 1e-2f32;
    let mut xp = x.clone();
    let mut g = Array2::zeros(x.dim());
    for idx in 0..x.len() {
        let (i, j) = (idx / x.ncols(), idx % x.ncols());
        let orig = xp[[i, j]];
        xp[[i, j]] = orig + h;
        let up = f64::from(f(&xp));
        xp[[i, j]] = orig - h;
        let down = f64::from(f(&xp));
        xp[[i, j]] = orig;
        g[[i, j]] = ((up - down) / (2.0 * f64::from(h))) as f32;
    }
    g
}

/// Asserts that an analytic gradient matches a numeric one: |a − n| ≤ 2e-3 + 2e-2·max(|a|, |n|)
/// element-wise.
pub(crate) fn assert_grad_close(analytic: &Array2<f32>, numeric: &Array2<f32>, what: &str) {
    assert_eq!(analytic.dim(), numeric.dim(), "{what}: shapes differ");
    for (k, (a, n)) in analytic.iter().zip(numeric.iter()).enumerate() {
        let tol = 2e-3 + 2e-2 * a.abs().max(n.abs());
        assert!(
            (a - n).abs() <= tol,
            "{what}[{k}]: analytic {a}, numeric {n}"
        );
    }
}
