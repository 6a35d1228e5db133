//! Integer codes of a weight matrix before packing: round-to-nearest (RTN) quantization of a
//! (rows × cols) weight under an [`IntScheme`], shared by PTQ, GPTQ and QAT.

use ndarray::{Array2, ArrayView2};

use super::affine::{choose_params, code_range, dequantize, quantize, QParams};
use super::observer::Observer;
use super::scheme::{Granularity, IntScheme};
use crate::error::{check_finite, Error, Result};
use crate::kernels::GroupLayout;

/// Signed integer codes of a weight with one [`QParams`] per scale of its layout.
#[derive(Debug, Clone)]
pub(crate) struct IntCodes {
    pub(crate) layout: GroupLayout,
    pub(crate) scheme: IntScheme,
    /// Row-major codes, each in the scheme's code range.
    pub(crate) codes: Vec<i32>,
    /// One per scale of `layout` (`layout.n_scales()`).
    pub(crate) params: Vec<QParams>,
}

/// The scale layout of a (rows × cols) weight under `scheme`; errors if a group size does not
/// divide `cols`.
pub(crate) fn layout_for(scheme: IntScheme, rows: usize, cols: usize) -> Result<GroupLayout> {
    let (group, per_tensor) = match scheme.granularity {
        Granularity::PerTensor => (cols, true),
        Granularity::PerChannel => (cols, false),
        Granularity::PerGroup(g) => {
            if g == 0 || !cols.is_multiple_of(g) {
                return Err(Error::param(
                    "group",
                    format!("group size {g} does not divide the layer width {cols}"),
                ));
            }
            (g, false)
        }
    };
    let layout = GroupLayout {
        rows,
        cols,
        group,
        per_tensor,
    };
    layout.check()?;
    Ok(layout)
}

impl IntCodes {
    /// Index of the scale of element (r, c).
    pub(crate) fn scale_index(&self, r: usize, c: usize) -> usize {
        if self.layout.per_tensor {
            0
        } else {
            r * self.layout.groups_per_row() + c / self.layout.group
        }
    }

    /// The dequantized weight `s·(q − z)` (for reports and fake quantization, not inference).
    pub(crate) fn dequantize(&self) -> Array2<f32> {
        let (rows, cols) = (self.layout.rows, self.layout.cols);
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            dequantize(
                self.codes[r * cols + c],
                self.params[self.scale_index(r, c)],
            )
        })
    }
}

/// Round-to-nearest codes for `w` (out × in), each scale's range chosen by `observer` over the
/// values it covers. Errors on NaN/Inf weights or a group size not dividing the width.
pub(crate) fn rtn(w: ArrayView2<f32>, scheme: IntScheme, observer: Observer) -> Result<IntCodes> {
    check_finite(w.iter(), || "weight to quantize".into())?;
    let (rows, cols) = w.dim();
    let layout = layout_for(scheme, rows, cols)?;
    let w = w.as_standard_layout();
    let data = w.as_slice().expect("standard layout");
    let (qmin, qmax) = code_range(scheme.bits, scheme.symmetric);
    let mut params = Vec::with_capacity(layout.n_scales());
    if layout.per_tensor {
        let (lo, hi) = observer.range(&[data], scheme)?;
        params.push(choose_params(lo, hi, scheme)?);
    } else if cols > 0 {
        for row in data.chunks_exact(cols) {
            for g in row.chunks_exact(layout.group) {
                let (lo, hi) = observer.range(&[g], scheme)?;
                params.push(choose_params(lo, hi, scheme)?);
            }
        }
    }
    let mut codes = IntCodes {
        layout,
        scheme,
        codes: vec![0; rows * cols],
        params,
    };
    for r in 0..rows {
        for c in 0..cols {
            let p = codes.params[codes.scale_index(r, c)];
            codes.codes[r * cols + c] = quantize(data[r * cols + c], p, qmin, qmax);
        }
    }
    Ok(codes)
}
