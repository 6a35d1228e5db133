//! The compression report: for a baseline and every compression stage, size, accuracy and
//! latency side by side, with per-layer detail; printed as an aligned table, or written as CSV
//! and JSON.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

use super::{evaluate, measure_latency};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{Forward, LinearLayer, Mlp};

/// Per-layer statistics of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerStat {
    /// The layer's name (`layers.{i}`).
    pub name: String,
    /// Weight shape (out, in).
    pub shape: (usize, usize),
    /// Parameters the layer represents.
    pub params: usize,
    /// Parameters that are not zero.
    pub nonzeros: usize,
    /// Exact stored bytes (values, scales, zero points, indices).
    pub bytes: usize,
    /// Stored bits per represented parameter, overheads included (32 for dense f32).
    pub bits_per_param: f32,
    /// Signal-to-quantization-noise ratio of the weights in dB, where a quantizer reported it.
    pub sqnr_db: Option<f32>,
}

impl LayerStat {
    /// Fraction of the layer's parameters that are zero (pruned).
    pub fn sparsity(&self) -> f32 {
        1.0 - self.nonzeros as f32 / self.params.max(1) as f32
    }
}

/// A model that can list its layers for the report.
pub trait LayerStats {
    /// One entry per layer, in forward order.
    fn layer_stats(&self) -> Vec<LayerStat>;
}

impl<L: LinearLayer> LayerStats for Mlp<L> {
    fn layer_stats(&self) -> Vec<LayerStat> {
        self.layers()
            .iter()
            .enumerate()
            .map(|(i, l)| LayerStat {
                name: format!("layers.{i}"),
                shape: (l.out_features(), l.in_features()),
                params: l.param_count(),
                nonzeros: l.nonzeros(),
                bytes: l.storage_bytes(),
                bits_per_param: 8.0 * l.storage_bytes() as f32 / l.param_count().max(1) as f32,
                sqnr_db: None,
            })
            .collect()
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageReport {
    /// What this stage is ("f32 teacher", "pruned 90% + int8", ...).
    pub name: String,
    /// Parameters represented.
    pub params: usize,
    /// Non-zero parameters.
    pub nonzeros: usize,
    /// Exact stored bytes.
    pub bytes: usize,
    /// Baseline bytes / these bytes.
    pub compression: f32,
    /// Test accuracy.
    pub accuracy: f32,
    /// Test macro-F1.
    pub macro_f1: f32,
    /// Accuracy minus the baseline's, in points (percentage points).
    pub accuracy_delta_points: f32,
    /// Median batch-1 latency in microseconds.
    pub latency_batch1_us: f64,
    /// Median latency of a batch of `latency_batch` rows, in microseconds.
    pub latency_batch_n_us: f64,
    /// The batch size of `latency_batch_n_us`.
    pub latency_batch: usize,
    /// Per-layer detail.
    pub layers: Vec<LayerStat>,
}

/// Size, accuracy and latency of a baseline and each compression stage.
///
/// The first stage added is the baseline that ratios and accuracy changes refer to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressionReport {
    /// The stages, baseline first.
    pub stages: Vec<StageReport>,
    /// Batch size of the batch-N latency.
    batch: usize,
    /// Repeats per latency median.
    repeats: usize,
}

impl CompressionReport {
    /// An empty report measuring latency at batch 1 and `batch` (e.g. 256), each the median of
    /// `repeats` runs. Errors with [`Error::InvalidParam`] for a `batch` of 0 or `repeats`
    /// outside 1 ..= [`MAX_REPEATS`](super::MAX_REPEATS).
    pub fn new(batch: usize, repeats: usize) -> Result<Self> {
        super::latency::check_repeats("batch", batch, repeats)?;
        Ok(CompressionReport {
            stages: Vec::new(),
            batch,
            repeats,
        })
    }

    /// Measures `model` on `test` and appends it as a stage; `sqnr` gives per-layer SQNR (dB) by
    /// layer name where a quantizer reported it. Errors as [`evaluate`] and
    /// [`measure_latency`]; on error the report is unchanged.
    pub fn add<M: Forward + LayerStats + ?Sized>(
        &mut self,
        name: impl Into<String>,
        model: &M,
        test: &Dataset,
        sqnr: &HashMap<String, f32>,
    ) -> Result<&StageReport> {
        let metrics = evaluate(model, test)?;
        let latency = measure_latency(model, test.features(), self.batch, self.repeats)?;
        let mut layers = model.layer_stats();
        for l in &mut layers {
            l.sqnr_db = sqnr.get(&l.name).copied();
        }
        let bytes = model.storage_bytes();
        let (base_bytes, base_acc) = self
            .stages
            .first()
            .map_or((bytes, metrics.accuracy), |b| (b.bytes, b.accuracy));
        self.stages.push(StageReport {
            name: name.into(),
            params: model.param_count(),
            nonzeros: layers.iter().map(|l| l.nonzeros).sum(),
            bytes,
            compression: base_bytes as f32 / bytes.max(1) as f32,
            accuracy: metrics.accuracy,
            macro_f1: metrics.macro_f1,
            accuracy_delta_points: 100.0 * (metrics.accuracy - base_acc),
            latency_batch1_us: latency.batch1.as_secs_f64() * 1e6,
            latency_batch_n_us: latency.batch_n.as_secs_f64() * 1e6,
            latency_batch: latency.n,
            layers,
        });
        Ok(self.stages.last().expect("a stage was just pushed"))
    }

    /// One line per stage, comma-separated, with a header.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "stage,params,nonzeros,bytes,compression,accuracy,macro_f1,accuracy_delta_points,latency_batch1_us,latency_batch_n_us,latency_batch\n",
        );
        for s in &self.stages {
            out.push_str(&format!(
                "\"{}\",{},{},{},{:.3},{:.4},{:.4},{:.2},{:.2},{:.2},{}\n",
                s.name.replace('"', "\"\""),
                s.params,
                s.nonzeros,
                s.bytes,
                s.compression,
                s.accuracy,
                s.macro_f1,
                s.accuracy_delta_points,
                s.latency_batch1_us,
                s.latency_batch_n_us,
                s.latency_batch
            ));
        }
        out
    }

    /// The whole report, per-layer detail included, as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::parse("cannot encode report", e))
    }

    /// The per-layer detail as an aligned table.
    pub fn layer_table(&self) -> String {
        let mut out = format!(
            "{:<34} {:>11} {:>9} {:>9} {:>9} {:>7} {:>8}\n",
            "stage / layer", "shape", "nonzeros", "sparsity", "bytes", "bits", "SQNR dB"
        );
        for s in &self.stages {
            out.push_str(&format!("{}\n", s.name));
            for l in &s.layers {
                out.push_str(&format!(
                    "  {:<32} {:>11} {:>9} {:>8.1}% {:>9} {:>7.2} {:>8}\n",
                    l.name,
                    format!("{}x{}", l.shape.0, l.shape.1),
                    l.nonzeros,
                    100.0 * l.sparsity(),
                    l.bytes,
                    l.bits_per_param,
                    l.sqnr_db.map_or("-".to_string(), |v| format!("{v:.1}"))
                ));
            }
        }
        out
    }
}

impl fmt::Display for CompressionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<34} {:>8} {:>8} {:>9} {:>7} {:>8} {:>8} {:>7} {:>10} {:>11}",
            "stage",
            "params",
            "nonzero",
            "bytes",
            "ratio",
            "accuracy",
            "macroF1",
            "Δ pts",
            "b=1 µs",
            format!("b={} µs", self.batch)
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<34} {:>8} {:>8} {:>9} {:>6.1}x {:>8.4} {:>8.4} {:>+7.2} {:>10.1} {:>11.1}",
                s.name,
                s.params,
                s.nonzeros,
                s.bytes,
                s.compression,
                s.accuracy,
                s.macro_f1,
                s.accuracy_delta_points,
                s.latency_batch1_us,
                s.latency_batch_n_us
            )?;
        }
        Ok(())
    }
}
