//! Gradual pruning during training with Zhu & Gupta's cubic schedule (2017, "To prune, or not
//! to prune: exploring the efficacy of pruning for model compression", eq. 1):
//!
//! ```text
//! s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(n·Δt))³   for t ∈ {t₀, t₀ + Δt, …, t₀ + n·Δt}
//! ```
//!
//! pruning every Δt steps from step t₀, n times, from initial sparsity s_i to final sparsity
//! s_f: fast at first, while there are many redundant weights, then slower.

use super::pruner::{check_sparsity, Pruner};
use crate::error::{Error, Result};
use crate::nn::Mlp;
use crate::train::TrainEvent;

/// The cubic sparsity schedule of Zhu & Gupta (2017).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CubicSchedule {
    /// Initial sparsity s_i.
    pub initial: f32,
    /// Final sparsity s_f.
    pub target: f32,
    /// First pruning step t₀.
    pub start_step: usize,
    /// Steps between pruning events Δt (≥ 1).
    pub frequency: usize,
    /// Number of pruning intervals n (≥ 1); the last event is at t₀ + n·Δt.
    pub intervals: usize,
}

impl CubicSchedule {
    /// Validates the settings.
    pub fn check(&self) -> Result<()> {
        check_sparsity(self.initial)?;
        check_sparsity(self.target)?;
        if self.initial > self.target {
            return Err(Error::param(
                "initial",
                format!(
                    "initial sparsity {} exceeds the target {}",
                    self.initial, self.target
                ),
            ));
        }
        let end = self
            .intervals
            .checked_mul(self.frequency)
            .and_then(|span| span.checked_add(self.start_step));
        if end.is_none() {
            return Err(Error::param(
                "intervals",
                format!(
                    "start {} + {} intervals × {} steps overflows",
                    self.start_step, self.intervals, self.frequency
                ),
            ));
        }
        if self.frequency == 0 || self.intervals == 0 {
            return Err(Error::param(
                "frequency",
                format!(
                    "frequency and intervals must be ≥ 1, got {} and {}",
                    self.frequency, self.intervals
                ),
            ));
        }
        Ok(())
    }

    /// The sparsity s_t at training step `step`, in `[initial, target]`. The fields are
    /// public, so the schedule is checked ([`CubicSchedule::check`]) first: a NaN or
    /// out-of-range sparsity, `initial > target` or a zero frequency is
    /// [`Error::InvalidParam`] rather than a NaN sparsity.
    pub fn sparsity_at(&self, step: usize) -> Result<f32> {
        self.check()?;
        Ok(self.sparsity_at_checked(step))
    }

    /// [`CubicSchedule::sparsity_at`] on a checked schedule.
    fn sparsity_at_checked(&self, step: usize) -> f32 {
        if step < self.start_step {
            return self.initial;
        }
        let span = self.intervals.saturating_mul(self.frequency).max(1) as f32;
        let progress = ((step - self.start_step) as f32 / span).min(1.0);
        self.target + (self.initial - self.target) * (1.0 - progress).powi(3)
    }

    /// Whether the schedule prunes at `step`; errors as [`CubicSchedule::sparsity_at`] does
    /// on an invalid schedule.
    pub fn is_pruning_step(&self, step: usize) -> Result<bool> {
        self.check()?;
        Ok(self.is_pruning_step_checked(step))
    }

    /// [`CubicSchedule::is_pruning_step`] on a checked schedule.
    fn is_pruning_step_checked(&self, step: usize) -> bool {
        step >= self.start_step
            && (step - self.start_step).is_multiple_of(self.frequency)
            && step
                <= self
                    .start_step
                    .saturating_add(self.intervals.saturating_mul(self.frequency))
    }

    /// A [`Trainer`](crate::train::Trainer) callback that prunes with `make(s_t)` at every
    /// pruning step. Masks are kept between events, so sparsity only grows.
    pub fn callback<P: Pruner>(
        self,
        make: impl Fn(f32) -> P,
    ) -> Result<impl FnMut(&TrainEvent, &mut Mlp) -> Result<()>> {
        self.check()?;
        Ok(move |event: &TrainEvent, model: &mut Mlp| {
            if let TrainEvent::Step { step, .. } = *event {
                if self.is_pruning_step_checked(step) {
                    make(self.sparsity_at_checked(step)).prune(model)?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_cubic_formula() {
        let s = CubicSchedule {
            initial: 0.0,
            target: 0.8,
            start_step: 10,
            frequency: 5,
            intervals: 4,
        };
        s.check().unwrap();
        assert_eq!(s.sparsity_at(0).unwrap(), 0.0);
        assert_eq!(s.sparsity_at(10).unwrap(), 0.0);
        // Halfway: 0.8 + (0 − 0.8)(1 − 0.5)³ = 0.7.
        assert!((s.sparsity_at(20).unwrap() - 0.7).abs() < 1e-6);
        assert!((s.sparsity_at(30).unwrap() - 0.8).abs() < 1e-6);
        assert!((s.sparsity_at(1000).unwrap() - 0.8).abs() < 1e-6);
        let steps: Vec<usize> = (0..40).filter(|&t| s.is_pruning_step(t).unwrap()).collect();
        assert_eq!(steps, vec![10, 15, 20, 25, 30]);
    }

    #[test]
    fn rejects_bad_settings() {
        let ok = CubicSchedule {
            initial: 0.0,
            target: 0.5,
            start_step: 0,
            frequency: 1,
            intervals: 1,
        };
        assert!(CubicSchedule { target: 1.0, ..ok }.check().is_err());
        assert!(CubicSchedule { initial: 0.6, ..ok }.check().is_err());
        assert!(CubicSchedule { frequency: 0, ..ok }.check().is_err());
        let huge = CubicSchedule {
            intervals: usize::MAX,
            frequency: 2,
            ..ok
        };
        assert!(huge.check().is_err());
        assert!(matches!(
            huge.sparsity_at(10),
            Err(Error::InvalidParam { .. })
        ));
        let nan = CubicSchedule {
            target: f32::NAN,
            ..ok
        };
        assert!(matches!(
            nan.sparsity_at(3),
            Err(Error::InvalidParam { .. })
        ));
        assert!(CubicSchedule { frequency: 0, ..ok }
            .is_pruning_step(0)
            .is_err());
    }
}
