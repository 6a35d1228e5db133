//! Multi-head scaled dot-product self-attention (Vaswani et al. 2017) on one sequence.
//!
//! For `x` of shape (seq, hidden), `heads` heads of width `d`, and the inner width
//! `inner = heads·d`:
//!
//! ```text
//! Q = x·W_qᵀ + b_q,  K = x·W_kᵀ + b_k,  V = x·W_vᵀ + b_v          each (seq, inner)
//! for head h (columns h·d .. (h+1)·d):
//!     S_h = Q_h·K_hᵀ / √d                                           (seq, seq)
//!     S_h[i, j] = −1e30 where key j is padding, or j > i when causal
//!     C_h = softmax_rows(S_h)·V_h                                   (seq, d)
//! y = concat_h(C_h)·W_oᵀ + b_o                                      (seq, hidden)
//! ```
//!
//! W_q, W_k, W_v are (inner × hidden) and W_o is (hidden × inner). A freshly built or loaded
//! model has `d = hidden / heads`, so `inner = hidden` ([`MultiHeadAttention::new`]). Head
//! pruning (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really Better than One?"; see
//! [`HeadPruner`](crate::prune::HeadPruner)) deletes whole heads — their `d` rows of W_q, W_k,
//! W_v (and bias entries) and their `d` columns of W_o — so `inner = heads·d < hidden` while
//! `d`, and with it the score scale `1/√d`, stays the original head width
//! ([`MultiHeadAttention::with_head_dim`]).
//!
//! A masked score is replaced by −1e30, so after the row maximum is subtracted its weight is
//! exactly zero. Every query row must see at least one key: if the key mask hides every key
//! (or, when causal, every key up to the query's position — left padding), the row would have
//! nothing to attend to, and [`MultiHeadAttention::forward`] returns
//! [`Error::InvalidParam`] for `key_mask` instead of producing NaN or a meaningless average.

use ndarray::{s, Array2, ArrayView2};
use rand::Rng;

use super::ensure_finite;
use super::softmax::softmax_rows_unchecked;
use super::{Linear, LinearLayer};
use crate::error::{Error, Result};
use crate::limits;

/// The score given to a hidden (padding or future) key: low enough that its softmax weight
/// underflows to exactly zero.
const MASKED_SCORE: f32 = -1e30;

/// Multi-head self-attention: query, key and value projections hidden → heads·head_dim, and
/// an output projection heads·head_dim → hidden (all hidden × hidden unless heads were pruned).
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
    head_dim: usize,
}

/// The input checks of a forward pass over one sequence `x` (seq, hidden): the width, a
/// non-empty and finite input, and a key mask that leaves every query a key to attend to.
pub(crate) fn check_sequence(
    op: &'static str,
    hidden: usize,
    x: ArrayView2<f32>,
    key_mask: Option<&[bool]>,
    causal: bool,
) -> Result<()> {
    if x.ncols() != hidden {
        return Err(Error::shape(op, hidden, x.ncols()));
    }
    if x.nrows() == 0 {
        return Err(Error::Empty(format!("{op}: empty input sequence")));
    }
    ensure_finite(&x, || format!("{op} input"))?;
    check_mask(x.nrows(), key_mask, causal)
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
        let head_dim = hidden / heads;
        Ok(MultiHeadAttention {
            q,
            k,
            v,
            o,
            heads,
            head_dim,
        })
    }

    /// Builds attention whose inner width `heads·head_dim` may differ from the model width, as
    /// left by head pruning: `q`, `k`, `v` must map hidden → heads·head_dim and `o` must map
    /// heads·head_dim → hidden, where hidden is `q`'s input width. Scores are scaled by
    /// `1/√head_dim`. Errors on a zero `heads` or `head_dim` ([`Error::InvalidParam`]), on
    /// `heads·head_dim` overflowing ([`Error::TooLarge`]) and on projections of other shapes
    /// ([`Error::ShapeMismatch`]).
    pub fn with_head_dim(q: L, k: L, v: L, o: L, heads: usize, head_dim: usize) -> Result<Self> {
        let hidden = q.in_features();
        if heads == 0 {
            return Err(Error::param(
                "heads",
                "the number of heads must be positive, got 0",
            ));
        }
        if head_dim == 0 {
            return Err(Error::param(
                "head_dim",
                "the head width must be positive, got 0",
            ));
        }
        let inner = limits::product("MultiHeadAttention::with_head_dim", &[heads, head_dim])?;
        let shapes = [
            ("query", &q, inner, hidden),
            ("key", &k, inner, hidden),
            ("value", &v, inner, hidden),
            ("output", &o, hidden, inner),
        ];
        for (name, l, out, inp) in shapes {
            if l.in_features() != inp || l.out_features() != out {
                return Err(Error::ShapeMismatch {
                    op: "MultiHeadAttention::with_head_dim",
                    expected: format!("{name} projection ({out}, {inp})"),
                    got: format!("({}, {})", l.out_features(), l.in_features()),
                });
            }
        }
        Ok(MultiHeadAttention {
            q,
            k,
            v,
            o,
            heads,
            head_dim,
        })
    }

    /// Number of heads.
    pub fn heads(&self) -> usize {
        self.heads
    }

    /// Model width.
    pub fn hidden(&self) -> usize {
        self.q.in_features()
    }

    /// Width of one head: `hidden / heads` when built with [`MultiHeadAttention::new`], and
    /// unchanged by head pruning.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// Inner width `heads · head_dim`: the output width of the query, key and value
    /// projections and the input width of the output projection.
    pub fn inner(&self) -> usize {
        self.heads * self.head_dim
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
    /// would see no key at all (see the module docs); with [`Error::TooLarge`] if the
    /// (seq × seq) scores would exceed [`MAX_ELEMENTS`](crate::limits::MAX_ELEMENTS); and with
    /// [`Error::NonFinite`] if the output is not finite (overflowing scores or projections).
    pub fn forward(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        const OP: &str = "MultiHeadAttention::forward";
        check_sequence(OP, self.hidden(), x, key_mask, causal)?;
        let y = self.forward_unchecked(x, key_mask, causal)?;
        ensure_finite(&y, || format!("{OP} output"))?;
        Ok(y)
    }

    /// The forward pass without input checks; callers have run them (via `check_mask` too).
    /// Errors if a projection does (its own checks), or with [`Error::TooLarge`] if the scores
    /// (seq × seq) or the projections (seq × inner) would exceed the element limit.
    pub(crate) fn forward_unchecked(
        &self,
        x: ArrayView2<f32>,
        key_mask: Option<&[bool]>,
        causal: bool,
    ) -> Result<Array2<f32>> {
        const OP: &str = "MultiHeadAttention scores";
        let seq = x.nrows();
        limits::elements(OP, &[seq, seq])?;
        limits::elements(OP, &[seq, self.inner()])?;
        let d = self.head_dim();
        let scale = 1.0 / (d as f32).sqrt();
        let q = self.q.forward(x)?;
        let k = self.k.forward(x)?;
        let v = self.v.forward(x)?;
        // A projection replaced through `NamedLinears::visit_linears_mut` may have other widths.
        for (name, p) in [("query", &q), ("key", &k), ("value", &v)] {
            if p.dim() != (seq, self.inner()) {
                return Err(Error::ShapeMismatch {
                    op: "MultiHeadAttention::forward",
                    expected: format!("{name} projection output {:?}", (seq, self.inner())),
                    got: format!("{:?}", p.dim()),
                });
            }
        }
        let mut context = Array2::<f32>::zeros((seq, self.inner()));
        for h in 0..self.heads {
            let cols = s![.., h * d..(h + 1) * d];
            let mut scores = q.slice(cols).dot(&k.slice(cols).t());
            scores.mapv_inplace(|v| v * scale);
            apply_mask(&mut scores, key_mask, causal);
            let weights = softmax_rows_unchecked(scores.view(), 1.0);
            context.slice_mut(cols).assign(&weights.dot(&v.slice(cols)));
        }
        let y = self.o.forward(context.view())?;
        if y.dim() != (seq, self.hidden()) {
            return Err(Error::shape(
                "MultiHeadAttention::forward output",
                (seq, self.hidden()),
                y.dim(),
            ));
        }
        Ok(y)
    }

    /// Attention with every projection converted by `f` (called with `"q"`, `"k"`, `"v"`, `"o"`
    /// and the projection): how compressed attention is built from a dense one.
    pub fn map_linears<L2: LinearLayer>(
        &self,
        mut f: impl FnMut(&str, &L) -> Result<L2>,
    ) -> Result<MultiHeadAttention<L2>> {
        MultiHeadAttention::with_head_dim(
            f("q", &self.q)?,
            f("k", &self.k)?,
            f("v", &self.v)?,
            f("o", &self.o)?,
            self.heads,
            self.head_dim,
        )
    }
}

impl MultiHeadAttention {
    /// Freshly initialised attention of width `hidden` with `heads` heads (each projection
    /// initialised as [`Linear::init`]).
    ///
    /// Errors with [`Error::InvalidParam`] unless `heads` divides a positive `hidden`, and with
    /// [`Error::TooLarge`] if the four projections exceed the limits of [`crate::limits`] —
    /// checked before any is allocated.
    pub fn init(hidden: usize, heads: usize, rng: &mut impl Rng) -> Result<Self> {
        check_heads(hidden, heads)?;
        attention_params(hidden)?;
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

/// Parameters of dense attention of width `hidden`: four (hidden × hidden) projections with
/// biases, or [`Error::TooLarge`] beyond the limits.
pub(crate) fn attention_params(hidden: usize) -> Result<usize> {
    const OP: &str = "MultiHeadAttention::init";
    let one = limits::elements(OP, &[hidden, hidden])?;
    let one = limits::add_params(OP, one, hidden)?;
    let two = limits::add_params(OP, one, one)?;
    limits::add_params(OP, two, two)
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
    fn a_narrowed_attention_equals_zeroed_heads_with_the_original_scale() {
        let (attn, x) = setup();
        // Keep head 1 (columns 4..8) only.
        let rows: Vec<usize> = (4..8).collect();
        let pick = |l: &Linear, out_rows: bool| {
            let w = if out_rows {
                l.weight().select(ndarray::Axis(0), &rows)
            } else {
                l.weight().select(ndarray::Axis(1), &rows)
            };
            let b = if out_rows {
                l.bias().select(ndarray::Axis(0), &rows)
            } else {
                l.bias().to_owned()
            };
            Linear::new(w, b).unwrap()
        };
        let narrow = MultiHeadAttention::with_head_dim(
            pick(attn.q(), true),
            pick(attn.k(), true),
            pick(attn.v(), true),
            pick(attn.o(), false),
            1,
            4,
        )
        .unwrap();
        assert_eq!(
            (narrow.hidden(), narrow.inner(), narrow.head_dim()),
            (8, 4, 4)
        );
        let mut w = attn.o().weight().to_owned();
        w.slice_mut(s![.., ..4]).fill(0.0);
        let zeroed = MultiHeadAttention::new(
            attn.q().clone(),
            attn.k().clone(),
            attn.v().clone(),
            Linear::new(w, attn.o().bias().to_owned()).unwrap(),
            2,
        )
        .unwrap();
        let mask = [true, true, true, true, false];
        let a = narrow.forward(x.view(), Some(&mask), false).unwrap();
        let b = zeroed.forward(x.view(), Some(&mask), false).unwrap();
        let diff = (&a - &b).mapv(f32::abs);
        assert!(diff.iter().all(|&d| d < 1e-6), "{diff}");
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
