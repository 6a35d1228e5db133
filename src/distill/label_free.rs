//! Label-free transfer: soft-target distillation (α = 0) on the inputs plus seeded augmented
//! copies of them. The student never sees a label; everything it learns comes from the
//! teacher's softened outputs `softmax(t/T)` on the (augmented) inputs:
//!
//! ```text
//! L = T² · KL(softmax(t/T) ‖ softmax(s/T))   over the rows of [x; x + σ·ε₁; …; x + σ·ε_k]
//! ```
//!
//! The augmented set is materialised: `(1 + k)·N` rows, so an epoch is `1 + k` times longer
//! than an epoch over the inputs alone.

use ndarray::ArrayView2;

use super::distiller::{check_temperature, train_on_logits};
use super::soft::soft_target_loss;
use super::{Distiller, GaussianNoise, Schedule, TeacherOutputs};
use crate::error::Result;
use crate::nn::{Forward, Mlp};
use crate::train::History;

/// Label-free distillation settings: temperature, augmentation and budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelFree {
    /// Temperature `T` of the soft targets, finite and > 0.
    pub temperature: f32,
    /// The augmentation applied to the inputs.
    pub augment: GaussianNoise,
    /// Training budget (epochs count passes over the augmented set).
    pub schedule: Schedule,
    /// Where teacher outputs come from.
    pub teacher_outputs: TeacherOutputs,
}

impl LabelFree {
    /// Label-free transfer at `temperature` on inputs augmented by `augment`, teacher outputs
    /// cached.
    pub fn new(temperature: f32, augment: GaussianNoise, schedule: Schedule) -> Self {
        LabelFree {
            temperature,
            augment,
            schedule,
            teacher_outputs: TeacherOutputs::Cached,
        }
    }

    /// Sets where teacher outputs come from.
    pub fn teacher_outputs(mut self, mode: TeacherOutputs) -> Self {
        self.teacher_outputs = mode;
        self
    }

    /// Validates the temperature, the augmentation and the schedule.
    pub fn check(&self) -> Result<()> {
        check_temperature(self.temperature)?;
        self.augment.check()?;
        self.schedule.check()
    }
}

impl<T: Forward + ?Sized> Distiller<T> for LabelFree {
    /// Distils on `inputs` and their augmented copies; `labels` are ignored.
    fn distill(
        &self,
        teacher: &T,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        _labels: Option<&[usize]>,
    ) -> Result<History> {
        self.check()?;
        super::distiller::check_setup(teacher, student, inputs, None)?;
        super::distiller::check_models(teacher, student)?;
        let x = self.augment.apply(inputs)?;
        let temperature = self.temperature;
        train_on_logits(
            &self.schedule,
            self.teacher_outputs,
            teacher,
            student,
            x.view(),
            None,
            |s, t, _| soft_target_loss(s, t, None, temperature, 0.0),
        )
    }
}
