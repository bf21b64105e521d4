//! Text classifiers for arxiv-atlas.
//!
//! The first classifier is [`TfidfLinearModel`]: TF-IDF features of word uni- and bigrams
//! ([`TfidfVectorizer`], scikit-learn compatible) feeding a multinomial logistic regression
//! ([`SoftmaxRegression`]) trained with a deterministic, multi-threaded sparse mini-batch optimiser.
//! Every classifier implements [`Classifier`], and [`load_classifier`] opens any classifier folder by the
//! kind its manifest names.

#![warn(missing_docs)]

pub mod error;
mod kernels;
pub mod labels;
pub mod model;
pub mod params;
pub mod softmax;
pub mod sparse;
mod tensors;
pub mod tfidf;
pub mod tokenize;
pub mod train;

use std::path::Path;

use atlas_artifact::{ArtifactError, MANIFEST_FILE};
use serde::Deserialize;

pub use error::ClassifyError;
pub use labels::{Labels, Probabilities};
pub use model::{TfidfLinearModel, TrainReport};
pub use params::{LinearParams, TfidfParams};
pub use softmax::SoftmaxRegression;
pub use sparse::CsrMatrix;
pub use tfidf::TfidfVectorizer;
pub use train::{EpochStats, FitSummary};

/// What every trained classifier offers.
pub trait Classifier: Send + Sync {
    /// The manifest kind of the classifier's folder, e.g. `arxiv-atlas/tfidf-linear`.
    fn kind(&self) -> &str;
    /// The classes; column `c` of [`Classifier::predict_proba`] is class `labels().codes[c]`.
    fn labels(&self) -> &Labels;
    /// Class probabilities of every text (one row per text, rows sum to 1).
    fn predict_proba(&self, texts: &[&str]) -> Probabilities;
}

/// Every classifier kind [`load_classifier`] can open.
const KNOWN_KINDS: &[&str] = &[TfidfLinearModel::KIND];

/// Opens a classifier folder of any known kind (dispatching on its manifest's `kind`), verifying checksums.
pub fn load_classifier(dir: &Path) -> Result<Box<dyn Classifier>, ClassifyError> {
    #[derive(Deserialize)]
    struct KindOnly {
        kind: String,
    }
    let path = dir.join(MANIFEST_FILE);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArtifactError::MissingManifest {
                dir: dir.to_path_buf(),
                expected: KNOWN_KINDS.join("` or `"),
            }
            .into())
        }
        Err(source) => return Err(ClassifyError::Io { op: "read", path, source }),
    };
    let kind = serde_json::from_slice::<KindOnly>(&raw)
        .map_err(|source| ArtifactError::BadManifest { path, source })?
        .kind;
    match kind.as_str() {
        TfidfLinearModel::KIND => Ok(Box::new(TfidfLinearModel::load(dir)?)),
        _ => Err(ClassifyError::UnknownKind { dir: dir.to_path_buf(), kind, known: KNOWN_KINDS.join(", ") }),
    }
}
