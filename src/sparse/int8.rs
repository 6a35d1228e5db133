//! A pruned layer with int8 weights: CSR structure, one int8 code per non-zero and one f32
//! scale per output row — pruning and quantization combined, 3 bytes per kept weight.

use ndarray::{Array1, Array2, ArrayView2};

use super::kernel::{csr_i8_matmul_t, csr_i8_matvec};
use super::CsrMatrix;
use crate::error::{check_finite, Error, Result};
use crate::nn::{checked_forward, Linear, LinearLayer};
use crate::quant::{choose_params, code_range, quantize, Granularity, IntScheme};

/// `y = x·Wᵀ + b` with `W` sparse and its non-zeros quantized to int8, symmetric per output
/// row: `q = clamp(round(w/s_r), −128, 127)`, `ŵ = s_r·q`, `s_r = max_j |w_rj| / 127`
/// (Jacob et al. 2018 with z = 0). Weight-only: activations stay f32 and the codes are widened
/// inside the kernel. Storage: `nnz·(1 + 2) + 4·(rows + 1) + 4·rows + 4·rows` bytes (codes,
/// u16 column indices, row pointers, scales, biases).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseInt8Linear {
    rows: usize,
    cols: usize,
    row_ptr: Vec<u32>,
    col_idx: Vec<u16>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    bias: Array1<f32>,
}

impl SparseInt8Linear {
    /// Quantizes the non-zeros of a (pruned) dense layer. A row whose weights are all zero
    /// stores nothing and gets scale 1. Errors as [`CsrMatrix::from_dense`], and with
    /// [`Error::NonFinite`] for a non-finite bias (possible after [`Linear::params_mut`]).
    pub fn from_linear(layer: &Linear) -> Result<Self> {
        let csr = CsrMatrix::from_dense(layer.weight())?;
        check_finite(layer.bias().iter(), || "SparseInt8Linear bias".into())?;
        let scheme = IntScheme {
            bits: 8,
            symmetric: true,
            granularity: Granularity::PerChannel,
        };
        let (qmin, qmax) = code_range(8, true);
        let mut codes = Vec::with_capacity(csr.nnz());
        let mut scales = Vec::with_capacity(csr.rows());
        for r in 0..csr.rows() {
            let span = csr.row_ptr()[r] as usize..csr.row_ptr()[r + 1] as usize;
            let vals = &csr.values()[span];
            let max = vals.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let p = choose_params(-max, max, scheme)?;
            codes.extend(vals.iter().map(|&v| quantize(v, p, qmin, qmax) as i8));
            scales.push(p.scale);
        }
        Ok(SparseInt8Linear {
            rows: csr.rows(),
            cols: csr.cols(),
            row_ptr: csr.row_ptr().to_vec(),
            col_idx: csr.col_idx().to_vec(),
            codes,
            scales,
            bias: layer.bias().to_owned(),
        })
    }

    /// Number of stored weights.
    pub fn nnz(&self) -> usize {
        self.codes.len()
    }

    /// The dequantized dense weight `s_r·q` (for error measurement; inference never builds it),
    /// allocated fallibly: [`Error::TooLarge`] if the memory cannot be had.
    pub fn dequantized_weight(&self) -> Result<Array2<f32>> {
        const OP: &str = "SparseInt8Linear::dequantized_weight";
        let n = crate::limits::elements(OP, &[self.rows, self.cols])?;
        let mut w = Array2::from_shape_vec(
            (self.rows, self.cols),
            crate::limits::try_zeroed::<f32>(OP, n)?,
        )
        .map_err(|e| Error::shape(OP, (self.rows, self.cols), e.to_string()))?;
        for r in 0..self.rows {
            for k in self.row_ptr[r] as usize..self.row_ptr[r + 1] as usize {
                w[[r, usize::from(self.col_idx[k])]] = self.scales[r] * f32::from(self.codes[k]);
            }
        }
        Ok(w)
    }
}

impl SparseInt8Linear {
    /// The product after the width and size checks, without the finiteness passes.
    fn compute(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        const OP: &str = "SparseInt8Linear::forward";
        if x.ncols() != self.cols {
            return Err(Error::shape(OP, self.cols, x.ncols()));
        }
        crate::limits::elements(OP, &[x.nrows(), self.rows])?;
        let bias = self.bias.as_slice().unwrap_or(&[]);
        let mut y = Array2::zeros((x.nrows(), self.rows));
        if x.nrows() == 1 {
            let xs = x.row(0).to_vec();
            if let Some(out) = y.as_slice_mut() {
                let (rp, ci, q, s) = (&self.row_ptr, &self.col_idx, &self.codes, &self.scales);
                csr_i8_matvec(rp, ci, q, s, &xs, bias, out);
            }
        } else if x.nrows() > 1 {
            let xt = x.t().as_standard_layout().into_owned();
            if let (Some(xt), Some(out)) = (xt.as_slice(), y.as_slice_mut()) {
                let (rp, ci, q, s) = (&self.row_ptr, &self.col_idx, &self.codes, &self.scales);
                csr_i8_matmul_t(rp, ci, q, s, xt, x.nrows(), bias, out);
            }
        }
        Ok(y)
    }
}

impl LinearLayer for SparseInt8Linear {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        checked_forward("SparseInt8Linear::forward", self.in_features(), x, |x| {
            self.compute(x)
        })
    }

    fn forward_checked_by_caller(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.compute(x)
    }

    fn in_features(&self) -> usize {
        self.cols
    }

    fn out_features(&self) -> usize {
        self.rows
    }

    fn param_count(&self) -> usize {
        self.rows * self.cols + self.rows
    }

    fn storage_bytes(&self) -> usize {
        3 * self.codes.len() + 4 * self.row_ptr.len() + 4 * self.scales.len() + 4 * self.bias.len()
    }

    fn nonzeros(&self) -> usize {
        self.codes.iter().filter(|&&q| q != 0).count()
            + self.bias.iter().filter(|&&b| b != 0.0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn computes_on_codes_like_the_dequantized_dense_layer() {
        let mut rng = StdRng::seed_from_u64(2);
        for &(rows, cols) in &[(1, 1), (5, 7), (17, 33), (8, 64)] {
            let w = Array2::from_shape_fn((rows, cols), |_| {
                if rng.random_bool(0.3) {
                    rng.random_range(-2.0..2.0f32)
                } else {
                    0.0
                }
            });
            let b = Array1::from_shape_fn(rows, |_| rng.random_range(-1.0..1.0f32));
            let dense = Linear::new(w.clone(), b.clone()).unwrap();
            let q = SparseInt8Linear::from_linear(&dense).unwrap();
            // Round-trip error within half a step per row.
            let deq = q.dequantized_weight().unwrap();
            for r in 0..rows {
                for c in 0..cols {
                    assert!((deq[[r, c]] - w[[r, c]]).abs() <= q.scales[r] / 2.0 + 1e-6);
                }
            }
            let reference = Linear::new(deq, b).unwrap();
            for batch in [1, 3] {
                let x = Array2::from_shape_fn((batch, cols), |_| rng.random_range(-1.0..1.0f32));
                let want = reference.forward(x.view()).unwrap();
                let got = LinearLayer::forward(&q, x.view()).unwrap();
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
                }
            }
            assert_eq!(q.storage_bytes(), 3 * q.nnz() + 4 * (rows + 1) + 8 * rows);
        }
        let q = SparseInt8Linear::from_linear(
            &Linear::new(Array2::zeros((2, 3)), Array1::zeros(2)).unwrap(),
        )
        .unwrap();
        assert_eq!(q.nnz(), 0);
        assert!(LinearLayer::forward(&q, Array2::zeros((1, 4)).view()).is_err());
    }
}
