//! Sparse storage of pruned weights ([`CsrMatrix`]) and the layer that computes on it
//! ([`SparseLinear`]). A pruned [`Mlp`](crate::nn::Mlp) becomes a real sparse model with
//! `mlp.map_layers(|_, l| SparseLinear::from_linear(l))`: an `Mlp<SparseLinear>` that
//! implements [`Forward`](crate::Forward), stores only the non-zeros and skips the zeros.

mod csr;
pub mod kernel;
mod linear;

pub use csr::{CsrMatrix, MAX_COLS};
pub use linear::SparseLinear;
