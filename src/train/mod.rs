//! Training: losses, optimizers, penalties and the trainer.
