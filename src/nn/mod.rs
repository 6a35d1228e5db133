//! Layers and models: [`Linear`], activations, softmax, the [`Mlp`], and the transformer parts
//! (LayerNorm, multi-head attention, blocks, the BERT-style encoder), with forward and backward
//! passes; and [`LayerFilter`], the include/exclude globs over layer names that pruners and
//! quantizers share.

mod activation;
mod attention;
mod encoder;
mod filter;
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
pub(crate) use filter::check_pattern;
pub use filter::{glob_matches, LayerFilter};
pub use layer_norm::{LayerNorm, LayerNormGrads};
pub use linear::{Linear, LinearGrads};
pub use mlp::{Mlp, MlpCache};
pub(crate) use model::{check_params_finite, checked_forward, ensure_finite};
pub use model::{Forward, LinearLayer, NamedLinears};
pub use softmax::{argmax_rows, log_softmax_rows, softmax_rows};
pub use transformer::{BlockConfig, NormPlacement, TransformerBlock};
