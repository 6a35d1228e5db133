//! Structured pruning of transformer blocks: remove whole attention heads or whole FFN
//! channels, giving a smaller dense block (or encoder) that runs, saves and loads as any other.
//!
//! **Heads** (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really Better than One?"). A block
//! with `H` heads of width `d` has W_q, W_k, W_v of shape (H·d × hidden) and W_o of shape
//! (hidden × H·d); head `h` owns rows `h·d .. (h+1)·d` of W_q, W_k, W_v (and those bias
//! entries) and the same columns of W_o. Its contribution to the attention output is
//! `C_h·W_o[:, h·d..(h+1)·d]ᵀ`, so deleting those rows and columns removes exactly that term:
//! the pruned block computes what the unpruned one computes with the head's W_o columns set to
//! zero. The head width `d`, and so the score scale `1/√d`, is unchanged. Heads are ranked by
//!
//! ```text
//! s_h = ‖ (W_q[rows_h, :], W_k[rows_h, :], W_v[rows_h, :], W_o[:, rows_h]) ‖      L1 or L2
//! ```
//!
//! the norm of all the weights the head owns (biases excluded), a data-free proxy: Michel et
//! al. rank heads by the expected gradient of the loss with respect to a head gate, which needs
//! a loss and a backward pass through attention that this crate's encoder does not have.
//!
//! **FFN channels.** Channel `j` of `FFN(h) = act(h·W_inᵀ + b_in)·W_outᵀ + b_out` owns
//! row `j` of W_in (intermediate × hidden), entry `j` of b_in and column `j` of W_out
//! (hidden × intermediate); deleting them removes the term
//! `act(h·W_in[j]ᵀ + b_in[j])·W_out[:, j]` exactly, as [`NeuronPruner`](super::NeuronPruner)
//! does for an MLP. Channels are ranked by the norm of `(W_in[j, :], W_out[:, j])`.
//!
//! Both remove `round(n·fraction)` of each block's `n` heads or channels, the lowest-scored
//! first (ties: the higher index goes first), and always keep at least one. Both are
//! [`StructuredPruner`]s over an [`Encoder`]; their `.layers(filter)` takes a [`LayerFilter`]
//! over the block names `blocks.{i}` (`LayerFilter::new().exclude("blocks.0")` leaves the
//! first block whole). Unstructured masks
//! on the projections are carried over to the kept rows and columns. [`keep_heads`] and
//! [`keep_ffn_channels`] remove heads or channels chosen by any other rule. The model given is
//! never changed; errors (a fraction outside [0, 1), a non-finite weight, named) leave nothing
//! half-done.
//!
//! The pruned encoder's configuration keeps the unpruned shape; each block's widths are in
//! [`Encoder::block_widths`] and in its saved file. There is no fine-tuning for the encoder
//! (no backward pass through attention), so pruning is one-shot.
//!
//! ```
//! use rand::{rngs::StdRng, SeedableRng};
//! use shrink::nn::{Activation, Encoder, EncoderConfig, NormPlacement};
//! use shrink::prune::{FfnChannelPruner, HeadPruner};
//!
//! let config = EncoderConfig {
//!     vocab_size: 50, hidden_size: 16, num_heads: 4, num_layers: 2, intermediate_size: 32,
//!     max_positions: 10, type_vocab_size: 2, layer_norm_eps: 1e-12,
//!     activation: Activation::Gelu, placement: NormPlacement::PostLn, causal: false,
//! };
//! let encoder = Encoder::new(config, &mut StdRng::seed_from_u64(0))?;
//! let (fewer_heads, report) = HeadPruner::new(0.5).prune(&encoder)?;
//! let (smaller, _) = FfnChannelPruner::new(0.25).prune(&fewer_heads)?;
//! assert_eq!(smaller.block_widths(), [(2, 24), (2, 24)]);
//! assert_eq!(report.blocks[0].heads_after, 2);
//! assert!(smaller.param_count() < encoder.param_count());
//! assert_eq!(smaller.forward(&[1, 7, 3], None, None)?.dim(), (3, 16));
//!
//! // One-shot, no fine-tuning (microseconds). The sentence vectors keep their direction:
//! // cosine similarity of each mean-pooled output to the unpruned one, measured 0.953 at
//! // worst on these 8 sequences (random weights; tests/pruning_transformer.rs has more).
//! let ids = ndarray::Array2::from_shape_fn((8, 10), |(i, j)| ((i * 13 + j * 7) % 50) as u32);
//! let before = encoder.mean_pool(ids.view(), None, None)?;
//! let after = smaller.mean_pool(ids.view(), None, None)?;
//! for (a, b) in before.rows().into_iter().zip(after.rows()) {
//!     assert!(a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt()) > 0.9);
//! }
//! # Ok::<(), shrink::Error>(())
//! ```

use ndarray::{Array2, ArrayView1, Axis};

use super::structured::{check_fraction, keep_highest, StructuredPruner};
use super::{NeuronNorm, StructuredReport};
use crate::error::{Error, Result};
use crate::nn::{Encoder, LayerFilter, Linear, MultiHeadAttention, TransformerBlock};

/// Removes the fraction `fraction` of attention heads from every transformer block, ranked by
/// the L1 (default) or L2 norm of each head's Q/K/V rows and output-projection columns, keeping
/// at least one head per block (see the module docs). A [`StructuredPruner`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPruner {
    fraction: f32,
    norm: NeuronNorm,
    filter: LayerFilter,
}

/// Removes the fraction `fraction` of FFN channels from every transformer block, ranked by the
/// L1 (default) or L2 norm of each channel's FFN-input row and FFN-output column, keeping at
/// least one channel per block (see the module docs). A [`StructuredPruner`].
#[derive(Debug, Clone, PartialEq)]
pub struct FfnChannelPruner {
    fraction: f32,
    norm: NeuronNorm,
    filter: LayerFilter,
}

/// What structured pruning did to one transformer block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockPruneReport {
    /// The block's name in its encoder (`"blocks.{i}"`), or `"block"` for a lone block.
    pub name: String,
    /// Attention heads before pruning.
    pub heads_before: usize,
    /// Attention heads kept.
    pub heads_after: usize,
    /// FFN channels (intermediate width) before pruning.
    pub channels_before: usize,
    /// FFN channels kept.
    pub channels_after: usize,
    /// The block's parameters before.
    pub params_before: usize,
    /// The block's parameters after.
    pub params_after: usize,
    /// Indices (in the unpruned block) of the heads kept, ascending.
    pub kept_heads: Vec<usize>,
    /// Indices (in the unpruned block) of the FFN channels kept, ascending.
    pub kept_channels: Vec<usize>,
}

/// What structured pruning did to an encoder: one entry per pruned block, and the whole model's
/// parameters (embeddings and LayerNorms included) before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformerPruneReport {
    /// Per pruned block, in order (every block unless a [`LayerFilter`] left some out).
    pub blocks: Vec<BlockPruneReport>,
    /// The encoder's parameters before.
    pub params_before: usize,
    /// The encoder's parameters after.
    pub params_after: usize,
}

/// The finiteness check of a block's projections, naming them as in its encoder
/// (`"blocks.0.attn.q weight"`).
fn check_block_finite(name: &str, block: &TransformerBlock) -> Result<()> {
    let prefix = if name == "block" {
        String::new()
    } else {
        format!("{name}.")
    };
    crate::train::check_model_finite(block, &prefix)
}

/// The norm of every value of `parts` together.
fn group_norm<'a>(norm: NeuronNorm, parts: impl IntoIterator<Item = ArrayView1<'a, f32>>) -> f32 {
    let values = parts.into_iter().flat_map(|p| p.into_iter().copied());
    match norm {
        NeuronNorm::L2 => values
            .map(|v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt() as f32,
        NeuronNorm::L1 => values.map(|v| f64::from(v).abs()).sum::<f64>() as f32,
    }
}

/// A copy of `layer` with only the given rows (output units, with their bias entries) and
/// columns (inputs); `None` keeps all. A pruning mask is carried over.
fn select(layer: &Linear, rows: Option<&[usize]>, cols: Option<&[usize]>) -> Result<Linear> {
    let all_rows: Vec<usize>;
    let rows = match rows {
        Some(r) => r,
        None => {
            all_rows = (0..layer.out_features()).collect();
            &all_rows
        }
    };
    let all_cols: Vec<usize>;
    let cols = match cols {
        Some(c) => c,
        None => {
            all_cols = (0..layer.in_features()).collect();
            &all_cols
        }
    };
    let w = layer.weight().select(Axis(0), rows).select(Axis(1), cols);
    let b = layer.bias().select(Axis(0), rows);
    let mut out = Linear::new(w, b)?;
    if let Some(mask) = layer.mask() {
        let m: Array2<bool> = mask.select(Axis(0), rows).select(Axis(1), cols);
        out.set_mask(m)?;
    }
    Ok(out)
}

/// A block with new attention and FFN layers, and the block's other parts unchanged.
fn rebuild(
    block: &TransformerBlock,
    attn: MultiHeadAttention,
    ffn: [Linear; 2],
) -> Result<TransformerBlock> {
    TransformerBlock::from_parts(
        attn,
        [block.ln1().clone(), block.ln2().clone()],
        ffn,
        block.activation(),
        block.placement(),
    )
}

/// Checks that `kept` is a non-empty, strictly ascending list of indices below `n`.
fn check_kept(kept: &[usize], n: usize, what: &'static str) -> Result<()> {
    if kept.is_empty() {
        return Err(Error::param(
            what,
            format!("at least one of the {n} must be kept"),
        ));
    }
    if let Some(bad) = kept.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::param(
            what,
            format!(
                "indices must be strictly ascending, got {} then {}",
                bad[0], bad[1]
            ),
        ));
    }
    match kept.last() {
        Some(&last) if last >= n => Err(Error::param(
            what,
            format!("index {last} is out of range for {n}"),
        )),
        _ => Ok(()),
    }
}

/// The block with only the attention heads `kept` (strictly ascending indices, at least one):
/// their rows of W_q, W_k, W_v (and bias entries) and their columns of W_o. How [`HeadPruner`]
/// builds its result, public so heads ranked by another score (for example a calibration-based
/// importance) can be removed the same way. Errors with [`Error::InvalidParam`] (`"heads"`) on
/// an empty, unordered or out-of-range list; `block` is not changed.
pub fn keep_heads(block: &TransformerBlock, kept: &[usize]) -> Result<TransformerBlock> {
    crate::train::check_model_finite(block, "")?;
    let attn = block.attention();
    check_kept(kept, attn.heads(), "heads")?;
    let d = attn.head_dim();
    let rows: Vec<usize> = kept.iter().flat_map(|&h| h * d..(h + 1) * d).collect();
    let new_attn = MultiHeadAttention::with_head_dim(
        select(attn.q(), Some(&rows), None)?,
        select(attn.k(), Some(&rows), None)?,
        select(attn.v(), Some(&rows), None)?,
        select(attn.o(), None, Some(&rows))?,
        kept.len(),
        d,
    )?;
    let ffn = [block.ffn_in().clone(), block.ffn_out().clone()];
    rebuild(block, new_attn, ffn)
}

/// The block with only the FFN channels `kept` (strictly ascending indices, at least one):
/// their rows of W_in, entries of b_in and columns of W_out. How [`FfnChannelPruner`] builds
/// its result. Errors with [`Error::InvalidParam`] (`"channels"`) on an empty, unordered or
/// out-of-range list; `block` is not changed.
pub fn keep_ffn_channels(block: &TransformerBlock, kept: &[usize]) -> Result<TransformerBlock> {
    crate::train::check_model_finite(block, "")?;
    check_kept(kept, block.intermediate(), "channels")?;
    let ffn = [
        select(block.ffn_in(), Some(kept), None)?,
        select(block.ffn_out(), None, Some(kept))?,
    ];
    rebuild(block, block.attention().clone(), ffn)
}

/// Builds the report for one block.
fn block_report(
    name: &str,
    before: &TransformerBlock,
    after: &TransformerBlock,
    kept_heads: Vec<usize>,
    kept_channels: Vec<usize>,
) -> BlockPruneReport {
    BlockPruneReport {
        name: name.to_string(),
        heads_before: before.attention().heads(),
        heads_after: after.attention().heads(),
        channels_before: before.intermediate(),
        channels_after: after.intermediate(),
        params_before: before.param_count(),
        params_after: after.param_count(),
        kept_heads,
        kept_channels,
    }
}

/// The names of an encoder's blocks, `blocks.{i}`.
fn block_names(encoder: &Encoder) -> Vec<String> {
    (0..encoder.blocks().len())
        .map(|i| format!("blocks.{i}"))
        .collect()
}

/// The blocks of `encoder` that `filter` selects, with their names (the filter checked against
/// the block names).
fn selected_blocks<'a>(
    encoder: &'a Encoder,
    filter: &LayerFilter,
) -> Result<Vec<(String, &'a TransformerBlock)>> {
    let names = block_names(encoder);
    let selected = filter.apply(&names)?;
    Ok(names
        .into_iter()
        .zip(encoder.blocks())
        .filter(|(name, _)| selected.contains(name))
        .collect())
}

/// Prunes the blocks of `encoder` that `filter` selects with `prune_block` (the others are
/// copied), then reassembles the encoder.
fn prune_encoder(
    encoder: &Encoder,
    filter: &LayerFilter,
    prune_block: impl Fn(&str, &TransformerBlock) -> Result<(TransformerBlock, BlockPruneReport)>,
) -> Result<(Encoder, TransformerPruneReport)> {
    let selected = filter.apply(&block_names(encoder))?;
    let mut blocks = Vec::with_capacity(encoder.blocks().len());
    let mut reports = Vec::with_capacity(selected.len());
    for (i, b) in encoder.blocks().iter().enumerate() {
        let name = format!("blocks.{i}");
        if selected.contains(&name) {
            let (block, report) = prune_block(&name, b)?;
            blocks.push(block);
            reports.push(report);
        } else {
            blocks.push(b.clone());
        }
    }
    let pruned = encoder.with_blocks(blocks)?;
    let report = TransformerPruneReport {
        blocks: reports,
        params_before: encoder.param_count(),
        params_after: pruned.param_count(),
    };
    Ok((pruned, report))
}

impl HeadPruner {
    /// Removes `fraction` (in [0, 1)) of each block's heads, ranked by L1 norm.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(fraction: f32) -> Self {
        HeadPruner {
            fraction,
            norm: NeuronNorm::L1,
            filter: LayerFilter::new(),
        }
    }

    /// Sets the ranking norm.
    pub fn norm(mut self, norm: NeuronNorm) -> Self {
        self.norm = norm;
        self
    }

    /// Prunes only the blocks `filter` selects by their names `blocks.{i}` (default: every
    /// block) when pruning an encoder; the others are copied unchanged. Replaces any filter
    /// set before. [`prune_block`](Self::prune_block) prunes the block it is given.
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Checks the settings: the fraction must be in [0, 1).
    pub fn check(&self) -> Result<()> {
        check_fraction(self.fraction)
    }

    /// Each head's score (see the module docs); lower is pruned first.
    pub fn head_scores(&self, block: &TransformerBlock) -> Vec<f32> {
        let attn = block.attention();
        let d = attn.head_dim();
        let (q, k, v, o) = (
            attn.q().weight(),
            attn.k().weight(),
            attn.v().weight(),
            attn.o().weight(),
        );
        (0..attn.heads())
            .map(|h| {
                let rows = h * d..(h + 1) * d;
                let parts = rows.clone().flat_map(|r| [q.row(r), k.row(r), v.row(r)]);
                let cols = rows.map(|c| o.column(c));
                group_norm(self.norm, parts.chain(cols))
            })
            .collect()
    }

    /// The block with the lowest-scored heads removed, and what was removed; `block` is not
    /// changed. Errors if the fraction is outside [0, 1).
    pub fn prune_block(
        &self,
        block: &TransformerBlock,
    ) -> Result<(TransformerBlock, BlockPruneReport)> {
        self.prune_named("block", block)
    }

    fn prune_named(
        &self,
        name: &str,
        block: &TransformerBlock,
    ) -> Result<(TransformerBlock, BlockPruneReport)> {
        self.check()?;
        check_block_finite(name, block)?;
        let kept = keep_highest(&self.head_scores(block), self.fraction);
        let pruned = keep_heads(block, &kept)?;
        let channels = (0..block.intermediate()).collect();
        let report = block_report(name, block, &pruned, kept, channels);
        Ok((pruned, report))
    }

    /// The encoder with the lowest-scored heads of every block removed, and a per-block
    /// report; `encoder` is not changed. Errors if the fraction is outside [0, 1).
    pub fn prune(&self, encoder: &Encoder) -> Result<(Encoder, TransformerPruneReport)> {
        self.check()?;
        prune_encoder(encoder, &self.filter, |name, b| self.prune_named(name, b))
    }
}

impl FfnChannelPruner {
    /// Removes `fraction` (in [0, 1)) of each block's FFN channels, ranked by L1 norm.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new(fraction: f32) -> Self {
        FfnChannelPruner {
            fraction,
            norm: NeuronNorm::L1,
            filter: LayerFilter::new(),
        }
    }

    /// Sets the ranking norm.
    pub fn norm(mut self, norm: NeuronNorm) -> Self {
        self.norm = norm;
        self
    }

    /// Prunes only the blocks `filter` selects by their names `blocks.{i}` (default: every
    /// block) when pruning an encoder; the others are copied unchanged. Replaces any filter
    /// set before. [`prune_block`](Self::prune_block) prunes the block it is given.
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.filter = filter;
        self
    }

    /// Checks the settings: the fraction must be in [0, 1).
    pub fn check(&self) -> Result<()> {
        check_fraction(self.fraction)
    }

    /// Each FFN channel's score (see the module docs); lower is pruned first.
    pub fn channel_scores(&self, block: &TransformerBlock) -> Vec<f32> {
        let (w_in, w_out) = (block.ffn_in().weight(), block.ffn_out().weight());
        (0..block.intermediate())
            .map(|j| group_norm(self.norm, [w_in.row(j), w_out.column(j)]))
            .collect()
    }

    /// The block with the lowest-scored FFN channels removed, and what was removed; `block` is
    /// not changed. Errors if the fraction is outside [0, 1).
    pub fn prune_block(
        &self,
        block: &TransformerBlock,
    ) -> Result<(TransformerBlock, BlockPruneReport)> {
        self.prune_named("block", block)
    }

    fn prune_named(
        &self,
        name: &str,
        block: &TransformerBlock,
    ) -> Result<(TransformerBlock, BlockPruneReport)> {
        self.check()?;
        check_block_finite(name, block)?;
        let kept = keep_highest(&self.channel_scores(block), self.fraction);
        let pruned = keep_ffn_channels(block, &kept)?;
        let heads = (0..block.attention().heads()).collect();
        let report = block_report(name, block, &pruned, heads, kept);
        Ok((pruned, report))
    }

    /// The encoder with the lowest-scored FFN channels of every block removed, and a per-block
    /// report; `encoder` is not changed. Errors if the fraction is outside [0, 1).
    pub fn prune(&self, encoder: &Encoder) -> Result<(Encoder, TransformerPruneReport)> {
        self.check()?;
        prune_encoder(encoder, &self.filter, |name, b| self.prune_named(name, b))
    }
}

/// Per selected block of `encoder`: its name and `score(block)`, after the checks pruning does.
fn block_scores(
    encoder: &Encoder,
    fraction: f32,
    filter: &LayerFilter,
    score: impl Fn(&TransformerBlock) -> Vec<f32>,
) -> Result<Vec<(String, Vec<f32>)>> {
    check_fraction(fraction)?;
    selected_blocks(encoder, filter)?
        .into_iter()
        .map(|(name, b)| {
            check_block_finite(&name, b)?;
            let s = score(b);
            Ok((name, s))
        })
        .collect()
}

/// The common report form, counting heads (`heads`) or FFN channels.
fn summarize(report: &TransformerPruneReport, heads: bool) -> StructuredReport {
    StructuredReport {
        layers: report
            .blocks
            .iter()
            .map(|b| {
                let (before, after) = if heads {
                    (b.heads_before, b.heads_after)
                } else {
                    (b.channels_before, b.channels_after)
                };
                (b.name.clone(), before, after)
            })
            .collect(),
        params_before: report.params_before,
        params_after: report.params_after,
    }
}

/// The [`StructuredPruner`] impl of an encoder pruner: `$scores` scores one block's units,
/// `$heads` says whether the units are heads (for the summary).
macro_rules! encoder_structured_pruner {
    ($pruner:ty, $scores:ident, $heads:expr) => {
        impl StructuredPruner for $pruner {
            type Model = Encoder;
            type Report = TransformerPruneReport;

            fn fraction(&self) -> f32 {
                self.fraction
            }

            fn layer_filter(&self) -> &LayerFilter {
                &self.filter
            }

            fn groups(&self, encoder: &Encoder) -> Vec<String> {
                block_names(encoder)
            }

            fn scores(&self, encoder: &Encoder) -> Result<Vec<(String, Vec<f32>)>> {
                block_scores(encoder, self.fraction, &self.filter, |b| self.$scores(b))
            }

            fn prune(&self, encoder: &Encoder) -> Result<(Encoder, TransformerPruneReport)> {
                <$pruner>::prune(self, encoder)
            }

            fn summary(&self, report: &TransformerPruneReport) -> StructuredReport {
                summarize(report, $heads)
            }
        }
    };
}
encoder_structured_pruner!(HeadPruner, head_scores, true);
encoder_structured_pruner!(FfnChannelPruner, channel_scores, false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_highest_scores_and_at_least_one() {
        assert_eq!(keep_highest(&[3.0, 1.0, 2.0, 1.0], 0.5), [0, 2]);
        assert_eq!(keep_highest(&[3.0, 1.0, 2.0, 1.0], 0.25), [0, 1, 2]);
        assert_eq!(keep_highest(&[1.0, 1.0], 0.9), [0]);
        assert_eq!(keep_highest(&[5.0], 0.5), [0]);
        assert_eq!(keep_highest(&[1.0, 2.0, 3.0], 0.0), [0, 1, 2]);
    }

    #[test]
    fn kept_lists_are_checked() {
        assert!(check_kept(&[0, 2], 3, "heads").is_ok());
        for bad in [&[][..], &[1, 1], &[2, 1], &[0, 3]] {
            assert!(matches!(
                check_kept(bad, 3, "heads"),
                Err(Error::InvalidParam { name: "heads", .. })
            ));
        }
    }

    #[test]
    fn fractions_outside_the_range_are_rejected() {
        for f in [-0.1, 1.0, 1.5, f32::NAN] {
            assert!(matches!(
                check_fraction(f),
                Err(Error::InvalidParam {
                    name: "fraction",
                    ..
                })
            ));
        }
    }
}
