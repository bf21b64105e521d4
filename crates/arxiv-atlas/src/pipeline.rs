//! The training and evaluation workflows: config → data → model → metrics → run folder.
//!
//! Each step is done by a library crate; this module decides the order, what is recorded in the run, and
//! where files go.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use atlas_classify::{Classifier, Labels, Probabilities, TfidfLinearModel};
use atlas_config::{DataConfig, ExperimentKind, ResolvedConfig};
use atlas_corpus::{Dataset, IngestOptions, Paper, Split};
use atlas_eval::{EvalInput, EvalOptions, EvalReport};
use atlas_track::{LocalTracker, Run, RunSpec, RunStatus, Tracker};
use serde_json::json;

use crate::model_dir::{self, LoadedModel, PipelineMeta};

/// Where `../shared` keeps the taxonomy in this repository's layout; used when no taxonomy is configured.
pub const DEFAULT_TAXONOMY: &str = "../shared/data/taxonomy.tsv";

/// The configured taxonomy, or the default one when it exists.
pub fn taxonomy_path(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_TAXONOMY)).filter(|p| p.is_file()),
    }
}

/// Opens `data.input` as a dataset: an ingested folder is used as is; a raw file is ingested once into
/// `data.cache_dir/<name>-<key>` (key = input checksum + ingest options) and reused by later runs.
pub fn prepare_dataset(data: &DataConfig) -> Result<Dataset> {
    let input = &data.input;
    if input.is_dir() {
        return Dataset::open(input).with_context(|| format!("opening dataset {}", input.display()));
    }
    if !input.exists() {
        anyhow::bail!("data.input {}: no such file or folder", input.display());
    }
    let taxonomy = taxonomy_path(data.taxonomy.as_deref());
    let fingerprint = atlas_corpus::fingerprint_files(std::slice::from_ref(input))?;
    let key_src = format!(
        "{fingerprint}|{:?}|{:?}|{:?}",
        data.max_samples,
        data.max_per_category,
        taxonomy.as_ref().map(|p| p.display().to_string())
    );
    let key = &atlas_artifact::sha256_bytes(key_src.as_bytes())[..12];
    let stem = input.file_name().and_then(|s| s.to_str()).unwrap_or("input");
    let stem = stem.split('.').next().unwrap_or(stem);
    let dir = data.cache_dir.join(format!("{stem}-{key}"));
    match Dataset::open(&dir) {
        Ok(ds) => {
            tracing::info!("reusing ingested dataset {}", dir.display());
            return Ok(ds);
        }
        Err(e) if dir.exists() => tracing::warn!("re-ingesting {}: {e}", dir.display()),
        Err(_) => {}
    }
    tracing::info!("ingesting {} into {}", input.display(), dir.display());
    let opts = IngestOptions {
        max_samples: data.max_samples,
        max_per_category: data.max_per_category,
        taxonomy,
        progress: true,
    };
    let report = atlas_corpus::ingest(std::slice::from_ref(input), &dir, &opts)?;
    // Logged (stderr), not printed: `train --json` keeps stdout for its one JSON object.
    let w = &report.written;
    tracing::info!(
        "ingested {} train / {} validation / {} test papers in {:.1} s ({:.0} MB/s)",
        w.train,
        w.validation,
        w.test,
        report.elapsed_secs,
        report.mb_per_sec
    );
    for (reason, s) in &report.totals.skipped {
        tracing::warn!(
            "skipped {} records: {reason} (first lines {:?}) e.g. {}",
            s.count,
            s.first_lines,
            s.example_message
        );
    }
    Dataset::open(&dir).with_context(|| format!("opening the dataset just ingested in {}", dir.display()))
}

/// Label set of a training split: every primary category seen, sorted by code, named from the dataset.
pub fn labels_from(train: &[Paper], ds: &Dataset) -> Labels {
    let mut codes: Vec<String> = train.iter().map(|p| p.primary().to_string()).collect();
    codes.sort_unstable();
    codes.dedup();
    let names = codes.iter().map(|c| ds.category_name(c).unwrap_or(c).to_string()).collect();
    Labels { codes, names }
}

/// Result of a training run.
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Final metrics logged by the run (validation metrics, timings).
    pub metrics: BTreeMap<String, f64>,
}

/// Trains the configured experiment and records everything in a run folder.
pub fn train(resolved: &ResolvedConfig) -> Result<TrainOutcome> {
    let cfg = &resolved.config;
    let spec = RunSpec {
        kind: "train".into(),
        name: cfg.run.name.clone().or_else(|| Some(cfg.experiment.name.clone())),
        root: cfg.run.root.clone(),
        dir: cfg.run.dir.clone(),
    };
    let mut run = LocalTracker.start_run(spec)?;
    tracing::info!("run {} in {}", run.id(), run.dir().display());
    let result = train_in_run(resolved, run.as_mut());
    match result {
        Ok(metrics) => {
            let run_dir = run.dir().to_path_buf();
            run.finish(RunStatus::Finished)?;
            Ok(TrainOutcome { run_dir, metrics })
        }
        Err(e) => {
            // Keep the original error; a failure to record the failure is only logged.
            if let Err(fe) = run.finish(RunStatus::Failed) {
                tracing::warn!("could not mark the run as failed: {fe}");
            }
            Err(e)
        }
    }
}

fn train_in_run(resolved: &ResolvedConfig, run: &mut dyn Run) -> Result<BTreeMap<String, f64>> {
    let cfg = &resolved.config;
    run.log_config_yaml(&resolved.to_yaml())?;
    run.log_params(&json!({
        "seed": cfg.seed,
        "data": cfg.data,
        "experiment": cfg.experiment,
        "groups": resolved.groups,
        "overrides": resolved.overrides,
    }))?;

    let t = Instant::now();
    let ds = prepare_dataset(&cfg.data)?;
    run.set_data_fingerprint(ds.fingerprint());
    let train = ds.read(Split::Train)?;
    let valid = ds.read(Split::Validation)?;
    run.log_timing("data", t.elapsed().as_secs_f64())?;
    anyhow::ensure!(!train.is_empty(), "the training split of {} is empty", ds.dir().display());
    tracing::info!("{} training and {} validation papers", train.len(), valid.len());

    let labels = labels_from(&train, &ds);
    let index: HashMap<&str, u32> =
        labels.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    let template = &cfg.data.template;
    let train_texts: Vec<String> = train.iter().map(|p| p.text(template)).collect();
    let train_y: Vec<u32> = train.iter().map(|p| index[p.primary()]).collect();
    // Validation papers whose primary category never occurs in training cannot be predicted; they are left
    // out of early stopping (and counted as errors by `evaluate`).
    let (valid_texts, valid_y): (Vec<String>, Vec<u32>) =
        valid.iter().filter_map(|p| index.get(p.primary()).map(|&y| (p.text(template), y))).unzip();
    let train_refs: Vec<&str> = train_texts.iter().map(String::as_str).collect();
    let valid_refs: Vec<&str> = valid_texts.iter().map(String::as_str).collect();
    let valid_arg = (!valid_refs.is_empty()).then_some((valid_refs.as_slice(), valid_y.as_slice()));

    let model_dir = run.artifact_dir().join("model");
    let mut metrics: BTreeMap<String, f64> = BTreeMap::new();
    let mut log_err = None;
    let mut observer = |e: &atlas_classify::EpochStats| {
        let mut m = BTreeMap::from([("train_loss".to_string(), e.train_loss)]);
        if let Some(v) = e.valid_loss {
            m.insert("valid_loss".into(), v);
        }
        if let Some(v) = e.valid_accuracy {
            m.insert("valid_accuracy".into(), v);
        }
        if let Err(err) = run.log_metrics(Some(e.epoch as u64), &m) {
            log_err.get_or_insert(err);
        }
    };
    let kind = cfg.experiment.kind;
    // Every validation paper (also those of classes unseen in training) for the validation metrics.
    let all_valid: Vec<String> = valid.iter().map(|p| p.text(template)).collect();
    let validation_probs = match kind {
        ExperimentKind::TfidfLinear => {
            let (model, report) = TfidfLinearModel::train(
                &train_refs,
                &train_y,
                valid_arg,
                labels.clone(),
                &cfg.experiment.tfidf,
                &cfg.experiment.linear,
                &mut observer,
            )?;
            metrics.insert("vectorize_s".into(), report.vectorize_s);
            metrics.insert("fit_s".into(), report.fit_s);
            metrics.insert("train_s".into(), report.vectorize_s + report.fit_s);
            metrics.insert("n_features".into(), report.n_features as f64);
            metrics.insert("epochs_run".into(), report.epochs_run as f64);
            metrics.insert("best_epoch".into(), report.best_epoch as f64);
            model.save(&model_dir)?;
            let refs: Vec<&str> = all_valid.iter().map(String::as_str).collect();
            (!valid.is_empty()).then(|| model.predict_proba(&refs))
        }
        ExperimentKind::EmbeddingLr | ExperimentKind::EmbeddingMlp => {
            let enc_cfg = &cfg.experiment.encoder;
            let encoder = crate::encoding::encoder_from_config(enc_cfg, template)?;
            let mut cache = crate::encoding::open_cache(&encoder, enc_cfg.cache_dir.as_ref())?;
            tracing::info!(
                "encoder {} (dim {}), cache {}",
                encoder.backend_name(),
                encoder.dim(),
                cache.path().display()
            );
            let t = Instant::now();
            let pb =
                atlas_embed::job::progress_bar((train_texts.len() + all_valid.len()) as u64, "embedding");
            let (xtr, ctr) =
                atlas_embed::embed_texts_cached(&encoder, Some(&mut cache), &train_texts, 1024, Some(&pb))?;
            let (xva_all, cva) =
                atlas_embed::embed_texts_cached(&encoder, Some(&mut cache), &all_valid, 1024, Some(&pb))?;
            pb.finish_and_clear();
            let embed_s = t.elapsed().as_secs_f64();
            metrics.insert("embed_s".into(), embed_s);
            metrics.insert("embedded_texts".into(), (ctr.embedded + cva.embedded) as f64);
            metrics.insert("cached_texts".into(), (ctr.from_cache + cva.from_cache) as f64);
            let dim = encoder.dim();
            // Rows of the validation papers whose label the model knows (the early-stopping set).
            let mut xva = Vec::with_capacity(valid_y.len() * dim);
            for (i, p) in valid.iter().enumerate() {
                if index.contains_key(p.primary()) {
                    xva.extend_from_slice(&xva_all[i * dim..(i + 1) * dim]);
                }
            }
            let valid_dense = (!valid_y.is_empty()).then_some((xva.as_slice(), valid_y.as_slice()));
            let (head, report) = match kind {
                ExperimentKind::EmbeddingLr => atlas_classify::DenseHead::train_lr(
                    &xtr,
                    dim,
                    &train_y,
                    valid_dense,
                    labels.clone(),
                    &cfg.experiment.lr,
                    &mut observer,
                )?,
                _ => atlas_classify::DenseHead::train_mlp(
                    &xtr,
                    dim,
                    &train_y,
                    valid_dense,
                    labels.clone(),
                    &cfg.experiment.mlp,
                    &mut observer,
                )?,
            };
            metrics.insert("fit_s".into(), report.fit_s);
            metrics.insert("train_s".into(), report.fit_s);
            metrics.insert("epochs_run".into(), report.epochs_run as f64);
            metrics.insert("best_epoch".into(), report.best_epoch as f64);
            head.save(&model_dir, &crate::encoding::encoder_meta(enc_cfg, &encoder)?)?;
            (!valid.is_empty()).then(|| head.predict_proba_dense(&xva_all))
        }
    };
    if let Some(err) = log_err {
        return Err(err.into());
    }
    for (k, v) in &metrics {
        if k.ends_with("_s") {
            run.log_timing(k.trim_end_matches("_s"), *v)?;
        }
    }
    if let Some(probs) = validation_probs {
        let rep = evaluate_probs(&labels, &probs, &valid, 0.2)?;
        for (k, v) in summary_numbers(&rep) {
            metrics.insert(format!("validation_{k}"), v);
        }
    }
    model_dir::write_pipeline_meta(
        &model_dir,
        &PipelineMeta {
            template: template.clone(),
            experiment: cfg.experiment.name.clone(),
            run_id: run.id().to_string(),
        },
    )?;
    run.log_metrics(None, &metrics)?;
    Ok(metrics)
}

/// Predicts and scores `papers` with `model`.
pub fn evaluate_papers(
    model: &LoadedModel,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport> {
    let texts = model.texts_for(papers.iter());
    let probs = model.predictor.predict(&texts)?;
    evaluate_probs(model.predictor.labels(), &probs, papers, multilabel_threshold)
}

/// Scores predicted probabilities (one row per paper) against the papers' categories.
pub fn evaluate_probs(
    labels: &Labels,
    probs: &Probabilities,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport> {
    let index: HashMap<&str, u32> =
        labels.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    let y_true: Vec<Option<u32>> = papers.iter().map(|p| index.get(p.primary()).copied()).collect();
    let true_sets: Vec<Vec<u32>> = papers
        .iter()
        .map(|p| p.categories.iter().filter_map(|c| index.get(c.as_str()).copied()).collect())
        .collect();
    let input = EvalInput {
        probs: &probs.data,
        n_classes: probs.n_classes,
        y_true: &y_true,
        true_sets: &true_sets,
        codes: &labels.codes,
        names: &labels.names,
    };
    let opts = EvalOptions { multilabel_threshold, ..EvalOptions::default() };
    Ok(atlas_eval::evaluate(&input, &opts)?)
}

/// The numeric entries of a report's summary.
pub fn summary_numbers(rep: &EvalReport) -> BTreeMap<String, f64> {
    let summary = rep.summary();
    summary
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x))).collect())
        .unwrap_or_default()
}

/// What `evaluate` produced.
pub struct EvaluateOutcome {
    /// The evaluation run folder.
    pub run_dir: PathBuf,
    /// The report.
    pub report: EvalReport,
}

/// Options of [`evaluate`].
pub struct EvaluateRequest<'a> {
    /// `--model`.
    pub model: &'a Path,
    /// `--input`.
    pub input: &'a Path,
    /// `--split`.
    pub split: Option<Split>,
    /// `--run-dir`.
    pub run_dir: Option<PathBuf>,
    /// `--runs-root`.
    pub runs_root: PathBuf,
    /// `--multilabel-threshold`.
    pub multilabel_threshold: f32,
}

/// Evaluates a trained model on a file or dataset and records an `evaluate` run with reports and plots.
pub fn evaluate(req: &EvaluateRequest) -> Result<EvaluateOutcome> {
    let model = LoadedModel::open(req.model)?;
    let spec = RunSpec {
        kind: "evaluate".into(),
        name: None,
        root: req.runs_root.clone(),
        dir: req.run_dir.clone(),
    };
    let mut run = LocalTracker.start_run(spec)?;
    let result = (|| -> Result<EvalReport> {
        run.log_params(&json!({
            "model": model.dir,
            "model_run": model.pipeline.run_id,
            "experiment": model.pipeline.experiment,
            "input": req.input,
            "split": req.split.map(|s| s.to_string()),
            "multilabel_threshold": req.multilabel_threshold,
        }))?;
        let t = Instant::now();
        let (papers, read_report) = atlas_corpus::load_papers(req.input, req.split)
            .with_context(|| format!("reading {}", req.input.display()))?;
        run.log_timing("data", t.elapsed().as_secs_f64())?;
        anyhow::ensure!(!papers.is_empty(), "no papers to evaluate in {}", req.input.display());
        if read_report.skipped_total() > 0 {
            tracing::warn!(
                "{} input records were skipped (see the report above)",
                read_report.skipped_total()
            );
        }
        run.set_data_fingerprint(&atlas_corpus::fingerprint_files(std::slice::from_ref(
            &req.input.to_path_buf(),
        ))?);
        let t = Instant::now();
        let report = evaluate_papers(&model, &papers, req.multilabel_threshold)?;
        run.log_timing("predict", t.elapsed().as_secs_f64())?;
        let art = run.artifact_dir();
        std::fs::create_dir_all(&art)?;
        report.write_per_class_csv(&art.join("per_class.csv"))?;
        report.write_confusion_csv(&art.join("confusion.csv"))?;
        report.write_confusion_png(&art.join("confusion.png"))?;
        atlas_artifact::write_atomic(&art.join("report.json"), &serde_json::to_vec_pretty(&report)?)?;
        run.log_metrics(None, &summary_numbers(&report))?;
        Ok(report)
    })();
    match result {
        Ok(report) => {
            let run_dir = run.dir().to_path_buf();
            run.finish(RunStatus::Finished)?;
            Ok(EvaluateOutcome { run_dir, report })
        }
        Err(e) => {
            if let Err(fe) = run.finish(RunStatus::Failed) {
                tracing::warn!("could not mark the run as failed: {fe}");
            }
            Err(e)
        }
    }
}
