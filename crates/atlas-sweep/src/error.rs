//! Why a sweep could not be planned, run or resumed.

use std::path::PathBuf;

/// Errors of [`crate::SearchSpace::parse`], [`crate::plan`] and [`crate::run`].
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A search-space argument is malformed or unusable; names the key.
    #[error("search space: {key}: {reason}")]
    BadSpace {
        /// The key (`experiment.mlp.hidden`), or the whole argument when it has no key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A value of the search space (or a fixed override) does not make a valid configuration. The
    /// configuration's error is the source (not repeated in this message: the CLI prints the chain).
    #[error("search space: {key}")]
    BadValue {
        /// The key whose value was refused (or `overrides` for the fixed ones).
        key: String,
        /// The configuration's error.
        #[source]
        source: Box<atlas_config::ConfigError>,
    },
    /// The sweep folder holds another sweep's state.
    #[error("{path} holds another sweep ({reason}); pass another --dir")]
    OtherSweep {
        /// The state file.
        path: PathBuf,
        /// How the two differ.
        reason: String,
    },
    /// A trial finished without the metric the sweep ranks by.
    #[error("the trial's run has no metric `{metric}`; it has: {available}")]
    MissingMetric {
        /// The metric asked for.
        metric: String,
        /// The metrics the run logged.
        available: String,
    },
    /// The sweep was stopped before a trial finished (the trial stays pending and runs on resume).
    #[error("sweep interrupted: {0}")]
    Interrupted(String),
    /// A trial's configuration could not be resolved (boxed, like the next: both are large).
    #[error(transparent)]
    Config(Box<atlas_config::ConfigError>),
    /// A trial failed.
    #[error(transparent)]
    Pipeline(Box<atlas_pipeline::PipelineError>),
    /// The state file could not be written.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// The state file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a sweep state.
    #[error("{path}: not a sweep state file: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: serde_json::Error,
    },
}

impl From<atlas_config::ConfigError> for SweepError {
    fn from(e: atlas_config::ConfigError) -> Self {
        SweepError::Config(Box::new(e))
    }
}

impl From<atlas_pipeline::PipelineError> for SweepError {
    fn from(e: atlas_pipeline::PipelineError) -> Self {
        SweepError::Pipeline(Box::new(e))
    }
}
