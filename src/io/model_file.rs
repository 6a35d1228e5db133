//! One interface for every model file: the [`ModelFile`] trait (`to_bytes`, `from_bytes`,
//! `save`, `load`), implemented by each model kind the crate saves, and [`load_any`] /
//! [`from_bytes_any`], which read a file whatever its kind into an [`AnyModel`].
//!
//! Every file records its kind under the `shrink.kind` metadata key; the kinds are:
//!
//! | kind            | model                     | file layout                  |
//! |-----------------|---------------------------|------------------------------|
//! | `mlp`           | [`Mlp`]                   | `mlp_file.rs`                |
//! | `sparse_mlp`    | `Mlp<SparseLinear>`       | `sparse_file.rs`             |
//! | `quant_mlp`     | `Mlp<QuantLinear>`        | `quant_file.rs`              |
//! | `encoder`       | [`Encoder`] (narrowed too)| `encoder_file.rs`            |
//! | `quant_encoder` | `Encoder<QuantLinear>`    | `quant_encoder_file.rs`      |
//!
//! This layer adds no checks and removes none: each kind's `from_bytes` is its loader, checked
//! as the [`crate::io`] module docs describe, and [`from_bytes_any`] reads the kind from the
//! header and hands the bytes to that loader.

use std::path::Path;

use ndarray::{Array2, ArrayView2};

use super::tensors::{read_file, TensorReader, KIND_KEY};
use crate::error::{Error, Result};
use crate::nn::{Encoder, Forward, Mlp};
use crate::quant::QuantLinear;
use crate::sparse::SparseLinear;

/// Keeps [`ModelFile`] implemented by the crate's model kinds only, so that methods can be
/// added to it without breaking anyone, and [`load_any`] knows every kind.
pub(super) mod sealed {
    /// Implemented by the model kinds of this crate.
    pub trait Sealed {}
}

/// A model kind that saves to and loads from a safetensors file, with its kind and
/// configuration in the file's metadata: one name per verb for every kind.
///
/// Implemented by [`Mlp`] (dense), `Mlp<SparseLinear>`, `Mlp<QuantLinear>`, [`Encoder`]
/// (including encoders narrowed by structured pruning) and `Encoder<QuantLinear>`. A loaded
/// model is bit-for-bit the saved one. Loading checks the whole file before it returns (see
/// [`crate::io`] for what is accepted); a file of another kind is
/// [`Error::Format`](crate::Error::Format). To load a file without knowing its kind, use
/// [`load_any`].
///
/// The trait is sealed: the crate's loaders know every kind, so it is not implemented outside.
/// Name the kind where inference cannot (`Mlp::<QuantLinear>::load(path)`); `Mlp::load` and
/// `Encoder::load` are the dense models.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::prelude::*;
///
/// let mlp = Mlp::new(&[8, 16, 3], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// let bytes = mlp.to_bytes()?;
/// assert_eq!(Mlp::<Linear>::from_bytes(&bytes)?, mlp);
///
/// let int8 = Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_mlp(&mlp, None)?;
/// let path = std::env::temp_dir().join(format!("shrink-doc-{}.safetensors", std::process::id()));
/// int8.save(&path)?;
/// let loaded = Mlp::<QuantLinear>::load(&path);
/// let any = load_any(&path);
/// std::fs::remove_file(&path)?;
/// assert_eq!(loaded?, int8);
/// assert_eq!(any?.kind(), "quant_mlp");
/// // A file of one kind is not another kind.
/// assert!(Mlp::<SparseLinear>::from_bytes(&bytes).is_err());
/// # Ok::<(), shrink::Error>(())
/// ```
pub trait ModelFile: sealed::Sealed + Sized {
    /// The kind recorded in the file's `shrink.kind` metadata (`"mlp"`, `"quant_encoder"`, …).
    const KIND: &'static str;

    /// The model as safetensors bytes: its tensors, with its kind and configuration as
    /// metadata.
    ///
    /// Errors: [`Error::Parse`](crate::Error::Parse) if the tensors cannot be serialised.
    fn to_bytes(&self) -> Result<Vec<u8>>;

    /// Parses a model of this kind from bytes written by [`ModelFile::to_bytes`], checking the
    /// whole file first (see [`crate::io`]).
    ///
    /// Errors: [`Error::Parse`](crate::Error::Parse) for bytes that are not safetensors or a
    /// configuration that is not valid JSON; [`Error::Format`](crate::Error::Format) for a file
    /// of another kind or an inconsistent one; and the errors each kind's loader lists
    /// (missing, unexpected, mis-shaped or out-of-range tensors, sizes beyond
    /// [`crate::limits`]).
    fn from_bytes(bytes: &[u8]) -> Result<Self>;

    /// Writes [`ModelFile::to_bytes`] to `path` (nothing is written if serialising fails).
    ///
    /// Errors: those of [`ModelFile::to_bytes`], and [`Error::Io`](crate::Error::Io).
    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes)?;
        Ok(())
    }

    /// Reads the file at `path` and parses it with [`ModelFile::from_bytes`].
    ///
    /// Errors: [`Error::Io`](crate::Error::Io) if it cannot be read, then those of
    /// [`ModelFile::from_bytes`].
    fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_bytes(&read_file(path.as_ref())?)
    }
}

/// A model read from a file whatever its kind, by [`load_any`] or [`from_bytes_any`]: one
/// variant per kind of [`ModelFile`].
///
/// Match on it, or convert it into the kind you expect with `try_into` (an
/// [`Error::Format`](crate::Error::Format) naming both kinds if it is another):
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::io::{from_bytes_any, AnyModel};
/// use shrink::prelude::*;
///
/// let mlp = Mlp::new(&[8, 16, 3], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// let any = from_bytes_any(&mlp.to_bytes()?)?;
/// assert_eq!(any.kind(), "mlp");
/// assert_eq!(any.storage_bytes(), mlp.storage_bytes());
/// // MLP kinds run through `Forward`; encoders take token ids instead.
/// let x = ndarray::Array2::<f32>::zeros((2, 8));
/// assert_eq!(any.forward(x.view())?, mlp.forward(x.view())?);
/// let back: Mlp = any.clone().try_into()?;
/// assert_eq!(back, mlp);
/// assert!(Encoder::<Linear>::try_from(any).is_err());
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnyModel {
    /// A dense MLP (kind `mlp`).
    Mlp(Mlp),
    /// An MLP of CSR layers (kind `sparse_mlp`).
    SparseMlp(Mlp<SparseLinear>),
    /// A quantized MLP (kind `quant_mlp`).
    QuantMlp(Mlp<QuantLinear>),
    /// A dense encoder, narrowed by pruning or not (kind `encoder`).
    Encoder(Encoder),
    /// A quantized encoder (kind `quant_encoder`).
    QuantEncoder(Encoder<QuantLinear>),
}

impl AnyModel {
    /// The kind recorded in the file (`"mlp"`, `"sparse_mlp"`, `"quant_mlp"`, `"encoder"`,
    /// `"quant_encoder"`): [`ModelFile::KIND`] of the model held.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyModel::Mlp(_) => <Mlp as ModelFile>::KIND,
            AnyModel::SparseMlp(_) => <Mlp<SparseLinear> as ModelFile>::KIND,
            AnyModel::QuantMlp(_) => <Mlp<QuantLinear> as ModelFile>::KIND,
            AnyModel::Encoder(_) => <Encoder as ModelFile>::KIND,
            AnyModel::QuantEncoder(_) => <Encoder<QuantLinear> as ModelFile>::KIND,
        }
    }

    /// Exact bytes of the model's parameters in its own format (as its `storage_bytes`).
    pub fn storage_bytes(&self) -> usize {
        match self {
            AnyModel::Mlp(m) => m.storage_bytes(),
            AnyModel::SparseMlp(m) => m.storage_bytes(),
            AnyModel::QuantMlp(m) => m.storage_bytes(),
            AnyModel::Encoder(e) => e.storage_bytes(),
            AnyModel::QuantEncoder(e) => e.storage_bytes(),
        }
    }

    /// Number of parameters (as the model's `param_count`).
    pub fn param_count(&self) -> usize {
        match self {
            AnyModel::Mlp(m) => m.param_count(),
            AnyModel::SparseMlp(m) => m.param_count(),
            AnyModel::QuantMlp(m) => m.param_count(),
            AnyModel::Encoder(e) => e.param_count(),
            AnyModel::QuantEncoder(e) => e.param_count(),
        }
    }

    /// The model as a [`Forward`] (the MLP kinds), or `None` for an encoder, which runs on
    /// token ids rather than feature rows.
    pub fn as_forward(&self) -> Option<&dyn Forward> {
        match self {
            AnyModel::Mlp(m) => Some(m),
            AnyModel::SparseMlp(m) => Some(m),
            AnyModel::QuantMlp(m) => Some(m),
            AnyModel::Encoder(_) | AnyModel::QuantEncoder(_) => None,
        }
    }

    /// Runs an MLP kind on `x` of shape (batch, in_features), as [`Forward::forward`].
    ///
    /// Errors: [`Error::InvalidParam`](crate::Error::InvalidParam) for an encoder (use its
    /// own `forward` on token ids: match the variant, or `try_into` it), and the errors of
    /// [`Forward::forward`].
    pub fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.as_forward()
            .ok_or_else(|| {
                Error::param(
                    "model",
                    format!(
                        "a `{}` runs on token ids, not feature rows: match the AnyModel \
                         variant and call the encoder's own forward",
                        self.kind()
                    ),
                )
            })?
            .forward(x)
    }

    /// The model as safetensors bytes, as its [`ModelFile::to_bytes`].
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match self {
            AnyModel::Mlp(m) => m.to_bytes(),
            AnyModel::SparseMlp(m) => m.to_bytes(),
            AnyModel::QuantMlp(m) => m.to_bytes(),
            AnyModel::Encoder(e) => e.to_bytes(),
            AnyModel::QuantEncoder(e) => e.to_bytes(),
        }
    }

    /// Saves the model to `path`, as its [`ModelFile::save`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes)?;
        Ok(())
    }
}

/// Conversions between [`AnyModel`] and each kind: `From` the model, `TryFrom` back (an
/// [`Error::Format`] naming both kinds for another kind).
macro_rules! any_model_kind {
    ($variant:ident, $ty:ty) => {
        impl From<$ty> for AnyModel {
            fn from(model: $ty) -> Self {
                AnyModel::$variant(model)
            }
        }

        impl TryFrom<AnyModel> for $ty {
            type Error = Error;

            fn try_from(any: AnyModel) -> Result<Self> {
                match any {
                    AnyModel::$variant(model) => Ok(model),
                    other => Err(Error::Format(format!(
                        "file holds a `{}`, not a `{}`",
                        other.kind(),
                        <$ty as ModelFile>::KIND
                    ))),
                }
            }
        }
    };
}

any_model_kind!(Mlp, Mlp);
any_model_kind!(SparseMlp, Mlp<SparseLinear>);
any_model_kind!(QuantMlp, Mlp<QuantLinear>);
any_model_kind!(Encoder, Encoder);
any_model_kind!(QuantEncoder, Encoder<QuantLinear>);

/// Parses a model file whatever its kind: reads the `shrink.kind` metadata and hands the bytes
/// to that kind's [`ModelFile::from_bytes`], which checks them completely.
///
/// Errors: [`Error::Parse`](crate::Error::Parse) for bytes that are not safetensors (garbage,
/// truncated); [`Error::Format`](crate::Error::Format) for a file without a `shrink.kind` (a
/// Hugging Face checkpoint loads with
/// [`Encoder::load_hf_bert`](crate::nn::Encoder::load_hf_bert) instead) or with a kind this
/// version does not know; then the errors of that kind's loader.
pub fn from_bytes_any(bytes: &[u8]) -> Result<AnyModel> {
    let kind = {
        let reader = TensorReader::new(bytes)?;
        let kind = reader.meta(KIND_KEY).map_err(|_| {
            Error::Format(format!(
                "no `{KIND_KEY}` metadata: not a model file written by shrink (a Hugging Face \
                 BERT checkpoint loads with Encoder::load_hf_bert)"
            ))
        })?;
        kind.to_string()
    };
    Ok(match kind.as_str() {
        <Mlp as ModelFile>::KIND => AnyModel::Mlp(ModelFile::from_bytes(bytes)?),
        <Mlp<SparseLinear> as ModelFile>::KIND => {
            AnyModel::SparseMlp(ModelFile::from_bytes(bytes)?)
        }
        <Mlp<QuantLinear> as ModelFile>::KIND => AnyModel::QuantMlp(ModelFile::from_bytes(bytes)?),
        <Encoder as ModelFile>::KIND => AnyModel::Encoder(ModelFile::from_bytes(bytes)?),
        <Encoder<QuantLinear> as ModelFile>::KIND => {
            AnyModel::QuantEncoder(ModelFile::from_bytes(bytes)?)
        }
        other => {
            return Err(Error::Format(format!(
                "unknown model kind `{other}` (this version reads {})",
                KINDS.join(", ")
            )))
        }
    })
}

/// Every kind [`from_bytes_any`] reads.
const KINDS: [&str; 5] = [
    <Mlp as ModelFile>::KIND,
    <Mlp<SparseLinear> as ModelFile>::KIND,
    <Mlp<QuantLinear> as ModelFile>::KIND,
    <Encoder as ModelFile>::KIND,
    <Encoder<QuantLinear> as ModelFile>::KIND,
];

/// Loads a model file whatever its kind: reads `path` and parses it with [`from_bytes_any`].
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::io::AnyModel;
/// use shrink::prelude::*;
///
/// let mlp = Mlp::new(&[8, 16, 3], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// let sparse = mlp.map_layers(|_, l| SparseLinear::from_linear(l))?;
/// let path = std::env::temp_dir().join(format!("shrink-any-{}.safetensors", std::process::id()));
/// sparse.save(&path)?;
/// let any = load_any(&path);
/// std::fs::remove_file(&path)?;
/// match any? {
///     AnyModel::SparseMlp(m) => assert_eq!(m, sparse),
///     other => panic!("read a {}", other.kind()),
/// }
/// # Ok::<(), shrink::Error>(())
/// ```
///
/// Errors: [`Error::Io`](crate::Error::Io) if the file cannot be read, then those of
/// [`from_bytes_any`].
pub fn load_any(path: impl AsRef<Path>) -> Result<AnyModel> {
    from_bytes_any(&read_file(path.as_ref())?)
}
