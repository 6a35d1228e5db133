//! Layer normalisation over the last dimension (Ba, Kiros & Hinton 2016).
//!
//! For each row `x` of a batch of shape (rows, hidden):
//!
//! ```text
//! μ = mean(x),  σ² = mean((x − μ)²)          (biased variance, as PyTorch)
//! x̂ = (x − μ) / √(σ² + ε)
//! y = γ ⊙ x̂ + β                              γ, β of length hidden
//! ```
//!
//! The backward pass, with `g = ∂L/∂y` and `s = √(σ² + ε)`:
//!
//! ```text
//! ∂L/∂β = Σ_rows g
//! ∂L/∂γ = Σ_rows g ⊙ x̂
//! ∂L/∂x = (1/s)·(ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))      with ĝ = g ⊙ γ, means per row
//! ```

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, Zip};

use super::ensure_finite;
use crate::error::{check_finite, Error, Result};
use crate::limits;

/// Layer normalisation over the last dimension of a (rows, hidden) batch, with a learned scale
/// `γ` (`weight`) and shift `β` (`bias`).
///
/// ```
/// use ndarray::array;
/// use shrink::nn::LayerNorm;
///
/// let ln = LayerNorm::identity(2, 1e-5)?;
/// let y = ln.forward(array![[1.0, 3.0]].view())?;
/// assert!((y[[0, 0]] + 1.0).abs() < 1e-4 && (y[[0, 1]] - 1.0).abs() < 1e-4);
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    weight: Array1<f32>,
    bias: Array1<f32>,
    eps: f32,
}

/// Gradients of a loss with respect to a [`LayerNorm`]'s input and parameters.
#[derive(Debug, Clone)]
pub struct LayerNormGrads {
    /// ∂L/∂x, shape (rows, hidden).
    pub input: Array2<f32>,
    /// ∂L/∂γ, length hidden.
    pub weight: Array1<f32>,
    /// ∂L/∂β, length hidden.
    pub bias: Array1<f32>,
}

impl LayerNorm {
    /// Builds a LayerNorm from `γ` (`weight`), `β` (`bias`) and `eps`. Errors if the vectors are
    /// empty or of different lengths, hold non-finite values, or if `eps` is not a positive
    /// finite number.
    pub fn new(weight: Array1<f32>, bias: Array1<f32>, eps: f32) -> Result<Self> {
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::param(
                "eps",
                format!("LayerNorm eps must be positive and finite, got {eps}"),
            ));
        }
        if weight.is_empty() {
            return Err(Error::Empty("LayerNorm weight".into()));
        }
        if bias.len() != weight.len() {
            return Err(Error::shape(
                "LayerNorm::new bias",
                weight.len(),
                bias.len(),
            ));
        }
        check_finite(weight.iter(), || "LayerNorm weight".into())?;
        check_finite(bias.iter(), || "LayerNorm bias".into())?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// A LayerNorm of width `dim` with `γ = 1` and `β = 0`, the standard initialisation.
    /// Errors as [`LayerNorm::new`], and with [`Error::TooLarge`] if `2·dim` parameters exceed
    /// the limits of [`crate::limits`] or cannot be allocated.
    pub fn identity(dim: usize, eps: f32) -> Result<Self> {
        const OP: &str = "LayerNorm::identity";
        limits::add_params(OP, dim, dim)?;
        let mut weight = limits::try_zeroed::<f32>(OP, dim)?;
        weight.fill(1.0);
        let bias = limits::try_zeroed::<f32>(OP, dim)?;
        LayerNorm::new(Array1::from(weight), Array1::from(bias), eps)
    }

    /// The scale `γ`.
    pub fn weight(&self) -> ArrayView1<'_, f32> {
        self.weight.view()
    }

    /// The shift `β`.
    pub fn bias(&self) -> ArrayView1<'_, f32> {
        self.bias.view()
    }

    /// The variance floor `ε`.
    pub fn eps(&self) -> f32 {
        self.eps
    }

    /// The normalised width.
    pub fn dim(&self) -> usize {
        self.weight.len()
    }

    /// Number of parameters (`γ` and `β`).
    pub fn param_count(&self) -> usize {
        2 * self.weight.len()
    }

    fn check_input(&self, x: &ArrayView2<f32>, op: &'static str) -> Result<()> {
        if x.ncols() != self.dim() {
            return Err(Error::shape(op, self.dim(), x.ncols()));
        }
        Ok(())
    }

    /// Normalises each row of `x` (rows, hidden), giving the same shape. Errors on a wrong
    /// width ([`Error::ShapeMismatch`]), a non-finite input, or an output that overflows (a huge
    /// `γ`) ([`Error::NonFinite`]).
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        const OP: &str = "LayerNorm::forward";
        self.check_input(&x, OP)?;
        ensure_finite(&x, || format!("{OP} input"))?;
        let y = self.forward_unchecked(x);
        ensure_finite(&y, || format!("{OP} output"))?;
        Ok(y)
    }

    /// The forward pass without the width check; callers have checked it.
    pub(crate) fn forward_unchecked(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let (xhat, _) = self.normalise(x);
        let mut y = xhat;
        y *= &self.weight;
        y += &self.bias;
        y
    }

    /// `x̂` and the per-row `1/√(σ² + ε)`; statistics accumulate in f64.
    fn normalise(&self, x: ArrayView2<f32>) -> (Array2<f32>, Array1<f32>) {
        let n = x.ncols() as f64;
        let mut xhat = x.to_owned();
        let mut inv_std = Array1::zeros(x.nrows());
        Zip::from(xhat.rows_mut())
            .and(&mut inv_std)
            .for_each(|mut row, inv| {
                let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = row
                    .iter()
                    .map(|&v| (f64::from(v) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let r = 1.0 / (var + f64::from(self.eps)).sqrt();
                row.mapv_inplace(|v| ((f64::from(v) - mean) * r) as f32);
                *inv = r as f32;
            });
        (xhat, inv_std)
    }

    /// Back-propagates `grad_out` = ∂L/∂y (rows, hidden) through the LayerNorm evaluated at
    /// input `x`, giving ∂L/∂x, ∂L/∂γ and ∂L/∂β.
    pub fn backward(
        &self,
        x: ArrayView2<f32>,
        grad_out: ArrayView2<f32>,
    ) -> Result<LayerNormGrads> {
        self.check_input(&x, "LayerNorm::backward input")?;
        if grad_out.dim() != x.dim() {
            return Err(Error::shape(
                "LayerNorm::backward grad",
                x.dim(),
                grad_out.dim(),
            ));
        }
        let (xhat, inv_std) = self.normalise(x);
        let bias = grad_out.sum_axis(Axis(0));
        let weight = (&grad_out * &xhat).sum_axis(Axis(0));
        let mut input = &grad_out * &self.weight; // ĝ
        let n = x.ncols() as f32;
        Zip::from(input.rows_mut())
            .and(xhat.rows())
            .and(&inv_std)
            .for_each(|mut g, xh, &r| {
                let mean_g = g.sum() / n;
                let mean_gx = g.dot(&xh) / n;
                Zip::from(&mut g)
                    .and(&xh)
                    .for_each(|g, &xh| *g = r * (*g - mean_g - xh * mean_gx));
            });
        Ok(LayerNormGrads {
            input,
            weight,
            bias,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_grad_close, numeric_grad};
    use ndarray::array;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn rows_have_zero_mean_and_unit_variance() {
        let ln = LayerNorm::identity(4, 1e-6).unwrap();
        let y = ln
            .forward(array![[1.0, 2.0, 3.0, 4.0], [-5.0, 0.0, 5.0, 10.0]].view())
            .unwrap();
        for row in y.rows() {
            assert!(row.sum().abs() < 1e-5);
            assert!((row.mapv(|v| v * v).sum() / 4.0 - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn rejects_bad_parameters_and_inputs() {
        for eps in [0.0, -1e-5, f32::NAN, f32::INFINITY] {
            assert!(matches!(
                LayerNorm::identity(3, eps),
                Err(Error::InvalidParam { name: "eps", .. })
            ));
        }
        assert!(matches!(LayerNorm::identity(0, 1e-5), Err(Error::Empty(_))));
        assert!(matches!(
            LayerNorm::new(array![1.0, 1.0], array![0.0], 1e-5),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(matches!(
            LayerNorm::new(array![1.0, f32::NAN], array![0.0, 0.0], 1e-5),
            Err(Error::NonFinite(_))
        ));
        let ln = LayerNorm::identity(3, 1e-5).unwrap();
        assert!(matches!(
            ln.forward(Array2::zeros((2, 4)).view()),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = StdRng::seed_from_u64(3);
        let d = 6;
        let weight = Array1::from_shape_fn(d, |_| rng.random_range(0.5..1.5f32));
        let bias = Array1::from_shape_fn(d, |_| rng.random_range(-0.5..0.5f32));
        let ln = LayerNorm::new(weight.clone(), bias.clone(), 1e-5).unwrap();
        let x = Array2::from_shape_fn((4, d), |_| rng.random_range(-2.0..2.0f32));
        let r = Array2::from_shape_fn((4, d), |_| rng.random_range(-1.0..1.0f32));
        // L = Σ r ⊙ y, so ∂L/∂y = r.
        let loss = |l: &LayerNorm, x: &Array2<f32>| (l.forward(x.view()).unwrap() * &r).sum();
        let g = ln.backward(x.view(), r.view()).unwrap();

        let num_x = numeric_grad(&x, |xp| loss(&ln, xp));
        assert_grad_close(&g.input, &num_x, "dx");
        let w2 = weight.clone().insert_axis(Axis(0));
        let num_w = numeric_grad(&w2, |w| {
            loss(
                &LayerNorm::new(w.row(0).to_owned(), bias.clone(), 1e-5).unwrap(),
                &x,
            )
        });
        assert_grad_close(&g.weight.insert_axis(Axis(0)), &num_w, "dγ");
        let b2 = bias.clone().insert_axis(Axis(0));
        let num_b = numeric_grad(&b2, |b| {
            loss(
                &LayerNorm::new(weight.clone(), b.row(0).to_owned(), 1e-5).unwrap(),
                &x,
            )
        });
        assert_grad_close(&g.bias.insert_axis(Axis(0)), &num_b, "dβ");
    }
}
