//! The crate's error type.

use std::path::PathBuf;

/// Why a profile could not be built, saved or read, or a drift report not computed.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The model could not be opened or could not predict.
    #[error(transparent)]
    Model(#[from] atlas_model::PredictorError),
    /// The TF-IDF model's own files could not be read.
    #[error(transparent)]
    Classify(#[from] atlas_classify::ClassifyError),
    /// Embedding the texts failed.
    #[error(transparent)]
    Embed(#[from] atlas_embed::EmbedError),
    /// A checksummed file could not be written or verified.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// A JSON file is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The model folder has no reference profile.
    #[error(
        "{dir} has no drift profile ({file}); build one with `arxiv-atlas drift profile --model RUN --input DATA`"
    )]
    NoProfile {
        /// The model folder.
        dir: PathBuf,
        /// The file looked for.
        file: &'static str,
    },
    /// The input does not allow the computation (no papers, a mismatched profile …).
    #[error("{0}")]
    Invalid(String),
    /// The SQLite request log could not be read.
    #[error("SQLite request log {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The PostgreSQL request log could not be read.
    #[error("PostgreSQL request log: {0}")]
    Postgres(#[from] postgres::Error),
    /// A `--since` / `--until` bound is not a time.
    #[error("{value:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)")]
    BadTime {
        /// The value given.
        value: String,
    },
    /// A window length is not one.
    #[error("{value:?} is not a window length: {why}")]
    BadSpan {
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}
