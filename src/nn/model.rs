//! The traits every model kind shares: inference on a batch, and a walk over named layers.
//!
//! # What a forward pass accepts and returns
//!
//! Every model and layer in [`crate::nn`] and [`crate::sparse`] follows one policy, so that a
//! forward pass never returns `Ok` holding garbage:
//!
//! - **Inputs are checked finite.** A NaN or infinity anywhere in the input of a `forward`
//!   ([`Forward::forward`], [`LinearLayer::forward`], [`Linear::forward`], [`Mlp`]'s
//!   [`hidden`](super::Mlp::hidden), [`TransformerBlock::forward`](super::TransformerBlock::forward),
//!   [`MultiHeadAttention::forward`](super::MultiHeadAttention::forward),
//!   [`LayerNorm::forward`](super::LayerNorm::forward),
//!   [`Encoder::mean_pool_states`](super::Encoder::mean_pool_states)) is
//!   [`Error::NonFinite`] naming the model or op and "input", together with the width and
//!   emptiness checks ([`Error::ShapeMismatch`], [`Error::Empty`]).
//! - **Outputs are checked finite.** Finite inputs can still overflow (an input of `3e38`, weights
//!   that are huge but finite, or a NaN written through [`Linear::params_mut`] after
//!   construction). A forward pass that produces a NaN or infinity returns [`Error::NonFinite`]
//!   naming the first layer whose output is not finite — `"Mlp layers.1 output"`,
//!   `"Encoder blocks.3 output"`, `"Linear::forward output"` — instead of `Ok`. The check is
//!   one vectorised, branch-free pass over each layer's output, cheap next to the layer's
//!   product. An [`Mlp`](super::Mlp) checks its input once and then each layer's output
//!   *before* the activation (ReLU maps NaN and −∞ to 0, so a check after it would let a NaN
//!   weight through as a silent 0), asking the layers to skip their own duplicate checks
//!   ([`LinearLayer::forward_checked_by_caller`]); an [`Encoder`](super::Encoder) checks after
//!   the embeddings, every block and every LayerNorm, and the layers inside a block check
//!   their own outputs.
//! - **Constructors check their values and sizes.** Constructors that take weights reject
//!   non-finite values ([`Error::NonFinite`]); constructors that allocate
//!   ([`Linear::init`], [`Mlp::new`](super::Mlp::new), [`Encoder::new`](super::Encoder::new),
//!   [`TransformerBlock::new`](super::TransformerBlock::new),
//!   [`MultiHeadAttention::init`](super::MultiHeadAttention::init),
//!   [`LayerNorm::identity`](super::LayerNorm::identity)) size every tensor and the model's total
//!   parameter count with checked arithmetic against [`crate::limits::MAX_ELEMENTS`] and
//!   [`crate::limits::MAX_PARAMS`] **before** allocating anything, and allocate fallibly, so an
//!   absurd size is [`Error::TooLarge`], never an overflow, a panic or an abort.
//! - **Forward passes bound what they allocate from caller sizes.** An activation of batch ×
//!   width is allowed up to [`crate::limits::MAX_ELEMENTS`]; attention's (seq × seq) scores are
//!   bounded the same way, so a long sequence is [`Error::TooLarge`], not an abort.
//!
//! The training forward pass [`Mlp::forward_train`](super::Mlp::forward_train) checks its input
//! but not its output: the trainers check the loss instead and report divergence there.

use ndarray::{Array2, ArrayBase, ArrayView2, Data, Dimension};

use super::softmax::argmax_rows;
use super::Linear;
use crate::error::{Error, Result};

/// Whether every value is finite, in one branch-free pass that vectorises (unlike a
/// short-circuiting `all(is_finite)`): an f32 is NaN or infinite exactly when its magnitude
/// bits exceed those of `f32::MAX`, a signed 32-bit compare even baseline SSE2 has; the
/// results are OR-ed. About 0.1 ns per value against 0.3 for `all(is_finite)`.
pub(crate) fn all_finite(values: &[f32]) -> bool {
    const MAX_BITS: i32 = 0x7f7f_ffff; // f32::MAX
    values.iter().fold(0u32, |acc, v| {
        acc | u32::from((v.to_bits() & 0x7fff_ffff) as i32 > MAX_BITS)
    }) == 0
}

/// A layer's `forward` under the policy above: the width (`in_features`), a finite input, then
/// `compute`, then a finite output; each error names `op`.
pub(crate) fn checked_forward(
    op: &'static str,
    in_features: usize,
    x: ArrayView2<f32>,
    compute: impl FnOnce(ArrayView2<f32>) -> Result<Array2<f32>>,
) -> Result<Array2<f32>> {
    if x.ncols() != in_features {
        return Err(Error::shape(op, in_features, x.ncols()));
    }
    ensure_finite(&x, || format!("{op} input"))?;
    let y = compute(x)?;
    ensure_finite(&y, || format!("{op} output"))?;
    Ok(y)
}

/// [`Error::NonFinite`] naming `what` if `a` holds a NaN or an infinity.
pub(crate) fn ensure_finite<S, D>(a: &ArrayBase<S, D>, what: impl FnOnce() -> String) -> Result<()>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    let ok = match a.as_slice_memory_order() {
        Some(s) => all_finite(s),
        None => a.iter().all(|v| v.is_finite()),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::NonFinite(what()))
    }
}

/// Inference on a batch of feature rows: the one interface that evaluation, distillation
/// teachers and compression reports use, implemented by every model kind (f32 now; pruned, sparse
/// and quantized models implement it too).
pub trait Forward: Send + Sync {
    /// Runs the model on `x` of shape (batch, in_features), returning (batch, out_features).
    /// Errors on a wrong width, a non-finite input, or a non-finite output (see the module
    /// docs).
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
    /// `y` for a batch `x` of shape (batch, in); errors on a wrong width, a non-finite input or
    /// a non-finite output (see the module docs).
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

    /// [`LinearLayer::forward`] for a caller that has already checked that `x` is finite and
    /// checks the output itself — a model passing one layer's output to the next — so a layer
    /// may skip its own finiteness passes (the width is still checked). The default runs
    /// [`LinearLayer::forward`]; [`Linear`] and the sparse layers skip the passes, so called
    /// directly on a non-finite input they return a non-finite output: use
    /// [`LinearLayer::forward`] unless you check both yourself.
    fn forward_checked_by_caller(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.forward(x)
    }
}

impl LinearLayer for Linear {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        Linear::forward(self, x)
    }

    fn forward_checked_by_caller(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.check_input(&x, "Linear::forward")?;
        Ok(self.forward_unchecked(x))
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
        check_params_finite(name, &self.weight(), &self.bias())
    }
}

/// [`Error::NonFinite`] naming `"{name} weight"` or `"{name} bias"` if either holds a NaN or an
/// infinity (one vectorised pass each, [`all_finite`]). The one parameter check of the crate:
/// layers, LayerNorms and the train/prune/quantize entry checks all call it.
pub(crate) fn check_params_finite<S, D>(
    name: &str,
    weight: &ArrayBase<S, D>,
    bias: &ArrayBase<S, ndarray::Ix1>,
) -> Result<()>
where
    S: Data<Elem = f32>,
    D: Dimension,
{
    ensure_finite(weight, || format!("{name} weight"))?;
    ensure_finite(bias, || format!("{name} bias"))
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
