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

/// How [`EmbeddingLrParams`] fits the multinomial logistic regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSolver {
    /// Full-batch L-BFGS: one iteration is one pass over the training data.
    Lbfgs,
    /// Mini-batch Adam: one epoch is one pass over the (shuffled) training data.
    Adam,
}

/// Settings of the multinomial logistic regression on frozen sentence embeddings
/// (`experiment=embedding_lr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingLrParams {
    /// The optimiser.
    pub solver: LrSolver,
    /// Inverse strength of the L2 penalty, as scikit-learn's `C`: the objective is
    /// `C · Σ cross-entropy + ½‖W‖²` on the raw embeddings (biases are not penalised), whatever
    /// `standardize` says, so a value carries over from scikit-learn's `LogisticRegression(C=…)`.
    /// The default 4 was the best of {1, 2, 4, 8, 16} on validation on real MiniLM embeddings of
    /// arxiv-100k (36k training papers): loss 1.796 and accuracy 0.490 against 1.809 / 0.479 for the
    /// peer's 16.
    pub c: f64,
    /// Most L-BFGS iterations (solver `lbfgs`) or epochs (solver `adam`).
    pub max_iter: usize,
    /// L-BFGS stops once the objective falls by less than this fraction over 5 iterations (ignored by
    /// `adam`).
    pub tol: f64,
    /// Stop after this many iterations / epochs without a lower validation loss (0: never stop early; for
    /// `adam` an epoch must lower it by 0.1%). The weights of the lowest validation loss are kept either
    /// way.
    pub patience: usize,
    /// L-BFGS memory: how many past steps approximate the curvature (ignored by `adam`).
    pub history: usize,
    /// Adam step size, halved after every epoch without a 0.1% lower validation loss (ignored by
    /// `lbfgs`).
    pub learning_rate: f64,
    /// Adam mini-batch size (ignored by `lbfgs`).
    pub batch_size: usize,
    /// Centre and scale every embedding dimension (train-set mean and standard deviation) while
    /// training; the scaling is folded into the saved weights, so prediction takes raw embeddings. This
    /// only preconditions the problem: the penalty stays on the raw-embedding weights, so the optimum is
    /// the same either way.
    pub standardize: bool,
    /// Seed of the shuffling RNG (`adam`; `lbfgs` uses no randomness). Training is deterministic for a
    /// seed, whatever the thread count.
    pub seed: u64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for EmbeddingLrParams {
    fn default() -> Self {
        EmbeddingLrParams {
            solver: LrSolver::Lbfgs,
            c: 4.0,
            max_iter: 300,
            tol: 1e-4,
            patience: 20,
            history: 10,
            learning_rate: 3e-3,
            batch_size: 512,
            standardize: true,
            seed: 42,
            threads: 0,
        }
    }
}

/// Settings of the one-hidden-layer perceptron on frozen sentence embeddings (`experiment=embedding_mlp`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingMlpParams {
    /// Width of the hidden ReLU layer.
    pub hidden: usize,
    /// Probability of zeroing a hidden unit during training (inverted dropout; never at prediction).
    pub dropout: f32,
    /// AdamW step size.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay (per step, scaled by the learning rate; biases are not decayed).
    /// Strong decay paid off on real MiniLM embeddings of arxiv-100k (36k training papers, validation
    /// loss / accuracy): 0.05 → 1.805 / 0.492, 0.2 → 1.766 / 0.498, 0.5 → 1.733 / 0.500,
    /// 1.0 → 1.729 / 0.503.
    pub weight_decay: f64,
    /// Examples per mini-batch.
    pub batch_size: usize,
    /// Most passes over the training data.
    pub max_epochs: usize,
    /// Stop after this many epochs without a validation loss 0.1% below the best so far (0: never stop
    /// early); every such epoch also halves the learning rate. The weights of the lowest validation loss
    /// are kept either way.
    pub patience: usize,
    /// Centre and scale every embedding dimension while training (folded into the saved first layer).
    pub standardize: bool,
    /// Seed of weight initialisation, shuffling and dropout; training is deterministic for a seed,
    /// whatever the thread count.
    pub seed: u64,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

impl Default for EmbeddingMlpParams {
    fn default() -> Self {
        EmbeddingMlpParams {
            hidden: 512,
            dropout: 0.5,
            learning_rate: 2e-3,
            weight_decay: 0.5,
            batch_size: 256,
            max_epochs: 60,
            patience: 5,
            standardize: true,
            seed: 42,
            threads: 0,
        }
    }
}

/// Settings of the k-nearest-neighbour head on frozen sentence embeddings (the ensemble's `knn` part).
/// The defaults were chosen on the temperature half of arxiv-100k's validation split: the lowest log loss of
/// the three-part ensemble (TF-IDF, MLP, kNN) in 2-fold cross-validation within that half (see
/// `docs/benchmarks.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingKnnParams {
    /// Training papers that vote (the most similar by cosine similarity).
    pub k: usize,
    /// Softness of the vote: a neighbour's weight is `exp((s − s_max) / weight_temperature)` for cosine
    /// similarity `s` (small: the nearest papers dominate; large: every neighbour counts alike).
    pub weight_temperature: f64,
    /// Share of the mean vote spread over all classes by their training frequency, so that no class gets
    /// probability 0.
    pub smoothing: f64,
}

impl Default for EmbeddingKnnParams {
    fn default() -> Self {
        EmbeddingKnnParams { k: 200, weight_temperature: 0.03, smoothing: 0.1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section `key` of `conf/experiment/<file>`.
    fn section(file: &str, key: &str) -> serde_yaml::Value {
        // The run-time CARGO_MANIFEST_DIR (set by `cargo test`) is this clone; the compile-time one is the clone
        // that built the binary, stale when clones share a target dir.
        let dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from);
        let path = dir.join("../../conf/experiment").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        doc[key].clone()
    }

    /// The keys of a YAML mapping, sorted.
    fn keys(v: &serde_yaml::Value) -> Vec<String> {
        let mut k: Vec<String> =
            v.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect();
        k.sort();
        k
    }

    #[test]
    fn the_experiment_files_set_every_setting() {
        // deny_unknown_fields makes a stale or misspelt key fail here, and every field must be spelt out
        // so that the files document all settings.
        let lr_yaml = section("embedding_lr.yaml", "lr");
        serde_yaml::from_value::<EmbeddingLrParams>(lr_yaml.clone()).unwrap();
        let lr_json = serde_json::to_value(EmbeddingLrParams::default()).unwrap();
        let mut lr_fields: Vec<String> = lr_json.as_object().unwrap().keys().cloned().collect();
        lr_fields.sort();
        assert_eq!(keys(&lr_yaml), lr_fields);
        let mlp_yaml = section("embedding_mlp.yaml", "mlp");
        serde_yaml::from_value::<EmbeddingMlpParams>(mlp_yaml.clone()).unwrap();
        let mlp_json = serde_json::to_value(EmbeddingMlpParams::default()).unwrap();
        let mut mlp_fields: Vec<String> = mlp_json.as_object().unwrap().keys().cloned().collect();
        mlp_fields.sort();
        assert_eq!(keys(&mlp_yaml), mlp_fields);
        // The ensemble file spells out its kNN part, with the defaults (which were chosen on validation).
        let knn_yaml = section("ensemble.yaml", "knn");
        assert_eq!(
            serde_yaml::from_value::<EmbeddingKnnParams>(knn_yaml.clone()).unwrap(),
            EmbeddingKnnParams::default()
        );
        let knn_json = serde_json::to_value(EmbeddingKnnParams::default()).unwrap();
        let mut knn_fields: Vec<String> = knn_json.as_object().unwrap().keys().cloned().collect();
        knn_fields.sort();
        assert_eq!(keys(&knn_yaml), knn_fields);
        // Every field has a default, so a partial section is valid; unknown keys are not.
        let partial: EmbeddingLrParams = serde_yaml::from_str("solver: adam\nc: 4").unwrap();
        assert_eq!((partial.solver, partial.c, partial.max_iter), (LrSolver::Adam, 4.0, 300));
        assert!(serde_yaml::from_str::<EmbeddingMlpParams>("hiden: 3").is_err());
    }
}
