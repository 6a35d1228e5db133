//! Knowledge distillation: the `Distiller` trait with soft-target, hard-label and feature distillation.
