//! [`LayerFilter`]: which named layers a pruner or quantizer touches (include and exclude glob
//! patterns over the stable layer names), and [`glob_matches`], its matcher.

use crate::error::{Error, Result};

/// Which named layers to touch: include and exclude glob patterns over the stable names
/// [`NamedLinears`](super::NamedLinears) gives (`layers.{i}`, `blocks.{i}.attn.q`,
/// `blocks.{i}.ffn.out`, …). The default, [`LayerFilter::new`], selects every layer.
///
/// Every unstructured pruner ([`MagnitudePruner`](crate::prune::MagnitudePruner), …), every
/// structured pruner ([`NeuronPruner`](crate::prune::NeuronPruner), …) and every quantizer
/// ([`Ptq`](crate::quant::Ptq), [`Gptq`](crate::quant::Gptq), [`Qat`](crate::quant::Qat))
/// takes one through its `.layers(filter)` method; layers it does not select are left as they
/// are (unpruned, or kept in f32).
///
/// # Glob syntax
///
/// A name is a list of segments separated by `.` (`blocks.0.attn.q` has four). A pattern is
/// matched segment by segment:
///
/// - `*` matches any run of characters (the empty one included) **inside one segment**: it never
///   crosses a `.`. `blocks.*.ffn.*` matches `blocks.3.ffn.in` but not `blocks.3.attn.q`;
///   `layers.1*` matches `layers.1` and `layers.12`; `*` alone matches only one-segment names.
/// - `**` as a whole segment matches any number of segments, zero included: `blocks.1.**`
///   matches every layer of block 1, `**.o` every attention output, `**` every layer.
/// - Every other character matches itself (there is no `?`, no classes, no escapes: layer
///   names are letters, digits, `_` and `.`).
///
/// A pattern must be non-empty, have no empty segment (`a..b`, `.a`, `a.`), and use `**` only
/// as a whole segment (`a**` is refused): anything else is [`Error::InvalidParam`] (`"layers"`)
/// naming the pattern.
///
/// # What a filter selects
///
/// A layer is selected when it matches at least one include pattern (or there are none) and no
/// exclude pattern. When a filter is applied to a model ([`LayerFilter::apply`], which every
/// pruner and quantizer calls before changing anything) every pattern must match at least one
/// of the model's names, and a filter with patterns must select at least one layer; otherwise
/// the result is [`Error::InvalidParam`] (`"layers"`) naming the pattern and listing the
/// model's names, so a typo is an error instead of a silent no-op. A filter without patterns
/// ([`LayerFilter::new`]) selects every layer.
///
/// ```
/// use shrink::nn::LayerFilter;
///
/// let ffn_but_last = LayerFilter::new().include("blocks.*.ffn.*").exclude("blocks.1.**");
/// assert!(ffn_but_last.matches("blocks.0.ffn.in"));
/// assert!(!ffn_but_last.matches("blocks.0.attn.q"));
/// assert!(!ffn_but_last.matches("blocks.1.ffn.out"));
///
/// let names: Vec<String> = ["blocks.0.attn.q", "blocks.0.ffn.in", "blocks.1.ffn.out"]
///     .map(String::from)
///     .into();
/// assert_eq!(ffn_but_last.apply(&names)?, ["blocks.0.ffn.in"]);
/// // A typo matches nothing: an error naming the pattern.
/// let typo = LayerFilter::new().include("blocks.*.fnn.*");
/// assert!(matches!(typo.apply(&names), Err(shrink::Error::InvalidParam { name: "layers", .. })));
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Default for LayerFilter {
    /// [`LayerFilter::new`]: every layer.
    fn default() -> Self {
        LayerFilter::new()
    }
}

impl LayerFilter {
    /// A filter selecting every layer (no patterns).
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new() -> Self {
        LayerFilter {
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }

    /// Adds an include pattern: once there is one, only layers matching some include pattern
    /// are selected.
    pub fn include(mut self, pattern: impl Into<String>) -> Self {
        self.include.push(pattern.into());
        self
    }

    /// Adds an exclude pattern: layers matching it are not selected, whatever the includes say.
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.exclude.push(pattern.into());
        self
    }

    /// The include patterns, in the order given.
    pub fn includes(&self) -> &[String] {
        &self.include
    }

    /// The exclude patterns, in the order given.
    pub fn excludes(&self) -> &[String] {
        &self.exclude
    }

    /// Whether the filter has no pattern (it selects every layer).
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether the layer `name` is selected: it matches an include pattern (or there are none)
    /// and no exclude pattern. Does not validate the patterns (see [`LayerFilter::check`]).
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob_matches(p, name)))
            && !self.exclude.iter().any(|p| glob_matches(p, name))
    }

    /// Checks the syntax of every pattern (non-empty, no empty segment, `**` only as a whole
    /// segment), with [`Error::InvalidParam`] (`"layers"`) naming the first bad one.
    pub fn check(&self) -> Result<()> {
        for p in self.include.iter().chain(&self.exclude) {
            check_pattern(p, "layers")?;
        }
        Ok(())
    }

    /// The names of `names` the filter selects, in their order, after checking that every
    /// pattern is valid and matches at least one name and that a filter with patterns selects
    /// at least one; any failure is [`Error::InvalidParam`] (`"layers"`) naming the pattern.
    pub fn apply(&self, names: &[String]) -> Result<Vec<String>> {
        self.check()?;
        let kinds = self.include.iter().map(|p| ("include", p));
        for (kind, p) in kinds.chain(self.exclude.iter().map(|p| ("exclude", p))) {
            if !names.iter().any(|n| glob_matches(p, n)) {
                return Err(Error::param(
                    "layers",
                    format!("{kind} pattern `{p}` matches no layer; the layers are {names:?}"),
                ));
            }
        }
        let selected: Vec<String> = names.iter().filter(|n| self.matches(n)).cloned().collect();
        if selected.is_empty() && !self.is_all() {
            return Err(Error::param(
                "layers",
                format!(
                    "the filter (include {:?}, exclude {:?}) selects no layer of {names:?}",
                    self.include, self.exclude
                ),
            ));
        }
        Ok(selected)
    }
}

/// Checks one pattern's syntax (see [`LayerFilter`]), naming it in an
/// [`Error::InvalidParam`] called `param`.
pub(crate) fn check_pattern(pattern: &str, param: &'static str) -> Result<()> {
    let bad = |why: &str| Err(Error::param(param, format!("pattern `{pattern}`: {why}")));
    if pattern.is_empty() {
        return bad("is empty");
    }
    for seg in pattern.split('.') {
        if seg.is_empty() {
            return bad("has an empty segment (a leading, trailing or doubled `.`)");
        }
        if seg.contains("**") && seg != "**" {
            return bad("`**` must be a whole segment (between dots)");
        }
    }
    Ok(())
}

/// Whether the layer `name` matches the glob `pattern` (see [`LayerFilter`]: `*` within one
/// segment, `**` as a whole segment for any number of segments). An invalid pattern (for
/// example an empty one) matches nothing but an identical name; [`LayerFilter::check`] reports
/// it.
///
/// ```
/// use shrink::nn::glob_matches;
///
/// assert!(glob_matches("blocks.*.attn.o", "blocks.11.attn.o"));
/// assert!(!glob_matches("blocks.*", "blocks.0.attn.o")); // `*` stays in its segment
/// assert!(glob_matches("blocks.0.**", "blocks.0.attn.o"));
/// assert!(glob_matches("**.o", "blocks.0.attn.o"));
/// ```
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let segs: Vec<&str> = name.split('.').collect();
    wildcard(&pat, &segs, |p| *p == "**", |p, s| segment_matches(p, s))
}

/// One segment against one pattern segment, `*` matching any run of characters.
fn segment_matches(pattern: &str, segment: &str) -> bool {
    let pat: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = segment.chars().collect();
    wildcard(&pat, &text, |c| *c == '*', |c, t| c == t)
}

/// Wildcard matching of `text` against `pat`, where a star element matches any run of text
/// elements and every other element matches exactly one (by `one`). The classic greedy walk
/// with one backtracking point: O(|pat|·|text|), never exponential.
fn wildcard<P, T>(
    pat: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last star seen: (pattern index past it, text index it currently absorbs to).
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && is_star(&pat[p]) {
            star = Some((p + 1, t));
            p += 1;
        } else if p < pat.len() && one(&pat[p], &text[t]) {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(is_star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_stars() {
        assert!(glob_matches("layers.0", "layers.0"));
        assert!(!glob_matches("layers.0", "layers.01"));
        assert!(glob_matches("layers.*", "layers.01"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(glob_matches("a*b*c", "abc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
        assert!(glob_matches("**", "a"));
        assert!(glob_matches("a.**.b", "a.b"));
        assert!(glob_matches("a.**.b", "a.x.y.b"));
        assert!(!glob_matches("a.**.b", "a.x.y.c"));
        assert!(glob_matches("**.**", "a"));
        assert!(!glob_matches("*", "a.b"));
        assert!(glob_matches("*.*", "a.b"));
    }

    #[test]
    fn adversarial_patterns_stay_fast() {
        let name = format!("{}.{}", "a".repeat(2000), "a".repeat(2000));
        let pat = format!("{}b.**", "*a".repeat(200));
        assert!(!glob_matches(&pat, &name));
    }

    #[test]
    fn pattern_syntax() {
        for ok in ["a", "*", "**", "a.**.b", "blocks.*.ffn.*", "x*y"] {
            assert!(check_pattern(ok, "layers").is_ok(), "{ok}");
        }
        for bad in ["", ".", "a.", ".a", "a..b", "a**", "**b.c", "a.***"] {
            assert!(check_pattern(bad, "layers").is_err(), "{bad}");
        }
    }
}
