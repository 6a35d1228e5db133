//! Model files: every model kind saves to and loads from safetensors, with its configuration in
//! the file's metadata; Hugging Face BERT checkpoints load through their parameter names.

mod bert;
mod encoder_file;
mod mlp_file;
mod quant_encoder_file;
mod quant_file;
mod sparse_file;
pub(crate) mod tensors;
