//! Element-wise activation functions and their derivatives.

use ndarray::{Array2, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An element-wise activation applied after a [`Linear`](super::Linear) layer.
///
/// GELU comes in the two forms in use: [`Activation::Gelu`] is the exact
/// `x·Φ(x) = x/2·(1 + erf(x/√2))` that BERT uses (Hendrycks & Gimpel 2016), and
/// [`Activation::GeluTanh`] is the approximation `x/2·(1 + tanh(√(2/π)(x + 0.044715x³)))` used by
/// GPT-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Activation {
    /// `f(x) = x`.
    Identity,
    /// `f(x) = max(0, x)`.
    Relu,
    /// `f(x) = 1 / (1 + e^{-x})`.
    Sigmoid,
    /// `f(x) = tanh(x)`.
    Tanh,
    /// Exact GELU, `x·Φ(x)` with the erf form of the normal CDF.
    Gelu,
    /// GELU with the tanh approximation.
    GeluTanh,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_C: f32 = 0.044_715;

impl Activation {
    /// Applies the activation to one value.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::GeluTanh => {
                0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x)).tanh())
            }
        }
    }

    /// The derivative `f'(x)` at the pre-activation value `x`.
    #[inline]
    pub fn derivative(self, x: f32) -> f32 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
            Activation::Tanh => {
                let t = x.tanh();
                1.0 - t * t
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + x * pdf
            }
            Activation::GeluTanh => {
                let u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x);
                let t = u.tanh();
                let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x * x);
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
            }
        }
    }

    /// Applies the activation to every element of `x`.
    pub fn forward(self, x: ArrayView2<f32>) -> Array2<f32> {
        if self == Activation::Identity {
            return x.to_owned();
        }
        x.mapv(|v| self.apply(v))
    }

    /// Applies the activation in place.
    pub fn forward_inplace(self, x: &mut Array2<f32>) {
        if self != Activation::Identity {
            x.mapv_inplace(|v| self.apply(v));
        }
    }

    /// Back-propagates `grad_out` (∂L/∂f(x)) through the activation at pre-activations `pre`,
    /// giving ∂L/∂x. Errors with [`Error::ShapeMismatch`] unless the two arrays have the same
    /// shape.
    pub fn backward(self, pre: ArrayView2<f32>, grad_out: ArrayView2<f32>) -> Result<Array2<f32>> {
        if pre.dim() != grad_out.dim() {
            return Err(Error::shape(
                "Activation::backward",
                pre.dim(),
                grad_out.dim(),
            ));
        }
        if self == Activation::Identity {
            return Ok(grad_out.to_owned());
        }
        let mut g = grad_out.to_owned();
        Zip::from(&mut g)
            .and(&pre)
            .for_each(|g, &x| *g *= self.derivative(x));
        Ok(g)
    }

    /// A stable short name, used in saved files ("relu", "gelu", ...).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
        }
    }

    /// Parses a name written by [`Activation::name`]; also accepts Hugging Face's `hidden_act`
    /// values `"gelu_new"` and `"gelu_pytorch_tanh"` for the tanh form.
    pub fn from_name(name: &str) -> Option<Activation> {
        Some(match name {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::Relu,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            "gelu_tanh" | "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            _ => return None,
        })
    }
}

/// The logistic function, computed without overflow for large |x|.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// The error function, to about 1e-7 absolute error.
///
/// Computed in f64 with the Chebyshev-fitted complementary error function of Numerical Recipes
/// (3rd ed., §6.2, `erfcc`; fractional error below 1.2e-7), which is ample for f32.
pub fn erf(x: f32) -> f32 {
    let z = f64::from(x).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    let r = 1.0 - erfc;
    (if x >= 0.0 { r } else { -r }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::GeluTanh,
    ];

    #[test]
    fn erf_matches_known_values() {
        // Values from Abramowitz & Stegun, table 7.1.
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.5, -0.966_105_1),
        ] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let h = 1e-3f64;
        for act in ALL {
            for &x in &[-3.1f32, -1.2, -0.4, 0.3, 0.9, 2.7] {
                let f = |v: f64| f64::from(act.apply(v as f32));
                let numeric = (f(f64::from(x) + h) - f(f64::from(x) - h)) / (2.0 * h);
                let analytic = f64::from(act.derivative(x));
                assert!(
                    (numeric - analytic).abs() < 2e-3,
                    "{act:?} at {x}: numeric {numeric}, analytic {analytic}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for act in ALL {
            assert_eq!(Activation::from_name(act.name()), Some(act));
        }
        assert_eq!(Activation::from_name("swish"), None);
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
    }
}
