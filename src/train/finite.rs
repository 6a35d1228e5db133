//! Finiteness checks on a model's parameters, shared by every place a model is trained, pruned,
//! quantized or distilled (see the policy in [`super::trainer`]'s module docs).

use ndarray::ArrayView2;

use crate::error::{Error, Result};
use crate::nn::{check_params_finite, Linear, NamedLinears};

/// Checks one layer's weight and bias, naming the bad tensor `"{who}{name} weight"` or
/// `"{who}{name} bias"` (e.g. `"student layers.1 weight"`).
pub(crate) fn check_linear_finite(layer: &Linear, who: &str, name: &str) -> Result<()> {
    check_params_finite(&format!("{who}{name}"), &layer.weight(), &layer.bias())
}

/// Checks every named linear layer of `model` (one pass over its weights and biases), naming
/// the first bad tensor, e.g. `"layers.1 weight"`. `who` prefixes the name (`"teacher "`,
/// `"student "` or `""`).
pub(crate) fn check_model_finite(model: &dyn NamedLinears, who: &str) -> Result<()> {
    let mut err = None;
    model.visit_linears(&mut |name, layer| {
        if err.is_none() {
            err = check_linear_finite(layer, who, name).err();
        }
    });
    err.map_or(Ok(()), Err)
}

/// The error of a training run whose forward pass overflowed at step `step` of epoch `epoch`:
/// finds the first layer of `model` whose output on `x` is non-finite (or whose forward pass
/// fails) and names it. Weights are finite here (they are checked after every step), so the
/// activations grew out of f32's range: the learning rate is too high.
pub(crate) fn diverged_at(
    model: &crate::nn::Mlp,
    x: ArrayView2<f32>,
    what: &str,
    epoch: usize,
    step: usize,
) -> Error {
    let mut h = x.to_owned();
    let mut culprit = format!("layers.{}", model.layers().len().saturating_sub(1));
    for (i, (layer, act)) in model.layers().iter().zip(model.activations()).enumerate() {
        match layer.forward(h.view()) {
            Ok(z) if z.iter().all(|v| v.is_finite()) => h = z.mapv(|v| act.apply(v)),
            _ => {
                culprit = format!("layers.{i}");
                break;
            }
        }
    }
    Error::NonFinite(format!(
        "{what}: {culprit} output at epoch {epoch}, step {step} (training diverged: lower the \
         learning rate)"
    ))
}

/// The error of a parameter that became non-finite in an optimizer step.
pub(crate) fn diverged_param(
    who: &str,
    name: &str,
    part: &str,
    epoch: usize,
    step: usize,
) -> Error {
    Error::NonFinite(format!(
        "{who}{name} {part} after epoch {epoch}, step {step} (training diverged: lower the \
         learning rate)"
    ))
}
