//! Saving and loading an [`Mlp`] as safetensors: tensors `layers.{i}.weight` (out × in) and
//! `layers.{i}.bias` (F32, or F16 / BF16 widened on load), with the layer sizes and activations
//! as JSON metadata. A file holds exactly these tensors; loading rejects any other.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model_file::{sealed::Sealed, ModelFile};
use super::tensors::{Claim, TensorReader, TensorWriter};
use crate::error::{Error, Result};
use crate::nn::{Activation, Linear, Mlp};

const KIND: &str = "mlp";

/// The configuration stored in an MLP file's metadata.
#[derive(Serialize, Deserialize)]
struct MlpConfig {
    sizes: Vec<usize>,
    activations: Vec<Activation>,
}

impl Sealed for Mlp {}

impl ModelFile for Mlp {
    const KIND: &'static str = KIND;

    /// The model as safetensors bytes (see the module docs for the layout).
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let config = MlpConfig {
            sizes: self.sizes(),
            activations: self.activations().to_vec(),
        };
        let mut w = TensorWriter::new(KIND, &config)?;
        for (i, l) in self.layers().iter().enumerate() {
            w.matrix(format!("layers.{i}.weight"), l.weight());
            w.vector(format!("layers.{i}.bias"), l.bias());
        }
        w.to_bytes()
    }

    /// Parses a model from safetensors bytes written by [`ModelFile::to_bytes`], checked as the
    /// [`crate::io`] module docs describe.
    ///
    /// Errors: [`Error::Parse`] for bytes that are not safetensors or a configuration that is
    /// not valid JSON; [`Error::Format`] for another kind of file, sizes and activations that
    /// disagree, a tensor the model does not use (named), or a value beyond
    /// [`crate::io::MAX_MAGNITUDE`] (named); [`Error::TooLarge`] for sizes beyond
    /// [`crate::limits`] or more parameters than the file has bytes for (at 2 bytes each, the
    /// F16/BF16 minimum), checked before anything is read; [`Error::MissingTensor`],
    /// [`Error::ShapeMismatch`] and [`Error::NonFinite`] for an absent, mis-shaped or NaN /
    /// infinite tensor; [`Error::Empty`] for a zero width.
    fn from_bytes(bytes: &[u8]) -> Result<Mlp> {
        let r = TensorReader::new(bytes)?;
        let config: MlpConfig = r.config(KIND)?;
        if config.sizes.len() < 2 || config.activations.len() != config.sizes.len() - 1 {
            return Err(Error::Format(format!(
                "mlp config has {} sizes and {} activations",
                config.sizes.len(),
                config.activations.len()
            )));
        }
        let mut claim = Claim::new("loading an mlp");
        for w in config.sizes.windows(2) {
            claim.tensor(&[w[1], w[0]], 16)?;
            claim.tensor(&[w[1]], 16)?;
        }
        claim.fits(r.file_len())?;
        let layers = config
            .sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                Linear::new(
                    r.matrix(&format!("layers.{i}.weight"), w[1], w[0])?,
                    r.vector(&format!("layers.{i}.bias"), w[1])?,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        r.reject_unread(|_| false)?;
        Mlp::from_layers(layers, config.activations)
    }
}

impl Mlp {
    /// The model as safetensors bytes: [`ModelFile::to_bytes`] under its earlier name, kept
    /// until every caller has moved (issue #14).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        ModelFile::to_bytes(self)
    }

    /// Parses a model written by [`ModelFile::to_bytes`]: [`ModelFile::from_bytes`] under its earlier
    /// name (its errors are listed under `impl ModelFile for Mlp`), kept until every caller has
    /// moved (issue #14).
    pub fn from_safetensors(bytes: &[u8]) -> Result<Mlp> {
        <Mlp as ModelFile>::from_bytes(bytes)
    }

    /// Saves the model to a safetensors file: [`ModelFile::save`], callable without importing
    /// the trait.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        ModelFile::save(self, path)
    }

    /// Loads a model saved by [`Mlp::save`]: [`ModelFile::load`], callable without importing
    /// the trait (and naming the dense model, so `Mlp::load` needs no type annotation).
    pub fn load(path: impl AsRef<Path>) -> Result<Mlp> {
        <Mlp as ModelFile>::load(path)
    }
}
