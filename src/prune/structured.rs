//! Structured pruning of an MLP: remove whole hidden neurons, giving a smaller dense model.
//!
//! Removing neuron `j` of hidden layer `i` deletes row `j` of `W_i`, entry `j` of `b_i` and
//! column `j` of `W_{i+1}`: the neuron's output (bias included) no longer reaches the next
//! layer, and every matrix is smaller and dense. Neurons are ranked by the L1 or L2 norm of
//! their incoming weights (Li et al. 2017, "Pruning Filters for Efficient ConvNets", use L1).

use ndarray::{Array2, Axis};

use crate::error::{Error, Result};
use crate::nn::{Forward, Linear, Mlp};

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
/// layer keeps its width), keeping at least one per layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeuronPruner {
    fraction: f32,
    norm: NeuronNorm,
}

/// What structured pruning removed.
#[derive(Debug, Clone, PartialEq)]
pub struct StructuredReport {
    /// Per hidden layer: (name, neurons before, neurons kept).
    pub layers: Vec<(String, usize, usize)>,
    /// Parameters before.
    pub params_before: usize,
    /// Parameters after.
    pub params_after: usize,
}

impl NeuronPruner {
    /// Removes `fraction` (in [0, 1)) of each hidden layer's neurons, ranked by L1 norm.
    pub fn new(fraction: f32) -> Self {
        NeuronPruner {
            fraction,
            norm: NeuronNorm::L1,
        }
    }

    /// Sets the ranking norm.
    pub fn norm(mut self, norm: NeuronNorm) -> Self {
        self.norm = norm;
        self
    }

    /// The smaller model; `mlp` is not changed.
    pub fn prune(&self, mlp: &Mlp) -> Result<(Mlp, StructuredReport)> {
        if !(0.0..1.0).contains(&self.fraction) {
            return Err(Error::param(
                "fraction",
                format!("must be in [0, 1), got {}", self.fraction),
            ));
        }
        crate::train::check_model_finite(mlp, "")?;
        let layers = mlp.layers();
        let mut new_layers: Vec<Linear> = Vec::with_capacity(layers.len());
        let mut report = Vec::new();
        // Input columns the current layer keeps (all, for the first layer).
        let mut keep_cols: Vec<usize> = (0..layers[0].in_features()).collect();
        for (i, layer) in layers.iter().enumerate() {
            let w = layer.weight().select(Axis(1), &keep_cols);
            let last = i + 1 == layers.len();
            let keep_rows: Vec<usize> = if last {
                (0..layer.out_features()).collect()
            } else {
                let out = layer.out_features();
                let remove =
                    ((out as f64 * f64::from(self.fraction)).round() as usize).min(out - 1);
                let scores: Vec<f32> = layer
                    .weight()
                    .rows()
                    .into_iter()
                    .map(|r| match self.norm {
                        NeuronNorm::L1 => r.iter().map(|v| v.abs()).sum(),
                        NeuronNorm::L2 => r.iter().map(|v| v * v).sum::<f32>().sqrt(),
                    })
                    .collect();
                let mut order: Vec<usize> = (0..out).collect();
                order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                let mut kept = order[..out - remove].to_vec();
                kept.sort_unstable();
                report.push((format!("layers.{i}"), out, kept.len()));
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
