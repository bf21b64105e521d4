//! The experiments that fine-tune the encoder (atlas-finetune):
//! - `contrastive`: the `finetune` group's settings run as a fine-tuning of the encoder, recorded by the
//!   configured tracker with the resolved configuration;
//! - `finetune_classifier`: the top layers tuned with a classification head (cross-entropy), then the `lr`
//!   section's logistic regression fitted on the tuned encoder's embeddings.

use std::collections::BTreeMap;
use std::path::Path;

use atlas_classify::{EpochStats, Probabilities};
use atlas_config::{AtlasConfig, ResolvedConfig};
use atlas_finetune::{FinetuneRequest, LossKind, TrainLayers};

use crate::dataset::prepare_dataset;
use crate::train::{tracker_for, EmbeddingHead, TrainOutcome, Trainer};
use crate::PipelineError;

/// Folder, inside a `finetune_classifier` run, of the encoder's fine-tuning run (its tuned model under
/// `artifacts/model`).
pub(crate) const ENCODER_RUN: &str = "encoder";

/// Fine-tunes `experiment.encoder`'s model on `data.input` as the `finetune` section says: the run folder
/// holds the tuned sentence-transformers folder (`artifacts/model`), every paper embedded by it
/// (`artifacts/embeddings`) and the frozen and tuned test metrics (see `atlas_finetune::run`).
pub(crate) fn train_contrastive(resolved: &ResolvedConfig) -> Result<TrainOutcome, PipelineError> {
    let cfg = &resolved.config;
    let ds = prepare_dataset(&cfg.data)?;
    let mut req = finetune_request(cfg, ds.dir())?;
    req.run_dir = cfg.run.dir.clone();
    req.run_name = cfg.run.name.clone().or_else(|| Some(cfg.experiment.name.clone()));
    req.config_yaml = Some(resolved.to_yaml());
    let tracker = tracker_for(&cfg.tracker)?;
    let result = atlas_finetune::finetune_with(&req, tracker.as_ref())?;
    let mut metrics = result.final_metrics();
    metrics.insert("seconds".into(), result.seconds);
    Ok(TrainOutcome { run_dir: result.run_dir, metrics })
}

/// The fine-tuning the `finetune` section describes, of `experiment.encoder`'s model on the dataset in
/// `papers` (run folder, name and config left for the caller).
fn finetune_request(cfg: &AtlasConfig, papers: &Path) -> Result<FinetuneRequest, PipelineError> {
    let ft = &cfg.finetune;
    let encoder = &cfg.experiment.encoder;
    let spec = &encoder.spec;
    // The encoder's model folder, resolved as every embedding experiment resolves it (a hub id is fetched).
    let model_dir = spec.resolve_model_dir()?;
    let embeddings = match (&ft.embeddings, ft.train_layers) {
        (None, TrainLayers::Adapter) => {
            // Refuse a loss the adapter cannot train before embedding every paper for it.
            atlas_finetune::check_loss(&ft.adapter)?;
            Some(frozen_set(cfg, papers)?)
        }
        (named, _) => named.clone(),
    };
    let mut adapter = ft.adapter.clone();
    let mut layers = ft.layers.clone();
    // Progress bars draw only on a terminal anyway; the run record keeps the numbers.
    adapter.progress = adapter.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    layers.progress = layers.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    Ok(FinetuneRequest {
        embeddings,
        papers: Some(papers.to_path_buf()),
        model_dir: Some(model_dir),
        run_dir: None,
        runs_root: cfg.run.root.clone(),
        train: adapter,
        fill_cache: ft.fill_cache,
        cache_dir: encoder.cache_dir.clone(),
        train_layers: ft.train_layers,
        layers,
        hidden_dir: ft.hidden_dir.clone(),
        threads: spec.threads,
        run_name: None,
        config_yaml: None,
    })
}

/// The embedding set the adapter trains on when `finetune.embeddings` names none: every paper of `papers`
/// embedded by `experiment.encoder`, through the embedding cache, into `<cache>/../sets/<space>-<input>` (beside
/// the cache and the hidden-state stores). The set is resumable and reused: a second run over the same papers
/// and model finds it complete, and a first run finds every paper some earlier command embedded in the cache.
fn frozen_set(cfg: &AtlasConfig, papers: &Path) -> Result<std::path::PathBuf, PipelineError> {
    let enc = &cfg.experiment.encoder;
    let encoder = enc.spec.load(&cfg.data.template, 1)?;
    let cache_dir = enc.cache_dir.clone().unwrap_or_else(atlas_embed::default_cache_dir);
    let space = encoder.embedding_id()?.to_string();
    let input = atlas_corpus::fingerprint_files(&[papers.to_path_buf()])?;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    let beside = cache_dir.parent().unwrap_or(Path::new("."));
    let dir = beside.join("sets").join(format!("{}-{}", short(&space), short(&input)));
    let mut cache = atlas_embed::EmbeddingCache::for_encoder(&encoder, Some(&cache_dir))?;
    let opts = atlas_embed::EmbedFileOptions {
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..atlas_embed::EmbedFileOptions::default()
    };
    let report = atlas_embed::embed_file(&encoder, Some(&mut cache), papers, &dir, &opts)?;
    tracing::info!(
        "the adapter's frozen embedding set: {} ({} papers, {:.0} s)",
        dir.display(),
        report.count,
        report.seconds
    );
    Ok(dir)
}

/// `finetune_classifier`: tunes the encoder's top layers with a cross-entropy head into `encoder_run`
/// (whatever `finetune.layers.loss` says: classification is the objective here), then fits the `lr` head on
/// the tuned encoder's embeddings — already in the embedding cache, which the fine-tuning fills. The metrics
/// get the fine-tuning's retrieval figures as `encoder_*`.
pub(crate) fn finetune_classifier(
    trainer: &Trainer<'_>,
    papers: &Path,
    encoder_run: &Path,
    metrics: &mut BTreeMap<String, f64>,
    observer: &mut dyn FnMut(&EpochStats),
) -> Result<Option<Probabilities>, PipelineError> {
    let cfg = &trainer.resolved.config;
    if cfg.finetune.train_layers == TrainLayers::Adapter {
        return Err(PipelineError::Setting {
            key: "finetune.train_layers",
            message: "finetune_classifier tunes transformer layers: set a number of top layers (1, 2, …) or \
                      `all`"
                .into(),
        });
    }
    let mut req = finetune_request(cfg, papers)?;
    req.layers.loss = LossKind::CrossEntropy;
    req.run_dir = Some(encoder_run.to_path_buf());
    req.runs_root = encoder_run.parent().unwrap_or(Path::new(".")).to_path_buf();
    req.run_name = Some(format!("{} encoder", cfg.experiment.name));
    req.fill_cache = true;
    let tuned = atlas_finetune::finetune(&req)?;
    tracing::info!(
        "encoder tuned in {:.0} s: same-category test P@1 {:.4} -> {:.4}; fitting the head on its embeddings",
        tuned.seconds,
        tuned.frozen_test.p_at_1,
        tuned.tuned_test.p_at_1
    );
    for (k, v) in tuned.final_metrics() {
        metrics.insert(format!("encoder_{k}"), v);
    }
    metrics.insert("encoder_finetune_s".into(), tuned.seconds);

    // The head, exactly as `embedding_lr` trains it, on the tuned encoder.
    let mut resolved = trainer.resolved.clone();
    resolved.config.experiment.encoder.spec.model_dir = Some(tuned.model_dir.clone());
    let head = Trainer { resolved: &resolved, ..*trainer };
    head.embedding_head(EmbeddingHead::Lr, metrics, observer)
}
