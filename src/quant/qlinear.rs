//! [`QuantLinear`]: a linear layer `y = x·Ŵᵀ + b` that keeps its weights packed and computes
//! on them, implementing [`LinearLayer`] so `Mlp<QuantLinear>` and `Encoder<QuantLinear>` run
//! the same forward code as the f32 models.
//!
//! For a batch `x` (batch × in) and weights (out × in):
//!
//! - **weight-only** (f16, bf16, int8, int4): `y[i, j] = Σ_k x[i, k]·ŵ[j, k] + b[j]`, each `ŵ`
//!   converted or dequantized inside the kernel ([`crate::kernels`]).
//! - **int8 × int8** (dynamic or static activations; Jacob et al. 2018): each input row is
//!   quantized `q_x = clamp(round(x/s_x) + z_x, −128, 127)` (asymmetric; `s_x` from the row's
//!   min-max when dynamic, from calibration when static), then with i32 accumulation
//!
//!   ```text
//!   acc[i, j] = Σ_k q_x[i, k]·q_w[j, k]                               (kernel, exact i32)
//!   a[i, j]   = acc − z_w[j]·Σ_k q_x[i, k] − z_x[i]·Σ_k q_w[j, k] + K·z_x[i]·z_w[j]
//!   y[i, j]   = (s_x[i]·s_w[j])·a[i, j] + b[j]                         (once per output)
//!   ```
//!
//!   which is `Σ_k s_x(q_x − z_x)·s_w(q_w − z_w) + b` computed in integers.

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::affine::{choose_params, quantize, QParams};
use super::int4::Int4Weight;
use super::int8::Int8Weight;
use super::scheme::{Granularity, IntScheme};
use crate::error::{check_finite, Error, Result};
use crate::kernels::{float, int8::gemm_i8_i32};
use crate::nn::LinearLayer;

/// The activation scheme of integer inference: int8, asymmetric, one scale per row or tensor.
pub const ACTIVATION_SCHEME: IntScheme = IntScheme {
    bits: 8,
    symmetric: false,
    granularity: Granularity::PerTensor,
};

/// A layer's weights in their stored format.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum QuantWeight {
    /// Dense f32 (a layer excluded from quantization).
    F32(Array2<f32>),
    /// f16 values, row-major (out × in).
    F16 {
        /// Output features.
        rows: usize,
        /// Input features.
        cols: usize,
        /// The values.
        data: Vec<f16>,
    },
    /// bf16 values, row-major (out × in).
    Bf16 {
        /// Output features.
        rows: usize,
        /// Input features.
        cols: usize,
        /// The values.
        data: Vec<bf16>,
    },
    /// int8 codes.
    Int8(Int8Weight),
    /// Packed int4 codes.
    Int4(Int4Weight),
}

impl QuantWeight {
    /// (out, in).
    pub fn dim(&self) -> (usize, usize) {
        match self {
            QuantWeight::F32(w) => w.dim(),
            QuantWeight::F16 { rows, cols, .. } | QuantWeight::Bf16 { rows, cols, .. } => {
                (*rows, *cols)
            }
            QuantWeight::Int8(w) => (w.layout().rows, w.layout().cols),
            QuantWeight::Int4(w) => (w.layout().rows, w.layout().cols),
        }
    }

    /// Exact stored bytes (values, scales, zero points).
    pub fn bytes(&self) -> usize {
        match self {
            QuantWeight::F32(w) => 4 * w.len(),
            QuantWeight::F16 { data, .. } => 2 * data.len(),
            QuantWeight::Bf16 { data, .. } => 2 * data.len(),
            QuantWeight::Int8(w) => w.bytes(),
            QuantWeight::Int4(w) => w.bytes(),
        }
    }

    /// The weight as f32, for reports and tests (inference never builds it).
    pub fn dequantize(&self) -> Array2<f32> {
        let (rows, cols) = self.dim();
        match self {
            QuantWeight::F32(w) => w.clone(),
            QuantWeight::F16 { data, .. } => {
                Array2::from_shape_fn((rows, cols), |(r, c)| data[r * cols + c].to_f32())
            }
            QuantWeight::Bf16 { data, .. } => {
                Array2::from_shape_fn((rows, cols), |(r, c)| data[r * cols + c].to_f32())
            }
            QuantWeight::Int8(w) => w.dequantize(),
            QuantWeight::Int4(w) => w.dequantize(),
        }
    }
}

/// How a layer's inputs are quantized at run time.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ActQuant {
    /// Inputs stay f32 (weight-only).
    None,
    /// Per-row min-max int8 parameters computed at run time.
    Dynamic,
    /// Fixed int8 parameters from calibration.
    Static(QParams),
}

/// A quantized linear layer; see the module docs for the arithmetic.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantLinear {
    weight: QuantWeight,
    bias: Array1<f32>,
    act: ActQuant,
}

impl QuantLinear {
    /// Assembles a layer, checking that the bias matches the weight, the bias is finite, and
    /// that integer activations come with int8 per-tensor/per-channel weights.
    pub fn new(weight: QuantWeight, bias: Array1<f32>, act: ActQuant) -> Result<Self> {
        let (rows, _) = weight.dim();
        if bias.len() != rows {
            return Err(Error::shape("QuantLinear bias", rows, bias.len()));
        }
        check_finite(bias.iter(), || "QuantLinear bias".into())?;
        match &weight {
            QuantWeight::F32(w) => check_finite(w.iter(), || "QuantLinear f32 weight".into())?,
            QuantWeight::F16 { rows, cols, data } => {
                check_half_len(*rows, *cols, data.len())?;
                check_finite(
                    data.iter().map(|v| v.to_f32()).collect::<Vec<_>>().iter(),
                    || "QuantLinear f16 weight".into(),
                )?;
            }
            QuantWeight::Bf16 { rows, cols, data } => {
                check_half_len(*rows, *cols, data.len())?;
                check_finite(
                    data.iter().map(|v| v.to_f32()).collect::<Vec<_>>().iter(),
                    || "QuantLinear bf16 weight".into(),
                )?;
            }
            _ => {}
        }
        if act != ActQuant::None {
            match &weight {
                QuantWeight::Int8(w) if w.layout().group == w.layout().cols => {}
                _ => {
                    return Err(Error::param(
                        "activations",
                        "int8 activations need int8 weights with per-tensor or per-channel scales",
                    ))
                }
            }
        }
        if let ActQuant::Static(p) = act {
            let scale_ok = p.scale.is_finite() && p.scale > 0.0;
            if !scale_ok || !(-128..=127).contains(&p.zero) {
                return Err(Error::param(
                    "activation params",
                    format!("static scale {} / zero {} out of range", p.scale, p.zero),
                ));
            }
        }
        Ok(QuantLinear { weight, bias, act })
    }

    /// The weights.
    pub fn weight(&self) -> &QuantWeight {
        &self.weight
    }

    /// The bias (always f32).
    pub fn bias(&self) -> ArrayView1<'_, f32> {
        self.bias.view()
    }

    /// The activation handling.
    pub fn act(&self) -> ActQuant {
        self.act
    }

    /// `x·Ŵᵀ` (no bias) through the weight-only kernels, into `out` (batch × out).
    fn weight_only(&self, x: &[f32], batch: usize, out: &mut [f32]) -> Result<()> {
        let (rows, cols) = self.weight.dim();
        match &self.weight {
            QuantWeight::F32(w) => {
                let w = w.as_standard_layout();
                float::gemm_f32(x, batch, w.as_slice().unwrap_or(&[]), rows, cols, out)
            }
            QuantWeight::F16 { data, .. } => float::gemm_f16_f32(x, batch, data, rows, cols, out),
            QuantWeight::Bf16 { data, .. } => float::gemm_bf16_f32(x, batch, data, rows, cols, out),
            QuantWeight::Int8(w) => w.gemm(x, batch, out),
            QuantWeight::Int4(w) => w.gemm(x, batch, out),
        }
    }

    /// Quantizes the input rows to int8: codes, one `QParams` per row.
    pub fn quantize_input(&self, x: ArrayView2<f32>) -> Result<(Vec<i8>, Vec<QParams>)> {
        let mut codes = Vec::with_capacity(x.len());
        let mut params = Vec::with_capacity(x.nrows());
        for row in x.rows() {
            check_finite(row.iter(), || "QuantLinear input".into())?;
            let p = match self.act {
                ActQuant::Static(p) => p,
                _ => {
                    let (lo, hi) = row
                        .iter()
                        .fold((0.0f32, 0.0f32), |(l, h), &v| (l.min(v), h.max(v)));
                    choose_params(lo, hi, ACTIVATION_SCHEME)?
                }
            };
            codes.extend(row.iter().map(|&v| quantize(v, p, -128, 127) as i8));
            params.push(p);
        }
        Ok((codes, params))
    }

    /// The int8 × int8 path (see the module docs).
    fn integer(&self, w: &Int8Weight, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let (batch, k) = x.dim();
        let n = w.layout().rows;
        let (qx, px) = self.quantize_input(x)?;
        let mut acc = vec![0i32; batch * n];
        gemm_i8_i32(&qx, w.codes(), batch, n, k, &mut acc)?;
        // y[i, j] = s_x,i · s_w,j · (acc − z_w,j·Σx_i − z_x,i·Σw_j + k·z_x,i·z_w,j) + b_j, with
        // the per-column terms looked up once per column rather than once per output.
        let per_tensor = w.layout().per_tensor;
        let at = |j: usize| if per_tensor { 0 } else { j };
        let col_scale: Vec<f32> = (0..n).map(|j| w.scales()[at(j)]).collect();
        let col_zero: Vec<i64> = (0..n)
            .map(|j| w.zeros().get(at(j)).map_or(0, |&z| i64::from(z)))
            .collect();
        let bias = self.bias.as_slice().unwrap_or(&[]);
        let mut out = vec![0.0f32; batch * n];
        for (i, (yrow, arow)) in out.chunks_mut(n).zip(acc.chunks(n)).enumerate() {
            let sum_x: i64 = qx[i * k..(i + 1) * k].iter().map(|&v| i64::from(v)).sum();
            let (sx, zx) = (px[i].scale, i64::from(px[i].zero));
            for (j, (y, &a)) in yrow.iter_mut().zip(arow).enumerate() {
                let zw = col_zero[j];
                let a = i64::from(a) - zw * sum_x - zx * i64::from(w.row_sums()[j])
                    + k as i64 * zx * zw;
                *y = (sx * col_scale[j]) * a as f32 + bias[j];
            }
        }
        let y =
            Array2::from_shape_vec((batch, n), out).map_err(|e| Error::Format(e.to_string()))?;
        Ok(y)
    }
}

impl LinearLayer for QuantLinear {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let (rows, cols) = self.weight.dim();
        if x.ncols() != cols {
            return Err(Error::shape("QuantLinear::forward", cols, x.ncols()));
        }
        if let (QuantWeight::Int8(w), ActQuant::Dynamic | ActQuant::Static(_)) =
            (&self.weight, self.act)
        {
            return self.integer(w, x);
        }
        if let QuantWeight::F32(w) = &self.weight {
            if x.nrows() != 1 || !w.is_standard_layout() {
                return Ok(x.dot(&w.t()) + &self.bias);
            }
        }
        let batch = x.nrows();
        let x = x.as_standard_layout();
        let mut out = vec![0.0f32; batch * rows];
        self.weight_only(x.as_slice().expect("standard layout"), batch, &mut out)?;
        let mut y =
            Array2::from_shape_vec((batch, rows), out).map_err(|e| Error::Format(e.to_string()))?;
        y += &self.bias;
        Ok(y)
    }

    fn in_features(&self) -> usize {
        self.weight.dim().1
    }

    fn out_features(&self) -> usize {
        self.weight.dim().0
    }

    fn param_count(&self) -> usize {
        let (r, c) = self.weight.dim();
        r * c + self.bias.len()
    }

    /// Weight bytes (values, scales, zero points) plus 4 bytes per f32 bias; static activation
    /// parameters add 8 bytes (scale and zero point).
    fn storage_bytes(&self) -> usize {
        let act = if matches!(self.act, ActQuant::Static(_)) {
            8
        } else {
            0
        };
        self.weight.bytes() + 4 * self.bias.len() + act
    }
}
/// Checks that a half-precision weight of `rows × cols` holds exactly that many values.
fn check_half_len(rows: usize, cols: usize, len: usize) -> Result<()> {
    match rows.checked_mul(cols) {
        Some(n) if n == len && n > 0 => Ok(()),
        _ => Err(Error::shape("QuantLinear half weight", (rows, cols), len)),
    }
}
