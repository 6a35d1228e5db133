//! The steps a [`Pipeline`](super::Pipeline) can chain, as plain values.

use crate::distill::SoftTargets;
use crate::prune::Pruner;
use crate::quant::{Qat, Quantizer};
use crate::train::Trainer;

/// Pruning followed by fine-tuning with the masks held.
pub struct PruneStep {
    /// The pruner (its sparsity and scope are its own settings).
    pub pruner: Box<dyn Pruner>,
    /// The fine-tuning run; `None` skips fine-tuning.
    pub fine_tune: Option<Trainer>,
}

/// How a stage's model is quantized.
#[non_exhaustive]
pub enum QuantStep {
    /// Weight-only int8 on the kept weights of a pruned model, stored sparse
    /// ([`SparseInt8Linear`](crate::sparse::SparseInt8Linear)): pruning and quantization
    /// savings multiply. On an unpruned model it stores every weight, at 3 bytes each.
    SparseInt8,
    /// Post-training quantization (e.g. [`Ptq`](crate::quant::Ptq) or
    /// [`Gptq`](crate::quant::Gptq)), calibrated on the first `calibration_rows` training rows.
    /// A pruned model's zeros are quantized like any weight and stored densely.
    Quantizer(Box<dyn Quantizer>),
    /// Quantization-aware training on the training set, then conversion.
    Qat(Qat),
}

/// Which model teaches the student.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Teacher {
    /// The original f32 model (the default: the best teacher available).
    #[default]
    Original,
    /// The last compressed stage (pruned and/or quantized), to show any compressed model can
    /// teach.
    Compressed,
}

/// Distillation into a smaller student MLP, optionally quantized afterwards.
pub struct DistillStep {
    /// Student layer widths, input first (e.g. `[64, 32, 10]`); hidden layers use ReLU.
    pub sizes: Vec<usize>,
    /// Soft-target distillation settings (temperature, α, budget).
    pub distiller: SoftTargets,
    /// Seed of the student's initial weights.
    pub seed: u64,
    /// Which model teaches.
    pub teacher: Teacher,
    /// How the student is quantized, if at all.
    pub quantize: Option<QuantStep>,
}
