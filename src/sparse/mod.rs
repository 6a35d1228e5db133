//! Sparse storage of pruned weights ([`CsrMatrix`]) and the layers that compute on it:
//! [`SparseLinear`] (f32 values) and [`SparseInt8Linear`] (int8 values, per-row scales).
//!
//! A pruned [`Mlp`](crate::nn::Mlp) becomes a real sparse model with
//! `mlp.map_layers(|_, l| SparseLinear::from_linear(l))`: an `Mlp<SparseLinear>` that implements
//! [`Forward`](crate::Forward), stores only the non-zeros and skips the zeros.

mod csr;
mod int8;
mod kernel;
mod linear;

pub use csr::{CsrMatrix, MAX_COLS};
pub use int8::SparseInt8Linear;
pub use linear::SparseLinear;
