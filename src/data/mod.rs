//! Data: [`Dataset`], its stratified split and mini-batches, feature scaling, the embedded
//! digits set and seeded synthetic sets.

mod dataset;
mod digits;
mod scaler;
pub mod synthetic;

pub use dataset::{shuffled_batches, Dataset};
pub use scaler::StandardScaler;
