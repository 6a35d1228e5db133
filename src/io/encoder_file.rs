//! Saving and loading an [`Encoder`] as safetensors, with its [`EncoderConfig`] as JSON
//! metadata. Tensor names (weights (out × in), as [`Linear`] stores them):
//!
//! ```text
//! embeddings.word  embeddings.position  embeddings.token_type (if type_vocab_size > 0)
//! embeddings.norm.{weight,bias}         (post-LN)
//! blocks.{i}.attn.{q,k,v,o}.{weight,bias}   blocks.{i}.ln1.{weight,bias}
//! blocks.{i}.ffn.{in,out}.{weight,bias}     blocks.{i}.ln2.{weight,bias}
//! final_norm.{weight,bias}              (pre-LN)
//! ```
//!
//! The same loader reads Hugging Face BERT checkpoints through a name mapping (see `bert.rs`).

use std::path::Path;

use ndarray::{Array1, Array2};

use super::tensors::{read_file, TensorReader, TensorWriter};
use crate::error::{Error, Result};
use crate::nn::Embeddings;
use crate::nn::{
    Encoder, EncoderConfig, LayerNorm, Linear, MultiHeadAttention, NamedLinears, NormPlacement,
    TransformerBlock,
};

const KIND: &str = "encoder";

/// Maps this format's tensor names to the names a file uses, trying candidates in order.
pub(super) struct Names<'r, 'b> {
    reader: &'r TensorReader<'b>,
    candidates: &'r dyn Fn(&str) -> Vec<String>,
}

impl<'r, 'b> Names<'r, 'b> {
    /// Looks names up in `reader` through `candidates`, which lists a tensor's possible names
    /// in the file, preferred first.
    pub(super) fn new(
        reader: &'r TensorReader<'b>,
        candidates: &'r dyn Fn(&str) -> Vec<String>,
    ) -> Self {
        Names { reader, candidates }
    }

    /// The first candidate name present in the file, or `MissingTensor` naming the preferred one.
    fn resolve(&self, name: &str) -> Result<String> {
        let names = (self.candidates)(name);
        names
            .iter()
            .find(|n| self.reader.has(n))
            .or(names.first())
            .cloned()
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>> {
        self.reader.matrix(&self.resolve(name)?, rows, cols)
    }

    fn vector(&self, name: &str, len: usize) -> Result<Array1<f32>> {
        self.reader.vector(&self.resolve(name)?, len)
    }

    fn linear(&self, name: &str, inp: usize, out: usize) -> Result<Linear> {
        Linear::new(
            self.matrix(&format!("{name}.weight"), out, inp)?,
            self.vector(&format!("{name}.bias"), out)?,
        )
    }

    fn norm(&self, name: &str, dim: usize, eps: f32) -> Result<LayerNorm> {
        LayerNorm::new(
            self.vector(&format!("{name}.weight"), dim)?,
            self.vector(&format!("{name}.bias"), dim)?,
            eps,
        )
    }
}

/// Reads every tensor of an encoder with `config`, checking each shape.
pub(super) fn load_encoder(config: EncoderConfig, names: &Names) -> Result<Encoder> {
    config.check()?;
    let (h, eps) = (config.hidden_size, config.layer_norm_eps);
    let post = config.placement == NormPlacement::PostLn;
    let blocks = (0..config.num_layers)
        .map(|i| {
            let p = format!("blocks.{i}");
            let attn = |n: &str| names.linear(&format!("{p}.attn.{n}"), h, h);
            let attn = MultiHeadAttention::new(
                attn("q")?,
                attn("k")?,
                attn("v")?,
                attn("o")?,
                config.num_heads,
            )?;
            let norms = [
                names.norm(&format!("{p}.ln1"), h, eps)?,
                names.norm(&format!("{p}.ln2"), h, eps)?,
            ];
            let ffn = [
                names.linear(&format!("{p}.ffn.in"), h, config.intermediate_size)?,
                names.linear(&format!("{p}.ffn.out"), config.intermediate_size, h)?,
            ];
            TransformerBlock::from_parts(attn, norms, ffn, config.activation, config.placement)
        })
        .collect::<Result<Vec<_>>>()?;
    let parts = Embeddings {
        word: names.matrix("embeddings.word", config.vocab_size, h)?,
        position: names.matrix("embeddings.position", config.max_positions, h)?,
        token_type: (config.type_vocab_size > 0)
            .then(|| names.matrix("embeddings.token_type", config.type_vocab_size, h))
            .transpose()?,
        embedding_norm: post
            .then(|| names.norm("embeddings.norm", h, eps))
            .transpose()?,
        final_norm: (!post)
            .then(|| names.norm("final_norm", h, eps))
            .transpose()?,
    };
    Encoder::from_parts(config, parts, blocks)
}

impl Encoder {
    /// The model as safetensors bytes, in `shrink`'s own encoder format.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut w = TensorWriter::new(KIND, self.config())?;
        w.matrix("embeddings.word", self.word_embeddings());
        w.matrix("embeddings.position", self.position_embeddings());
        if let Some(t) = self.token_type_embeddings() {
            w.matrix("embeddings.token_type", t);
        }
        let mut norm = |name: &str, ln: &LayerNorm| {
            w.vector(format!("{name}.weight"), ln.weight());
            w.vector(format!("{name}.bias"), ln.bias());
        };
        if let Some(ln) = self.embedding_norm() {
            norm("embeddings.norm", ln);
        }
        if let Some(ln) = self.final_norm() {
            norm("final_norm", ln);
        }
        for (i, b) in self.blocks().iter().enumerate() {
            norm(&format!("blocks.{i}.ln1"), b.ln1());
            norm(&format!("blocks.{i}.ln2"), b.ln2());
        }
        self.visit_linears(&mut |name, l| {
            w.matrix(format!("{name}.weight"), l.weight());
            w.vector(format!("{name}.bias"), l.bias());
        });
        w.to_bytes()
    }

    /// Parses an encoder from bytes written by [`Encoder::to_safetensors`]; the configuration is
    /// checked and every tensor's shape and values are checked against it.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Encoder> {
        let r = TensorReader::new(bytes)?;
        let config: EncoderConfig = r.config(KIND)?;
        let same = |n: &str| vec![n.to_string()];
        load_encoder(config, &Names::new(&r, &same))
    }

    /// Saves the encoder to a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        std::fs::write(path, self.to_safetensors()?)?;
        Ok(())
    }

    /// Loads an encoder saved by [`Encoder::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Encoder> {
        Encoder::from_safetensors(&read_file(path.as_ref())?)
    }
}
