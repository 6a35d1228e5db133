//! Per-layer quantization report: SQNR, max abs error and exact bytes of each weight.
//!
//! `SQNR (dB) = 10·log10(Σ w² / Σ (w − ŵ)²)` over a layer's weights (∞ when the error is zero,
//! e.g. f32 layers); bytes are the layer's exact storage (values, scales, zero points, f32 bias).

use super::qlinear::QuantLinear;
use crate::error::{Error, Result};
use crate::eval::sqnr_db;
use crate::nn::{Encoder, Linear, LinearLayer, Mlp, NamedLinears};

/// One layer's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// Layer name (`"layers.0"`, `"blocks.0.attn.q"` …).
    pub name: String,
    /// Signal-to-quantization-noise ratio of the weights, in dB.
    pub sqnr_db: f32,
    /// Largest `|w − ŵ|`.
    pub max_abs_error: f32,
    /// Exact bytes of the quantized layer.
    pub bytes: usize,
    /// Bytes of the f32 layer.
    pub f32_bytes: usize,
}

/// Figures for every quantized layer of a model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuantReport {
    /// One entry per linear layer, in forward order.
    pub layers: Vec<LayerReport>,
}

fn layer_report(name: &str, f: &Linear, q: &QuantLinear) -> Result<LayerReport> {
    let w = f.weight();
    let wq = q.weight().dequantize();
    let sqnr = sqnr_db(w, wq.view())?;
    let max = w
        .iter()
        .zip(wq.iter())
        .fold(0.0f32, |m, (&a, &b)| m.max((a - b).abs()));
    Ok(LayerReport {
        name: name.to_string(),
        sqnr_db: sqnr,
        max_abs_error: max,
        bytes: q.storage_bytes(),
        f32_bytes: 4 * f.param_count(),
    })
}

impl QuantReport {
    /// Compares an f32 MLP with its quantized form, layer by layer.
    pub fn for_mlp(original: &Mlp, quantized: &Mlp<QuantLinear>) -> Result<Self> {
        if original.layers().len() != quantized.layers().len() {
            return Err(Error::shape(
                "QuantReport layers",
                original.layers().len(),
                quantized.layers().len(),
            ));
        }
        let layers = original
            .layers()
            .iter()
            .zip(quantized.layers())
            .enumerate()
            .map(|(i, (f, q))| layer_report(&format!("layers.{i}"), f, q))
            .collect::<Result<_>>()?;
        Ok(QuantReport { layers })
    }

    /// Compares an f32 encoder's linear layers with its quantized form's.
    pub fn for_encoder(original: &Encoder, quantized: &Encoder<QuantLinear>) -> Result<Self> {
        let mut originals = Vec::new();
        original.visit_linears(&mut |n, l| originals.push((n.to_string(), l.clone())));
        let mut quants = Vec::new();
        quantized.visit_layers(&mut |n, l| quants.push((n.to_string(), l.clone())));
        if originals.len() != quants.len() {
            return Err(Error::shape(
                "QuantReport layers",
                originals.len(),
                quants.len(),
            ));
        }
        let layers = originals
            .iter()
            .zip(&quants)
            .map(|((n, f), (_, q))| layer_report(n, f, q))
            .collect::<Result<_>>()?;
        Ok(QuantReport { layers })
    }

    /// Mean SQNR over the layers with finite SQNR (quantized ones), or ∞ if none.
    pub fn mean_sqnr_db(&self) -> f32 {
        let finite: Vec<f32> = self
            .layers
            .iter()
            .map(|l| l.sqnr_db)
            .filter(|s| s.is_finite())
            .collect();
        if finite.is_empty() {
            f32::INFINITY
        } else {
            finite.iter().sum::<f32>() / finite.len() as f32
        }
    }

    /// Total quantized bytes of the reported layers.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|l| l.bytes).sum()
    }
}

impl std::fmt::Display for QuantReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<22} {:>9} {:>10} {:>9} {:>9}",
            "layer", "SQNR dB", "max err", "bytes", "f32"
        )?;
        for l in &self.layers {
            writeln!(
                f,
                "{:<22} {:>9.2} {:>10.3e} {:>9} {:>9}",
                l.name, l.sqnr_db, l.max_abs_error, l.bytes, l.f32_bytes
            )?;
        }
        Ok(())
    }
}
