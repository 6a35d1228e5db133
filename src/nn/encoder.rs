//! A BERT-style (or GPT-2-style) transformer encoder over token ids, with mean pooling.
//!
//! For a sequence of `seq` token ids `t`, token types `τ` (0 when absent) and positions
//! `0..seq`:
//!
//! ```text
//! e = E_word[t] + E_pos[0..seq] (+ E_type[τ])                      (seq, hidden)
//! h₀ = LN_emb(e)          post-LN only (BERT); pre-LN uses e as is
//! hₗ = blockₗ(hₗ₋₁, mask, causal)   for l = 1..num_layers
//! y = LN_final(h_L)       pre-LN only (GPT-2's ln_f); post-LN uses h_L as is
//! pooled = Σ_{i real} yᵢ / #real                                    (hidden)
//! ```
//!
//! [`EncoderConfig`] describes the unpruned shape: every block of a new or loaded-from-Hugging-
//! Face encoder has `num_heads` heads of width `hidden_size / num_heads` and an FFN of
//! `intermediate_size` channels. Structured pruning ([`HeadPruner`](crate::prune::HeadPruner),
//! [`FfnChannelPruner`](crate::prune::FfnChannelPruner)) leaves blocks that differ from one
//! another: block `l` keeps `heads_l ≤ num_heads` heads of the same width and
//! `intermediate_l ≤ intermediate_size` channels ([`Encoder::block_widths`]). The configuration
//! is not changed by pruning; the per-block widths live in the blocks, and the file format
//! stores them next to the configuration (see `io/encoder_file.rs`).

use ndarray::{s, Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::{ensure_finite, Forward, TransformerBlock};
use super::{Activation, BlockConfig, LayerNorm, Linear, LinearLayer, NamedLinears, NormPlacement};
use crate::error::{Error, Result};
use crate::limits;

/// Everything that defines an [`Encoder`]'s shape and behaviour — its unpruned shape: after
/// head or FFN-channel pruning a block may have fewer heads (of the same width) and fewer FFN
/// channels than configured here; see [`Encoder::block_widths`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EncoderConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Attention heads per block; must divide `hidden_size`.
    pub num_heads: usize,
    /// Number of transformer blocks.
    pub num_layers: usize,
    /// Feed-forward inner width.
    pub intermediate_size: usize,
    /// Longest sequence (rows of the position embedding).
    pub max_positions: usize,
    /// Number of token types (segments); 0 for no token-type embedding.
    pub type_vocab_size: usize,
    /// LayerNorm `ε`.
    pub layer_norm_eps: f32,
    /// Feed-forward activation.
    pub activation: Activation,
    /// LayerNorm arrangement; also decides the embedding LayerNorm (post-LN) or the final
    /// LayerNorm (pre-LN).
    pub placement: NormPlacement,
    /// Whether attention is causal (each token sees only itself and earlier tokens).
    pub causal: bool,
}

impl EncoderConfig {
    /// Checks every value, naming the first bad one: [`Error::InvalidParam`] for a zero size
    /// or a bad block value ([`BlockConfig::check`]), [`Error::TooLarge`] if a table or the
    /// whole model ([`EncoderConfig::param_count`]) exceeds the limits of [`crate::limits`].
    pub fn check(&self) -> Result<()> {
        self.check_values()?;
        self.param_count().map(|_| ())
    }

    /// Number of parameters of an unpruned encoder of this configuration (embedding tables,
    /// LayerNorms and blocks), or [`Error::TooLarge`] if a table exceeds
    /// [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS) or the total exceeds
    /// [`MAX_PARAMS`](crate::limits::MAX_PARAMS) (or overflows `usize`).
    pub fn param_count(&self) -> Result<usize> {
        const OP: &str = "EncoderConfig";
        let h = self.hidden_size;
        let block = self.block_config().param_count()?;
        let blocks = limits::product(OP, &[block, self.num_layers])?;
        let parts = [
            limits::elements(OP, &[self.vocab_size, h])?,
            limits::elements(OP, &[self.max_positions, h])?,
            limits::elements(OP, &[self.type_vocab_size, h])?,
            limits::elements(OP, &[2, h])?,
        ];
        parts
            .into_iter()
            .try_fold(blocks, |acc, n| limits::add_params(OP, acc, n))
    }

    /// The value checks of [`EncoderConfig::check`] without the size limits.
    fn check_values(&self) -> Result<()> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("num_layers", self.num_layers),
            ("max_positions", self.max_positions),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::param(name, "must be positive, got 0"));
            }
        }
        self.block_config().check_values()
    }

    /// The configuration shared by every block.
    pub fn block_config(&self) -> BlockConfig {
        BlockConfig {
            hidden: self.hidden_size,
            heads: self.num_heads,
            intermediate: self.intermediate_size,
            activation: self.activation,
            placement: self.placement,
            layer_norm_eps: self.layer_norm_eps,
        }
    }
}

/// A transformer encoder: token, position and optional token-type embeddings, an embedding
/// LayerNorm (post-LN), a stack of [`TransformerBlock`]s and a final LayerNorm (pre-LN).
///
/// Block `i`'s linear layers are named `"blocks.{i}.attn.q"` … `"blocks.{i}.ffn.out"` for
/// [`NamedLinears`].
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
///
/// let config = EncoderConfig {
///     vocab_size: 50, hidden_size: 16, num_heads: 2, num_layers: 2, intermediate_size: 32,
///     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
///     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
/// };
/// let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(0))?;
/// let states = encoder.forward(&[1, 7, 3], None, None)?;
/// assert_eq!(states.dim(), (3, 16));
/// # Ok::<(), shrink::Error>(())
/// ```
///
/// Generic over the linear-layer type as [`Mlp`](super::Mlp) is: `Encoder`
/// (= `Encoder<Linear>`) is the dense model; a compressed encoder (for example
/// `Encoder<QuantLinear>`) is built with [`Encoder::map_linears`] and runs the same forward code
/// on its packed layers. Embeddings and LayerNorms stay f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoder<L = Linear> {
    config: EncoderConfig,
    word: Array2<f32>,
    position: Array2<f32>,
    token_type: Option<Array2<f32>>,
    embedding_norm: Option<LayerNorm>,
    blocks: Vec<TransformerBlock<L>>,
    final_norm: Option<LayerNorm>,
}

/// The parameters of an [`Encoder`] other than its blocks, as stored in files.
pub(crate) struct Embeddings {
    pub(crate) word: Array2<f32>,
    pub(crate) position: Array2<f32>,
    pub(crate) token_type: Option<Array2<f32>>,
    pub(crate) embedding_norm: Option<LayerNorm>,
    pub(crate) final_norm: Option<LayerNorm>,
}

impl Encoder {
    /// A freshly initialised encoder: embeddings from N(0, 0.02²) as BERT, blocks as
    /// [`TransformerBlock::new`], LayerNorms with `γ = 1`, `β = 0`. Errors as
    /// [`EncoderConfig::check`]: a size beyond the limits is [`Error::TooLarge`], found before
    /// anything is allocated.
    pub fn new(config: EncoderConfig, rng: &mut impl Rng) -> Result<Self> {
        config.check()?;
        let normal = Normal::new(0.0f32, 0.02)
            .map_err(|e| Error::param("init", format!("normal distribution: {e}")))?;
        let h = config.hidden_size;
        // Row-major draws, in the order `from_shape_fn` drew them, into fallible allocations
        // (the sizes are bounded by `config.check()` above).
        let mut table = |rows: usize| -> Result<Array2<f32>> {
            const OP: &str = "Encoder::new";
            let n = limits::elements(OP, &[rows, h])?;
            let mut v = limits::try_zeroed::<f32>(OP, n)?;
            v.iter_mut().for_each(|x| *x = normal.sample(rng));
            Array2::from_shape_vec((rows, h), v)
                .map_err(|e| Error::shape(OP, (rows, h), e.to_string()))
        };
        let word = table(config.vocab_size)?;
        let position = table(config.max_positions)?;
        let token_type = if config.type_vocab_size > 0 {
            Some(table(config.type_vocab_size)?)
        } else {
            None
        };
        let norm = || LayerNorm::identity(h, config.layer_norm_eps);
        let (embedding_norm, final_norm) = match config.placement {
            NormPlacement::PostLn => (Some(norm()?), None),
            NormPlacement::PreLn => (None, Some(norm()?)),
        };
        let block_config = config.block_config();
        let blocks = (0..config.num_layers)
            .map(|_| TransformerBlock::new(&block_config, rng))
            .collect::<Result<Vec<_>>>()?;
        let parts = Embeddings {
            word,
            position,
            token_type,
            embedding_norm,
            final_norm,
        };
        Encoder::from_parts(config, parts, blocks)
    }

    /// Mean of the hidden states (batch, seq, hidden) over the real tokens of each row
    /// (`attention_mask` non-zero; every token when `None`), giving (batch, hidden). Errors if
    /// the mask shape differs ([`Error::ShapeMismatch`]), the states are empty or a row has no
    /// real token ([`Error::Empty`]), or a state is not finite ([`Error::NonFinite`]). Sums
    /// accumulate in f64, so the mean of finite states is finite.
    pub fn mean_pool_states(
        states: ArrayView3<f32>,
        attention_mask: Option<ArrayView2<u8>>,
    ) -> Result<Array2<f32>> {
        let (batch, seq, hidden) = states.dim();
        if let Some(m) = attention_mask.filter(|m| m.dim() != (batch, seq)) {
            return Err(Error::shape("mean pool mask shape", (batch, seq), m.dim()));
        }
        if batch == 0 || hidden == 0 {
            return Err(Error::Empty(format!(
                "mean pool of states of shape {:?}",
                states.dim()
            )));
        }
        ensure_finite(&states, || "Encoder::mean_pool_states input".into())?;
        let mut out = Array2::zeros((batch, hidden));
        for (b, mut dest) in out.outer_iter_mut().enumerate() {
            let keep: Vec<usize> = (0..seq)
                .filter(|&i| attention_mask.is_none_or(|m| m[[b, i]] != 0))
                .collect();
            if keep.is_empty() {
                return Err(Error::Empty(format!("row {b} has no real token to pool")));
            }
            let mut sum = Array1::<f64>::zeros(hidden);
            let row = states.index_axis(Axis(0), b);
            for &i in &keep {
                sum.zip_mut_with(&row.row(i), |s, &v| *s += f64::from(v));
            }
            let count = keep.len() as f64;
            dest.zip_mut_with(&sum, |d, &s| *d = (s / count) as f32);
        }
        Ok(out)
    }
}

impl<L: LinearLayer> Encoder<L> {
    /// Assembles an encoder from loaded parts, checking every shape against `config`.
    pub(crate) fn from_parts(
        config: EncoderConfig,
        parts: Embeddings,
        blocks: Vec<TransformerBlock<L>>,
    ) -> Result<Self> {
        config.check()?;
        let h = config.hidden_size;
        let tables = [
            ("word embeddings", Some(&parts.word), config.vocab_size),
            (
                "position embeddings",
                Some(&parts.position),
                config.max_positions,
            ),
            (
                "token type embeddings",
                parts.token_type.as_ref(),
                config.type_vocab_size,
            ),
        ];
        for (what, table, rows) in tables {
            let got = table.map_or((0, h), |t| t.dim());
            if got != (rows, h) {
                return Err(Error::ShapeMismatch {
                    op: "Encoder",
                    expected: format!("{what} ({rows}, {h})"),
                    got: format!("{got:?}"),
                });
            }
        }
        for (what, t) in [("word", &parts.word), ("position", &parts.position)]
            .into_iter()
            .chain(parts.token_type.as_ref().map(|t| ("token type", t)))
        {
            crate::error::check_finite(t.iter(), || format!("{what} embeddings"))?;
        }
        let want_emb = config.placement == NormPlacement::PostLn;
        if parts.embedding_norm.is_some() != want_emb || parts.final_norm.is_some() == want_emb {
            return Err(Error::Format(format!(
                "{:?} encoder needs {} LayerNorm",
                config.placement,
                if want_emb { "an embedding" } else { "a final" }
            )));
        }
        for ln in parts.embedding_norm.iter().chain(&parts.final_norm) {
            if ln.dim() != h {
                return Err(Error::shape("Encoder LayerNorm width", h, ln.dim()));
            }
        }
        check_blocks(&config, &blocks)?;
        Ok(Encoder {
            config,
            word: parts.word,
            position: parts.position,
            token_type: parts.token_type,
            embedding_norm: parts.embedding_norm,
            blocks,
            final_norm: parts.final_norm,
        })
    }

    /// The configuration: the unpruned shape (see [`Encoder::block_widths`] for each block's
    /// actual heads and FFN width).
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Per block, `(heads, intermediate)`: the number of attention heads and of FFN channels.
    /// Equal to `(num_heads, intermediate_size)` of the configuration for every block unless
    /// the encoder was pruned.
    pub fn block_widths(&self) -> Vec<(usize, usize)> {
        self.blocks
            .iter()
            .map(|b| (b.attention().heads(), b.intermediate()))
            .collect()
    }

    /// Whether some block has fewer heads or FFN channels than the configuration.
    pub fn is_narrowed(&self) -> bool {
        self.block_widths()
            .iter()
            .any(|&w| w != (self.config.num_heads, self.config.intermediate_size))
    }

    /// This encoder's embeddings, LayerNorms and configuration with other blocks — for
    /// example narrowed by structured pruning or compressed. Each block must have the
    /// configuration's hidden width, activation, LayerNorm placement and `ε`, between 1 and
    /// `num_heads` heads of width `hidden_size / num_heads`, and between 1 and
    /// `intermediate_size` FFN channels; there must be `num_layers` of them. Errors with
    /// [`Error::ShapeMismatch`] otherwise.
    pub fn with_blocks<L2: LinearLayer>(
        &self,
        blocks: Vec<TransformerBlock<L2>>,
    ) -> Result<Encoder<L2>> {
        let parts = Embeddings {
            word: self.word.clone(),
            position: self.position.clone(),
            token_type: self.token_type.clone(),
            embedding_norm: self.embedding_norm.clone(),
            final_norm: self.final_norm.clone(),
        };
        Encoder::from_parts(self.config, parts, blocks)
    }

    /// The transformer blocks, in order.
    pub fn blocks(&self) -> &[TransformerBlock<L>] {
        &self.blocks
    }

    /// The word embedding table, (vocab_size, hidden).
    pub fn word_embeddings(&self) -> ArrayView2<'_, f32> {
        self.word.view()
    }

    /// The position embedding table, (max_positions, hidden).
    pub fn position_embeddings(&self) -> ArrayView2<'_, f32> {
        self.position.view()
    }

    /// The token-type embedding table, (type_vocab_size, hidden), if the model has one.
    pub fn token_type_embeddings(&self) -> Option<ArrayView2<'_, f32>> {
        self.token_type.as_ref().map(|t| t.view())
    }

    /// The LayerNorm applied to the embeddings (post-LN models).
    pub fn embedding_norm(&self) -> Option<&LayerNorm> {
        self.embedding_norm.as_ref()
    }

    /// The LayerNorm applied after the last block (pre-LN models).
    pub fn final_norm(&self) -> Option<&LayerNorm> {
        self.final_norm.as_ref()
    }

    /// Number of parameters: embeddings, LayerNorms and blocks.
    pub fn param_count(&self) -> usize {
        self.word.len()
            + self.position.len()
            + self.token_type.as_ref().map_or(0, Array2::len)
            + self
                .embedding_norm
                .iter()
                .chain(&self.final_norm)
                .map(LayerNorm::param_count)
                .sum::<usize>()
            + self.blocks.iter().map(Forward::param_count).sum::<usize>()
    }

    /// Exact bytes of the parameters: f32 embeddings and LayerNorms plus each block's own
    /// storage (f32 for the dense encoder).
    pub fn storage_bytes(&self) -> usize {
        4 * (self.word.len()
            + self.position.len()
            + self.token_type.as_ref().map_or(0, Array2::len)
            + self
                .embedding_norm
                .iter()
                .chain(&self.final_norm)
                .map(LayerNorm::param_count)
                .sum::<usize>())
            + self
                .blocks
                .iter()
                .map(TransformerBlock::storage_bytes)
                .sum::<usize>()
    }

    /// An encoder with every linear layer converted by `f`, called with its name
    /// (`"blocks.{i}.attn.q"` … `"blocks.{i}.ffn.out"`, as [`NamedLinears`]) and the layer;
    /// embeddings and LayerNorms are copied. How compressed encoders are built.
    pub fn map_linears<L2: LinearLayer>(
        &self,
        mut f: impl FnMut(&str, &L) -> Result<L2>,
    ) -> Result<Encoder<L2>> {
        let blocks = self
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| b.map_linears(|n, l| f(&format!("blocks.{i}.{n}"), l)))
            .collect::<Result<Vec<_>>>()?;
        self.with_blocks(blocks)
    }

    /// Calls `f` with every linear layer and its name, in forward order (the generic twin of
    /// [`NamedLinears::visit_linears`]).
    pub fn visit_layers(&self, f: &mut dyn FnMut(&str, &L)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_layers(&mut |name, l| f(&format!("blocks.{i}.{name}"), l));
        }
    }

    /// Hidden states (seq, hidden) for one sequence of token ids.
    ///
    /// `token_types` defaults to all zeros; `mask[i]` is `false` for padding, which other tokens
    /// do not attend to (padding positions still get an output). Errors on an empty sequence, a
    /// sequence longer than `max_positions`, a token id ≥ `vocab_size`, a token type ≥
    /// `type_vocab_size` (or any token type when the model has none), a mask or type length
    /// that differs from the sequence length, or a mask that leaves a token nothing to attend
    /// to.
    ///
    /// A result that is not finite — embeddings that overflow when summed, a block whose output
    /// overflows, or parameters made non-finite after construction — is [`Error::NonFinite`]
    /// naming the first part whose output is not finite (`"Encoder blocks.3 output"`).
    pub fn forward(
        &self,
        ids: &[u32],
        token_types: Option<&[u32]>,
        mask: Option<&[bool]>,
    ) -> Result<Array2<f32>> {
        let mut h = self.embed(ids, token_types)?;
        ensure_finite(&h, || "Encoder embeddings".into())?;
        super::attention::check_mask(ids.len(), mask, self.config.causal)?;
        if let Some(ln) = &self.embedding_norm {
            h = ln.forward_unchecked(h.view());
            ensure_finite(&h, || "Encoder embedding_norm output".into())?;
        }
        for (i, block) in self.blocks.iter().enumerate() {
            h = block
                .forward_unchecked(h.view(), mask, self.config.causal)
                .map_err(|e| match e {
                    Error::NonFinite(what) => {
                        Error::NonFinite(format!("Encoder blocks.{i}: {what}"))
                    }
                    e => e,
                })?;
            ensure_finite(&h, || format!("Encoder blocks.{i} output"))?;
        }
        if let Some(ln) = &self.final_norm {
            h = ln.forward_unchecked(h.view());
            ensure_finite(&h, || "Encoder final_norm output".into())?;
        }
        Ok(h)
    }

    /// The summed embeddings (seq, hidden), after checking ids and types.
    fn embed(&self, ids: &[u32], token_types: Option<&[u32]>) -> Result<Array2<f32>> {
        let seq = ids.len();
        if seq == 0 {
            return Err(Error::Empty("token id sequence".into()));
        }
        if seq > self.config.max_positions {
            return Err(Error::param(
                "ids",
                format!(
                    "sequence of {seq} tokens is longer than max_positions {}",
                    self.config.max_positions
                ),
            ));
        }
        let mut h = self.position.slice(s![..seq, ..]).to_owned();
        for (i, (&id, mut row)) in ids.iter().zip(h.rows_mut()).enumerate() {
            let word = lookup(&self.word, id).ok_or_else(|| {
                Error::param(
                    "ids",
                    format!(
                        "token id {id} at position {i} is out of range for vocab_size {}",
                        self.config.vocab_size
                    ),
                )
            })?;
            row += &word;
        }
        match (token_types, &self.token_type) {
            (None, _) => {
                if let Some(table) = &self.token_type {
                    h += &table.row(0);
                }
            }
            (Some(types), _) if types.len() != seq => {
                return Err(Error::shape("Encoder token types length", seq, types.len()));
            }
            (Some(types), table) => {
                for (i, (&t, mut row)) in types.iter().zip(h.rows_mut()).enumerate() {
                    let emb = table
                        .as_ref()
                        .and_then(|tab| lookup(tab, t))
                        .ok_or_else(|| {
                            Error::param(
                                "token_types",
                                format!(
                                    "token type {t} at position {i} is out of range for \
                                 type_vocab_size {}",
                                    self.config.type_vocab_size
                                ),
                            )
                        })?;
                    row += &emb;
                }
            }
        }
        Ok(h)
    }

    /// Hidden states (batch, seq, hidden) for a batch of id rows (batch, seq).
    ///
    /// `attention_mask` follows Hugging Face: 1 (any non-zero) for a real token, 0 for padding.
    /// Each row is run as [`Encoder::forward`] and errors the same way; the whole output
    /// (batch × seq × hidden) is sized against the element limit ([`Error::TooLarge`]) before it
    /// is allocated.
    pub fn forward_batch(
        &self,
        ids: ArrayView2<u32>,
        token_types: Option<ArrayView2<u32>>,
        attention_mask: Option<ArrayView2<u8>>,
    ) -> Result<Array3<f32>> {
        let dim = ids.dim();
        for (what, d) in [
            ("Encoder token_types shape", token_types.map(|t| t.dim())),
            (
                "Encoder attention_mask shape",
                attention_mask.map(|m| m.dim()),
            ),
        ] {
            if let Some(d) = d.filter(|&d| d != dim) {
                return Err(Error::shape(what, dim, d));
            }
        }
        if dim.0 == 0 {
            return Err(Error::Empty("batch of token ids".into()));
        }
        if dim.1 == 0 {
            return Err(Error::Empty("token id sequence".into()));
        }
        if dim.1 > self.config.max_positions {
            return Err(Error::param(
                "ids",
                format!(
                    "sequence of {} tokens is longer than max_positions {}",
                    dim.1, self.config.max_positions
                ),
            ));
        }
        const OP: &str = "Encoder::forward_batch";
        let shape = (dim.0, dim.1, self.config.hidden_size);
        let n = limits::elements(OP, &[shape.0, shape.1, shape.2])?;
        let mut out = Array3::from_shape_vec(shape, limits::try_zeroed::<f32>(OP, n)?)
            .map_err(|e| Error::shape(OP, shape, e.to_string()))?;
        for (b, mut dest) in out.outer_iter_mut().enumerate() {
            let ids = ids.row(b).to_vec();
            let types = token_types.map(|t| t.row(b).to_vec());
            let mask: Option<Vec<bool>> =
                attention_mask.map(|m| m.row(b).iter().map(|&v| v != 0).collect());
            dest.assign(&self.forward(&ids, types.as_deref(), mask.as_deref())?);
        }
        Ok(out)
    }

    /// Sentence embeddings (batch, hidden): [`Encoder::forward_batch`] followed by
    /// [`Encoder::mean_pool_states`].
    pub fn mean_pool(
        &self,
        ids: ArrayView2<u32>,
        token_types: Option<ArrayView2<u32>>,
        attention_mask: Option<ArrayView2<u8>>,
    ) -> Result<Array2<f32>> {
        let states = self.forward_batch(ids, token_types, attention_mask)?;
        Encoder::<Linear>::mean_pool_states(states.view(), attention_mask)
    }

    /// Mutable access to the blocks for compression methods; shapes cannot change through it.
    pub(crate) fn blocks_mut(&mut self) -> &mut [TransformerBlock<L>] {
        &mut self.blocks
    }
}

/// Checks the blocks against `config` (see [`Encoder::with_blocks`]).
fn check_blocks<L: LinearLayer>(
    config: &EncoderConfig,
    blocks: &[TransformerBlock<L>],
) -> Result<()> {
    if blocks.len() != config.num_layers {
        return Err(Error::shape(
            "Encoder block count",
            config.num_layers,
            blocks.len(),
        ));
    }
    let want = config.block_config();
    let head_dim = config.hidden_size / config.num_heads;
    for (i, b) in blocks.iter().enumerate() {
        let got = b.config();
        let fits = got.hidden == want.hidden
            && got.activation == want.activation
            && got.placement == want.placement
            && got.layer_norm_eps == want.layer_norm_eps
            && b.attention().head_dim() == head_dim
            && (1..=want.heads).contains(&got.heads)
            && (1..=want.intermediate).contains(&got.intermediate);
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "Encoder block",
                expected: format!(
                    "block {i}: {want:?} (or 1..={} heads of width {head_dim} and 1..={} FFN \
                     channels)",
                    want.heads, want.intermediate
                ),
                got: format!("{got:?}, head width {}", b.attention().head_dim()),
            });
        }
    }
    Ok(())
}

/// Row `id` of `table`, if it exists.
fn lookup(table: &Array2<f32>, id: u32) -> Option<ndarray::ArrayView1<'_, f32>> {
    let i = usize::try_from(id).ok()?;
    (i < table.nrows()).then(|| table.row(i))
}

impl NamedLinears for Encoder {
    fn visit_linears(&self, f: &mut dyn FnMut(&str, &Linear)) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_linears(&mut |name, l| f(&format!("blocks.{i}.{name}"), l));
        }
    }

    fn visit_linears_mut(&mut self, f: &mut dyn FnMut(&str, &mut Linear)) {
        for (i, block) in self.blocks_mut().iter_mut().enumerate() {
            block.visit_linears_mut(&mut |name, l| f(&format!("blocks.{i}.{name}"), l));
        }
    }
}
