//! Structured pruning of an MLP: remove whole hidden neurons, giving a smaller dense model.
//!
//! Removing neuron `j` of hidden layer `i` deletes row `j` of `W_i`, entry `j` of `b_i` and
//! column `j` of `W_{i+1}`: the neuron's output (bias included) no longer reaches the next
//! layer, and every matrix is smaller and dense. Neurons are ranked by the L1 or L2 norm of
//! their incoming weights (Li et al. 2017, "Pruning Filters for Efficient ConvNets", use L1).
//!
//! [`StructuredPruner`] is what [`NeuronPruner`] (MLP neurons), [`HeadPruner`](super::HeadPruner)
//! and [`FfnChannelPruner`](super::FfnChannelPruner) (transformer heads and FFN channels) share:
//! a fraction of units to remove from each selected layer or block, a score per unit, and a
//! smaller model plus a report, so code written once against the trait runs on an MLP and on
//! an encoder.

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};
use crate::nn::{Forward, LayerFilter, Linear, Mlp};

/// A structured pruner: removes whole units (an MLP's hidden neurons, a transformer block's
/// attention heads or FFN channels) and returns a smaller dense model of the same kind, leaving
/// the given model unchanged.
///
/// Every implementation removes `round(n · fraction)` of the `n` units of each selected *group*
/// (a hidden layer `layers.{i}` of an MLP, a block `blocks.{i}` of an encoder), the
/// lowest-scored first, and keeps at least one; groups the [`LayerFilter`] does not select are
/// copied unchanged. Settings are checked when pruning (a fraction outside [0, 1) is
/// [`Error::InvalidParam`] `"fraction"`; a filter pattern that matches no group, or a filter
/// that selects none, is `"layers"`; a non-finite weight is [`Error::NonFinite`] naming it).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::nn::{Activation, Encoder, EncoderConfig, LayerFilter, Mlp, NormPlacement};
/// use shrink::prune::{HeadPruner, NeuronPruner, StructuredPruner};
///
/// /// Halves every selected group and checks the report, whatever the model kind.
/// fn halve<P: StructuredPruner>(pruner: &P, model: &P::Model) -> shrink::Result<P::Model> {
///     let scores = pruner.scores(model)?;
///     let (smaller, report) = pruner.prune(model)?;
///     let summary = pruner.summary(&report);
///     for ((name, s), (unit, before, kept)) in scores.iter().zip(&summary.layers) {
///         assert_eq!((name, s.len()), (unit, *before));
///         assert_eq!(*kept, before - (*before as f32 * pruner.fraction()).round() as usize);
///     }
///     assert!(summary.params_after < summary.params_before);
///     Ok(smaller)
/// }
///
/// let mut rng = StdRng::seed_from_u64(0);
/// let mlp = Mlp::new(&[8, 16, 16, 4], Activation::Relu, &mut rng)?;
/// let small = halve(&NeuronPruner::new(0.5).layers(LayerFilter::new().include("layers.0")), &mlp)?;
/// assert_eq!(small.sizes(), [8, 8, 16, 4]);
///
/// let config = EncoderConfig {
///     vocab_size: 50, hidden_size: 16, num_heads: 4, num_layers: 2, intermediate_size: 32,
///     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
///     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
/// };
/// let encoder = Encoder::new(config, &mut rng)?;
/// let narrow = halve(&HeadPruner::new(0.5), &encoder)?;
/// assert_eq!(narrow.block_widths(), [(2, 32), (2, 32)]);
/// # Ok::<(), shrink::Error>(())
/// ```
pub trait StructuredPruner {
    /// The model kind pruned ([`Mlp`], [`Encoder`](crate::nn::Encoder)).
    type Model;
    /// What a pruning pass reports (see [`StructuredPruner::summary`] for its common form).
    type Report;

    /// The fraction of each selected group's units removed (checked when pruning: [0, 1)).
    fn fraction(&self) -> f32;

    /// Which groups are pruned, by name (`layers.{i}` hidden layers of an MLP — the output
    /// layer is never a candidate —, `blocks.{i}` of an encoder).
    fn layer_filter(&self) -> &LayerFilter;

    /// The names of the groups that can be pruned in `model`, in order (what the filter
    /// selects from).
    fn groups(&self, model: &Self::Model) -> Vec<String>;

    /// Per selected group, in order: its name and one score per unit (lower is removed first).
    /// Errors like [`StructuredPruner::prune`] on a bad filter or a non-finite weight.
    fn scores(&self, model: &Self::Model) -> Result<Vec<(String, Vec<f32>)>>;

    /// The smaller model and the report; `model` is not changed.
    fn prune(&self, model: &Self::Model) -> Result<(Self::Model, Self::Report)>;

    /// The report in the form every structured pruner shares: per pruned group (name, units
    /// before, units kept), and the model's parameters before and after.
    fn summary(&self, report: &Self::Report) -> StructuredReport;
}

/// The indices to keep, ascending: all but the `round(n·fraction)` lowest scores (ties: the
/// higher index is removed first), at least one.
pub(crate) fn keep_highest(scores: &[f32], fraction: f32) -> Vec<usize> {
    let n = scores.len();
    let remove = ((n as f64 * f64::from(fraction)).round() as usize).min(n.saturating_sub(1));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut kept = order[..n - remove].to_vec();
    kept.sort_unstable();
    kept
}

/// Checks a fraction to remove: in [0, 1).
pub(crate) fn check_fraction(fraction: f32) -> Result<()> {
    if (0.0..1.0).contains(&fraction) {
        Ok(())
    } else {
        Err(Error::param(
            "fraction",
            format!("must be in [0, 1), got {fraction}"),
        ))
    }
}

/// How neurons are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NeuronNorm {
    /// Σ|w| of the neuron's incoming weights.
    #[default]
    L1,
    /// √Σw² of the neuron's incoming weights.
    L2,
}

/// Removes the fraction `fraction` of neurons from every hidden layer of an [`Mlp`] (the output
/// layer keeps its width), or from the hidden layers a [`LayerFilter`] selects, keeping at
/// least one per layer. A [`StructuredPruner`].
#[derive(Debug, Clone, PartialEq)]
pub struct NeuronPruner {
    fraction: f32,
    norm: NeuronNorm,
    filter: LayerFilter,
}

/// What structured pruning removed: [`NeuronPruner`]'s report, and the form every
/// [`StructuredPruner`] reports in through [`StructuredPruner::summary`].
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredReport {
    /// Per pruned layer or block, in order: (name, units before, units kept). Units are
    /// neurons for [`NeuronPruner`], heads or FFN channels for the transformer pruners; groups
    /// a filter leaves out are not listed.
    pub layers: Vec<(String, usize, usize)>,
    /// Parameters before.
    pub params_before: usize,
    /// Parameters after.
    pub params_after: usize,
}

impl NeuronPruner {
    /// Removes `fraction` (in [0, 1)) of each hidden layer's neurons, ranked by L1 norm.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(fraction: f32) -> Self {
        NeuronPruner {
            fraction,
            norm: NeuronNorm::L1,
            filter: LayerFilter::new(),
        }
    }

    /// Sets the ranking norm.
    pub fn norm(mut self, norm: NeuronNorm) -> Self {
        self.norm = norm;
        self
    }

    /// Prunes only the hidden layers `filter` selects among `layers.0` … `layers.{n-2}`
    /// (default: all of them); the others keep their width. Replaces any filter set before.
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Each neuron's score: the norm of its incoming weights.
    fn neuron_scores(&self, layer: &Linear) -> Vec<f32> {
        layer
            .weight()
            .rows()
            .into_iter()
            .map(|r| match self.norm {
                NeuronNorm::L1 => r.iter().map(|v| v.abs()).sum(),
                NeuronNorm::L2 => r.iter().map(|v| v * v).sum::<f32>().sqrt(),
            })
            .collect()
    }

    /// The selected hidden layers' names, after checking the settings and the weights.
    fn selected(&self, mlp: &Mlp) -> Result<Vec<String>> {
        check_fraction(self.fraction)?;
        let selected = self.filter.apply(&hidden_names(mlp))?;
        crate::train::check_model_finite(mlp, "")?;
        Ok(selected)
    }

    /// The smaller model; `mlp` is not changed.
    pub fn prune(&self, mlp: &Mlp) -> Result<(Mlp, StructuredReport)> {
        let selected = self.selected(mlp)?;
        let layers = mlp.layers();
        let mut new_layers: Vec<Linear> = Vec::with_capacity(layers.len());
        let mut report = Vec::new();
        // Input columns the current layer keeps (all, for the first layer).
        let mut keep_cols: Vec<usize> = (0..layers[0].in_features()).collect();
        for (i, layer) in layers.iter().enumerate() {
            let w = layer.weight().select(Axis(1), &keep_cols);
            let last = i + 1 == layers.len();
            let name = format!("layers.{i}");
            let keep_rows: Vec<usize> = if last || !selected.contains(&name) {
                (0..layer.out_features()).collect()
            } else {
                let kept = keep_highest(&self.neuron_scores(layer), self.fraction);
                report.push((name, layer.out_features(), kept.len()));
                kept
            };
            let w: Array2<f32> = w.select(Axis(0), &keep_rows);
            let b = layer.bias().select(Axis(0), &keep_rows);
            let mut kept_layer = Linear::new(w, b)?;
            // An unstructured mask on the kept weights stays, so fine-tuning keeps them at 0.
            if let Some(mask) = layer.mask() {
                kept_layer
                    .set_mask(mask.select(Axis(1), &keep_cols).select(Axis(0), &keep_rows))?;
            }
            new_layers.push(kept_layer);
            keep_cols = keep_rows;
        }
        let pruned = Mlp::from_layers(new_layers, mlp.activations().to_vec())?;
        let report = StructuredReport {
            layers: report,
            params_before: mlp.param_count(),
            params_after: pruned.param_count(),
        };
        Ok((pruned, report))
    }
}

/// The names of an MLP's hidden layers: every layer but the output one.
fn hidden_names(mlp: &Mlp) -> Vec<String> {
    (0..mlp.layers().len().saturating_sub(1))
        .map(|i| format!("layers.{i}"))
        .collect()
}

impl StructuredPruner for NeuronPruner {
    type Model = Mlp;
    type Report = StructuredReport;

    fn fraction(&self) -> f32 {
        self.fraction
    }

    fn layer_filter(&self) -> &LayerFilter {
        &self.filter
    }

    fn groups(&self, mlp: &Mlp) -> Vec<String> {
        hidden_names(mlp)
    }

    fn scores(&self, mlp: &Mlp) -> Result<Vec<(String, Vec<f32>)>> {
        let selected = self.selected(mlp)?;
        Ok(mlp
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("layers.{i}"), l))
            .filter(|(name, _)| selected.contains(name))
            .map(|(name, l)| (name, self.neuron_scores(l)))
            .collect())
    }

    fn prune(&self, mlp: &Mlp) -> Result<(Mlp, StructuredReport)> {
        NeuronPruner::prune(self, mlp)
    }

    fn summary(&self, report: &StructuredReport) -> StructuredReport {
        report.clone()
    }
}
