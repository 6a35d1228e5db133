//! The [`Pruner`] trait and the machinery every unstructured method shares: choosing target
//! layers by name, turning scores into masks, applying them, and reporting.

use std::collections::HashMap;

use ndarray::{Array2, ArrayView2};

use crate::error::{Error, Result};
use crate::nn::{LayerFilter, Linear, NamedLinears};

/// Prunes the weights of a model's named [`Linear`] layers by setting masks on them, so the
/// pruned weights are zero and stay zero while fine-tuning.
///
/// Which layers: every pruner of this crate takes a [`LayerFilter`] through its `.layers(..)`
/// method (all layers by default; its older `.skip(names)` is a shorthand for a filter
/// excluding those exact names). A pattern that matches no layer of the model, or a filter
/// that selects none, is [`Error::InvalidParam`] (`"layers"`) before anything is pruned.
///
/// Every pruner checks its settings (a sparsity outside [0, 1), NaN included, is
/// [`Error::InvalidParam`]) and the model's weights and biases ([`Error::NonFinite`] naming the
/// layer, e.g. `"layers.1 weight"`) before computing anything.
///
/// Written once against [`NamedLinears`], a pruner works on an [`Mlp`](crate::nn::Mlp) and on an
/// [`Encoder`](crate::nn::Encoder) alike. Weights already masked by an earlier pruning stay
/// pruned, so sparsity only grows (what gradual pruning needs). On error the model is untouched:
/// every mask is computed before any is applied.
pub trait Pruner {
    /// Computes and applies the masks, returning what was kept per layer.
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport>;
}

/// Whether a target sparsity applies to each layer or to all weights together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scope {
    /// Each layer is pruned to the target sparsity.
    #[default]
    Layer,
    /// The weights of all target layers are ranked together; layers end up with different
    /// sparsities and the total matches the target.
    Global,
}

/// What one pruning pass left in one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// The layer's name.
    pub name: String,
    /// Weight shape (out, in).
    pub shape: (usize, usize),
    /// Weights kept (non-zero mask entries).
    pub kept: usize,
    /// Fraction of weights pruned.
    pub sparsity: f32,
}

/// What a pruning pass did, per target layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PruneReport {
    /// One entry per pruned layer, in forward order.
    pub layers: Vec<LayerReport>,
}

impl PruneReport {
    /// Fraction of the target layers' weights that are pruned.
    pub fn sparsity(&self) -> f32 {
        let total: usize = self.layers.iter().map(|l| l.shape.0 * l.shape.1).sum();
        let kept: usize = self.layers.iter().map(|l| l.kept).sum();
        if total == 0 {
            0.0
        } else {
            1.0 - kept as f32 / total as f32
        }
    }
}

/// Checks a target sparsity: in [0, 1).
pub(crate) fn check_sparsity(sparsity: f32) -> Result<()> {
    if (0.0..1.0).contains(&sparsity) {
        Ok(())
    } else {
        Err(Error::param(
            "sparsity",
            format!("must be in [0, 1), got {sparsity}"),
        ))
    }
}

/// The names of the model's layers `filter` selects, after checking every pattern against them
/// (see [`LayerFilter::apply`]).
pub(crate) fn selected_layers(
    model: &dyn NamedLinears,
    filter: &LayerFilter,
) -> Result<Vec<String>> {
    filter.apply(&model.linear_names())
}

/// The filter the pruners' `.skip(names)` shorthand builds: every layer but those names.
pub(crate) fn skip_filter<S: Into<String>>(names: impl IntoIterator<Item = S>) -> LayerFilter {
    names
        .into_iter()
        .fold(LayerFilter::new(), |f, n| f.exclude(n))
}

/// Calls `score` on every layer `filter` selects, giving each weight a score (lower = pruned
/// first). Weights an existing mask prunes get −∞, so they stay pruned.
pub(crate) fn collect_scores(
    model: &dyn NamedLinears,
    filter: &LayerFilter,
    mut score: impl FnMut(&str, &Linear) -> Result<Array2<f32>>,
) -> Result<Vec<(String, Array2<f32>)>> {
    let selected = selected_layers(model, filter)?;
    crate::train::check_model_finite(model, "")?;
    let mut out = Vec::new();
    let mut err = None;
    model.visit_linears(&mut |name, layer| {
        if err.is_some() || !selected.iter().any(|s| s == name) {
            return;
        }
        match score(name, layer) {
            Ok(mut s) => {
                if let Some(mask) = layer.mask() {
                    s.zip_mut_with(&mask, |v, &keep| {
                        if !keep {
                            *v = f32::NEG_INFINITY;
                        }
                    });
                }
                out.push((name.to_string(), s));
            }
            Err(e) => err = Some(e),
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Marks the `k` lowest of `scores` (ties broken by position) as pruned in `mask`.
fn prune_lowest(scores: &[f32], k: usize, mask: &mut [bool]) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    if k == 0 {
        return;
    }
    let cmp = |a: &usize, b: &usize| scores[*a].total_cmp(&scores[*b]).then(a.cmp(b));
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, cmp);
    }
    for &i in &order[..k.min(order.len())] {
        mask[i] = false;
    }
}

/// A row-major mask of shape `dim` from its `dim.0 · dim.1` entries.
fn to_mask(dim: (usize, usize), flat: Vec<bool>) -> Array2<bool> {
    Array2::from_shape_vec(dim, flat).unwrap_or_else(|_| Array2::from_elem(dim, true))
}

/// The number of weights to prune out of `n` at `sparsity`.
pub(crate) fn prune_count(n: usize, sparsity: f32) -> usize {
    ((n as f64 * f64::from(sparsity)).round() as usize).min(n)
}

/// Masks pruning the lowest-scored `sparsity` of each layer.
pub(crate) fn masks_per_layer(
    scores: Vec<(String, Array2<f32>)>,
    sparsity: f32,
) -> Vec<(String, Array2<bool>)> {
    scores
        .into_iter()
        .map(|(name, s)| {
            let flat: Vec<f32> = s.iter().copied().collect();
            let mut mask = vec![true; flat.len()];
            prune_lowest(&flat, prune_count(flat.len(), sparsity), &mut mask);
            (name, to_mask(s.dim(), mask))
        })
        .collect()
}

/// Masks pruning the lowest-scored `sparsity` of each output row (Wanda's comparison group).
pub(crate) fn masks_per_row(
    scores: Vec<(String, Array2<f32>)>,
    sparsity: f32,
) -> Vec<(String, Array2<bool>)> {
    scores
        .into_iter()
        .map(|(name, s)| {
            let mut mask = Array2::from_elem(s.dim(), true);
            let k = prune_count(s.ncols(), sparsity);
            for (srow, mut mrow) in s.rows().into_iter().zip(mask.rows_mut()) {
                let scores: Vec<f32> = srow.to_vec();
                let mut m: Vec<bool> = vec![true; scores.len()];
                prune_lowest(&scores, k, &mut m);
                mrow.iter_mut().zip(m).for_each(|(dst, v)| *dst = v);
            }
            (name, mask)
        })
        .collect()
}

/// Masks pruning the lowest-scored `sparsity` of all layers' weights together.
pub(crate) fn masks_global(
    scores: Vec<(String, Array2<f32>)>,
    sparsity: f32,
) -> Vec<(String, Array2<bool>)> {
    let all: Vec<f32> = scores.iter().flat_map(|(_, s)| s.iter().copied()).collect();
    let mut flat_mask = vec![true; all.len()];
    prune_lowest(&all, prune_count(all.len(), sparsity), &mut flat_mask);
    let mut offset = 0;
    scores
        .into_iter()
        .map(|(name, s)| {
            let n = s.len();
            let mask = to_mask(s.dim(), flat_mask[offset..offset + n].to_vec());
            offset += n;
            (name, mask)
        })
        .collect()
}

/// Masks for `scope`: per layer or global.
pub(crate) fn masks_for_scope(
    scores: Vec<(String, Array2<f32>)>,
    scope: Scope,
    sparsity: f32,
) -> Vec<(String, Array2<bool>)> {
    match scope {
        Scope::Layer => masks_per_layer(scores, sparsity),
        Scope::Global => masks_global(scores, sparsity),
    }
}

/// Sets the masks on their layers and reports, layer by layer in forward order.
pub(crate) fn apply_masks(
    model: &mut dyn NamedLinears,
    masks: Vec<(String, Array2<bool>)>,
) -> Result<PruneReport> {
    let mut by_name: HashMap<String, Array2<bool>> = masks.into_iter().collect();
    let mut report = PruneReport::default();
    let mut err = None;
    model.visit_linears_mut(&mut |name, layer| {
        if let Some(mut mask) = by_name.remove(name) {
            // Weights an earlier mask pruned stay pruned, whatever the new target.
            if let Some(old) = layer.mask() {
                mask.zip_mut_with(&old, |m, &keep| *m &= keep);
            }
            let kept = mask.iter().filter(|&&k| k).count();
            let shape = mask.dim();
            if let Err(e) = layer.set_mask(mask) {
                err.get_or_insert(e);
            }
            report.layers.push(LayerReport {
                name: name.to_string(),
                shape,
                kept,
                sparsity: 1.0 - kept as f32 / (shape.0 * shape.1) as f32,
            });
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// |W| as a score.
pub(crate) fn magnitude(w: ArrayView2<f32>) -> Array2<f32> {
    w.mapv(f32::abs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn lowest_scores_are_pruned_with_ties_by_position() {
        let s = vec![("a".to_string(), array![[3.0f32, 1.0, 2.0, 1.0]])];
        let m = masks_per_layer(s, 0.5);
        assert_eq!(m[0].1, array![[true, false, true, false]]);
    }

    #[test]
    fn global_masks_rank_across_layers() {
        let s = vec![
            ("a".to_string(), array![[0.1f32, 0.2]]),
            ("b".to_string(), array![[5.0f32, 6.0, 0.3, 7.0]]),
        ];
        let m = masks_global(s, 0.5);
        assert_eq!(m[0].1, array![[false, false]]);
        assert_eq!(m[1].1, array![[true, true, false, true]]);
    }

    #[test]
    fn per_row_masks_prune_each_row_equally() {
        let s = vec![("a".to_string(), array![[1.0f32, 9.0], [9.0, 1.0]])];
        let m = masks_per_row(s, 0.5);
        assert_eq!(m[0].1, array![[false, true], [true, false]]);
    }
}
