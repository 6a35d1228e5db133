//! Saving and loading a quantized encoder (`Encoder<QuantLinear>`) as safetensors: the
//! embeddings and LayerNorms as in the f32 encoder format (`encoder_file.rs`), every linear
//! layer in the quantized MLP format's per-layer layout (`quant_file.rs`) under its name
//! (`blocks.{i}.attn.q.weight`, `.scales`, `.zeros`, `.bias`, ...). Metadata:
//! `shrink.kind = "quant_encoder"` and `shrink.config`, the encoder configuration (with
//! per-block widths when pruned) plus `"layers"`: each linear layer's name → [format,
//! activation handling].
//!
//! Loading applies the checks of both formats (see [`crate::io`]): sizes bounded by the limits
//! and the file's length before reading (each linear layer at its format's bits per weight),
//! zero points only for asymmetric layers, scales and values in range, a format listed for
//! exactly the encoder's linear layers, and no tensor beyond those the model needs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::encoder_file::{load_encoder_parts, write_glue, FileConfig, Names};
use super::model_file::{sealed::Sealed, ModelFile};
use super::quant_file::{claim_layer, layer_meta, read_layer, write_layer, ActMeta, LayerMeta};
use super::tensors::{Claim, TensorReader, TensorWriter};
use crate::error::{Error, Result};
use crate::nn::Encoder;
use crate::quant::QuantLinear;

const KIND: &str = "quant_encoder";

#[derive(Serialize, Deserialize)]
struct QuantEncoderConfig {
    #[serde(flatten)]
    file: FileConfig,
    layers: BTreeMap<String, (LayerMeta, ActMeta)>,
}

impl Sealed for Encoder<QuantLinear> {}

impl ModelFile for Encoder<QuantLinear> {
    const KIND: &'static str = KIND;

    /// The quantized encoder as safetensors bytes (see the module docs for the layout).
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut layers = BTreeMap::new();
        self.visit_layers(&mut |name, l| {
            layers.insert(name.to_string(), layer_meta(l));
        });
        let config = QuantEncoderConfig {
            file: FileConfig::of(self),
            layers,
        };
        let mut w = TensorWriter::new(KIND, &config)?;
        write_glue(self, &mut w);
        self.visit_layers(&mut |name, l| write_layer(&mut w, name, l));
        w.to_bytes()
    }

    /// Parses a quantized encoder written by [`ModelFile::to_bytes`], checking the
    /// configuration, every layer's format, and every tensor's dtype, shape and values.
    ///
    /// Errors as the loaders of [`Encoder`] and `Mlp<QuantLinear>` (listed under their
    /// `ModelFile` implementations), plus [`Error::Format`] for a layer without a listed format
    /// or a format listed for a layer the encoder does not have.
    fn from_bytes(bytes: &[u8]) -> Result<Encoder<QuantLinear>> {
        let r = TensorReader::new(bytes)?;
        let config: QuantEncoderConfig = r.config(KIND)?;
        let same = |n: &str| vec![n.to_string()];
        let names = Names::new(&r, &same);
        let format = |name: &str| {
            config
                .layers
                .get(name)
                .ok_or_else(|| Error::Format(format!("no format listed for layer `{name}`")))
        };
        let claim = |claim: &mut Claim, name: &str, shape: (usize, usize)| {
            claim_layer(claim, shape, &format(name)?.0)
        };
        let read = |name: &str, inp: usize, out: usize| -> Result<QuantLinear> {
            let (meta, act) = format(name)?;
            read_layer(&r, name, (out, inp), meta, act)
        };
        let encoder = load_encoder_parts(
            config.file.encoder,
            config.file.blocks.as_deref(),
            &names,
            &claim,
            &read,
        )?;
        let mut layers = BTreeSet::new();
        encoder.visit_layers(&mut |name, _| {
            layers.insert(name.to_string());
        });
        if let Some(extra) = config.layers.keys().find(|k| !layers.contains(*k)) {
            return Err(Error::Format(format!(
                "quantized encoder metadata lists a format for `{extra}`, which is not one of \
                 its layers"
            )));
        }
        r.reject_unread(|_| false)?;
        Ok(encoder)
    }
}

impl Encoder<QuantLinear> {
    /// The quantized encoder as safetensors bytes: [`ModelFile::to_bytes`] under its earlier
    /// name, kept until every caller has moved (issue #14).
    pub fn to_quantized_safetensors(&self) -> Result<Vec<u8>> {
        ModelFile::to_bytes(self)
    }

    /// Parses a quantized encoder: [`ModelFile::from_bytes`] under its earlier name (its
    /// errors are listed under `impl ModelFile for Encoder<QuantLinear>`), kept until every
    /// caller has moved (issue #14).
    pub fn from_quantized_safetensors(bytes: &[u8]) -> Result<Encoder<QuantLinear>> {
        <Self as ModelFile>::from_bytes(bytes)
    }

    /// Saves the quantized encoder: [`ModelFile::save`] under its earlier name, kept until
    /// every caller has moved (issue #14).
    pub fn save_quantized(&self, path: impl AsRef<Path>) -> Result<()> {
        ModelFile::save(self, path)
    }

    /// Loads a quantized encoder: [`ModelFile::load`] (`Encoder::<QuantLinear>::load`) under
    /// its earlier name, kept until every caller has moved (issue #14).
    pub fn load_quantized(path: impl AsRef<Path>) -> Result<Encoder<QuantLinear>> {
        <Self as ModelFile>::load(path)
    }
}
