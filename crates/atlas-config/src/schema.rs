//! The typed configuration every command reads, and the key paths it accepts.
//!
//! Every struct rejects unknown keys (`deny_unknown_fields`): a typo in a YAML file, an override or an
//! environment variable is an error that names the key, never a silently ignored setting.

use std::path::PathBuf;

use crate::monitor::MonitorParams;
use atlas_classify::{EmbeddingKnnParams, EmbeddingLrParams, EmbeddingMlpParams, LinearParams, TfidfParams};
use atlas_corpus::TextTemplate;
use atlas_encoder::EncoderSpec;
use serde::{Deserialize, Serialize};

/// The whole configuration of a run, after groups, overrides and environment variables were merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtlasConfig {
    /// Seed of everything random that is not configured more specifically (sampling, splits of ties …).
    pub seed: u64,
    /// Which papers to read and how to turn them into text.
    pub data: DataConfig,
    /// What model to train, with its hyper-parameters.
    pub experiment: ExperimentConfig,
    /// Where the run folder goes.
    #[serde(default)]
    pub run: RunConfig,
    /// The `tracker` group: which backend records the run (local folders, or MLflow as well).
    #[serde(default)]
    pub tracker: TrackerConfig,
    /// Drift monitoring: the reference profile saved with every model and the thresholds of `drift`.
    #[serde(default)]
    pub monitor: MonitorParams,
    /// The `finetune` group: how much of the encoder a `contrastive` experiment trains, and how.
    #[serde(default)]
    pub finetune: FinetuneConfig,
}

/// The `finetune` group (`finetune=cpu_60min`): contrastive fine-tuning of the encoder named by
/// `experiment.encoder` (experiment kind `contrastive`), with masked MNRL on pairs of papers that share a
/// primary category. The same settings as the `finetune` command's flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneConfig {
    /// What trains: `adapter` (a residual linear layer on cached embeddings; needs `embeddings`), a number of
    /// top transformer layers (`1`, `2`, …; the layers below run once per paper and are cached), or `all`.
    pub train_layers: atlas_finetune::TrainLayers,
    /// An embedding set of `data.input` made by `arxiv-atlas embed` with the base model: the adapter's
    /// inputs, and for layer runs the frozen baseline (without it, the baseline comes from the cached states).
    pub embeddings: Option<PathBuf>,
    /// Settings of the adapter (`train_layers: adapter`).
    pub adapter: atlas_finetune::TrainOptions,
    /// Settings of top-layer training (`train_layers: N` or `all`).
    pub layers: atlas_finetune::LayerOptions,
    /// Folder of the cached bottom-layer states; `None` = `~/.cache/arxiv-atlas/hidden`.
    pub hidden_dir: Option<PathBuf>,
    /// Also store the tuned model's vectors in the embedding cache, so `train experiment=embedding_*` with the
    /// tuned model finds every paper embedded already.
    pub fill_cache: bool,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            train_layers: atlas_finetune::TrainLayers::Adapter,
            embeddings: None,
            adapter: atlas_finetune::TrainOptions::default(),
            layers: atlas_finetune::LayerOptions::default(),
            hidden_dir: None,
            fill_cache: true,
        }
    }
}

/// The `data` group: input papers and how they are sampled and rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A raw file in any ingest format (Kaggle JSON-lines, HF parquet, CSV) or an ingested dataset folder.
    /// Relative paths are relative to the current directory, not to the config folder.
    pub input: PathBuf,
    /// Category names (`taxonomy.tsv`); `None` lets the command pick its default.
    #[serde(default)]
    pub taxonomy: Option<PathBuf>,
    /// Where raw inputs are ingested (and cached for later runs).
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// Keep at most this many papers (`None` keeps all).
    #[serde(default)]
    pub max_samples: Option<usize>,
    /// Keep at most this many papers per primary category (`None` keeps all).
    #[serde(default)]
    pub max_per_category: Option<usize>,
    /// How a paper becomes the classifier's input text; `{title}` and `{abstract}` are substituted.
    #[serde(default)]
    pub template: TextTemplate,
}

/// Default of [`DataConfig::cache_dir`].
pub const DEFAULT_CACHE_DIR: &str = "data/processed";

/// Default of [`DataConfig::template`]: the peer baseline protocol's text (`title [SEP] abstract`).
pub const DEFAULT_TEMPLATE: &str = "{title} [SEP] {abstract}";

fn default_cache_dir() -> PathBuf {
    PathBuf::from(DEFAULT_CACHE_DIR)
}

/// The `experiment` group: the model family and its hyper-parameters.
///
/// Parameter sections belong to the kinds that use them; sections a kind does not use may be omitted from
/// its experiment file (they default), which is what lets new kinds add their own sections without
/// touching existing files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Human-readable name, recorded with the run (usually the experiment file's name).
    pub name: String,
    /// Which model family to train.
    pub kind: ExperimentKind,
    /// TF-IDF vectoriser settings (used by [`ExperimentKind::TfidfLinear`] and
    /// [`ExperimentKind::TfidfMultilabel`]).
    #[serde(default)]
    pub tfidf: TfidfParams,
    /// Linear model settings (used by [`ExperimentKind::TfidfLinear`] and
    /// [`ExperimentKind::TfidfMultilabel`]).
    #[serde(default)]
    pub linear: LinearParams,
    /// The sentence-transformer that embeds papers (used by the embedding kinds).
    #[serde(default)]
    pub encoder: EncoderConfig,
    /// Logistic regression on embeddings (used by [`ExperimentKind::EmbeddingLr`]).
    #[serde(default)]
    pub lr: EmbeddingLrParams,
    /// One-hidden-layer network on embeddings (used by [`ExperimentKind::EmbeddingMlp`]).
    #[serde(default)]
    pub mlp: EmbeddingMlpParams,
    /// Nearest-neighbour votes on embeddings (used by the ensemble's `knn` part).
    #[serde(default)]
    pub knn: EmbeddingKnnParams,
    /// Which parts a stacked model combines (used by [`ExperimentKind::Ensemble`], which also reads the
    /// `tfidf`, `linear`, `encoder`, `lr` or `mlp`, and `knn` sections for its parts).
    #[serde(default)]
    pub ensemble: EnsembleParams,
}

/// The `experiment.ensemble` section: the embedding head (and the kNN part) stacked with the TF-IDF model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleParams {
    /// The embedding part: [`ExperimentKind::EmbeddingLr`] or [`ExperimentKind::EmbeddingMlp`] (trained with
    /// the `lr` or `mlp` section).
    pub embedding: ExperimentKind,
    /// Add a third part: votes of the nearest training papers on the same embeddings (the `knn` section).
    /// Its errors differ from the linear heads', which is what a stack gains from.
    pub knn: bool,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        EnsembleParams { embedding: ExperimentKind::EmbeddingMlp, knn: true }
    }
}

/// Which sentence-transformer embeds the papers of an embedding experiment, and how: the encoder's own
/// [`EncoderSpec`] (model folder, backend, precision, device, threads, batch size — typed, so `backend: onxx`
/// is an error naming the valid values) and where its vectors are cached. Written as one flat section
/// (`experiment.encoder.precision`, `experiment.encoder.cache_dir`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct EncoderConfig {
    /// The encoder.
    #[serde(flatten)]
    pub spec: EncoderSpec,
    /// Embedding cache folder; `None` = `$ARXIV_ATLAS_CACHE_DIR/embeddings` or `~/.cache/arxiv-atlas/embeddings`.
    pub cache_dir: Option<PathBuf>,
}

/// Read by hand rather than derived: serde's `flatten` lets unknown keys through (the flattened struct's
/// `deny_unknown_fields` is not applied), and `experiment.encoder.precison=int8` must be an error, not a
/// silently ignored setting. `cache_dir` is taken out and the rest must be exactly an [`EncoderSpec`].
impl<'de> Deserialize<'de> for EncoderConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let cache_dir = match map.remove("cache_dir") {
            Some(v) => serde_json::from_value(v).map_err(|e| D::Error::custom(format!("cache_dir: {e}")))?,
            None => None,
        };
        let spec = EncoderSpec::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(EncoderConfig { spec, cache_dir })
    }
}

/// Model families. Written in snake_case in YAML (`kind: tfidf_linear`).
///
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    /// TF-IDF features and a multinomial linear model.
    TfidfLinear,
    /// Frozen sentence embeddings and multinomial logistic regression.
    EmbeddingLr,
    /// Frozen sentence embeddings and a one-hidden-layer network.
    EmbeddingMlp,
    /// TF-IDF features and one logistic regression per category (multi-label, one-vs-rest).
    TfidfMultilabel,
    /// TF-IDF and an embedding head, their calibrated probabilities stacked by a combiner fitted on
    /// validation.
    Ensemble,
    /// Contrastive fine-tuning of the encoder (the `finetune` section): a new sentence-transformers model in
    /// the run folder, measured on same-category retrieval, not a classifier.
    Contrastive,
    /// A classifier on a fine-tuned encoder: the `finetune` section's top layers trained with a linear head and
    /// cross-entropy over the primary categories, then the `lr` section's logistic regression fitted on the
    /// tuned encoder's embeddings (served like `embedding_lr`, with the tuned encoder).
    FinetuneClassifier,
}

impl ExperimentKind {
    /// Every kind this build knows.
    pub const ALL: &'static [ExperimentKind] = &[
        ExperimentKind::TfidfLinear,
        ExperimentKind::EmbeddingLr,
        ExperimentKind::EmbeddingMlp,
        ExperimentKind::TfidfMultilabel,
        ExperimentKind::Ensemble,
        ExperimentKind::Contrastive,
        ExperimentKind::FinetuneClassifier,
    ];

    /// The name used in YAML and in run records.
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::TfidfLinear => "tfidf_linear",
            ExperimentKind::EmbeddingLr => "embedding_lr",
            ExperimentKind::EmbeddingMlp => "embedding_mlp",
            ExperimentKind::TfidfMultilabel => "tfidf_multilabel",
            ExperimentKind::Ensemble => "ensemble",
            ExperimentKind::Contrastive => "contrastive",
            ExperimentKind::FinetuneClassifier => "finetune_classifier",
        }
    }
}

impl std::fmt::Display for ExperimentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `run` section: where run folders go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Folder that holds the run folders (`<root>/<id>/`).
    pub root: PathBuf,
    /// Use exactly this run folder instead of a new one under `root`.
    pub dir: Option<PathBuf>,
    /// A name recorded with the run (shown by `runs list`).
    pub name: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { root: PathBuf::from("runs"), dir: None, name: None }
    }
}

/// The `tracker` group (`tracker=local`, `tracker=mlflow`): which backend records runs, and the MLflow server's
/// settings. Every backend keeps the local run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// The backend.
    pub backend: TrackerKind,
    /// The MLflow tracking server (`http://host:port`); required by `backend: mlflow`.
    pub uri: Option<String>,
    /// The MLflow experiment runs go to (created when missing).
    pub experiment: String,
    /// Register the model of each finished run as a new version of this registered model.
    pub register_as: Option<String>,
    /// Point this alias (e.g. `champion`) at the newly registered version.
    pub alias: Option<String>,
    /// Timeout of each request to the server, in seconds.
    pub timeout_s: f64,
}

/// Default of [`TrackerConfig::experiment`].
pub const DEFAULT_MLFLOW_EXPERIMENT: &str = "arxiv-atlas";

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            backend: TrackerKind::Local,
            uri: None,
            experiment: DEFAULT_MLFLOW_EXPERIMENT.to_string(),
            register_as: None,
            alias: None,
            timeout_s: 30.0,
        }
    }
}

/// Tracking backends. Written in snake_case in YAML (`backend: mlflow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackerKind {
    /// Run folders on the local disk.
    #[default]
    Local,
    /// Run folders, uploaded to an MLflow tracking server (REST API) when each run ends.
    Mlflow,
}

/// Every leaf key path of the schema (`data.max_samples`, `experiment.linear.epochs` …), used to suggest
/// the right spelling of an unknown key that sits at the wrong level.
///
/// It is derived from a fully populated value (every `Option` set) rather than written out by hand, so a
/// field added to the schema can never be missing here: the struct literal below stops compiling first.
pub fn key_paths() -> Vec<String> {
    let sample = AtlasConfig {
        seed: 0,
        data: DataConfig {
            input: PathBuf::new(),
            taxonomy: Some(PathBuf::new()),
            cache_dir: PathBuf::new(),
            max_samples: Some(0),
            max_per_category: Some(0),
            template: TextTemplate::default(),
        },
        experiment: ExperimentConfig {
            name: String::new(),
            kind: ExperimentKind::TfidfLinear,
            tfidf: TfidfParams { max_features: Some(0), ..TfidfParams::default() },
            linear: LinearParams::default(),
            encoder: EncoderConfig {
                spec: EncoderSpec { model_dir: Some(PathBuf::new()), ..EncoderSpec::default() },
                cache_dir: Some(PathBuf::new()),
            },
            lr: EmbeddingLrParams::default(),
            mlp: EmbeddingMlpParams::default(),
            knn: EmbeddingKnnParams::default(),
            ensemble: EnsembleParams::default(),
        },
        run: RunConfig { root: PathBuf::new(), dir: Some(PathBuf::new()), name: Some(String::new()) },
        tracker: TrackerConfig {
            uri: Some(String::new()),
            register_as: Some(String::new()),
            alias: Some(String::new()),
            ..TrackerConfig::default()
        },
        monitor: MonitorParams::default(),
        finetune: FinetuneConfig {
            embeddings: Some(PathBuf::new()),
            hidden_dir: Some(PathBuf::new()),
            ..FinetuneConfig::default()
        },
    };
    let mut out = Vec::new();
    // Serialising plain structs, strings and numbers to a JSON value cannot fail.
    if let Ok(value) = serde_json::to_value(&sample) {
        collect_leaves(&value, String::new(), &mut out);
    }
    out
}

fn collect_leaves(value: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                collect_leaves(v, path, out);
            }
        }
        _ => out.push(prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_cover_nested_and_optional_fields() {
        let keys = key_paths();
        for k in ["seed", "data.max_samples", "data.taxonomy", "experiment.linear.epochs", "run.dir"] {
            assert!(keys.iter().any(|p| p == k), "{k} missing from {keys:?}");
        }
        assert!(keys.iter().any(|p| p == "experiment.tfidf.max_features"));
        assert!(!keys.iter().any(|p| p == "data" || p == "experiment"), "only leaves: {keys:?}");
    }

    #[test]
    fn a_misspelt_template_field_or_encoder_option_names_the_key() {
        let load = |arg: &str| crate::load(&crate::ConfigSource::Embedded, &[arg.to_string()], &[]);
        let err = load("data.template={title} {abstact}").unwrap_err().to_string();
        assert!(err.contains("data.template") && err.contains("{abstact}"), "{err}");
        let err = load("experiment.encoder.backend=onxx").unwrap_err().to_string();
        assert!(err.contains("experiment.encoder") && err.contains("onxx"), "{err}");
        let err = load("experiment.encoder.precison=int8").unwrap_err().to_string();
        assert!(err.contains("precison"), "{err}");
        let ok = load("experiment.encoder.precision=int8").unwrap();
        assert_eq!(ok.config.experiment.encoder.spec.precision, atlas_encoder::Precision::Int8);
    }

    #[test]
    fn the_tracker_group_selects_mlflow_with_its_settings() {
        let load = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            crate::load(&crate::ConfigSource::Embedded, &args, &[]).map(|r| r.config.tracker)
        };
        let local = load(&[]).unwrap();
        assert_eq!(local.backend, TrackerKind::Local);
        assert_eq!(local.uri, None);
        let t = load(&["tracker=mlflow", "tracker.uri=http://127.0.0.1:5001", "tracker.register_as=arxiv"])
            .unwrap();
        assert_eq!(t.backend, TrackerKind::Mlflow);
        assert_eq!(t.uri.as_deref(), Some("http://127.0.0.1:5001"));
        assert_eq!(t.experiment, DEFAULT_MLFLOW_EXPERIMENT);
        assert_eq!(t.register_as.as_deref(), Some("arxiv"));
        assert_eq!(t.timeout_s, 30.0);
        let err = load(&["tracker.url=http://x"]).unwrap_err().to_string();
        assert!(err.contains("tracker.url") && err.contains("tracker.uri"), "{err}");
    }

    #[test]
    fn kinds_are_snake_case_in_yaml() {
        assert_eq!(serde_yaml::to_string(&ExperimentKind::TfidfLinear).unwrap().trim(), "tfidf_linear");
        assert_eq!(ExperimentKind::TfidfLinear.to_string(), "tfidf_linear");
        assert_eq!(serde_yaml::from_str::<TrackerKind>("local").unwrap(), TrackerKind::Local);
        assert_eq!(serde_yaml::from_str::<TrackerKind>("mlflow").unwrap(), TrackerKind::Mlflow);
        assert!(serde_yaml::from_str::<TrackerKind>("wandb").is_err());
        for k in ExperimentKind::ALL {
            let back: ExperimentKind = serde_yaml::from_str(k.as_str()).unwrap();
            assert_eq!(back, *k);
        }
    }
}
