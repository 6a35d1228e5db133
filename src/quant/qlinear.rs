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

use std::cell::RefCell;

use half::{bf16, f16};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::affine::{choose_params, QParams};
use super::int4::Int4Weight;
use super::int8::Int8Weight;
use super::scheme::{Granularity, IntScheme};
use crate::error::{check_finite, Error, Result};
use crate::kernels::{float, int8::gemm_i8_i32, quantize as kq, w4a8};
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
    /// Per-row min-max int8 parameters computed at run time; with int4 weights, symmetric int8
    /// per block of 32 columns ([`crate::kernels::w4a8`]).
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
    /// The int8 × int8 constants (`Some` exactly when activations are quantized).
    plan: Option<IntPlan>,
}

impl QuantLinear {
    /// Assembles a layer, checking that the bias matches the weight, the bias is finite, and
    /// that integer activations come with int8 per-tensor/per-channel weights or (dynamic only)
    /// symmetric int4 weights in groups of a multiple of 32 columns.
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
            match (&weight, act) {
                (QuantWeight::Int8(w), _) if w.layout().group == w.layout().cols => {}
                (QuantWeight::Int4(w), ActQuant::Dynamic)
                    if w.zeros().is_empty() && w.layout().group.is_multiple_of(w4a8::ACT_BLOCK) => {
                }
                _ => {
                    return Err(Error::param(
                        "activations",
                        "int8 activations need int8 weights with per-tensor or per-channel \
                         scales, or (dynamic only) symmetric int4 weights in groups of a \
                         multiple of 32 columns",
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
        let plan = match (&weight, act) {
            (QuantWeight::Int8(w), ActQuant::Dynamic | ActQuant::Static(_)) => {
                Some(IntPlan::new(w))
            }
            _ => None,
        };
        Ok(QuantLinear {
            weight,
            bias,
            act,
            plan,
        })
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

    /// Symmetric int4 weights × int8 activations quantized per 32 columns
    /// ([`crate::kernels::w4a8`]): the integer kernel at batch 1; at batch N the f32-activation
    /// int4 GEMM on the dequantized activations, which is the same product up to float
    /// rounding.
    fn int4_int8(&self, w: &Int4Weight, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let (batch, rows) = (x.nrows(), w.layout().rows);
        let x = x.as_standard_layout();
        let xs = x.as_slice().unwrap_or(&[]);
        let mut out = vec![0.0f32; batch * rows];
        if batch == 1 {
            w4a8::gemv_q4_i8(xs, w.packed(), w.scales(), w.layout(), &mut out)?;
        } else {
            let mut xh = Vec::with_capacity(xs.len());
            for row in xs.chunks_exact(w.layout().cols.max(1)) {
                xh.extend(w4a8::quantize_blocks(row)?.dequantize()?);
            }
            w.gemm(&xh, batch, &mut out)?;
        }
        let mut y =
            Array2::from_shape_vec((batch, rows), out).map_err(|e| Error::Format(e.to_string()))?;
        y += &self.bias;
        Ok(y)
    }

    /// Quantizes the input rows to int8: codes, one `QParams` per row.
    pub fn quantize_input(&self, x: ArrayView2<f32>) -> Result<(Vec<i8>, Vec<QParams>)> {
        let mut codes = vec![0i8; x.len()];
        let mut params = Vec::with_capacity(x.nrows());
        self.quantize_rows(x, &mut codes, &mut params)?;
        Ok((codes, params))
    }

    /// [`QuantLinear::quantize_input`] into `codes` (batch × in) and `params` (pushed, one per
    /// row): one pass for the finiteness check and the min-max, one for the codes, both on the
    /// SIMD kernels of [`crate::kernels::quantize`] (bit-identical to [`crate::quant::quantize`]).
    fn quantize_rows(
        &self,
        x: ArrayView2<f32>,
        codes: &mut [i8],
        params: &mut Vec<QParams>,
    ) -> Result<()> {
        let x = x.as_standard_layout();
        let k = x.ncols();
        let data = x.as_slice().unwrap_or(&[]);
        if k == 0 {
            params.extend((0..x.nrows()).map(|_| QParams {
                scale: 1.0,
                zero: 0,
            }));
            return Ok(());
        }
        for (row, out) in data.chunks_exact(k).zip(codes.chunks_exact_mut(k)) {
            let Some((lo, hi)) = kq::range_f32(row) else {
                return Err(Error::NonFinite("QuantLinear input".into()));
            };
            let p = match self.act {
                ActQuant::Static(p) => p,
                _ => choose_params(lo, hi, ACTIVATION_SCHEME)?,
            };
            kq::quantize_i8(row, p.scale, p.zero, out)?;
            params.push(p);
        }
        Ok(())
    }

    /// The int8 × int8 path (see the module docs).
    ///
    /// The codes, parameters and i32 accumulators live in a per-thread scratch reused across
    /// calls (a fresh one if the thread's is already in use), so a batch-1 forward allocates
    /// only its output.
    fn integer(&self, w: &Int8Weight, plan: &IntPlan, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::default();
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => self.integer_in(w, plan, x, &mut s),
            Err(_) => self.integer_in(w, plan, x, &mut Scratch::default()),
        })
    }

    /// [`QuantLinear::integer`] with its buffers.
    fn integer_in(
        &self,
        w: &Int8Weight,
        plan: &IntPlan,
        x: ArrayView2<f32>,
        scratch: &mut Scratch,
    ) -> Result<Array2<f32>> {
        let (batch, k) = x.dim();
        let n = w.layout().rows;
        let Scratch { qx, px, acc } = scratch;
        qx.clear();
        qx.resize(batch * k, 0);
        px.clear();
        self.quantize_rows(x, qx, px)?;
        let mut y = Array2::<f32>::zeros((batch, n));
        let out = y
            .as_slice_mut()
            .ok_or_else(|| Error::Format("QuantLinear output layout".into()))?;
        acc.clear();
        acc.resize(batch * n, 0);
        gemm_i8_i32(qx, w.codes(), batch, n, k, acc)?;
        let bias = self.bias.as_slice().unwrap_or(&[]);
        for (i, (yrow, arow)) in out.chunks_mut(n).zip(acc.chunks(n)).enumerate() {
            let xi = &qx[i * k..(i + 1) * k];
            let (sx, zx) = (px[i].scale, px[i].zero);
            if plan.narrow {
                // |a| ≤ k·255² < 2³¹: the wrapping i32 arithmetic below is exact.
                let sum_x: i32 = xi.iter().map(|&v| i32::from(v)).sum();
                let (sw, zw, corr, b) = (
                    &plan.scale[..n],
                    &plan.zero[..n],
                    &plan.corr[..n],
                    &bias[..n],
                );
                let (yrow, arow) = (&mut yrow[..n], &arow[..n]);
                for j in 0..n {
                    let a = arow[j]
                        .wrapping_sub(zw[j].wrapping_mul(sum_x))
                        .wrapping_add(zx.wrapping_mul(corr[j]));
                    yrow[j] = (sx * sw[j]) * a as f32 + b[j];
                }
            } else {
                let sum_x: i64 = xi.iter().map(|&v| i64::from(v)).sum();
                let zx = i64::from(zx);
                for (j, (y, &a)) in yrow.iter_mut().zip(arow).enumerate() {
                    let zw = i64::from(plan.zero[j]);
                    let a = i64::from(a) - zw * sum_x - zx * i64::from(w.row_sums()[j])
                        + k as i64 * zx * zw;
                    *y = (sx * plan.scale[j]) * a as f32 + bias[j];
                }
            }
        }
        Ok(y)
    }
}

/// Reusable buffers of the int8 × int8 path.
#[derive(Default)]
struct Scratch {
    /// Input codes (batch × in).
    qx: Vec<i8>,
    /// One `QParams` per input row.
    px: Vec<QParams>,
    /// i32 products (batch × out).
    acc: Vec<i32>,
}

/// Per-output constants of the int8 × int8 path, computed once when the layer is built.
#[derive(Debug, Clone, PartialEq)]
struct IntPlan {
    /// `s_w` of each output.
    scale: Vec<f32>,
    /// `z_w` of each output.
    zero: Vec<i32>,
    /// `k·z_w − Σ_k q_w` of each output, wrapping in i32 (used only when `narrow`), so that
    /// `a = acc − z_w·Σq_x + z_x·corr`.
    corr: Vec<i32>,
    /// `k·255² < 2³¹`: every `a` fits in i32 and wrapping i32 arithmetic is exact.
    narrow: bool,
}

impl IntPlan {
    fn new(w: &Int8Weight) -> Self {
        let layout = w.layout();
        let at = |j: usize| if layout.per_tensor { 0 } else { j };
        let k = layout.cols;
        let scale: Vec<f32> = (0..layout.rows).map(|j| w.scales()[at(j)]).collect();
        let zero: Vec<i32> = (0..layout.rows)
            .map(|j| w.zeros().get(at(j)).map_or(0, |&z| i32::from(z)))
            .collect();
        let corr = zero
            .iter()
            .zip(w.row_sums())
            .map(|(&z, &s)| (k as i32).wrapping_mul(z).wrapping_sub(s))
            .collect();
        let narrow = (k as u64) * 255 * 255 < 1 << 31;
        IntPlan {
            scale,
            zero,
            corr,
            narrow,
        }
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
            if let Some(plan) = &self.plan {
                return self.integer(w, plan, x);
            }
        }
        if let (QuantWeight::Int4(w), ActQuant::Dynamic) = (&self.weight, self.act) {
            return self.int4_int8(w, x);
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
