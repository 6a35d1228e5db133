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
//!   mixed precision and excluded layers) and builds `Mlp<QuantLinear>` or
//!   `Encoder<QuantLinear>`; [`Qat`] fine-tunes with fake quantization first;
//! - a [`QuantReport`] gives per-layer SQNR, max error and exact bytes.
//!
//! Shapes: a weight is (out × in), as [`Linear`](crate::nn::Linear) stores it; groups run
//! along the input dimension.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::nn::{Activation, Mlp};
//! use shrink::quant::{ActivationMode, Calibration, Granularity, Ptq, QuantScheme, Quantizer};
//! use shrink::Forward;
//!
//! let mut rng = StdRng::seed_from_u64(0);
//! let mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut rng)?;
//! let x = ndarray::Array2::from_shape_fn((16, 64), |(i, j)| ((i * 64 + j) as f32).sin());
//! let calibration = Calibration::from_mlp(&mlp, &[x.view()])?;
//! let scheme = QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static);
//! let q = Ptq::new(scheme).quantize_mlp(&mlp, Some(&calibration))?;
//! let (a, b) = (mlp.forward(x.view())?, q.forward(x.view())?);
//! assert!((&a - &b).iter().all(|d| d.abs() < 0.05));
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

pub use affine::{choose_params, code_range, dequantize, fake_quantize, quantize, QParams};
pub use calibration::{Calibration, LayerInputs};
pub use gptq::{Gptq, MAX_GPTQ_INPUTS};
pub use int4::Int4Weight;
pub use int8::Int8Weight;
pub use observer::Observer;
pub use ptq::{name_matches, LayerRule, Ptq, Quantizer};

pub use qat::Qat;
pub use qlinear::{ActQuant, QuantLinear, QuantWeight, ACTIVATION_SCHEME};
pub use report::{LayerReport, QuantReport};
pub use scheme::{ActivationMode, Granularity, IntScheme, QuantScheme, WeightScheme};
