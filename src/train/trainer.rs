//! The mini-batch training loop: epochs, seeded shuffling, an L1 penalty, validation with early
//! stopping, and a callback after every step and epoch.
//!
//! # Non-finite values: the crate's policy
//!
//! A NaN or infinite weight does not always show in a model's outputs (ReLU's `max(x, 0)` turns
//! a NaN pre-activation into 0), so every entry point that trains, prunes, quantizes or
//! distills a model checks it first, and checks what training produces:
//!
//! - **At entry**, one pass over the weights and biases of every model involved (the model to
//!   train, prune or quantize; the teacher and the student of a distillation). A non-finite
//!   value is [`Error::NonFinite`] naming the tensor, e.g. `"layers.1 weight"` or
//!   `"teacher layers.0 bias"`. Inputs, teacher outputs and calibration data are checked too.
//! - **During training** ([`Trainer`], [`Qat`](crate::quant::Qat),
//!   [`FeatureDistiller`](crate::distill::FeatureDistiller) and every distiller built on the
//!   trainer), the optimizer checks each parameter as it updates it (folded into the update
//!   loop, no extra pass), a non-finite forward output or loss is traced to the first layer
//!   whose output overflowed, and the weights are checked again after each epoch (a callback
//!   may have changed them). Each is [`Error::NonFinite`] naming the layer, the epoch and the
//!   step, e.g. `"layers.2 weight after epoch 0, step 3 (training diverged: lower the learning
//!   rate)"`.
//! - **The caller's model is untouched on error**: training runs on a copy that replaces the
//!   caller's model only when the whole run succeeds; pruners compute every mask before setting
//!   any; quantizers and structured pruners build new models.
//!
//! Settings are checked the same way before anything runs: learning rates, momentum, betas,
//! eps, weight decay, the L1 strength, temperatures, sparsities, schedules, percentiles and
//! noise levels outside their ranges (NaN included) are [`Error::InvalidParam`], and counts
//! that would allocate beyond [`crate::limits`] are [`Error::TooLarge`].

use ndarray::{Array2, ArrayView2, Axis};
use rand::{rngs::StdRng, SeedableRng};

use super::finite::{check_model_finite, diverged_at, diverged_param};
use super::loss::Loss;
use super::optim::{Optimizer, OptimizerState};
use crate::data::{shuffled_batches, Dataset};
use crate::error::{check_finite, Error, Result};
use crate::nn::{argmax_rows, Forward, LinearGrads, Mlp};

/// What a training run minimises on each batch: given the model's outputs for the training rows
/// `idx`, the loss and its gradient with respect to those outputs.
///
/// [`Trainer::fit`] uses class labels with a [`Loss`]; other objectives (distillation against a
/// teacher, label-free transfer) implement this trait and go through
/// [`Trainer::fit_objective`].
pub trait Objective {
    /// The batch loss and ∂loss/∂outputs, shape of `outputs`.
    fn loss_grad(&mut self, outputs: ArrayView2<f32>, idx: &[usize]) -> Result<(f32, Array2<f32>)>;
}

/// The labelled objective: a [`Loss`] against the labels of the training rows.
struct LabelObjective<'a> {
    loss: Loss,
    labels: &'a [usize],
}

impl Objective for LabelObjective<'_> {
    fn loss_grad(&mut self, outputs: ArrayView2<f32>, idx: &[usize]) -> Result<(f32, Array2<f32>)> {
        let labels: Vec<usize> = idx.iter().map(|&i| self.labels[i]).collect();
        self.loss.against_labels(outputs, &labels)
    }
}

/// Statistics of one finished epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (penalty excluded).
    pub train_loss: f32,
    /// Loss on the validation set, if one was given.
    pub val_loss: Option<f32>,
    /// Accuracy on the validation set, if one was given.
    pub val_accuracy: Option<f32>,
}

/// What the callback is told.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TrainEvent<'a> {
    /// After an optimizer step.
    Step {
        /// Epoch number, from 0.
        epoch: usize,
        /// Step number within the run, from 0.
        step: usize,
        /// The batch loss before the step.
        loss: f32,
    },
    /// After an epoch (and its validation).
    Epoch(&'a EpochStats),
}

/// The record of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// One entry per epoch run.
    pub epochs: Vec<EpochStats>,
    /// The epoch whose weights were kept (the best validation loss with early stopping, else
    /// the last).
    pub best_epoch: usize,
    /// Whether early stopping ended the run before the epoch budget.
    pub stopped_early: bool,
}

/// Trains an [`Mlp`] by mini-batch gradient descent.
///
/// Settings are plain values set with builder methods and checked when training starts. The
/// model is trained on a copy that replaces the caller's model only when the run succeeds, so
/// an error (bad data, a diverging loss, a callback error) leaves the caller's model as it was.
///
/// The L1 penalty `λ·Σ|W|` over weight matrices (biases excluded) adds its subgradient
/// `λ·sign(W)` to the weight gradients; it drives weights towards zero ahead of pruning.
#[derive(Debug, Clone, PartialEq)]
pub struct Trainer {
    optimizer: Optimizer,
    loss: Loss,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    l1: f32,
    patience: Option<usize>,
}

impl Trainer {
    /// A trainer with the given optimizer, cross-entropy loss, 10 epochs, batch size 32, seed 0,
    /// no L1 penalty and no early stopping.
    pub fn new(optimizer: impl Into<Optimizer>) -> Self {
        Trainer {
            optimizer: optimizer.into(),
            loss: Loss::CrossEntropy,
            epochs: 10,
            batch_size: 32,
            seed: 0,
            l1: 0.0,
            patience: None,
        }
    }

    /// Sets the loss used against labels (and for validation).
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the mini-batch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the seed of the batch shuffling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the L1 penalty λ on weight matrices.
    pub fn l1(mut self, lambda: f32) -> Self {
        self.l1 = lambda;
        self
    }

    /// Stops when the validation loss has not improved for `patience` epochs and restores the
    /// best weights. Needs a validation set.
    pub fn early_stopping(mut self, patience: usize) -> Self {
        self.patience = Some(patience);
        self
    }

    /// Validates the settings.
    pub fn check(&self) -> Result<()> {
        self.optimizer.check()?;
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "must be at least 1, got 0"));
        }
        if !(self.l1 >= 0.0 && self.l1.is_finite()) {
            return Err(Error::param(
                "l1",
                format!("must be finite and ≥ 0, got {}", self.l1),
            ));
        }
        if self.patience == Some(0) {
            return Err(Error::param("patience", "must be at least 1, got 0"));
        }
        Ok(())
    }

    /// Trains `model` on `train` against its labels, validating on `val` after each epoch.
    pub fn fit(&self, model: &mut Mlp, train: &Dataset, val: Option<&Dataset>) -> Result<History> {
        self.fit_with(model, train, val, |_, _| Ok(()))
    }

    /// [`Trainer::fit`] with a callback, called after every step and epoch with the model being
    /// trained (it may change it, e.g. re-apply pruning masks). A callback error ends the run
    /// and leaves the caller's model untouched.
    pub fn fit_with(
        &self,
        model: &mut Mlp,
        train: &Dataset,
        val: Option<&Dataset>,
        callback: impl FnMut(&TrainEvent, &mut Mlp) -> Result<()>,
    ) -> Result<History> {
        check_labels_fit(model, train, self.loss)?;
        let mut objective = LabelObjective {
            loss: self.loss,
            labels: train.labels(),
        };
        self.fit_objective(model, train.features(), &mut objective, val, callback)
    }

    /// Trains `model` on inputs `x` (one row per sample) to minimise `objective`, validating on
    /// `val` (against its labels, with this trainer's loss) after each epoch.
    pub fn fit_objective(
        &self,
        model: &mut Mlp,
        x: ArrayView2<f32>,
        objective: &mut dyn Objective,
        val: Option<&Dataset>,
        mut callback: impl FnMut(&TrainEvent, &mut Mlp) -> Result<()>,
    ) -> Result<History> {
        self.check()?;
        check_model_finite(model, "")?;
        if x.nrows() == 0 {
            return Err(Error::Empty("training inputs".into()));
        }
        if x.ncols() != model.in_features() {
            return Err(Error::shape(
                "Trainer inputs",
                model.in_features(),
                x.ncols(),
            ));
        }
        check_finite(x.iter(), || "training inputs".into())?;
        if let Some(v) = val {
            check_labels_fit(model, v, self.loss)?;
        } else if self.patience.is_some() {
            return Err(Error::param(
                "patience",
                "early stopping needs a validation set",
            ));
        }

        let mut work = model.clone();
        let mut state = OptimizerState::new(self.optimizer);
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut history = History {
            epochs: Vec::with_capacity(self.epochs),
            best_epoch: 0,
            stopped_early: false,
        };
        // (validation loss, epoch, weights) of the best epoch so far, with early stopping.
        let mut best: Option<(f32, usize, Mlp)> = None;
        let mut step = 0;
        for epoch in 0..self.epochs {
            let batches = shuffled_batches(x.nrows(), self.batch_size, &mut rng)?;
            let mut total = 0.0f32;
            for idx in &batches {
                let xb = x.select(Axis(0), idx);
                // Weights and inputs are finite here, so a non-finite output is an overflow.
                let (out, cache) = match work.forward_train(xb.view()) {
                    Ok(r) if r.0.iter().all(|v| v.is_finite()) => r,
                    Ok(_) | Err(Error::NonFinite(_)) => {
                        return Err(diverged_at(&work, xb.view(), "training", epoch, step))
                    }
                    Err(e) => return Err(e),
                };
                let (loss, grad) = objective.loss_grad(out.view(), idx)?;
                if !loss.is_finite() || !grad.iter().all(|g| g.is_finite()) {
                    let last = work.layers().len() - 1;
                    return Err(Error::NonFinite(format!(
                        "training loss on the layers.{last} output at epoch {epoch}, step \
                         {step} (training diverged: lower the learning rate)"
                    )));
                }
                let grads = work.backward(&cache, grad.view())?;
                self.apply(&mut work, &mut state, &grads)
                    .map_err(|(name, part)| diverged_param("", &name, part, epoch, step))?;
                total += loss;
                callback(&TrainEvent::Step { epoch, step, loss }, &mut work)?;
                step += 1;
            }
            let mut stats = EpochStats {
                epoch,
                train_loss: total / batches.len() as f32,
                val_loss: None,
                val_accuracy: None,
            };
            if let Some(v) = val {
                let (loss, accuracy) = self.validate(&work, v)?;
                stats.val_loss = Some(loss);
                stats.val_accuracy = Some(accuracy);
            }
            callback(&TrainEvent::Epoch(&stats), &mut work)?;
            // The optimizer checks every update; this catches what callbacks did to the model.
            check_model_finite(&work, "").map_err(|e| match e {
                Error::NonFinite(what) => Error::NonFinite(format!(
                    "{what} after epoch {epoch} (changed by the training callback)"
                )),
                e => e,
            })?;
            let val_loss = stats.val_loss;
            history.epochs.push(stats);
            history.best_epoch = epoch;
            if let (Some(patience), Some(loss)) = (self.patience, val_loss) {
                match &best {
                    Some((best_loss, best_epoch, _)) if loss >= *best_loss => {
                        if epoch - best_epoch >= patience {
                            history.stopped_early = true;
                            break;
                        }
                    }
                    _ => best = Some((loss, epoch, work.clone())),
                }
            }
        }
        if let Some((_, epoch, weights)) = best {
            history.best_epoch = epoch;
            work = weights;
        }
        *model = work;
        Ok(history)
    }

    /// Loss and accuracy of `model` on the labelled set `data`.
    fn validate(&self, model: &Mlp, data: &Dataset) -> Result<(f32, f32)> {
        let out = model.forward(data.features())?;
        let (loss, _) = self.loss.against_labels(out.view(), data.labels())?;
        let correct = argmax_rows(out.view())
            .iter()
            .zip(data.labels())
            .filter(|(p, l)| p == l)
            .count();
        Ok((loss, correct as f32 / data.len() as f32))
    }

    /// One optimizer step over every layer: L1 subgradient on weights, then the update. Errors
    /// with the layer's name and the tensor (`"weight"`, `"bias"`) that is no longer finite.
    fn apply(
        &self,
        model: &mut Mlp,
        state: &mut OptimizerState,
        grads: &[LinearGrads],
    ) -> std::result::Result<(), (String, &'static str)> {
        state.begin_step();
        for (i, (layer, g)) in model.layers_mut().iter_mut().zip(grads).enumerate() {
            state
                .update_layer(2 * i, layer, g, self.l1)
                .map_err(|part| (format!("layers.{i}"), part))?;
        }
        Ok(())
    }
}

fn check_labels_fit(model: &Mlp, data: &Dataset, loss: Loss) -> Result<()> {
    if data.n_features() != model.in_features() {
        return Err(Error::shape(
            "Trainer dataset features",
            model.in_features(),
            data.n_features(),
        ));
    }
    // A single output is a binary logit (labels 0/1) except for cross-entropy, which needs a
    // column per class.
    let classes = match loss {
        Loss::CrossEntropy => model.out_features(),
        _ => model.out_features().max(2),
    };
    if data.n_classes() > classes {
        return Err(Error::param(
            "dataset",
            format!(
                "{} classes but the model has {} outputs",
                data.n_classes(),
                model.out_features()
            ),
        ));
    }
    Ok(())
}
