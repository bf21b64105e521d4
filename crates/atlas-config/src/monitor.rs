//! Thresholds and sample sizes of the drift tests: the `monitor` section of the configuration.

use serde::{Deserialize, Serialize};

/// Every threshold and bound of the drift tests. A test reports drift only when its *effect size* reaches
/// the threshold (and, for tests with one, its p-value is below `p_value`): p-values alone shrink with the
/// window's size and would flag negligible changes on large windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorParams {
    /// Significance level of the KS, χ² and MMD permutation tests.
    pub p_value: f64,
    /// Numeric features: smallest Kolmogorov–Smirnov statistic D that counts as drift.
    pub ks_statistic: f64,
    /// Numeric features: smallest Wasserstein-1 distance, in reference standard deviations, that counts.
    pub wasserstein: f64,
    /// Categorical features: smallest Jensen–Shannon distance (base 2, sampling noise removed) that counts.
    pub jensen_shannon: f64,
    /// TF-IDF domain classifier (reference vs current texts): smallest cross-validated ROC AUC that counts.
    pub text_auc: f64,
    /// Embedding domain classifier: smallest cross-validated ROC AUC that counts (Evidently's default 0.55).
    pub embedding_auc: f64,
    /// Embedding MMD: smallest MMD² (RBF kernel, median bandwidth, on the PCA projection) that counts.
    pub mmd: f64,
    /// Accuracy (when the current papers have labels): smallest drop from the reference accuracy that counts.
    pub accuracy_drop: f64,
    /// Reference texts kept in the profile for the domain classifier.
    pub reference_texts: usize,
    /// Reference values kept per numeric feature (a random sample when there are more).
    pub reference_values: usize,
    /// Principal components of the embedding statistics.
    pub pca_components: usize,
    /// Projected reference embeddings kept in the profile.
    pub reference_embeddings: usize,
    /// Papers per side the domain classifiers train on (a random sample of larger windows).
    pub domain_sample: usize,
    /// Cross-validation folds of the domain classifiers.
    pub folds: usize,
    /// Rows per side of the MMD test (its cost is quadratic in this).
    pub mmd_sample: usize,
    /// Permutations of the MMD test.
    pub permutations: usize,
    /// Words (and categories) listed as having moved most.
    pub top_words: usize,
    /// Seed of every subsample and fold.
    pub seed: u64,
}

impl Default for MonitorParams {
    fn default() -> Self {
        MonitorParams {
            p_value: 0.05,
            ks_statistic: 0.1,
            wasserstein: 0.2,
            jensen_shannon: 0.1,
            text_auc: 0.6,
            embedding_auc: 0.55,
            mmd: 0.01,
            accuracy_drop: 0.05,
            reference_texts: 3000,
            reference_values: 20_000,
            pca_components: 20,
            reference_embeddings: 3000,
            domain_sample: 3000,
            folds: 5,
            mmd_sample: 500,
            permutations: 200,
            top_words: 15,
            seed: 42,
        }
    }
}
