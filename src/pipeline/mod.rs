//! The compression pipeline: a trained model → prune (with fine-tuning) → quantize (PTQ, QAT,
//! GPTQ or sparse int8) → distill a student and quantize it, every stage measured into one
//! [`CompressionReport`](crate::eval::CompressionReport); and [`BudgetSearch`], which picks
//! per-layer sparsity and bit width for the smallest model within an accuracy budget.

mod budget;
mod runner;
mod stages;

pub use budget::{BudgetResult, BudgetSearch, CompressedLinear, LayerChoice, LayerOption};
pub use runner::{Pipeline, PipelineOutput, StageModel};
pub use stages::{DistillStep, PruneStep, QuantStep, Teacher};
