//! The multi-layer perceptron: a chain of [`Linear`] layers, each followed by an activation.

use ndarray::{Array2, ArrayView2};
use rand::Rng;

use super::{ensure_finite, Activation, Forward, Linear, LinearGrads, LinearLayer, NamedLinears};
use crate::error::{Error, Result};
use crate::limits;

/// A multi-layer perceptron: `layers[i]` followed by `activations[i]`, in order.
///
/// Generic over the layer type: `Mlp` (= `Mlp<Linear>`) is the dense, trainable model;
/// compressed models are `Mlp<L>` for their own [`LinearLayer`] (built with
/// [`Mlp::map_layers`]) and run the same forward pass.
///
/// The last activation is usually [`Activation::Identity`], so the model outputs logits; losses
/// apply softmax or sigmoid themselves. Layer `i` is named `"layers.i"` for
/// [`NamedLinears`].
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::nn::{Activation, Forward, Mlp};
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut rng)?;
/// assert_eq!(mlp.param_count(), 64 * 32 + 32 + 32 * 10 + 10);
/// let logits = mlp.forward(ndarray::Array2::zeros((3, 64)).view())?;
/// assert_eq!(logits.dim(), (3, 10));
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp<L = Linear> {
    layers: Vec<L>,
    activations: Vec<Activation>,
}

/// What a training forward pass keeps for the backward pass.
#[derive(Debug, Clone)]
pub struct MlpCache {
    /// The input of each layer (the batch itself for layer 0).
    inputs: Vec<Array2<f32>>,
    /// The pre-activation output of each layer.
    pre: Vec<Array2<f32>>,
}

impl<L: LinearLayer> Mlp<L> {
    /// Builds an MLP from existing layers and one activation per layer; each layer's input width
    /// must equal the previous layer's output width.
    pub fn from_layers(layers: Vec<L>, activations: Vec<Activation>) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::Empty("Mlp needs at least one layer".into()));
        }
        if activations.len() != layers.len() {
            return Err(Error::shape(
                "Mlp::from_layers activations",
                layers.len(),
                activations.len(),
            ));
        }
        for (i, pair) in layers.windows(2).enumerate() {
            if pair[1].in_features() != pair[0].out_features() {
                return Err(Error::shape(
                    if i == 0 {
                        "Mlp layer 1 input"
                    } else {
                        "Mlp layer input"
                    },
                    pair[0].out_features(),
                    pair[1].in_features(),
                ));
            }
        }
        Ok(Mlp {
            layers,
            activations,
        })
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[L] {
        &self.layers
    }

    /// Mutable access to the layers. A layer replaced through it by one of other widths makes
    /// the next forward or backward pass fail with [`Error::ShapeMismatch`] (each layer checks
    /// its input width); parameters made non-finite make it fail with [`Error::NonFinite`].
    pub fn layers_mut(&mut self) -> &mut [L] {
        &mut self.layers
    }

    /// The activation after each layer.
    pub fn activations(&self) -> &[Activation] {
        &self.activations
    }

    /// Layer widths: the input width, then each layer's output width.
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].in_features())
            .chain(self.layers.iter().map(L::out_features))
            .collect()
    }

    fn check_batch(&self, x: &ArrayView2<f32>, op: &'static str) -> Result<()> {
        if x.ncols() != self.layers[0].in_features() {
            return Err(Error::shape(op, self.layers[0].in_features(), x.ncols()));
        }
        ensure_finite(x, || format!("{op} input"))
    }

    /// The activations after hidden layer `index` (0-based; the model's output for the last),
    /// used for feature distillation and calibration.
    ///
    /// Errors with [`Error::InvalidParam`] for an `index` past the last layer, and as
    /// [`Forward::forward`]: a wrong width or a non-finite input, and [`Error::NonFinite`]
    /// naming the first layer whose output is not finite (`"Mlp layers.1 output"`).
    pub fn hidden(&self, x: ArrayView2<f32>, index: usize) -> Result<Array2<f32>> {
        if index >= self.layers.len() {
            return Err(Error::param(
                "index",
                format!(
                    "layer {index} does not exist (model has {})",
                    self.layers.len()
                ),
            ));
        }
        self.run(x, index, "Mlp::hidden")
    }

    /// Runs layers `0..=last` on `x`, checking the input, each activation's size and each
    /// layer's output.
    fn run(&self, x: ArrayView2<f32>, last: usize, op: &'static str) -> Result<Array2<f32>> {
        self.check_batch(&x, op)?;
        let mut h: Option<Array2<f32>> = None;
        for (i, (layer, act)) in self
            .layers
            .iter()
            .zip(&self.activations)
            .take(last + 1)
            .enumerate()
        {
            limits::elements(op, &[x.nrows(), layer.out_features()])?;
            let input = h.as_ref().map_or(x, |a| a.view());
            let mut y = layer
                .forward_checked_by_caller(input)
                .map_err(|e| match e {
                    Error::NonFinite(what) => Error::NonFinite(format!("Mlp layers.{i}: {what}")),
                    e => e,
                })?;
            // Before the activation: ReLU turns NaN and −∞ into 0. Activations of finite
            // values are finite, so the next layer's input needs no check of its own.
            ensure_finite(&y, || format!("Mlp layers.{i} output"))?;
            act.forward_inplace(&mut y);
            h = Some(y);
        }
        h.ok_or_else(|| Error::Empty("Mlp has no layer".into()))
    }

    /// A model with every layer converted by `f` (called with the layer's name,
    /// `"layers.{i}"`, and the layer), keeping the activations: how compressed models are built
    /// from a dense one.
    pub fn map_layers<L2: LinearLayer>(
        &self,
        mut f: impl FnMut(&str, &L) -> Result<L2>,
    ) -> Result<Mlp<L2>> {
        let layers = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| f(&format!("layers.{i}"), l))
            .collect::<Result<Vec<_>>>()?;
        Mlp::from_layers(layers, self.activations.clone())
    }
}

impl MlpCache {
    /// The output of hidden layer `i` (after its activation) in the cached forward pass, or
    /// `None` if `i` is not a hidden layer.
    pub fn hidden_output(&self, i: usize) -> Option<ArrayView2<'_, f32>> {
        self.inputs.get(i + 1).map(|a| a.view())
    }
}

impl Mlp {
    /// A freshly initialised MLP with the given layer widths (`sizes[0]` inputs, then one entry
    /// per layer), `hidden` after every layer but the last, and identity after the last.
    ///
    /// Errors with [`Error::InvalidParam`] on fewer than two sizes or a zero size, and with
    /// [`Error::TooLarge`] if a layer exceeds [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or
    /// the model exceeds [`MAX_PARAMS`](crate::limits::MAX_PARAMS) — checked for the whole model
    /// before any layer is allocated.
    pub fn new(sizes: &[usize], hidden: Activation, rng: &mut impl Rng) -> Result<Self> {
        const OP: &str = "Mlp::new";
        if sizes.len() < 2 {
            return Err(Error::param(
                "sizes",
                format!("need an input and at least one layer width, got {sizes:?}"),
            ));
        }
        // Size the whole model before allocating any layer.
        let mut total = 0usize;
        for w in sizes.windows(2) {
            if w[0] == 0 || w[1] == 0 {
                return Err(Error::param(
                    "sizes",
                    format!("layer sizes must be positive, got {sizes:?}"),
                ));
            }
            let n = limits::elements(OP, &[w[1], w[0]])?;
            total = limits::add_params(OP, total, n)?;
            total = limits::add_params(OP, total, w[1])?;
        }
        let layers = sizes
            .windows(2)
            .map(|w| Linear::init(w[0], w[1], rng))
            .collect::<Result<Vec<_>>>()?;
        let mut activations = vec![hidden; layers.len()];
        activations[layers.len() - 1] = Activation::Identity;
        Ok(Mlp {
            layers,
            activations,
        })
    }

    /// Checks that `cache` came from a forward pass of a model of this shape: one input and one
    /// pre-activation per layer, of one batch size and this model's widths.
    fn check_cache(&self, cache: &MlpCache) -> Result<()> {
        const OP: &str = "Mlp::backward cache";
        let n = self.layers.len();
        if cache.inputs.len() != n || cache.pre.len() != n {
            return Err(Error::shape(OP, n, (cache.inputs.len(), cache.pre.len())));
        }
        let batch = cache.inputs[0].nrows();
        for (i, l) in self.layers.iter().enumerate() {
            let want = [(batch, l.in_features()), (batch, l.out_features())];
            let got = [cache.inputs[i].dim(), cache.pre[i].dim()];
            if got != want {
                return Err(Error::shape(OP, want, got));
            }
        }
        Ok(())
    }

    /// Forward pass that keeps what [`Mlp::backward`] needs. Checks the input as
    /// [`Forward::forward`] does but not the output: trainers check the loss instead and report
    /// a divergence there.
    pub fn forward_train(&self, x: ArrayView2<f32>) -> Result<(Array2<f32>, MlpCache)> {
        const OP: &str = "Mlp::forward_train";
        self.check_batch(&x, OP)?;
        for l in &self.layers {
            limits::elements(OP, &[x.nrows(), l.out_features()])?;
        }
        let mut inputs = Vec::with_capacity(self.layers.len());
        let mut pre = Vec::with_capacity(self.layers.len());
        let mut h = x.to_owned();
        for (layer, act) in self.layers.iter().zip(&self.activations) {
            // A layer replaced through `layers_mut` may not chain.
            layer.check_input(&h.view(), OP)?;
            let z = layer.forward_unchecked(h.view());
            let a = act.forward(z.view());
            inputs.push(h);
            pre.push(z);
            h = a;
        }
        Ok((h, MlpCache { inputs, pre }))
    }

    /// Back-propagates ∂L/∂output through the network, returning one [`LinearGrads`] per layer
    /// (the input gradient of layer 0 is ∂L/∂x). Errors with [`Error::ShapeMismatch`] if
    /// `cache` did not come from this model's shape or `grad_out` does not match the output.
    pub fn backward(
        &self,
        cache: &MlpCache,
        grad_out: ArrayView2<f32>,
    ) -> Result<Vec<LinearGrads>> {
        self.backward_with_hidden(cache, grad_out, &[])
    }

    /// [`Mlp::backward`] with extra gradients on hidden outputs: each `(i, g)` adds `g` to
    /// ∂L/∂(output of layer `i` after its activation), for losses that also look inside the
    /// network (feature distillation). `i` must name a hidden layer (not the last).
    pub fn backward_with_hidden(
        &self,
        cache: &MlpCache,
        grad_out: ArrayView2<f32>,
        hidden_grads: &[(usize, ArrayView2<f32>)],
    ) -> Result<Vec<LinearGrads>> {
        let last = self.layers.len() - 1;
        self.check_cache(cache)?;
        let want = cache.pre[last].dim();
        if grad_out.dim() != want {
            return Err(Error::shape("Mlp::backward", want, grad_out.dim()));
        }
        for (i, g) in hidden_grads {
            if *i >= last {
                return Err(Error::param(
                    "hidden_grads",
                    format!(
                        "layer {i} is not a hidden layer of a {}-layer MLP",
                        last + 1
                    ),
                ));
            }
            if g.dim() != cache.pre[*i].dim() {
                return Err(Error::shape(
                    "Mlp::backward hidden grad",
                    cache.pre[*i].dim(),
                    g.dim(),
                ));
            }
        }
        let mut grads = Vec::with_capacity(self.layers.len());
        let mut g = grad_out.to_owned();
        for i in (0..self.layers.len()).rev() {
            for (_, extra) in hidden_grads.iter().filter(|(j, _)| *j == i) {
                g += extra;
            }
            let gz = self.activations[i].backward(cache.pre[i].view(), g.view())?;
            let lg = self.layers[i].backward(cache.inputs[i].view(), gz.view())?;
            g = lg.input.clone();
            grads.push(lg);
        }
        grads.reverse();
        Ok(grads)
    }
}

impl<L: LinearLayer> Forward for Mlp<L> {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.run(x, self.layers.len() - 1, "Mlp::forward")
    }

    fn in_features(&self) -> usize {
        self.layers[0].in_features()
    }

    fn out_features(&self) -> usize {
        self.layers[self.layers.len() - 1].out_features()
    }

    fn param_count(&self) -> usize {
        self.layers.iter().map(L::param_count).sum()
    }

    fn storage_bytes(&self) -> usize {
        self.layers.iter().map(L::storage_bytes).sum()
    }

    fn check_finite_params(&self) -> Result<()> {
        for (i, l) in self.layers.iter().enumerate() {
            l.check_finite_params(&format!("layers.{i}"))?;
        }
        Ok(())
    }
}

impl NamedLinears for Mlp {
    fn visit_linears(&self, f: &mut dyn FnMut(&str, &Linear)) {
        for (i, l) in self.layers.iter().enumerate() {
            f(&format!("layers.{i}"), l);
        }
    }

    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&str, &mut Linear)) {
        for (i, l) in self.layers.iter_mut().enumerate() {
            f(&format!("layers.{i}"), l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_grad_close, numeric_grad};
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn backward_matches_finite_differences_for_every_activation() {
        for act in [
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Gelu,
            Activation::GeluTanh,
        ] {
            let mut rng = StdRng::seed_from_u64(7);
            let mlp = Mlp::new(&[4, 6, 5, 3], act, &mut rng).unwrap();
            let x = Array2::from_shape_fn((3, 4), |_| rng.random_range(-1.0..1.0f32));
            let r = Array2::from_shape_fn((3, 3), |_| rng.random_range(-1.0..1.0f32));
            let (_, cache) = mlp.forward_train(x.view()).unwrap();
            let grads = mlp.backward(&cache, r.view()).unwrap();
            let num = numeric_grad(&x, |xp| (mlp.forward(xp.view()).unwrap() * &r).sum());
            assert_grad_close(&grads[0].input, &num, &format!("{act:?} dx"));
            let w1 = mlp.layers[1].weight().to_owned();
            let num_w = numeric_grad(&w1, |w| {
                let mut m = mlp.clone();
                let b = m.layers[1].bias().to_owned();
                m.layers[1].set_params(w.clone(), b).unwrap();
                (m.forward(x.view()).unwrap() * &r).sum()
            });
            assert_grad_close(&grads[1].weight, &num_w, &format!("{act:?} dW1"));
        }
    }

    #[test]
    fn hidden_gradients_match_finite_differences() {
        let mut rng = StdRng::seed_from_u64(8);
        let mlp = Mlp::new(&[4, 6, 5, 3], Activation::Tanh, &mut rng).unwrap();
        let x = Array2::from_shape_fn((3, 4), |_| rng.random_range(-1.0..1.0f32));
        let r = Array2::from_shape_fn((3, 3), |_| rng.random_range(-1.0..1.0f32));
        let q = Array2::from_shape_fn((3, 6), |_| rng.random_range(-1.0..1.0f32));
        // L = Σ r ⊙ y + Σ q ⊙ h₀, with h₀ the first hidden output.
        let loss = |m: &Mlp, x: &Array2<f32>| {
            (m.forward(x.view()).unwrap() * &r).sum() + (m.hidden(x.view(), 0).unwrap() * &q).sum()
        };
        let (_, cache) = mlp.forward_train(x.view()).unwrap();
        assert_eq!(
            cache.hidden_output(0).unwrap(),
            mlp.hidden(x.view(), 0).unwrap()
        );
        let grads = mlp
            .backward_with_hidden(&cache, r.view(), &[(0, q.view())])
            .unwrap();
        let num = numeric_grad(&x, |xp| loss(&mlp, xp));
        assert_grad_close(&grads[0].input, &num, "dx with hidden grad");
        assert!(mlp
            .backward_with_hidden(&cache, r.view(), &[(2, r.view())])
            .is_err());
    }

    #[test]
    fn rejects_mismatched_layers_and_inputs() {
        let mut rng = StdRng::seed_from_u64(0);
        let a = Linear::init(4, 3, &mut rng).unwrap();
        let b = Linear::init(5, 2, &mut rng).unwrap();
        assert!(Mlp::from_layers(vec![a, b], vec![Activation::Relu; 2]).is_err());
        assert!(Mlp::new(&[4], Activation::Relu, &mut rng).is_err());
        let m = Mlp::new(&[4, 3], Activation::Relu, &mut rng).unwrap();
        assert!(m.forward(Array2::zeros((2, 5)).view()).is_err());
        let mut nan = Array2::zeros((1, 4));
        nan[[0, 1]] = f32::NAN;
        assert!(matches!(m.forward(nan.view()), Err(Error::NonFinite(_))));
    }

    #[test]
    fn names_layers_in_order() {
        let mut rng = StdRng::seed_from_u64(0);
        let m = Mlp::new(&[4, 3, 2], Activation::Relu, &mut rng).unwrap();
        assert_eq!(m.linear_names(), vec!["layers.0", "layers.1"]);
        assert_eq!(m.sizes(), vec![4, 3, 2]);
    }
}
