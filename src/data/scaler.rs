//! Standardisation of features, fitted on training data only.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::Dataset;
use crate::error::{check_finite, Error, Result};

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
    /// Fits the mean and (population) standard deviation of each column of `x`.
    pub fn fit(x: ArrayView2<f32>) -> Result<Self> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::Empty(format!("scaler fit on shape {:?}", x.dim())));
        }
        check_finite(x.iter(), || "scaler fit input".into())?;
        let mean = x
            .mean_axis(Axis(0))
            .ok_or_else(|| Error::Empty("scaler".into()))?;
        let scale = x
            .std_axis(Axis(0), 0.0)
            .mapv(|s| if s > f32::EPSILON { s } else { 1.0 });
        Ok(StandardScaler { mean, scale })
    }

    /// Standardises `x` with the fitted statistics.
    pub fn transform(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        if x.ncols() != self.mean.len() {
            return Err(Error::shape(
                "StandardScaler::transform",
                self.mean.len(),
                x.ncols(),
            ));
        }
        check_finite(x.iter(), || "scaler input".into())?;
        Ok((&x - &self.mean) / &self.scale)
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
