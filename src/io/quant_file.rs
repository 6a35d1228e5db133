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
//! Loading checks the kind, the configuration, every tensor's presence, dtype and shape, that
//! scales are finite and positive, zero points in range and float weights finite; a loaded
//! model is bit-for-bit the saved one.

use std::path::Path;

use half::{bf16, f16};
use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::tensors::{le_bytes, read_file, TensorReader, TensorWriter};
use crate::error::{check_finite, Error, Result};
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

/// Reads the layer under `prefix`: `rows × cols` weights in format `meta`, checked (sizes
/// bounded by `file_len` before anything is allocated from them).
pub(super) fn read_layer(
    r: &TensorReader,
    prefix: &str,
    (rows, cols): (usize, usize),
    meta: &LayerMeta,
    act: &ActMeta,
    file_len: usize,
) -> Result<QuantLinear> {
    let name = |t: &str| format!("{prefix}.{t}");
    // Sizes come from the file: bound them by its length before anything is allocated
    // from them (every format stores at least 4 bits per weight, the bias 4 bytes per
    // row).
    if rows
        .checked_mul(cols)
        .is_none_or(|n| n == 0 || n / 2 > file_len)
    {
        return Err(Error::Format(format!(
            "layer {prefix}: a {rows} x {cols} weight cannot be stored in {} bytes",
            file_len
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
    let weight = match *meta {
        LayerMeta::F32 => QuantWeight::F32(r.matrix(&name("weight"), rows, cols)?),
        LayerMeta::F16 => {
            let b = r.raw(&name("weight"), Dtype::F16, &[rows, cols])?;
            let data: Vec<f16> = b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]))
                .collect();
            check_finite(
                data.iter().map(|v| v.to_f32()).collect::<Vec<_>>().iter(),
                || name("weight"),
            )?;
            QuantWeight::F16 { rows, cols, data }
        }
        LayerMeta::Bf16 => {
            let b = r.raw(&name("weight"), Dtype::BF16, &[rows, cols])?;
            let data: Vec<bf16> = b
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]))
                .collect();
            check_finite(
                data.iter().map(|v| v.to_f32()).collect::<Vec<_>>().iter(),
                || name("weight"),
            )?;
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
            let s = r.raw(&name("scales"), Dtype::F32, &[ns])?;
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
                s.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
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
            let s = r.raw(&name("scales"), Dtype::F16, &[ns])?;
            let zeros = if symmetric {
                Vec::new()
            } else {
                r.raw(&name("zeros"), Dtype::U8, &[ns])?.to_vec()
            };
            QuantWeight::Int4(Int4Weight::from_parts(
                layout,
                packed.to_vec(),
                s.chunks_exact(2)
                    .map(|c| f16::from_le_bytes([c[0], c[1]]))
                    .collect(),
                zeros,
            )?)
        }
    };
    let act = match *act {
        ActMeta::None => ActQuant::None,
        ActMeta::Dynamic => ActQuant::Dynamic,
        ActMeta::Static { scale, zero } => ActQuant::Static(QParams { scale, zero }),
    };
    QuantLinear::new(weight, bias, act)
}

impl Mlp<QuantLinear> {
    /// The quantized model as safetensors bytes (see the module docs for the layout).
    pub fn to_quantized_safetensors(&self) -> Result<Vec<u8>> {
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

    /// Parses a quantized model from bytes written by [`Mlp::to_quantized_safetensors`],
    /// checking everything (see the module docs).
    pub fn from_quantized_safetensors(bytes: &[u8]) -> Result<Mlp<QuantLinear>> {
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
        let layers = config
            .layers
            .iter()
            .zip(&config.inputs)
            .enumerate()
            .map(|(i, (meta, act))| {
                let shape = (config.sizes[i + 1], config.sizes[i]);
                read_layer(&r, &format!("layers.{i}"), shape, meta, act, bytes.len())
            })
            .collect::<Result<Vec<_>>>()?;
        Mlp::from_layers(layers, config.activations)
    }

    /// Saves the quantized model to a safetensors file.
    pub fn save_quantized(&self, path: impl AsRef<Path>) -> Result<()> {
        std::fs::write(path, self.to_quantized_safetensors()?)?;
        Ok(())
    }

    /// Loads a quantized model saved by [`Mlp::save_quantized`].
    pub fn load_quantized(path: impl AsRef<Path>) -> Result<Mlp<QuantLinear>> {
        Mlp::<QuantLinear>::from_quantized_safetensors(&read_file(path.as_ref())?)
    }
}
