//! Hyper-parameters of the classifiers, as they appear in `conf/experiment/*.yaml`.
//!
//! Every struct rejects unknown keys (`deny_unknown_fields`) so a typo in a config file or an override
//! is an error that names the key instead of a silently ignored setting.

use serde::{Deserialize, Serialize};

/// TF-IDF vectoriser settings (mirrors scikit-learn's `TfidfVectorizer` where names overlap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TfidfParams {
    /// Largest n-gram length (1 = unigrams, 2 = uni- and bigrams).
    pub ngram_max: usize,
    /// Ignore terms that occur in fewer than this many training documents.
    pub min_df: usize,
    /// Ignore terms that occur in more than this fraction of training documents (1.0 keeps all).
    pub max_df: f64,
    /// Keep only the most frequent terms (by total count over the corpus); `None` keeps all.
    pub max_features: Option<usize>,
    /// Use `1 + ln(tf)` instead of raw term frequency.
    pub sublinear_tf: bool,
    /// Lower-case text before tokenising.
    pub lowercase: bool,
}

impl Default for TfidfParams {
    fn default() -> Self {
        TfidfParams {
            ngram_max: 2,
            min_df: 2,
            max_df: 1.0,
            max_features: Some(300_000),
            sublinear_tf: true,
            lowercase: true,
        }
    }
}

/// Settings of the multinomial (softmax) linear model trained on sparse features.
///
/// The defaults were chosen on the validation split of arxiv-100k (see the crate's `examples/tune.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinearParams {
    /// Maximum passes over the training data.
    pub epochs: usize,
    /// Base step size of the optimiser (row-wise AdaGrad: a feature's first step is about this large).
    pub learning_rate: f64,
    /// L2 penalty on the weights (per-example scale), applied lazily to the feature rows a mini-batch
    /// touches. On arxiv-100k any positive value lowered validation accuracy, hence the default 0: early
    /// stopping is the regulariser.
    pub l2: f64,
    /// Documents per mini-batch.
    pub batch_size: usize,
    /// Stop after this many epochs without a better validation loss (0 disables early stopping).
    pub patience: usize,
    /// An epoch counts as better only if it lowers the best validation loss by more than this fraction.
    pub tol: f64,
    /// Seed of the shuffling RNG; training is deterministic for a given seed, whatever the thread count.
    pub seed: u64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for LinearParams {
    fn default() -> Self {
        LinearParams {
            epochs: 10,
            learning_rate: 0.2,
            l2: 0.0,
            batch_size: 256,
            patience: 2,
            tol: 2e-3,
            seed: 42,
            threads: 0,
        }
    }
}
