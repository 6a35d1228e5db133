//! Quantization-aware training: fine-tune with fake quantization, then convert.
//!
//! Each step quantizes-and-dequantizes the latent f32 weights with the layer's scheme
//! (`W̃ = s·(clamp(round(W/s) + z) − z)`) and, for integer activations, each layer's input the
//! same way (per row for dynamic, with a moving-average min-max range for static), runs the
//! forward and backward passes on the fake-quantized values, and applies the gradients to the
//! latent weights unchanged: the straight-through estimator (Bengio et al. 2013; Courbariaux
//! et al. 2015), `∂L/∂W ≈ ∂L/∂W̃`; for clipped static activations the gradient is zero.
//!
//! After training, [`Qat::fit`] converts the latent model with [`Ptq`] and the same scheme, so
//! the real quantized weights are exactly the fake-quantized ones used in the last step.

use ndarray::{Array2, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};

use super::affine::{choose_params, fake_quantize};
use super::calibration::Calibration;
use super::codes::rtn;
use super::observer::Observer;
use super::ptq::{Ptq, Quantizer};
use super::qlinear::{QuantLinear, ACTIVATION_SCHEME};
use super::scheme::{ActivationMode, QuantScheme, WeightScheme};
use crate::data::{shuffled_batches, Dataset};
use crate::error::{Error, Result};
use crate::nn::{LayerFilter, Linear, Mlp};
use crate::train::{check_model_finite, softmax_cross_entropy, Adam, Optimizer, OptimizerState};

/// QAT settings: the scheme (and per-layer rules), optimizer, epochs, batch size and seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Qat {
    ptq: Ptq,
    optimizer: Optimizer,
    epochs: usize,
    batch_size: usize,
    seed: u64,
}

/// Momentum of the static activation ranges tracked during training.
const RANGE_MOMENTUM: f32 = 0.9;

impl Qat {
    /// QAT with `scheme` on every layer: Adam 5e-4, 5 epochs, batch 32, seed 0.
    pub fn new(scheme: QuantScheme) -> Self {
        Qat {
            ptq: Ptq::new(scheme),
            optimizer: Adam::new(5e-4).into(),
            epochs: 5,
            batch_size: 32,
            seed: 0,
        }
    }

    /// Quantizes only the layers `filter` selects (default: every layer); the others stay
    /// f32 (trained normally), as with [`Ptq::layers`].
    pub fn layers(mut self, filter: LayerFilter) -> Self {
        self.ptq = self.ptq.layers(filter);
        self
    }

    /// The layer filter.
    pub fn layer_filter(&self) -> &LayerFilter {
        self.ptq.layer_filter()
    }

    /// Keeps layers matching `pattern` in f32 (trained normally): a rule, as [`Ptq::exclude`].
    pub fn exclude(mut self, pattern: impl Into<String>) -> Self {
        self.ptq = self.ptq.exclude(pattern);
        self
    }

    /// Gives layers matching `pattern` their own scheme.
    pub fn layer_scheme(mut self, pattern: impl Into<String>, scheme: QuantScheme) -> Self {
        self.ptq = self.ptq.layer_scheme(pattern, scheme);
        self
    }

    /// Sets the optimizer.
    pub fn optimizer(mut self, optimizer: impl Into<Optimizer>) -> Self {
        self.optimizer = optimizer.into();
        self
    }

    /// Sets the number of epochs (≥ 1).
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size (≥ 1).
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the seed of the batch shuffling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every setting, naming the bad one.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1, got 0"));
        }
        if self.batch_size == 0 {
            return Err(Error::param("batch_size", "must be at least 1, got 0"));
        }
        self.optimizer.check()?;
        self.ptq.check()
    }

    /// Fine-tunes a copy of `mlp` on `train` (softmax cross-entropy on its labels) with fake
    /// quantization, and returns the fine-tuned f32 (latent) model and its quantized form.
    /// `mlp` is not modified.
    pub fn fit(&self, mlp: &Mlp, train: &Dataset) -> Result<(Mlp, Mlp<QuantLinear>)> {
        use crate::nn::NamedLinears;
        self.check()?;
        self.ptq.check_rules(&mlp.linear_names())?;
        check_model_finite(mlp, "")?;
        if train.n_features() != mlp.sizes()[0] {
            return Err(Error::shape(
                "Qat::fit features",
                mlp.sizes()[0],
                train.n_features(),
            ));
        }
        if train.is_empty() {
            return Err(Error::Empty("QAT training data".into()));
        }
        let schemes: Vec<Option<QuantScheme>> = (0..mlp.layers().len())
            .map(|i| self.ptq.scheme_for(&format!("layers.{i}")))
            .collect();
        let mut model = mlp.clone();
        let mut state = OptimizerState::new(self.optimizer);
        let mut ranges: Vec<Option<(f32, f32)>> = vec![None; schemes.len()];
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut step = 0usize;
        for epoch in 0..self.epochs {
            for batch in shuffled_batches(train.len(), self.batch_size, &mut rng)? {
                let x = train.features().select(ndarray::Axis(0), &batch);
                let labels: Vec<usize> = batch.iter().map(|&i| train.labels()[i]).collect();
                self.step(
                    &mut model,
                    &schemes,
                    &mut ranges,
                    &mut state,
                    x.view(),
                    &labels,
                )
                .map_err(|e| match e {
                    // A step fails on non-finite values only when training diverged (the
                    // model and data were checked): say where.
                    Error::NonFinite(what) => Error::NonFinite(format!(
                        "QAT {what} at epoch {epoch}, step {step} (training diverged: lower \
                         the learning rate)"
                    )),
                    e => e,
                })?;
                step += 1;
            }
        }
        let calibration = if schemes
            .iter()
            .flatten()
            .any(|s| s.activations == ActivationMode::Static)
        {
            Some(Calibration::from_mlp(&model, &[train.features()])?)
        } else {
            None
        };
        let quantized = self.ptq.quantize_mlp(&model, calibration.as_ref())?;
        Ok((model, quantized))
    }

    /// One fake-quantized forward/backward pass and optimizer update.
    fn step(
        &self,
        model: &mut Mlp,
        schemes: &[Option<QuantScheme>],
        ranges: &mut [Option<(f32, f32)>],
        state: &mut OptimizerState,
        x: ArrayView2<f32>,
        labels: &[usize],
    ) -> Result<()> {
        let fake: Vec<Linear> = model
            .layers()
            .iter()
            .zip(schemes)
            .enumerate()
            .map(|(i, (l, s))| {
                fake_layer(l, *s).map_err(|e| match e {
                    Error::NonFinite(_) => {
                        Error::NonFinite(format!("layers.{i} fake-quantized weight"))
                    }
                    e => e,
                })
            })
            .collect::<Result<_>>()?;
        let mut inputs = Vec::with_capacity(fake.len());
        let mut pass = Vec::with_capacity(fake.len());
        let mut pre = Vec::with_capacity(fake.len());
        let mut h = x.to_owned();
        for (i, (layer, act)) in fake.iter().zip(model.activations()).enumerate() {
            let (hq, mask) =
                fake_activations(h, schemes[i], &mut ranges[i]).map_err(|e| match e {
                    Error::NonFinite(_) => Error::NonFinite(format!("layers.{i} input")),
                    e => e,
                })?;
            let z = match layer.forward(hq.view()) {
                Ok(z) if z.iter().all(|v| v.is_finite()) => z,
                Ok(_) | Err(Error::NonFinite(_)) => {
                    return Err(Error::NonFinite(format!("layers.{i} output")))
                }
                Err(e) => return Err(e),
            };
            h = act.forward(z.view());
            inputs.push(hq);
            pass.push(mask);
            pre.push(z);
        }
        let (loss, mut g) = softmax_cross_entropy(h.view(), labels)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite(format!(
                "loss on the layers.{} output",
                fake.len() - 1
            )));
        }
        state.begin_step();
        let acts = model.activations().to_vec();
        for i in (0..fake.len()).rev() {
            let gz = acts[i].backward(pre[i].view(), g.view())?;
            let grads = fake[i].backward(inputs[i].view(), gz.view())?;
            g = grads.input.clone();
            if let Some(mask) = &pass[i] {
                g.zip_mut_with(mask, |v, &keep| {
                    if !keep {
                        *v = 0.0;
                    }
                });
            }
            state
                .update_layer(2 * i, &mut model.layers_mut()[i], &grads, 0.0)
                .map_err(|part| Error::NonFinite(format!("layers.{i} {part}")))?;
        }
        Ok(())
    }
}

/// The layer with fake-quantized weights under `scheme` (unchanged when `None`).
fn fake_layer(l: &Linear, scheme: Option<QuantScheme>) -> Result<Linear> {
    let w = match scheme.map(|s| s.weights) {
        None => return Ok(l.clone()),
        Some(WeightScheme::F16) => l.weight().mapv(|v| half::f16::from_f32(v).to_f32()),
        Some(WeightScheme::Bf16) => l.weight().mapv(|v| half::bf16::from_f32(v).to_f32()),
        Some(WeightScheme::Int(s)) => rtn(l.weight(), s, Observer::MinMax)?.dequantize(),
    };
    Linear::new(w, l.bias().to_owned())
}

/// Fake-quantized layer inputs and, for static ranges, the mask of unclipped values (STE).
fn fake_activations(
    mut h: Array2<f32>,
    scheme: Option<QuantScheme>,
    range: &mut Option<(f32, f32)>,
) -> Result<(Array2<f32>, Option<Array2<bool>>)> {
    match scheme.map(|s| s.activations) {
        Some(ActivationMode::Dynamic) => {
            for mut row in h.rows_mut() {
                let (lo, hi) = row
                    .iter()
                    .fold((0.0f32, 0.0f32), |(l, u), &v| (l.min(v), u.max(v)));
                let p = choose_params(lo, hi, ACTIVATION_SCHEME)?;
                row.mapv_inplace(|v| fake_quantize(v, p, -128, 127));
            }
            Ok((h, None))
        }
        Some(ActivationMode::Static) => {
            let (lo, hi) = h
                .iter()
                .fold((0.0f32, 0.0f32), |(l, u), &v| (l.min(v), u.max(v)));
            let r = match *range {
                None => (lo, hi),
                Some((a, b)) => (
                    RANGE_MOMENTUM * a + (1.0 - RANGE_MOMENTUM) * lo,
                    RANGE_MOMENTUM * b + (1.0 - RANGE_MOMENTUM) * hi,
                ),
            };
            *range = Some(r);
            let p = choose_params(r.0, r.1, ACTIVATION_SCHEME)?;
            let (qlo, qhi) = (
                p.scale * (-128 - p.zero) as f32,
                p.scale * (127 - p.zero) as f32,
            );
            let mask = h.mapv(|v| v >= qlo && v <= qhi);
            h.mapv_inplace(|v| fake_quantize(v, p, -128, 127));
            Ok((h, Some(mask)))
        }
        _ => Ok((h, None)),
    }
}
