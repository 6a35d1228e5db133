//! The quantization scheme: a small `Copy` value saying how weights (and activations) of one
//! layer are stored, checked once by [`QuantScheme::check`].
//!
//! Integer weights use affine quantization `q = clamp(round(x/s) + z, qmin, qmax)`,
//! `x̂ = s·(q − z)` (Jacob et al. 2018), with `z = 0` when symmetric. Code ranges:
//!
//! | bits | symmetric | codes | scale |
//! |---|---|---|---|
//! | 8 | yes | [−128, 127], `s = max|x| / 127` | f32 |
//! | 8 | no | [−128, 127], `s = (max − min) / 255` | f32 |
//! | 4 | yes | [−8, 7], `s = max|x| / 7` | f16 (rounded up) |
//! | 4 | no | [0, 15], `s = (max − min) / 15` | f16 (rounded up) |
//!
//! Granularity is along the input dimension of a weight (out × in): one scale per tensor, per
//! output channel (row), or per group of `g` consecutive inputs of a row. A group size that does
//! not divide the layer's width is an error (no padding).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which weights share a scale (and zero point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Granularity {
    /// One scale for the whole weight matrix.
    PerTensor,
    /// One scale per output channel (row of the weight).
    PerChannel,
    /// One scale per group of this many consecutive inputs of a row (32, 64, 128 are usual);
    /// must divide the layer's input width.
    PerGroup(usize),
}

/// Integer weight quantization: bit width, symmetry and granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntScheme {
    /// 8 or 4.
    pub bits: u8,
    /// `z = 0` (symmetric) or a zero point per scale (asymmetric).
    pub symmetric: bool,
    /// Which weights share a scale.
    pub granularity: Granularity,
}

/// How a layer's weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WeightScheme {
    /// IEEE half precision (`half::f16`), converted to f32 in the dot product.
    F16,
    /// bfloat16 (`half::bf16`), converted to f32 in the dot product.
    Bf16,
    /// Affine integer codes (see the module docs).
    Int(IntScheme),
}

/// What happens to a layer's input activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ActivationMode {
    /// Activations stay f32; weights are dequantized inside the kernel.
    WeightOnly,
    /// Each input row is quantized to int8 (asymmetric) with its own min-max scale at run time;
    /// int8 × int8 products accumulate in i32.
    Dynamic,
    /// Inputs are quantized to int8 with a scale and zero point fixed from calibration data.
    Static,
}

/// A layer's complete quantization scheme.
///
/// ```
/// use shrink::quant::{Granularity, QuantScheme};
///
/// let s = QuantScheme::int4(Granularity::PerGroup(32));
/// s.check()?;
/// assert!(QuantScheme::int4(Granularity::PerGroup(0)).check().is_err());
/// # Ok::<(), shrink::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantScheme {
    /// Weight storage.
    pub weights: WeightScheme,
    /// Activation handling; anything but [`ActivationMode::WeightOnly`] needs 8-bit integer
    /// weights with per-tensor or per-channel scales.
    pub activations: ActivationMode,
}

impl QuantScheme {
    /// f16 weights.
    pub fn f16() -> Self {
        QuantScheme {
            weights: WeightScheme::F16,
            activations: ActivationMode::WeightOnly,
        }
    }

    /// bf16 weights.
    pub fn bf16() -> Self {
        QuantScheme {
            weights: WeightScheme::Bf16,
            activations: ActivationMode::WeightOnly,
        }
    }

    /// Symmetric int8 weights, weight-only.
    pub fn int8(granularity: Granularity) -> Self {
        QuantScheme::int(8, granularity)
    }

    /// Symmetric int4 weights, weight-only.
    pub fn int4(granularity: Granularity) -> Self {
        QuantScheme::int(4, granularity)
    }

    fn int(bits: u8, granularity: Granularity) -> Self {
        QuantScheme {
            weights: WeightScheme::Int(IntScheme {
                bits,
                symmetric: true,
                granularity,
            }),
            activations: ActivationMode::WeightOnly,
        }
    }

    /// The same scheme with asymmetric (zero-point) integer weights.
    pub fn asymmetric(mut self) -> Self {
        if let WeightScheme::Int(ref mut s) = self.weights {
            s.symmetric = false;
        }
        self
    }

    /// The same scheme with the given activation handling.
    pub fn activations(mut self, mode: ActivationMode) -> Self {
        self.activations = mode;
        self
    }

    /// The integer part of the scheme, if the weights are integers.
    pub fn int_scheme(&self) -> Option<IntScheme> {
        match self.weights {
            WeightScheme::Int(s) => Some(s),
            _ => None,
        }
    }

    /// Checks every value, naming the first bad one.
    pub fn check(&self) -> Result<()> {
        if let WeightScheme::Int(s) = self.weights {
            if s.bits != 8 && s.bits != 4 {
                return Err(Error::param(
                    "bits",
                    format!("supported integer widths are 8 and 4, got {}", s.bits),
                ));
            }
            if s.granularity == Granularity::PerGroup(0) {
                return Err(Error::param("group", "group size must be positive, got 0"));
            }
        }
        if self.activations != ActivationMode::WeightOnly {
            match self.weights {
                WeightScheme::Int(IntScheme {
                    bits: 8,
                    granularity: Granularity::PerTensor | Granularity::PerChannel,
                    ..
                }) => {}
                WeightScheme::Int(IntScheme {
                    bits: 4,
                    symmetric: true,
                    granularity: Granularity::PerGroup(g),
                }) if self.activations == ActivationMode::Dynamic
                    && g.is_multiple_of(crate::kernels::w4a8::ACT_BLOCK) => {}
                other => {
                    return Err(Error::param(
                        "activations",
                        format!(
                            "{:?} activations need int8 weights with per-tensor or per-channel \
                             scales (or, dynamic only, symmetric int4 in groups of a multiple \
                             of 32), got {other:?}",
                            self.activations
                        ),
                    ))
                }
            }
        }
        Ok(())
    }

    /// A short label such as `int4-g32-sym`, `int8-ch-sym+static`, `f16`.
    pub fn label(&self) -> String {
        let w = match self.weights {
            WeightScheme::F16 => "f16".to_string(),
            WeightScheme::Bf16 => "bf16".to_string(),
            WeightScheme::Int(s) => {
                let g = match s.granularity {
                    Granularity::PerTensor => "t".to_string(),
                    Granularity::PerChannel => "ch".to_string(),
                    Granularity::PerGroup(g) => format!("g{g}"),
                };
                let sym = if s.symmetric { "sym" } else { "asym" };
                format!("int{}-{g}-{sym}", s.bits)
            }
        };
        match self.activations {
            ActivationMode::WeightOnly => w,
            ActivationMode::Dynamic => format!("{w}+dynamic"),
            ActivationMode::Static => format!("{w}+static"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_bad_value() {
        let bad_bits = QuantScheme {
            weights: WeightScheme::Int(IntScheme {
                bits: 3,
                symmetric: true,
                granularity: Granularity::PerChannel,
            }),
            activations: ActivationMode::WeightOnly,
        };
        assert!(matches!(
            bad_bits.check(),
            Err(Error::InvalidParam { name: "bits", .. })
        ));
        let grouped_static =
            QuantScheme::int8(Granularity::PerGroup(32)).activations(ActivationMode::Static);
        assert!(matches!(
            grouped_static.check(),
            Err(Error::InvalidParam {
                name: "activations",
                ..
            })
        ));
        assert!(QuantScheme::int8(Granularity::PerChannel)
            .activations(ActivationMode::Dynamic)
            .check()
            .is_ok());
        assert_eq!(
            QuantScheme::int4(Granularity::PerGroup(32))
                .asymmetric()
                .label(),
            "int4-g32-asym"
        );
    }
}
