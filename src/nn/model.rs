//! The traits every model kind shares: inference on a batch, and a walk over named layers.

use ndarray::{Array2, ArrayView2};

use super::softmax::argmax_rows;
use super::Linear;
use crate::error::Result;

/// Inference on a batch of feature rows: the one interface that evaluation, distillation
/// teachers and compression reports use, implemented by every model kind (f32 now; pruned, sparse
/// and quantized models implement it too).
pub trait Forward: Send + Sync {
    /// Runs the model on `x` of shape (batch, in_features), returning (batch, out_features).
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Width of the input rows.
    fn in_features(&self) -> usize;

    /// Width of the output rows.
    fn out_features(&self) -> usize;

    /// Number of parameters (every stored weight, bias and norm scale, zero or not).
    fn param_count(&self) -> usize;

    /// Exact bytes needed to store the parameters in the model's own format (values plus any
    /// scales, zero points or indices), excluding configuration metadata.
    fn storage_bytes(&self) -> usize;

    /// Predicted class per row: the argmax of the outputs, or for a single output column (a
    /// binary classifier's logit) 1 where it is positive.
    fn predict(&self, x: ArrayView2<f32>) -> Result<Vec<usize>> {
        Ok(argmax_rows(self.forward(x)?.view()))
    }

    /// Checks that every stored parameter is finite, with [`crate::Error::NonFinite`] naming
    /// the first bad tensor (`"layers.1 weight"`): the one-pass entry check of distillation
    /// (a NaN weight can hide behind a ReLU and still give finite outputs). The default accepts
    /// models whose parameters can only be set through checking constructors.
    fn check_finite_params(&self) -> Result<()> {
        Ok(())
    }
}

/// A layer computing `y = f(x)` from (batch, in) to (batch, out) with stored weights: the dense
/// [`Linear`], and the pruned, sparse and quantized layers that replace it. Models generic over
/// it ([`Mlp<L>`](super::Mlp)) run the same glue (activations, residuals, norms) whatever the
/// layer's storage, so a compressed model keeps its weights packed and computes on them.
pub trait LinearLayer: Send + Sync + std::fmt::Debug {
    /// `y` for a batch `x` of shape (batch, in); errors on a wrong width.
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>>;

    /// Number of inputs.
    fn in_features(&self) -> usize;

    /// Number of outputs.
    fn out_features(&self) -> usize;

    /// Number of parameters the layer represents (out·in + out for a dense layer, also when
    /// some are zero or quantized).
    fn param_count(&self) -> usize;

    /// Exact bytes of the stored parameters (values plus scales, zero points, indices).
    fn storage_bytes(&self) -> usize;

    /// Number of parameters that are not zero (all of them unless the layer is pruned).
    fn nonzeros(&self) -> usize {
        self.param_count()
    }

    /// Checks that the stored parameters are finite, naming the layer `name` in the error (see
    /// [`Forward::check_finite_params`]); the default accepts layers built by checking
    /// constructors.
    fn check_finite_params(&self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }
}

impl LinearLayer for Linear {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        Linear::forward(self, x)
    }

    fn in_features(&self) -> usize {
        Linear::in_features(self)
    }

    fn out_features(&self) -> usize {
        Linear::out_features(self)
    }

    fn param_count(&self) -> usize {
        Linear::param_count(self)
    }

    fn storage_bytes(&self) -> usize {
        Linear::param_count(self) * std::mem::size_of::<f32>()
    }

    fn nonzeros(&self) -> usize {
        Linear::param_count(self)
            - self.zero_weights()
            - self.bias().iter().filter(|&&b| b == 0.0).count()
    }

    fn check_finite_params(&self, name: &str) -> Result<()> {
        crate::train::check_linear_finite(self, "", name)
    }
}

/// A model made of named [`Linear`] layers plus glue, so a compression technique can visit every
/// layer of an [`Mlp`](super::Mlp) or an [`Encoder`](super::Encoder) by a stable name
/// (`"layers.1"`, `"blocks.0.attn.q"`) and be written once.
pub trait NamedLinears {
    /// Calls `f` with every linear layer and its name, in forward order.
    fn visit_linears(&self, f: &mut dyn FnMut(&str, &Linear));

    /// Calls `f` with every linear layer and its name, in forward order, mutably.
    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&str, &mut Linear));

    /// The names of all linear layers, in forward order.
    fn linear_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.visit_linears(&mut |name, _| names.push(name.to_string()));
        names
    }
}
