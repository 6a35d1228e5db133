//! The names a typical program needs, for one glob import:
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::prelude::*;
//!
//! let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
//! let mut mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
//! Trainer::new(Adam::new(1e-2)).epochs(3).seed(0).fit(&mut mlp, &train, None)?;
//! let int8 = Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_mlp(&mlp, None)?;
//! let loaded = Mlp::<QuantLinear>::from_bytes(&int8.to_bytes()?)?;
//! assert_eq!(evaluate(&loaded, &test)?.accuracy, evaluate(&int8, &test)?.accuracy);
//!
//! // The prelude's `Result` shadows std's and still takes an error type.
//! fn digit(s: &str) -> Result<u8, std::num::ParseIntError> {
//!     s.parse()
//! }
//! assert_eq!(digit("7"), Ok(7));
//! # Ok::<(), shrink::Error>(())
//! ```
//!
//! It holds the data set, the models and their layer types, training, evaluation, the pruners
//! and quantizers with their settings and layer filter, distillation, the pipeline, model files
//! ([`ModelFile`], [`load_any`]) and the error type. [`Result`] is the crate's alias, whose
//! error type defaults to [`Error`] (`Result<T, E>` still names any other), so it can shadow
//! `std`'s. Traits a program rarely calls by name (`LinearLayer`, `NamedLinears`, `Optimizer`,
//! `Objective`), the per-module reports and generic names such as `prune::Scope` stay in their
//! modules.

pub use crate::data::Dataset;
pub use crate::distill::{Distiller, FeatureDistiller, HardLabels, LabelFree, SoftTargets};
pub use crate::error::{Error, Result};
pub use crate::eval::{evaluate, CompressionReport, Metrics};
pub use crate::io::{load_any, AnyModel, ModelFile};
pub use crate::nn::{
    Activation, Encoder, EncoderConfig, Forward, LayerFilter, Linear, Mlp, NormPlacement,
};
pub use crate::pipeline::Pipeline;
pub use crate::prune::{
    CubicSchedule, FfnChannelPruner, HeadPruner, MagnitudePruner, NeuronPruner, NmPruner, Pruner,
    RandomPruner, StructuredPruner, ThresholdPruner, WandaPruner,
};
pub use crate::quant::{Gptq, Granularity, Ptq, Qat, QuantLinear, QuantScheme, Quantizer};
pub use crate::sparse::SparseLinear;
pub use crate::train::{Adam, Sgd, Trainer};
