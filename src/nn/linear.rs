//! The fully connected layer `y = x·Wᵀ + b`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::Rng;

use super::ensure_finite;
use crate::error::{check_finite, Error, Result};
use crate::limits;

/// A fully connected layer: `y = x·Wᵀ + b` for a batch `x` of shape (batch, in).
///
/// The weight is stored as (out, in), as PyTorch and safetensors files store it, so a layer
/// loaded from a Hugging Face checkpoint needs no transpose.
///
/// ```
/// use ndarray::array;
/// use shrink::nn::Linear;
///
/// let layer = Linear::new(array![[1.0, 2.0], [0.0, -1.0]], array![0.5, 0.0])?;
/// let y = layer.forward(array![[1.0, 1.0]].view())?;
/// assert_eq!(y, array![[3.5, -1.0]]);
/// # Ok::<(), shrink::Error>(())
/// ```
///
/// A layer may carry a pruning mask (`false` = pruned): the masked weights are zero, and the
/// [`Trainer`](crate::train::Trainer) keeps them at exactly zero while fine-tuning by masking
/// their gradients and optimizer state.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    weight: Array2<f32>,
    bias: Array1<f32>,
    mask: Option<Array2<bool>>,
}

/// Gradients of a loss with respect to a [`Linear`] layer's parameters and input.
#[derive(Debug, Clone)]
pub struct LinearGrads {
    /// ∂L/∂W, shape (out, in).
    pub weight: Array2<f32>,
    /// ∂L/∂b, length out.
    pub bias: Array1<f32>,
    /// ∂L/∂x, shape (batch, in).
    pub input: Array2<f32>,
}

impl Linear {
    /// Builds a layer from a weight (out × in) and a bias (out). Errors on mismatched shapes,
    /// an empty weight, or non-finite values.
    pub fn new(weight: Array2<f32>, bias: Array1<f32>) -> Result<Self> {
        if weight.is_empty() {
            return Err(Error::Empty("Linear weight".into()));
        }
        if bias.len() != weight.nrows() {
            return Err(Error::shape("Linear::new bias", weight.nrows(), bias.len()));
        }
        check_finite(weight.iter(), || "Linear weight".into())?;
        check_finite(bias.iter(), || "Linear bias".into())?;
        let weight = if weight.is_standard_layout() {
            weight
        } else {
            weight.as_standard_layout().into_owned()
        };
        Ok(Linear {
            weight,
            bias,
            mask: None,
        })
    }

    /// A new layer with weights drawn from U(−1/√in, 1/√in) and biases from the same range,
    /// PyTorch's default initialisation (He et al. 2015 with a = √5).
    ///
    /// Errors with [`Error::InvalidParam`] on a zero size and [`Error::TooLarge`] if the weight
    /// exceeds [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS), the layer exceeds
    /// [`MAX_PARAMS`](crate::limits::MAX_PARAMS) or the memory cannot be allocated — checked
    /// before anything is allocated.
    pub fn init(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Result<Self> {
        const OP: &str = "Linear::init";
        if in_features == 0 || out_features == 0 {
            return Err(Error::param(
                "features",
                format!("layer sizes must be positive, got {in_features} → {out_features}"),
            ));
        }
        let n = limits::elements(OP, &[out_features, in_features])?;
        limits::add_params(OP, n, out_features)?;
        let bound = 1.0 / (in_features as f32).sqrt();
        // Row-major weight draws, then the bias: the order `from_shape_fn` drew them in, so
        // seeded models are unchanged.
        let mut w = limits::try_zeroed::<f32>(OP, n)?;
        w.iter_mut()
            .for_each(|v| *v = rng.random_range(-bound..bound));
        let mut b = limits::try_zeroed::<f32>(OP, out_features)?;
        b.iter_mut()
            .for_each(|v| *v = rng.random_range(-bound..bound));
        let weight = Array2::from_shape_vec((out_features, in_features), w)
            .map_err(|e| Error::shape(OP, (out_features, in_features), e.to_string()))?;
        Ok(Linear {
            weight,
            bias: Array1::from(b),
            mask: None,
        })
    }

    /// The weight matrix, shape (out, in).
    pub fn weight(&self) -> ArrayView2<'_, f32> {
        self.weight.view()
    }

    /// The bias vector, length out.
    pub fn bias(&self) -> ArrayView1<'_, f32> {
        self.bias.view()
    }

    /// Mutable access to the weight and bias together, for optimizers and compression methods.
    /// The shapes cannot change through this view. The values written are not checked here: a
    /// NaN or infinity makes the next forward pass return [`Error::NonFinite`].
    pub fn params_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (
            self.weight
                .as_slice_mut()
                .expect("weight is kept in standard layout"),
            self.bias.as_slice_mut().expect("bias is contiguous"),
        )
    }

    /// Number of inputs.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Number of outputs.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// Number of parameters (weights plus biases).
    pub fn param_count(&self) -> usize {
        self.weight.len() + self.bias.len()
    }

    /// Checks that a batch has this layer's input width.
    pub(crate) fn check_input(&self, x: &ArrayView2<f32>, op: &'static str) -> Result<()> {
        if x.ncols() != self.in_features() {
            return Err(Error::shape(op, self.in_features(), x.ncols()));
        }
        Ok(())
    }

    /// `y = x·Wᵀ + b` for `x` of shape (batch, in).
    ///
    /// Errors with [`Error::ShapeMismatch`] on a wrong width, [`Error::NonFinite`] on a
    /// non-finite input or if the output overflows (or the parameters were made non-finite
    /// through [`Linear::params_mut`]), and [`Error::TooLarge`] if the output would exceed
    /// [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS).
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        const OP: &str = "Linear::forward";
        self.check_input(&x, OP)?;
        ensure_finite(&x, || format!("{OP} input"))?;
        limits::elements(OP, &[x.nrows(), self.out_features()])?;
        let y = self.forward_unchecked(x);
        ensure_finite(&y, || format!("{OP} output"))?;
        Ok(y)
    }

    /// The forward pass without the width check; callers have checked it.
    ///
    /// A single row goes through a matrix-vector product over the contiguous weight rows: the
    /// matrix-matrix path would first pack (copy) the whole weight for one row's worth of work.
    pub(crate) fn forward_unchecked(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = if x.nrows() == 1 {
            // The SIMD, multi-threaded GEMV of `crate::kernels` (lengths hold by construction;
            // ndarray's product stays as the fallback should the kernel ever refuse).
            let (rows, cols) = self.weight.dim();
            let xr = x.row(0);
            let xv = xr.as_slice().map_or_else(|| xr.to_vec(), <[f32]>::to_vec);
            let mut out = vec![0.0f32; rows];
            match self
                .weight
                .as_slice()
                .map(|w| crate::kernels::float::gemm_f32(&xv, 1, w, rows, cols, &mut out))
            {
                Some(Ok(())) => Array2::from_shape_vec((1, rows), out)
                    .unwrap_or_else(|_| self.weight.dot(&xr).insert_axis(Axis(0))),
                _ => self.weight.dot(&xr).insert_axis(Axis(0)),
            }
        } else {
            x.dot(&self.weight.t())
        };
        y += &self.bias;
        y
    }

    /// Back-propagates `grad_out` = ∂L/∂y (batch, out) through the layer evaluated at input `x`.
    pub fn backward(&self, x: ArrayView2<f32>, grad_out: ArrayView2<f32>) -> Result<LinearGrads> {
        self.check_input(&x, "Linear::backward input")?;
        if grad_out.dim() != (x.nrows(), self.out_features()) {
            return Err(Error::shape(
                "Linear::backward grad",
                (x.nrows(), self.out_features()),
                grad_out.dim(),
            ));
        }
        Ok(LinearGrads {
            weight: grad_out.t().dot(&x),
            bias: grad_out.sum_axis(Axis(0)),
            input: grad_out.dot(&self.weight),
        })
    }

    /// Replaces weight and bias together, checking shapes and values; on error the layer is
    /// unchanged. A mask, if set, stays and is applied to the new weight.
    pub fn set_params(&mut self, weight: Array2<f32>, bias: Array1<f32>) -> Result<()> {
        if weight.dim() != self.weight.dim() {
            return Err(Error::shape(
                "Linear::set_params",
                self.weight.dim(),
                weight.dim(),
            ));
        }
        // Build and check the new layer first, so an error leaves `self` (mask included)
        // untouched.
        let fresh = Linear::new(weight, bias)?;
        self.weight = fresh.weight;
        self.bias = fresh.bias;
        self.apply_mask();
        Ok(())
    }

    /// The pruning mask (`true` = kept), if one is set.
    pub fn mask(&self) -> Option<ArrayView2<'_, bool>> {
        self.mask.as_ref().map(|m| m.view())
    }

    /// Sets a pruning mask of the weight's shape and zeroes the pruned weights. Errors on a
    /// shape mismatch, leaving the layer unchanged.
    pub fn set_mask(&mut self, mask: Array2<bool>) -> Result<()> {
        if mask.dim() != self.weight.dim() {
            return Err(Error::shape(
                "Linear::set_mask",
                self.weight.dim(),
                mask.dim(),
            ));
        }
        self.mask = Some(mask);
        self.apply_mask();
        Ok(())
    }

    /// Removes the mask; the weights stay as they are (pruned ones at zero) but may now change
    /// in training.
    pub fn clear_mask(&mut self) {
        self.mask = None;
    }

    /// Zeroes the weights the mask prunes.
    pub(crate) fn apply_mask(&mut self) {
        if let Some(mask) = &self.mask {
            self.weight.zip_mut_with(mask, |w, &keep| {
                if !keep {
                    *w = 0.0;
                }
            });
        }
    }

    /// Number of weights (biases excluded) that are exactly zero.
    pub fn zero_weights(&self) -> usize {
        self.weight.iter().filter(|&&w| w == 0.0).count()
    }

    /// Fraction of weights (biases excluded) that are exactly zero.
    pub fn sparsity(&self) -> f32 {
        self.zero_weights() as f32 / self.weight.len() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_grad_close, numeric_grad};
    use ndarray::array;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(Linear::new(array![[1.0, 2.0]], array![0.0, 1.0]).is_err());
        assert!(Linear::new(array![[f32::NAN]], array![0.0]).is_err());
        let l = Linear::new(array![[1.0, 2.0]], array![0.0]).unwrap();
        assert!(matches!(
            l.forward(array![[1.0, 2.0, 3.0]].view()),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = StdRng::seed_from_u64(1);
        let layer = Linear::init(5, 3, &mut rng).unwrap();
        let x = Array2::from_shape_fn((4, 5), |_| rng.random_range(-1.0..1.0f32));
        let r = Array2::from_shape_fn((4, 3), |_| rng.random_range(-1.0..1.0f32));
        // L = Σ r ⊙ y, so ∂L/∂y = r.
        let loss = |l: &Linear, x: &Array2<f32>| (l.forward(x.view()).unwrap() * &r).sum();
        let g = layer.backward(x.view(), r.view()).unwrap();

        let num_x = numeric_grad(&x, |xp| loss(&layer, xp));
        assert_grad_close(&g.input, &num_x, "dx");
        let num_w = numeric_grad(&layer.weight, |w| {
            loss(&Linear::new(w.clone(), layer.bias.clone()).unwrap(), &x)
        });
        assert_grad_close(&g.weight, &num_w, "dW");
        let b2 = layer.bias.clone().insert_axis(Axis(0));
        let num_b = numeric_grad(&b2, |b| {
            loss(
                &Linear::new(layer.weight.clone(), b.row(0).to_owned()).unwrap(),
                &x,
            )
        });
        assert_grad_close(&g.bias.insert_axis(Axis(0)), &num_b, "db");
    }
}
