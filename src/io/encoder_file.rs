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
//!
//! A file holds exactly these tensors: `embeddings.token_type` only when `type_vocab_size > 0`,
//! `embeddings.norm` only post-LN, `final_norm` only pre-LN; any other tensor is an error
//! naming it. Before a tensor is read, every size is bounded (see [`crate::io`]): the number of
//! blocks by the number of tensors in the file, the unpruned shape by the crate's limits, and
//! the tensors the file must hold (at 16 bits per value, the F16 / BF16 minimum) by its length.
//!
//! The `shrink.config` metadata is the [`EncoderConfig`] as JSON (the unpruned shape). An
//! encoder narrowed by structured pruning adds one key, `"blocks"`, listing every block's widths:
//!
//! ```text
//! {"vocab_size": 60, "hidden_size": 32, "num_heads": 4, ..., "causal": false,
//!  "blocks": [{"heads": 3, "intermediate": 48}, {"heads": 2, "intermediate": 64}]}
//! ```
//!
//! so block `i`'s query, key and value weights are (heads_i·d × hidden) with
//! `d = hidden_size / num_heads`, its output projection (hidden × heads_i·d) and its FFN
//! weights (intermediate_i × hidden) and (hidden × intermediate_i). The key is written only
//! when some block differs from the configuration, so unpruned files are unchanged and files
//! without it (all earlier files) load as before.

use std::path::Path;

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::model_file::{sealed::Sealed, ModelFile};
use super::tensors::{Claim, TensorReader, TensorWriter};
use crate::error::{Error, Result};
use crate::nn::Embeddings;
use crate::nn::{
    Encoder, EncoderConfig, LayerNorm, Linear, LinearLayer, MultiHeadAttention, NamedLinears,
    NormPlacement, TransformerBlock,
};

const KIND: &str = "encoder";

/// The widths of one block in a file (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BlockWidths {
    pub(super) heads: usize,
    pub(super) intermediate: usize,
}

/// The `shrink.config` metadata: the encoder configuration plus, for a narrowed encoder, the
/// per-block widths.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct FileConfig {
    #[serde(flatten)]
    pub(super) encoder: EncoderConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) blocks: Option<Vec<BlockWidths>>,
}

impl FileConfig {
    /// The configuration of `enc`, with per-block widths when it was narrowed by pruning.
    pub(super) fn of<L: LinearLayer>(enc: &Encoder<L>) -> Self {
        let blocks = enc.is_narrowed().then(|| {
            enc.block_widths()
                .into_iter()
                .map(|(heads, intermediate)| BlockWidths {
                    heads,
                    intermediate,
                })
                .collect()
        });
        FileConfig {
            encoder: *enc.config(),
            blocks,
        }
    }
}

/// Writes everything of an encoder but its linear layers: embeddings and LayerNorms.
pub(super) fn write_glue<L: LinearLayer>(enc: &Encoder<L>, w: &mut TensorWriter) {
    w.matrix("embeddings.word", enc.word_embeddings());
    w.matrix("embeddings.position", enc.position_embeddings());
    if let Some(t) = enc.token_type_embeddings() {
        w.matrix("embeddings.token_type", t);
    }
    let mut norm = |name: &str, ln: &LayerNorm| {
        w.vector(format!("{name}.weight"), ln.weight());
        w.vector(format!("{name}.bias"), ln.bias());
    };
    if let Some(ln) = enc.embedding_norm() {
        norm("embeddings.norm", ln);
    }
    if let Some(ln) = enc.final_norm() {
        norm("final_norm", ln);
    }
    for (i, b) in enc.blocks().iter().enumerate() {
        norm(&format!("blocks.{i}.ln1"), b.ln1());
        norm(&format!("blocks.{i}.ln2"), b.ln2());
    }
}

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
    pub(super) fn resolve(&self, name: &str) -> Result<String> {
        let names = (self.candidates)(name);
        names
            .iter()
            .find(|n| self.reader.has(n))
            .or(names.first())
            .cloned()
            .ok_or_else(|| Error::MissingTensor(name.to_string()))
    }

    /// Whether any candidate name of `name` is in the file.
    pub(super) fn present(&self, name: &str) -> bool {
        (self.candidates)(name).iter().any(|n| self.reader.has(n))
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

/// Checks per-block widths read from a file against `config` before any tensor is read.
fn check_widths(config: &EncoderConfig, widths: &[BlockWidths]) -> Result<()> {
    if widths.len() != config.num_layers {
        return Err(Error::Format(format!(
            "encoder config lists widths for {} blocks but num_layers is {}",
            widths.len(),
            config.num_layers
        )));
    }
    for (i, w) in widths.iter().enumerate() {
        if !(1..=config.num_heads).contains(&w.heads)
            || !(1..=config.intermediate_size).contains(&w.intermediate)
        {
            return Err(Error::Format(format!(
                "block {i} has {} heads and {} FFN channels; the configuration allows 1..={} \
                 and 1..={}",
                w.heads, w.intermediate, config.num_heads, config.intermediate_size
            )));
        }
    }
    Ok(())
}

/// Reads every tensor of an encoder with `config` whose blocks have the given widths (all
/// as configured when `None`), checking each shape.
pub(super) fn load_encoder_with_widths(
    config: EncoderConfig,
    widths: Option<&[BlockWidths]>,
    names: &Names,
) -> Result<Encoder> {
    load_encoder_parts(config, widths, names, &f32_claim, &|name, inp, out| {
        names.linear(name, inp, out)
    })
}

/// Adds the tensors of linear layer `name` of shape (out, in) to a size [`Claim`].
pub(super) type ClaimLinear<'a> = dyn Fn(&mut Claim, &str, (usize, usize)) -> Result<()> + 'a;

/// Adds an f32 linear layer's weight (out × in) and bias to `claim`, at 16 bits per value
/// (the fewest of the accepted F32 / F16 / BF16 dtypes).
pub(super) fn f32_claim(claim: &mut Claim, _name: &str, (out, inp): (usize, usize)) -> Result<()> {
    claim.tensor(&[out, inp], 16)?;
    claim.tensor(&[out], 16)
}

/// The six linear layers of block `p` (`blocks.{i}`) as (name, (out, in)), for `hidden` wide
/// states, `inner` attention channels and `intermediate` FFN channels.
fn block_linears(
    p: &str,
    hidden: usize,
    inner: usize,
    intermediate: usize,
) -> [(String, (usize, usize)); 6] {
    [
        (format!("{p}.attn.q"), (inner, hidden)),
        (format!("{p}.attn.k"), (inner, hidden)),
        (format!("{p}.attn.v"), (inner, hidden)),
        (format!("{p}.attn.o"), (hidden, inner)),
        (format!("{p}.ffn.in"), (intermediate, hidden)),
        (format!("{p}.ffn.out"), (hidden, intermediate)),
    ]
}

/// Bounds every size of `config` (with per-block `widths`) before anything is allocated: the
/// unpruned shape of the configuration by the crate's limits, and the tensors the file must
/// hold (linear layers as `claim_linear` counts them, embeddings and LayerNorms at 16 bits) by
/// the file's length.
fn check_sizes(
    config: &EncoderConfig,
    widths: &[BlockWidths],
    names: &Names,
    claim_linear: &ClaimLinear,
) -> Result<()> {
    let h = config.hidden_size;
    let head_dim = h / config.num_heads;
    let mut full = Claim::new(SIZES);
    let mut held = Claim::new(SIZES);
    for claim in [&mut full, &mut held] {
        for rows in [
            config.vocab_size,
            config.max_positions,
            config.type_vocab_size,
        ] {
            claim.tensor(&[rows, h], 16)?;
        }
        // Two LayerNorms per block and one for the embeddings or the output, two vectors each.
        claim.tensor(&[config.num_layers, 4, h], 16)?;
        claim.tensor(&[2, h], 16)?;
    }
    for (i, w) in widths.iter().enumerate() {
        let p = format!("blocks.{i}");
        for (_, shape) in block_linears(&p, h, h, config.intermediate_size) {
            f32_claim(&mut full, "", shape)?;
        }
        for (name, shape) in block_linears(&p, h, w.heads * head_dim, w.intermediate) {
            claim_linear(&mut held, &name, shape)?;
        }
    }
    held.fits(names.reader.file_len())
}

/// The operation size errors of the encoder loaders name.
const SIZES: &str = "loading an encoder";

/// [`Error::TooLarge`] if `config` claims more blocks than the file holds tensors (each block is
/// twelve), before anything is sized by the block count.
fn check_layer_count(config: &EncoderConfig, reader: &TensorReader) -> Result<()> {
    let tensors = reader.names().len();
    if config.num_layers > tensors {
        return Err(Error::too_large(
            SIZES,
            format!(
                "the configuration claims {} layers but the file holds only {tensors} tensors",
                config.num_layers
            ),
        ));
    }
    Ok(())
}

/// [`load_encoder_with_widths`] for any layer type: `linear(name, in, out)` reads the linear
/// layer `name` (e.g. `blocks.0.attn.q`) of the given widths, and `claim_linear(claim, name,
/// (out, in))` adds the tensors it will read to a size [`Claim`] (see [`check_sizes`]).
pub(super) fn load_encoder_parts<L: LinearLayer>(
    config: EncoderConfig,
    widths: Option<&[BlockWidths]>,
    names: &Names,
    claim_linear: &ClaimLinear,
    linear: &dyn Fn(&str, usize, usize) -> Result<L>,
) -> Result<Encoder<L>> {
    config.check()?;
    if let Some(widths) = widths {
        check_widths(&config, widths)?;
    }
    if config.type_vocab_size == 0 && names.present("embeddings.token_type") {
        return Err(Error::Format(format!(
            "type_vocab_size is 0 but the file stores a token-type table `{}`",
            names.resolve("embeddings.token_type")?
        )));
    }
    let configured = BlockWidths {
        heads: config.num_heads,
        intermediate: config.intermediate_size,
    };
    check_layer_count(&config, names.reader)?;
    let widths = widths.map_or_else(|| vec![configured; config.num_layers], <[_]>::to_vec);
    check_sizes(&config, &widths, names, claim_linear)?;
    let (h, eps) = (config.hidden_size, config.layer_norm_eps);
    let head_dim = h / config.num_heads;
    let post = config.placement == NormPlacement::PostLn;
    let blocks = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let inner = w.heads * head_dim;
            let p = format!("blocks.{i}");
            let attn = |n: &str, inp: usize, out: usize| linear(&format!("{p}.attn.{n}"), inp, out);
            let attn = MultiHeadAttention::with_head_dim(
                attn("q", h, inner)?,
                attn("k", h, inner)?,
                attn("v", h, inner)?,
                attn("o", inner, h)?,
                w.heads,
                head_dim,
            )?;
            let norms = [
                names.norm(&format!("{p}.ln1"), h, eps)?,
                names.norm(&format!("{p}.ln2"), h, eps)?,
            ];
            let ffn = [
                linear(&format!("{p}.ffn.in"), h, w.intermediate)?,
                linear(&format!("{p}.ffn.out"), w.intermediate, h)?,
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

impl Sealed for Encoder {}

impl ModelFile for Encoder {
    const KIND: &'static str = KIND;

    /// The model as safetensors bytes, in `shrink`'s own encoder format (with the per-block
    /// widths in the configuration metadata when the encoder was narrowed by pruning).
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = TensorWriter::new(KIND, &FileConfig::of(self))?;
        write_glue(self, &mut w);
        self.visit_linears(&mut |name, l| {
            w.matrix(format!("{name}.weight"), l.weight());
            w.vector(format!("{name}.bias"), l.bias());
        });
        w.to_bytes()
    }

    /// Parses an encoder from bytes written by [`ModelFile::to_bytes`]; the configuration
    /// (and per-block widths, if any) is checked and every tensor's shape and values are
    /// checked against it (see [`crate::io`]).
    ///
    /// Errors: [`Error::Parse`] for bytes that are not safetensors or bad JSON;
    /// [`Error::InvalidParam`] for an invalid configuration; [`Error::TooLarge`] for a
    /// configuration whose sizes (the unpruned shape included) exceed [`crate::limits`], or
    /// whose tensors need more bytes than the file has, or more layers than it has tensors;
    /// [`Error::Format`] for per-block widths that disagree with the configuration, a
    /// token-type table stored with `type_vocab_size = 0`, a value beyond
    /// [`crate::io::MAX_MAGNITUDE`] or a tensor the model does not use (each naming the
    /// tensor); [`Error::MissingTensor`], [`Error::ShapeMismatch`] and [`Error::NonFinite`]
    /// for an absent, mis-shaped or NaN / infinite tensor.
    fn from_bytes(bytes: &[u8]) -> Result<Encoder> {
        let r = TensorReader::new(bytes)?;
        let config: FileConfig = r.config(KIND)?;
        let same = |n: &str| vec![n.to_string()];
        let encoder = load_encoder_with_widths(
            config.encoder,
            config.blocks.as_deref(),
            &Names::new(&r, &same),
        )?;
        r.reject_unread(|_| false)?;
        Ok(encoder)
    }
}

impl Encoder {
    /// The model as safetensors bytes: [`ModelFile::to_bytes`] under its earlier name, kept
    /// until every caller has moved (issue #14).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        ModelFile::to_bytes(self)
    }

    /// Parses an encoder: [`ModelFile::from_bytes`] under its earlier name (its errors are
    /// listed under `impl ModelFile for Encoder`), kept until every caller has moved
    /// (issue #14).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Encoder> {
        <Encoder as ModelFile>::from_bytes(bytes)
    }

    /// Saves the encoder to a safetensors file: [`ModelFile::save`], callable without
    /// importing the trait.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        ModelFile::save(self, path)
    }

    /// Loads an encoder saved by [`Encoder::save`]: [`ModelFile::load`], callable without
    /// importing the trait (and naming the dense encoder, so `Encoder::load` needs no type
    /// annotation).
    pub fn load(path: impl AsRef<Path>) -> Result<Encoder> {
        <Encoder as ModelFile>::load(path)
    }
}
