//! The crate's one error type and its `Result` alias.

use thiserror::Error;

/// Everything that can go wrong in `shrink`.
///
/// Every fallible operation returns this type; no public function panics on bad input. Variants
/// carry the context needed to see what was wrong without a debugger.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {op}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// The operation that checked the shapes.
        op: &'static str,
        /// What it needed.
        expected: String,
        /// What it was given.
        got: String,
    },
    /// A dataset, batch or tensor that must hold data is empty.
    #[error("empty input: {0}")]
    Empty(String),
    /// A NaN or infinity where only finite numbers are allowed.
    #[error("non-finite value (NaN or Inf) in {0}")]
    NonFinite(String),
    /// A configuration value outside its allowed range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it, including the value given.
        reason: String,
    },
    /// A tensor a model needs is absent from a file.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A file holds a tensor its model does not use (a file written by `shrink` holds exactly
    /// the tensors its model needs; see [`crate::io`] for the Hugging Face exceptions).
    #[error("unexpected tensor `{0}`")]
    UnexpectedTensor(String),
    /// A file or metadata block that cannot be parsed.
    #[error("malformed file: {0}")]
    Format(String),
    /// An I/O error from the operating system.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A size that overflows `usize`, or a request for more than the crate's documented limits
    /// ([`crate::limits`]) or more memory than the allocator gives: refused before allocating.
    #[error("too large in {op}: {detail}")]
    TooLarge {
        /// The operation that checked the size.
        op: &'static str,
        /// What was asked for and the limit it broke.
        detail: String,
    },
    /// A file or configuration rejected by the parser of another crate (safetensors, JSON);
    /// [`std::error::Error::source`] gives that crate's error.
    #[error("malformed file: {context}: {source}")]
    Parse {
        /// What was being read.
        context: String,
        /// The parser's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// `Result` with [`Error`](enum@Error) as the default error type (`Result<T, E>` names another,
/// so the alias can stand in for `std`'s `Result` where [`crate::prelude`] is glob-imported).
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::InvalidParam`].
    pub(crate) fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParam {
            name,
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::TooLarge`].
    pub(crate) fn too_large(op: &'static str, detail: impl Into<String>) -> Self {
        Error::TooLarge {
            op,
            detail: detail.into(),
        }
    }

    /// Builds an [`Error::Parse`] around another crate's error.
    pub(crate) fn parse(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Parse {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Builds an [`Error::ShapeMismatch`] from anything printable.
    pub(crate) fn shape(
        op: &'static str,
        expected: impl std::fmt::Debug,
        got: impl std::fmt::Debug,
    ) -> Self {
        Error::ShapeMismatch {
            op,
            expected: format!("{expected:?}"),
            got: format!("{got:?}"),
        }
    }
}

/// Returns [`Error::NonFinite`] naming `what` if any value is NaN or infinite.
pub(crate) fn check_finite<'a>(
    values: impl IntoIterator<Item = &'a f32>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    if values.into_iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite(what()))
    }
}
