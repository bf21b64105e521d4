//! The `finetune` command: an embedding set in, a run folder out.
//!
//! ```text
//! <run>/run.json, params.json, metrics.jsonl     the run record (atlas-track): per-epoch loss and validation
//!                                                 metrics, final test metrics frozen vs adapter
//! <run>/artifacts/model/                          sentence-transformers folder: base files + Dense + Normalize
//! <run>/artifacts/embeddings/                     the input set mapped through the adapter (an embedding set
//!                                                 of the new model, ready for `index build`/`evaluate-retrieval`)
//! <run>/artifacts/finetune-report.json            FinetuneResult
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use atlas_embed::{EmbeddingSet, SetMeta};
use atlas_encoder::{embedding_id_of, save_with_dense_stack, ModelFolder, Precision};
use atlas_index::RetrievalMetrics;
use atlas_track::{LocalTracker, RunSpec, RunStatus, Tracker};

use crate::adapter::Adapter;
use crate::data::SplitData;
use crate::layers::{LayerOptions, LayerReport, TrainLayers};
use crate::train::{adapted_metrics, new_adapter, train_adapter, TrainOptions, TrainReport};
use crate::FinetuneError;

/// What to fine-tune.
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneRequest {
    /// Embedding set written by `arxiv-atlas embed` with the base model: the adapter's inputs, and for layer
    /// runs the frozen baseline. Layer runs may leave it out: the frozen vectors then come from the base
    /// model's top layers over the same stored states, and the papers from [`FinetuneRequest::papers`].
    pub embeddings: Option<PathBuf>,
    /// Papers for the labels; default: the set's own input.
    pub papers: Option<PathBuf>,
    /// The model folder the set was embedded with; default: the one its manifest names.
    pub model_dir: Option<PathBuf>,
    /// Run folder to write; default: a new folder under `runs_root`.
    pub run_dir: Option<PathBuf>,
    /// Where new run folders go.
    pub runs_root: PathBuf,
    /// Training settings.
    pub train: TrainOptions,
    /// Also store the adapted vectors in the embedding cache of the new model (folder; `None` = the default,
    /// [`atlas_embed::default_cache_dir`]), keyed by each paper's text, so `train experiment=embedding_*`
    /// with the new model finds every paper of the set embedded already.
    pub fill_cache: bool,
    /// The cache folder for [`FinetuneRequest::fill_cache`].
    pub cache_dir: Option<PathBuf>,
    /// What trains: the adapter (on the set's vectors) or the encoder's top layers.
    pub train_layers: TrainLayers,
    /// Settings of top-layer training (unused for the adapter).
    pub layers: LayerOptions,
    /// Folder of hidden-state stores (`None` = `<cache_dir or the default cache>/../hidden`).
    pub hidden_dir: Option<PathBuf>,
    /// ONNX Runtime threads for the bottom and top passes (0 = its default).
    pub threads: usize,
    /// A name recorded with the run (shown by `runs list`).
    pub run_name: Option<String>,
    /// The resolved configuration, saved as the run's `config.resolved.yaml` (`train experiment=contrastive`).
    pub config_yaml: Option<String>,
}

/// What [`finetune`] produced and measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetuneResult {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The fine-tuned sentence-transformers folder.
    pub model_dir: PathBuf,
    /// The input set mapped through the adapter.
    pub embeddings_dir: PathBuf,
    /// Test papers against train + validation (the retrieval protocol), frozen model, exact search.
    pub frozen_test: RetrievalMetrics,
    /// The same with the fine-tuned model.
    pub tuned_test: RetrievalMetrics,
    /// What trained.
    pub train_layers: TrainLayers,
    /// The adapter's training history and kept epoch (adapter runs).
    pub train: Option<TrainReport>,
    /// Adapter settings used (adapter runs).
    pub options: Option<TrainOptions>,
    /// Top-layer training: steps, validations, resume point (layer runs).
    pub layers: Option<LayerReport>,
    /// Top-layer settings used (layer runs).
    pub layer_options: Option<LayerOptions>,
    /// The hidden-state store used (layer runs), and whether this run built it (else it was reused).
    pub hidden_store: Option<(PathBuf, bool)>,
    /// The frozen baseline's embeddings, when the run computed them (layer runs without an input set).
    pub frozen_embeddings_dir: Option<PathBuf>,
    /// Seconds per phase of the command (load, store, train, embed, evaluate, …).
    pub timings: BTreeMap<String, f64>,
    /// Train / validation / test papers.
    pub papers: [usize; 3],
    /// Categories seen.
    pub categories: usize,
    /// Wall seconds of the whole command.
    pub seconds: f64,
}

/// The ONNX graph (if any) and precision with which `folder` produced the vector space `embedding_id`: tried
/// over the folder's safetensors weights and every graph in `onnx/`, so that the adapted set can be labelled
/// with the id the same engine gives the fine-tuned folder. `None`: the set was not embedded with this folder.
pub(crate) fn engine_of(
    folder: &ModelFolder,
    embedding_id: &str,
    template: &str,
) -> Result<Option<(Option<String>, Precision)>, FinetuneError> {
    let mut candidates: Vec<Option<String>> = vec![None];
    if let Ok(entries) = std::fs::read_dir(folder.dir().join("onnx")) {
        let mut graphs: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".onnx"))
            .map(|n| format!("onnx/{n}"))
            .collect();
        graphs.sort();
        candidates.extend(graphs.into_iter().map(Some));
    }
    for graph in candidates {
        for precision in [Precision::Fp32, Precision::Int8] {
            if embedding_id_of(folder, graph.as_deref(), precision, template)? == embedding_id {
                return Ok(Some((graph, precision)));
            }
        }
    }
    Ok(None)
}

impl FinetuneResult {
    /// The frozen and fine-tuned test metrics as the run record logs them.
    pub fn final_metrics(&self) -> BTreeMap<String, f64> {
        BTreeMap::from([
            ("frozen_test_p_at_1".to_string(), self.frozen_test.p_at_1),
            ("frozen_test_p_at_10".to_string(), self.frozen_test.p_at_10),
            ("frozen_test_mrr_at_10".to_string(), self.frozen_test.mrr_at_10),
            ("test_p_at_1".to_string(), self.tuned_test.p_at_1),
            ("test_p_at_10".to_string(), self.tuned_test.p_at_10),
            ("test_mrr_at_10".to_string(), self.tuned_test.mrr_at_10),
            ("test_ndcg_at_10".to_string(), self.tuned_test.ndcg_at_10),
        ])
    }
}

/// Metrics of no queries (a dataset without a test split).
pub(crate) fn empty_metrics() -> RetrievalMetrics {
    RetrievalMetrics { p_at_1: 0.0, p_at_10: 0.0, mrr_at_10: 0.0, ndcg_at_10: 0.0, n_queries: 0, n_docs: 0 }
}

/// Starts the run record of `req` with `tracker` (a `finetune` run, in `req.run_dir` or a new folder under
/// `req.runs_root`), with its configuration when it came from one.
pub(crate) fn start_run(
    req: &FinetuneRequest,
    tracker: &dyn Tracker,
) -> Result<Box<dyn atlas_track::Run>, FinetuneError> {
    let spec = RunSpec {
        kind: "finetune".into(),
        name: req.run_name.clone(),
        root: req.runs_root.clone(),
        dir: req.run_dir.clone(),
    };
    let mut run = tracker.start_run(spec)?;
    if let Some(yaml) = &req.config_yaml {
        run.log_config_yaml(yaml)?;
    }
    Ok(run)
}

/// Runs the whole fine-tuning, recorded in a local run folder: see the module docs.
pub fn finetune(req: &FinetuneRequest) -> Result<FinetuneResult, FinetuneError> {
    finetune_with(req, &LocalTracker)
}

/// Like [`finetune`], recorded by `tracker` (e.g. MLflow as well as the local folder).
pub fn finetune_with(req: &FinetuneRequest, tracker: &dyn Tracker) -> Result<FinetuneResult, FinetuneError> {
    if req.train_layers != TrainLayers::Adapter {
        return crate::run_layers::finetune_layers(req, tracker);
    }
    let started = Instant::now();
    let set_path = req.embeddings.as_deref().ok_or_else(|| {
        FinetuneError::Invalid("the adapter trains on an embedding set of the base model: name it".into())
    })?;
    crate::train::check_loss(&req.train)?;
    let set = EmbeddingSet::open(set_path)?;
    let base_dir = req.model_dir.clone().unwrap_or_else(|| set.meta.model_dir.clone());
    let base = ModelFolder::open(&base_dir)?;
    if base.dim() != set.meta.dim || !set.meta.normalized {
        return Err(FinetuneError::Invalid(format!(
            "{} holds {}-wide {} vectors, the adapter needs the {}-wide unit vectors of {}",
            set_path.display(),
            set.meta.dim,
            if set.meta.normalized { "unit" } else { "unnormalised" },
            base.dim(),
            base_dir.display()
        )));
    }
    let (graph, precision) =
        engine_of(&base, &set.meta.embedding_id, &set.meta.template)?.ok_or_else(|| {
            FinetuneError::Invalid(format!(
            "{} was not embedded with the model folder {} (no engine of it gives the set's vector space); \
             name the right one with --model-dir",
            set_path.display(),
            base_dir.display()
        ))
        })?;

    let mut run = start_run(req, tracker)?;
    run.log_params(&serde_json::json!({
        "embeddings": req.embeddings, "base_model": base_dir,
        "adapter": if req.train.hidden > 0 { "residual_mlp" } else { "residual_linear" },
        "loss": req.train.loss.to_string(), "train": req.train,
    }))?;
    run.set_data_fingerprint(&set.meta.input_fingerprint);

    let papers = req.papers.clone().unwrap_or_else(|| set.meta.input.clone());
    let t = Instant::now();
    let data = SplitData::load(&set, &papers)?;
    run.log_timing("load", t.elapsed().as_secs_f64())?;
    tracing::info!(
        "{} train, {} validation, {} test papers in {} categories",
        data.train.len(),
        data.validation.len(),
        data.test.len(),
        data.categories.len()
    );

    let mut adapter = new_adapter(&data, &req.train)?;
    let test_metrics = |adapter: &Adapter| {
        adapted_metrics(adapter, &data.test, &[&data.train, &data.validation], &data.categories, 0)
    };
    let t = Instant::now();
    let frozen_test = if data.test.is_empty() { None } else { Some(test_metrics(&adapter)?) };
    let t_frozen = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = train_adapter(&mut adapter, &data, &req.train)?;
    run.log_timing("train", t.elapsed().as_secs_f64())?;
    for e in &report.history {
        let mut m = BTreeMap::from([
            ("val_p_at_1".to_string(), e.val_p_at_1),
            ("val_mrr_at_10".to_string(), e.val_mrr_at_10),
            ("epoch_train_s".to_string(), e.train_s),
        ]);
        if let Some(loss) = e.loss {
            m.insert("loss".into(), loss);
        }
        run.log_metrics(Some(e.epoch as u64), &m)?;
    }
    let t = Instant::now();
    let adapter_test = if data.test.is_empty() { None } else { Some(test_metrics(&adapter)?) };
    run.log_timing("evaluate", t_frozen + t.elapsed().as_secs_f64())?;

    let artifacts = run.artifact_dir();
    let model_dir = artifacts.join("model");
    let tuned = save_with_dense_stack(&base, &adapter.to_dense_stack()?, &model_dir)?;
    let embeddings_dir = artifacts.join("embeddings");
    let adapted = write_adapted_set(&set, &adapter, &tuned, graph.as_deref(), precision, &embeddings_dir)?;
    if req.fill_cache {
        let t = Instant::now();
        let n = fill_cache(&set.ids, &adapted, &papers, req.cache_dir.as_deref())?;
        run.log_timing("fill_cache", t.elapsed().as_secs_f64())?;
        tracing::info!("{n} adapted vectors stored in the embedding cache of the new model");
    }

    let result = FinetuneResult {
        run_dir: run.dir().to_path_buf(),
        model_dir,
        embeddings_dir,
        frozen_test: frozen_test.unwrap_or_else(empty_metrics),
        tuned_test: adapter_test.unwrap_or_else(empty_metrics),
        train_layers: TrainLayers::Adapter,
        train: Some(report.clone()),
        options: Some(req.train.clone()),
        layers: None,
        layer_options: None,
        hidden_store: None,
        frozen_embeddings_dir: None,
        timings: BTreeMap::new(),
        papers: [data.train.len(), data.validation.len(), data.test.len()],
        categories: data.categories.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let best = &report.history[report.best_epoch];
    let mut finals = result.final_metrics();
    finals.insert("best_val_p_at_1".to_string(), best.val_p_at_1);
    finals.insert("best_epoch".to_string(), report.best_epoch as f64);
    run.log_metrics(None, &finals)?;
    let report_path = artifacts.join("finetune-report.json");
    let json = serde_json::to_vec_pretty(&result).map_err(|e| FinetuneError::Invalid(e.to_string()))?;
    std::fs::write(&report_path, json).map_err(|source| FinetuneError::Io { path: report_path, source })?;
    run.finish(RunStatus::Finished)?;
    Ok(result)
}

/// Writes every row of `set` mapped through the adapter and normalised (what the fine-tuned folder computes
/// from the same engine's base vectors), labelled with the vector space of `tuned` on that engine; returns
/// the written set's metadata and rows.
fn write_adapted_set(
    set: &EmbeddingSet,
    adapter: &Adapter,
    tuned: &ModelFolder,
    graph: Option<&str>,
    precision: Precision,
    out: &Path,
) -> Result<(SetMeta, Vec<f32>), FinetuneError> {
    let mut rows = adapter.apply(&set.vectors)?;
    rows.chunks_exact_mut(set.meta.dim).for_each(atlas_encoder::pooling::l2_normalize);
    let meta = SetMeta {
        embedding_id: embedding_id_of(tuned, graph, precision, &set.meta.template)?,
        model_dir: tuned.dir().to_path_buf(),
        model_hash: tuned.model_hash()?.to_string(),
        backend: format!("{} + adapter", set.meta.backend),
        dim: tuned.dim(),
        normalized: true,
        ..set.meta.clone()
    };
    atlas_embed::write_set(out, &set.ids, &rows, &meta)?;
    Ok((meta, rows))
}

/// Stores the adapted rows in the embedding cache of their vector space, keyed by the text each paper of
/// `papers` renders to with the set's template (the key `embed` and training use); returns the rows stored.
pub(crate) fn fill_cache(
    ids: &[String],
    (meta, rows): &(SetMeta, Vec<f32>),
    papers: &Path,
    cache_dir: Option<&Path>,
) -> Result<usize, FinetuneError> {
    let template = atlas_encoder::TextTemplate::parse(&meta.template)
        .map_err(|e| FinetuneError::Invalid(format!("the set's template: {e}")))?;
    let row_of: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let (mut keys, mut vectors) = (Vec::new(), Vec::new());
    let dim = meta.dim;
    atlas_corpus::read_papers(papers, &atlas_corpus::ReadOptions::default(), |p| {
        if let Some(&i) = row_of.get(p.id.as_str()) {
            keys.push(atlas_embed::text_key(&p.text(&template)));
            vectors.extend_from_slice(&rows[i * dim..(i + 1) * dim]);
        }
    })
    .map_err(|e| FinetuneError::Invalid(format!("reading {}: {e}", papers.display())))?;
    let dir = cache_dir.map(Path::to_path_buf).unwrap_or_else(atlas_embed::default_cache_dir);
    let mut cache = atlas_embed::EmbeddingCache::open(&dir, &meta.embedding_id, dim)?;
    for (k, v) in keys.chunks(4096).zip(vectors.chunks(4096 * dim)) {
        cache.put_many(k, v)?;
    }
    Ok(keys.len())
}
