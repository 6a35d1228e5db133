//! Training: losses, optimizers (SGD with momentum, Adam/AdamW), an L1 penalty and the
//! [`Trainer`] loop with validation, early stopping and callbacks.

mod finite;
mod loss;
mod optim;
mod trainer;

pub(crate) use finite::{check_linear_finite, check_model_finite, diverged_at, diverged_param};
pub use loss::{binary_cross_entropy, kl_div_with_temperature, mse, softmax_cross_entropy, Loss};
pub(crate) use optim::OptimizerState;
pub use optim::{Adam, Optimizer, Sgd};
pub use trainer::{EpochStats, History, Objective, TrainEvent, Trainer};
