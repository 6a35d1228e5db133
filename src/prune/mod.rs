//! Pruning: the [`Pruner`] trait over a model's named linear layers, and its methods —
//! magnitude (layer-wise and global), threshold, random, N:M, Wanda — plus structured neuron
//! pruning that yields a smaller dense model and Zhu & Gupta's gradual schedule.
//!
//! Every pruner chooses its layers with a [`LayerFilter`] (`.layers(..)`; include and exclude
//! globs over the layer names, checked against the model), the same type the quantizers take.
//! The structured pruners share the [`StructuredPruner`] trait.
//!
//! Unstructured pruners set masks on the layers: pruned weights are zero and the
//! [`Trainer`](crate::train::Trainer) keeps them at zero while fine-tuning. To make the pruned
//! model smaller and faster for real, convert it to sparse storage with
//! [`SparseLinear`](crate::sparse::SparseLinear).

mod compact;
mod heads;
mod magnitude;
mod nm;
mod pruner;
mod random;
mod schedule;
mod structured;
mod threshold;
mod wanda;

/// The layer filter every pruner and quantizer takes (defined in [`crate::nn`]).
pub use crate::nn::LayerFilter;
pub use compact::compact;
pub use heads::{
    keep_ffn_channels, keep_heads, BlockPruneReport, FfnChannelPruner, HeadPruner,
    TransformerPruneReport,
};
pub use magnitude::MagnitudePruner;
pub use nm::NmPruner;
pub use pruner::{LayerReport, PruneReport, Pruner, Scope};
pub use random::RandomPruner;
pub use schedule::CubicSchedule;
pub use structured::{NeuronNorm, NeuronPruner, StructuredPruner, StructuredReport};
pub use threshold::ThresholdPruner;
pub use wanda::{ActivationNorms, WandaPruner};
