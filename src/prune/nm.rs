//! N:M semi-structured pruning: in every group of M consecutive weights along the input
//! dimension, keep the N largest |w| (Mishra et al. 2021, "Accelerating Sparse Deep Neural
//! Networks": the 2:4 pattern of NVIDIA's sparse tensor cores).

use ndarray::Array2;

use super::pruner::{apply_masks, collect_scores, magnitude, skip_filter, PruneReport, Pruner};
use crate::error::{Error, Result};
use crate::nn::{LayerFilter, NamedLinears};

/// Keeps `n` of every `m` consecutive weights of each row (the largest |w|), pruning
/// `1 − n/m` of the weights in a pattern hardware and kernels can exploit.
#[derive(Debug, Clone, PartialEq)]
pub struct NmPruner {
    n: usize,
    m: usize,
    filter: LayerFilter,
}

impl NmPruner {
    /// N:M pruning, e.g. `NmPruner::new(2, 4)`. Requires 0 < n < m (checked when pruning), and
    /// every target layer's input width a multiple of m.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(n: usize, m: usize) -> Self {
        NmPruner {
            n,
            m,
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

impl Pruner for NmPruner {
    fn prune(&self, model: &mut dyn NamedLinears) -> Result<PruneReport> {
        let (n, m) = (self.n, self.m);
        if m == 0 || n == 0 || n >= m {
            return Err(Error::param("n:m", format!("need 0 < N < M, got {n}:{m}")));
        }
        let scores = collect_scores(model, &self.filter, |name, l| {
            if l.in_features() % m != 0 {
                return Err(Error::param(
                    "m",
                    format!(
                        "M = {m} does not divide the input width {} of layer `{name}`",
                        l.in_features()
                    ),
                ));
            }
            Ok(magnitude(l.weight()))
        })?;
        let masks = scores
            .into_iter()
            .map(|(name, s)| {
                let mut mask = Array2::from_elem(s.dim(), false);
                for (srow, mut mrow) in s.rows().into_iter().zip(mask.rows_mut()) {
                    for g in 0..s.ncols() / m {
                        let mut idx: Vec<usize> = (g * m..(g + 1) * m).collect();
                        // Largest first; ties by position.
                        idx.sort_by(|&a, &b| srow[b].total_cmp(&srow[a]).then(a.cmp(&b)));
                        for &j in &idx[..n] {
                            mrow[j] = srow[j] > f32::NEG_INFINITY;
                        }
                    }
                }
                (name, mask)
            })
            .collect();
        apply_masks(model, masks)
    }
}
