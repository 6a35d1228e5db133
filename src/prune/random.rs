//! Random pruning: the baseline every other method must beat.

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::pruner::{
    apply_masks, check_sparsity, collect_scores, masks_for_scope, skip_filter, PruneReport, Pruner,
    Scope,
};
use crate::error::Result;
use crate::nn::{LayerFilter, NamedLinears};

/// Prunes a uniformly random `sparsity` fraction of the weights (seeded), per layer or globally.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomPruner {
    sparsity: f32,
    seed: u64,
    scope: Scope,
    filter: LayerFilter,
}

impl RandomPruner {
    /// Layer-wise random pruning to `sparsity`, drawn from `seed`.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(sparsity: f32, seed: u64) -> Self {
        RandomPruner {
            sparsity,
            seed,
            scope: Scope::Layer,
            filter: LayerFilter::new(),
        }
    }

    /// Sets the scope.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
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

impl Pruner for RandomPruner {
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport> {
        check_sparsity(self.sparsity)?;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let scores = collect_scores(model, &self.filter, |_, l| {
            Ok(Array2::from_shape_fn(l.weight().dim(), |_| {
                rng.random::<f32>()
            }))
        })?;
        apply_masks(model, masks_for_scope(scores, self.scope, self.sparsity))
    }
}
