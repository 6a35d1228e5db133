//! Model files: every model kind saves to and loads from safetensors, with its kind and
//! configuration in the file's metadata, through one trait, [`ModelFile`] (`to_bytes`,
//! `from_bytes`, `save`, `load`); [`load_any`] reads a file whatever its kind into an
//! [`AnyModel`]. Hugging Face BERT checkpoints load through their parameter names
//! ([`Encoder::load_hf_bert`](crate::nn::Encoder::load_hf_bert)).
//!
//! # What the loaders accept
//!
//! Every loader checks a file completely before it returns a model, and a file that is
//! inconsistent is an error rather than a model that quietly differs from what was saved:
//!
//! - **Sizes** ([`Error::TooLarge`](crate::Error::TooLarge)): every size in a configuration
//!   (widths, head and layer counts, vocabulary, positions, non-zeros) is bounded before
//!   anything is allocated from it: each implied tensor by
//!   [`limits::MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS), the model by
//!   [`limits::MAX_PARAMS`](crate::limits::MAX_PARAMS), and the tensors the file must hold by
//!   the file's length (a configuration claiming more parameters than the file has bytes for,
//!   at the fewest bits any accepted dtype stores one in, is refused). For an encoder narrowed by
//!   pruning, the unpruned shape in its configuration is bounded by the limits too.
//! - **Tensors**: a tensor the model needs and the file lacks is
//!   [`Error::MissingTensor`](crate::Error::MissingTensor) naming it; one of the wrong shape is
//!   [`Error::ShapeMismatch`](crate::Error::ShapeMismatch); a tensor the model does not use is
//!   [`Error::UnexpectedTensor`](crate::Error::UnexpectedTensor) naming it (a file written by
//!   `shrink` holds exactly the tensors its model needs). Hugging Face checkpoints are the one
//!   lenient case: they may carry the tensors listed in
//!   [`Encoder::from_hf_bert`](crate::nn::Encoder::from_hf_bert) (pooler, position-id buffers,
//!   pre-training and task heads), and nothing else.
//! - **Consistency** ([`Error::Format`](crate::Error::Format)): a quantized layer marked
//!   symmetric must not store zero points; an encoder with `type_vocab_size = 0` must not store a
//!   token-type table; a Hugging Face checkpoint must not hold more layers than its
//!   `config.json` lists; a quantized encoder's metadata lists a format for exactly its layers.
//! - **Values**: NaN and infinities are [`Error::NonFinite`](crate::Error::NonFinite). Finite
//!   values are bounded too, since a value no trained network holds only turns every forward
//!   into NaN: every stored float (weights, biases, embeddings, LayerNorm gains and shifts,
//!   sparse values) must satisfy `|v| <=` [`MAX_MAGNITUDE`], and every quantization scale `s`
//!   (weight scales and static activation scales) must be a normal positive f32
//!   (`s >= f32::MIN_POSITIVE`, so `1 / s` is finite) with `s · max|q − z| <= MAX_MAGNITUDE` for
//!   the largest code distance its format allows (int8: 128 symmetric, 255 asymmetric; int4: 8
//!   symmetric, 15 asymmetric), i.e. every code dequantizes within the same bound. A value
//!   outside these is [`Error::Format`](crate::Error::Format) naming its tensor.
//!
//! Loaders do not prove that every forward of a loaded model stays finite (products of many
//! in-bound values can still overflow); a forward that would return NaN or infinities from
//! finite input is an error of its own.

mod bert;
mod encoder_file;
mod hf_export;
mod mlp_file;
mod model_file;
mod quant_encoder_file;
mod quant_file;
mod sparse_file;
pub(crate) mod tensors;

pub use model_file::{from_bytes_any, load_any, AnyModel, ModelFile};

/// The largest magnitude a loader accepts for a stored float value (weights, biases,
/// embeddings, LayerNorm parameters, sparse values, and any dequantized code); larger values
/// are [`Error::Format`](crate::Error::Format).
///
/// Trained networks hold values many orders of magnitude below it (f16 checkpoints cannot
/// exceed 65 504, and typical weights are below 10), so nothing meaningful is refused; and
/// with every weight and every input of a layer within it, one dot product over even
/// [`limits::MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) terms stays below
/// `2³² · 10²⁰ ≈ 4.3 · 10²⁹`, far inside f32's `3.4 · 10³⁸`. A value such as `1e38` in a
/// LayerNorm gain, which passes the finiteness check but makes every forward overflow, is
/// refused at load time.
pub const MAX_MAGNITUDE: f32 = 1e10;
