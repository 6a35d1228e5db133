//! Compression under an accuracy budget: measure each layer's sensitivity to each compression
//! option, then choose per-layer sparsity and bit width greedily for the smallest model whose
//! validation accuracy stays within the budget.
//!
//! 1. **Sensitivity.** For every layer ℓ and option o, compress ℓ alone with o (the other
//!    layers stay f32) and record the validation accuracy drop `d(ℓ, o)`.
//! 2. **Start** from uniform int8 (per-channel, weight-only) on every layer, or f32 for a
//!    layer where even int8 costs more than the budget.
//! 3. **Greedy moves.** Candidate moves (ℓ → o, smaller than ℓ's current choice and with
//!    `d(ℓ, o)` within the budget) are tried largest saving first; a move is kept if the whole
//!    model's measured drop stays within the budget (the drops are measured together, not
//!    summed, since layer errors interact).
//!
//! Each decision is recorded with its reason, so the result says what was chosen and why.

use ndarray::Array2;

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::eval::evaluate;
use crate::nn::{Linear, LinearLayer, Mlp, NamedLinears};
use crate::prune::{MagnitudePruner, Pruner};
use crate::quant::{Granularity, Ptq, QuantLinear, QuantScheme, Quantizer};
use crate::sparse::SparseInt8Linear;

/// One way to compress a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LayerOption {
    /// The f32 layer, unchanged.
    F32,
    /// int8 weights, one scale per output channel, dense.
    Int8,
    /// int4 weights, one scale per group of 32 inputs, dense (needs the input width divisible
    /// by 32).
    Int4Group32,
    /// Magnitude-pruned to this sparsity (no fine-tuning), the kept weights int8, stored CSR.
    SparseInt8(f32),
}

impl LayerOption {
    /// A short label ("int8", "int4-g32", "sparse 90% int8", "f32").
    pub fn label(&self) -> String {
        match self {
            LayerOption::F32 => "f32".into(),
            LayerOption::Int8 => "int8".into(),
            LayerOption::Int4Group32 => "int4-g32".into(),
            LayerOption::SparseInt8(s) => format!("sparse {:.0}% int8", 100.0 * s),
        }
    }

    /// The layer compressed with this option. Errors with [`Error::NonFinite`] naming the layer
    /// if its weights are not finite, and with [`Error::InvalidParam`] for a sparsity outside
    /// [0, 1).
    pub fn apply(&self, name: &str, layer: &Linear) -> Result<CompressedLinear> {
        crate::train::check_linear_finite(layer, "", name)?;
        let quant = |scheme| Ptq::new(scheme).quantize_linear(name, layer, None);
        Ok(match *self {
            LayerOption::F32 => CompressedLinear::F32(layer.clone()),
            LayerOption::Int8 => {
                CompressedLinear::Quant(quant(QuantScheme::int8(Granularity::PerChannel))?)
            }
            LayerOption::Int4Group32 => {
                CompressedLinear::Quant(quant(QuantScheme::int4(Granularity::PerGroup(32)))?)
            }
            LayerOption::SparseInt8(s) => {
                let mut single =
                    Mlp::from_layers(vec![layer.clone()], vec![crate::nn::Activation::Identity])?;
                MagnitudePruner::new(s).prune(&mut single)?;
                CompressedLinear::SparseInt8(SparseInt8Linear::from_linear(&single.layers()[0])?)
            }
        })
    }
}

/// A layer in whichever form the search chose.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CompressedLinear {
    /// Left in f32.
    F32(Linear),
    /// Dense quantized.
    Quant(QuantLinear),
    /// Pruned, int8, CSR.
    SparseInt8(SparseInt8Linear),
}

impl CompressedLinear {
    fn inner(&self) -> &dyn LinearLayer {
        match self {
            CompressedLinear::F32(l) => l,
            CompressedLinear::Quant(l) => l,
            CompressedLinear::SparseInt8(l) => l,
        }
    }
}

impl LinearLayer for CompressedLinear {
    fn forward(&self, x: ndarray::ArrayView2<f32>) -> Result<Array2<f32>> {
        self.inner().forward(x)
    }

    fn in_features(&self) -> usize {
        self.inner().in_features()
    }

    fn out_features(&self) -> usize {
        self.inner().out_features()
    }

    fn param_count(&self) -> usize {
        self.inner().param_count()
    }

    fn storage_bytes(&self) -> usize {
        self.inner().storage_bytes()
    }

    fn nonzeros(&self) -> usize {
        self.inner().nonzeros()
    }

    fn check_finite_params(&self, name: &str) -> Result<()> {
        self.inner().check_finite_params(name)
    }
}

/// A layer's final choice and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerChoice {
    /// Layer name.
    pub name: String,
    /// The chosen option.
    pub option: LayerOption,
    /// Bytes of the layer in that form.
    pub bytes: usize,
    /// Validation accuracy drop (points) of this option on this layer alone.
    pub sensitivity_points: f32,
}

/// The search's result.
#[derive(Debug, Clone)]
pub struct BudgetResult {
    /// The compressed model.
    pub model: Mlp<CompressedLinear>,
    /// Per-layer choices, in forward order.
    pub choices: Vec<LayerChoice>,
    /// Validation accuracy of the f32 model.
    pub baseline_accuracy: f32,
    /// Validation accuracy of the chosen model.
    pub accuracy: f32,
    /// Bytes of the uniform int8 model the search started from.
    pub uniform_int8_bytes: usize,
    /// Every decision, in order: sensitivities measured, moves kept and moves refused.
    pub log: Vec<String>,
}

/// Settings of the budgeted search.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetSearch {
    max_drop_points: f32,
    options: Vec<LayerOption>,
}

impl BudgetSearch {
    /// Most options [`BudgetSearch::run`] accepts: every (layer, option) pair is compressed,
    /// kept and evaluated on the validation set, so the cost grows with layers × options.
    pub const MAX_OPTIONS: usize = 64;

    /// A search allowing at most `max_drop_points` percentage points of validation accuracy
    /// loss, over int4-g32 and sparse int8 at 50/70/80/90% besides int8.
    pub fn new(max_drop_points: f32) -> Self {
        BudgetSearch {
            max_drop_points,
            options: vec![
                LayerOption::Int4Group32,
                LayerOption::SparseInt8(0.5),
                LayerOption::SparseInt8(0.7),
                LayerOption::SparseInt8(0.8),
                LayerOption::SparseInt8(0.9),
            ],
        }
    }

    /// Replaces the options tried beyond int8 (at most [`BudgetSearch::MAX_OPTIONS`], checked
    /// by [`BudgetSearch::run`]).
    pub fn options(mut self, options: Vec<LayerOption>) -> Self {
        self.options = options;
        self
    }

    /// Runs the search on `model`, measuring accuracy on `validation`.
    pub fn run(&self, model: &Mlp, validation: &Dataset) -> Result<BudgetResult> {
        if !(self.max_drop_points >= 0.0 && self.max_drop_points.is_finite()) {
            return Err(Error::param(
                "max_drop_points",
                format!("must be finite and ≥ 0, got {}", self.max_drop_points),
            ));
        }
        if self.options.len() > Self::MAX_OPTIONS {
            return Err(Error::too_large(
                "BudgetSearch options",
                format!(
                    "{} options, above the limit of {}",
                    self.options.len(),
                    Self::MAX_OPTIONS
                ),
            ));
        }
        crate::train::check_model_finite(model, "")?;
        for o in &self.options {
            if let LayerOption::SparseInt8(s) = o {
                if !(0.0..1.0).contains(s) {
                    return Err(Error::param(
                        "options",
                        format!("sparsity must be in [0, 1), got {s}"),
                    ));
                }
            }
        }
        let names = model.linear_names();
        let acc =
            |m: &Mlp<CompressedLinear>| -> Result<f32> { Ok(evaluate(m, validation)?.accuracy) };
        let base = evaluate(model, validation)?.accuracy;
        let drop = |a: f32| 100.0 * (base - a);
        let mut log = Vec::new();

        // Every (layer, option) compressed once.
        let mut all_options = vec![LayerOption::F32, LayerOption::Int8];
        all_options.extend(self.options.iter().copied());
        let mut table: Vec<Vec<Option<(CompressedLinear, f32)>>> = Vec::new();
        let f32_model = model.map_layers(|_, l| Ok(CompressedLinear::F32(l.clone())))?;
        for (i, (name, layer)) in names.iter().zip(model.layers()).enumerate() {
            let mut row = Vec::new();
            for opt in &all_options {
                match opt.apply(name, layer) {
                    Ok(c) => {
                        let mut probe = f32_model.clone();
                        probe.layers_mut()[i] = c.clone();
                        let d = drop(acc(&probe)?);
                        log.push(format!(
                            "sensitivity {name} {}: {d:+.2} points, {} bytes",
                            opt.label(),
                            c.storage_bytes()
                        ));
                        row.push(Some((c, d)));
                    }
                    Err(e) => {
                        log.push(format!("{name} {}: not applicable ({e})", opt.label()));
                        row.push(None);
                    }
                }
            }
            table.push(row);
        }

        // Start: int8 where it fits the budget alone, else f32.
        let mut choice: Vec<usize> = table
            .iter()
            .map(|row| match &row[1] {
                Some((_, d)) if *d <= self.max_drop_points => 1,
                _ => 0,
            })
            .collect();
        let build = |choice: &[usize]| -> Result<Mlp<CompressedLinear>> {
            model.map_layers(|name, _| {
                let i = names.iter().position(|n| n == name).unwrap_or(0);
                table[i][choice[i]]
                    .as_ref()
                    .map(|(c, _)| c.clone())
                    .ok_or_else(|| Error::param("options", format!("no option for {name}")))
            })
        };
        let uniform_int8_bytes = build(&vec![1; names.len()])?
            .layers()
            .iter()
            .map(|l| l.storage_bytes())
            .sum();
        let mut current = build(&choice)?;
        let mut current_acc = acc(&current)?;

        // Candidate moves, largest saving (against int8) first.
        let mut moves: Vec<(usize, usize, usize)> = Vec::new();
        for (i, row) in table.iter().enumerate() {
            for (j, cell) in row.iter().enumerate().skip(2) {
                if let Some((c, d)) = cell {
                    if *d <= self.max_drop_points {
                        moves.push((i, j, c.storage_bytes()));
                    } else {
                        log.push(format!(
                            "skip {} {}: alone it costs {d:.2} points > budget {:.2}",
                            names[i],
                            all_options[j].label(),
                            self.max_drop_points
                        ));
                    }
                }
            }
        }
        moves.sort_by_key(|&(i, _, bytes)| {
            let int8 = table[i][1].as_ref().map_or(0, |(c, _)| c.storage_bytes());
            std::cmp::Reverse(int8.saturating_sub(bytes))
        });
        for (i, j, bytes) in moves {
            let cur_bytes = table[i][choice[i]]
                .as_ref()
                .map_or(usize::MAX, |(c, _)| c.storage_bytes());
            if bytes >= cur_bytes {
                continue;
            }
            let mut trial = choice.clone();
            trial[i] = j;
            let model_t = build(&trial)?;
            let a = acc(&model_t)?;
            if drop(a) <= self.max_drop_points {
                log.push(format!(
                    "keep {} → {}: {} → {} bytes, model drop {:.2} points",
                    names[i],
                    all_options[j].label(),
                    cur_bytes,
                    bytes,
                    drop(a)
                ));
                choice = trial;
                current = model_t;
                current_acc = a;
            } else {
                log.push(format!(
                    "refuse {} → {}: model drop would be {:.2} points > {:.2}",
                    names[i],
                    all_options[j].label(),
                    drop(a),
                    self.max_drop_points
                ));
            }
        }
        let choices = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (c, d) = table[i][choice[i]]
                    .as_ref()
                    .map_or((0, 0.0), |(c, d)| (c.storage_bytes(), *d));
                LayerChoice {
                    name: name.clone(),
                    option: all_options[choice[i]],
                    bytes: c,
                    sensitivity_points: d,
                }
            })
            .collect();
        Ok(BudgetResult {
            model: current,
            choices,
            baseline_accuracy: base,
            accuracy: current_acc,
            uniform_int8_bytes,
            log,
        })
    }
}
