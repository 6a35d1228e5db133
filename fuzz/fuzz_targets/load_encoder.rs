//! The encoder loaders (f32 and quantized files) on arbitrary bytes: `Ok` or `Err`, never a
//! panic, abort or hang; a loaded encoder runs a short forward (token ids in range, with and
//! without token types and a mask) to `Err` or finite hidden states, and refuses an id out of
//! range. `io::from_bytes_any` must read an encoder exactly when the loader of its kind does,
//! the same one.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use shrink::io::{from_bytes_any, AnyModel, ModelFile};
use shrink::nn::{Encoder, Linear, LinearLayer};
use shrink::quant::QuantLinear;

fn check<L: LinearLayer>(enc: &Encoder<L>) {
    let c = *enc.config();
    let seq = c.max_positions.min(3);
    let ids: Vec<u32> = (0..seq)
        .map(|i| (i * 5 % c.vocab_size.max(1)) as u32)
        .collect();
    let finite = |r: shrink::Result<ndarray::Array2<f32>>| {
        if let Ok(h) = r {
            assert_eq!(h.nrows(), seq);
            common::assert_finite("encoder forward", &h);
        }
    };
    finite(enc.forward(&ids, None, None));
    let types = vec![0u32; seq];
    let mask: Vec<bool> = (0..seq).map(|i| i != 1).collect();
    finite(enc.forward(&ids, Some(&types), Some(&mask)));
    if let Ok(bad) = u32::try_from(c.vocab_size) {
        assert!(
            enc.forward(&[bad], None, None).is_err(),
            "id out of range ran"
        );
    }
    assert!(enc.forward(&[], None, None).is_err(), "empty sequence ran");
}

fuzz_target!(|data: &[u8]| {
    let dense = Encoder::<Linear>::from_bytes(data).ok();
    let quant = Encoder::<QuantLinear>::from_bytes(data).ok();
    dense.iter().for_each(check);
    quant.iter().for_each(check);
    match from_bytes_any(data).ok() {
        Some(AnyModel::Encoder(e)) => assert_eq!(Some(e), dense),
        Some(AnyModel::QuantEncoder(e)) => assert_eq!(Some(e), quant),
        _ => assert!(
            dense.is_none() && quant.is_none(),
            "an encoder loader read a file from_bytes_any did not read as that encoder"
        ),
    }
});
