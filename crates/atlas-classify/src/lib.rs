//! Text classifiers for arxiv-atlas.
//!
//! The first classifier is [`TfidfLinearModel`]: TF-IDF features of word uni- and bigrams
//! ([`TfidfVectorizer`], scikit-learn compatible) feeding a multinomial logistic regression
//! ([`SoftmaxRegression`]) trained with a deterministic, multi-threaded sparse mini-batch optimiser.
//! Every text classifier implements [`Classifier`], and [`load_classifier`] opens any such folder by the
//! kind its manifest names.
//!
//! The second family is [`DenseHead`]: a logistic regression or a one-hidden-layer perceptron on frozen
//! sentence embeddings. A head classifies embeddings, not text, so the caller pairs it with its encoder;
//! [`model_kind`] tells which family a folder holds.
//!
//! [`TfidfLinearModel::train_one_vs_rest`] trains the multi-label twin of the TF-IDF model: one sigmoid per
//! class over all of a paper's categories.
//!
//! [`NeighbourStore`] explains an embedding head: the labelled training papers nearest to a text, per
//! category.

#![warn(missing_docs)]

pub mod dense;
pub mod early_stopping;
pub mod error;
pub mod explain;
mod folder;
mod kernels;
pub mod labels;
pub mod model;
mod multilabel;
pub mod neighbours;
pub mod params;
pub mod softmax;
pub mod sparse;
pub mod synthetic;
mod tensors;
pub mod tfidf;
pub mod tokenize;
pub mod train;

use std::path::Path;

use atlas_artifact::Manifest;

pub use dense::{DenseHead, HeadParams};
pub use error::ClassifyError;
pub use explain::TermContribution;
pub use labels::{Labels, Probabilities};
pub use model::{TfidfLinearModel, TrainReport};
pub use neighbours::{
    NearestPapers, NeighbourExplanation, NeighbourSource, NeighbourStore, SupportingPaper, TrainingPaper,
};
pub use params::{
    EmbeddingKnnParams, EmbeddingLrParams, EmbeddingMlpParams, LinearParams, LrSolver, TfidfParams,
};
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
    /// For each class of `classes`, the at most `top` terms of `text` that raised its score most, largest
    /// first; `None` for a classifier that cannot name terms (the default).
    fn explain_terms(
        &self,
        _text: &str,
        _classes: &[usize],
        _top: usize,
    ) -> Option<Vec<Vec<TermContribution>>> {
        None
    }
}

/// Every classifier kind of this crate, text classifiers and embedding heads.
const ALL_KINDS: &[&str] = &[
    TfidfLinearModel::KIND,
    TfidfLinearModel::KIND_MULTILABEL,
    DenseHead::KIND_LR,
    DenseHead::KIND_MLP,
    DenseHead::KIND_KNN,
];

/// The kind named by the manifest of the folder `dir` (e.g. `arxiv-atlas/tfidf-linear` or
/// `arxiv-atlas/embedding-lr`), without verifying any checksum: for choosing how to load it.
pub fn model_kind(dir: &Path) -> Result<String, ClassifyError> {
    Ok(Manifest::peek_kind(dir, &ALL_KINDS.join("` or `"))?)
}

/// Opens a text classifier folder of any known kind (dispatching on its manifest's `kind`), verifying
/// checksums. Embedding heads are refused with [`ClassifyError::NeedsEncoder`]: open them with
/// [`DenseHead::load`] and pair them with their encoder.
pub fn load_classifier(dir: &Path) -> Result<Box<dyn Classifier>, ClassifyError> {
    let kind = model_kind(dir)?;
    match kind.as_str() {
        TfidfLinearModel::KIND | TfidfLinearModel::KIND_MULTILABEL => {
            Ok(Box::new(TfidfLinearModel::load(dir)?))
        }
        DenseHead::KIND_LR | DenseHead::KIND_MLP | DenseHead::KIND_KNN => {
            Err(ClassifyError::NeedsEncoder { dir: dir.to_path_buf(), kind })
        }
        _ => Err(ClassifyError::UnknownKind { dir: dir.to_path_buf(), kind, known: ALL_KINDS.join(", ") }),
    }
}
