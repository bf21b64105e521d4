//! The one error type of the crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while opening a model folder, loading a backend or embedding text.
///
/// Variants carry the file or option concerned so that a message read in a log is actionable on its own.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// A file the model needs is not there.
    #[error("{path}: missing ({why})")]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
        /// Why it is needed.
        why: &'static str,
    },
    /// Reading a file failed for another reason than absence.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A JSON configuration file could not be parsed.
    #[error("{path}: malformed JSON: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A configuration file parsed but its content is inconsistent or out of range.
    #[error("{path}: {message}")]
    InvalidConfig {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A model named by a Hugging Face id could not be fetched or found in the local Hugging Face cache.
    #[error("Hugging Face model {repo}: {message}")]
    Hub {
        /// The repo id.
        repo: String,
        /// What went wrong.
        message: String,
    },
    /// The folder holds a model this crate cannot run faithfully (another architecture, an extra module …).
    #[error("unsupported model in {dir}: {message}")]
    Unsupported {
        /// The model folder.
        dir: PathBuf,
        /// What is not supported.
        message: String,
    },
    /// `tokenizer.json` could not be loaded or configured.
    #[error("{path}: cannot load tokenizer: {message}")]
    TokenizerLoad {
        /// The tokenizer file.
        path: PathBuf,
        /// The tokenizers crate's message.
        message: String,
    },
    /// Tokenizing input text failed.
    #[error("tokenizing failed: {0}")]
    Tokenize(String),
    /// An option passed to [`crate::Encoder::load`] is invalid or cannot be honoured by this build.
    #[error("invalid encoder option: {0}")]
    InvalidOption(String),
    /// The candle backend failed.
    #[error("candle backend: {context}: {source}")]
    Candle {
        /// What was being done.
        context: &'static str,
        /// The candle error.
        #[source]
        source: candle_core::Error,
    },
    /// No model folder was named and the default one is not there.
    #[error(
        "no model folder: none was named, {env} is not set and the default {fallback} does not exist. Name \
         one with --model-dir (for training, experiment.encoder.model_dir=): a sentence-transformers folder, \
         or the Hugging Face id `--model-dir {id}`, downloaded once into the Hugging Face cache \
         (HF_HUB_OFFLINE=1 reads only the cache, for machines without a network); or set {env}=DIR. \
         `arxiv-atlas doctor` shows what this machine has; docs/data.md says where models come from",
        env = crate::folder::MODEL_DIR_ENV,
        fallback = crate::folder::FALLBACK_MODEL_DIR,
        id = crate::folder::DEFAULT_MODEL_ID
    )]
    NoDefaultModel,
    /// The ONNX Runtime shared library could not be found.
    #[error(
        "ONNX Runtime library not found (looked at {tried}); run `bash scripts/setup-onnxruntime.sh` \
         or set ORT_DYLIB_PATH to a libonnxruntime.so (>= 1.22)"
    )]
    OrtLibraryNotFound {
        /// The locations that were tried, comma-separated.
        tried: String,
    },
    /// ONNX Runtime reported an error.
    #[error("ONNX Runtime: {context}: {message}")]
    Onnx {
        /// What was being done.
        context: String,
        /// ONNX Runtime's message.
        message: String,
    },
    /// A text template is malformed or names a field papers do not have (see [`crate::TextTemplate`]).
    #[error("text template {template:?}: {message}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        message: String,
    },
    /// Hashing the model files failed.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
}

impl EncoderError {
    /// Wraps a candle error with what was being done.
    pub(crate) fn candle(context: &'static str) -> impl FnOnce(candle_core::Error) -> Self {
        move |source| Self::Candle { context, source }
    }
}
