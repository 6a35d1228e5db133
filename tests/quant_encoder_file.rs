//! Quantized encoders save and load exactly, pruned (narrowed) ones included, and bad files
//! are errors.

use rand::{rngs::StdRng, SeedableRng};
use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
use shrink::prune::HeadPruner;
use shrink::quant::{Granularity, Ptq, QuantLinear, QuantScheme, Quantizer};

fn encoder(placement: NormPlacement) -> Encoder {
    let config = EncoderConfig {
        vocab_size: 40,
        hidden_size: 64,
        num_heads: 4,
        num_layers: 2,
        intermediate_size: 128,
        max_positions: 16,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement,
        causal: false,
    };
    Encoder::new(config, &mut StdRng::seed_from_u64(1)).unwrap()
}

#[test]
fn quantized_encoders_round_trip_exactly() {
    let ids = [3u32, 7, 1, 30, 12];
    for placement in [NormPlacement::PostLn, NormPlacement::PreLn] {
        let f32_model = encoder(placement);
        // Mixed precision: int8 per channel, the FFN in int4 groups of 32, one layer in f16.
        let ptq = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
            .layer_scheme(
                "blocks.*.ffn.*",
                QuantScheme::int4(Granularity::PerGroup(32)),
            )
            .layer_scheme("blocks.1.attn.o", QuantScheme::f16());
        let q = ptq.quantize_encoder(&f32_model, None).unwrap();
        let bytes = q.to_quantized_safetensors().unwrap();
        let loaded = Encoder::<QuantLinear>::from_quantized_safetensors(&bytes).unwrap();
        assert_eq!(loaded, q);
        assert_eq!(
            loaded.forward(&ids, None, None).unwrap(),
            q.forward(&ids, None, None).unwrap()
        );
        // The file is about as small as the model: no f32 copy of the weights is stored.
        assert!(
            bytes.len() < q.storage_bytes() + 16_384,
            "{} vs {}",
            bytes.len(),
            q.storage_bytes()
        );
        // Truncated and mislabelled files are errors.
        for cut in [0, 8, bytes.len() / 2, bytes.len() - 1] {
            assert!(Encoder::<QuantLinear>::from_quantized_safetensors(&bytes[..cut]).is_err());
        }
        assert!(Encoder::<QuantLinear>::from_quantized_safetensors(
            &f32_model.to_safetensors().unwrap()
        )
        .is_err());
        assert!(Encoder::from_safetensors(&bytes).is_err());
    }
}

#[test]
fn pruned_then_quantized_encoders_round_trip() {
    let f32_model = encoder(NormPlacement::PostLn);
    let (narrow, _) = HeadPruner::new(0.5).prune(&f32_model).unwrap();
    let q = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_encoder(&narrow, None)
        .unwrap();
    let loaded =
        Encoder::<QuantLinear>::from_quantized_safetensors(&q.to_quantized_safetensors().unwrap())
            .unwrap();
    assert_eq!(loaded, q);
    assert_eq!(loaded.block_widths(), narrow.block_widths());
}
