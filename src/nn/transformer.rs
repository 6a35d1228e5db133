//! The transformer block: self-attention and a feed-forward network, each wrapped in a residual
//! connection and a LayerNorm, in either of the two arrangements in use.
//!
//! For `x` of shape (seq, hidden), with `FFN(h) = act(h·W_inᵀ + b_in)·W_outᵀ + b_out` through
//! an intermediate width:
//!
//! ```text
//! post-LN (BERT):  h = LN₁(x + Attn(x));      y = LN₂(h + FFN(h))
//! pre-LN (GPT-2):  h = x + Attn(LN₁(x));      y = h + FFN(LN₂(h))
//! ```
//!
//! Shapes: W_in is (intermediate × hidden), b_in (intermediate), W_out (hidden × intermediate).
//! Structured pruning ([`FfnChannelPruner`](crate::prune::FfnChannelPruner),
//! [`HeadPruner`](crate::prune::HeadPruner)) narrows a block — fewer FFN channels, fewer
//! attention heads (inner width `heads·head_dim < hidden`) — while its input and output stay
//! (seq, hidden), so blocks of different widths chain in one [`Encoder`](super::Encoder).

use ndarray::{Array2, ArrayView2};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::attention::{check_heads, check_sequence};
use super::ensure_finite;
use super::{
    Activation, Forward, LayerNorm, Linear, LinearLayer, MultiHeadAttention, NamedLinears,
};
use crate::error::{Error, Result};
use crate::limits;

/// Where a [`TransformerBlock`] puts its LayerNorms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NormPlacement {
    /// After each residual sum, as in BERT: `h = LN₁(x + Attn(x))`.
    PostLn,
    /// Before each sub-layer, inside the residual, as in GPT-2: `h = x + Attn(LN₁(x))`.
    PreLn,
}

/// The sizes and choices that define a [`TransformerBlock`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockConfig {
    /// Model width.
    pub hidden: usize,
    /// Number of attention heads; must divide `hidden`.
    pub heads: usize,
    /// Width of the feed-forward network's inner layer.
    pub intermediate: usize,
    /// Activation inside the feed-forward network.
    pub activation: Activation,
    /// LayerNorm arrangement.
    pub placement: NormPlacement,
    /// LayerNorm `ε`; positive and finite.
    pub layer_norm_eps: f32,
}

impl BlockConfig {
    /// Checks every value, naming the first bad one: [`Error::InvalidParam`] for a zero size,
    /// heads that do not divide `hidden` or a bad `ε`, [`Error::TooLarge`] if the block's
    /// parameters ([`BlockConfig::param_count`]) exceed the limits of [`crate::limits`].
    pub fn check(&self) -> Result<()> {
        self.check_values()?;
        self.param_count().map(|_| ())
    }

    /// Number of parameters of a block of this configuration (projections, feed-forward layers
    /// and LayerNorms), or [`Error::TooLarge`] if a tensor exceeds
    /// [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or the total exceeds
    /// [`MAX_PARAMS`](crate::limits::MAX_PARAMS) (or overflows).
    pub fn param_count(&self) -> Result<usize> {
        const OP: &str = "BlockConfig";
        let (h, i) = (self.hidden, self.intermediate);
        let attn = super::attention::attention_params(h)?;
        let ffn_in = limits::add_params(OP, limits::elements(OP, &[i, h])?, i)?;
        let ffn_out = limits::add_params(OP, limits::elements(OP, &[h, i])?, h)?;
        let norms = limits::elements(OP, &[4, h])?;
        [ffn_in, ffn_out, norms]
            .into_iter()
            .try_fold(attn, |acc, n| limits::add_params(OP, acc, n))
    }

    /// The value checks of [`BlockConfig::check`] without the size limits.
    pub(crate) fn check_values(&self) -> Result<()> {
        check_heads(self.hidden, self.heads)?;
        if self.intermediate == 0 {
            return Err(Error::param(
                "intermediate",
                "the feed-forward width must be positive, got 0",
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(Error::param(
                "layer_norm_eps",
                format!("must be positive and finite, got {}", self.layer_norm_eps),
            ));
        }
        Ok(())
    }
}

/// One transformer block: multi-head self-attention, a two-layer feed-forward network, two
/// residual connections and two LayerNorms (see the module docs for both arrangements).
///
/// Its linear layers are named `"attn.q"`, `"attn.k"`, `"attn.v"`, `"attn.o"`, `"ffn.in"` and
/// `"ffn.out"` for [`NamedLinears`].
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::nn::{Activation, BlockConfig, NormPlacement, TransformerBlock};
///
/// let config = BlockConfig {
///     hidden: 16,
///     heads: 4,
///     intermediate: 32,
///     activation: Activation::Gelu,
///     placement: NormPlacement::PostLn,
///     layer_norm_eps: 1e-12,
/// };
/// let block = TransformerBlock::new(&config, &mut StdRng::seed_from_u64(0))?;
/// let y = block.forward(ndarray::Array2::zeros((5, 16)).view(), None, false)?;
/// assert_eq!(y.dim(), (5, 16));
/// # Ok::<(), shrink::Error>(())
/// ```
///
/// Generic over the linear-layer type as [`Mlp`](super::Mlp) is: `TransformerBlock`
/// (= `TransformerBlock<Linear>`) is the dense model; compressed blocks are built with
/// [`TransformerBlock::map_linears`] and run the same forward code.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerBlock<L = Linear> {
    attn: MultiHeadAttention<L>,
    ln1: LayerNorm,
    ffn_in: L,
    ffn_out: L,
    ln2: LayerNorm,
    activation: Activation,
    placement: NormPlacement,
}

impl TransformerBlock {
    /// A freshly initialised block: projections as [`Linear::init`], LayerNorms with `γ = 1`,
    /// `β = 0`. Errors name the first invalid value of `config` ([`BlockConfig::check`]: sizes
    /// beyond the limits are [`Error::TooLarge`], found before anything is allocated).
    pub fn new(config: &BlockConfig, rng: &mut impl Rng) -> Result<Self> {
        config.check()?;
        let attn = MultiHeadAttention::init(config.hidden, config.heads, rng)?;
        let ffn_in = Linear::init(config.hidden, config.intermediate, rng)?;
        let ffn_out = Linear::init(config.intermediate, config.hidden, rng)?;
        let ln1 = LayerNorm::identity(config.hidden, config.layer_norm_eps)?;
        let ln2 = LayerNorm::identity(config.hidden, config.layer_norm_eps)?;
        TransformerBlock::from_parts(
            attn,
            [ln1, ln2],
            [ffn_in, ffn_out],
            config.activation,
            config.placement,
        )
    }
}

impl<L: LinearLayer> TransformerBlock<L> {
    /// Assembles a block from trained parts: attention, the LayerNorms `[ln1, ln2]` and the
    /// feed-forward layers `[in, out]`. Errors if the widths do not chain.
    pub fn from_parts(
        attn: MultiHeadAttention<L>,
        norms: [LayerNorm; 2],
        ffn: [L; 2],
        activation: Activation,
        placement: NormPlacement,
    ) -> Result<Self> {
        let hidden = attn.hidden();
        let [ln1, ln2] = norms;
        let [ffn_in, ffn_out] = ffn;
        let checks = [
            ("TransformerBlock ln1 width", ln1.dim()),
            ("TransformerBlock ln2 width", ln2.dim()),
            ("TransformerBlock ffn.in input", ffn_in.in_features()),
            ("TransformerBlock ffn.out output", ffn_out.out_features()),
        ];
        for (op, got) in checks {
            if got != hidden {
                return Err(Error::shape(op, hidden, got));
            }
        }
        if ffn_out.in_features() != ffn_in.out_features() {
            return Err(Error::shape(
                "TransformerBlock ffn.out input",
                ffn_in.out_features(),
                ffn_out.in_features(),
            ));
        }
        Ok(TransformerBlock {
            attn,
            ln1,
            ffn_in,
            ffn_out,
            ln2,
            activation,
            placement,
        })
    }

    /// The self-attention sub-layer.
    pub fn attention(&self) -> &MultiHeadAttention<L> {
        &self.attn
    }

    /// The first LayerNorm (after attention for post-LN, before it for pre-LN).
    pub fn ln1(&self) -> &LayerNorm {
        &self.ln1
    }

    /// The second LayerNorm (around the feed-forward network).
    pub fn ln2(&self) -> &LayerNorm {
        &self.ln2
    }

    /// The feed-forward network's first layer, hidden → intermediate.
    pub fn ffn_in(&self) -> &L {
        &self.ffn_in
    }

    /// The feed-forward network's second layer, intermediate → hidden.
    pub fn ffn_out(&self) -> &L {
        &self.ffn_out
    }

    /// The feed-forward activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// The LayerNorm arrangement.
    pub fn placement(&self) -> NormPlacement {
        self.placement
    }

    /// Model width.
    pub fn hidden(&self) -> usize {
        self.attn.hidden()
    }

    /// Width of the feed-forward network's inner layer (fewer than configured after FFN
    /// channel pruning).
    pub fn intermediate(&self) -> usize {
        self.ffn_in.out_features()
    }

    /// The block's sizes and choices.
    ///
    /// `heads` and `intermediate` are the block's current widths. After head pruning
    /// `heads · head_dim` is less than `hidden`, so the result describes the block but does not
    /// pass [`BlockConfig::check`] and cannot rebuild it with [`TransformerBlock::new`]; the
    /// head width is [`MultiHeadAttention::head_dim`].
    pub fn config(&self) -> BlockConfig {
        BlockConfig {
            hidden: self.hidden(),
            heads: self.attn.heads(),
            intermediate: self.ffn_in.out_features(),
            activation: self.activation,
            placement: self.placement,
            layer_norm_eps: self.ln1.eps(),
        }
    }

    /// Runs the block on one sequence `x` of shape (seq, hidden), giving (seq, hidden).
    ///
    /// `key_mask` and `causal` are passed to [`MultiHeadAttention::forward`]; errors on a wrong
    /// width, an empty or non-finite input, or a mask that leaves some query without keys; with
    /// [`Error::TooLarge`] if the sequence is so long that the attention scores (seq × seq) or
    /// the feed-forward activations (seq × intermediate) exceed the element limit; and with
    /// [`Error::NonFinite`] if the output is not finite.
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        const OP: &str = "TransformerBlock::forward";
        check_sequence(OP, self.hidden(), x, key_mask, causal)?;
        let y = self.forward_unchecked(x, key_mask, causal)?;
        ensure_finite(&y, || format!("{OP} output"))?;
        Ok(y)
    }

    /// The forward pass without input checks; callers have run them. Errors only if a
    /// linear layer does (a compressed layer's own checks).
    pub(crate) fn forward_unchecked(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        Ok(match self.placement {
            NormPlacement::PostLn => {
                let mut h = self.attn.forward_unchecked(x, key_mask, causal)?;
                h += &x;
                let h = self.ln1.forward_unchecked(h.view());
                let mut y = self.ffn(h.view())?;
                y += &h;
                self.ln2.forward_unchecked(y.view())
            }
            NormPlacement::PreLn => {
                let n1 = self.ln1.forward_unchecked(x);
                let mut h = self.attn.forward_unchecked(n1.view(), key_mask, causal)?;
                h += &x;
                let n2 = self.ln2.forward_unchecked(h.view());
                let mut y = self.ffn(n2.view())?;
                y += &h;
                y
            }
        })
    }

    /// `act(h·W_inᵀ + b_in)·W_outᵀ + b_out`.
    fn ffn(&self, h: ArrayView2<f32>) -> Result<Array2<f32>> {
        limits::elements("TransformerBlock ffn", &[h.nrows(), self.intermediate()])?;
        let mut z = self.ffn_in.forward(h)?;
        self.activation.forward_inplace(&mut z);
        let y = self.ffn_out.forward(z.view())?;
        // A layer replaced through `NamedLinears::visit_linears_mut` may have other widths.
        if y.dim() != h.dim() {
            return Err(Error::shape(
                "TransformerBlock ffn output",
                h.dim(),
                y.dim(),
            ));
        }
        Ok(y)
    }

    /// A block with every linear layer converted by `f`, called with its name (`"attn.q"` …
    /// `"ffn.out"`, as [`NamedLinears`]) and the layer; LayerNorms are kept.
    pub fn map_linears<L2: LinearLayer>(
        &self,
        mut f: impl FnMut(&str, &L) -> Result<L2>,
    ) -> Result<TransformerBlock<L2>> {
        let attn = self.attn.map_linears(|n, l| f(&format!("attn.{n}"), l))?;
        let ffn = [f("ffn.in", &self.ffn_in)?, f("ffn.out", &self.ffn_out)?];
        TransformerBlock::from_parts(
            attn,
            [self.ln1.clone(), self.ln2.clone()],
            ffn,
            self.activation,
            self.placement,
        )
    }

    /// Calls `f` with every linear layer and its name, in forward order (the generic twin of
    /// [`NamedLinears::visit_linears`]).
    pub fn visit_layers(&self, f: &mut dyn FnMut(&str, &L)) {
        for (name, l) in self.attn.linears() {
            f(&format!("attn.{name}"), l);
        }
        f("ffn.in", &self.ffn_in);
        f("ffn.out", &self.ffn_out);
    }

    /// Exact bytes of the parameters: each linear layer's own storage plus f32 LayerNorms.
    pub fn storage_bytes(&self) -> usize {
        let mut bytes = 4 * (self.ln1.param_count() + self.ln2.param_count());
        self.visit_layers(&mut |_, l| bytes += l.storage_bytes());
        bytes
    }

    /// Number of parameters (projections, feed-forward layers and LayerNorms).
    pub fn param_count(&self) -> usize {
        self.attn.param_count()
            + self.ffn_in.param_count()
            + self.ffn_out.param_count()
            + self.ln1.param_count()
            + self.ln2.param_count()
    }
}

impl<L: LinearLayer> Forward for TransformerBlock<L> {
    /// One sequence (seq, hidden) → (seq, hidden), without a mask and not causal.
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        TransformerBlock::forward(self, x, None, false)
    }

    fn in_features(&self) -> usize {
        self.hidden()
    }

    fn out_features(&self) -> usize {
        self.hidden()
    }

    fn param_count(&self) -> usize {
        TransformerBlock::param_count(self)
    }

    fn storage_bytes(&self) -> usize {
        TransformerBlock::storage_bytes(self)
    }

    /// Every projection (`attn.q` … `ffn.out`, through the layer type's own check) and both
    /// LayerNorms (`ln1`, `ln2`), naming the first non-finite tensor.
    fn check_finite_params(&self) -> Result<()> {
        for (name, l) in self.attn.linears() {
            l.check_finite_params(&format!("attn.{name}"))?;
        }
        self.ffn_in.check_finite_params("ffn.in")?;
        self.ffn_out.check_finite_params("ffn.out")?;
        for (name, ln) in [("ln1", &self.ln1), ("ln2", &self.ln2)] {
            super::model::check_params_finite(name, &ln.weight(), &ln.bias())?;
        }
        Ok(())
    }
}

impl NamedLinears for TransformerBlock {
    fn visit_linears(&self, f: &mut dyn FnMut(&str, &Linear)) {
        for (name, l) in self.attn.linears() {
            f(&format!("attn.{name}"), l);
        }
        f("ffn.in", &self.ffn_in);
        f("ffn.out", &self.ffn_out);
    }

    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&str, &mut Linear)) {
        for (name, l) in self.attn.linears_mut() {
            f(&format!("attn.{name}"), l);
        }
        f("ffn.in", &mut self.ffn_in);
        f("ffn.out", &mut self.ffn_out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn config(placement: NormPlacement) -> BlockConfig {
        BlockConfig {
            hidden: 8,
            heads: 2,
            intermediate: 16,
            activation: Activation::Gelu,
            placement,
            layer_norm_eps: 1e-5,
        }
    }

    #[test]
    fn a_non_finite_parameter_is_found_and_named() {
        let mut rng = StdRng::seed_from_u64(0);
        let block = TransformerBlock::new(&config(NormPlacement::PostLn), &mut rng).unwrap();
        assert!(Forward::check_finite_params(&block).is_ok());
        for (target, want) in [("attn.v", "attn.v weight"), ("ffn.out", "ffn.out weight")] {
            let mut bad = block.clone();
            bad.visit_linears_mut(&mut |name, l| {
                if name == target {
                    l.params_mut().0[3] = f32::NAN;
                }
            });
            match Forward::check_finite_params(&bad) {
                Err(Error::NonFinite(what)) => assert_eq!(what, want),
                other => panic!("{target}: {other:?}"),
            }
        }
    }

    #[test]
    fn checks_sizes_and_names_the_value() {
        let mut rng = StdRng::seed_from_u64(0);
        let bad = [
            (
                BlockConfig {
                    heads: 0,
                    ..config(NormPlacement::PostLn)
                },
                "heads",
            ),
            (
                BlockConfig {
                    heads: 3,
                    ..config(NormPlacement::PostLn)
                },
                "heads",
            ),
            (
                BlockConfig {
                    hidden: 0,
                    ..config(NormPlacement::PostLn)
                },
                "hidden",
            ),
            (
                BlockConfig {
                    intermediate: 0,
                    ..config(NormPlacement::PostLn)
                },
                "intermediate",
            ),
            (
                BlockConfig {
                    layer_norm_eps: 0.0,
                    ..config(NormPlacement::PostLn)
                },
                "layer_norm_eps",
            ),
        ];
        for (c, want) in bad {
            match TransformerBlock::new(&c, &mut rng) {
                Err(Error::InvalidParam { name, .. }) => assert_eq!(name, want),
                other => panic!("{c:?}: expected InvalidParam({want}), got {other:?}"),
            }
        }
    }

    #[test]
    fn both_placements_run_and_differ() {
        let x = Array2::from_shape_fn((4, 8), |(i, j)| ((i * 8 + j) as f32 * 0.37).sin());
        let post = TransformerBlock::new(
            &config(NormPlacement::PostLn),
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        let pre =
            TransformerBlock::new(&config(NormPlacement::PreLn), &mut StdRng::seed_from_u64(1))
                .unwrap();
        let a = Forward::forward(&post, x.view()).unwrap();
        let b = Forward::forward(&pre, x.view()).unwrap();
        assert_eq!(a.dim(), (4, 8));
        assert!(a.iter().zip(b.iter()).any(|(p, q)| (p - q).abs() > 1e-3));
        // Post-LN output rows are normalised (γ = 1, β = 0).
        for row in a.rows() {
            assert!(row.sum().abs() < 1e-4);
        }
        assert_eq!(
            Forward::param_count(&post),
            4 * 72 + 8 * 16 + 16 + 16 * 8 + 8 + 2 * 16
        );
        assert_eq!(post.storage_bytes(), 4 * Forward::param_count(&post));
    }

    #[test]
    fn names_linears_in_forward_order() {
        let block =
            TransformerBlock::new(&config(NormPlacement::PreLn), &mut StdRng::seed_from_u64(0))
                .unwrap();
        assert_eq!(
            block.linear_names(),
            ["attn.q", "attn.k", "attn.v", "attn.o", "ffn.in", "ffn.out"]
        );
    }
}
