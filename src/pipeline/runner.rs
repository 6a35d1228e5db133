//! The compression pipeline: trained model → prune (with fine-tuning) → quantize → distill a
//! student (and quantize it), measuring every stage into a [`CompressionReport`].

use std::collections::HashMap;

use ndarray::{s, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};

use super::stages::{DistillStep, PruneStep, QuantStep, Teacher};
use crate::data::Dataset;
use crate::distill::Distiller;
use crate::error::{Error, Result};
use crate::eval::{sqnr_db, CompressionReport, LayerStats};
use crate::nn::{Activation, Forward, Mlp};
use crate::prune::compact;
use crate::quant::{Calibration, QuantLinear, QuantReport, QuantWeight};
use crate::sparse::{SparseInt8Linear, SparseLinear};

/// A model produced by a stage, ready to run.
pub type StageModel = Box<dyn Forward>;

/// What a pipeline run returns: the report and every stage's model, baseline first.
pub struct PipelineOutput {
    /// Size, accuracy and latency of every stage.
    pub report: CompressionReport,
    /// `(stage name, model)`, in the report's order.
    pub models: Vec<(String, StageModel)>,
}

/// Chains compression steps; each is optional and takes the previous stage's output.
///
/// ```
/// use rand::{rngs::StdRng, SeedableRng};
/// use shrink::data::Dataset;
/// use shrink::nn::{Activation, Mlp};
/// use shrink::pipeline::{Pipeline, QuantStep};
/// use shrink::prune::MagnitudePruner;
/// use shrink::train::{Adam, Trainer};
///
/// let (train, test) = Dataset::digits().standardized_split(0.2, 0)?;
/// let mut teacher = Mlp::new(&[64, 64, 10], Activation::Relu, &mut StdRng::seed_from_u64(0))?;
/// Trainer::new(Adam::new(1e-2)).epochs(10).fit(&mut teacher, &train, None)?;
/// // Fine-tuning 10 epochs after pruning is what keeps the accuracy (2 epochs at Adam 1e-3
/// // lost 6 points); the whole run takes about 0.06 s in release.
/// let fine_tune = Trainer::new(Adam::new(3e-3)).epochs(10).seed(1);
/// let out = Pipeline::new()
///     .prune(MagnitudePruner::new(0.8).global(), Some(fine_tune))
///     .quantize(QuantStep::SparseInt8)
///     .latency(8, 3)
///     .run(&teacher, &train, &test)?;
/// assert_eq!(out.report.stages.len(), 3);
/// // 80% of the weights pruned, the rest int8 in CSR: 5.2x smaller than f32, and within 1
/// // point of its accuracy (measured 0.9638 -> 0.9694).
/// let last = &out.report.stages[2];
/// assert!(last.compression > 4.0);
/// assert!(last.accuracy_delta_points >= -1.0);
/// # Ok::<(), shrink::Error>(())
/// ```
pub struct Pipeline {
    prune: Option<PruneStep>,
    quantize: Option<QuantStep>,
    distill: Option<DistillStep>,
    calibration_rows: usize,
    latency_batch: usize,
    latency_repeats: usize,
    progress: bool,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::new()
    }
}

impl Pipeline {
    /// An empty pipeline: only the baseline is measured. Latency at batch 1 and 256, median of
    /// 50 runs; 256 calibration rows; no progress output.
    // Not inlined: a workaround for a rustc 1.95.0 miscompile of owned builders passed by value
    // to closures (rust-lang/rust#155241); see `docs/compiler-notes.md`.
    #[inline(never)]
    pub fn new() -> Self {
        Pipeline {
            prune: None,
            quantize: None,
            distill: None,
            calibration_rows: 256,
            latency_batch: 256,
            latency_repeats: 50,
            progress: false,
        }
    }

    /// Prunes with `pruner`, then fine-tunes with `fine_tune` (masks held).
    pub fn prune(
        mut self,
        pruner: impl crate::prune::Pruner + 'static,
        fine_tune: Option<crate::train::Trainer>,
    ) -> Self {
        self.prune = Some(PruneStep {
            pruner: Box::new(pruner),
            fine_tune,
        });
        self
    }

    /// Quantizes the (pruned) model.
    pub fn quantize(mut self, step: QuantStep) -> Self {
        self.quantize = Some(step);
        self
    }

    /// Distills a student.
    pub fn distill(mut self, step: DistillStep) -> Self {
        self.distill = Some(step);
        self
    }

    /// Rows of the training set used to calibrate post-training quantizers.
    pub fn calibration_rows(mut self, rows: usize) -> Self {
        self.calibration_rows = rows;
        self
    }

    /// Latency measurement: batch size of the batch-N figure and runs per median.
    pub fn latency(mut self, batch: usize, repeats: usize) -> Self {
        self.latency_batch = batch;
        self.latency_repeats = repeats;
        self
    }

    /// Prints one line per stage to stderr as the run goes.
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    fn say(&self, msg: impl AsRef<str>) {
        if self.progress {
            eprintln!("[pipeline] {}", msg.as_ref());
        }
    }

    /// Runs every configured step on `model`, training on `train` and measuring on `test`.
    /// `model` is not changed.
    ///
    /// Checked before any stage runs: the model's weights ([`Error::NonFinite`] naming the
    /// layer), `calibration_rows ≥ 1`, the data widths, the fine-tuning trainer's and the
    /// distiller's settings, and the student's sizes (every width ≥ 1, at least two entries,
    /// parameters within [`crate::limits::MAX_PARAMS`]).
    pub fn run(&self, model: &Mlp, train: &Dataset, test: &Dataset) -> Result<PipelineOutput> {
        if self.calibration_rows == 0 {
            return Err(Error::param("calibration_rows", "must be ≥ 1, got 0"));
        }
        crate::train::check_model_finite(model, "")?;
        if let Some(trainer) = self.prune.as_ref().and_then(|p| p.fine_tune.as_ref()) {
            trainer.check()?;
        }
        if let Some(step) = &self.distill {
            step.distiller.check()?;
            check_student_sizes(&step.sizes)?;
        }
        let quant_steps = self
            .quantize
            .iter()
            .chain(self.distill.iter().filter_map(|d| d.quantize.as_ref()));
        for q in quant_steps {
            if let QuantStep::Qat(qat) = q {
                qat.check()?;
            }
        }
        for d in [train, test] {
            if d.n_features() != model.in_features() {
                return Err(Error::shape(
                    "Pipeline data",
                    model.in_features(),
                    d.n_features(),
                ));
            }
        }
        let mut out = PipelineOutput {
            report: CompressionReport::new(self.latency_batch, self.latency_repeats)?,
            models: Vec::new(),
        };
        let none = HashMap::new();
        self.record(&mut out, "f32 model", model.clone(), test, &none)?;

        // Prune and fine-tune; the masked dense model feeds the next steps.
        let mut current = model.clone();
        let mut pruned = false;
        if let Some(step) = &self.prune {
            let r = step.pruner.prune(&mut current)?;
            self.say(format!("pruned to {:.1}% sparsity", 100.0 * r.sparsity()));
            if let Some(trainer) = &step.fine_tune {
                trainer.fit(&mut current, train, None)?;
                self.say("fine-tuned with masks held");
            }
            // Neurons pruning left without inputs or outputs are removed exactly.
            let (compacted, removed) = compact(&current)?;
            if removed.iter().any(|&r| r > 0) {
                self.say(format!("removed dead hidden neurons: {removed:?}"));
            }
            current = compacted;
            let sparse = current.map_layers(|_, l| SparseLinear::from_linear(l))?;
            let name = format!("pruned {:.0}% (CSR f32)", 100.0 * r.sparsity());
            self.record(&mut out, &name, sparse, test, &none)?;
            pruned = true;
        }
        if let Some(step) = &self.quantize {
            let prefix = if pruned { "pruned + " } else { "" };
            self.quantize_stage(&mut out, step, &current, prefix, train, test)?;
        }
        if let Some(step) = &self.distill {
            let mut rng = StdRng::seed_from_u64(step.seed);
            let mut student = Mlp::new(&step.sizes, Activation::Relu, &mut rng)?;
            let teacher: &dyn Forward = match step.teacher {
                Teacher::Original => model,
                Teacher::Compressed => out
                    .models
                    .last()
                    .map_or(model as &dyn Forward, |(_, m)| m.as_ref()),
            };
            step.distiller
                .distill_dataset(teacher, &mut student, train)?;
            self.say(format!("distilled a {:?} student", step.sizes));
            let name = format!("student {} (f32)", sizes_label(&step.sizes));
            self.record(&mut out, &name, student.clone(), test, &none)?;
            if let Some(q) = &step.quantize {
                let prefix = format!("student {} ", sizes_label(&step.sizes));
                self.quantize_stage(&mut out, q, &student, &prefix, train, test)?;
            }
        }
        Ok(out)
    }

    fn quantize_stage(
        &self,
        out: &mut PipelineOutput,
        step: &QuantStep,
        model: &Mlp,
        prefix: &str,
        train: &Dataset,
        test: &Dataset,
    ) -> Result<()> {
        match step {
            QuantStep::SparseInt8 => {
                let q = model.map_layers(|_, l| SparseInt8Linear::from_linear(l))?;
                let sqnr = model
                    .layers()
                    .iter()
                    .zip(q.layers())
                    .enumerate()
                    .map(|(i, (f, ql))| {
                        let db = sqnr_db(f.weight(), ql.dequantized_weight()?.view())?;
                        Ok((format!("layers.{i}"), db))
                    })
                    .collect::<Result<_>>()?;
                self.record(out, &format!("{prefix}int8 (CSR)"), q, test, &sqnr)
            }
            QuantStep::Quantizer(quantizer) => {
                let rows = self.calibration_rows.min(train.len());
                let calib: ArrayView2<f32> = train.features().slice_move(s![..rows, ..]);
                let calibration = Calibration::from_mlp(model, &[calib])?;
                let q = quantizer.quantize_mlp(model, Some(&calibration))?;
                let sqnr = sqnr_map(&QuantReport::for_mlp(model, &q)?);
                let label = quant_label(&q);
                self.record(out, &format!("{prefix}{label}"), q, test, &sqnr)
            }
            QuantStep::Qat(qat) => {
                let (latent, q) = qat.fit(model, train)?;
                let sqnr = sqnr_map(&QuantReport::for_mlp(&latent, &q)?);
                let label = quant_label(&q);
                self.record(out, &format!("{prefix}{label} (QAT)"), q, test, &sqnr)
            }
        }
    }

    fn record<M: Forward + LayerStats + 'static>(
        &self,
        out: &mut PipelineOutput,
        name: &str,
        model: M,
        test: &Dataset,
        sqnr: &HashMap<String, f32>,
    ) -> Result<()> {
        let stage = out.report.add(name, &model, test, sqnr)?;
        self.say(format!(
            "{name}: {} bytes ({:.1}x), accuracy {:.4}",
            stage.bytes, stage.compression, stage.accuracy
        ));
        out.models.push((name.to_string(), Box::new(model)));
        Ok(())
    }
}

/// Checks a student's layer widths before it is built: at least an input and one layer, every
/// width ≥ 1, and the parameter count within [`crate::limits::MAX_PARAMS`].
fn check_student_sizes(sizes: &[usize]) -> Result<()> {
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(Error::param(
            "sizes",
            format!("need an input and at least one layer, all widths ≥ 1, got {sizes:?}"),
        ));
    }
    let mut total = 0usize;
    for w in sizes.windows(2) {
        let layer = crate::limits::product("student sizes", &[w[0], w[1]])?
            .checked_add(w[1])
            .ok_or_else(|| Error::too_large("student sizes", format!("{sizes:?} overflows")))?;
        total = crate::limits::add_params("student sizes", total, layer)?;
    }
    Ok(())
}

fn sizes_label(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

fn sqnr_map(r: &QuantReport) -> HashMap<String, f32> {
    r.layers
        .iter()
        .map(|l| (l.name.clone(), l.sqnr_db))
        .collect()
}

/// A short label of a quantized model's weight formats ("int8", "int4", ..., or "mixed").
fn quant_label(q: &Mlp<QuantLinear>) -> String {
    let mut labels: Vec<&str> = q
        .layers()
        .iter()
        .map(|l| match l.weight() {
            QuantWeight::F32(_) => "f32",
            QuantWeight::F16 { .. } => "f16",
            QuantWeight::Bf16 { .. } => "bf16",
            QuantWeight::Int8(_) => "int8",
            QuantWeight::Int4(_) => "int4",
        })
        .collect();
    labels.dedup();
    if labels.len() == 1 {
        labels[0].to_string()
    } else {
        format!("mixed {}", labels.join("/"))
    }
}
