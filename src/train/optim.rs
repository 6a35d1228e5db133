//! Optimizers: SGD with momentum and Adam, with weight decay.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::{Linear, LinearGrads};

/// Stochastic gradient descent with (heavy-ball) momentum:
/// `v ← μ·v + g + λ·θ`, `θ ← θ − η·v`, where `λ·θ` is the L2 weight-decay term.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sgd {
    /// Learning rate η.
    pub lr: f32,
    /// Momentum μ in [0, 1).
    pub momentum: f32,
    /// L2 weight decay λ ≥ 0, added to the gradient of weight matrices (not biases).
    pub weight_decay: f32,
}

impl Sgd {
    /// Plain SGD with learning rate `lr`, no momentum, no decay.
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// Sets the momentum.
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the L2 weight decay.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

/// Adam (Kingma & Ba 2015) with decoupled weight decay (AdamW, Loshchilov & Hutter 2019):
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `θ ← θ − η·(m̂ / (√v̂ + ε) + λ·θ)` with bias-corrected `m̂`, `v̂`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate η.
    pub lr: f32,
    /// First-moment decay β₁ in [0, 1).
    pub beta1: f32,
    /// Second-moment decay β₂ in [0, 1).
    pub beta2: f32,
    /// ε > 0 in the denominator.
    pub eps: f32,
    /// Decoupled weight decay λ ≥ 0, applied to weight matrices (not biases).
    pub weight_decay: f32,
}

impl Adam {
    /// Adam with learning rate `lr` and the usual β₁ = 0.9, β₂ = 0.999, ε = 1e-8, no decay.
    pub fn new(lr: f32) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// Sets the decoupled weight decay.
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

/// The optimizer a [`Trainer`](super::Trainer) uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Optimizer {
    /// SGD with momentum.
    Sgd(Sgd),
    /// Adam / AdamW.
    Adam(Adam),
}

impl From<Sgd> for Optimizer {
    fn from(o: Sgd) -> Self {
        Optimizer::Sgd(o)
    }
}

impl From<Adam> for Optimizer {
    fn from(o: Adam) -> Self {
        Optimizer::Adam(o)
    }
}

fn in_unit(name: &'static str, v: f32) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::param(name, format!("must be in [0, 1), got {v}")))
    }
}

fn positive(name: &'static str, v: f32) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}

fn non_negative(name: &'static str, v: f32) -> Result<()> {
    if v >= 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(Error::param(
            name,
            format!("must be finite and ≥ 0, got {v}"),
        ))
    }
}

impl Optimizer {
    /// Validates the settings.
    pub fn check(&self) -> Result<()> {
        match *self {
            Optimizer::Sgd(o) => {
                positive("lr", o.lr)?;
                in_unit("momentum", o.momentum)?;
                non_negative("weight_decay", o.weight_decay)
            }
            Optimizer::Adam(o) => {
                positive("lr", o.lr)?;
                in_unit("beta1", o.beta1)?;
                in_unit("beta2", o.beta2)?;
                positive("eps", o.eps)?;
                non_negative("weight_decay", o.weight_decay)
            }
        }
    }
}

/// An optimizer with its per-parameter state (momentum or moment estimates), one slot per
/// parameter tensor.
#[derive(Debug, Clone)]
pub(crate) struct OptimizerState {
    opt: Optimizer,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    step: i32,
}

impl OptimizerState {
    pub(crate) fn new(opt: Optimizer) -> Self {
        OptimizerState {
            opt,
            first: Vec::new(),
            second: Vec::new(),
            step: 0,
        }
    }

    /// Starts a new step (advances Adam's bias-correction counter).
    pub(crate) fn begin_step(&mut self) {
        self.step = self.step.saturating_add(1);
    }

    /// Updates the tensor `param` in slot `slot` with gradient `grad`; `decay` says whether weight
    /// decay applies to it. Where `mask` is `false` the parameter is pruned: it and its
    /// optimizer state are set to zero and it is not updated.
    ///
    /// Returns whether every updated parameter is finite: the check is folded into the update
    /// loop (no extra pass), so a step that overflows (a too-high learning rate, a NaN gradient)
    /// is caught where it happens and the training loops can name the layer.
    pub(crate) fn update(
        &mut self,
        slot: usize,
        param: &mut [f32],
        grad: &[f32],
        decay: bool,
        mask: Option<&[bool]>,
    ) -> bool {
        let mut finite = true;
        if self.first.len() <= slot {
            self.first.resize(slot + 1, Vec::new());
            self.second.resize(slot + 1, Vec::new());
        }
        if self.first[slot].len() != param.len() {
            self.first[slot] = vec![0.0; param.len()];
            self.second[slot] = vec![0.0; param.len()];
        }
        match self.opt {
            Optimizer::Sgd(o) => {
                let wd = if decay { o.weight_decay } else { 0.0 };
                let v = &mut self.first[slot];
                for ((p, &g), v) in param.iter_mut().zip(grad).zip(v.iter_mut()) {
                    *v = o.momentum * *v + g + wd * *p;
                    *p -= o.lr * *v;
                    finite &= p.is_finite();
                }
            }
            Optimizer::Adam(o) => {
                let wd = if decay { o.weight_decay } else { 0.0 };
                let c1 = 1.0 - o.beta1.powi(self.step);
                let c2 = 1.0 - o.beta2.powi(self.step);
                let (m, v) = (&mut self.first[slot], &mut self.second[slot]);
                for (((p, &g), m), v) in param
                    .iter_mut()
                    .zip(grad)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    *m = o.beta1 * *m + (1.0 - o.beta1) * g;
                    *v = o.beta2 * *v + (1.0 - o.beta2) * g * g;
                    let update = (*m / c1) / ((*v / c2).sqrt() + o.eps);
                    *p -= o.lr * (update + wd * *p);
                    finite &= p.is_finite();
                }
            }
        }
        if let Some(mask) = mask {
            for (k, _) in mask.iter().enumerate().filter(|(_, &keep)| !keep) {
                param[k] = 0.0;
                self.first[slot][k] = 0.0;
                self.second[slot][k] = 0.0;
            }
            if !finite {
                // A pruned weight that overflowed is zero again; look at the kept ones.
                finite = param.iter().all(|p| p.is_finite());
            }
        }
        finite
    }
}

impl OptimizerState {
    /// Updates a layer from its gradients: weights in slot `slot` (with weight decay, the L1
    /// subgradient `l1·sign(w)` and the layer's pruning mask), the bias in slot `slot + 1`.
    /// The one place every training loop (trainer, QAT, feature distillation) applies a step.
    ///
    /// Returns `Err("weight")` or `Err("bias")` if that tensor is no longer finite after the
    /// step (the caller names the layer and discards its working copy).
    pub(crate) fn update_layer(
        &mut self,
        slot: usize,
        layer: &mut Linear,
        grads: &LinearGrads,
        l1: f32,
    ) -> std::result::Result<(), &'static str> {
        let mask: Option<Vec<bool>> = layer.mask().map(|m| m.iter().copied().collect());
        let (w, b) = layer.params_mut();
        // Logical (row-major) order matches the weight's standard layout.
        let mut gw: Vec<f32> = grads.weight.iter().copied().collect();
        if l1 > 0.0 {
            for (g, &v) in gw.iter_mut().zip(w.iter()) {
                *g += l1 * sign(v);
            }
        }
        let gb: Vec<f32> = grads.bias.iter().copied().collect();
        if !self.update(slot, w, &gw, true, mask.as_deref()) {
            return Err("weight");
        }
        if !self.update(slot + 1, b, &gb, false, None) {
            return Err("bias");
        }
        Ok(())
    }
}

/// sign(x) with sign(0) = 0, the L1 subgradient that leaves exact zeros at zero.
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimises f(x) = (x − 3)² from x = 0.
    fn minimise(opt: Optimizer, steps: usize) -> f32 {
        let mut state = OptimizerState::new(opt);
        let mut x = [0.0f32];
        for _ in 0..steps {
            state.begin_step();
            let g = [2.0 * (x[0] - 3.0)];
            assert!(state.update(0, &mut x, &g, false, None));
        }
        x[0]
    }

    #[test]
    fn optimizers_converge_on_a_quadratic() {
        assert!((minimise(Sgd::new(0.1).into(), 100) - 3.0).abs() < 1e-3);
        assert!((minimise(Sgd::new(0.05).momentum(0.9).into(), 300) - 3.0).abs() < 1e-3);
        assert!((minimise(Adam::new(0.1).into(), 500) - 3.0).abs() < 1e-2);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first Adam step is −η·sign(g) (up to ε).
        let mut state = OptimizerState::new(Adam::new(0.01).into());
        let mut x = [1.0f32];
        state.begin_step();
        assert!(state.update(0, &mut x, &[123.0], false, None));
        assert!((x[0] - 0.99).abs() < 1e-6);
    }

    #[test]
    fn check_rejects_bad_settings() {
        assert!(Optimizer::from(Sgd::new(0.0)).check().is_err());
        assert!(Optimizer::from(Sgd::new(0.1).momentum(1.0))
            .check()
            .is_err());
        assert!(Optimizer::from(Adam::new(f32::NAN)).check().is_err());
        assert!(Optimizer::from(Adam::new(0.1).weight_decay(-1.0))
            .check()
            .is_err());
        assert!(Optimizer::from(Adam::new(1e-3)).check().is_ok());
    }
}
