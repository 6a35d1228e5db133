//! Feature distillation (FitNets: Romero et al. 2015, "FitNets: Hints for Thin Deep Nets",
//! arXiv:1412.6550): a student hidden layer is matched to a teacher hidden layer through a
//! learned linear projection, jointly with the soft-target logit loss.
//!
//! With `h_s` the student's output of hidden layer `i` (width `d_s`, after its activation),
//! `h_t` the teacher's output of layer `j` (width `d_t`), a projection `P(h) = h·Wᵀ + b`
//! (`d_s → d_t`, the FitNets "regressor", trained with the student and discarded afterwards) and
//! the [soft-target loss](super::soft) `L_KD` on the logits:
//!
//! ```text
//! L = L_KD(s, t, y; T, α) + β · mean((P(h_s) − h_t)²)      (mean over the B × d_t entries)
//! ∂L/∂P(h_s) = 2β (P(h_s) − h_t) / (B·d_t),   ∂L/∂h_s = ∂L/∂P(h_s) · W
//! ```
//!
//! `∂L/∂h_s` is injected into the student's backward pass at layer `i`
//! ([`Mlp::backward_with_hidden`]); the student and the projection are updated by the same
//! optimizer. Romero et al. train the hint first and the logits after; here both terms are
//! minimised together, which needs one run and no stage schedule.

use ndarray::{ArrayView2, Axis};
use rand::{rngs::StdRng, SeedableRng};

use super::distiller::{check_alpha, check_models, check_setup, check_temperature, TeacherSource};
use super::soft::soft_target_loss;
use super::{Distiller, Schedule, TeacherOutputs};
use crate::data::shuffled_batches;
use crate::error::{Error, Result};
use crate::nn::{Forward, Linear, LinearLayer, Mlp};
use crate::train::{diverged_at, diverged_param, mse, EpochStats, History, OptimizerState};

/// A layer of an [`Mlp`], by index or by its [`NamedLinears`](crate::nn::NamedLinears) name
/// (`"layers.{i}"`); the layer's output after its activation is the feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    /// The layer's index, from 0.
    Index(usize),
    /// The layer's name, `"layers.{i}"`.
    Name(String),
}

impl From<usize> for LayerRef {
    fn from(i: usize) -> Self {
        LayerRef::Index(i)
    }
}

impl From<&str> for LayerRef {
    fn from(name: &str) -> Self {
        LayerRef::Name(name.to_string())
    }
}

impl LayerRef {
    /// The index of this hidden layer in a model with `n_layers` layers; errors (naming `which`
    /// and the valid names) if it is not a hidden layer (the last layer gives the logits).
    fn resolve(&self, which: &'static str, n_layers: usize) -> Result<usize> {
        let index = match self {
            LayerRef::Index(i) => Some(*i),
            LayerRef::Name(n) => n
                .strip_prefix("layers.")
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| format!("layers.{i}") == *n),
        };
        match index {
            Some(i) if i < n_layers.saturating_sub(1) => Ok(i),
            _ => {
                let names: Vec<String> = (0..n_layers.saturating_sub(1))
                    .map(|i| format!("layers.{i}"))
                    .collect();
                Err(Error::param(
                    which,
                    format!("{self:?} is not a hidden layer; hidden layers are {names:?}"),
                ))
            }
        }
    }
}

/// FitNets-style feature distillation settings (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureDistiller {
    /// The student hidden layer whose output is projected.
    pub student_layer: LayerRef,
    /// The teacher hidden layer it is matched to.
    pub teacher_layer: LayerRef,
    /// Weight `β ≥ 0` of the feature term.
    pub beta: f32,
    /// Temperature of the logit term.
    pub temperature: f32,
    /// Label weight `α` of the logit term.
    pub alpha: f32,
    /// Training budget.
    pub schedule: Schedule,
    /// Where teacher logits and features come from.
    pub teacher_outputs: TeacherOutputs,
    /// Seed of the projection's initialisation.
    pub projection_seed: u64,
}

/// What a feature-distillation run returns besides the trained student.
#[derive(Debug, Clone)]
pub struct FeatureFit {
    /// Per-epoch training loss (logit plus feature term).
    pub history: History,
    /// The trained projection from the student layer to the teacher layer.
    pub projection: Linear,
}

impl FeatureDistiller {
    /// Matches `student_layer` to `teacher_layer` with weight `beta`, with soft targets at
    /// temperature 4 and α = 0.5 on the logits, teacher outputs cached, projection seed 0.
    pub fn new(
        student_layer: impl Into<LayerRef>,
        teacher_layer: impl Into<LayerRef>,
        beta: f32,
        schedule: Schedule,
    ) -> Self {
        FeatureDistiller {
            student_layer: student_layer.into(),
            teacher_layer: teacher_layer.into(),
            beta,
            temperature: 4.0,
            alpha: 0.5,
            schedule,
            teacher_outputs: TeacherOutputs::Cached,
            projection_seed: 0,
        }
    }

    /// Sets the logit term's temperature and label weight.
    pub fn logits(mut self, temperature: f32, alpha: f32) -> Self {
        self.temperature = temperature;
        self.alpha = alpha;
        self
    }

    /// Sets where teacher outputs come from.
    pub fn teacher_outputs(mut self, mode: TeacherOutputs) -> Self {
        self.teacher_outputs = mode;
        self
    }

    /// Sets the projection's initialisation seed.
    pub fn projection_seed(mut self, seed: u64) -> Self {
        self.projection_seed = seed;
        self
    }

    /// Validates β, the logit settings and the schedule.
    pub fn check(&self) -> Result<()> {
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(Error::param(
                "beta",
                format!("must be finite and ≥ 0, got {}", self.beta),
            ));
        }
        check_temperature(self.temperature)?;
        check_alpha(self.alpha)?;
        self.schedule.check()
    }

    /// Trains `student` and a projection; returns both the history and the projection. The
    /// student is replaced only if the whole run succeeds.
    pub fn fit<L: LinearLayer>(
        &self,
        teacher: &Mlp<L>,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        labels: Option<&[usize]>,
    ) -> Result<FeatureFit> {
        self.check()?;
        check_setup(teacher, student, inputs, labels)?;
        check_models(teacher, student)?;
        if self.alpha > 0.0 && labels.is_none() {
            return Err(Error::param(
                "alpha",
                format!("α = {} needs labels (use α = 0)", self.alpha),
            ));
        }
        let si = self
            .student_layer
            .resolve("student_layer", student.layers().len())?;
        let ti = self
            .teacher_layer
            .resolve("teacher_layer", teacher.layers().len())?;
        let (d_s, d_t) = (student.sizes()[si + 1], teacher.sizes()[ti + 1]);
        let mut projection =
            Linear::init(d_s, d_t, &mut StdRng::seed_from_u64(self.projection_seed))?;

        let chunk = self.schedule.batch_size;
        let logits = TeacherSource::new(
            |x: ArrayView2<f32>| teacher.forward(x),
            inputs,
            self.teacher_outputs,
            chunk,
            "teacher outputs",
        )?;
        let features = TeacherSource::new(
            |x: ArrayView2<f32>| teacher.hidden(x, ti),
            inputs,
            self.teacher_outputs,
            chunk,
            "teacher features",
        )?;

        let mut work = student.clone();
        let mut state = OptimizerState::new(self.schedule.optimizer);
        let mut rng = StdRng::seed_from_u64(self.schedule.seed);
        let mut history = History {
            epochs: Vec::with_capacity(self.schedule.epochs),
            best_epoch: 0,
            stopped_early: false,
        };
        let mut step = 0usize;
        for epoch in 0..self.schedule.epochs {
            let batches = shuffled_batches(inputs.nrows(), chunk, &mut rng)?;
            let mut total = 0.0f32;
            for idx in &batches {
                let xb = inputs.select(Axis(0), idx);
                let (out, cache) = match work.forward_train(xb.view()) {
                    Ok(r) if r.0.iter().all(|v| v.is_finite()) => r,
                    Ok(_) | Err(Error::NonFinite(_)) => {
                        return Err(diverged_at(
                            &work,
                            xb.view(),
                            "feature distillation: student",
                            epoch,
                            step,
                        ))
                    }
                    Err(e) => return Err(e),
                };
                let yb: Option<Vec<usize>> = labels.map(|l| idx.iter().map(|&i| l[i]).collect());
                let (logit_loss, grad_out) = soft_target_loss(
                    out.view(),
                    logits.rows(idx)?.view(),
                    yb.as_deref(),
                    self.temperature,
                    self.alpha,
                )?;
                let h_s = cache
                    .hidden_output(si)
                    .ok_or_else(|| Error::param("student_layer", format!("no output for {si}")))?;
                let projected = projection.forward(h_s)?;
                let (feat_loss, mut grad_p) = mse(projected.view(), features.rows(idx)?.view())?;
                grad_p *= self.beta;
                let proj_grads = projection.backward(h_s, grad_p.view())?;
                let loss = logit_loss + self.beta * feat_loss;
                if !loss.is_finite() {
                    return Err(Error::NonFinite(format!(
                        "feature distillation loss on the student layers.{} output and the \
                         projection at epoch {epoch}, step {step} (training diverged: lower \
                         the learning rate)",
                        work.layers().len() - 1
                    )));
                }
                let grads = work.backward_with_hidden(
                    &cache,
                    grad_out.view(),
                    &[(si, proj_grads.input.view())],
                )?;
                state.begin_step();
                for (i, (layer, g)) in work.layers_mut().iter_mut().zip(&grads).enumerate() {
                    state.update_layer(2 * i, layer, g, 0.0).map_err(|part| {
                        diverged_param("student ", &format!("layers.{i}"), part, epoch, step)
                    })?;
                }
                state
                    .update_layer(2 * grads.len(), &mut projection, &proj_grads, 0.0)
                    .map_err(|part| diverged_param("", "projection", part, epoch, step))?;
                total += loss;
                step += 1;
            }
            history.epochs.push(EpochStats {
                epoch,
                train_loss: total / batches.len() as f32,
                val_loss: None,
                val_accuracy: None,
            });
            history.best_epoch = epoch;
        }
        *student = work;
        Ok(FeatureFit {
            history,
            projection,
        })
    }
}

impl<L: LinearLayer> Distiller<Mlp<L>> for FeatureDistiller {
    fn distill(
        &self,
        teacher: &Mlp<L>,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        labels: Option<&[usize]>,
    ) -> Result<History> {
        Ok(self.fit(teacher, student, inputs, labels)?.history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Activation;
    use crate::testing::{assert_grad_close, numeric_grad};
    use crate::train::Adam;
    use ndarray::Array2;
    use rand::Rng;

    /// The feature term alone, `mean((h_s·Wᵀ + b − h_t)²)`.
    fn feature_loss(projection: &Linear, h_s: ArrayView2<f32>, h_t: ArrayView2<f32>) -> f32 {
        let p = projection.forward(h_s).unwrap();
        mse(p.view(), h_t).unwrap().0
    }

    #[test]
    fn layer_names_resolve_to_hidden_layers_only() {
        assert_eq!(LayerRef::from("layers.1").resolve("l", 3).unwrap(), 1);
        assert_eq!(LayerRef::from(0).resolve("l", 3).unwrap(), 0);
        for bad in ["layers.2", "layers.x", "layer.0", "layers.01", ""] {
            let err = LayerRef::from(bad).resolve("student_layer", 3).unwrap_err();
            assert!(err.to_string().contains("layers.1"), "{err}");
        }
        assert!(LayerRef::from(5).resolve("l", 3).is_err());
    }

    #[test]
    fn injected_feature_gradient_matches_finite_differences() {
        // d/dx of β·mean((P(h₀(x)) − h_t)²) through the student, via backward_with_hidden.
        let mut rng = StdRng::seed_from_u64(3);
        let student = Mlp::new(&[4, 6, 3], Activation::Tanh, &mut rng).unwrap();
        let proj = Linear::init(6, 5, &mut rng).unwrap();
        let x = Array2::from_shape_fn((3, 4), |_| rng.random_range(-1.0..1.0f32));
        let h_t = Array2::from_shape_fn((3, 5), |_| rng.random_range(-1.0..1.0f32));
        let beta = 0.7f32;
        let (out, cache) = student.forward_train(x.view()).unwrap();
        let h_s = cache.hidden_output(0).unwrap();
        let p = proj.forward(h_s).unwrap();
        let (_, g_p) = mse(p.view(), h_t.view()).unwrap();
        let pg = proj.backward(h_s, (g_p * beta).view()).unwrap();
        let zero = Array2::zeros(out.dim());
        let grads = student
            .backward_with_hidden(&cache, zero.view(), &[(0, pg.input.view())])
            .unwrap();
        let num = numeric_grad(&x, |xp| {
            beta * feature_loss(
                &proj,
                student.hidden(xp.view(), 0).unwrap().view(),
                h_t.view(),
            )
        });
        assert_grad_close(&grads[0].input, &num, "feature dx");
    }

    #[test]
    fn rejects_bad_settings_and_leaves_the_student_untouched() {
        let mut rng = StdRng::seed_from_u64(0);
        let teacher = Mlp::new(&[4, 8, 3], Activation::Relu, &mut rng).unwrap();
        let student = Mlp::new(&[4, 2, 3], Activation::Relu, &mut rng).unwrap();
        let x = Array2::from_shape_fn((10, 4), |_| rng.random_range(-1.0..1.0f32));
        let sched = Schedule::new(Adam::new(1e-2)).epochs(1);
        let cases = [
            FeatureDistiller::new("layers.1", "layers.0", 1.0, sched),
            FeatureDistiller::new("layers.0", "fc1", 1.0, sched),
            FeatureDistiller::new(0, 0, -1.0, sched),
            FeatureDistiller::new(0, 0, 1.0, sched).logits(0.0, 0.0),
            FeatureDistiller::new(0, 0, 1.0, sched).logits(2.0, 0.5), // α > 0 without labels
        ];
        for fd in cases {
            let mut s = student.clone();
            assert!(
                fd.distill(&teacher, &mut s, x.view(), None).is_err(),
                "{fd:?}"
            );
            assert_eq!(s, student);
        }
        let mut s = student.clone();
        let fit = FeatureDistiller::new(0, "layers.0", 1.0, sched)
            .logits(2.0, 0.0)
            .fit(&teacher, &mut s, x.view(), None)
            .unwrap();
        assert_eq!(fit.projection.weight().dim(), (8, 2));
        assert_ne!(s, student);
    }
}
