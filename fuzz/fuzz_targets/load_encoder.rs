//! The encoder loaders (f32 and quantized files) on arbitrary bytes: `Ok` or `Err`, never a
//! panic, abort or hang; a loaded encoder runs a short forward (token ids in range, with and
//! without token types and a mask) to `Err` or finite hidden states, and refuses an id out of
//! range.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use shrink::nn::{Encoder, LinearLayer};
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
    if let Ok(e) = Encoder::from_safetensors(data) {
        check(&e);
    }
    if let Ok(e) = Encoder::<QuantLinear>::from_quantized_safetensors(data) {
        check(&e);
    }
});
