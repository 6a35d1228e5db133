//! Saving and loading a sparse MLP (`Mlp<SparseLinear>`) as safetensors: per layer
//! `layers.{i}.values` (F32), `layers.{i}.col_idx` (U16), `layers.{i}.row_ptr` (U32) and
//! `layers.{i}.bias` (F32), with the sizes, activations and non-zero counts as JSON metadata.
//! Loading bounds the sizes (each layer's dense shape by [`crate::limits::MAX_ELEMENTS`], the
//! stored values, indices, row pointers and biases by the file's length) before reading,
//! validates the CSR structure, bounds the values by [`crate::io::MAX_MAGNITUDE`], and rejects
//! any tensor beyond these.

use std::path::Path;

use ndarray::Array1;
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::model_file::{sealed::Sealed, ModelFile};
use super::tensors::{check_values, le_bytes, Claim, TensorReader, TensorWriter};
use crate::error::{Error, Result};
use crate::limits;
use crate::nn::{Activation, Mlp};
use crate::sparse::{CsrMatrix, SparseLinear};

const KIND: &str = "sparse_mlp";

#[derive(Serialize, Deserialize)]
struct SparseMlpConfig {
    sizes: Vec<usize>,
    activations: Vec<Activation>,
    nnz: Vec<usize>,
}

impl Sealed for Mlp<SparseLinear> {}

impl ModelFile for Mlp<SparseLinear> {
    const KIND: &'static str = KIND;

    /// The sparse model as safetensors bytes (see the module docs for the layout).
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let config = SparseMlpConfig {
            sizes: self.sizes(),
            activations: self.activations().to_vec(),
            nnz: self.layers().iter().map(|l| l.weights().nnz()).collect(),
        };
        let mut w = TensorWriter::new(KIND, &config)?;
        for (i, l) in self.layers().iter().enumerate() {
            let csr = l.weights();
            w.raw(
                format!("layers.{i}.values"),
                Dtype::F32,
                vec![csr.nnz()],
                le_bytes(csr.values(), f32::to_le_bytes),
            );
            w.raw(
                format!("layers.{i}.col_idx"),
                Dtype::U16,
                vec![csr.nnz()],
                le_bytes(csr.col_idx(), u16::to_le_bytes),
            );
            w.raw(
                format!("layers.{i}.row_ptr"),
                Dtype::U32,
                vec![csr.rows() + 1],
                le_bytes(csr.row_ptr(), u32::to_le_bytes),
            );
            w.vector(format!("layers.{i}.bias"), l.bias());
        }
        w.to_bytes()
    }

    /// Parses a sparse model written by [`ModelFile::to_bytes`], validating every CSR structure.
    ///
    /// Errors: [`Error::Parse`] for bytes that are not safetensors or bad JSON;
    /// [`Error::TooLarge`] for sizes or non-zero counts beyond [`crate::limits`] or the file's
    /// length; [`Error::Format`] for inconsistent counts, an invalid CSR structure, a value
    /// beyond [`crate::io::MAX_MAGNITUDE`] or a tensor the model does not use (both named);
    /// [`Error::MissingTensor`], [`Error::ShapeMismatch`] and [`Error::NonFinite`] as for the
    /// dense [`Mlp`]'s loader.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let r = TensorReader::new(bytes)?;
        let config: SparseMlpConfig = r.config(KIND)?;
        let n = config.activations.len();
        if config.sizes.len() != n + 1 || config.nnz.len() != n || n == 0 {
            return Err(Error::Format(format!(
                "sparse mlp config has {} sizes, {} activations, {} nnz entries",
                config.sizes.len(),
                n,
                config.nnz.len()
            )));
        }
        const OP: &str = "loading a sparse mlp";
        let mut claim = Claim::new(OP);
        for i in 0..n {
            let (cols, rows, nnz) = (config.sizes[i], config.sizes[i + 1], config.nnz[i]);
            // The layer's dense shape is within one tensor's limit; what the file holds is the
            // values (f32), column indices (u16), row pointers (u32) and bias (f16 or wider).
            limits::elements(OP, &[rows, cols])?;
            claim.tensor(&[nnz], 32 + 16)?;
            claim.tensor(&[rows], 32 + 16)?;
        }
        claim.fits(r.file_len())?;
        let mut layers = Vec::with_capacity(n);
        for i in 0..n {
            let (cols, rows, nnz) = (config.sizes[i], config.sizes[i + 1], config.nnz[i]);
            let ptrs = rows
                .checked_add(1)
                .ok_or_else(|| Error::too_large(OP, format!("layer {i}: {rows} rows overflow")))?;
            let name = format!("layers.{i}.values");
            let values: Vec<f32> = r
                .raw(&name, Dtype::F32, &[nnz])?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            check_values(&values, &name)?;
            let col_idx = r
                .raw(&format!("layers.{i}.col_idx"), Dtype::U16, &[nnz])?
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let row_ptr = r
                .raw(&format!("layers.{i}.row_ptr"), Dtype::U32, &[ptrs])?
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let csr = CsrMatrix::from_parts(rows, cols, row_ptr, col_idx, values)?;
            let bias: Array1<f32> = r.vector(&format!("layers.{i}.bias"), rows)?;
            layers.push(SparseLinear::new(csr, bias)?);
        }
        r.reject_unread(|_| false)?;
        Mlp::from_layers(layers, config.activations)
    }
}

impl Mlp<SparseLinear> {
    /// The sparse model as safetensors bytes: [`ModelFile::to_bytes`] under its earlier name,
    /// kept until every caller has moved (issue #14).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        ModelFile::to_bytes(self)
    }

    /// Parses a sparse model: [`ModelFile::from_bytes`] under its earlier name (its errors are
    /// listed under `impl ModelFile for Mlp<SparseLinear>`), kept until every caller has moved
    /// (issue #14).
    pub fn from_sparse_safetensors(bytes: &[u8]) -> Result<Self> {
        <Self as ModelFile>::from_bytes(bytes)
    }

    /// Saves the sparse model to a safetensors file: [`ModelFile::save`], callable without
    /// importing the trait.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        ModelFile::save(self, path)
    }

    /// Loads a sparse model: [`ModelFile::load`] (`Mlp::<SparseLinear>::load`) under its
    /// earlier name, kept until every caller has moved (issue #14).
    pub fn load_sparse(path: impl AsRef<Path>) -> Result<Self> {
        <Self as ModelFile>::load(path)
    }
}
