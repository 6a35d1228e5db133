//! Shared setup for the integration tests: the digits split every test and example uses, and a
//! trained baseline MLP.
#![allow(dead_code)]

use rand::{rngs::StdRng, SeedableRng};
use shrink::data::Dataset;
use shrink::nn::{Activation, Mlp};
use shrink::train::{Adam, Trainer};

/// The digits split of the examples: stratified 80/20 (seed 42), standardised with statistics
/// of the training part.
pub fn digits() -> (Dataset, Dataset) {
    Dataset::digits().standardized_split(0.2, 42).unwrap()
}

/// An MLP of the given sizes (ReLU) trained on `train` with the train_digits recipe
/// (Adam 1e-3, decoupled weight decay 0.5, batch 32) for `epochs` epochs, seeded by `seed`.
pub fn trained_mlp(train: &Dataset, sizes: &[usize], epochs: usize, seed: u64) -> Mlp {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut mlp = Mlp::new(sizes, Activation::Relu, &mut rng).unwrap();
    Trainer::new(Adam::new(1e-3).weight_decay(0.5))
        .epochs(epochs)
        .seed(seed)
        .fit(&mut mlp, train, None)
        .unwrap();
    mlp
}
