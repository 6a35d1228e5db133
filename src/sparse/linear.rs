//! A linear layer with CSR weights: the pruned layer, smaller and faster for real.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use super::kernel::{csr_matmul_t, csr_matvec, packed_matvec};
use super::CsrMatrix;
use crate::error::{check_finite, Error, Result};
use crate::kernels::sparse_packed::{has_packed_kernel, PackedSparse};
use crate::kernels::Isa;
use crate::nn::{checked_forward, Linear, LinearLayer};

/// `y = x·Wᵀ + b` with `W` stored sparse (CSR) and `b` dense. Built from a pruned [`Linear`];
/// only the non-zero weights are stored and touched.
///
/// ```
/// use ndarray::array;
/// use shrink::nn::{Linear, LinearLayer};
/// use shrink::sparse::SparseLinear;
///
/// let dense = Linear::new(array![[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]], array![0.5, 0.0])?;
/// let sparse = SparseLinear::from_linear(&dense)?;
/// assert_eq!(sparse.weights().nnz(), 2);
/// let x = array![[1.0, 1.0, 1.0]];
/// assert_eq!(sparse.forward(x.view())?, dense.forward(x.view())?);
/// # Ok::<(), shrink::Error>(())
/// ```
///
/// On CPUs with AVX-512 the layer also keeps its weights repacked for the batch-1 product
/// ([`PackedSparse`]: 16-row × 32-column steps computed with in-register lookups instead of
/// gathers), about 1.5× the CSR bytes at 90% sparsity; [`SparseLinear::packed_bytes`] reports
/// them. [`LinearLayer::storage_bytes`] counts what is stored and saved: CSR and bias.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseLinear {
    weights: CsrMatrix,
    bias: Array1<f32>,
    /// The batch-1 layout, when this CPU has its kernel.
    packed: Option<PackedSparse>,
}

impl SparseLinear {
    /// The sparse form of a dense layer (its exact zeros dropped).
    pub fn from_linear(layer: &Linear) -> Result<Self> {
        Self::new(
            CsrMatrix::from_dense(layer.weight())?,
            layer.bias().to_owned(),
        )
    }

    /// A layer from CSR weights and a bias of length `weights.rows()`. Errors with
    /// [`Error::Empty`] for a matrix without rows or columns, [`Error::ShapeMismatch`] for a bias
    /// of another length and [`Error::NonFinite`] for a non-finite bias (the matrix checked its
    /// own values).
    pub fn new(weights: CsrMatrix, bias: Array1<f32>) -> Result<Self> {
        if weights.rows() == 0 || weights.cols() == 0 {
            return Err(Error::Empty(format!(
                "SparseLinear weights of shape ({}, {})",
                weights.rows(),
                weights.cols()
            )));
        }
        if bias.len() != weights.rows() {
            return Err(Error::shape(
                "SparseLinear::new bias",
                weights.rows(),
                bias.len(),
            ));
        }
        check_finite(bias.iter(), || "SparseLinear bias".into())?;
        let packed = if has_packed_kernel(Isa::best()) {
            let w = &weights;
            Some(PackedSparse::from_csr(
                w.rows(),
                w.cols(),
                w.row_ptr(),
                w.col_idx(),
                w.values(),
            )?)
        } else {
            None
        };
        Ok(SparseLinear {
            weights,
            bias,
            packed,
        })
    }

    /// Bytes of the batch-1 packed copy of the weights (0 where the CPU lacks its kernel).
    pub fn packed_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedSparse::bytes)
    }

    /// The CSR weights.
    pub fn weights(&self) -> &CsrMatrix {
        &self.weights
    }

    /// The bias.
    pub fn bias(&self) -> ArrayView1<'_, f32> {
        self.bias.view()
    }

    /// The equivalent dense layer.
    pub fn to_linear(&self) -> Result<Linear> {
        Linear::new(self.weights.to_dense()?, self.bias.clone())
    }
}

impl SparseLinear {
    /// The product after the width and size checks, without the finiteness passes.
    fn compute(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        const OP: &str = "SparseLinear::forward";
        let (rows, cols) = (self.weights.rows(), self.weights.cols());
        if x.ncols() != cols {
            return Err(Error::shape(OP, cols, x.ncols()));
        }
        crate::limits::elements(OP, &[x.nrows(), rows])?;
        let w = &self.weights;
        let bias = self.bias.as_slice().unwrap_or(&[]);
        let mut y = Array2::zeros((x.nrows(), rows));
        if x.nrows() == 1 {
            let xs = x.row(0).to_vec();
            if let Some(out) = y.as_slice_mut() {
                match &self.packed {
                    Some(p) => packed_matvec(p, &xs, bias, out),
                    None => csr_matvec(w.row_ptr(), w.col_idx(), w.values(), &xs, bias, out),
                }
            }
        } else if x.nrows() > 1 {
            let xt = x.t().as_standard_layout().into_owned();
            if let (Some(xt), Some(out)) = (xt.as_slice(), y.as_slice_mut()) {
                csr_matmul_t(
                    w.row_ptr(),
                    w.col_idx(),
                    w.values(),
                    xt,
                    x.nrows(),
                    bias,
                    out,
                );
            }
        }
        Ok(y)
    }
}

impl LinearLayer for SparseLinear {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        checked_forward("SparseLinear::forward", self.in_features(), x, |x| {
            self.compute(x)
        })
    }

    fn forward_checked_by_caller(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.compute(x)
    }

    fn in_features(&self) -> usize {
        self.weights.cols()
    }

    fn out_features(&self) -> usize {
        self.weights.rows()
    }

    fn param_count(&self) -> usize {
        self.weights.rows() * self.weights.cols() + self.bias.len()
    }

    fn storage_bytes(&self) -> usize {
        self.weights.storage_bytes() + 4 * self.bias.len()
    }

    fn nonzeros(&self) -> usize {
        self.weights.nnz() + self.bias.iter().filter(|&&b| b != 0.0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn sparse_random(rows: usize, cols: usize, density: f64, rng: &mut StdRng) -> Linear {
        let w = Array2::from_shape_fn((rows, cols), |_| {
            if rng.random_bool(density) {
                rng.random_range(-1.0..1.0f32)
            } else {
                0.0
            }
        });
        let b = Array1::from_shape_fn(rows, |_| rng.random_range(-1.0..1.0f32));
        Linear::new(w, b).unwrap()
    }

    #[test]
    fn matches_the_dense_layer_on_random_and_odd_shapes() {
        let mut rng = StdRng::seed_from_u64(0);
        for &(rows, cols, density) in &[
            (1, 1, 1.0),
            (7, 13, 0.3),
            (33, 65, 0.1),
            (16, 9, 0.0),
            (64, 128, 0.05),
        ] {
            let dense = sparse_random(rows, cols, density, &mut rng);
            let sparse = SparseLinear::from_linear(&dense).unwrap();
            assert_eq!(sparse.to_linear().unwrap(), dense);
            for batch in [1, 2, 5] {
                let x = Array2::from_shape_fn((batch, cols), |_| rng.random_range(-1.0..1.0f32));
                let want = dense.forward(x.view()).unwrap();
                let got = LinearLayer::forward(&sparse, x.view()).unwrap();
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{rows}x{cols} b{batch}: {a} vs {b}"
                    );
                }
            }
            let empty = LinearLayer::forward(&sparse, Array2::zeros((0, cols)).view()).unwrap();
            assert_eq!(empty.dim(), (0, rows));
        }
    }

    #[test]
    fn counts_bytes_exactly_and_rejects_bad_input() {
        let mut rng = StdRng::seed_from_u64(1);
        let dense = sparse_random(10, 20, 0.25, &mut rng);
        let s = SparseLinear::from_linear(&dense).unwrap();
        let nnz = s.weights().nnz();
        assert_eq!(s.storage_bytes(), 6 * nnz + 4 * 11 + 4 * 10);
        // The packed batch-1 copy exists exactly where its kernel runs, and is counted apart.
        let packed = crate::kernels::sparse_packed::has_packed_kernel(Isa::best());
        assert_eq!(s.packed_bytes() > 0, packed);
        assert!(LinearLayer::forward(&s, Array2::zeros((1, 19)).view()).is_err());
        assert!(CsrMatrix::from_parts(2, 3, vec![0, 1], vec![0], vec![1.0]).is_err());
        assert!(CsrMatrix::from_parts(1, 3, vec![0, 1], vec![3], vec![1.0]).is_err());
        assert!(CsrMatrix::from_parts(2, 3, vec![0, 2, 1], vec![0, 1], vec![1.0, 2.0]).is_err());
        assert!(CsrMatrix::from_parts(1, 3, vec![0, 1], vec![0], vec![f32::NAN]).is_err());
        // Repeated or unsorted columns in a row, and a row count that overflows.
        assert!(
            CsrMatrix::from_parts(1, 3, vec![0, 3], vec![0, 0, 0], vec![1.0, 2.0, 4.0]).is_err()
        );
        assert!(CsrMatrix::from_parts(1, 3, vec![0, 2], vec![2, 1], vec![1.0, 2.0]).is_err());
        assert!(CsrMatrix::from_parts(usize::MAX, 3, vec![0], vec![], vec![]).is_err());
    }
}
