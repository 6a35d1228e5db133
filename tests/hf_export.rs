//! Export of encoders as Hugging Face BERT checkpoints (`model.safetensors` with BERT's names +
//! `config.json`): the BERT fixture, head- and FFN-pruned and quantized-then-dequantized
//! encoders round-trip through `Encoder::from_hf_bert` / `load_hf_bert`; what BERT cannot
//! express is an error; the file holds exactly BERT's tensor names.
//!
//! Run with `cargo test --release --test hf_export`. The check against Hugging Face itself
//! (`transformers.BertModel.from_pretrained`) is the ignored test `write_dirs_for_transformers`
//! with `scripts/check_hf_export.py`; see that test's doc comment.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use rand::{rngs::StdRng, SeedableRng};
use safetensors::SafeTensors;
use shrink::nn::{Activation, Encoder, EncoderConfig, NamedLinears, NormPlacement};
use shrink::prune::{keep_ffn_channels, keep_heads, FfnChannelPruner, HeadPruner};
use shrink::quant::{Granularity, Ptq, QuantLinear, QuantScheme, Quantizer};
use shrink::Error;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The BERT fixture (post-LN, 2 layers, 4 heads of width 8, FFN 64, exact GELU).
fn bert() -> Encoder {
    Encoder::load_hf_bert(
        fixture("bert_tiny.safetensors"),
        fixture("bert_tiny_config.json"),
    )
    .unwrap()
}

/// A right-padded batch of three rows (9, 6 and 3 real tokens) with both token types.
fn batch() -> (Array2<u32>, Array2<u32>, Array2<u8>) {
    let ids = Array2::from_shape_fn((3, 9), |(b, i)| ((b * 11 + i * 7 + 1) % 60) as u32);
    let types = Array2::from_shape_fn((3, 9), |(_, i)| u32::from(i >= 4));
    let mask = Array2::from_shape_fn((3, 9), |(b, i)| u8::from(i < 9 - 3 * b));
    (ids, types, mask)
}

fn run<L: shrink::nn::LinearLayer>(e: &Encoder<L>) -> Array3<f32> {
    let (ids, types, mask) = batch();
    e.forward_batch(ids.view(), Some(types.view()), Some(mask.view()))
        .unwrap()
}

fn max_diff(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn config_json(json: &str) -> serde_json::Value {
    serde_json::from_str(json).unwrap()
}

/// The tensor names BERT's `BertModel` (without pooler) has for `layers` layers.
fn bert_names(layers: usize) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = [
        "embeddings.word_embeddings.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias",
    ]
    .map(String::from)
    .into();
    for l in 0..layers {
        for module in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
            "attention.output.LayerNorm",
            "intermediate.dense",
            "output.dense",
            "output.LayerNorm",
        ] {
            for p in ["weight", "bias"] {
                names.insert(format!("encoder.layer.{l}.{module}.{p}"));
            }
        }
    }
    names
}

/// A directory of its own under the system temporary directory, emptied.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shrink-hf-export-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn bert_fixture_round_trips_exactly() {
    let encoder = bert();
    let (weights, json) = encoder.to_hf_bert().unwrap();
    let back = Encoder::from_hf_bert(&weights, &json).unwrap();
    assert_eq!(back, encoder);
    assert_eq!(run(&back), run(&encoder));

    // Exactly BERT's names, F32, and the metadata `transformers` checks.
    let st = SafeTensors::deserialize(&weights).unwrap();
    let names: BTreeSet<String> = st.names().into_iter().map(String::from).collect();
    assert_eq!(names, bert_names(2));
    assert!(st
        .tensors()
        .iter()
        .all(|(_, t)| t.dtype() == safetensors::Dtype::F32));
    assert_eq!(
        st.tensor("encoder.layer.1.intermediate.dense.weight")
            .unwrap()
            .shape(),
        [64, 32]
    );
    let (_, meta) = SafeTensors::read_metadata(&weights).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta.len(), 1);
    assert_eq!(meta["format"], "pt");

    // The configuration the fixture was loaded from, field for field.
    let got = config_json(&json);
    let want = config_json(&std::fs::read_to_string(fixture("bert_tiny_config.json")).unwrap());
    for key in [
        "architectures",
        "model_type",
        "hidden_act",
        "hidden_size",
        "num_attention_heads",
        "num_hidden_layers",
        "intermediate_size",
        "layer_norm_eps",
        "vocab_size",
        "max_position_embeddings",
        "type_vocab_size",
        "position_embedding_type",
    ] {
        assert_eq!(got[key], want[key], "{key}");
    }
    assert!(got.get("pruned_heads").is_none());
}

#[test]
fn save_hf_bert_writes_a_directory_load_hf_bert_reads() {
    let encoder = bert();
    let dir = temp_dir("save").join("nested");
    encoder.save_hf_bert(&dir).unwrap();
    let back =
        Encoder::load_hf_bert(dir.join("model.safetensors"), dir.join("config.json")).unwrap();
    assert_eq!(back, encoder);
    // Saving again replaces the files.
    encoder.save_hf_bert(&dir).unwrap();
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        encoder.to_hf_bert().unwrap().0
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn head_pruned_encoders_export_pruned_heads() {
    let encoder = bert();
    let (pruned, report) = HeadPruner::new(0.5).prune(&encoder).unwrap();
    assert_eq!(pruned.block_widths(), [(2, 64), (2, 64)]);
    let (weights, json) = pruned.to_hf_bert().unwrap();
    let config = config_json(&json);
    assert_eq!(config["num_attention_heads"], 4);
    assert_eq!(
        config["pruned_heads"],
        serde_json::json!({"0": [2, 3], "1": [2, 3]})
    );
    let st = SafeTensors::deserialize(&weights).unwrap();
    let names: BTreeSet<String> = st.names().into_iter().map(String::from).collect();
    assert_eq!(names, bert_names(2));
    assert_eq!(
        st.tensor("encoder.layer.0.attention.self.query.weight")
            .unwrap()
            .shape(),
        [16, 32]
    );
    assert_eq!(
        st.tensor("encoder.layer.0.attention.output.dense.weight")
            .unwrap()
            .shape(),
        [32, 16]
    );
    let back = Encoder::from_hf_bert(&weights, &json).unwrap();
    assert_eq!(back, pruned);
    assert_eq!(run(&back), run(&pruned));
    assert!(report.blocks.iter().all(|b| b.kept_heads.len() == 2));

    // Any heads removed, different counts per block, one block unpruned: the indices written
    // are nominal (the last ones), the kept heads' weights are what counts.
    let blocks = vec![
        keep_heads(&encoder.blocks()[0], &[1, 3]).unwrap(),
        keep_heads(&encoder.blocks()[1], &[0, 1, 2, 3]).unwrap(),
    ];
    let mixed = encoder.with_blocks(blocks).unwrap();
    let (weights, json) = mixed.to_hf_bert().unwrap();
    assert_eq!(
        config_json(&json)["pruned_heads"],
        serde_json::json!({"0": [2, 3]})
    );
    let back = Encoder::from_hf_bert(&weights, &json).unwrap();
    assert_eq!(back, mixed);
    assert_eq!(run(&back), run(&mixed));
}

#[test]
fn ffn_pruned_encoders_export_one_intermediate_size() {
    let encoder = bert();
    let (heads, _) = HeadPruner::new(0.25).prune(&encoder).unwrap();
    let (pruned, _) = FfnChannelPruner::new(0.25).prune(&heads).unwrap();
    assert_eq!(pruned.block_widths(), [(3, 48), (3, 48)]);
    let (weights, json) = pruned.to_hf_bert().unwrap();
    assert_eq!(config_json(&json)["intermediate_size"], 48);
    let back = Encoder::from_hf_bert(&weights, &json).unwrap();
    // The configuration's unpruned width becomes the exported one; everything else is equal.
    assert_eq!(back.config().intermediate_size, 48);
    assert_eq!(back.block_widths(), [(3, 48), (3, 48)]);
    assert_eq!(back.blocks(), pruned.blocks());
    assert_eq!(run(&back), run(&pruned));
    assert_eq!(
        back.to_hf_bert().unwrap(),
        (weights, json),
        "re-exporting gives the same files"
    );

    // Blocks of different FFN widths have no BERT form.
    let blocks = vec![
        keep_ffn_channels(&encoder.blocks()[0], &(0..40).collect::<Vec<_>>()).unwrap(),
        encoder.blocks()[1].clone(),
    ];
    let uneven = encoder.with_blocks(blocks).unwrap();
    match uneven.to_hf_bert() {
        Err(Error::InvalidParam { name, reason }) => {
            assert_eq!(name, "intermediate");
            assert!(reason.contains("one intermediate_size"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn quantized_encoders_export_dequantized_weights() {
    let encoder = bert();
    let int8 = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_encoder(&encoder, None)
        .unwrap();
    let (weights, json) = int8.to_hf_bert_dequantized().unwrap();
    let dense = Encoder::from_hf_bert(&weights, &json).unwrap();
    // The exported weights are exactly the dequantized ones.
    dense.visit_linears(&mut |name, l| {
        let mut found = false;
        int8.visit_layers(&mut |n, q: &QuantLinear| {
            if n == name {
                assert_eq!(l.weight(), q.weight().dequantize(), "{name}");
                assert_eq!(l.bias(), q.bias(), "{name}");
                found = true;
            }
        });
        assert!(found, "{name}");
    });
    let diff = max_diff(&run(&dense), &run(&int8));
    assert!(diff < 1e-5, "int8 export vs quantized encoder: {diff}");
    // ... and differ from the f32 model by the quantization error only.
    assert!(max_diff(&run(&dense), &run(&encoder)) > 0.0);

    // Mixed precision on a head-pruned encoder: int4 FFN, one f16 layer.
    let (pruned, _) = HeadPruner::new(0.5).prune(&encoder).unwrap();
    let mixed = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .layer_scheme(
            "blocks.*.ffn.*",
            QuantScheme::int4(Granularity::PerGroup(32)),
        )
        .layer_scheme("blocks.1.attn.o", QuantScheme::f16())
        .quantize_encoder(&pruned, None)
        .unwrap();
    let dir = temp_dir("quant");
    mixed.save_hf_bert_dequantized(&dir).unwrap();
    let dense =
        Encoder::load_hf_bert(dir.join("model.safetensors"), dir.join("config.json")).unwrap();
    assert_eq!(dense.block_widths(), pruned.block_widths());
    let diff = max_diff(&run(&dense), &run(&mixed));
    assert!(diff < 1e-5, "mixed export vs quantized encoder: {diff}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn what_bert_cannot_express_is_an_error() {
    let preln = Encoder::load(fixture("preln_tiny.safetensors")).unwrap();
    assert_eq!(preln.config().placement, NormPlacement::PreLn);
    let dir = temp_dir("preln");
    for result in [preln.to_hf_bert().map(|_| ()), preln.save_hf_bert(&dir)] {
        match result {
            Err(Error::InvalidParam { name, reason }) => {
                assert_eq!(name, "placement");
                assert!(reason.contains("post-LN"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        !dir.exists(),
        "nothing is written for a model that cannot be exported"
    );
    let q = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_encoder(&preln, None)
        .unwrap();
    assert!(matches!(
        q.to_hf_bert_dequantized(),
        Err(Error::InvalidParam {
            name: "placement",
            ..
        })
    ));

    let config = EncoderConfig {
        causal: true,
        ..*bert().config()
    };
    let causal = Encoder::new(config, &mut StdRng::seed_from_u64(3)).unwrap();
    assert!(matches!(
        causal.to_hf_bert(),
        Err(Error::InvalidParam { name: "causal", .. })
    ));
}

#[test]
fn encoders_without_token_types_export_a_zero_row() {
    let config = EncoderConfig {
        vocab_size: 30,
        hidden_size: 16,
        num_heads: 2,
        num_layers: 2,
        intermediate_size: 24,
        max_positions: 12,
        type_vocab_size: 0,
        layer_norm_eps: 1e-5,
        activation: Activation::GeluTanh,
        placement: NormPlacement::PostLn,
        causal: false,
    };
    let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(7)).unwrap();
    let (weights, json) = encoder.to_hf_bert().unwrap();
    let c = config_json(&json);
    assert_eq!(
        (c["type_vocab_size"].clone(), c["hidden_act"].clone()),
        (1.into(), "gelu_new".into())
    );
    assert_eq!(c["layer_norm_eps"], 1e-5);
    let back = Encoder::from_hf_bert(&weights, &json).unwrap();
    assert_eq!(back.config().type_vocab_size, 1);
    assert_eq!(back.config().activation, Activation::GeluTanh);
    assert!(back
        .token_type_embeddings()
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
    let ids = [3u32, 9, 27, 1, 0];
    assert_eq!(
        back.forward(&ids, None, None).unwrap(),
        encoder.forward(&ids, None, None).unwrap()
    );
}

#[test]
fn load_hf_bert_checks_pruned_heads() {
    let encoder = bert();
    let (pruned, _) = HeadPruner::new(0.5).prune(&encoder).unwrap();
    let (weights, json) = pruned.to_hf_bert().unwrap();
    let with = |pruned_heads: serde_json::Value| {
        let mut c = config_json(&json);
        c["pruned_heads"] = pruned_heads;
        c.to_string()
    };
    // Other indices, repeated ones, and split entries of the same counts load the same model.
    for ok in [
        serde_json::json!({"0": [0, 1], "1": [3, 0]}),
        serde_json::json!({"0": [0, 1, 1], "1": [1, 2], "01": []}),
    ] {
        assert_eq!(
            Encoder::from_hf_bert(&weights, &with(ok.clone())).unwrap(),
            pruned,
            "{ok}"
        );
    }
    for bad in [
        serde_json::json!({"2": [0]}),
        serde_json::json!({"x": [0]}),
        serde_json::json!({"0": [4]}),
        serde_json::json!({"0": [0, 1, 2, 3], "1": [2, 3]}),
    ] {
        match Encoder::from_hf_bert(&weights, &with(bad.clone())) {
            Err(Error::InvalidParam { name, .. }) => assert_eq!(name, "pruned_heads", "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // A count that disagrees with the stored shapes, either way.
    for wrong in [
        serde_json::json!({"0": [3], "1": [2, 3]}),
        serde_json::json!({}),
    ] {
        assert!(
            matches!(
                Encoder::from_hf_bert(&weights, &with(wrong.clone())),
                Err(Error::ShapeMismatch { .. })
            ),
            "{wrong}"
        );
    }
    let (full, full_json) = encoder.to_hf_bert().unwrap();
    let mut c = config_json(&full_json);
    c["pruned_heads"] = serde_json::json!({"1": [0]});
    assert!(matches!(
        Encoder::from_hf_bert(&full, &c.to_string()),
        Err(Error::ShapeMismatch { .. })
    ));
}

/// Writes exported encoders and the hidden states this crate computes for them, for
/// `scripts/check_hf_export.py` to compare with Hugging Face's `BertModel`:
///
/// ```text
/// SHRINK_HF_EXPORT_DIR=target/hf_export cargo test --release --test hf_export -- --ignored
/// python3 scripts/check_hf_export.py target/hf_export     # needs torch and transformers
/// ```
///
/// Each subdirectory holds `model.safetensors`, `config.json` and `expected.json` (input ids,
/// token types, attention mask, and `last_hidden_state` of the batch as nested lists).
#[test]
#[ignore = "writes files for scripts/check_hf_export.py (needs Python, torch, transformers)"]
fn write_dirs_for_transformers() {
    let root = std::env::var_os("SHRINK_HF_EXPORT_DIR")
        .map_or_else(|| PathBuf::from("target/hf_export"), PathBuf::from);
    let encoder = bert();
    let (heads, _) = HeadPruner::new(0.5).prune(&encoder).unwrap();
    let (ffn, _) = FfnChannelPruner::new(0.25).prune(&encoder).unwrap();
    let int8 = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_encoder(&ffn, None)
        .unwrap();
    let write = |name: &str, states: Array3<f32>, save: &dyn Fn(&Path) -> shrink::Result<()>| {
        let dir = root.join(name);
        save(&dir).unwrap();
        let (ids, types, mask) = batch();
        let rows = |a: &Array2<u32>| -> Vec<Vec<u32>> {
            a.rows().into_iter().map(|r| r.to_vec()).collect()
        };
        let expected = serde_json::json!({
            "input_ids": rows(&ids),
            "token_type_ids": rows(&types),
            "attention_mask": rows(&mask.mapv(u32::from)),
            "last_hidden_state": states
                .outer_iter()
                .map(|s| s.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        });
        std::fs::write(dir.join("expected.json"), expected.to_string()).unwrap();
        println!("wrote {}", dir.display());
    };
    write("bert_tiny", run(&encoder), &|d| encoder.save_hf_bert(d));
    write("heads_pruned", run(&heads), &|d| heads.save_hf_bert(d));
    write("ffn_pruned", run(&ffn), &|d| ffn.save_hf_bert(d));
    write("ffn_pruned_int8_dequantized", run(&int8), &|d| {
        int8.save_hf_bert_dequantized(d)
    });
}
