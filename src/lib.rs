//! # shrink
//!
//! Make neural networks smaller and faster on the CPU, in pure Rust over [`ndarray`]: prune,
//! quantize and distill models, with the minimal dense engine (MLPs and transformer blocks)
//! needed to train, fine-tune and run them in-process.
//!
//! This release holds the engine the compression techniques work on:
//!
//! - [`data`]: [`Dataset`], a stratified split, feature scaling, seeded batches, the embedded
//!   UCI digits set and synthetic sets;
//! - [`nn`]: [`nn::Linear`], activations, the [`nn::Mlp`], LayerNorm, multi-head attention,
//!   transformer blocks and a BERT-style encoder, behind the common [`Forward`] interface;
//! - [`train`]: losses, SGD and Adam, an L1 penalty and a [`train::Trainer`] with early stopping
//!   and callbacks;
//! - [`eval`]: accuracy, macro-F1, confusion matrix, model sizes and latency;
//! - [`io`]: safetensors files for every model, and Hugging Face BERT checkpoints.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::data::Dataset;
//! use shrink::nn::{Activation, Mlp};
//! use shrink::train::{Adam, Trainer};
//! use shrink::eval::evaluate;
//!
//! let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let mut mlp = Mlp::new(&[64, 64, 10], Activation::Relu, &mut rng)?;
//! Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
//! let metrics = evaluate(&mlp, &test)?;
//! assert!(metrics.accuracy > 0.9);
//! # Ok::<(), shrink::Error>(())
//! ```
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod data;
pub mod distill;
pub mod error;
pub mod eval;
pub mod io;
pub mod kernels;
pub mod limits;
pub mod nn;
pub mod pipeline;
pub mod prune;
pub mod quant;
pub mod sparse;
pub mod train;

#[cfg(test)]
mod testing;

pub use data::Dataset;
pub use error::{Error, Result};
pub use nn::Forward;

/// The README's code, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
