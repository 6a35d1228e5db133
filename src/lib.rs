//! # shrink
//!
//! Make neural networks smaller and faster on the CPU, in pure Rust over [`ndarray`]: prune,
//! quantize and distill models, with the minimal dense engine (MLPs and transformer blocks)
//! needed to train, fine-tune and run them in-process.
//!
//! - [`data`]: [`Dataset`], a stratified split, feature scaling, seeded batches, the embedded
//!   UCI digits set and synthetic sets;
//! - [`nn`]: [`nn::Linear`], activations, the [`nn::Mlp`], LayerNorm, multi-head attention,
//!   transformer blocks and a BERT-style encoder, behind the common [`Forward`] interface;
//! - [`train`]: losses, SGD and Adam, an L1 penalty and a [`train::Trainer`] with early stopping
//!   and callbacks;
//! - [`prune`]: magnitude, threshold, random, N:M, Wanda and structured pruning, the cubic
//!   schedule, attention-head and FFN-channel pruning; [`sparse`]: CSR layers that run on
//!   their kept weights only;
//! - [`quant`]: f16/bf16, int8 and int4 post-training quantization, GPTQ and QAT;
//! - [`distill`]: soft-target, hard-label, logit, feature and label-free distillation;
//! - [`pipeline`]: prune → quantize → distill chains with one report, and a budgeted search;
//! - [`eval`]: accuracy, macro-F1, confusion matrix, model sizes and latency;
//! - [`io`]: safetensors files for every model ([`io::ModelFile`], [`io::load_any`]), and
//!   Hugging Face BERT checkpoints;
//! - [`prelude`]: the names a typical program needs, for `use shrink::prelude::*;`.
//!
//! Train a model, quantize it, and check what the compression cost (the README's quickstart
//! also prunes):
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::data::Dataset;
//! use shrink::eval::evaluate;
//! use shrink::nn::{Activation, Mlp};
//! use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};
//! use shrink::train::{Adam, Trainer};
//! use shrink::Forward;
//!
//! let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let mut mlp = Mlp::new(&[64, 64, 10], Activation::Relu, &mut rng)?;
//! Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
//! let dense_acc = evaluate(&mlp, &test)?.accuracy;
//! assert!(dense_acc > 0.9);
//!
//! // int8 weights, one scale per output channel. No training: about a millisecond in
//! // release. Measured: 19,240 -> 5,328 bytes, accuracy 0.9638 -> 0.9638.
//! let int8 = Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_mlp(&mlp, None)?;
//! assert!(int8.storage_bytes() * 3 < mlp.storage_bytes());
//! assert!(evaluate(&int8, &test)?.accuracy >= dense_acc - 0.01);
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
pub mod prelude;
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
