//! Threshold pruning: remove every weight with |w| < α·max|w| of its layer.

use ndarray::Array2;

use super::pruner::{apply_masks, selected_layers, skip_filter, PruneReport, Pruner};
use crate::error::{Error, Result};
use crate::nn::{LayerFilter, NamedLinears};

/// Prunes, in each layer, the weights with |w| < α·max|w|. The resulting sparsity is whatever the
/// weights give: after L1-regularised training most weights sit near zero and a small α removes
/// them (the classic "train with L1, threshold, fine-tune" pipeline).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdPruner {
    alpha: f32,
    filter: LayerFilter,
}

impl ThresholdPruner {
    /// Pruning below `alpha`·max|w| per layer; `alpha` must be in [0, 1].
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(alpha: f32) -> Self {
        ThresholdPruner {
            alpha,
            filter: LayerFilter::new(),
        }
    }

    /// Prunes only the layers `filter` selects (default: every layer), replacing any filter or
    /// [`skip`](Self::skip) set before. Checked against the model's names when pruning.
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Leaves the named layers (e.g. the classifier) unpruned. A shorthand for
    /// [`layers`](Self::layers) with a [`LayerFilter`] excluding each name (an exact name is a
    /// pattern matching only itself), replacing any filter set before; a name that is not a
    /// layer of the model is an error when pruning.
    pub fn skip<S: Into<String>>(self, names: impl IntoIterator<Item = S>) -> Self {
        self.layers(skip_filter(names))
    }

    /// The layer filter.
    pub fn layer_filter(&self) -> &LayerFilter {
        &self.filter
    }
}

impl Pruner for ThresholdPruner {
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::param(
                "alpha",
                format!("must be in [0, 1], got {}", self.alpha),
            ));
        }
        let selected = selected_layers(model, &self.filter)?;
        crate::train::check_model_finite(model, "")?;
        let mut masks = Vec::new();
        model.visit_linears(&mut |name, layer| {
            if !selected.iter().any(|s| s == name) {
                return;
            }
            let w = layer.weight();
            let cut = self.alpha * w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let mut mask: Array2<bool> = w.mapv(|v| v.abs() >= cut && v != 0.0);
            if let Some(old) = layer.mask() {
                mask.zip_mut_with(&old, |m, &keep| *m &= keep);
            }
            masks.push((name.to_string(), mask));
        });
        apply_masks(model, masks)
    }
}
