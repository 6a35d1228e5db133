//! Compaction of a pruned MLP: hidden neurons that unstructured pruning left without inputs or
//! without outputs are removed exactly, so the sparse model also has fewer rows.
//!
//! For hidden layer `i` with activation `f`:
//! - if row `j` of `W_i` is all zero, neuron `j` outputs the constant `c = f(b_i[j])`; adding
//!   `c·W_{i+1}[:, j]` to `b_{i+1}` and deleting the neuron leaves the function unchanged;
//! - if column `j` of `W_{i+1}` is all zero, nothing reads neuron `j`; it is deleted.
//!
//! Masks are carried over to the kept rows and columns.

use ndarray::{Array2, Axis};

use crate::error::Result;
use crate::nn::{Linear, Mlp};

/// Selects rows `rows` and columns `cols` of a layer (weight, bias entries of `rows`, mask).
fn select(
    layer: &Linear,
    rows: &[usize],
    cols: &[usize],
    bias_shift: Option<&[f32]>,
) -> Result<Linear> {
    let w = layer.weight().select(Axis(0), rows).select(Axis(1), cols);
    let mut b = layer.bias().select(Axis(0), rows);
    if let Some(shift) = bias_shift {
        for (k, &r) in rows.iter().enumerate() {
            b[k] += shift[r];
        }
    }
    let mut out = Linear::new(w, b)?;
    if let Some(mask) = layer.mask() {
        let m: Array2<bool> = mask.select(Axis(0), rows).select(Axis(1), cols);
        out.set_mask(m)?;
    }
    Ok(out)
}

/// The MLP with every dead hidden neuron removed (see the module docs; a layer keeps at least
/// one neuron), and how many neurons were removed per hidden layer. Outputs are unchanged up to
/// float rounding of the folded biases.
///
/// Errors with [`crate::Error::NonFinite`] naming the layer if a weight or bias is not finite,
/// or if folding a removed neuron's constant output into the next bias overflows f32.
pub fn compact(mlp: &Mlp) -> Result<(Mlp, Vec<usize>)> {
    crate::train::check_model_finite(mlp, "")?;
    let layers = mlp.layers();
    let acts = mlp.activations();
    let n = layers.len();
    let mut out: Vec<Linear> = Vec::with_capacity(n);
    let mut removed = Vec::with_capacity(n.saturating_sub(1));
    let mut keep_cols: Vec<usize> = (0..layers[0].in_features()).collect();
    // Bias shift for the current layer from constants folded out of the previous one.
    let mut shift: Option<Vec<f32>> = None;
    for i in 0..n {
        let layer = &layers[i];
        let rows: Vec<usize> = if i + 1 == n {
            (0..layer.out_features()).collect()
        } else {
            let w = layer.weight();
            let next = layers[i + 1].weight();
            let mut next_shift = vec![0.0f32; layers[i + 1].out_features()];
            // Live neurons have inputs and outputs; at least one is kept so no layer is empty.
            let dead_out = |j: usize| next.column(j).iter().all(|&v| v == 0.0);
            let dead_in = |j: usize| keep_cols.iter().all(|&c| w[[j, c]] == 0.0);
            let mut kept: Vec<usize> = (0..layer.out_features())
                .filter(|&j| !dead_out(j) && !dead_in(j))
                .collect();
            if kept.is_empty() {
                kept.push(0);
            }
            for j in (0..layer.out_features()).filter(|j| !kept.contains(j) && !dead_out(*j)) {
                let bias = layer.bias()[j] + shift.as_ref().map_or(0.0, |s| s[j]);
                let c = acts[i].apply(bias);
                for (o, s) in next_shift.iter_mut().enumerate() {
                    *s += c * next[[o, j]];
                }
            }
            if !next_shift.iter().all(|v| v.is_finite()) {
                return Err(crate::Error::NonFinite(format!(
                    "layers.{} bias after folding the constant outputs of removed neurons",
                    i + 1
                )));
            }
            removed.push(layer.out_features() - kept.len());
            let new = select(layer, &kept, &keep_cols, shift.as_deref())?;
            out.push(new);
            keep_cols = kept;
            shift = Some(next_shift);
            continue;
        };
        out.push(select(layer, &rows, &keep_cols, shift.as_deref())?);
    }
    Ok((Mlp::from_layers(out, acts.to_vec())?, removed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Forward};
    use crate::prune::{MagnitudePruner, Pruner};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn removes_dead_neurons_without_changing_outputs() {
        let mut rng = StdRng::seed_from_u64(4);
        for act in [Activation::Relu, Activation::Tanh, Activation::Sigmoid] {
            let mut mlp = Mlp::new(&[12, 20, 16, 5], act, &mut rng).unwrap();
            MagnitudePruner::new(0.9).global().prune(&mut mlp).unwrap();
            // Make sure some neurons are dead both ways.
            let (w, b) = (
                mlp.layers()[0].weight().to_owned(),
                mlp.layers()[0].bias().to_owned(),
            );
            let mut w0 = w.clone();
            w0.row_mut(3).fill(0.0);
            mlp.layers_mut()[0].set_params(w0, b).unwrap();
            let (w1, b1) = (
                mlp.layers()[1].weight().to_owned(),
                mlp.layers()[1].bias().to_owned(),
            );
            let mut w1b = w1.clone();
            w1b.column_mut(7).fill(0.0);
            mlp.layers_mut()[1].set_params(w1b, b1).unwrap();

            let (small, removed) = compact(&mlp).unwrap();
            assert!(removed[0] >= 2, "{removed:?}");
            assert!(small.param_count() < mlp.param_count());
            let x = Array2::from_shape_fn((9, 12), |_| rng.random_range(-2.0..2.0f32));
            let (a, b) = (
                mlp.forward(x.view()).unwrap(),
                small.forward(x.view()).unwrap(),
            );
            let max = a
                .iter()
                .zip(b.iter())
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(max < 1e-5, "{act:?}: {max}");
            // Masks survive on the kept weights.
            assert!(small.layers()[0].mask().is_some());
        }
    }
}
