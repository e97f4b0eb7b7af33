//! Typed library errors. Each names the file (and, for specs, the key) it is about,
//! so the binary can print one line a user can act on.

use std::path::{Path, PathBuf};

/// Every failure the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A data or fixture file whose bytes are not what its format promises.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },

    /// An experiment spec that does not parse or validate; `key` is the dotted path.
    #[error("{}: {key}: {msg}", file.display())]
    Spec {
        file: PathBuf,
        key: String,
        msg: String,
    },

    #[error("{}: HDF5: {source}", path.display())]
    Hdf5 { path: PathBuf, source: hdf5::Error },

    /// Tensors whose shapes disagree (a checkpoint for another model, a batch of another width).
    #[error("{what}: expected shape {expected:?}, found {found:?}")]
    Shape {
        what: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    /// Training produced a non-finite loss, gradient norm, parameter or metric: the run
    /// stops there, with nothing of it recorded, its last good checkpoint kept.
    #[error("diverged: {what} is non-finite ({value}) at {at}")]
    NonFinite {
        /// `loss`, `gradient norm`, `parameters`, `val_acc`, …
        what: String,
        value: f64,
        /// `epoch E, step S` or `epoch E, evaluation`.
        at: String,
    },

    /// A signal stopped the run after it wrote its checkpoint; it resumes where it stopped.
    #[error("interrupted by signal {signal} at epoch {epoch}, step {step}; checkpoint written")]
    Interrupted {
        signal: i32,
        epoch: usize,
        step: usize,
    },

    /// Work that would be empty: no training steps, no evaluation batches, an empty split.
    #[error("{0}")]
    Empty(String),

    /// Data that cannot be found where the spec and the command line point.
    #[error("{0}")]
    Data(String),

    /// An analysis of a checkpoint its model does not support, or that failed numerically.
    #[error("{}: {msg}", path.display())]
    Analysis { path: PathBuf, msg: String },

    /// A figure plotters could not draw (the message is plotters').
    #[error("{}: plot: {msg}", path.display())]
    Plot { path: PathBuf, msg: String },
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    pub fn hdf5(path: impl AsRef<Path>, source: hdf5::Error) -> Self {
        Error::Hdf5 {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn spec(file: impl AsRef<Path>, key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Spec {
            file: file.as_ref().to_path_buf(),
            key: key.into(),
            msg: msg.into(),
        }
    }
}
