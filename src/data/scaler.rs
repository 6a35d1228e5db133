//! Standardisation of features, fitted on training data only.

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};

use super::Dataset;
use crate::error::{Error, Result};
use crate::nn::ensure_finite;

/// Per-feature standardisation `(x − mean) / std`, fitted on the training part and then applied
/// unchanged to validation and test data, so no statistic leaks from them.
///
/// A constant feature (standard deviation 0, like the always-blank corner pixels of the digits)
/// is centred and left unscaled (divided by 1), as scikit-learn's `StandardScaler` does; that
/// maps it to 0 everywhere instead of dividing by zero.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    mean: Array1<f32>,
    scale: Array1<f32>,
}

impl StandardScaler {
    /// Fits the mean and (population) standard deviation of each column of `x`. Errors with
    /// [`Error::Empty`] on an empty `x` and [`Error::NonFinite`] on a non-finite value. A column
    /// whose standard deviation is not above `f32::EPSILON` is constant and gets the divisor 1.
    ///
    /// The statistics are computed in f32; if that overflows (columns of values near
    /// `f32::MAX`), they are recomputed in f64, where they cannot (the mean lies within the
    /// column's range and the standard deviation is at most half of it, so both fit in f32).
    pub fn fit(x: ArrayView2<f32>) -> Result<Self> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::Empty(format!("scaler fit on shape {:?}", x.dim())));
        }
        ensure_finite(&x, || "scaler fit input".into())?;
        let mean = x
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::Empty("scaler".into()))?;
        let std = x.std_axis(Axis(0), 0.0);
        let (mean, std) = if mean.iter().chain(&std).all(|v| v.is_finite()) {
            (mean, std)
        } else {
            wide_stats(x)
        };
        let scale = std.mapv(|s| if s > f32::EPSILON { s } else { 1.0 });
        Ok(StandardScaler { mean, scale })
    }

    /// Standardises `x` with the fitted statistics. Errors with [`Error::ShapeMismatch`] on a
    /// wrong width, [`Error::NonFinite`] on a non-finite input or if a standardised value
    /// overflows f32 (a value far outside the fitted range of a column with a tiny standard
    /// deviation). A difference that overflows f32 is recomputed in f64.
    pub fn transform(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.mean.len() {
            return Err(Error::shape(
                "StandardScaler::transform",
                self.mean.len(),
                x.ncols(),
            ));
        }
        ensure_finite(&x, || "scaler input".into())?;
        let mut y = x.to_owned();
        for mut row in y.rows_mut() {
            Zip::from(&mut row)
                .and(&self.mean)
                .and(&self.scale)
                .for_each(|v, &m, &s| {
                    let d = *v - m;
                    *v = if d.is_finite() {
                        d / s
                    } else {
                        ((f64::from(*v) - f64::from(m)) / f64::from(s)) as f32
                    };
                });
        }
        ensure_finite(&y, || {
            "scaler output (a value overflows after scaling)".into()
        })?;
        Ok(y)
    }

    /// Fits on `train` and returns `train` and each of `others` standardised with those
    /// statistics (the usual way to scale a split without leaking test statistics).
    pub fn fit_split(
        train: &Dataset,
        others: &[&Dataset],
    ) -> Result<(Self, Dataset, Vec<Dataset>)> {
        let scaler = StandardScaler::fit(train.features())?;
        let scaled = train.with_features(scaler.transform(train.features())?)?;
        let rest = others
            .iter()
            .map(|d| d.with_features(scaler.transform(d.features())?))
            .collect::<Result<Vec<_>>>()?;
        Ok((scaler, scaled, rest))
    }

    /// The fitted per-feature means.
    pub fn mean(&self) -> &Array1<f32> {
        &self.mean
    }

    /// The per-feature divisors (standard deviations, 1 for constant features).
    pub fn scale(&self) -> &Array1<f32> {
        &self.scale
    }
}

/// Per-column mean and population standard deviation accumulated in f64, for columns whose f32
/// statistics overflow.
fn wide_stats(x: ArrayView2<f32>) -> (Array1<f32>, Array1<f32>) {
    let n = x.nrows() as f64;
    let mut mean = Array1::<f64>::zeros(x.ncols());
    for row in x.rows() {
        mean.zip_mut_with(&row, |m, &v| *m += f64::from(v));
    }
    mean /= n;
    let mut var = Array1::<f64>::zeros(x.ncols());
    for row in x.rows() {
        Zip::from(&mut var)
            .and(&mean)
            .and(&row)
            .for_each(|s, &m, &v| *s += (f64::from(v) - m).powi(2));
    }
    (mean.mapv(|m| m as f32), var.mapv(|s| (s / n).sqrt() as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn standardises_and_handles_constant_columns() {
        let x = array![[1.0f32, 5.0], [3.0, 5.0]];
        let s = StandardScaler::fit(x.view()).unwrap();
        let y = s.transform(x.view()).unwrap();
        assert_eq!(y, array![[-1.0, 0.0], [1.0, 0.0]]);
        assert!(s.transform(array![[1.0f32]].view()).is_err());
        assert!(StandardScaler::fit(Array2::<f32>::zeros((0, 2)).view()).is_err());
    }
}
