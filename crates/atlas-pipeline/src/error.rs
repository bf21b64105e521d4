//! The one error type of the crate.

use std::path::PathBuf;

/// Why a workflow step failed. Each variant keeps the library error it came from, so the message names the
/// file, key or model concerned.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The input cannot be used (missing, empty, no papers of a split …).
    #[error("{path}: {message}")]
    Input {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A configuration key holds a value the workflow cannot use.
    #[error("{key}: {message}")]
    Setting {
        /// The dotted key, e.g. `experiment.ensemble.embedding`.
        key: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// The configuration could not be resolved.
    #[error(transparent)]
    Config(Box<atlas_config::ConfigError>),
    /// Building or opening an index failed.
    #[error(transparent)]
    Index(#[from] atlas_index::IndexError),
    /// Reading papers or a dataset failed.
    #[error(transparent)]
    Corpus(#[from] atlas_corpus::CorpusError),
    /// Training or saving a classifier failed.
    #[error(transparent)]
    Classify(#[from] atlas_classify::ClassifyError),
    /// Computing or writing metrics failed.
    #[error(transparent)]
    Eval(#[from] atlas_eval::EvalError),
    /// Recording the run failed.
    #[error(transparent)]
    Track(#[from] atlas_track::TrackError),
    /// Loading a model or predicting failed.
    #[error(transparent)]
    Model(#[from] atlas_model::PredictorError),
    /// Fitting or applying a calibration failed.
    #[error(transparent)]
    Calibrate(#[from] atlas_calibrate::CalibrateError),
    /// Loading the encoder failed.
    #[error(transparent)]
    Encoder(#[from] atlas_encoder::EncoderError),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] atlas_embed::EmbedError),
    /// Writing a checksummed file failed.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// A JSON document could not be written.
    #[error("encoding {what}: {source}")]
    Json {
        /// What was being encoded.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A file could not be written.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// Fine-tuning the encoder failed.
    #[error(transparent)]
    Finetune(#[from] atlas_finetune::FinetuneError),
    /// Building or saving the drift profile failed.
    #[error(transparent)]
    Monitor(#[from] atlas_monitor::MonitorError),
}

impl PipelineError {
    pub(crate) fn input(path: &std::path::Path, message: impl Into<String>) -> Self {
        PipelineError::Input { path: path.to_path_buf(), message: message.into() }
    }
}
