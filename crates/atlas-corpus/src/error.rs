//! The error type of this crate.

use std::path::{Path, PathBuf};

use atlas_artifact::{ArtifactError, IoError};

/// Errors that stop reading or writing a corpus.
///
/// Problems with single records are *not* errors: they are counted in a
/// [`ReadReport`](crate::ReadReport) and reading goes on.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// An I/O operation on a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The input's format could not be recognised.
    #[error("{path}: unrecognised input format: {why}")]
    UnknownFormat {
        /// The input.
        path: PathBuf,
        /// Why detection failed.
        why: String,
    },
    /// A Parquet file could not be read or written.
    #[error("{path}: parquet: {source}")]
    Parquet {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Building or decoding Arrow data failed.
    #[error("{path}: arrow: {source}")]
    Arrow {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A CSV input could not be read (header problems; bad rows are skipped and counted instead).
    #[error("{path}: csv: {source}")]
    Csv {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: csv::Error,
    },
    /// An XML input (Atom feed, OAI-PMH) is not well-formed; nothing of it is read.
    #[error("{path}:{line}:{column}: not well-formed XML: {message}")]
    Xml {
        /// The input.
        path: PathBuf,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What the parser found.
        message: String,
    },
    /// A tabular input (CSV, Parquet) lacks a column this crate needs or has one of the wrong type.
    #[error("{path}: {what}")]
    BadSchema {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A line of a JSON-lines input is larger than the reader accepts (the file is probably not
    /// JSON lines at all).
    #[error("{path}: line {line} is longer than {limit} bytes; is this really a JSON-lines file?")]
    LineTooLong {
        /// The input.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The limit in bytes.
        limit: usize,
    },
    /// The taxonomy file does not exist (typically the data kit's default, `../shared/data/taxonomy.tsv`).
    #[error(
        "{path}: not found. This file names the arXiv categories (the data kit's taxonomy.tsv; docs/data.md says \
         where to get it). Name another with --taxonomy PATH (train: data.taxonomy=PATH), or go without names \
         with data.taxonomy=null (categories are then shown by code)"
    )]
    TaxonomyNotFound {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// The taxonomy file is malformed.
    #[error("{path}:{line}: {what}")]
    BadTaxonomy {
        /// The taxonomy file.
        path: PathBuf,
        /// 1-based line number (0 when the problem is not tied to a line).
        line: u64,
        /// What is wrong.
        what: String,
    },
    /// A dataset folder's manifest metadata or files do not have the expected shape.
    #[error("{dir}: invalid dataset: {what}")]
    BadDataset {
        /// The dataset folder.
        dir: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The caller passed options that cannot work together.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// An artifact file could not be written or failed verification.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A worker thread of the reading or writing pipeline died (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CorpusError {
    /// Closure that wraps a [`parquet::errors::ParquetError`] with the path, for `map_err`.
    pub(crate) fn parquet(path: &Path) -> impl FnOnce(parquet::errors::ParquetError) -> CorpusError + '_ {
        move |source| CorpusError::Parquet { path: path.to_path_buf(), source }
    }

    /// Closure that wraps an [`arrow::error::ArrowError`] with the path, for `map_err`.
    pub(crate) fn arrow(path: &Path) -> impl FnOnce(arrow::error::ArrowError) -> CorpusError + '_ {
        move |source| CorpusError::Arrow { path: path.to_path_buf(), source }
    }
}
