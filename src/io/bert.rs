//! Loading Hugging Face BERT-style encoders (BERT, and checkpoints with its parameter names
//! such as MiniLM or sentence-transformers' BERT models) from `model.safetensors` and
//! `config.json`.
//!
//! Parameter names, with or without a leading `bert.`, and LayerNorms named either
//! `{weight,bias}` or the older `{gamma,beta}`:
//!
//! ```text
//! embeddings.{word,position,token_type}_embeddings.weight     embeddings.LayerNorm.*
//! encoder.layer.N.attention.self.{query,key,value}.*          → blocks.N.attn.{q,k,v}
//! encoder.layer.N.attention.output.dense.*                    → blocks.N.attn.o
//! encoder.layer.N.attention.output.LayerNorm.*                → blocks.N.ln1
//! encoder.layer.N.intermediate.dense.*                        → blocks.N.ffn.in
//! encoder.layer.N.output.dense.*                              → blocks.N.ffn.out
//! encoder.layer.N.output.LayerNorm.*                          → blocks.N.ln2
//! ```
//!
//! Tensors a BERT checkpoint commonly carries that the encoder does not use are accepted and
//! ignored, and only those (see [`UNUSED_HF_TENSORS`]); any other tensor is an error, as is a
//! layer beyond `num_hidden_layers`. BERT is post-LN with an embedding LayerNorm and
//! bidirectional attention.
//!
//! A `config.json` with `"pruned_heads": {"layer": [head indices]}` (Hugging Face's record of
//! head pruning, as written by [`Encoder::to_hf_bert`]) loads with those layers narrowed: layer
//! `l` has `num_attention_heads − |heads_l|` heads, so its query, key and value weights are
//! (that many heads × head width, hidden) and its output projection the transpose. Only the
//! number of heads removed matters for the shapes; the indices are checked (each below
//! `num_attention_heads`, each layer below `num_hidden_layers`, at least one head left).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::encoder_file::{load_encoder_with_widths, BlockWidths, Names};
use super::tensors::{read_file, TensorReader};
use crate::error::{Error, Result};
use crate::nn::{Activation, Encoder, EncoderConfig, NormPlacement};

/// The fields of a Hugging Face BERT `config.json` that define the architecture.
#[derive(Deserialize)]
struct HfBertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    vocab_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
    #[serde(default)]
    position_embedding_type: Option<String>,
}

/// The `pruned_heads` field of a Hugging Face `config.json`: layer index (a string, as JSON
/// object keys are) → indices of the heads pruned away.
#[derive(Deserialize)]
struct HfPrunedHeads {
    #[serde(default)]
    pruned_heads: BTreeMap<String, Vec<usize>>,
}

/// The number of heads `pruned_heads` in `config_json` removes from each layer that loses any,
/// by layer index. Errors with [`Error::InvalidParam`] (`"pruned_heads"`) for a layer key that
/// is not an index below `num_layers`, a head index not below `num_heads`, or a layer left
/// without heads. Sized by the JSON, not by `num_layers` (which is bounded by the file later).
fn pruned_counts(config: &EncoderConfig, config_json: &str) -> Result<BTreeMap<usize, usize>> {
    let pruned: HfPrunedHeads =
        serde_json::from_str(config_json).map_err(|e| Error::parse("bad BERT config.json", e))?;
    let bad = |msg: String| Error::param("pruned_heads", msg);
    let mut removed: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (key, heads) in &pruned.pruned_heads {
        let layer = key
            .parse::<usize>()
            .ok()
            .filter(|&l| l < config.num_layers)
            .ok_or_else(|| {
                bad(format!(
                    "layer {key:?} is not a layer index below num_hidden_layers {}",
                    config.num_layers
                ))
            })?;
        let set = removed.entry(layer).or_default();
        for &h in heads {
            if h >= config.num_heads {
                return Err(bad(format!(
                    "layer {layer}: head {h} is out of range for num_attention_heads {}",
                    config.num_heads
                )));
            }
            set.insert(h);
        }
        if set.len() == config.num_heads {
            return Err(bad(format!("layer {layer}: every head is pruned")));
        }
    }
    Ok(removed
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(layer, set)| (layer, set.len()))
        .collect())
}

/// Per-block widths for `config` with `removed[l]` heads taken from layer `l`.
fn pruned_widths(config: &EncoderConfig, removed: &BTreeMap<usize, usize>) -> Vec<BlockWidths> {
    (0..config.num_layers)
        .map(|l| BlockWidths {
            heads: config.num_heads - removed.get(&l).copied().unwrap_or(0),
            intermediate: config.intermediate_size,
        })
        .collect()
}

fn default_type_vocab() -> usize {
    2
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

impl EncoderConfig {
    /// The configuration of a Hugging Face BERT model from the text of its `config.json`:
    /// post-LN, bidirectional, with the sizes, `layer_norm_eps` and `hidden_act` given there.
    /// Errors with [`Error::Parse`] on invalid JSON or missing fields and with
    /// [`Error::InvalidParam`] on unsupported or invalid values. Sizes are bounded against a
    /// checkpoint's length only when one is loaded ([`Encoder::from_hf_bert`]).
    pub fn from_hf_bert_json(config_json: &str) -> Result<EncoderConfig> {
        let hf: HfBertConfig = serde_json::from_str(config_json)
            .map_err(|e| Error::parse("bad BERT config.json", e))?;
        if let Some(kind) = hf.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return Err(Error::param(
                    "position_embedding_type",
                    format!("only \"absolute\" position embeddings are supported, got {kind:?}"),
                ));
            }
        }
        let activation = Activation::from_name(&hf.hidden_act).ok_or_else(|| {
            Error::param(
                "hidden_act",
                format!("unsupported activation {:?}", hf.hidden_act),
            )
        })?;
        let eps = hf.layer_norm_eps as f32;
        if !(eps.is_finite() && eps > 0.0) {
            return Err(Error::param(
                "layer_norm_eps",
                format!(
                    "must be positive and finite in f32, got {}",
                    hf.layer_norm_eps
                ),
            ));
        }
        let config = EncoderConfig {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            num_heads: hf.num_attention_heads,
            num_layers: hf.num_hidden_layers,
            intermediate_size: hf.intermediate_size,
            max_positions: hf.max_position_embeddings,
            type_vocab_size: hf.type_vocab_size,
            layer_norm_eps: eps,
            activation,
            placement: NormPlacement::PostLn,
            causal: false,
        };
        config.check()?;
        Ok(config)
    }
}

/// Tensors of Hugging Face BERT checkpoints that [`Encoder::from_hf_bert`] accepts and ignores,
/// as (name or, ending in `.`, name prefix), matched with or without a leading `bert.`: the
/// position-id and token-type-id buffers, the pooler, the pre-training heads (masked-LM
/// `cls.predictions.*` and next-sentence `cls.seq_relationship.*`), and the task heads of
/// `BertFor{Sequence,Token,MultipleChoice}Classification` (`classifier.*`) and
/// `BertForQuestionAnswering` (`qa_outputs.*`).
const UNUSED_HF_TENSORS: [&str; 7] = [
    "embeddings.position_ids",
    "embeddings.token_type_ids",
    "pooler.dense.",
    "cls.predictions.",
    "cls.seq_relationship.",
    "classifier.",
    "qa_outputs.",
];

/// Whether `name` is one of [`UNUSED_HF_TENSORS`].
fn unused_hf_tensor(name: &str) -> bool {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    UNUSED_HF_TENSORS.iter().any(|&u| {
        if u.ends_with('.') {
            name.starts_with(u) && name.len() > u.len()
        } else {
            name == u
        }
    })
}

/// The index of the encoder layer `name` belongs to (`[bert.]encoder.layer.N.…`), if any.
fn hf_layer_index(name: &str) -> Option<&str> {
    let name = name.strip_prefix("bert.").unwrap_or(name);
    name.strip_prefix("encoder.layer.")?.split('.').next()
}

/// The Hugging Face names (without prefix) of one of this crate's encoder tensor names; two
/// candidates for LayerNorm parameters (`weight`/`gamma`, `bias`/`beta`).
pub(super) fn hf_names(name: &str) -> Vec<String> {
    let table = match name {
        "embeddings.word" => Some("word"),
        "embeddings.position" => Some("position"),
        "embeddings.token_type" => Some("token_type"),
        _ => None,
    };
    if let Some(table) = table {
        return vec![format!("embeddings.{table}_embeddings.weight")];
    }
    let (module, param) = name.rsplit_once('.').unwrap_or((name, ""));
    let module_hf = match module.split('.').collect::<Vec<_>>().as_slice() {
        ["embeddings", "norm"] => "embeddings.LayerNorm".to_string(),
        ["blocks", i, "attn", p] => {
            let part = match *p {
                "q" => "self.query",
                "k" => "self.key",
                "v" => "self.value",
                _ => "output.dense",
            };
            format!("encoder.layer.{i}.attention.{part}")
        }
        ["blocks", i, "ln1"] => format!("encoder.layer.{i}.attention.output.LayerNorm"),
        ["blocks", i, "ffn", "in"] => format!("encoder.layer.{i}.intermediate.dense"),
        ["blocks", i, "ffn", "out"] => format!("encoder.layer.{i}.output.dense"),
        ["blocks", i, "ln2"] => format!("encoder.layer.{i}.output.LayerNorm"),
        _ => module.to_string(),
    };
    let mut names = vec![format!("{module_hf}.{param}")];
    if module_hf.ends_with("LayerNorm") {
        let old = if param == "weight" { "gamma" } else { "beta" };
        names.push(format!("{module_hf}.{old}"));
    }
    names
}

impl Encoder {
    /// Loads a Hugging Face BERT-style encoder from the bytes of its `model.safetensors` (F32,
    /// F16 or BF16) and the text of its `config.json`.
    ///
    /// Errors: [`Error::Parse`] for a malformed file or config, [`Error::InvalidParam`] for an
    /// unsupported configuration, [`Error::TooLarge`] for a configuration whose sizes the
    /// file cannot hold or that exceed [`crate::limits`], [`Error::MissingTensor`] naming the
    /// first absent tensor, [`Error::ShapeMismatch`] for a tensor of the wrong shape,
    /// [`Error::NonFinite`] for NaN or infinite weights, and [`Error::Format`] naming the
    /// offending tensor for a value beyond [`crate::io::MAX_MAGNITUDE`], a layer beyond
    /// `num_hidden_layers` or a token-type table with `type_vocab_size = 0`, and
    /// [`Error::UnexpectedTensor`] naming any other tensor the encoder does not use.
    ///
    /// Lenient only where real checkpoints need it: parameter names with or without a leading
    /// `bert.` (one or the other, not both), LayerNorm parameters named `weight`/`bias` or
    /// `gamma`/`beta` (one or the other), and these tensors, which are ignored: the buffers
    /// `embeddings.position_ids` and `embeddings.token_type_ids`, the pooler `pooler.dense.*`,
    /// the pre-training heads `cls.predictions.*` and `cls.seq_relationship.*`, and the task
    /// heads `classifier.*` and `qa_outputs.*`.
    ///
    /// Pruned heads, `"pruned_heads": {"layer": [head indices]}` in `config.json` (as Hugging
    /// Face records head pruning and [`Encoder::to_hf_bert`] writes it), give narrowed blocks:
    /// layer `l` has `num_attention_heads − |heads_l|` heads, and its query, key, value and
    /// output tensors must have those pruned shapes. Only the number of heads removed matters;
    /// a layer index not below `num_hidden_layers`, a head index not below
    /// `num_attention_heads` or a layer left without heads is [`Error::InvalidParam`]
    /// (`"pruned_heads"`).
    pub fn from_hf_bert(safetensors_bytes: &[u8], config_json: &str) -> Result<Encoder> {
        let config = EncoderConfig::from_hf_bert_json(config_json)?;
        let removed = pruned_counts(&config, config_json)?;
        let reader = TensorReader::new(safetensors_bytes)?;
        for name in reader.names() {
            let Some(index) = hf_layer_index(&name) else {
                continue;
            };
            if index.parse::<usize>().is_ok_and(|i| i >= config.num_layers) {
                return Err(Error::Format(format!(
                    "the file holds `{name}`, a layer beyond the {} of num_hidden_layers in \
                     config.json",
                    config.num_layers
                )));
            }
        }
        let prefix = if !reader.has("embeddings.word_embeddings.weight")
            && reader.has("bert.embeddings.word_embeddings.weight")
        {
            "bert."
        } else {
            ""
        };
        let candidates = |name: &str| {
            hf_names(name)
                .into_iter()
                .map(|n| format!("{prefix}{n}"))
                .collect()
        };
        // Per-block widths are built only once the layer count is known to be no more than
        // the file's tensors; a larger count is refused by the loader's own check
        // (`TooLarge`) before anything is sized by it.
        let widths = (!removed.is_empty() && config.num_layers <= reader.names().len())
            .then(|| pruned_widths(&config, &removed));
        let encoder =
            load_encoder_with_widths(config, widths.as_deref(), &Names::new(&reader, &candidates))?;
        reader.reject_unread(unused_hf_tensor)?;
        Ok(encoder)
    }

    /// Loads a Hugging Face BERT-style encoder from a `model.safetensors` file and its
    /// `config.json`; see [`Encoder::from_hf_bert`].
    pub fn load_hf_bert(
        model_path: impl AsRef<Path>,
        config_path: impl AsRef<Path>,
    ) -> Result<Encoder> {
        let config = std::fs::read_to_string(config_path)?;
        Encoder::from_hf_bert(&read_file(model_path.as_ref())?, &config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_names_to_hugging_face() {
        assert_eq!(
            hf_names("embeddings.word"),
            ["embeddings.word_embeddings.weight"]
        );
        assert_eq!(
            hf_names("blocks.3.attn.o.bias"),
            ["encoder.layer.3.attention.output.dense.bias"]
        );
        assert_eq!(
            hf_names("blocks.0.ln2.weight"),
            [
                "encoder.layer.0.output.LayerNorm.weight",
                "encoder.layer.0.output.LayerNorm.gamma"
            ]
        );
        assert_eq!(
            hf_names("embeddings.norm.bias"),
            ["embeddings.LayerNorm.bias", "embeddings.LayerNorm.beta"]
        );
    }

    #[test]
    fn lists_the_unused_tensors_it_accepts() {
        for name in [
            "embeddings.position_ids",
            "bert.embeddings.position_ids",
            "bert.pooler.dense.weight",
            "cls.predictions.transform.LayerNorm.gamma",
            "cls.seq_relationship.bias",
            "classifier.weight",
            "qa_outputs.bias",
        ] {
            assert!(unused_hf_tensor(name), "{name}");
        }
        for name in [
            "pooler.dense.",
            "cls.other",
            "encoder.layer.0.attention.self.query.weight",
            "embeddings.position_ids.x",
            "lm_head.weight",
        ] {
            assert!(!unused_hf_tensor(name), "{name}");
        }
        assert_eq!(
            hf_layer_index("bert.encoder.layer.12.output.dense.bias"),
            Some("12")
        );
        assert_eq!(hf_layer_index("embeddings.LayerNorm.weight"), None);
    }

    #[test]
    fn rejects_bad_configs() {
        let base = r#"{"hidden_size": 8, "num_hidden_layers": 1, "intermediate_size": 16,
            "vocab_size": 10, "max_position_embeddings": 4"#;
        let heads = r#", "num_attention_heads": 2"#;
        assert!(EncoderConfig::from_hf_bert_json(&format!("{base}{heads}}}")).is_ok());
        for (extra, want) in [
            (format!(r#"{heads}, "hidden_act": "swish""#), "hidden_act"),
            (
                format!(r#"{heads}, "position_embedding_type": "relative_key""#),
                "position_embedding_type",
            ),
            (format!(r#"{heads}, "layer_norm_eps": 0"#), "layer_norm_eps"),
            (r#", "num_attention_heads": 3"#.to_string(), "heads"),
        ] {
            let json = format!("{base}{extra}}}");
            match EncoderConfig::from_hf_bert_json(&json) {
                Err(Error::InvalidParam { name, .. }) => assert_eq!(name, want, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(matches!(
            EncoderConfig::from_hf_bert_json("{\"hidden_size\": 8"),
            Err(Error::Format(_) | Error::Parse { .. })
        ));
    }
}
