//! Calibration: the inputs every named linear layer sees when the f32 model runs on
//! user-chosen batches, recorded once and used for static activation ranges (through an
//! [`Observer`]) and for GPTQ's Hessians `H = 2XᵀX`.
//!
//! Memory: every recorded input row is kept (rows × in floats per layer), so calibrate on a
//! few hundred to a few thousand rows or tokens.

use std::sync::Mutex;

use ndarray::{Array2, ArrayView2};

use super::observer::Observer;
use super::scheme::IntScheme;
use crate::error::{Error, Result};
use crate::nn::{Encoder, Forward, Linear, LinearLayer, Mlp};

/// The recorded inputs of one layer, batch by batch (each (rows, in)).
#[derive(Debug, Clone)]
pub struct LayerInputs {
    width: usize,
    batches: Vec<Array2<f32>>,
}

impl LayerInputs {
    /// Inputs from explicit batches, which must all have `width` columns, hold at least one row
    /// in total and be finite.
    pub fn new(width: usize, batches: Vec<Array2<f32>>) -> Result<Self> {
        for b in &batches {
            if b.ncols() != width {
                return Err(Error::shape("calibration batch width", width, b.ncols()));
            }
            crate::error::check_finite(b.iter(), || "calibration data".into())?;
        }
        if batches.iter().all(|b| b.nrows() == 0) {
            return Err(Error::Empty("calibration data".into()));
        }
        let batches = batches
            .into_iter()
            .map(|b| b.as_standard_layout().into_owned())
            .collect();
        Ok(LayerInputs { width, batches })
    }

    /// Input width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Total number of rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(Array2::nrows).sum()
    }

    /// The batches, in the order they were seen.
    pub fn batches(&self) -> &[Array2<f32>] {
        &self.batches
    }

    /// The activation range chosen by `observer` for quantizing with `scheme`.
    pub fn range(&self, observer: Observer, scheme: IntScheme) -> Result<(f32, f32)> {
        let slices: Vec<&[f32]> = self
            .batches
            .iter()
            .map(|b| b.as_slice().expect("standard layout"))
            .collect();
        observer.range(&slices, scheme)
    }

    /// `XᵀX` over all rows, in f64 (in × in). Errors with [`Error::TooLarge`] if `in × in`
    /// exceeds [`crate::limits::MAX_ELEMENTS`] or cannot be allocated (a wide layer's inputs
    /// fit in memory long before their Gram matrix does).
    pub fn gram(&self) -> Result<Array2<f64>> {
        let n = crate::limits::elements("calibration Gram matrix", &[self.width, self.width])?;
        let zeros = crate::limits::try_zeroed::<f64>("calibration Gram matrix", n)?;
        let mut h = Array2::from_shape_vec((self.width, self.width), zeros)
            .map_err(|e| Error::shape("calibration Gram matrix", n, e))?;
        for b in &self.batches {
            let b64 = b.mapv(f64::from);
            h += &b64.t().dot(&b64);
        }
        Ok(h)
    }
}

/// Recorded inputs of every named linear layer of a model.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    layers: Vec<(String, LayerInputs)>,
}

/// A layer that records its inputs and forwards to the f32 layer.
#[derive(Debug)]
struct Recorder {
    inner: Linear,
    seen: Mutex<Vec<Array2<f32>>>,
}

impl LinearLayer for Recorder {
    fn forward(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        self.seen
            .lock()
            .map_err(|_| Error::Format("calibration recorder poisoned".into()))?
            .push(x.to_owned());
        self.inner.forward(x)
    }
    fn in_features(&self) -> usize {
        self.inner.in_features()
    }
    fn out_features(&self) -> usize {
        self.inner.out_features()
    }
    fn param_count(&self) -> usize {
        self.inner.param_count()
    }
    fn storage_bytes(&self) -> usize {
        LinearLayer::storage_bytes(&self.inner)
    }
    fn check_finite_params(&self, name: &str) -> Result<()> {
        LinearLayer::check_finite_params(&self.inner, name)
    }
}

/// A recorder around a copy of `l` (a copy, as the model mapping cannot borrow its layers).
fn recorder(l: &Linear) -> Recorder {
    Recorder {
        inner: l.clone(),
        seen: Mutex::new(Vec::new()),
    }
}

fn take(name: &str, r: &Recorder) -> Result<(String, LayerInputs)> {
    let seen = std::mem::take(
        &mut *r
            .seen
            .lock()
            .map_err(|_| Error::Format("calibration recorder poisoned".into()))?,
    );
    Ok((name.to_string(), LayerInputs::new(r.in_features(), seen)?))
}

impl Calibration {
    /// Runs `mlp` on each batch (rows of the model's input width) and records every layer's
    /// inputs. Errors on no batches, an empty or wrong-width batch, or NaN/Inf values.
    pub fn from_mlp(mlp: &Mlp, batches: &[ArrayView2<f32>]) -> Result<Self> {
        if batches.iter().all(|b| b.nrows() == 0) {
            return Err(Error::Empty("calibration batches".into()));
        }
        let rec = mlp.map_layers(|_, l| Ok(recorder(l)))?;
        for b in batches {
            if b.ncols() != mlp.in_features() {
                return Err(Error::shape(
                    "calibration batch width",
                    mlp.in_features(),
                    b.ncols(),
                ));
            }
            rec.forward(*b)?;
        }
        let layers = rec
            .layers()
            .iter()
            .enumerate()
            .map(|(i, r)| take(&format!("layers.{i}"), r))
            .collect::<Result<Vec<_>>>()?;
        Ok(Calibration { layers })
    }

    /// Runs `encoder` on each token-id sequence (each one batch) and records every linear
    /// layer's inputs (one row per token). Errors as [`Encoder::forward`] does, or on no
    /// sequences.
    pub fn from_encoder(encoder: &Encoder, sequences: &[Vec<u32>]) -> Result<Self> {
        if sequences.is_empty() {
            return Err(Error::Empty("calibration sequences".into()));
        }
        let rec = encoder.map_linears(|_, l| Ok(recorder(l)))?;
        for ids in sequences {
            rec.forward(ids, None, None)?;
        }
        let mut layers = Vec::new();
        let mut err = None;
        rec.visit_layers(&mut |name, r| match take(name, r) {
            Ok(l) => layers.push(l),
            Err(e) => err = Some(e),
        });
        match err {
            Some(e) => Err(e),
            None => Ok(Calibration { layers }),
        }
    }

    /// Adds (or replaces) the inputs of the layer called `name`.
    pub fn insert(&mut self, name: impl Into<String>, inputs: LayerInputs) {
        let name = name.into();
        self.layers.retain(|(n, _)| *n != name);
        self.layers.push((name, inputs));
    }

    /// The inputs recorded for layer `name`.
    pub fn layer(&self, name: &str) -> Option<&LayerInputs> {
        self.layers.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }

    /// The layer names, in recording order.
    pub fn names(&self) -> Vec<&str> {
        self.layers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The inputs of `name`, checked to have width `width`; errors name the layer.
    pub(crate) fn require(&self, name: &str, width: usize) -> Result<&LayerInputs> {
        let l = self.layer(name).ok_or_else(|| {
            Error::param(
                "calibration",
                format!("no calibration inputs recorded for layer `{name}`"),
            )
        })?;
        if l.width() != width {
            return Err(Error::shape("calibration width", width, l.width()));
        }
        Ok(l)
    }
}
