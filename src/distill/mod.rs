//! Knowledge distillation: train a small student [`Mlp`](crate::nn::Mlp) to imitate a larger
//! teacher — any model behind [`Forward`](crate::Forward), f32, pruned, sparse or quantized.
//!
//! Every method implements the [`Distiller`] trait and trains with the engine's
//! [`Trainer`](crate::train::Trainer) (through [`Objective`](crate::train::Objective)) on a
//! budget given as a [`Schedule`]; [`DistillReport`] puts teacher and student side by side
//! (accuracy, agreement, parameters). With student logits `s`, teacher logits `t`, labels `y`,
//! batch size `B`:
//!
//! | distiller | loss on a batch | file |
//! |---|---|---|
//! | [`SoftTargets`] (Hinton et al. 2015) | `α·CE(y, s) + (1 − α)·T²·KL(softmax(t/T) ‖ softmax(s/T))` | `soft.rs` |
//! | [`HardLabels`] | `CE(argmax t, s)` | `hard.rs` |
//! | [`LogitMatching`] (Ba & Caruana 2014) | `mean((s − t)²)` | `hard.rs` |
//! | [`FeatureDistiller`] (FitNets, Romero et al. 2015) | soft-target loss `+ β·mean((P(h_s) − h_t)²)`, `P` a learned linear projection | `feature.rs` |
//! | [`LabelFree`] | `T²·KL(softmax(t/T) ‖ softmax(s/T))` on inputs plus [`GaussianNoise`] copies; no labels | `label_free.rs` |
//!
//! The `T²` factor keeps the soft term's gradient, which scales like `1/T²`, comparable across
//! temperatures (see [`soft`]). A teacher with one output column (a binary sigmoid logit) uses
//! Bernoulli distributions `σ(t/T)` in place of softmax, and its sign as the hard label.
//!
//! **Memory.** [`TeacherOutputs::Cached`] (the default) runs the teacher once over all inputs
//! and keeps `N × C` outputs; [`TeacherOutputs::PerBatch`] runs it on each batch, so teacher
//! memory is bounded by the batch size. Both give the same student.
//!
//! **Errors.** Teacher and student output widths that differ, inputs whose width is not both
//! models' input width, `T ≤ 0` or non-finite, `α ∉ [0, 1]`, `α > 0` without labels, a feature
//! layer that is not a hidden layer, and bad schedules are [`Error`](crate::Error)s returned
//! before training; the student is left untouched. So are a non-finite weight or bias in the
//! teacher or the student (checked in one pass at entry, [`Error::NonFinite`](crate::Error)
//! naming it, e.g. `"teacher layers.1 weight"`; a NaN behind a ReLU would otherwise give finite
//! but wrong teacher outputs), non-finite inputs or teacher outputs, a run that diverges (the
//! error names the student layer, epoch and step), and augmentation whose `(1 + copies)·N`
//! rows exceed [`crate::limits::MAX_ELEMENTS`] ([`Error::TooLarge`](crate::Error), refused
//! before allocating).
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::data::synthetic::blobs;
//! use shrink::distill::{DistillReport, Distiller, HardLabels, Schedule, SoftTargets};
//! use shrink::nn::{Activation, Mlp};
//! use shrink::train::Adam;
//!
//! let data = blobs(40, 3, 4, 1.0, 0)?;
//! let schedule = Schedule::new(Adam::new(1e-2)).epochs(20);
//! let mut rng = StdRng::seed_from_u64(0);
//! let mut teacher = Mlp::new(&[4, 32, 3], Activation::Relu, &mut rng)?;
//! schedule.trainer().fit(&mut teacher, &data, None)?;
//!
//! let mut student = Mlp::new(&[4, 4, 3], Activation::Relu, &mut rng)?;
//! SoftTargets::new(4.0, 0.5, schedule).distill_dataset(&teacher, &mut student, &data)?;
//! // 20 epochs on 120 points: a few milliseconds. Measured: 7.4x fewer parameters, 99.2%
//! // agreement with the teacher, accuracy 1.0 -> 0.9917 (asserted within 2 points).
//! let report = DistillReport::measure(&teacher, &student, &data)?;
//! assert!(report.agreement > 0.9 && report.compression() > 5.0);
//! assert!(report.student_accuracy >= report.teacher_accuracy - 0.02);
//!
//! // A student with the wrong number of outputs is an error, not a panic.
//! let mut wrong = Mlp::new(&[4, 4, 2], Activation::Relu, &mut rng)?;
//! assert!(HardLabels::new(schedule).distill_dataset(&teacher, &mut wrong, &data).is_err());
//! # Ok::<(), shrink::Error>(())
//! ```

pub mod augment;
mod distiller;
pub mod feature;
pub mod hard;
pub mod label_free;
pub mod soft;

pub use augment::GaussianNoise;
pub use distiller::{agreement, DistillReport, Distiller, Schedule, TeacherOutputs};
pub use feature::{FeatureDistiller, FeatureFit, LayerRef};
pub use hard::{hard_label_loss, HardLabels, LogitMatching};
pub use label_free::LabelFree;
pub use soft::{soft_target_loss, SoftTargets};
