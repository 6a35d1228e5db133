//! Multi-head scaled dot-product self-attention (Vaswani et al. 2017) on one sequence.
//!
//! For `x` of shape (seq, hidden), `heads` heads of width `d = hidden / heads`:
//!
//! ```text
//! Q = x·W_qᵀ + b_q,  K = x·W_kᵀ + b_k,  V = x·W_vᵀ + b_v          each (seq, hidden)
//! for head h (columns h·d .. (h+1)·d):
//!     S_h = Q_h·K_hᵀ / √d                                           (seq, seq)
//!     S_h[i, j] = −1e30 where key j is padding, or j > i when causal
//!     C_h = softmax_rows(S_h)·V_h                                   (seq, d)
//! y = concat_h(C_h)·W_oᵀ + b_o                                      (seq, hidden)
//! ```
//!
//! A masked score is replaced by −1e30, so after the row maximum is subtracted its weight is
//! exactly zero. Every query row must see at least one key: if the key mask hides every key
//! (or, when causal, every key up to the query's position — left padding), the row would have
//! nothing to attend to, and [`MultiHeadAttention::forward`] returns
//! [`Error::InvalidParam`] for `key_mask` instead of producing NaN or a meaningless average.

use ndarray::{s, Array2, ArrayView2};
use rand::Rng;

use super::softmax::softmax_rows;
use super::{Linear, LinearLayer};
use crate::error::{check_finite, Error, Result};

/// The score given to a hidden (padding or future) key: low enough that its softmax weight
/// underflows to exactly zero.
const MASKED_SCORE: f32 = -1e30;

/// Multi-head self-attention: query, key, value and output projections, all (hidden × hidden).
///
/// Generic over the projection type as [`Mlp`](super::Mlp) is: `MultiHeadAttention`
/// (= `MultiHeadAttention<Linear>`) is the dense model; quantized or pruned attention uses its
/// own [`LinearLayer`] (built with [`MultiHeadAttention::map_linears`]) and runs the same code.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiHeadAttention<L = Linear> {
    q: L,
    k: L,
    v: L,
    o: L,
    heads: usize,
}

/// Checks that `heads` divides a positive `hidden`.
pub(crate) fn check_heads(hidden: usize, heads: usize) -> Result<()> {
    if heads == 0 {
        return Err(Error::param(
            "heads",
            "the number of heads must be positive, got 0",
        ));
    }
    if hidden == 0 {
        return Err(Error::param(
            "hidden",
            "the hidden size must be positive, got 0",
        ));
    }
    if !hidden.is_multiple_of(heads) {
        return Err(Error::param(
            "heads",
            format!("hidden size {hidden} is not divisible by {heads} heads"),
        ));
    }
    Ok(())
}

impl<L: LinearLayer> MultiHeadAttention<L> {
    /// Builds attention from its four projections; each must map hidden → hidden, and `heads`
    /// must divide hidden.
    pub fn new(q: L, k: L, v: L, o: L, heads: usize) -> Result<Self> {
        let hidden = q.in_features();
        check_heads(hidden, heads)?;
        for (name, l) in [("query", &q), ("key", &k), ("value", &v), ("output", &o)] {
            if l.in_features() != hidden || l.out_features() != hidden {
                return Err(Error::ShapeMismatch {
                    op: "MultiHeadAttention::new",
                    expected: format!("{name} projection ({hidden}, {hidden})"),
                    got: format!("({}, {})", l.out_features(), l.in_features()),
                });
            }
        }
        Ok(MultiHeadAttention { q, k, v, o, heads })
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Model width.
    pub fn hidden(&self) -> usize {
        self.q.in_features()
    }

    /// Width of one head, `hidden / heads`.
    pub fn head_dim(&self) -> usize {
        self.hidden() / self.heads
    }

    /// The query projection.
    pub fn q(&self) -> &L {
        &self.q
    }

    /// The key projection.
    pub fn k(&self) -> &L {
        &self.k
    }

    /// The value projection.
    pub fn v(&self) -> &L {
        &self.v
    }

    /// The output projection.
    pub fn o(&self) -> &L {
        &self.o
    }

    /// The four projections with their names (`"q"`, `"k"`, `"v"`, `"o"`), in forward order.
    pub(crate) fn linears(&self) -> [(&'static str, &L); 4] {
        [
            ("q", &self.q),
            ("k", &self.k),
            ("v", &self.v),
            ("o", &self.o),
        ]
    }

    /// Number of parameters in the four projections.
    pub fn param_count(&self) -> usize {
        self.linears().iter().map(|(_, l)| l.param_count()).sum()
    }

    /// Self-attention over one sequence `x` of shape (seq, hidden), giving (seq, hidden).
    ///
    /// `key_mask[j]` is `true` for a real token and `false` for padding; padding keys receive no
    /// attention (padding queries still get an output, computed from the real keys). With
    /// `causal`, query `i` sees only keys `0..=i`. Errors if `x` has the wrong width, is empty
    /// or non-finite, if the mask length differs from the sequence length, or if some query
    /// would see no key at all (see the module docs).
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        if x.ncols() != self.hidden() {
            return Err(Error::shape(
                "MultiHeadAttention::forward",
                self.hidden(),
                x.ncols(),
            ));
        }
        if x.nrows() == 0 {
            return Err(Error::Empty("attention input sequence".into()));
        }
        check_finite(x.iter(), || "attention input".into())?;
        check_mask(x.nrows(), key_mask, causal)?;
        self.forward_unchecked(x, key_mask, causal)
    }

    /// The forward pass without input checks; callers have run them (via `check_mask` too).
    /// Errors only if a projection does (a compressed layer's own checks).
    pub(crate) fn forward_unchecked(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        let seq = x.nrows();
        let d = self.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        let q = self.q.forward(x)?;
        let k = self.k.forward(x)?;
        let v = self.v.forward(x)?;
        let mut context = Array2::<f32>::zeros((seq, self.hidden()));
        for h in 0..self.heads {
            let cols = s![.., h * d..(h + 1) * d];
            let mut scores = q.slice(cols).dot(&k.slice(cols).t());
            scores.mapv_inplace(|v| v * scale);
            apply_mask(&mut scores, key_mask, causal);
            let weights = softmax_rows(scores.view(), 1.0);
            context.slice_mut(cols).assign(&weights.dot(&v.slice(cols)));
        }
        self.o.forward(context.view())
    }

    /// Attention with every projection converted by `f` (called with `"q"`, `"k"`, `"v"`, `"o"`
    /// and the projection): how compressed attention is built from a dense one.
    pub fn map_linears<L2: LinearLayer>(
        &self,
        mut f: impl FnMut(&str, &L) -> Result<L2>,
    ) -> Result<MultiHeadAttention<L2>> {
        MultiHeadAttention::new(
            f("q", &self.q)?,
            f("k", &self.k)?,
            f("v", &self.v)?,
            f("o", &self.o)?,
            self.heads,
        )
    }
}

impl MultiHeadAttention {
    /// Freshly initialised attention of width `hidden` with `heads` heads (each projection
    /// initialised as [`Linear::init`]).
    pub fn init(hidden: usize, heads: usize, rng: &mut impl Rng) -> Result<Self> {
        check_heads(hidden, heads)?;
        let q = Linear::init(hidden, hidden, rng)?;
        let k = Linear::init(hidden, hidden, rng)?;
        let v = Linear::init(hidden, hidden, rng)?;
        let o = Linear::init(hidden, hidden, rng)?;
        MultiHeadAttention::new(q, k, v, o, heads)
    }

    /// The four projections, mutably, with their names.
    pub(crate) fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 4] {
        [
            ("q", &mut self.q),
            ("k", &mut self.k),
            ("v", &mut self.v),
            ("o", &mut self.o),
        ]
    }
}

/// Checks the mask length and that every query row of a `seq`-long sequence sees a key.
pub(crate) fn check_mask(seq: usize, key_mask: Option<&[bool]>, causal: bool) -> Result<()> {
    let Some(mask) = key_mask else {
        return Ok(());
    };
    if mask.len() != seq {
        return Err(Error::shape("attention key mask length", seq, mask.len()));
    }
    match mask.iter().position(|&real| real) {
        None => Err(Error::param(
            "key_mask",
            format!("all {seq} keys are masked, so attention has nothing to attend to"),
        )),
        Some(first) if causal && first > 0 => Err(Error::param(
            "key_mask",
            format!(
                "with causal attention the first token must be real (right padding), but the \
                 first real token is at position {first}, so queries 0..{first} see no key"
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// Overwrites the scores of hidden keys with [`MASKED_SCORE`].
fn apply_mask(scores: &mut Array2<f32>, key_mask: Option<&[bool]>, causal: bool) {
    if let Some(mask) = key_mask {
        for (j, &real) in mask.iter().enumerate() {
            if !real {
                scores.column_mut(j).fill(MASKED_SCORE);
            }
        }
    }
    if causal {
        for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
            row.slice_mut(s![i + 1..]).fill(MASKED_SCORE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    fn setup() -> (MultiHeadAttention, Array2<f32>) {
        let mut rng = StdRng::seed_from_u64(5);
        let attn = MultiHeadAttention::init(8, 2, &mut rng).unwrap();
        let x = Array2::from_shape_fn((5, 8), |_| rng.random_range(-1.0..1.0f32));
        (attn, x)
    }

    #[test]
    fn padding_keys_do_not_change_real_outputs() {
        let (attn, x) = setup();
        let short = attn.forward(x.slice(s![..3, ..]), None, false).unwrap();
        let mask = [true, true, true, false, false];
        let padded = attn.forward(x.view(), Some(&mask), false).unwrap();
        let diff = (&padded.slice(s![..3, ..]) - &short).mapv(f32::abs);
        assert!(diff.iter().all(|&d| d < 1e-6), "{diff}");
    }

    #[test]
    fn causal_outputs_ignore_the_future() {
        let (attn, x) = setup();
        let full = attn.forward(x.view(), None, true).unwrap();
        let prefix = attn.forward(x.slice(s![..2, ..]), None, true).unwrap();
        let diff = (&full.slice(s![..2, ..]) - &prefix).mapv(f32::abs);
        assert!(diff.iter().all(|&d| d < 1e-6), "{diff}");
    }

    #[test]
    fn a_query_that_sees_no_key_is_an_error() {
        let (attn, x) = setup();
        let none = [false; 5];
        assert!(matches!(
            attn.forward(x.view(), Some(&none), false),
            Err(Error::InvalidParam {
                name: "key_mask",
                ..
            })
        ));
        let left_padded = [false, true, true, true, true];
        assert!(attn.forward(x.view(), Some(&left_padded), false).is_ok());
        assert!(matches!(
            attn.forward(x.view(), Some(&left_padded), true),
            Err(Error::InvalidParam {
                name: "key_mask",
                ..
            })
        ));
        assert!(matches!(
            attn.forward(x.view(), Some(&[true, true]), false),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_bad_head_counts() {
        let mut rng = StdRng::seed_from_u64(0);
        assert!(matches!(
            MultiHeadAttention::init(8, 0, &mut rng),
            Err(Error::InvalidParam { name: "heads", .. })
        ));
        assert!(matches!(
            MultiHeadAttention::init(8, 3, &mut rng),
            Err(Error::InvalidParam { name: "heads", .. })
        ));
    }
}
