//! The one error type of the crate.

use std::path::PathBuf;

/// Why a model could not be opened or could not predict.
#[derive(Debug, thiserror::Error)]
pub enum PredictorError {
    /// The path given as a model is neither a model folder nor a run folder holding one.
    #[error("{path}: {message}")]
    NotAModel {
        /// The path as given.
        path: PathBuf,
        /// What was looked for.
        message: String,
    },
    /// A file of the model folder could not be read or written.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// A JSON file of the model folder is malformed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The classifier's files failed to load (checksums, format, kind).
    #[error("loading the model in {dir}: {source}")]
    Classifier {
        /// The model folder.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: atlas_classify::ClassifyError,
    },
    /// The encoder an embedding classifier needs produces another vector space than the one it was trained
    /// in (another model, precision or template).
    #[error(
        "{dir}: the model was trained on embeddings {want}, but the encoder in {encoder_dir} produces {got} \
         (another model, precision or template); set ARXIV_ATLAS_MODEL_DIR to the original model folder"
    )]
    EncoderMismatch {
        /// The model folder.
        dir: PathBuf,
        /// The embedding id the model was trained on.
        want: String,
        /// The embedding id of the encoder found.
        got: String,
        /// The encoder's folder.
        encoder_dir: PathBuf,
    },
    /// No encoder reproduces an index's vector space.
    #[error("no encoder in {dir} produces the index's vectors: {source}")]
    NoQueryEncoder {
        /// The model folder tried.
        dir: PathBuf,
        /// The last failure.
        #[source]
        source: Box<PredictorError>,
    },
    /// Loading or running the encoder failed.
    #[error(transparent)]
    Encoder(#[from] atlas_encoder::EncoderError),
    /// Embedding (or the embedding cache) failed.
    #[error(transparent)]
    Embed(#[from] atlas_embed::EmbedError),
    /// An index check failed.
    #[error(transparent)]
    Index(#[from] atlas_index::IndexError),
    /// Writing or verifying a checksummed folder failed.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// Category sets were asked of a model without a conformal calibration.
    #[error(
        "{dir}: the model has no conformal calibration, so it cannot return category sets; add one with \
         `arxiv-atlas calibrate --model RUN --input DATASET` (models trained by this version have one)"
    )]
    NotCalibrated {
        /// The model folder.
        dir: PathBuf,
    },
    /// A calibration could not be fitted or applied (e.g. a coverage outside (0, 1)).
    #[error(transparent)]
    Calibrate(#[from] atlas_calibrate::CalibrateError),
    /// A text template (of an index, or a saved model) is malformed.
    #[error(transparent)]
    Template(#[from] atlas_corpus::TemplateError),
    /// An ensemble folder's parts do not fit together (labels, combiner weights).
    #[error("{dir}: {message}")]
    Ensemble {
        /// The ensemble folder.
        dir: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// A `models:/` URI could not be resolved through the MLflow model registry or downloaded.
    #[error(transparent)]
    Registry(#[from] atlas_track::MlflowError),
}
