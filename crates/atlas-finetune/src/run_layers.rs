//! The `finetune` command when the encoder's top layers train (`--train-layers N|all`).
//!
//! ```text
//! <run>/run.json, params.json, metrics.jsonl   the run record: loss, lr and gradient norm per step, validation
//!                                               P@1 / MRR@10 at each validation, final test metrics
//! <run>/checkpoint/                            the latest checkpoint (weights, AdamW moments, step, history):
//!                                               running the same command again resumes from it
//! <run>/artifacts/model/                       sentence-transformers folder: the base's files with the tuned
//!                                               model.safetensors
//! <run>/artifacts/embeddings/                  every paper of the input set embedded by the tuned model
//! <run>/artifacts/curves-loss.png, curves-validation.png, finetune-report.json
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;

use atlas_embed::{EmbeddingSet, SetMeta};
use atlas_encoder::backend::onnx::PartSession;
use atlas_encoder::backend::onnx_graph::GraphPart;
use atlas_encoder::{embedding_id_of, save_with_weights, HiddenStates, ModelFolder, PoolingHead, Precision};
use atlas_track::RunStatus;

use crate::adapter::Adapter;
use crate::bert::TrainableBert;
use crate::data::{LabelledSplit, SplitData};
use crate::hidden::HiddenStore;
use crate::layers::{checkpoint_dir, train_layers, LayerData, LayerReport, TrainLayers};
use crate::run::{empty_metrics, engine_of, fill_cache, start_run, FinetuneRequest, FinetuneResult};
use crate::train::adapted_metrics;
use crate::FinetuneError;

/// Papers per top-graph call when embedding the whole set.
const TOP_BATCH: usize = 64;

/// The default folder of hidden-state stores: `hidden/` beside the embedding cache.
pub fn default_hidden_dir() -> PathBuf {
    atlas_embed::default_cache_dir().with_file_name("hidden")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs top-layer fine-tuning: see the module docs.
pub(crate) fn finetune_layers(
    req: &FinetuneRequest,
    tracker: &dyn atlas_track::Tracker,
) -> Result<FinetuneResult, FinetuneError> {
    let started = Instant::now();
    let mut timings = BTreeMap::new();
    let opts = &req.layers;
    let set = req.embeddings.as_deref().map(EmbeddingSet::open).transpose()?;
    let base_dir = req
        .model_dir
        .clone()
        .or_else(|| set.as_ref().map(|s| s.meta.model_dir.clone()))
        .or_else(atlas_encoder::default_model_dir)
        .ok_or_else(|| FinetuneError::Invalid("no model folder: name one with --model-dir".into()))?;
    let base = ModelFolder::open(&base_dir)?;
    if let Some(set) = &set {
        if engine_of(&base, &set.meta.embedding_id, &set.meta.template)?.is_none() {
            return Err(FinetuneError::Invalid(format!(
                "{} was not embedded with the model folder {} (it is the frozen baseline the tuned model is \
                 measured against); name the right one with --model-dir",
                set.dir.display(),
                base_dir.display()
            )));
        }
    }
    let papers = req
        .papers
        .clone()
        .or_else(|| set.as_ref().map(|s| s.meta.input.clone()))
        .ok_or_else(|| FinetuneError::Invalid("no papers: name them with --input".into()))?;
    let template_str =
        set.as_ref().map_or_else(|| atlas_encoder::PAPER_TEMPLATE.to_string(), |s| s.meta.template.clone());
    let template = atlas_encoder::TextTemplate::parse(&template_str)
        .map_err(|e| FinetuneError::Invalid(format!("the template: {e}")))?;
    let fingerprint = match &set {
        Some(s) => s.meta.input_fingerprint.clone(),
        None => atlas_corpus::fingerprint_files(std::slice::from_ref(&papers))
            .map_err(|e| FinetuneError::Invalid(format!("{}: {e}", papers.display())))?,
    };
    if base.dim() != base.config().hidden_size {
        return Err(FinetuneError::Invalid(format!(
            "{} ends in Dense modules ({}-wide output from {}-wide token states); top-layer fine-tuning handles \
             Transformer + Pooling (+ Normalize) models",
            base_dir.display(),
            base.dim(),
            base.config().hidden_size
        )));
    }
    let n_layers = base.config().num_hidden_layers;
    let from = match req.train_layers {
        TrainLayers::Top(n) if n <= n_layers => n_layers - n,
        TrainLayers::Top(n) => {
            return Err(FinetuneError::Invalid(format!(
                "--train-layers {n}: {} has {n_layers} layers",
                base_dir.display()
            )))
        }
        TrainLayers::All => 0,
        TrainLayers::Adapter => {
            return Err(FinetuneError::Invalid("the adapter is trained by crate::run::finetune".into()))
        }
    };

    let mut run = start_run(req, tracker)?;
    run.log_params(&serde_json::json!({
        "embeddings": req.embeddings, "input": papers, "base_model": base_dir,
        "train_layers": req.train_layers.to_string(), "from_layer": from, "loss": opts.loss.to_string(),
        "layers": opts,
    }))?;
    run.set_data_fingerprint(&fingerprint);

    // The texts: of the set's papers, or of every paper of the input.
    let t = Instant::now();
    let wanted: Option<HashMap<&str, ()>> =
        set.as_ref().map(|s| s.ids.iter().map(|id| (id.as_str(), ())).collect());
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut seen: HashMap<String, ()> = HashMap::new();
    atlas_corpus::read_papers(&papers, &atlas_corpus::ReadOptions::default(), |p| {
        let keep = wanted.as_ref().is_none_or(|w| w.contains_key(p.id.as_str()));
        if keep && seen.insert(p.id.clone(), ()).is_none() {
            let text = p.text(&template);
            texts.push((p.id, text));
        }
    })
    .map_err(|e| FinetuneError::Invalid(format!("reading {}: {e}", papers.display())))?;
    drop(seen);
    if let Some(set) = &set {
        if texts.len() != set.ids.len() {
            return Err(FinetuneError::Invalid(format!(
                "{} of the set's {} papers are in {}",
                texts.len(),
                set.ids.len(),
                papers.display()
            )));
        }
    }
    timings.insert("read_texts".to_string(), t.elapsed().as_secs_f64());

    // The frozen bottom's states, reused when a store of the same model, cut and texts exists.
    let t = Instant::now();
    let texts_key = format!("{template_str}\u{1f}{fingerprint}");
    let model_hash = base.model_hash()?.to_string();
    let store_dir = req.hidden_dir.clone().unwrap_or_else(default_hidden_dir).join(format!(
        "{}-L{from}-{}",
        &model_hash[..model_hash.len().min(12)],
        &hex(&atlas_embed::text_key(&texts_key))[..12]
    ));
    let (store, built) = match HiddenStore::open_matching(&store_dir, &base, from, &texts_key)? {
        Some(s) => {
            tracing::info!("reusing the hidden states in {}", store_dir.display());
            (s, false)
        }
        None => {
            tracing::info!(
                "computing the hidden states of {} papers into {}",
                texts.len(),
                store_dir.display()
            );
            let s =
                HiddenStore::build(&store_dir, &base, from, &texts_key, &texts, req.threads, opts.progress)?;
            (s, true)
        }
    };
    drop(texts);
    let store_phase = t.elapsed().as_secs_f64();
    timings.insert(if built { "hidden_store_build" } else { "hidden_store_open" }.to_string(), store_phase);

    // The frozen baseline: the set's vectors, or the base model's top over the same states.
    let t = Instant::now();
    let dim = base.dim();
    let (ids, frozen, frozen_dir) = match &set {
        Some(s) => (s.ids.clone(), s.vectors.clone(), None),
        None => {
            let v = top_embeddings(&store, &base, from, req.threads, opts.progress)?;
            let ids = store.meta().ids.clone();
            let meta = SetMeta {
                embedding_id: embedding_id_of(&base, None, Precision::Fp32, &template_str)?,
                model_dir: base.dir().to_path_buf(),
                model_hash: model_hash.clone(),
                backend: format!("onnx fp32 cpu (top {} layers over stored f16 states)", n_layers - from),
                template: template_str.clone(),
                dim,
                normalized: base.normalize(),
                pooling: format!("{:?}", base.pooling()).to_lowercase(),
                count: ids.len(),
                input: papers.clone(),
                input_fingerprint: fingerprint.clone(),
                shard: None,
            };
            let dir = run.artifact_dir().join("frozen-embeddings");
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|source| FinetuneError::Io { path: dir.clone(), source })?;
            }
            atlas_embed::write_set(&dir, &ids, &v, &meta)?;
            timings.insert("embed_frozen".to_string(), t.elapsed().as_secs_f64());
            (ids, v, Some(dir))
        }
    };
    let t = Instant::now();
    let data = SplitData::load_rows(&ids, &frozen, dim, &papers)?;
    drop(frozen);
    timings.insert("load_labels".to_string(), t.elapsed().as_secs_f64());
    let pos: HashMap<&str, usize> =
        store.meta().ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let rows_of = |s: &LabelledSplit| -> Result<Vec<usize>, FinetuneError> {
        s.papers
            .iter()
            .map(|p| {
                pos.get(p.id.as_str()).copied().ok_or_else(|| {
                    FinetuneError::Invalid(format!(
                        "paper {} is missing from the store {}",
                        p.id,
                        store_dir.display()
                    ))
                })
            })
            .collect()
    };
    // Hard negatives of `loss: contrastive`, from the frozen vectors of the train papers.
    let hard_negatives = if opts.loss == crate::LossKind::Contrastive {
        let t = Instant::now();
        let n = crate::contrastive::mine_hard_negatives(&data.train.vectors, dim, &data.train.labels)?;
        timings.insert("mine_negatives".to_string(), t.elapsed().as_secs_f64());
        Some(n)
    } else {
        None
    };
    let class_init = (opts.loss == crate::LossKind::CrossEntropy).then(|| {
        crate::layers::centroid_head(
            &data.train.vectors,
            dim,
            &data.train.labels,
            data.categories.len(),
            opts.scale,
        )
    });
    let layer_data = LayerData {
        train_labels: &data.train.labels,
        train_rows: rows_of(&data.train)?,
        val_labels: &data.validation.labels,
        val_rows: rows_of(&data.validation)?,
        categories: data.categories.len(),
        hard_negatives,
        class_init,
    };

    // Training.
    let t = Instant::now();
    let device = Device::Cpu;
    let model = TrainableBert::load(&base_dir, &device, from, base.normalize())?;
    let ckpt = checkpoint_dir(run.dir());
    let report = train_layers(&model, from, &store, &layer_data, opts, &ckpt, &device)?;
    timings.insert("train".to_string(), t.elapsed().as_secs_f64());
    log_history(run.as_mut(), &report)?;
    if report.stopped {
        run.finish(RunStatus::Failed)?;
        return Err(FinetuneError::Invalid(format!(
            "stopped after step {} as asked; the checkpoint in {} resumes the run",
            report.steps.last().map_or(0, |s| s.step),
            ckpt.display()
        )));
    }

    // The tuned model folder.
    let t = Instant::now();
    let artifacts = run.artifact_dir();
    let model_dir = artifacts.join("model");
    if model_dir.exists() {
        // A resumed run that had finished before: the folder is rewritten from the final weights.
        std::fs::remove_dir_all(&model_dir)
            .map_err(|source| FinetuneError::Io { path: model_dir.clone(), source })?;
    }
    let weights = artifacts.join(".model.safetensors.partial");
    write_weights(&base, &model, &weights)?;
    let tuned = save_with_weights(&base, &weights, &model_dir)?;
    timings.insert("save".to_string(), t.elapsed().as_secs_f64());

    // Every paper through the tuned top, in the set's row order.
    let t = Instant::now();
    let store_rows = top_embeddings(&store, &tuned, from, req.threads, opts.progress)?;
    let mut rows = vec![0.0f32; ids.len() * dim];
    for (r, id) in ids.iter().enumerate() {
        let p = pos[id.as_str()];
        rows[r * dim..(r + 1) * dim].copy_from_slice(&store_rows[p * dim..(p + 1) * dim]);
    }
    drop(store_rows);
    timings.insert("embed".to_string(), t.elapsed().as_secs_f64());
    let embeddings_dir = artifacts.join("embeddings");
    if embeddings_dir.exists() {
        std::fs::remove_dir_all(&embeddings_dir)
            .map_err(|source| FinetuneError::Io { path: embeddings_dir.clone(), source })?;
    }
    let meta = SetMeta {
        embedding_id: embedding_id_of(&tuned, None, Precision::Fp32, &template_str)?,
        model_dir: tuned.dir().to_path_buf(),
        model_hash: tuned.model_hash()?.to_string(),
        backend: format!("onnx fp32 cpu (top {} layers over stored f16 states)", n_layers - from),
        template: template_str.clone(),
        dim,
        normalized: tuned.normalize(),
        pooling: format!("{:?}", tuned.pooling()).to_lowercase(),
        count: ids.len(),
        input: papers.clone(),
        input_fingerprint: fingerprint.clone(),
        shard: None,
    };
    atlas_embed::write_set(&embeddings_dir, &ids, &rows, &meta)?;
    if req.fill_cache {
        let t = Instant::now();
        let n = fill_cache(&ids, &(meta, rows.clone()), &papers, req.cache_dir.as_deref())?;
        timings.insert("fill_cache".to_string(), t.elapsed().as_secs_f64());
        tracing::info!("{n} tuned vectors stored in the embedding cache of the new model");
    }

    // Frozen vs tuned on the test protocol.
    let t = Instant::now();
    let identity = Adapter::new(data.dim, 0.0, 0.0)?;
    let metrics =
        |d: &SplitData| adapted_metrics(&identity, &d.test, &[&d.train, &d.validation], &d.categories, 0);
    let row_of: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let retarget = |s: &LabelledSplit| LabelledSplit {
        vectors: s
            .papers
            .iter()
            .flat_map(|p| {
                let r = row_of[p.id.as_str()];
                rows[r * dim..(r + 1) * dim].iter().copied()
            })
            .collect(),
        ..s.clone()
    };
    let tuned_data = SplitData {
        train: retarget(&data.train),
        validation: retarget(&data.validation),
        test: retarget(&data.test),
        ..data.clone()
    };
    let (frozen_test, tuned_test) = if data.test.is_empty() {
        (empty_metrics(), empty_metrics())
    } else {
        (metrics(&data)?, metrics(&tuned_data)?)
    };
    timings.insert("evaluate".to_string(), t.elapsed().as_secs_f64());
    write_curves(&artifacts, &report)?;
    for (phase, s) in &timings {
        run.log_timing(phase, *s)?;
    }

    let result = FinetuneResult {
        run_dir: run.dir().to_path_buf(),
        model_dir,
        embeddings_dir,
        frozen_test,
        tuned_test,
        train_layers: req.train_layers,
        train: None,
        options: None,
        layers: Some(report),
        layer_options: Some(opts.clone()),
        hidden_store: Some((store_dir, built)),
        frozen_embeddings_dir: frozen_dir,
        timings,
        papers: [data.train.len(), data.validation.len(), data.test.len()],
        categories: data.categories.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    run.log_metrics(None, &result.final_metrics())?;
    let report_path = artifacts.join("finetune-report.json");
    let json = serde_json::to_vec_pretty(&result).map_err(|e| FinetuneError::Invalid(e.to_string()))?;
    atlas_artifact::write_atomic(&report_path, &json)
        .map_err(|e| FinetuneError::Invalid(format!("{}: {e}", report_path.display())))?;
    run.finish(RunStatus::Finished)?;
    Ok(result)
}

/// Every step and validation of the run (those before a resume too) into the run's metrics.
fn log_history(run: &mut dyn atlas_track::Run, report: &LayerReport) -> Result<(), FinetuneError> {
    for e in report.evals.iter().filter(|e| e.step == 0) {
        run.log_metrics(
            Some(0),
            &BTreeMap::from([
                ("val_p_at_1".to_string(), e.p_at_1),
                ("val_mrr_at_10".to_string(), e.mrr_at_10),
            ]),
        )?;
    }
    for s in &report.steps {
        let mut m = BTreeMap::from([
            ("loss".to_string(), s.loss),
            ("lr".to_string(), s.lr),
            ("grad_norm".to_string(), s.grad_norm),
        ]);
        if let Some(e) = report.evals.iter().find(|e| e.step == s.step) {
            m.insert("val_p_at_1".into(), e.p_at_1);
            m.insert("val_mrr_at_10".into(), e.mrr_at_10);
        }
        run.log_metrics(Some(s.step as u64), &m)?;
    }
    Ok(())
}

/// The loss curve (per step and a 20-step moving mean) and the validation curve, as PNG in `dir`.
fn write_curves(dir: &Path, report: &LayerReport) -> Result<(), FinetuneError> {
    let loss: Vec<(f64, f64)> = report.steps.iter().map(|s| (s.step as f64, s.loss)).collect();
    let window = 20usize;
    let smooth: Vec<(f64, f64)> = (0..loss.len())
        .map(|i| {
            let lo = i.saturating_sub(window - 1);
            let w = &loss[lo..=i];
            (loss[i].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
        })
        .collect();
    let val: Vec<(f64, f64)> = report.evals.iter().map(|e| (e.step as f64, e.p_at_1)).collect();
    let plot = |e: atlas_eval::EvalError| FinetuneError::Invalid(format!("drawing the curves: {e}"));
    atlas_eval::write_curves_png(
        &dir.join("curves-loss.png"),
        "training loss (masked MNRL)",
        "step",
        "loss",
        &[("loss per step", &loss), ("20-step mean", &smooth)],
    )
    .map_err(plot)?;
    atlas_eval::write_curves_png(
        &dir.join("curves-validation.png"),
        "validation same-category P@1 (subset)",
        "step",
        "P@1",
        &[("validation P@1", &val)],
    )
    .map_err(plot)
}

/// The base's `model.safetensors` tensors with the trained ones replaced (same names and dtypes), written to
/// `out`.
fn write_weights(base: &ModelFolder, model: &TrainableBert, out: &Path) -> Result<(), FinetuneError> {
    let mut raw = candle_core::safetensors::load(base.safetensors_path()?, &Device::Cpu)
        .map_err(FinetuneError::candle("reading the base weights"))?;
    let prefixed = raw.keys().any(|k| k.starts_with("bert."));
    for (name, var) in model.trainable_vars() {
        let key = if prefixed { format!("bert.{name}") } else { name };
        let dtype = raw
            .get(&key)
            .map(|t| t.dtype())
            .ok_or_else(|| FinetuneError::Invalid(format!("the base weights lack {key}")))?;
        let t = var.as_tensor().to_dtype(dtype).map_err(FinetuneError::candle("converting a weight"))?;
        raw.insert(key, t);
    }
    candle_core::safetensors::save(&raw, out).map_err(FinetuneError::candle("writing the tuned weights"))
}

/// Embeddings of every paper in `store` (storage order) through `tuned`'s layers `from..` on ONNX Runtime,
/// pooled and normalised as the folder says.
pub fn top_embeddings(
    store: &HiddenStore,
    tuned: &ModelFolder,
    from: usize,
    threads: usize,
    progress: bool,
) -> Result<Vec<f32>, FinetuneError> {
    let dim = tuned.dim();
    let hidden = store.meta().hidden;
    let head = PoolingHead { pooling: tuned.pooling(), normalize: tuned.normalize(), dim: hidden };
    let session = PartSession::open(tuned, GraphPart::Top { from }, threads)?;
    let pb = if progress {
        atlas_embed::job::progress_bar(store.len() as u64, "embedding with the tuned layers")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut out = vec![0.0f32; store.len() * dim];
    let all: Vec<usize> = (0..store.len()).collect();
    for chunk in all.chunks(TOP_BATCH) {
        let b = store.batch(chunk, usize::MAX)?;
        let (lengths, seq) = (b.lengths, b.seq);
        let mask: Vec<u32> = b.mask.iter().map(|&m| m as u32).collect();
        let last = session.top(&b.states, &mask, chunk.len(), seq)?;
        let start = chunk[0] * dim;
        head.apply_into(
            HiddenStates { data: &last, seq_len: seq, lengths: &lengths },
            &mut out[start..start + chunk.len() * dim],
        )?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    Ok(out)
}
