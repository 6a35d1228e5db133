//! Layers and models: [`Linear`], activations, softmax, the [`Mlp`], and the transformer parts
//! (LayerNorm, multi-head attention, blocks, the BERT-style encoder), with forward and backward
//! passes.

mod activation;
mod attention;
mod encoder;
mod layer_norm;
mod linear;
mod mlp;
mod model;
mod softmax;
mod transformer;

pub use activation::{erf, sigmoid, Activation};
pub use attention::MultiHeadAttention;
pub(crate) use encoder::Embeddings;
pub use encoder::{Encoder, EncoderConfig};
pub use layer_norm::{LayerNorm, LayerNormGrads};
pub use linear::{Linear, LinearGrads};
pub use mlp::{Mlp, MlpCache};
pub(crate) use model::ensure_finite;
pub use model::{Forward, LinearLayer, NamedLinears};
pub use softmax::{argmax_rows, log_softmax_rows, softmax_rows};
pub use transformer::{BlockConfig, NormPlacement, TransformerBlock};
