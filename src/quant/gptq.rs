//! GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
//! Pre-trained Transformers"): weights quantized column by column, each column's rounding error
//! spread over the not-yet-quantized columns through the inverse Hessian of the layer's
//! reconstruction loss `‖XWᵀ − XŴᵀ‖²`.
//!
//! For a weight `W` (out × in) and calibration inputs `X` (N × in):
//!
//! ```text
//! H = 2XᵀX / N + λI,   λ = damp · mean(diag H)        (in × in; dead inputs: H_ii = 1, W[:, i] = 0)
//! U = chol(H⁻¹), upper (H⁻¹ = UᵀU)
//! for column i (in activation order when act_order: descending diag H):
//!     q = quant(W[:, i]);   e = (W[:, i] − q) / U_ii
//!     W[:, j] −= e · U_ij   for every later column j
//! ```
//!
//! Scales: per tensor and per channel from the original weights; per group from the
//! error-updated weights when a group starts, or (with `act_order`, whose column order crosses
//! groups) from the original weights up front ("static groups"). Computed in f64.

use ndarray::{Array2, ArrayView2};

use super::affine::{choose_params, code_range, dequantize, quantize, QParams};
use super::calibration::Calibration;
use super::codes::{layout_for, IntCodes};
use super::observer::Observer;
use super::ptq::{keep_f32, Ptq, Quantizer};
use super::qlinear::QuantLinear;
use super::scheme::{Granularity, IntScheme, QuantScheme};
use crate::error::{check_finite, Error, Result};
use crate::nn::{LayerFilter, Linear};

/// Widest layer input GPTQ accepts: its Hessian is (in × in) f64 (512 MiB at this width) and
/// its factorisation costs O(in³); wider layers are [`Error::TooLarge`] (quantize them with
/// [`Ptq`]).
pub const MAX_GPTQ_INPUTS: usize = 8192;

/// GPTQ quantizer: integer layers are quantized with error feedback from calibration inputs;
/// f16/bf16 and excluded layers are handled as by [`Ptq`]. Layers must have at most
/// [`MAX_GPTQ_INPUTS`] inputs; weights and calibration inputs must be finite.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::data::Dataset;
/// use shrink::eval::evaluate;
/// use shrink::nn::{Activation, Mlp};
/// use shrink::quant::{Calibration, Gptq, Granularity, QuantScheme, Quantizer};
/// use shrink::train::{Adam, Trainer};
/// use shrink::Forward;
///
/// let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
/// let mut mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
///
/// // Calibrate on the training inputs, then int4 in groups of 32 with error feedback: about
/// // 1.5 ms in release. Measured: 9,640 -> 1,500 bytes, accuracy 0.9638 -> 0.9610.
/// let calibration = Calibration::from_mlp(&mlp, &[train.features()])?;
/// let q = Gptq::new(QuantScheme::int4(Granularity::PerGroup(32))).quantize_mlp(&mlp, Some(&calibration))?;
/// assert!(q.storage_bytes() * 6 < mlp.storage_bytes());
/// assert!(evaluate(&q, &test)?.accuracy >= evaluate(&mlp, &test)?.accuracy - 0.01);
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Gptq {
    ptq: Ptq,
    damp: f32,
    act_order: bool,
}

impl Gptq {
    /// GPTQ with `scheme` for every layer, dampening 0.01, no activation order.
    pub fn new(scheme: QuantScheme) -> Self {
        Gptq {
            ptq: Ptq::new(scheme),
            damp: 0.01,
            act_order: false,
        }
    }

    /// Dampening as a fraction of the mean Hessian diagonal, in (0, 1].
    pub fn damp(mut self, damp: f32) -> Self {
        self.damp = damp;
        self
    }

    /// Quantizes columns in decreasing order of `diag H` (activation order).
    pub fn act_order(mut self, on: bool) -> Self {
        self.act_order = on;
        self
    }

    /// Quantizes only the layers `filter` selects (default: every layer); the others stay
    /// f32, as with [`Ptq::layers`].
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.ptq = self.ptq.layers(filter);
        self
    }

    /// The layer filter.
    pub fn layer_filter(&self) -> &LayerFilter {
        self.ptq.layer_filter()
    }

    /// Keeps layers matching `pattern` in f32: a rule, as [`Ptq::exclude`].
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.ptq = self.ptq.exclude(pattern);
        self
    }

    /// Gives layers matching `pattern` their own scheme.
    pub fn layer_scheme(mut self, pattern: impl Into<String>, scheme: QuantScheme) -> Self {
        self.ptq = self.ptq.layer_scheme(pattern, scheme);
        self
    }

    /// How each scale's range is chosen (default min-max).
    pub fn weight_observer(mut self, o: Observer) -> Self {
        self.ptq = self.ptq.weight_observer(o);
        self
    }

    /// Checks the settings, naming the bad value.
    pub fn check(&self) -> Result<()> {
        if !(self.damp > 0.0 && self.damp <= 1.0) {
            return Err(Error::param(
                "damp",
                format!("must be in (0, 1], got {}", self.damp),
            ));
        }
        self.ptq.check()
    }
}

/// Lower Cholesky factor of a symmetric positive-definite `a`, or `None` if it is not.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                let d = a[[i, i]] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[[i, i]] = d.sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// `H⁻¹` from its lower Cholesky factor: `H⁻¹ = L⁻ᵀL⁻¹`.
fn inverse_from_cholesky(l: &Array2<f64>) -> Array2<f64> {
    let n = l.nrows();
    let mut inv = Array2::<f64>::zeros((n, n));
    for c in 0..n {
        for i in c..n {
            let s: f64 = (c..i).map(|k| l[[i, k]] * inv[[k, c]]).sum();
            let rhs = if i == c { 1.0 } else { 0.0 };
            inv[[i, c]] = (rhs - s) / l[[i, i]];
        }
    }
    inv.t().dot(&inv)
}

/// The upper factor `U` of `H⁻¹ = UᵀU` for the dampened `h`, raising the dampening ×10 up to
/// four times if `h` is not positive definite.
fn inverse_hessian_factor(mut h: Array2<f64>, damp: f64) -> Result<Array2<f64>> {
    let n = h.nrows();
    let mean_diag = (0..n).map(|i| h[[i, i]]).sum::<f64>() / n.max(1) as f64;
    let mut lambda = damp * mean_diag.max(f64::MIN_POSITIVE);
    for _ in 0..5 {
        let mut hd = h.clone();
        for i in 0..n {
            hd[[i, i]] += lambda;
        }
        if let Some(l) = cholesky(&hd) {
            if let Some(u) = cholesky(&inverse_from_cholesky(&l)) {
                return Ok(u.reversed_axes());
            }
        }
        lambda *= 10.0;
    }
    h.fill(0.0);
    Err(Error::param(
        "damp",
        "the Hessian is not positive definite even after raising the dampening 10 000×",
    ))
}

/// GPTQ codes for `w` (out × in) given `gram = XᵀX` over `n` calibration rows.
pub(crate) fn gptq_codes(
    w: ArrayView2<f32>,
    gram: &Array2<f64>,
    n: usize,
    scheme: IntScheme,
    observer: Observer,
    damp: f32,
    act_order: bool,
) -> Result<IntCodes> {
    check_finite(w.iter(), || "weight to quantize".into())?;
    let (rows, cols) = w.dim();
    let layout = layout_for(scheme, rows, cols)?;
    if gram.dim() != (cols, cols) {
        return Err(Error::shape("GPTQ Hessian", (cols, cols), gram.dim()));
    }
    if !gram.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite("GPTQ Hessian (calibration inputs)".into()));
    }
    // Several (in × in) f64 matrices live at once (H, its factor, the inverse) and the
    // factorisation is cubic in `in`: bound the width before allocating.
    if cols > MAX_GPTQ_INPUTS {
        return Err(Error::too_large(
            "GPTQ",
            format!("layer input width {cols} is above the limit of {MAX_GPTQ_INPUTS}"),
        ));
    }
    crate::limits::elements("GPTQ codes", &[rows, cols])?;
    let mut h = gram * (2.0 / n.max(1) as f64);
    let mut w64 = w.mapv(f64::from);
    for i in 0..cols {
        if h[[i, i]] == 0.0 {
            h[[i, i]] = 1.0;
            w64.column_mut(i).fill(0.0);
        }
    }
    let mut perm: Vec<usize> = (0..cols).collect();
    if act_order {
        perm.sort_by(|&a, &b| h[[b, b]].total_cmp(&h[[a, a]]));
    }
    let hp = Array2::from_shape_fn((cols, cols), |(i, j)| h[[perm[i], perm[j]]]);
    let u = inverse_hessian_factor(hp, f64::from(damp))?;
    let (qmin, qmax) = code_range(scheme.bits, scheme.symmetric);
    let range = |vals: Vec<f32>| -> Result<QParams> {
        let (lo, hi) = observer.range(&[&vals], scheme)?;
        choose_params(lo, hi, scheme)
    };
    let mut codes = IntCodes {
        layout,
        scheme,
        codes: vec![0; rows * cols],
        params: vec![
            QParams {
                scale: 1.0,
                zero: 0
            };
            layout.n_scales()
        ],
    };
    let lazy_groups = matches!(scheme.granularity, Granularity::PerGroup(_)) && !act_order;
    // Up-front scales from the (dead-column-zeroed) original weights.
    if !lazy_groups && rows > 0 && cols > 0 {
        let w32 = w64.mapv(|v| v as f32);
        if layout.per_tensor {
            codes.params[0] = range(w32.iter().copied().collect())?;
        } else {
            let g = layout.group;
            for r in 0..rows {
                for gi in 0..layout.groups_per_row() {
                    let vals = (gi * g..(gi + 1) * g).map(|c| w32[[r, c]]).collect();
                    let idx = codes.scale_index(r, gi * g);
                    codes.params[idx] = range(vals)?;
                }
            }
        }
    }
    // Work in permuted column order.
    let mut wp = Array2::from_shape_fn((rows, cols), |(r, i)| w64[[r, perm[i]]]);
    for i in 0..cols {
        let c = perm[i];
        if lazy_groups && c.is_multiple_of(layout.group) {
            for r in 0..rows {
                let vals = (i..i + layout.group).map(|j| wp[[r, j]] as f32).collect();
                let idx = codes.scale_index(r, c);
                codes.params[idx] = range(vals)?;
            }
        }
        let d = u[[i, i]];
        for r in 0..rows {
            let p = codes.params[codes.scale_index(r, c)];
            let x = wp[[r, i]];
            let q = quantize(x as f32, p, qmin, qmax);
            codes.codes[r * cols + c] = q;
            let err = (x - f64::from(dequantize(q, p))) / d;
            for j in i + 1..cols {
                wp[[r, j]] -= err * u[[i, j]];
            }
        }
    }
    Ok(codes)
}

impl Quantizer for Gptq {
    fn quantize_linear(
        &self,
        name: &str,
        layer: &Linear,
        calibration: Option<&Calibration>,
    ) -> Result<QuantLinear> {
        self.check()?;
        crate::train::check_linear_finite(layer, "", name)?;
        let Some(scheme) = self.ptq.scheme_for(name) else {
            return keep_f32(layer);
        };
        let Some(int) = scheme.int_scheme() else {
            return self.ptq.build(name, layer, scheme, None, calibration);
        };
        let cal = calibration.ok_or_else(|| {
            Error::param(
                "calibration",
                format!("GPTQ needs calibration inputs for layer `{name}`"),
            )
        })?;
        if layer.in_features() > MAX_GPTQ_INPUTS {
            return Err(Error::too_large(
                "GPTQ",
                format!(
                    "layer `{name}` has {} inputs, above the limit of {MAX_GPTQ_INPUTS}",
                    layer.in_features()
                ),
            ));
        }
        let inputs = cal.require(name, layer.in_features())?;
        let codes = gptq_codes(
            layer.weight(),
            &inputs.gram()?,
            inputs.rows(),
            int,
            self.ptq.weight_observer,
            self.damp,
            self.act_order,
        )?;
        self.ptq
            .build(name, layer, scheme, Some(codes), calibration)
    }

    fn check_names(&self, names: &[String]) -> Result<()> {
        self.check()?;
        self.ptq.check_rules(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cholesky_inverse_is_an_inverse() {
        let a = array![[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]];
        let l = cholesky(&a).unwrap();
        let inv = inverse_from_cholesky(&l);
        let eye = a.dot(&inv);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((eye[[i, j]] - want).abs() < 1e-12);
            }
        }
        assert!(cholesky(&array![[1.0, 2.0], [2.0, 1.0]]).is_none());
    }
}
