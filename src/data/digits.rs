//! The UCI handwritten-digits set, embedded in the crate.
//!
//! E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI Machine Learning
//! Repository, 1998, <https://doi.org/10.24432/C50P49>, CC BY 4.0. The 1,797-image copy that
//! scikit-learn ships, stored as 65-byte records: 64 pixel counts (0..=16, 8×8 row-major) and
//! the label.

use ndarray::Array2;

use super::Dataset;

static DIGITS_BIN: &[u8] = include_bytes!("../../data/digits.bin");
const RECORD: usize = 65;

impl Dataset {
    /// The embedded UCI digits set: 1,797 samples, 64 features (pixel counts 0–16, unscaled),
    /// 10 classes.
    pub fn digits() -> Dataset {
        let n = DIGITS_BIN.len() / RECORD;
        let features =
            Array2::from_shape_fn((n, 64), |(i, j)| f32::from(DIGITS_BIN[i * RECORD + j]));
        let labels = (0..n)
            .map(|i| usize::from(DIGITS_BIN[i * RECORD + 64]))
            .collect();
        Dataset::new(features, labels, 10).expect("the embedded digits data is well formed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_digits_match_the_documented_counts() {
        assert_eq!(DIGITS_BIN.len(), 116_805);
        let d = Dataset::digits();
        let mut counts = [0usize; 10];
        for &l in d.labels() {
            counts[l] += 1;
        }
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        assert!(d.features().iter().all(|&v| (0.0..=16.0).contains(&v)));
    }
}
