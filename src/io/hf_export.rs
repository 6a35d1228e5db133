//! Exporting encoders as Hugging Face BERT checkpoints: `model.safetensors` with BERT's
//! parameter names and a `config.json`, which [`Encoder::from_hf_bert`] and Hugging Face's
//! `transformers.BertModel.from_pretrained(dir)` load back.
//!
//! Tensors (F32, weights (out × in) as PyTorch's `nn.Linear` stores them; exactly these, the
//! names [`Encoder::from_hf_bert`] reads first, see `bert.rs`):
//!
//! ```text
//! embeddings.{word,position,token_type}_embeddings.weight   embeddings.LayerNorm.{weight,bias}
//! encoder.layer.N.attention.self.{query,key,value}.{weight,bias}
//! encoder.layer.N.attention.output.dense.{weight,bias}
//! encoder.layer.N.attention.output.LayerNorm.{weight,bias}
//! encoder.layer.N.intermediate.dense.{weight,bias}
//! encoder.layer.N.output.dense.{weight,bias}
//! encoder.layer.N.output.LayerNorm.{weight,bias}
//! ```
//!
//! with the safetensors metadata `{"format": "pt"}` that `transformers` checks. There is no
//! pooler (this crate's encoder has none): `BertModel` initialises `pooler.*` randomly and says
//! so in a warning; `last_hidden_state` does not depend on it.
//!
//! `config.json`: `model_type` `"bert"`, `architectures` `["BertModel"]`, `hidden_size`,
//! `num_hidden_layers`, `num_attention_heads`, `intermediate_size`, `hidden_act`,
//! `max_position_embeddings`, `type_vocab_size`, `vocab_size`, `layer_norm_eps`,
//! `position_embedding_type` `"absolute"`, and `pruned_heads` when heads were pruned.
//!
//! **What BERT can express.** BERT is post-LN (embedding LayerNorm, a LayerNorm after each
//! residual sum), bidirectional, with absolute position embeddings and a token-type table. So:
//!
//! - a pre-LN or causal encoder (GPT-2 style) cannot be exported: [`Error::InvalidParam`]
//!   (`"placement"` or `"causal"`); save it with [`Encoder::save`] instead;
//! - **pruned heads** ([`HeadPruner`](crate::prune::HeadPruner)) are exported as Hugging Face
//!   records them, `"pruned_heads": {"layer": [head indices]}`: `BertModel` removes those heads
//!   when it is built, so the saved query/key/value/output shapes match. The encoder keeps how
//!   many heads each block has, not which ones were removed, and only the number matters (the
//!   kept heads are stored in order, and `BertModel` keeps the unpruned ones in order), so block
//!   `l` with `h_l` of `H` heads lists the last ones, `[h_l, …, H − 1]`;
//! - **FFN channels** ([`FfnChannelPruner`](crate::prune::FfnChannelPruner)): BERT has one
//!   `intermediate_size` for every layer. When every block has the same FFN width (as
//!   `FfnChannelPruner` leaves an unpruned encoder), that width is exported as
//!   `intermediate_size`; blocks of different FFN widths cannot be expressed and are
//!   [`Error::InvalidParam`] (`"intermediate"`);
//! - `type_vocab_size = 0` (no token-type table): BERT always adds a token-type embedding, so
//!   the export has `type_vocab_size: 1` with a zero row, which adds nothing;
//! - activations map to `hidden_act` as `gelu` (exact), `gelu_new` (tanh form), `relu`, `tanh`,
//!   `sigmoid` and `linear` (identity).
//!
//! A quantized encoder (`Encoder<QuantLinear>`) is exported with its weights **dequantized** to
//! f32 ([`Encoder::to_hf_bert_dequantized`]): the values the quantized model multiplies by, so
//! with weight-only quantization the exported model computes what the quantized one does (up
//! to f32 rounding). Integer activations (dynamic or static) are not represented: BERT has no
//! place for them.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
//! use shrink::prune::HeadPruner;
//!
//! let config = EncoderConfig {
//!     vocab_size: 50, hidden_size: 16, num_heads: 4, num_layers: 2, intermediate_size: 32,
//!     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
//!     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
//! };
//! let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(0))?;
//! let (pruned, _) = HeadPruner::new(0.5).prune(&encoder)?;
//! let (weights, config_json) = pruned.to_hf_bert()?;
//! assert!(config_json.contains("\"pruned_heads\""));
//! let back = Encoder::from_hf_bert(&weights, &config_json)?;
//! assert_eq!(back, pruned);
//! # Ok::<(), shrink::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde::Serialize;

use super::bert::hf_names;
use crate::error::{Error, Result};
use crate::nn::NormPlacement;
use crate::nn::{Activation, Encoder, EncoderConfig, LayerNorm, Linear, NamedLinears};
use crate::quant::QuantLinear;

/// The `config.json` written by [`Encoder::to_hf_bert`] (fields in the order written).
#[derive(Serialize)]
struct HfBertExportConfig {
    architectures: [&'static str; 1],
    model_type: &'static str,
    hidden_act: &'static str,
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    layer_norm_eps: f64,
    vocab_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    position_embedding_type: &'static str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pruned_heads: BTreeMap<usize, Vec<usize>>,
}

/// Hugging Face's `hidden_act` for `activation` (each read back by [`Activation::from_name`]).
fn hf_activation(activation: Activation) -> &'static str {
    match activation {
        Activation::Identity => "linear",
        Activation::Relu => "relu",
        Activation::Sigmoid => "sigmoid",
        Activation::Tanh => "tanh",
        Activation::Gelu => "gelu",
        Activation::GeluTanh => "gelu_new",
    }
}

/// `eps` as the shortest decimal that reads back (through f64, as `config.json` is parsed) as
/// exactly `eps`, e.g. `1e-12` rather than `9.99999996004197e-13`; the exact f64 value of `eps`
/// if the short form would not.
fn json_eps(eps: f32) -> f64 {
    let short: f64 = eps.to_string().parse().unwrap_or(f64::NAN);
    if short as f32 == eps {
        short
    } else {
        f64::from(eps)
    }
}

/// Checks that `config` and the per-block `widths` can be expressed as a Hugging Face BERT
/// model, returning the exported `intermediate_size`.
fn check_exportable(config: &EncoderConfig, widths: &[(usize, usize)]) -> Result<usize> {
    if config.placement != NormPlacement::PostLn {
        return Err(Error::param(
            "placement",
            "Hugging Face BERT is post-LN; a pre-LN encoder cannot be exported as BERT \
             (save it in shrink's own format with Encoder::save)",
        ));
    }
    if config.causal {
        return Err(Error::param(
            "causal",
            "Hugging Face BERT attention is bidirectional; a causal encoder cannot be exported \
             as BERT (save it in shrink's own format with Encoder::save)",
        ));
    }
    let intermediate = widths.first().map_or(config.intermediate_size, |&(_, i)| i);
    if let Some(i) = widths.iter().position(|&(_, w)| w != intermediate) {
        return Err(Error::param(
            "intermediate",
            format!(
                "Hugging Face BERT has one intermediate_size for every layer, but block 0 has \
                 {intermediate} FFN channels and block {i} has {}; prune every block to the \
                 same width (FfnChannelPruner does) or save in shrink's own format",
                widths[i].1
            ),
        ));
    }
    Ok(intermediate)
}

/// Collects named f32 tensors and serialises them with the metadata `transformers` expects.
#[derive(Default)]
struct HfWriter {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
}

impl HfWriter {
    /// Adds the tensor this crate names `name` (`"blocks.0.attn.q.weight"`) under its Hugging
    /// Face name.
    fn add<'a>(&mut self, name: &str, shape: &[usize], values: impl Iterator<Item = &'a f32>) {
        let hf = hf_names(name).swap_remove(0);
        let bytes = values.flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push((hf, shape.to_vec(), bytes));
    }

    fn matrix(&mut self, name: &str, a: ArrayView2<f32>) {
        self.add(name, a.shape(), a.iter());
    }

    fn norm(&mut self, name: &str, ln: &LayerNorm) {
        let (w, b) = (ln.weight(), ln.bias());
        self.add(&format!("{name}.weight"), w.shape(), w.iter());
        self.add(&format!("{name}.bias"), b.shape(), b.iter());
    }

    fn linear(&mut self, name: &str, l: &Linear) {
        self.matrix(&format!("{name}.weight"), l.weight());
        let b = l.bias();
        self.add(&format!("{name}.bias"), b.shape(), b.iter());
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.as_str(), v))
                    .map_err(|e| Error::parse(format!("tensor {n}"), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = [("format".to_string(), "pt".to_string())].into();
        safetensors::serialize(views, Some(metadata))
            .map_err(|e| Error::parse("cannot serialise tensors", e))
    }
}

impl Encoder {
    /// The encoder as a Hugging Face BERT checkpoint: the bytes of `model.safetensors` (F32,
    /// BERT's parameter names, metadata `{"format": "pt"}`) and the text of `config.json`.
    /// [`Encoder::from_hf_bert`] reads them back into an equal encoder (an FFN-narrowed one with
    /// the narrowed width as its `intermediate_size`), and so does `transformers`'
    /// `BertModel.from_pretrained` once both are saved in one directory
    /// ([`Encoder::save_hf_bert`]); `scripts/check_hf_export.py` checks the latter.
    ///
    /// The file holds exactly `embeddings.{word,position,token_type}_embeddings.weight`,
    /// `embeddings.LayerNorm.*` and per layer `N` the `encoder.layer.N.attention.self.{query,
    /// key,value}.*`, `attention.output.{dense,LayerNorm}.*`, `intermediate.dense.*` and
    /// `output.{dense,LayerNorm}.*` tensors, weights (out × in) as `nn.Linear` stores them.
    /// There is no pooler (this encoder has none): `BertModel` initialises `pooler.*` randomly
    /// and warns so; `last_hidden_state` does not depend on it.
    ///
    /// What BERT (post-LN, bidirectional, one FFN width, a token-type table) can express:
    ///
    /// - **Pruned heads** ([`HeadPruner`](crate::prune::HeadPruner)) are written as Hugging
    ///   Face records them, `"pruned_heads": {"layer": [head indices]}`; `BertModel` removes
    ///   those heads when it is built, so the stored query/key/value/output shapes match. The
    ///   encoder keeps how many heads each block has, not which were removed; only the number
    ///   matters (kept heads are stored in order and `BertModel` keeps its unpruned heads in
    ///   order), so a block with `h` of `H` heads lists the last ones, `[h, …, H − 1]`.
    /// - **FFN channels** ([`FfnChannelPruner`](crate::prune::FfnChannelPruner)): when every
    ///   block has the same FFN width (as `FfnChannelPruner` leaves an unpruned encoder), that
    ///   width is written as `intermediate_size`; blocks of different widths are an error.
    /// - `type_vocab_size = 0`: BERT always adds a token-type embedding, so the export has
    ///   `type_vocab_size: 1` and a zero row, which adds nothing.
    /// - `hidden_act`: `gelu` (exact), `gelu_new` (tanh form), `relu`, `tanh`, `sigmoid`,
    ///   `linear` (identity). `layer_norm_eps` is written so that it reads back as the same f32.
    ///
    /// Errors with [`Error::InvalidParam`] for an encoder BERT cannot express: pre-LN
    /// (`"placement"`) or causal (`"causal"`) — save those with [`Encoder::save`] — or blocks
    /// of different FFN widths (`"intermediate"`).
    ///
    /// ```
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
    ///
    /// let config = EncoderConfig {
    ///     vocab_size: 50, hidden_size: 16, num_heads: 2, num_layers: 2, intermediate_size: 32,
    ///     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
    ///     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
    /// };
    /// let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(0))?;
    /// let (weights, config_json) = encoder.to_hf_bert()?;
    /// assert!(config_json.contains("\"model_type\": \"bert\""));
    /// assert_eq!(Encoder::from_hf_bert(&weights, &config_json)?, encoder);
    ///
    /// // GPT-2-style (pre-LN) encoders have no BERT form.
    /// let gpt = Encoder::new(
    ///     EncoderConfig { placement: NormPlacement::PreLn, ..config },
    ///     &mut StdRng::seed_from_u64(0),
    /// )?;
    /// assert!(matches!(gpt.to_hf_bert(), Err(shrink::Error::InvalidParam { .. })));
    /// # Ok::<(), shrink::Error>(())
    /// ```
    pub fn to_hf_bert(&self) -> Result<(Vec<u8>, String)> {
        let config = self.config();
        let widths = self.block_widths();
        let intermediate = check_exportable(config, &widths)?;
        let pruned_heads = widths
            .iter()
            .enumerate()
            .filter(|&(_, &(heads, _))| heads < config.num_heads)
            .map(|(l, &(heads, _))| (l, (heads..config.num_heads).collect()))
            .collect();
        let hf_config = HfBertExportConfig {
            architectures: ["BertModel"],
            model_type: "bert",
            hidden_act: hf_activation(config.activation),
            hidden_size: config.hidden_size,
            num_attention_heads: config.num_heads,
            num_hidden_layers: config.num_layers,
            intermediate_size: intermediate,
            layer_norm_eps: json_eps(config.layer_norm_eps),
            vocab_size: config.vocab_size,
            max_position_embeddings: config.max_positions,
            type_vocab_size: config.type_vocab_size.max(1),
            position_embedding_type: "absolute",
            pruned_heads,
        };
        let json = serde_json::to_string_pretty(&hf_config)
            .map_err(|e| Error::parse("cannot encode config.json", e))?;

        let mut w = HfWriter::default();
        w.matrix("embeddings.word", self.word_embeddings());
        w.matrix("embeddings.position", self.position_embeddings());
        match self.token_type_embeddings() {
            Some(t) => w.matrix("embeddings.token_type", t),
            None => w.matrix(
                "embeddings.token_type",
                Array2::zeros((1, config.hidden_size)).view(),
            ),
        }
        if let Some(ln) = self.embedding_norm() {
            w.norm("embeddings.norm", ln);
        }
        for (i, b) in self.blocks().iter().enumerate() {
            w.norm(&format!("blocks.{i}.ln1"), b.ln1());
            w.norm(&format!("blocks.{i}.ln2"), b.ln2());
        }
        self.visit_linears(&mut |name, l| w.linear(name, l));
        Ok((w.to_bytes()?, json + "\n"))
    }

    /// Writes [`Encoder::to_hf_bert`] into the directory `dir` (created if needed, with its
    /// parents) as `model.safetensors` and `config.json`, replacing files of those names:
    /// the layout `transformers.BertModel.from_pretrained(dir)` reads, and
    /// `Encoder::load_hf_bert(dir/model.safetensors, dir/config.json)` reads back. Errors as
    /// [`Encoder::to_hf_bert`], or with [`Error::Io`] if the directory or files cannot be
    /// written.
    pub fn save_hf_bert(&self, dir: impl AsRef<Path>) -> Result<()> {
        write_dir(dir.as_ref(), self.to_hf_bert()?)
    }
}

/// Writes an export into `dir` (see [`Encoder::save_hf_bert`]).
fn write_dir(dir: &Path, (weights, config): (Vec<u8>, String)) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("model.safetensors"), weights)?;
    std::fs::write(dir.join("config.json"), config)?;
    Ok(())
}

impl Encoder<QuantLinear> {
    /// The dense encoder this quantized one computes with: every layer's weights dequantized
    /// to f32 ([`QuantWeight::dequantize`](crate::quant::QuantWeight::dequantize)), biases,
    /// embeddings and LayerNorms as they are. Errors with [`Error::NonFinite`] if a dequantized
    /// weight is not finite.
    fn dequantized(&self) -> Result<Encoder> {
        self.map_linears(|_, l| Linear::new(l.weight().dequantize(), l.bias().to_owned()))
    }

    /// The quantized encoder as a Hugging Face BERT checkpoint with **dequantized** f32
    /// weights: [`Encoder::to_hf_bert`] of the encoder whose weights are the values this one
    /// multiplies by. With weight-only quantization the export computes what this encoder
    /// computes, up to f32 rounding; integer activations (dynamic or static) have no BERT form
    /// and are dropped, so such an encoder's export computes with f32 activations. The file
    /// stores f32 weights, so it is as large as an unquantized checkpoint. Errors as
    /// [`Encoder::to_hf_bert`].
    ///
    /// ```
    /// use rand::{rngs::StdRng, SeedableRng};
    /// use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
    /// use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};
    ///
    /// let config = EncoderConfig {
    ///     vocab_size: 50, hidden_size: 16, num_heads: 2, num_layers: 1, intermediate_size: 32,
    ///     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
    ///     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
    /// };
    /// let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(0))?;
    /// let q = Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_encoder(&encoder, None)?;
    /// let (weights, config_json) = q.to_hf_bert_dequantized()?;
    /// let dense = Encoder::from_hf_bert(&weights, &config_json)?;
    /// let (a, b) = (q.forward(&[1, 2, 3], None, None)?, dense.forward(&[1, 2, 3], None, None)?);
    /// assert!((&a - &b).iter().all(|d| d.abs() < 1e-4));
    /// # Ok::<(), shrink::Error>(())
    /// ```
    pub fn to_hf_bert_dequantized(&self) -> Result<(Vec<u8>, String)> {
        let config = self.config();
        check_exportable(config, &self.block_widths())?;
        self.dequantized()?.to_hf_bert()
    }

    /// Writes [`Encoder::to_hf_bert_dequantized`] into the directory `dir` as
    /// `model.safetensors` and `config.json` (see [`Encoder::save_hf_bert`]).
    pub fn save_hf_bert_dequantized(&self, dir: impl AsRef<Path>) -> Result<()> {
        write_dir(dir.as_ref(), self.to_hf_bert_dequantized()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_short_exact_eps() {
        for eps in [1e-12f32, 1e-5, 1e-6, 3.3e-7, f32::MIN_POSITIVE] {
            let v = json_eps(eps);
            assert_eq!(v as f32, eps);
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(text.parse::<f64>().unwrap() as f32, eps, "{text}");
        }
        assert_eq!(serde_json::to_string(&json_eps(1e-12)).unwrap(), "1e-12");
    }

    #[test]
    fn every_activation_reads_back() {
        for a in [
            Activation::Identity,
            Activation::Relu,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Gelu,
            Activation::GeluTanh,
        ] {
            assert_eq!(Activation::from_name(hf_activation(a)), Some(a));
        }
    }
}
