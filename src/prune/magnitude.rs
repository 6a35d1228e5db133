//! Magnitude pruning: remove the weights of smallest |w| (Han et al. 2015, "Learning both
//! Weights and Connections for Efficient Neural Networks").

use super::pruner::{
    apply_masks, check_sparsity, collect_scores, magnitude, masks_for_scope, skip_filter,
    PruneReport, Pruner, Scope,
};
use crate::error::Result;
use crate::nn::{LayerFilter, NamedLinears};

/// Prunes the fraction `sparsity` of weights with the smallest |w|, per layer or globally.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::data::Dataset;
/// use shrink::eval::evaluate;
/// use shrink::nn::{Activation, Mlp};
/// use shrink::prune::{MagnitudePruner, Pruner};
/// use shrink::train::{Adam, Trainer};
///
/// let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
/// let mut mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
/// let dense_acc = evaluate(&mlp, &test)?.accuracy; // measured 0.9638
///
/// // 80% of the first layer's weights, the output layer kept whole.
/// let report = MagnitudePruner::new(0.8).global().skip(["layers.1"]).prune(&mut mlp)?;
/// assert!((report.sparsity() - 0.8).abs() < 1e-3);
/// assert!((mlp.layers()[0].sparsity() - 0.8).abs() < 1e-3);
/// // Straight after pruning: 0.9136. Fine-tuning 5 epochs with the masks held (about 15 ms in
/// // release) brings it back to 0.9610, within 1 point of the dense model.
/// Trainer::new(Adam::new(1e-3)).epochs(5).seed(1).fit(&mut mlp, &train, None)?;
/// assert!(evaluate(&mlp, &test)?.accuracy >= dense_acc - 0.01);
/// assert!((mlp.layers()[0].sparsity() - 0.8).abs() < 1e-3);
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MagnitudePruner {
    sparsity: f32,
    scope: Scope,
    filter: LayerFilter,
}

impl MagnitudePruner {
    /// Layer-wise magnitude pruning to `sparsity` (checked in [`Pruner::prune`]: [0, 1)).
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(sparsity: f32) -> Self {
        MagnitudePruner {
            sparsity,
            scope: Scope::Layer,
            filter: LayerFilter::new(),
        }
    }

    /// Ranks all target layers' weights together.
    pub fn global(mut self) -> Self {
        self.scope = Scope::Global;
        self
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

impl Pruner for MagnitudePruner {
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport> {
        check_sparsity(self.sparsity)?;
        let scores = collect_scores(model, &self.filter, |_, l| Ok(magnitude(l.weight())))?;
        apply_masks(model, masks_for_scope(scores, self.scope, self.sparsity))
    }
}
