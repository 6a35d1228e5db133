//! The [`Quantizer`] trait and post-training quantization ([`Ptq`]): round-to-nearest weights
//! (f16, bf16, int8, int4) with weight-only, dynamic or static (calibrated) activations, chosen
//! per layer by name rules (mixed precision; excluded layers stay f32), on the layers a
//! [`LayerFilter`] selects.

use half::{bf16, f16};
use ndarray::Array1;

use super::affine::choose_params;
use super::calibration::Calibration;
use super::codes::{rtn, IntCodes};
use super::int4::Int4Weight;
use super::int8::Int8Weight;
use super::observer::Observer;
use super::qlinear::{ActQuant, QuantLinear, QuantWeight, ACTIVATION_SCHEME};
use super::scheme::{ActivationMode, QuantScheme, WeightScheme};
use crate::error::{Error, Result};
use crate::nn::{check_pattern, glob_matches, Encoder, LayerFilter, Linear, Mlp, NamedLinears};

/// Turns a trained model into a quantized one, layer by named layer.
///
/// Implementors quantize one [`Linear`] given its name and the calibration data; the provided
/// methods walk an [`Mlp`] (`"layers.{i}"`) or an [`Encoder`] (`"blocks.{i}.attn.q"` …) and
/// build the quantized model, leaving the original untouched (errors included).
pub trait Quantizer {
    /// The quantized form of the layer `name`.
    fn quantize_linear(
        &self,
        name: &str,
        layer: &Linear,
        calibration: Option<&Calibration>,
    ) -> Result<QuantLinear>;

    /// Checks settings against the model's layer names before anything is quantized (e.g. that
    /// every name rule matches some layer).
    fn check_names(&self, names: &[String]) -> Result<()>;

    /// The quantized MLP.
    fn quantize_mlp(
        &self,
        mlp: &Mlp,
        calibration: Option<&Calibration>,
    ) -> Result<Mlp<QuantLinear>> {
        self.check_names(&mlp.linear_names())?;
        mlp.map_layers(|name, l| self.quantize_linear(name, l, calibration))
    }

    /// The quantized encoder (embeddings and LayerNorms stay f32).
    fn quantize_encoder(
        &self,
        encoder: &Encoder,
        calibration: Option<&Calibration>,
    ) -> Result<Encoder<QuantLinear>> {
        self.check_names(&encoder.linear_names())?;
        encoder.map_linears(|name, l| self.quantize_linear(name, l, calibration))
    }
}

/// A per-layer choice: layers whose name matches the glob `pattern` (the syntax of
/// [`LayerFilter`]: `*` within one `.`-separated segment, `**` for any number of segments, e.g.
/// `"blocks.*.ffn.*"`) get `scheme`, or stay f32 when it is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRule {
    /// Name pattern.
    pub pattern: String,
    /// The scheme, or `None` to keep the layer in f32.
    pub scheme: Option<QuantScheme>,
}

/// Whether `name` matches the glob `pattern`: the same as [`glob_matches`], the one matcher of
/// [`LayerFilter`] and [`LayerRule`] (`*` stays within one `.`-separated segment; `**` as a
/// segment matches any number of them). Before the layer filter, `*` here also crossed dots:
/// write `blocks.0.**` (not `blocks.0.*`) for every layer of block 0.
#[deprecated(note = "use `shrink::nn::glob_matches` (or a `LayerFilter`)")]
pub fn name_matches(pattern: &str, name: &str) -> bool {
    glob_matches(pattern, name)
}

/// Post-training quantization: one default scheme, per-layer rules, a [`LayerFilter`] choosing
/// the layers to quantize, and observers for weight ranges and (static) activation ranges.
///
/// A layer's scheme: f32 if the filter ([`Ptq::layers`], default every layer) does not select
/// it; else the last [`LayerRule`] matching it ([`Ptq::layer_scheme`], [`Ptq::exclude`]); else
/// the default scheme. Every rule pattern and filter pattern must match a layer of the model
/// being quantized ([`Error::InvalidParam`] `"rules"` or `"layers"` naming the pattern).
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::data::Dataset;
/// use shrink::eval::evaluate;
/// use shrink::nn::{Activation, Mlp};
/// use shrink::quant::{Granularity, Ptq, QuantScheme, Quantizer};
/// use shrink::train::{Adam, Trainer};
/// use shrink::Forward;
///
/// let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
/// let mut mlp = Mlp::new(&[64, 32, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// Trainer::new(Adam::new(1e-2)).epochs(5).seed(0).fit(&mut mlp, &train, None)?;
///
/// // int4 in groups of 32 inputs, the output layer left in f32. No training: under a
/// // millisecond. Measured: 9,640 -> 2,600 bytes, accuracy 0.9638 -> 0.9666.
/// let q = Ptq::new(QuantScheme::int4(Granularity::PerGroup(32)))
///     .exclude("layers.1")
///     .quantize_mlp(&mlp, None)?;
/// assert!(q.storage_bytes() < mlp.storage_bytes() / 2);
/// assert!(evaluate(&q, &test)?.accuracy >= evaluate(&mlp, &test)?.accuracy - 0.01);
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Ptq {
    pub(crate) default: QuantScheme,
    pub(crate) rules: Vec<LayerRule>,
    pub(crate) filter: LayerFilter,
    pub(crate) weight_observer: Observer,
    activation_observer: Observer,
}

impl Ptq {
    /// Every layer quantized with `scheme`, min-max weight and activation ranges.
    //
    // Never inlined: rustc 1.95.0 (rust-lang/rust#155241, MIR GVN) merged two inlined
    // `Ptq::new(s)` values with the same `s` into one slot when each was passed by value to a
    // closure that pushes rules, so the second call saw the first call's rules and both results
    // freed one buffer. A call's result is never merged. See `docs/compiler-notes.md` and
    // `tests/builder_regression.rs`.
    #[inline(never)]
    pub fn new(scheme: QuantScheme) -> Self {
        Ptq {
            default: scheme,
            rules: Vec::new(),
            filter: LayerFilter::new(),
            weight_observer: Observer::MinMax,
            activation_observer: Observer::MinMax,
        }
    }

    /// Quantizes only the layers `filter` selects (default: every layer); the others stay
    /// f32, whatever the rules say. Replaces any filter set before; checked against the model's
    /// names when quantizing.
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.filter = filter;
        self
    }

    /// The layer filter.
    pub fn layer_filter(&self) -> &LayerFilter {
        &self.filter
    }

    /// Keeps layers matching `pattern` in f32: a [`LayerRule`] without a scheme, so a later
    /// [`layer_scheme`](Self::layer_scheme) matching the same layer wins. Unless such a rule
    /// follows, it quantizes exactly the layers `.layers(LayerFilter::new().exclude(pattern))`
    /// does (the form every pruner and quantizer shares).
    pub fn exclude(self, pattern: impl Into<String>) -> Self {
        self.rule(pattern, None)
    }

    /// Gives layers matching `pattern` their own scheme (later rules win).
    pub fn layer_scheme(self, pattern: impl Into<String>, scheme: QuantScheme) -> Self {
        self.rule(pattern, Some(scheme))
    }

    fn rule(mut self, pattern: impl Into<String>, scheme: Option<QuantScheme>) -> Self {
        self.rules.push(LayerRule {
            pattern: pattern.into(),
            scheme,
        });
        self
    }

    /// How weight ranges are chosen per scale (default min-max).
    pub fn weight_observer(mut self, o: Observer) -> Self {
        self.weight_observer = o;
        self
    }

    /// How static activation ranges are chosen from calibration data (default min-max).
    pub fn activation_observer(mut self, o: Observer) -> Self {
        self.activation_observer = o;
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[LayerRule] {
        &self.rules
    }

    /// Checks every scheme and observer, and the syntax of every rule pattern (`"rules"`) and
    /// filter pattern (`"layers"`).
    pub fn check(&self) -> Result<()> {
        self.default.check()?;
        for r in &self.rules {
            check_pattern(&r.pattern, "rules")?;
            if let Some(s) = r.scheme {
                s.check()?;
            }
        }
        self.filter.check()?;
        self.weight_observer.check()?;
        self.activation_observer.check()
    }

    /// The scheme for layer `name` (`None` = stays f32): none if the filter does not select
    /// it, else the last matching rule, else the default.
    pub fn scheme_for(&self, name: &str) -> Option<QuantScheme> {
        if !self.filter.matches(name) {
            return None;
        }
        self.rules
            .iter()
            .rev()
            .find(|r| glob_matches(&r.pattern, name))
            .map_or(Some(self.default), |r| r.scheme)
    }

    /// Builds the layer from integer codes (RTN or GPTQ) or by rounding, then attaches the
    /// activation handling.
    pub(crate) fn build(
        &self,
        name: &str,
        layer: &Linear,
        scheme: QuantScheme,
        codes: Option<IntCodes>,
        calibration: Option<&Calibration>,
    ) -> Result<QuantLinear> {
        scheme.check()?;
        let w = layer.weight();
        let (rows, cols) = w.dim();
        let weight = match scheme.weights {
            WeightScheme::F16 => QuantWeight::F16 {
                rows,
                cols,
                data: w.iter().map(|&v| f16::from_f32(v)).collect(),
            },
            WeightScheme::Bf16 => QuantWeight::Bf16 {
                rows,
                cols,
                data: w.iter().map(|&v| bf16::from_f32(v)).collect(),
            },
            WeightScheme::Int(s) => {
                let codes = match codes {
                    Some(c) => c,
                    None => rtn(w, s, self.weight_observer)?,
                };
                if s.bits == 8 {
                    QuantWeight::Int8(Int8Weight::from_codes(&codes)?)
                } else {
                    QuantWeight::Int4(Int4Weight::from_codes(&codes)?)
                }
            }
        };
        let overflow = match &weight {
            QuantWeight::F16 { data, .. } => data.iter().any(|v| !v.is_finite()).then_some("f16"),
            QuantWeight::Bf16 { data, .. } => data.iter().any(|v| !v.is_finite()).then_some("bf16"),
            _ => None,
        };
        if let Some(format) = overflow {
            return Err(Error::NonFinite(format!(
                "layer `{name}` weights overflow {format}"
            )));
        }
        let act = match scheme.activations {
            ActivationMode::WeightOnly => ActQuant::None,
            ActivationMode::Dynamic => ActQuant::Dynamic,
            ActivationMode::Static => {
                let cal = calibration.ok_or_else(|| {
                    Error::param(
                        "calibration",
                        format!(
                            "layer `{name}` uses static activations but no calibration was given"
                        ),
                    )
                })?;
                let inputs = cal.require(name, cols)?;
                let (lo, hi) = inputs.range(self.activation_observer, ACTIVATION_SCHEME)?;
                ActQuant::Static(choose_params(lo, hi, ACTIVATION_SCHEME)?)
            }
        };
        QuantLinear::new(weight, layer.bias().to_owned(), act)
    }

    /// Every rule and filter pattern must match at least one of `names` (a pattern that matches
    /// nothing is a typo), and a filter with patterns must select a layer.
    pub(crate) fn check_rules(&self, names: &[String]) -> Result<()> {
        self.check()?;
        self.filter.apply(names)?;
        for r in &self.rules {
            if !names.iter().any(|n| glob_matches(&r.pattern, n)) {
                return Err(Error::param(
                    "rules",
                    format!(
                        "pattern `{}` matches no layer (layers: {names:?})",
                        r.pattern
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A layer kept in f32.
pub(crate) fn keep_f32(layer: &Linear) -> Result<QuantLinear> {
    QuantLinear::new(
        QuantWeight::F32(layer.weight().to_owned()),
        Array1::from(layer.bias().to_vec()),
        ActQuant::None,
    )
}

impl Quantizer for Ptq {
    fn quantize_linear(
        &self,
        name: &str,
        layer: &Linear,
        calibration: Option<&Calibration>,
    ) -> Result<QuantLinear> {
        crate::train::check_linear_finite(layer, "", name)?;
        match self.scheme_for(name) {
            None => keep_f32(layer),
            Some(s) => self.build(name, layer, s, None, calibration),
        }
    }

    fn check_names(&self, names: &[String]) -> Result<()> {
        self.check_rules(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn name_matches_is_the_layer_filter_glob() {
        assert!(name_matches("layers.0", "layers.0"));
        assert!(!name_matches("layers.0", "layers.01"));
        assert!(name_matches("blocks.*.ffn.*", "blocks.3.ffn.in"));
        assert!(!name_matches("blocks.*.ffn.*", "blocks.3.attn.q"));
        assert!(name_matches("*", "anything"));
        assert!(!name_matches("*.o", "blocks.0.attn.o"));
        assert!(name_matches("**.o", "blocks.0.attn.o"));
    }

    #[test]
    fn the_filter_keeps_unselected_layers_f32() {
        let s = QuantScheme::f16();
        let ptq = Ptq::new(s)
            .layers(LayerFilter::new().include("blocks.*.ffn.*"))
            .layer_scheme("**", QuantScheme::bf16());
        assert_eq!(ptq.scheme_for("blocks.0.attn.q"), None);
        assert_eq!(ptq.scheme_for("blocks.0.ffn.in"), Some(QuantScheme::bf16()));
        let names = vec!["blocks.0.attn.q".to_string()];
        assert!(matches!(
            ptq.check_rules(&names),
            Err(Error::InvalidParam { name: "layers", .. })
        ));
        let bad = Ptq::new(s).layer_scheme("a..b", s);
        assert!(matches!(
            bad.check(),
            Err(Error::InvalidParam { name: "rules", .. })
        ));
    }
}
