//! Errors of run tracking.

use std::path::PathBuf;

/// Why a run could not be recorded or read.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// A file or folder operation failed.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// Writing a file atomically failed.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// A JSON file of a run could not be parsed or written.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The folder is not a run folder (it has no `run.json`).
    #[error("{path} is not a run folder (no run.json)")]
    NotARun {
        /// The folder.
        path: PathBuf,
    },
    /// No run matches the given id or path.
    #[error("no run `{query}` under {root}{}", hint(.candidates))]
    RunNotFound {
        /// What was asked for.
        query: String,
        /// The runs folder searched.
        root: PathBuf,
        /// Run ids that contain the query, when there are several.
        candidates: Vec<String>,
    },
    /// Talking to an MLflow server failed (the server's own message is part of it).
    #[error(transparent)]
    Mlflow(#[from] crate::mlflow::MlflowError),
    /// The caller passed something the tracker cannot record.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was wrong ("params", "metric name" …).
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn hint(candidates: &[String]) -> String {
    if candidates.is_empty() {
        String::new()
    } else {
        format!(" (ambiguous, it matches: {})", candidates.join(", "))
    }
}
