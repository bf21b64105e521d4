//! The error type of this crate.

use std::path::{Path, PathBuf};

use atlas_artifact::{ArtifactError, IoError};

/// Everything that can go wrong while training, saving, loading or running a classifier.
#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    /// A model folder failed its manifest checks (missing, foreign kind, newer version, bad checksum) or
    /// could not be written.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The training or validation data cannot be used (empty, mismatched lengths, label out of range …).
    #[error("invalid training data: {0}")]
    InvalidData(String),
    /// A hyper-parameter is out of its valid range.
    #[error("invalid parameter: {0}")]
    InvalidParams(String),
    /// A file of a model folder passed its checksum but its content is not what this build expects
    /// (e.g. tensor shapes that disagree with the vocabulary).
    #[error("{path}: {message}")]
    Format {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The folder holds an artifact kind that no classifier of this build can load.
    #[error(
        "{dir} holds a `{kind}` artifact, which is not a classifier this build can load (known: {known})"
    )]
    UnknownKind {
        /// The folder.
        dir: PathBuf,
        /// The kind named by its manifest.
        kind: String,
        /// The kinds this build knows, comma separated.
        known: String,
    },
    /// The folder holds an embedding classifier head, which classifies embeddings, not text.
    #[error(
        "{dir} holds an embedding classifier (`{kind}`): load it with DenseHead::load and pair it with its \
         encoder"
    )]
    NeedsEncoder {
        /// The folder.
        dir: PathBuf,
        /// The kind named by its manifest.
        kind: String,
    },
    /// The worker thread pool could not be started.
    #[error("cannot start the worker thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

impl ClassifyError {
    /// A [`ClassifyError::Format`] error about the file `path`.
    pub(crate) fn format(path: &Path, message: impl ToString) -> Self {
        ClassifyError::Format { path: path.to_path_buf(), message: message.to_string() }
    }
}
