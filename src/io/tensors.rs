//! Reading and writing named f32 tensors in the safetensors format, with shape and value checks.
//!
//! Every model file goes through these two types, so a truncated, mis-shaped or hostile file is
//! rejected in one place with an [`Error`] rather than a panic. The reader also remembers which
//! tensors were read, so a loader can reject a file holding tensors it did not expect
//! ([`TensorReader::reject_unread`]), and [`Claim`] bounds the sizes a configuration claims by
//! the file's length before anything is allocated from them.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::MAX_MAGNITUDE;
use crate::error::{check_finite, Error, Result};
use crate::limits;

/// Metadata key holding the model kind ("mlp", "encoder", ...).
pub(crate) const KIND_KEY: &str = "shrink.kind";
/// Metadata key holding the model configuration as JSON.
pub(crate) const CONFIG_KEY: &str = "shrink.config";

/// Collects named tensors and metadata, then serialises them.
#[derive(Default)]
pub(crate) struct TensorWriter {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    raw_tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl TensorWriter {
    /// A writer for a model of `kind` whose configuration serialises to `config`.
    pub(crate) fn new(kind: &str, config: &impl serde::Serialize) -> Result<Self> {
        let json =
            serde_json::to_string(config).map_err(|e| Error::parse("cannot encode config", e))?;
        let mut w = TensorWriter::default();
        w.metadata.insert(KIND_KEY.into(), kind.into());
        w.metadata.insert(CONFIG_KEY.into(), json);
        Ok(w)
    }

    fn add_f32(
        &mut self,
        name: impl Into<String>,
        shape: Vec<usize>,
        values: impl Iterator<Item = f32>,
    ) {
        let bytes = values.flat_map(f32::to_le_bytes).collect();
        self.tensors.push((name.into(), shape, bytes));
    }

    /// Adds a matrix under `name`.
    pub(crate) fn matrix(&mut self, name: impl Into<String>, a: ArrayView2<f32>) {
        self.add_f32(name, a.shape().to_vec(), a.iter().copied());
    }

    /// Adds a vector under `name`.
    pub(crate) fn vector(&mut self, name: impl Into<String>, a: ArrayView1<f32>) {
        self.add_f32(name, a.shape().to_vec(), a.iter().copied());
    }

    /// Adds a tensor of any dtype from its little-endian bytes (packed integers, indices).
    pub(crate) fn raw(
        &mut self,
        name: impl Into<String>,
        dtype: Dtype,
        shape: Vec<usize>,
        bytes: Vec<u8>,
    ) {
        self.raw_tensors.push((name.into(), dtype, shape, bytes));
    }

    /// The safetensors bytes.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(n, s, b)| (n, Dtype::F32, s, b))
            .chain(self.raw_tensors.iter().map(|(n, d, s, b)| (n, *d, s, b)))
            .map(|(n, d, s, b)| {
                TensorView::new(d, s.clone(), b)
                    .map(|v| (n.as_str(), v))
                    .map_err(|e| Error::parse(format!("tensor {n}"), e))
            })
            .collect::<Result<Vec<_>>>()?;
        let file = safetensors::serialize(views, Some(self.metadata.clone()))
            .map_err(|e| Error::parse("cannot serialise tensors", e))?;
        with_sorted_metadata(file)
    }
}

/// `file` with its header's metadata keys in sorted order.
///
/// `safetensors::serialize` writes the metadata map in `HashMap` order, which differs from one
/// map to the next, so the same model would save to different bytes from call to call. The
/// header is rewritten with the same JSON values, the metadata first with its keys sorted, then
/// the tensor entries (in `serde_json`'s map order: by name, or as `serialize` wrote them if
/// its `preserve_order` feature is on; deterministic either way), padded with spaces to a
/// multiple of 8 bytes as `serialize` pads it. The data after it is unchanged, and its offsets
/// are relative to the data, so they stay valid.
fn with_sorted_metadata(file: Vec<u8>) -> Result<Vec<u8>> {
    let bad = |what: &str| Error::Format(format!("serialised safetensors file: {what}"));
    let len_bytes: [u8; 8] = file
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("no header length"))?;
    let header_len = usize::try_from(u64::from_le_bytes(len_bytes))
        .ok()
        .filter(|&n| n <= file.len() - 8)
        .ok_or_else(|| bad("header length beyond the file"))?;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&file[8..8 + header_len])
            .map_err(|e| Error::parse("serialised safetensors header", e))?;
    let metadata: std::collections::BTreeMap<String, serde_json::Value> =
        match header.remove("__metadata__") {
            Some(serde_json::Value::Object(m)) => m.into_iter().collect(),
            Some(_) => return Err(bad("metadata is not an object")),
            None => Default::default(),
        };
    let mut text = format!("{{\"__metadata__\":{}", json(&metadata)?);
    for (name, entry) in &header {
        text.push(',');
        text.push_str(&json(name)?);
        text.push(':');
        text.push_str(&json(entry)?);
    }
    text.push('}');
    while !(8 + text.len()).is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + file.len() - 8 - header_len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&file[8 + header_len..]);
    Ok(out)
}

/// `v` as compact JSON.
fn json(v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::parse("cannot encode a safetensors header", e))
}

/// Reads checked f32 tensors from safetensors bytes.
pub(crate) struct TensorReader<'a> {
    st: SafeTensors<'a>,
    metadata: HashMap<String, String>,
    len: usize,
    /// The names of the tensors read so far.
    read: RefCell<BTreeSet<String>>,
}

impl<'a> TensorReader<'a> {
    /// Parses the header of `bytes`; errors on a truncated or malformed file.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| Error::parse("not a valid safetensors file", e))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)
            .map_err(|e| Error::parse("not a valid safetensors file", e))?;
        let metadata = meta
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(TensorReader {
            st,
            metadata,
            len: bytes.len(),
            read: RefCell::default(),
        })
    }

    /// The length of the file in bytes.
    pub(crate) fn file_len(&self) -> usize {
        self.len
    }

    /// The names of every tensor in the file, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.st.names().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    /// [`Error::UnexpectedTensor`] naming the first tensor (in sorted order) that no read has taken and
    /// that `allowed` does not accept: a file must hold exactly the tensors its model uses.
    pub(crate) fn reject_unread(&self, allowed: impl Fn(&str) -> bool) -> Result<()> {
        let read = self.read.borrow();
        match self
            .names()
            .into_iter()
            .find(|n| !read.contains(n) && !allowed(n))
        {
            Some(n) => Err(Error::UnexpectedTensor(n.to_string())),
            None => Ok(()),
        }
    }

    /// Tensor `name`, marked as read, or [`Error::MissingTensor`].
    fn tensor(&self, name: &str) -> Result<TensorView<'a>> {
        let t = self
            .st
            .tensor(name)
            .map_err(|_| Error::MissingTensor(name.to_string()))?;
        self.read.borrow_mut().insert(name.to_string());
        Ok(t)
    }

    /// The metadata value under `key`, or an error naming it.
    pub(crate) fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::Format(format!("metadata key `{key}` missing")))
    }

    /// Checks the model kind and decodes the JSON configuration.
    pub(crate) fn config<C: serde::de::DeserializeOwned>(&self, kind: &str) -> Result<C> {
        let found = self.meta(KIND_KEY)?;
        if found != kind {
            return Err(Error::Format(format!(
                "file holds a `{found}`, not a `{kind}`"
            )));
        }
        serde_json::from_str(self.meta(CONFIG_KEY)?)
            .map_err(|e| Error::parse(format!("bad {kind} config"), e))
    }

    /// Whether a tensor called `name` is present.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    /// The values of tensor `name` as f32 (F32, F16 and BF16 files are accepted), checked to have
    /// `shape`, to be finite and to lie within [`MAX_MAGNITUDE`].
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self.tensor(name)?;
        if t.shape() != shape {
            return Err(Error::ShapeMismatch {
                op: "loading tensor",
                expected: format!("{name}: {shape:?}"),
                got: format!("{:?}", t.shape()),
            });
        }
        let data = t.data();
        let values: Vec<f32> = match t.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            other => {
                return Err(Error::Format(format!(
                    "tensor {name} has dtype {other:?}; expected F32, F16 or BF16"
                )))
            }
        };
        check_values(&values, name)?;
        Ok(values)
    }

    /// The raw little-endian bytes of tensor `name`, which must have dtype `dtype` and shape
    /// `shape`.
    pub(crate) fn raw(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&'a [u8]> {
        let t = self.tensor(name)?;
        if t.dtype() != dtype {
            return Err(Error::Format(format!(
                "tensor {name} has dtype {:?}, expected {dtype:?}",
                t.dtype()
            )));
        }
        if t.shape() != shape {
            return Err(Error::ShapeMismatch {
                op: "loading tensor",
                expected: format!("{name}: {shape:?}"),
                got: format!("{:?}", t.shape()),
            });
        }
        Ok(t.data())
    }

    /// Matrix `name`, which must have shape `(rows, cols)`.
    pub(crate) fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Array2<f32>> {
        let v = self.values(name, &[rows, cols])?;
        Array2::from_shape_vec((rows, cols), v).map_err(|e| Error::Format(e.to_string()))
    }

    /// Vector `name`, which must have length `len`.
    pub(crate) fn vector(&self, name: &str, len: usize) -> Result<Array1<f32>> {
        Ok(Array1::from(self.values(name, &[len])?))
    }
}

/// [`Error::NonFinite`] if a value of tensor `name` is NaN or infinite, [`Error::Format`] if one
/// is finite but larger in magnitude than [`MAX_MAGNITUDE`].
pub(crate) fn check_values(values: &[f32], name: &str) -> Result<()> {
    check_finite(values.iter(), || format!("tensor {name}"))?;
    match values.iter().find(|v| v.abs() > MAX_MAGNITUDE) {
        Some(v) => Err(Error::Format(format!(
            "tensor `{name}` holds {v:e}, beyond the loaders' bound of |v| <= {MAX_MAGNITUDE:e}"
        ))),
        None => Ok(()),
    }
}

/// The sizes a file's configuration claims, checked against the crate's limits and the file's
/// length before anything is allocated from them.
///
/// Each tensor the configuration implies is added with the fewest bits per element any accepted
/// dtype stores it in; [`Claim::fits`] then requires the file to be at least that long. A tensor
/// above [`limits::MAX_ELEMENTS`], a model above [`limits::MAX_PARAMS`] or a claim the file
/// cannot hold is [`Error::TooLarge`].
pub(crate) struct Claim {
    op: &'static str,
    params: usize,
    bits: usize,
}

impl Claim {
    /// An empty claim; errors name `op`.
    pub(crate) fn new(op: &'static str) -> Self {
        Claim {
            op,
            params: 0,
            bits: 0,
        }
    }

    /// Adds a tensor of shape `dims` stored in at least `bits` bits per element.
    pub(crate) fn tensor(&mut self, dims: &[usize], bits: usize) -> Result<()> {
        let n = limits::elements(self.op, dims)?;
        self.params = limits::add_params(self.op, self.params, n)?;
        self.bits = n
            .checked_mul(bits)
            .and_then(|b| self.bits.checked_add(b))
            .ok_or_else(|| Error::too_large(self.op, format!("{dims:?} overflows usize")))?;
        Ok(())
    }

    /// [`Error::TooLarge`] unless a file of `file_len` bytes can hold the claimed tensors.
    pub(crate) fn fits(&self, file_len: usize) -> Result<()> {
        let need = self.bits.div_ceil(8);
        if need > file_len {
            return Err(Error::too_large(
                self.op,
                format!(
                    "the configuration claims {} parameters needing at least {need} bytes, but \
                     the file has {file_len}",
                    self.params
                ),
            ));
        }
        Ok(())
    }
}

/// The little-endian bytes of `v`, each element encoded by `f` (e.g. `u16::to_le_bytes`).
pub(crate) fn le_bytes<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| f(x)).collect()
}

/// Reads a whole file into memory, as the parsers need the bytes in one slice.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    Ok(std::fs::read(path)?)
}
