//! Observers: how the range `[lo, hi]` that sets a scale is chosen from observed values
//! (calibration activations, or the weights of one group).
//!
//! - [`Observer::MinMax`]: the extreme values.
//! - [`Observer::MovingAverageMinMax`]: per batch min and max, smoothed in order
//!   `r ← m·r + (1 − m)·r_batch` (the first batch sets `r`), as in Jacob et al. 2018 §3.
//!   On a single tensor (weights) it equals min-max.
//! - [`Observer::Percentile`]: the `(100 − p)`-th and `p`-th percentiles, ignoring outliers.
//! - [`Observer::Mse`]: a clipping search: the min-max range shrunk by `α ∈ {1, 0.98, …, 0.22}`,
//!   keeping the `α` that minimises `Σ (x − x̂)²` under the scheme being calibrated.

use serde::{Deserialize, Serialize};

use super::affine::{choose_params, code_range, fake_quantize};
use super::scheme::IntScheme;
use crate::error::{Error, Result};

/// How a quantization range is chosen from observed values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Observer {
    /// Minimum and maximum.
    MinMax,
    /// Per-batch min-max smoothed with `momentum` in [0, 1).
    MovingAverageMinMax {
        /// Weight of the running range, in [0, 1).
        momentum: f32,
    },
    /// Percentiles `100 − p` and `p`, with `p` in (50, 100].
    Percentile {
        /// The upper percentile, e.g. 99.99.
        percentile: f32,
    },
    /// Mean-squared-error-optimal clipping of the min-max range.
    Mse,
}

/// Number of clipping factors the MSE search tries.
const MSE_STEPS: usize = 40;

impl Observer {
    /// Checks the parameters, naming the bad one.
    pub fn check(&self) -> Result<()> {
        match *self {
            Observer::MovingAverageMinMax { momentum } if !(0.0..1.0).contains(&momentum) => Err(
                Error::param("momentum", format!("must be in [0, 1), got {momentum}")),
            ),
            Observer::Percentile { percentile } if !(percentile > 50.0 && percentile <= 100.0) => {
                Err(Error::param(
                    "percentile",
                    format!("must be in (50, 100], got {percentile}"),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The range of values observed in `batches` (in order), for quantizing with `scheme`
    /// (used by the MSE search). Errors on no values or a NaN/Inf.
    pub fn range(&self, batches: &[&[f32]], scheme: IntScheme) -> Result<(f32, f32)> {
        self.check()?;
        let n: usize = batches.iter().map(|b| b.len()).sum();
        if n == 0 {
            return Err(Error::Empty("no values to observe".into()));
        }
        for b in batches {
            crate::error::check_finite(b.iter(), || "observed values".into())?;
        }
        let all = || batches.iter().flat_map(|b| b.iter().copied());
        let minmax = |it: &mut dyn Iterator<Item = f32>| {
            it.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
        };
        match *self {
            Observer::MinMax => Ok(minmax(&mut all())),
            Observer::MovingAverageMinMax { momentum } => {
                let mut r: Option<(f32, f32)> = None;
                for b in batches.iter().filter(|b| !b.is_empty()) {
                    let (lo, hi) = minmax(&mut b.iter().copied());
                    r = Some(match r {
                        None => (lo, hi),
                        Some((rl, rh)) => (
                            momentum * rl + (1.0 - momentum) * lo,
                            momentum * rh + (1.0 - momentum) * hi,
                        ),
                    });
                }
                Ok(r.unwrap_or((0.0, 0.0)))
            }
            Observer::Percentile { percentile } => {
                let mut v: Vec<f32> = all().collect();
                let idx = |p: f32| ((p / 100.0) * (n - 1) as f32).round() as usize;
                let (lo_i, hi_i) = (idx(100.0 - percentile), idx(percentile).min(n - 1));
                let hi = *v.select_nth_unstable_by(hi_i, f32::total_cmp).1;
                let lo = *v.select_nth_unstable_by(lo_i, f32::total_cmp).1;
                Ok((lo, hi))
            }
            Observer::Mse => {
                let (lo, hi) = minmax(&mut all());
                let (qmin, qmax) = code_range(scheme.bits, scheme.symmetric);
                let mut best = (f64::INFINITY, (lo, hi));
                for step in 0..MSE_STEPS {
                    let a = 1.0 - 0.02 * step as f32;
                    let p = choose_params(a * lo, a * hi, scheme)?;
                    let err: f64 = all()
                        .map(|x| f64::from(x - fake_quantize(x, p, qmin, qmax)).powi(2))
                        .sum();
                    if err < best.0 {
                        best = (err, (a * lo, a * hi));
                    }
                }
                Ok(best.1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Granularity;

    const S8: IntScheme = IntScheme {
        bits: 8,
        symmetric: false,
        granularity: Granularity::PerTensor,
    };

    #[test]
    fn observers_pick_expected_ranges() {
        let a = [0.0, 1.0, 2.0];
        let b = [-4.0, 4.0];
        assert_eq!(Observer::MinMax.range(&[&a, &b], S8).unwrap(), (-4.0, 4.0));
        let ma = Observer::MovingAverageMinMax { momentum: 0.5 };
        assert_eq!(ma.range(&[&a, &b], S8).unwrap(), (-2.0, 3.0));
        let mut v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        v.push(1e6);
        let (_, hi) = Observer::Percentile { percentile: 99.0 }
            .range(&[&v], S8)
            .unwrap();
        assert!(hi < 1000.0);
        // MSE clipping: on 4-bit codes of a bell-shaped sample with a few far outliers, the
        // searched range clips them and gives a lower squared error than the min-max range.
        let s4 = IntScheme {
            bits: 4,
            symmetric: true,
            granularity: Granularity::PerTensor,
        };
        let mut bell: Vec<f32> = (0..2000)
            .map(|i| {
                let u = (i as f32 + 0.5) / 2000.0;
                // A smooth symmetric bump on [-1, 1], denser near 0.
                (2.0 * u - 1.0).powi(3)
            })
            .collect();
        bell.extend([8.0, -8.0]);
        let mse_of = |(lo, hi): (f32, f32)| -> f64 {
            let p = choose_params(lo, hi, s4).unwrap();
            let (qmin, qmax) = code_range(4, true);
            bell.iter()
                .map(|&x| f64::from(x - fake_quantize(x, p, qmin, qmax)).powi(2))
                .sum()
        };
        let searched = Observer::Mse.range(&[&bell], s4).unwrap();
        let plain = Observer::MinMax.range(&[&bell], s4).unwrap();
        assert!(searched.1 < plain.1, "{searched:?} vs {plain:?}");
        assert!(mse_of(searched) < mse_of(plain));
        assert!(Observer::MinMax.range(&[&[f32::NAN]], S8).is_err());
        assert!(Observer::MinMax.range(&[], S8).is_err());
        assert!(matches!(
            Observer::Percentile { percentile: 10.0 }.check(),
            Err(Error::InvalidParam {
                name: "percentile",
                ..
            })
        ));
    }
}
