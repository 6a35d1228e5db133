//! Hard-label distillation and logit matching: two distillers that use the teacher's outputs
//! directly rather than softened distributions. Neither looks at the true labels.
//!
//! - **Hard labels**: the student is trained with cross-entropy against the teacher's
//!   prediction `ŷ = argmax t` (for a single binary logit, `ŷ = [t > 0]` with binary
//!   cross-entropy): `L = CE(ŷ, s)`, `∂L/∂s = (softmax(s) − onehot(ŷ)) / B`.
//! - **Logit matching** (Ba & Caruana 2014, "Do Deep Nets Really Need to be Deep?"): mean
//!   squared error between the logits, `L = mean((s − t)²)` over the `B × C` entries,
//!   `∂L/∂s = 2(s − t) / (B·C)`. This is the `T → ∞` limit of soft targets (up to a constant
//!   factor when logits have zero mean), and works unchanged for a binary logit.

use ndarray::{Array2, ArrayView2};

use super::distiller::train_on_logits;
use super::soft::hard_label_term;
use super::{Distiller, Schedule, TeacherOutputs};
use crate::error::{Error, Result};
use crate::nn::{argmax_rows, Forward, Mlp};
use crate::train::{mse, History};

/// Distillation on the teacher's predicted class (its argmax, or the sign of a binary logit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HardLabels {
    /// Training budget.
    pub schedule: Schedule,
    /// Where teacher outputs come from.
    pub teacher_outputs: TeacherOutputs,
}

impl HardLabels {
    /// Hard-label distillation with this budget, teacher outputs cached.
    pub fn new(schedule: Schedule) -> Self {
        HardLabels {
            schedule,
            teacher_outputs: TeacherOutputs::Cached,
        }
    }

    /// Sets where teacher outputs come from.
    pub fn teacher_outputs(mut self, mode: TeacherOutputs) -> Self {
        self.teacher_outputs = mode;
        self
    }
}

impl<T: Forward + ?Sized> Distiller<T> for HardLabels {
    fn distill(
        &self,
        teacher: &T,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        _labels: Option<&[usize]>,
    ) -> Result<History> {
        train_on_logits(
            &self.schedule,
            self.teacher_outputs,
            teacher,
            student,
            inputs,
            None,
            |s, t, _| hard_label_loss(s, t),
        )
    }
}

/// Cross-entropy of student logits against the teacher's predicted classes (binary
/// cross-entropy against `[t > 0]` for one column), and its gradient.
pub fn hard_label_loss(
    student: ArrayView2<f32>,
    teacher: ArrayView2<f32>,
) -> Result<(f32, Array2<f32>)> {
    if student.dim() != teacher.dim() {
        return Err(Error::shape(
            "hard_label_loss teacher",
            student.dim(),
            teacher.dim(),
        ));
    }
    hard_label_term(student, &argmax_rows(teacher))
}

/// Logit matching: mean squared error between student and teacher logits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogitMatching {
    /// Training budget.
    pub schedule: Schedule,
    /// Where teacher outputs come from.
    pub teacher_outputs: TeacherOutputs,
}

impl LogitMatching {
    /// Logit matching with this budget, teacher outputs cached.
    pub fn new(schedule: Schedule) -> Self {
        LogitMatching {
            schedule,
            teacher_outputs: TeacherOutputs::Cached,
        }
    }

    /// Sets where teacher outputs come from.
    pub fn teacher_outputs(mut self, mode: TeacherOutputs) -> Self {
        self.teacher_outputs = mode;
        self
    }
}

impl<T: Forward + ?Sized> Distiller<T> for LogitMatching {
    fn distill(
        &self,
        teacher: &T,
        student: &mut Mlp,
        inputs: ArrayView2<f32>,
        _labels: Option<&[usize]>,
    ) -> Result<History> {
        train_on_logits(
            &self.schedule,
            self.teacher_outputs,
            teacher,
            student,
            inputs,
            None,
            |s, t, _| mse(s, t),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_grad_close, numeric_grad};
    use ndarray::array;

    #[test]
    fn hard_label_loss_uses_the_teacher_argmax() {
        let s = array![[0.5f32, -1.0, 2.0], [0.0, 0.3, -0.2]];
        let t = array![[9.0f32, 0.0, 0.0], [0.0, 0.0, 4.0]];
        let (l, g) = hard_label_loss(s.view(), t.view()).unwrap();
        let (l2, g2) = crate::train::softmax_cross_entropy(s.view(), &[0, 2]).unwrap();
        assert_eq!((l, g), (l2, g2));
        let num = numeric_grad(&s, |sp| hard_label_loss(sp.view(), t.view()).unwrap().0);
        assert_grad_close(
            &hard_label_loss(s.view(), t.view()).unwrap().1,
            &num,
            "hard",
        );
    }

    #[test]
    fn binary_hard_labels_threshold_the_logit() {
        let s = array![[0.5f32], [-1.0]];
        let t = array![[-2.0f32], [3.0]];
        let (_, g) = hard_label_loss(s.view(), t.view()).unwrap();
        // Targets 0 and 1: gradient (σ(s) − y)/2 is positive then negative.
        assert!(g[[0, 0]] > 0.0 && g[[1, 0]] < 0.0);
        assert!(hard_label_loss(s.view(), array![[1.0f32, 2.0]].view()).is_err());
    }
}
