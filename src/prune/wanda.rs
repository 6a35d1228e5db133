//! Wanda: pruning by weights and activations (Sun, Liu, Bair & Kolter 2023, "A Simple and
//! Effective Pruning Approach for Large Language Models").
//!
//! Each weight is scored `S_ij = |W_ij| · ‖X_j‖₂`, where `‖X_j‖₂` is the L2 norm of input
//! feature `j` over the calibration samples, and weights are compared within each output row
//! (the paper's per-output comparison group). A small weight on a large-magnitude input feature
//! matters more than its magnitude says; Wanda keeps it.

use std::collections::HashMap;

use ndarray::{Array1, ArrayView2, Axis};

use super::pruner::{
    apply_masks, check_sparsity, collect_scores, masks_per_row, skip_filter, PruneReport, Pruner,
};
use crate::error::{check_finite, Error, Result};
use crate::nn::{LayerFilter, Mlp, NamedLinears};

/// Per-layer input feature norms ‖X_j‖₂ from calibration data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivationNorms {
    norms: HashMap<String, Array1<f32>>,
}

/// Column L2 norms of a batch (summed in f64); errors if a norm is beyond f32's range.
fn column_norms(x: ArrayView2<f32>, name: &str) -> Result<Array1<f32>> {
    let norms = x.map_axis(Axis(0), |c| {
        c.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt() as f32
    });
    check_finite(norms.iter(), || {
        format!("activation norms of layer `{name}` (inputs too large for f32)")
    })?;
    Ok(norms)
}

impl ActivationNorms {
    /// The input norms of every layer of `mlp` on the calibration batch `x` (batch, in).
    pub fn from_mlp(mlp: &Mlp, x: ArrayView2<f32>) -> Result<Self> {
        if x.nrows() == 0 {
            return Err(Error::Empty("calibration batch".into()));
        }
        crate::train::check_model_finite(mlp, "")?;
        let (_, cache) = mlp.forward_train(x)?;
        let mut norms = HashMap::new();
        norms.insert("layers.0".to_string(), column_norms(x, "layers.0")?);
        for i in 1..mlp.layers().len() {
            if let Some(h) = cache.hidden_output(i - 1) {
                let name = format!("layers.{i}");
                check_finite(h.iter(), || format!("calibration inputs of `{name}`"))?;
                norms.insert(name.clone(), column_norms(h, &name)?);
            }
        }
        Ok(ActivationNorms { norms })
    }

    /// Records the inputs `x` (batch, in) seen by the layer `name`, for models whose layer
    /// inputs the caller collects (an encoder's projections).
    pub fn insert(&mut self, name: impl Into<String>, x: ArrayView2<f32>) -> Result<()> {
        check_finite(x.iter(), || "calibration inputs".into())?;
        let name = name.into();
        let norms = column_norms(x, &name)?;
        self.norms.insert(name, norms);
        Ok(())
    }

    /// The norms of layer `name`'s input features.
    pub fn get(&self, name: &str) -> Option<&Array1<f32>> {
        self.norms.get(name)
    }
}

/// Wanda pruning to `sparsity` per output row, from calibration norms.
#[derive(Debug, Clone, PartialEq)]
pub struct WandaPruner {
    sparsity: f32,
    norms: ActivationNorms,
    filter: LayerFilter,
}

impl WandaPruner {
    /// Wanda at `sparsity`, using the calibration `norms` of every target layer.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(sparsity: f32, norms: ActivationNorms) -> Self {
        WandaPruner {
            sparsity,
            norms,
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

impl Pruner for WandaPruner {
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport> {
        check_sparsity(self.sparsity)?;
        let scores = collect_scores(model, &self.filter, |name, l| {
            let norms = self.norms.get(name).ok_or_else(|| {
                Error::param(
                    "calibration",
                    format!("no activation norms for layer `{name}`"),
                )
            })?;
            if norms.len() != l.in_features() {
                return Err(Error::shape(
                    "Wanda calibration width",
                    l.in_features(),
                    norms.len(),
                ));
            }
            Ok(&l.weight().mapv(f32::abs) * norms)
        })?;
        apply_masks(model, masks_per_row(scores, self.sparsity))
    }
}
