//! The int4 weight format: two codes per byte (see [`crate::kernels::int4`]), f16 scales, and
//! one byte per zero point when asymmetric. Exact size:
//! `rows·⌈cols/2⌉ + 2·n_scales (+ n_scales)` bytes; with groups of 32 that is 4.5 bits per
//! weight (symmetric) or 4.75 (asymmetric).

use half::f16;
use ndarray::Array2;

use super::codes::IntCodes;
use crate::error::{Error, Result};
use crate::kernels::int4::{code_at, gemm_q4_f32, pack_int4, packed_row_bytes, SYMMETRIC_ZERO};
use crate::kernels::GroupLayout;

/// A packed int4 weight matrix (rows = out, cols = in), `ŵ = s·(u − z)` with codes
/// `u ∈ [0, 15]` (`z = 8` when symmetric).
#[derive(Debug, Clone, PartialEq)]
pub struct Int4Weight {
    layout: GroupLayout,
    packed: Vec<u8>,
    scales: Vec<f16>,
    zeros: Vec<u8>,
}

impl Int4Weight {
    pub(crate) fn from_codes(c: &IntCodes) -> Result<Self> {
        let shift = if c.scheme.symmetric {
            i32::from(SYMMETRIC_ZERO)
        } else {
            0
        };
        let u = c
            .codes
            .iter()
            .map(|&v| {
                u8::try_from(v + shift)
                    .ok()
                    .filter(|&u| u <= 15)
                    .ok_or_else(|| Error::param("codes", format!("{v} is not an int4 code")))
            })
            .collect::<Result<Vec<_>>>()?;
        let packed = pack_int4(&u, c.layout.rows, c.layout.cols)?;
        let scales = c.params.iter().map(|p| f16::from_f32(p.scale)).collect();
        let zeros = if c.scheme.symmetric {
            Vec::new()
        } else {
            c.params.iter().map(|p| p.zero as u8).collect()
        };
        Int4Weight::from_parts(c.layout, packed, scales, zeros)
    }

    /// Builds the format from stored parts, checking lengths, that scales are finite and
    /// positive and that zero points are ≤ 15; `zeros` is empty for symmetric weights.
    pub fn from_parts(
        layout: GroupLayout,
        packed: Vec<u8>,
        scales: Vec<f16>,
        zeros: Vec<u8>,
    ) -> Result<Self> {
        layout.check()?;
        if layout.rows == 0 || layout.cols == 0 {
            return Err(Error::Empty(format!(
                "int4 weight of shape {} x {}",
                layout.rows, layout.cols
            )));
        }
        crate::kernels::check_len(
            "int4 packed weight",
            layout.rows * packed_row_bytes(layout.cols),
            packed.len(),
        )?;
        crate::kernels::check_len("int4 scales", layout.n_scales(), scales.len())?;
        if !zeros.is_empty() {
            crate::kernels::check_len("int4 zero points", layout.n_scales(), zeros.len())?;
        }
        if let Some(s) = scales.iter().find(|s| !(s.is_finite() && s.to_f32() > 0.0)) {
            return Err(Error::param(
                "scales",
                format!("scale {s} must be finite and > 0"),
            ));
        }
        if let Some(z) = zeros.iter().find(|&&z| z > 15) {
            return Err(Error::param(
                "zeros",
                format!("int4 zero point {z} is above 15"),
            ));
        }
        Ok(Int4Weight {
            layout,
            packed,
            scales,
            zeros,
        })
    }

    /// Where the scales apply.
    pub fn layout(&self) -> GroupLayout {
        self.layout
    }

    /// The packed codes, `⌈cols/2⌉` bytes per row.
    pub fn packed(&self) -> &[u8] {
        &self.packed
    }

    /// The f16 scales.
    pub fn scales(&self) -> &[f16] {
        &self.scales
    }

    /// The zero points (empty when symmetric).
    pub fn zeros(&self) -> &[u8] {
        &self.zeros
    }

    /// Exact stored bytes: packed codes, scales and zero points.
    pub fn bytes(&self) -> usize {
        self.packed.len() + 2 * self.scales.len() + self.zeros.len()
    }

    /// The dequantized weight (for reports; inference never builds it).
    pub fn dequantize(&self) -> Array2<f32> {
        let (rows, cols) = (self.layout.rows, self.layout.cols);
        let stride = packed_row_bytes(cols);
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            let i = if self.layout.per_tensor {
                0
            } else {
                r * self.layout.groups_per_row() + c / self.layout.group
            };
            let z = self.zeros.get(i).copied().unwrap_or(SYMMETRIC_ZERO);
            let u = code_at(&self.packed[r * stride..(r + 1) * stride], c);
            self.scales[i].to_f32() * (f32::from(u) - f32::from(z))
        })
    }

    /// f32 activations × int4 weights: `out = X·Ŵᵀ`.
    pub(crate) fn gemm(&self, x: &[f32], batch: usize, out: &mut [f32]) -> Result<()> {
        gemm_q4_f32(
            x,
            batch,
            &self.packed,
            &self.scales,
            &self.zeros,
            self.layout,
            out,
        )
    }
}
