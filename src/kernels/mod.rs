//! The hot loops, as free functions over slices, each with a plain scalar implementation that
//! later SIMD variants (issue 6) will sit beside and be tested against.
//!
//! Every matrix is row-major. A weight matrix `W` is (rows = out, cols = in), as
//! [`Linear`](crate::nn::Linear) stores it, and every "GEMM" here computes `Y = X·Ŵᵀ` for a batch
//! `X` of shape (batch, cols), giving `Y` of shape (batch, rows):
//!
//! - [`int8`]: `i8 × i8 → i32` dot products and GEMM (the integer part of integer-arithmetic
//!   inference, Jacob et al. 2018), and int8 weights × f32 activations where each weight is
//!   dequantized `ŵ = s·(q − z)` per element inside the loop.
//! - [`int4`]: int4 weights packed two per byte (low nibble = even column), unpacked inside the
//!   kernel, with one scale (and zero point) per group of columns.
//! - [`float`]: f32, f16 and bf16 weights (the `half` crate) converted to f32 in the dot
//!   product.
//!
//! Scales and zero points are laid out by a [`GroupLayout`]: one per tensor, per row, or per
//! group of `group` consecutive columns of each row.
//!
//! Weight-only kernels at batch 1 fuse dequantization into the dot product; at batch ≥ 2 they
//! dequantize one weight row at a time into a scratch buffer of `cols` floats reused across the
//! batch (never the whole matrix), so results at batch 1 and batch N may differ in the last bits.
//!
//! Every public kernel checks its slice lengths once and returns
//! [`crate::error::Error::ShapeMismatch`] instead of truncating or panicking.

pub mod float;
pub mod int4;
pub mod int8;

use crate::error::{Error, Result};

/// Where the scales of a quantized (rows × cols) weight matrix apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLayout {
    /// Number of rows (output features).
    pub rows: usize,
    /// Number of columns (input features).
    pub cols: usize,
    /// Columns per group; `cols` for per-tensor and per-row scales. Must divide `cols`.
    pub group: usize,
    /// One scale for the whole matrix (then `group == cols`).
    pub per_tensor: bool,
}

impl GroupLayout {
    /// Checks that the group is positive and divides `cols` (and equals it when per-tensor).
    pub fn check(&self) -> Result<()> {
        if self.group == 0 || !self.cols.is_multiple_of(self.group) {
            return Err(Error::param(
                "group",
                format!(
                    "group size {} must be positive and divide the width {}",
                    self.group, self.cols
                ),
            ));
        }
        if self.per_tensor && self.group != self.cols {
            return Err(Error::param(
                "group",
                format!(
                    "a per-tensor layout needs group == cols ({}), got {}",
                    self.cols, self.group
                ),
            ));
        }
        Ok(())
    }

    /// Groups in one row (`cols / group`; 0 for an empty row).
    pub fn groups_per_row(&self) -> usize {
        self.cols.checked_div(self.group).unwrap_or(0)
    }

    /// Number of scales the layout needs: 1 per tensor, otherwise `rows · groups_per_row`.
    pub fn n_scales(&self) -> usize {
        if self.per_tensor {
            1
        } else {
            self.rows * self.groups_per_row()
        }
    }

    /// The range of scale indices for row `r`.
    pub(crate) fn row_scales(&self, r: usize) -> std::ops::Range<usize> {
        if self.per_tensor {
            0..1
        } else {
            let g = self.groups_per_row();
            r * g..(r + 1) * g
        }
    }
}

/// Errors unless `got == want`, naming the operand.
pub(crate) fn check_len(op: &'static str, want: usize, got: usize) -> Result<()> {
    if want == got {
        Ok(())
    } else {
        Err(Error::shape(op, want, got))
    }
}
