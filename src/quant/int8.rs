//! The int8 weight format: one signed byte per weight, f32 scales, and i8 zero points when
//! asymmetric. Exact size: `rows·cols + 4·n_scales (+ n_scales)` bytes.

use ndarray::Array2;

use super::codes::IntCodes;
use crate::error::{Error, Result};
use crate::kernels::GroupLayout;

/// An int8 weight matrix (rows = out, cols = in), `ŵ = s·(q − z)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Weight {
    layout: GroupLayout,
    q: Vec<i8>,
    scales: Vec<f32>,
    zeros: Vec<i8>,
    /// `Σ_k q[r, k]` per row, for the zero-point correction of int8 × int8 products (derived,
    /// not stored in files).
    row_sums: Vec<i32>,
}

impl Int8Weight {
    pub(crate) fn from_codes(c: &IntCodes) -> Result<Self> {
        let q = c
            .codes
            .iter()
            .map(|&v| {
                i8::try_from(v).map_err(|_| Error::param("codes", format!("{v} is not int8")))
            })
            .collect::<Result<Vec<_>>>()?;
        let scales = c.params.iter().map(|p| p.scale).collect();
        let zeros = if c.scheme.symmetric {
            Vec::new()
        } else {
            c.params.iter().map(|p| p.zero as i8).collect()
        };
        Int8Weight::from_parts(c.layout, q, scales, zeros)
    }

    /// Builds the format from stored parts, checking lengths and that scales are finite and
    /// positive; `zeros` is empty for symmetric weights.
    pub fn from_parts(
        layout: GroupLayout,
        q: Vec<i8>,
        scales: Vec<f32>,
        zeros: Vec<i8>,
    ) -> Result<Self> {
        layout.check()?;
        if layout.rows == 0 || layout.cols == 0 {
            return Err(Error::Empty(format!(
                "int8 weight of shape {} x {}",
                layout.rows, layout.cols
            )));
        }
        crate::kernels::check_len("int8 weight", layout.rows * layout.cols, q.len())?;
        crate::kernels::check_len("int8 scales", layout.n_scales(), scales.len())?;
        if !zeros.is_empty() {
            crate::kernels::check_len("int8 zero points", layout.n_scales(), zeros.len())?;
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Error::param(
                "scales",
                format!("scale {s} must be finite and > 0"),
            ));
        }
        let row_sums = if layout.cols == 0 {
            vec![0; layout.rows]
        } else {
            q.chunks_exact(layout.cols)
                .map(|r| r.iter().map(|&v| i32::from(v)).sum())
                .collect()
        };
        Ok(Int8Weight {
            layout,
            q,
            scales,
            zeros,
            row_sums,
        })
    }

    /// Where the scales apply.
    pub fn layout(&self) -> GroupLayout {
        self.layout
    }

    /// The codes, row-major.
    pub fn codes(&self) -> &[i8] {
        &self.q
    }

    /// The scales.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// The zero points (empty when symmetric).
    pub fn zeros(&self) -> &[i8] {
        &self.zeros
    }

    pub(crate) fn row_sums(&self) -> &[i32] {
        &self.row_sums
    }

    /// Exact stored bytes: codes, scales and zero points.
    pub fn bytes(&self) -> usize {
        self.q.len() + 4 * self.scales.len() + self.zeros.len()
    }

    /// Scale index of element (r, c).
    fn index(&self, r: usize, c: usize) -> usize {
        if self.layout.per_tensor {
            0
        } else {
            r * self.layout.groups_per_row() + c / self.layout.group
        }
    }

    /// The dequantized weight (for reports; inference never builds it).
    pub fn dequantize(&self) -> Array2<f32> {
        let cols = self.layout.cols;
        Array2::from_shape_fn((self.layout.rows, cols), |(r, c)| {
            let i = self.index(r, c);
            let z = self.zeros.get(i).map_or(0.0, |&z| f32::from(z));
            self.scales[i] * (f32::from(self.q[r * cols + c]) - z)
        })
    }

    /// f32 activations × int8 weights: `out = X·Ŵᵀ`.
    pub(crate) fn gemm(&self, x: &[f32], batch: usize, out: &mut [f32]) -> Result<()> {
        crate::kernels::int8::gemm_q8_f32(
            x,
            batch,
            &self.q,
            &self.scales,
            &self.zeros,
            self.layout,
            out,
        )
    }
}
