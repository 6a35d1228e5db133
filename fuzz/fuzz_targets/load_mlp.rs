//! Every MLP loader on arbitrary bytes: the dense, sparse (CSR) and quantized files. A load
//! must be `Ok` or `Err`, never a panic, abort or hang; a loaded model must run a forward on a
//! small finite input to `Err` or a finite output, and refuse an input of the wrong width; and
//! `io::from_bytes_any` must read an MLP exactly when the loader of its kind does, the same one.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use ndarray::Array2;
use shrink::io::{from_bytes_any, AnyModel, ModelFile};
use shrink::nn::{Forward, Linear, LinearLayer, Mlp};
use shrink::quant::QuantLinear;
use shrink::sparse::SparseLinear;

/// Widest input the harness builds for a forward (a sparse file can declare wide layers with
/// few stored values; wider models are only checked to refuse a wrong width).
const MAX_WIDTH: usize = 1 << 14;

fn check<L: LinearLayer>(mlp: &Mlp<L>) {
    let sizes = mlp.sizes();
    let (Some(&width), Some(&out)) = (sizes.first(), sizes.last()) else {
        return;
    };
    if width <= MAX_WIDTH {
        let x = Array2::from_shape_fn((2, width), |(i, k)| {
            ((i * 7 + k * 3) % 11) as f32 * 0.25 - 1.0
        });
        if let Ok(y) = mlp.forward(x.view()) {
            assert_eq!(y.nrows(), 2);
            assert_eq!(y.ncols(), out);
            common::assert_finite("MLP forward", &y);
        }
    }
    let wrong = Array2::<f32>::zeros((1, width.wrapping_add(1) % (MAX_WIDTH + 1)));
    if wrong.ncols() != width {
        assert!(mlp.forward(wrong.view()).is_err(), "a wrong width ran");
    }
}

fuzz_target!(|data: &[u8]| {
    let dense = Mlp::<Linear>::from_bytes(data).ok();
    let sparse = Mlp::<SparseLinear>::from_bytes(data).ok();
    let quant = Mlp::<QuantLinear>::from_bytes(data).ok();
    dense.iter().for_each(check);
    sparse.iter().for_each(check);
    quant.iter().for_each(check);
    match from_bytes_any(data).ok() {
        Some(AnyModel::Mlp(m)) => assert_eq!(Some(m), dense),
        Some(AnyModel::SparseMlp(m)) => assert_eq!(Some(m), sparse),
        Some(AnyModel::QuantMlp(m)) => assert_eq!(Some(m), quant),
        _ => assert!(
            dense.is_none() && sparse.is_none() && quant.is_none(),
            "an MLP loader read a file from_bytes_any did not read as that MLP"
        ),
    }
});
