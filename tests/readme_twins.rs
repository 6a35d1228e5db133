//! Tested twins of the README snippets the doctests compile but cannot run (`no_run`: they
//! read a checkpoint from disk). Each runs the same calls on a fixture and keeps the
//! snippet's assertions.

use std::path::PathBuf;

use shrink::nn::Encoder;
use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The README's encoder snippet, on the tiny BERT checkpoint (Hugging Face names, hidden 32,
/// 2 blocks, random weights) instead of `model.safetensors` / `config.json`.
#[test]
fn readme_encoder_snippet_on_the_bert_fixture() -> shrink::Result<()> {
    let encoder = Encoder::load_hf_bert(
        fixture("bert_tiny.safetensors"),
        fixture("bert_tiny_config.json"),
    )?;
    // Token ids inside the fixture's vocabulary; the README's are BERT-base ids.
    let vocab = encoder.config().vocab_size as u32;
    let tokens = [101 % vocab, 7592 % vocab, 2088 % vocab, 102 % vocab];
    let hidden = encoder.forward(&tokens, None, None)?;
    assert_eq!(hidden.dim(), (4, encoder.config().hidden_size));

    let int8 =
        Ptq::new(QuantScheme::int8(Granularity::PerChannel)).quantize_encoder(&encoder, None)?;
    let hidden8 = int8.forward(&tokens, None, None)?;
    assert!(int8.storage_bytes() < encoder.storage_bytes());
    let mut worst = 1.0f32;
    for (a, b) in hidden.rows().into_iter().zip(hidden8.rows()) {
        let cosine = a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
        worst = worst.min(cosine);
        assert!(cosine > 0.999, "cosine {cosine}");
    }
    eprintln!(
        "bert fixture int8: {} -> {} bytes, worst token cosine {worst:.6}",
        encoder.storage_bytes(),
        int8.storage_bytes()
    );
    Ok(())
}
