//! `train experiment=contrastive`: the `finetune` group's settings run as a fine-tuning of the encoder
//! (atlas-finetune), recorded by the configured tracker with the resolved configuration.

use atlas_config::ResolvedConfig;
use atlas_finetune::{FinetuneRequest, TrainLayers};

use crate::dataset::prepare_dataset;
use crate::train::{tracker_for, TrainOutcome};
use crate::PipelineError;

/// Fine-tunes `experiment.encoder`'s model on `data.input` as the `finetune` section says: the run folder
/// holds the tuned sentence-transformers folder (`artifacts/model`), every paper embedded by it
/// (`artifacts/embeddings`) and the frozen and tuned test metrics (see `atlas_finetune::run`).
pub(crate) fn train_contrastive(resolved: &ResolvedConfig) -> Result<TrainOutcome, PipelineError> {
    let cfg = &resolved.config;
    let ft = &cfg.finetune;
    if ft.train_layers == TrainLayers::Adapter && ft.embeddings.is_none() {
        return Err(PipelineError::Setting {
            key: "finetune.embeddings",
            message:
                "the adapter (finetune.train_layers=adapter) trains on an embedding set of the base model: \
                      make one with `arxiv-atlas embed --input <data.input> --out <set>` and pass \
                      finetune.embeddings=<set>, or train the top layers (finetune.train_layers=1)"
                    .into(),
        });
    }
    let encoder = &cfg.experiment.encoder;
    let spec = &encoder.spec;
    // The encoder's model folder, resolved as every embedding experiment resolves it (a hub id is fetched).
    let model_dir = spec.resolve_model_dir()?;
    // Ingested once and reused, as for the classifiers.
    let ds = prepare_dataset(&cfg.data)?;
    let mut adapter = ft.adapter.clone();
    let mut layers = ft.layers.clone();
    // Progress bars draw only on a terminal anyway; the run record keeps the numbers.
    adapter.progress = adapter.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    layers.progress = layers.progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let req = FinetuneRequest {
        embeddings: ft.embeddings.clone(),
        papers: Some(ds.dir().to_path_buf()),
        model_dir: Some(model_dir),
        run_dir: cfg.run.dir.clone(),
        runs_root: cfg.run.root.clone(),
        train: adapter,
        fill_cache: ft.fill_cache,
        cache_dir: encoder.cache_dir.clone(),
        train_layers: ft.train_layers,
        layers,
        hidden_dir: ft.hidden_dir.clone(),
        threads: spec.threads,
        run_name: cfg.run.name.clone().or_else(|| Some(cfg.experiment.name.clone())),
        config_yaml: Some(resolved.to_yaml()),
    };
    let tracker = tracker_for(&cfg.tracker)?;
    let result = atlas_finetune::finetune_with(&req, tracker.as_ref())?;
    let mut metrics = result.final_metrics();
    metrics.insert("seconds".into(), result.seconds);
    Ok(TrainOutcome { run_dir: result.run_dir, metrics })
}
