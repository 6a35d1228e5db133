//! Quantization: the [`Quantizer`] trait, schemes, observers, post-training quantization
//! (PTQ), quantization-aware training (QAT), GPTQ, and quantized models that run on their
//! packed weights.
//!
//! The pieces, kept apart:
//!
//! - a [`QuantScheme`] (plain `Copy` data) says how one layer is stored: f16, bf16, or affine
//!   integers `q = clamp(round(x/s) + z, qmin, qmax)`, `x̂ = s·(q − z)` (Jacob et al. 2018)
//!   with 8 or 4 bits, symmetric or not, per tensor / channel / group of inputs, and whether
//!   activations stay f32, are quantized per row at run time (dynamic) or from calibration
//!   (static);
//! - an [`Observer`] chooses ranges (min-max, moving average, percentile, MSE clipping);
//! - a [`Calibration`] records every named layer's inputs on user-chosen batches;
//! - a [`Quantizer`] ([`Ptq`], [`Gptq`]) walks a model's named linear layers (with rules for
//!   mixed precision and excluded layers, and a [`LayerFilter`] choosing which layers to
//!   quantize: `.layers(..)`, as on every pruner) and builds `Mlp<QuantLinear>` or
//!   `Encoder<QuantLinear>`; [`Qat`] fine-tunes with fake quantization first;
//! - a [`QuantReport`] gives per-layer SQNR, max error and exact bytes.
//!
//! Shapes: a weight is (out × in), as [`Linear`](crate::nn::Linear) stores it; groups run
//! along the input dimension.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::data::Dataset;
//! use shrink::eval::evaluate;
//! use shrink::nn::{Activation, Mlp};
//! use shrink::quant::{ActivationMode, Calibration, Granularity, Ptq, QuantScheme, Quantizer};
//! use shrink::train::{Adam, Trainer};
//! use shrink::Forward;
//!
//! let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
//! let mut mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
//! Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
//!
//! // int8 weights and activations (activation ranges calibrated on the training inputs): under
//! // a millisecond in release. Measured: 9,640 -> 2,720 bytes, accuracy 0.9638 -> 0.9638.
//! let calibration = Calibration::from_mlp(&mlp, &[train.features()])?;
//! let scheme = QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static);
//! let q = Ptq::new(scheme).quantize_mlp(&mlp, Some(&calibration))?;
//! assert!(q.storage_bytes() * 3 < mlp.storage_bytes());
//! assert!(evaluate(&q, &test)?.accuracy >= evaluate(&mlp, &test)?.accuracy - 0.01);
//! # Ok::<(), shrink::Error>(())
//! ```

mod affine;
mod calibration;
mod codes;
mod gptq;
mod int4;
mod int8;
mod observer;
mod ptq;
mod qat;
mod qlinear;
mod report;
mod scheme;

/// The layer filter every quantizer and pruner takes (defined in [`crate::nn`]).
pub use crate::nn::LayerFilter;
pub use affine::{choose_params, code_range, dequantize, fake_quantize, quantize, QParams};
pub use calibration::{Calibration, LayerInputs};
pub use gptq::{Gptq, MAX_GPTQ_INPUTS};
pub use int4::Int4Weight;
pub use int8::Int8Weight;
pub use observer::Observer;
#[allow(deprecated)]
pub use ptq::name_matches;
pub use ptq::{LayerRule, Ptq, Quantizer};

pub use qat::Qat;
pub use qlinear::{ActQuant, QuantLinear, QuantWeight, ACTIVATION_SCHEME};
pub use report::{LayerReport, QuantReport};
pub use scheme::{ActivationMode, Granularity, IntScheme, QuantScheme, WeightScheme};
