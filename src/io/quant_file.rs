//! Saving and loading a quantized MLP (`Mlp<QuantLinear>`) as safetensors, keeping the packed
//! formats as they are in memory. Metadata: `shrink.kind = "quant_mlp"` and `shrink.config`, a
//! JSON object with the layer sizes, activations and each layer's format (with group size,
//! per-tensor flag, symmetry and activation handling). Tensors per layer `i`:
//!
//! ```text
//! layers.{i}.weight   F32 / F16 / BF16 (out, in) · I8 (out, in) · U8 (out, ⌈in/2⌉) packed int4
//! layers.{i}.scales   F32 (int8) or F16 (int4), one per scale of the layout
//! layers.{i}.zeros    I8 (int8) or U8 (int4), asymmetric layers only
//! layers.{i}.bias     F32 (out)
//! ```
//!
//! Loading checks the kind, the configuration, every tensor's presence, dtype and shape, zero
//! points in range, float weights and biases finite and within [`crate::io::MAX_MAGNITUDE`],
//! and every scale (weight scales and static activation scales) a normal positive f32 small
//! enough that every code of its format dequantizes within that bound; a loaded model is
//! bit-for-bit the saved one. Before any tensor is read, the sizes are bounded by the crate's
//! limits and by the file's length (4 bits per int4 weight, 8 per int8, 16 per float weight
//! and bias). The file must hold exactly the tensors its layers need: zero points stored for a
//! layer marked symmetric (or a float layer) are [`Error::Format`](crate::Error::Format)
//! naming the tensor, and any other extra tensor is
//! [`Error::UnexpectedTensor`](crate::Error::UnexpectedTensor).

use std::path::Path;

use half::{bf16, f16};
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::model_file::{sealed::Sealed, ModelFile};
use super::tensors::{check_values, le_bytes, Claim, TensorReader, TensorWriter};
use super::MAX_MAGNITUDE;
use crate::error::{Error, Result};
use crate::kernels::int4::packed_row_bytes;
use crate::kernels::GroupLayout;
use crate::nn::{Activation, Mlp};
use crate::quant::{ActQuant, Int4Weight, Int8Weight, QParams, QuantLinear, QuantWeight};

const KIND: &str = "quant_mlp";

/// A layer's weight format as stored in the metadata.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub(super) enum LayerMeta {
    F32,
    F16,
    Bf16,
    Int8 {
        group: usize,
        per_tensor: bool,
        symmetric: bool,
    },
    Int4 {
        group: usize,
        per_tensor: bool,
        symmetric: bool,
    },
}

/// A layer's activation handling as stored in the metadata.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ActMeta {
    None,
    Dynamic,
    Static { scale: f32, zero: i32 },
}

#[derive(Debug, Serialize, Deserialize)]
struct QuantMlpConfig {
    sizes: Vec<usize>,
    activations: Vec<Activation>,
    layers: Vec<LayerMeta>,
    inputs: Vec<ActMeta>,
}

/// A layer's format and activation handling, as stored in the metadata.
pub(super) fn layer_meta(l: &QuantLinear) -> (LayerMeta, ActMeta) {
    let layer = match l.weight() {
        QuantWeight::F32(_) => LayerMeta::F32,
        QuantWeight::F16 { .. } => LayerMeta::F16,
        QuantWeight::Bf16 { .. } => LayerMeta::Bf16,
        QuantWeight::Int8(w) => LayerMeta::Int8 {
            group: w.layout().group,
            per_tensor: w.layout().per_tensor,
            symmetric: w.zeros().is_empty(),
        },
        QuantWeight::Int4(w) => LayerMeta::Int4 {
            group: w.layout().group,
            per_tensor: w.layout().per_tensor,
            symmetric: w.zeros().is_empty(),
        },
    };
    let input = match l.act() {
        ActQuant::Dynamic => ActMeta::Dynamic,
        ActQuant::Static(p) => ActMeta::Static {
            scale: p.scale,
            zero: p.zero,
        },
        _ => ActMeta::None,
    };
    (layer, input)
}

/// Writes a layer's tensors under `prefix` (`{prefix}.weight`, `.scales`, `.zeros`, `.bias`).
pub(super) fn write_layer(w: &mut TensorWriter, prefix: &str, l: &QuantLinear) {
    let name = |t: &str| format!("{prefix}.{t}");
    let (rows, cols) = l.weight().dim();
    match l.weight() {
        QuantWeight::F32(m) => w.matrix(name("weight"), m.view()),
        QuantWeight::F16 { data, .. } => w.raw(
            name("weight"),
            Dtype::F16,
            vec![rows, cols],
            le_bytes(data, f16::to_le_bytes),
        ),
        QuantWeight::Bf16 { data, .. } => w.raw(
            name("weight"),
            Dtype::BF16,
            vec![rows, cols],
            le_bytes(data, bf16::to_le_bytes),
        ),
        QuantWeight::Int8(q) => {
            w.raw(
                name("weight"),
                Dtype::I8,
                vec![rows, cols],
                le_bytes(q.codes(), i8::to_le_bytes),
            );
            w.raw(
                name("scales"),
                Dtype::F32,
                vec![q.scales().len()],
                le_bytes(q.scales(), f32::to_le_bytes),
            );
            if !q.zeros().is_empty() {
                w.raw(
                    name("zeros"),
                    Dtype::I8,
                    vec![q.zeros().len()],
                    le_bytes(q.zeros(), i8::to_le_bytes),
                );
            }
        }
        QuantWeight::Int4(q) => {
            w.raw(
                name("weight"),
                Dtype::U8,
                vec![rows, packed_row_bytes(cols)],
                q.packed().to_vec(),
            );
            w.raw(
                name("scales"),
                Dtype::F16,
                vec![q.scales().len()],
                le_bytes(q.scales(), f16::to_le_bytes),
            );
            if !q.zeros().is_empty() {
                w.raw(
                    name("zeros"),
                    Dtype::U8,
                    vec![q.zeros().len()],
                    q.zeros().to_vec(),
                );
            }
        }
    }
    w.vector(name("bias"), l.bias());
}

/// Adds the tensors of a `rows × cols` layer in format `meta` to `claim`: the weight at the
/// fewest bits its format stores (f32 layers may be stored as f16), the bias at 16 bits.
pub(super) fn claim_layer(
    claim: &mut Claim,
    (rows, cols): (usize, usize),
    meta: &LayerMeta,
) -> Result<()> {
    let bits = match meta {
        LayerMeta::F32 | LayerMeta::F16 | LayerMeta::Bf16 => 16,
        LayerMeta::Int8 { .. } => 8,
        LayerMeta::Int4 { .. } => 4,
    };
    claim.tensor(&[rows, cols], bits)?;
    claim.tensor(&[rows], 16)
}

/// The largest distance `|q − z|` between a code and the zero point of a format (see the
/// module docs of [`crate::io`]).
fn max_code_distance(bits: u8, symmetric: bool) -> f32 {
    match (bits, symmetric) {
        (4, true) => 8.0,
        (4, false) => 15.0,
        (_, true) => 128.0,
        (_, false) => 255.0,
    }
}

/// [`Error::Format`] naming `what` unless `scale` is a normal positive f32 with
/// `scale · distance` within [`MAX_MAGNITUDE`].
fn check_scale(scale: f32, distance: f32, what: &dyn Fn() -> String) -> Result<()> {
    if scale.is_nan() || scale < f32::MIN_POSITIVE || scale * distance > MAX_MAGNITUDE {
        return Err(Error::Format(format!(
            "{}: scale {scale:e} must be at least {:e} and at most {:e} (so that every code \
             dequantizes within {MAX_MAGNITUDE:e})",
            what(),
            f32::MIN_POSITIVE,
            MAX_MAGNITUDE / distance
        )));
    }
    Ok(())
}

/// Reads the layer under `prefix`: `rows × cols` weights in format `meta`, checked. The caller
/// has bounded the sizes with [`claim_layer`] against the file's length.
pub(super) fn read_layer(
    r: &TensorReader,
    prefix: &str,
    (rows, cols): (usize, usize),
    meta: &LayerMeta,
    act: &ActMeta,
) -> Result<QuantLinear> {
    let name = |t: &str| format!("{prefix}.{t}");
    if rows == 0 || cols == 0 {
        return Err(Error::Empty(format!(
            "layer {prefix}: a {rows} x {cols} weight"
        )));
    }
    let symmetric = match *meta {
        LayerMeta::Int8 { symmetric, .. } | LayerMeta::Int4 { symmetric, .. } => symmetric,
        _ => true,
    };
    if symmetric && r.has(&name("zeros")) {
        return Err(Error::Format(format!(
            "layer {prefix} is {} but the file stores zero points `{}`",
            if matches!(meta, LayerMeta::Int8 { .. } | LayerMeta::Int4 { .. }) {
                "symmetric"
            } else {
                "not integer-quantized"
            },
            name("zeros")
        )));
    }
    let bias = r.vector(&name("bias"), rows)?;
    let layout = |group: usize, per_tensor: bool| {
        let l = GroupLayout {
            rows,
            cols,
            group,
            per_tensor,
        };
        l.check().map(|_| l)
    };
    let halves = |data: &[f32]| check_values(data, &name("weight"));
    let weight = match *meta {
        LayerMeta::F32 => QuantWeight::F32(r.matrix(&name("weight"), rows, cols)?),
        LayerMeta::F16 => {
            let b = r.raw(&name("weight"), Dtype::F16, &[rows, cols])?;
            let data: Vec<f16> = b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]))
                .collect();
            halves(&data.iter().map(|v| v.to_f32()).collect::<Vec<_>>())?;
            QuantWeight::F16 { rows, cols, data }
        }
        LayerMeta::Bf16 => {
            let b = r.raw(&name("weight"), Dtype::BF16, &[rows, cols])?;
            let data: Vec<bf16> = b
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]))
                .collect();
            halves(&data.iter().map(|v| v.to_f32()).collect::<Vec<_>>())?;
            QuantWeight::Bf16 { rows, cols, data }
        }
        LayerMeta::Int8 {
            group,
            per_tensor,
            symmetric,
        } => {
            let layout = layout(group, per_tensor)?;
            let ns = layout.n_scales();
            let q = r.raw(&name("weight"), Dtype::I8, &[rows, cols])?;
            let scales: Vec<f32> = r
                .raw(&name("scales"), Dtype::F32, &[ns])?
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let distance = max_code_distance(8, symmetric);
            for s in &scales {
                check_scale(*s, distance, &|| name("scales"))?;
            }
            let zeros = if symmetric {
                Vec::new()
            } else {
                r.raw(&name("zeros"), Dtype::I8, &[ns])?
                    .iter()
                    .map(|&b| b as i8)
                    .collect()
            };
            QuantWeight::Int8(Int8Weight::from_parts(
                layout,
                q.iter().map(|&b| b as i8).collect(),
                scales,
                zeros,
            )?)
        }
        LayerMeta::Int4 {
            group,
            per_tensor,
            symmetric,
        } => {
            let layout = layout(group, per_tensor)?;
            let ns = layout.n_scales();
            let packed = r.raw(&name("weight"), Dtype::U8, &[rows, packed_row_bytes(cols)])?;
            let scales: Vec<f16> = r
                .raw(&name("scales"), Dtype::F16, &[ns])?
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]))
                .collect();
            let distance = max_code_distance(4, symmetric);
            for s in &scales {
                check_scale(s.to_f32(), distance, &|| name("scales"))?;
            }
            let zeros = if symmetric {
                Vec::new()
            } else {
                r.raw(&name("zeros"), Dtype::U8, &[ns])?.to_vec()
            };
            QuantWeight::Int4(Int4Weight::from_parts(
                layout,
                packed.to_vec(),
                scales,
                zeros,
            )?)
        }
    };
    let act = match *act {
        ActMeta::None => ActQuant::None,
        ActMeta::Dynamic => ActQuant::Dynamic,
        ActMeta::Static { scale, zero } => {
            check_scale(scale, max_code_distance(8, false), &|| {
                format!("layer {prefix}: static activation parameters")
            })?;
            ActQuant::Static(QParams { scale, zero })
        }
    };
    QuantLinear::new(weight, bias, act)
}

impl Sealed for Mlp<QuantLinear> {}

impl ModelFile for Mlp<QuantLinear> {
    const KIND: &'static str = KIND;

    /// The quantized model as safetensors bytes (see the module docs for the layout).
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let (layers, inputs) = self.layers().iter().map(layer_meta).unzip();
        let config = QuantMlpConfig {
            sizes: self.sizes(),
            activations: self.activations().to_vec(),
            layers,
            inputs,
        };
        let mut w = TensorWriter::new(KIND, &config)?;
        for (i, l) in self.layers().iter().enumerate() {
            write_layer(&mut w, &format!("layers.{i}"), l);
        }
        w.to_bytes()
    }

    /// Parses a quantized model from bytes written by [`ModelFile::to_bytes`],
    /// checking everything (see the module docs and [`crate::io`]).
    ///
    /// Errors: [`Error::Parse`] for bytes that are not safetensors or bad JSON;
    /// [`Error::TooLarge`] for sizes beyond [`crate::limits`] or the file's length;
    /// [`Error::Format`] for inconsistent metadata, wrong dtypes, zero points stored for a
    /// symmetric layer, an out-of-range scale or value, or a tensor the model does not use
    /// (each naming the tensor); [`Error::InvalidParam`] for a bad group layout, zero point or
    /// activation setting; [`Error::MissingTensor`], [`Error::ShapeMismatch`] and
    /// [`Error::NonFinite`] for an absent, mis-shaped or NaN / infinite tensor.
    fn from_bytes(bytes: &[u8]) -> Result<Mlp<QuantLinear>> {
        let r = TensorReader::new(bytes)?;
        let config: QuantMlpConfig = r.config(KIND)?;
        let n = config.sizes.len().saturating_sub(1);
        if config.sizes.len() < 2
            || config.activations.len() != n
            || config.layers.len() != n
            || config.inputs.len() != n
        {
            return Err(Error::Format(format!(
                "quant_mlp config has {} sizes, {} activations, {} layer formats, {} input modes",
                config.sizes.len(),
                config.activations.len(),
                config.layers.len(),
                config.inputs.len()
            )));
        }
        let shape = |i: usize| (config.sizes[i + 1], config.sizes[i]);
        let mut claim = Claim::new("loading a quantized mlp");
        for (i, meta) in config.layers.iter().enumerate() {
            claim_layer(&mut claim, shape(i), meta)?;
        }
        claim.fits(r.file_len())?;
        let layers = config
            .layers
            .iter()
            .zip(&config.inputs)
            .enumerate()
            .map(|(i, (meta, act))| read_layer(&r, &format!("layers.{i}"), shape(i), meta, act))
            .collect::<Result<Vec<_>>>()?;
        r.reject_unread(|_| false)?;
        Mlp::from_layers(layers, config.activations)
    }
}

impl Mlp<QuantLinear> {
    /// The quantized model as safetensors bytes: [`ModelFile::to_bytes`] under its earlier
    /// name, kept until every caller has moved (issue #14).
    pub fn to_quantized_safetensors(&self) -> Result<Vec<u8>> {
        ModelFile::to_bytes(self)
    }

    /// Parses a quantized model: [`ModelFile::from_bytes`] under its earlier name (its errors
    /// are listed under `impl ModelFile for Mlp<QuantLinear>`), kept until every caller has
    /// moved (issue #14).
    pub fn from_quantized_safetensors(bytes: &[u8]) -> Result<Mlp<QuantLinear>> {
        <Self as ModelFile>::from_bytes(bytes)
    }

    /// Saves the quantized model: [`ModelFile::save`] under its earlier name, kept until every
    /// caller has moved (issue #14).
    pub fn save_quantized(&self, path: impl AsRef<Path>) -> Result<()> {
        ModelFile::save(self, path)
    }

    /// Loads a quantized model: [`ModelFile::load`] (`Mlp::<QuantLinear>::load`) under its
    /// earlier name, kept until every caller has moved (issue #14).
    pub fn load_quantized(path: impl AsRef<Path>) -> Result<Mlp<QuantLinear>> {
        <Self as ModelFile>::load(path)
    }
}
