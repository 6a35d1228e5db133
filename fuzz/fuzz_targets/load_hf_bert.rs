//! Hugging Face BERT loading on arbitrary input: the first two bytes (little-endian) give the
//! length of a config JSON that follows, the rest is a safetensors checkpoint. The config
//! parser and the checkpoint loader must return `Ok` or `Err`, never panic, abort or hang; a
//! loaded encoder runs a short forward to `Err` or finite hidden states.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use shrink::nn::{Encoder, EncoderConfig};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]])).min(data.len() - 2);
    let (config, tensors) = data[2..].split_at(n);
    let config = String::from_utf8_lossy(config);
    let parsed = EncoderConfig::from_hf_bert_json(&config);
    if let Ok(c) = &parsed {
        // Whatever the parser accepts is a configuration an encoder can be checked against.
        assert!(
            c.check().is_ok(),
            "the parser returned a config that fails check()"
        );
    }
    if let Ok(enc) = Encoder::from_hf_bert(tensors, &config) {
        assert!(parsed.is_ok(), "loaded with a config the parser refuses");
        let c = *enc.config();
        let seq = c.max_positions.min(4);
        let ids: Vec<u32> = (0..seq)
            .map(|i| (i * 7 % c.vocab_size.max(1)) as u32)
            .collect();
        if let Ok(h) = enc.forward(&ids, None, None) {
            assert_eq!(h.nrows(), seq);
            common::assert_finite("BERT forward", &h);
        }
    }
});
