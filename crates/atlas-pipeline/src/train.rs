//! `train`: config → dataset → model → validation metrics → calibration (temperature + conformal scores on
//! the two halves of validation), recorded in a run folder.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_classify::{
    Classifier, DenseHead, EpochStats, Labels, NeighbourStore, Probabilities, TfidfLinearModel, TrainReport,
    TrainingPaper,
};
use atlas_config::{ExperimentKind, ResolvedConfig, TrackerKind};
use atlas_corpus::{Paper, Split};
use atlas_embed::EmbeddingCache;
use atlas_eval::EvalOptions;
use atlas_index::VectorSpace;
use atlas_model::{write_calibration, write_pipeline_meta, write_thresholds, PipelineMeta, SavedEncoder};
use atlas_track::{LocalTracker, MlflowSettings, MlflowTracker, Run, RunSpec, Tracker};
use serde_json::json;

use crate::calibrate::{calibration_numbers, fit_calibration};
use crate::dataset::{labels_from, prepare_dataset};
use crate::evaluate::{evaluate_probs_with, summary_numbers};
use crate::multilabel::{category_ids, fit_thresholds};
use crate::{in_run, PipelineError};

/// Multi-label threshold of the validation metrics logged at the end of training.
pub(crate) const VALIDATION_MULTILABEL_THRESHOLD: f32 = 0.2;

/// Texts embedded (and cached) per chunk while training an embedding head.
const EMBED_CHUNK: usize = 1024;

/// Result of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Final metrics logged by the run (validation metrics, timings).
    pub metrics: BTreeMap<String, f64>,
}

/// Trains the configured experiment and records everything in a run folder (marked failed when training
/// fails, so a half-written run is never mistaken for a result).
pub fn train(resolved: &ResolvedConfig) -> Result<TrainOutcome, PipelineError> {
    let cfg = &resolved.config;
    if cfg.experiment.kind == ExperimentKind::Contrastive {
        return crate::contrastive::train_contrastive(resolved);
    }
    let spec = RunSpec {
        kind: "train".into(),
        name: cfg.run.name.clone().or_else(|| Some(cfg.experiment.name.clone())),
        root: cfg.run.root.clone(),
        dir: cfg.run.dir.clone(),
    };
    let run = tracker_for(&cfg.tracker)?.start_run(spec)?;
    tracing::info!("run {} in {}", run.id(), run.dir().display());
    let (metrics, run_dir) = in_run(run, |run| train_in_run(resolved, run))?;
    Ok(TrainOutcome { run_dir, metrics })
}

/// The tracker the `tracker` group selects: local run folders, or local run folders uploaded to MLflow.
pub fn tracker_for(cfg: &atlas_config::TrackerConfig) -> Result<Box<dyn Tracker>, PipelineError> {
    let invalid = |reason: String| atlas_track::TrackError::Invalid { what: "tracker config", reason };
    if cfg.alias.is_some() && cfg.register_as.is_none() {
        return Err(invalid(
            "tracker.alias needs tracker.register_as (the registered model to alias)".into(),
        )
        .into());
    }
    match cfg.backend {
        TrackerKind::Local => {
            if cfg.register_as.is_some() {
                return Err(
                    invalid("tracker.register_as needs the MLflow tracker (tracker=mlflow)".into()).into()
                );
            }
            Ok(Box::new(LocalTracker))
        }
        TrackerKind::Mlflow => {
            let uri = cfg.uri.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
                invalid(
                    "tracker.uri is not set (the MLflow server, e.g. tracker.uri=http://127.0.0.1:5000)"
                        .into(),
                )
            })?;
            if !(cfg.timeout_s > 0.0 && cfg.timeout_s.is_finite()) {
                return Err(invalid(format!(
                    "tracker.timeout_s must be a positive number, not {}",
                    cfg.timeout_s
                ))
                .into());
            }
            Ok(Box::new(MlflowTracker::new(MlflowSettings {
                uri,
                experiment: cfg.experiment.clone(),
                register_as: cfg.register_as.clone(),
                alias: cfg.alias.clone(),
                timeout: std::time::Duration::from_secs_f64(cfg.timeout_s),
            })?))
        }
    }
}

/// The training texts and labels of a dataset, as the trainers take them.
pub(crate) struct Prepared {
    pub(crate) valid: Vec<Paper>,
    /// Id and title of each training paper (the row of `train_texts` at the same index), for the neighbour
    /// store that explains embedding models.
    train_papers: Vec<(String, String)>,
    train_texts: Vec<String>,
    train_y: Vec<u32>,
    /// Validation papers whose primary category occurs in training: the early-stopping set.
    valid_texts: Vec<String>,
    valid_y: Vec<u32>,
    /// Every validation paper (also those of classes unseen in training) for the validation metrics.
    all_valid: Vec<String>,
    /// Class ids of all categories (primary and cross-lists) of each training paper, for multi-label models.
    train_sets: Vec<Vec<u32>>,
    /// The same for every validation paper (`all_valid`).
    valid_sets: Vec<Vec<u32>>,
}

fn train_in_run(
    resolved: &ResolvedConfig,
    run: &mut dyn Run,
) -> Result<BTreeMap<String, f64>, PipelineError> {
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
    if train.is_empty() {
        return Err(PipelineError::input(ds.dir(), "the training split is empty"));
    }
    tracing::info!("{} training and {} validation papers", train.len(), valid.len());

    let labels = labels_from(&train, &ds);
    let index: HashMap<&str, u32> =
        labels.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    let template = &cfg.data.template;
    // Validation papers whose primary category never occurs in training cannot be predicted; they are left
    // out of early stopping (and counted as errors by `evaluate`).
    let (valid_texts, valid_y) =
        valid.iter().filter_map(|p| index.get(p.primary()).map(|&y| (p.text(template), y))).unzip();
    let data = Prepared {
        train_papers: train.iter().map(|p| (p.id.clone(), p.title.clone())).collect(),
        train_texts: train.iter().map(|p| p.text(template)).collect(),
        train_y: train.iter().map(|p| index[p.primary()]).collect(),
        valid_texts,
        valid_y,
        all_valid: valid.iter().map(|p| p.text(template)).collect(),
        train_sets: category_ids(&labels, &train),
        valid_sets: category_ids(&labels, &valid),
        valid,
    };

    let model_dir = run.artifact_dir().join("model");
    // `finetune_classifier` tunes its encoder in a run folder of its own inside this one.
    let encoder_run_dir = run.dir().join(crate::contrastive::ENCODER_RUN);
    let pipeline_meta = PipelineMeta {
        template: template.clone(),
        experiment: cfg.experiment.name.clone(),
        run_id: run.id().to_string(),
    };
    let mut metrics: BTreeMap<String, f64> = BTreeMap::new();
    let mut log_err = None;
    let mut observer = |e: &EpochStats| {
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
    let trainer = Trainer { resolved, labels: &labels, data: &data, model_dir: &model_dir };
    let validation_probs = match cfg.experiment.kind {
        ExperimentKind::TfidfLinear => trainer.tfidf(false, &mut metrics, &mut observer)?,
        ExperimentKind::TfidfMultilabel => trainer.tfidf(true, &mut metrics, &mut observer)?,
        ExperimentKind::EmbeddingLr => {
            trainer.embedding_head(EmbeddingHead::Lr, &mut metrics, &mut observer)?
        }
        ExperimentKind::EmbeddingMlp => {
            trainer.embedding_head(EmbeddingHead::Mlp, &mut metrics, &mut observer)?
        }
        ExperimentKind::Ensemble => {
            crate::ensemble::train_ensemble(&trainer, &pipeline_meta, &mut metrics, &mut observer)?
        }
        ExperimentKind::FinetuneClassifier => crate::contrastive::finetune_classifier(
            &trainer,
            ds.dir(),
            &encoder_run_dir,
            &mut metrics,
            &mut observer,
        )?,
        ExperimentKind::Contrastive => {
            return Err(PipelineError::Setting {
                key: "experiment.kind",
                message: "contrastive fine-tunes the encoder and trains no classifier".into(),
            })
        }
    };
    if let Some(err) = log_err {
        return Err(err.into());
    }
    for (k, v) in &metrics {
        if let Some(phase) = k.strip_suffix("_s") {
            run.log_timing(phase, *v)?;
        }
    }
    let mut calibration = None;
    let mut thresholds = None;
    if let Some(probs) = validation_probs {
        let mut opts =
            EvalOptions { multilabel_threshold: VALIDATION_MULTILABEL_THRESHOLD, ..Default::default() };
        if cfg.experiment.kind == ExperimentKind::TfidfMultilabel {
            // Independent sigmoids have no softmax to temperature-scale and no single label to build
            // conformal sets around; what they need is a threshold per class, chosen on validation.
            let t = fit_thresholds(&labels, &probs, &data.valid)?;
            metrics.insert("thresholds_n_default".into(), t.n_default as f64);
            opts.class_thresholds = Some(t.thresholds.clone());
            thresholds = Some(t);
        } else {
            calibration = fit_calibration(&labels, &probs, &data.valid, None)?;
        }
        // Validation metrics of the model as trained (before temperature scaling, which changes log loss but
        // never the ranking; a multi-label model's F1 uses the thresholds fitted on these same papers).
        let rep = evaluate_probs_with(&labels, &probs, &data.valid, &opts)?;
        for (k, v) in summary_numbers(&rep) {
            metrics.insert(format!("validation_{k}"), v);
        }
    }
    write_pipeline_meta(&model_dir, &pipeline_meta)?;
    if let Some(c) = &calibration {
        write_calibration(&model_dir, c)?;
        metrics.extend(calibration_numbers(c));
    }
    if let Some(t) = &thresholds {
        write_thresholds(&model_dir, t)?;
    }
    // The drift monitor's reference: the validation papers (held out, so confidences are not the inflated
    // ones of training papers), measured by the model as saved (calibrated, as it serves).
    if !data.valid.is_empty() {
        let t = Instant::now();
        let model = atlas_model::LoadedModel::open(&model_dir, &atlas_model::LoadOptions::default())?;
        let source = format!("{} (validation split)", ds.dir().display());
        crate::save_reference_profile(&model, &data.valid, &source, &cfg.monitor)?;
        metrics.insert("drift_profile_s".into(), t.elapsed().as_secs_f64());
    }
    run.log_metrics(None, &metrics)?;
    Ok(metrics)
}

fn early_stopping_set<'a, T>(rows: &'a [T], y: &'a [u32]) -> Option<(&'a [T], &'a [u32])> {
    (!y.is_empty()).then_some((rows, y))
}

/// What every fit records, whatever the model family.
pub(crate) fn record_fit(metrics: &mut BTreeMap<String, f64>, report: &TrainReport) {
    metrics.insert("fit_s".into(), report.fit_s);
    metrics.insert("train_s".into(), report.vectorize_s + report.fit_s);
    metrics.insert("n_features".into(), report.n_features as f64);
    metrics.insert("epochs_run".into(), report.epochs_run as f64);
    metrics.insert("best_epoch".into(), report.best_epoch as f64);
}

/// One training step's inputs: the config, the label set, the texts and where the model goes.
#[derive(Clone, Copy)]
pub(crate) struct Trainer<'a> {
    pub(crate) resolved: &'a ResolvedConfig,
    pub(crate) labels: &'a Labels,
    pub(crate) data: &'a Prepared,
    pub(crate) model_dir: &'a Path,
}

impl Trainer<'_> {
    /// TF-IDF + linear model (`multilabel`: one-vs-rest over all of a paper's categories, early-stopping on
    /// every validation paper); returns the validation probabilities.
    pub(crate) fn tfidf(
        &self,
        multilabel: bool,
        metrics: &mut BTreeMap<String, f64>,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<Option<Probabilities>, PipelineError> {
        let (exp, data) = (&self.resolved.config.experiment, self.data);
        let train_refs: Vec<&str> = data.train_texts.iter().map(String::as_str).collect();
        let valid_refs: Vec<&str> = data.valid_texts.iter().map(String::as_str).collect();
        let refs: Vec<&str> = data.all_valid.iter().map(String::as_str).collect();
        let (model, report) = if multilabel {
            TfidfLinearModel::train_one_vs_rest(
                &train_refs,
                &data.train_sets,
                (!refs.is_empty()).then_some((&refs[..], &data.valid_sets[..])),
                self.labels.clone(),
                &exp.tfidf,
                &exp.linear,
                observer,
            )?
        } else {
            TfidfLinearModel::train(
                &train_refs,
                &data.train_y,
                early_stopping_set(&valid_refs, &data.valid_y),
                self.labels.clone(),
                &exp.tfidf,
                &exp.linear,
                observer,
            )?
        };
        metrics.insert("vectorize_s".into(), report.vectorize_s);
        record_fit(metrics, &report);
        model.save(self.model_dir)?;
        Ok((!data.valid.is_empty()).then(|| model.predict_proba(&refs)))
    }

    /// Frozen sentence embeddings (cached) + a dense head; returns the validation probabilities.
    pub(crate) fn embedding_head(
        &self,
        kind: EmbeddingHead,
        metrics: &mut BTreeMap<String, f64>,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<Option<Probabilities>, PipelineError> {
        let (exp, data) = (&self.resolved.config.experiment, self.data);
        let enc_cfg = &exp.encoder;
        let encoder = enc_cfg.spec.load(&self.resolved.config.data.template, 1)?;
        let mut cache = EmbeddingCache::for_encoder(&encoder, enc_cfg.cache_dir.as_deref())?;
        tracing::info!(
            "encoder {} (dim {}), cache {}",
            encoder.backend_name(),
            encoder.dim(),
            cache.path().display()
        );
        let t = Instant::now();
        let pb = atlas_embed::job::progress_bar(
            (data.train_texts.len() + data.all_valid.len()) as u64,
            "embedding",
        );
        let mut embed = |texts: &[String]| {
            atlas_embed::embed_texts_cached(&encoder, Some(&mut cache), texts, EMBED_CHUNK, Some(&pb))
        };
        let (xtr, ctr) = embed(&data.train_texts)?;
        let (xva_all, cva) = embed(&data.all_valid)?;
        pb.finish_and_clear();
        metrics.insert("embed_s".into(), t.elapsed().as_secs_f64());
        metrics.insert("embedded_texts".into(), (ctr.embedded + cva.embedded) as f64);
        metrics.insert("cached_texts".into(), (ctr.from_cache + cva.from_cache) as f64);
        let dim = encoder.dim();
        // Rows of the validation papers whose label the model knows (the early-stopping set).
        let known: HashSet<&str> = self.labels.codes.iter().map(String::as_str).collect();
        let mut xva = Vec::with_capacity(data.valid_y.len() * dim);
        for (i, p) in data.valid.iter().enumerate() {
            if known.contains(p.primary()) {
                xva.extend_from_slice(&xva_all[i * dim..(i + 1) * dim]);
            }
        }
        let valid = early_stopping_set(&xva, &data.valid_y);
        let labels = self.labels.clone();
        let (head, report) = match kind {
            EmbeddingHead::Lr => {
                DenseHead::train_lr(&xtr, dim, &data.train_y, valid, labels, &exp.lr, observer)?
            }
            EmbeddingHead::Mlp => {
                DenseHead::train_mlp(&xtr, dim, &data.train_y, valid, labels, &exp.mlp, observer)?
            }
            EmbeddingHead::Knn => DenseHead::build_knn(&xtr, dim, &data.train_y, labels, &exp.knn)?,
        };
        record_fit(metrics, &report);
        let saved = SavedEncoder::new(&enc_cfg.spec, &encoder)?.relative_to(self.model_dir);
        let saved_json = serde_json::to_value(&saved)
            .map_err(|source| PipelineError::Json { what: "the encoder record", source })?;
        head.save(self.model_dir, &saved_json)?;
        let t = Instant::now();
        let store = self.neighbour_store(&saved, &xtr)?;
        store.save(self.model_dir)?;
        metrics.insert("neighbours_s".into(), t.elapsed().as_secs_f64());
        metrics.insert("neighbours_papers".into(), store.len() as f64);
        Ok((!data.valid.is_empty()).then(|| head.predict_proba_dense(&xva_all)))
    }

    /// The training papers (id, title, label) with their vectors `x` (one row per training text), stored
    /// beside an embedding head to explain its answers by the nearest labelled papers.
    fn neighbour_store(&self, saved: &SavedEncoder, x: &[f32]) -> Result<NeighbourStore, PipelineError> {
        let data = self.data;
        let papers: Vec<TrainingPaper<'_>> = data
            .train_papers
            .iter()
            .zip(&data.train_y)
            .map(|((id, title), &y)| TrainingPaper { id, title, category: &self.labels.codes[y as usize] })
            .collect();
        let space = VectorSpace {
            embedding_id: saved.embedding_id.clone(),
            model_hash: saved.model_hash.clone(),
            model_dir: saved.model_dir.clone(),
            template: saved.template.to_string(),
            dim: saved.dim,
        };
        Ok(NeighbourStore::build(&space, &papers, x)?)
    }
}

/// The head [`Trainer::embedding_head`] puts on the frozen sentence embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmbeddingHead {
    /// Multinomial logistic regression (the `lr` section).
    Lr,
    /// One-hidden-layer perceptron (the `mlp` section).
    Mlp,
    /// Votes of the nearest training papers (the `knn` section; an ensemble part).
    Knn,
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlas_config::TrackerConfig;

    fn refused(cfg: TrackerConfig) -> String {
        match tracker_for(&cfg) {
            Ok(_) => panic!("{cfg:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn inconsistent_tracker_settings_are_refused_before_training() {
        let mlflow = TrackerConfig { backend: TrackerKind::Mlflow, ..TrackerConfig::default() };
        assert!(refused(mlflow.clone()).contains("tracker.uri"));
        let uri = Some("http://127.0.0.1:5000".to_string());
        let aliased = TrackerConfig { uri: uri.clone(), alias: Some("champion".into()), ..mlflow.clone() };
        assert!(refused(aliased).contains("tracker.register_as"));
        let local = TrackerConfig { register_as: Some("m".into()), ..TrackerConfig::default() };
        assert!(refused(local).contains("tracker=mlflow"));
        let zero = TrackerConfig { uri: uri.clone(), timeout_s: 0.0, ..mlflow.clone() };
        assert!(refused(zero).contains("timeout_s"));
        // A well-formed MLflow setting is accepted without contacting the server.
        assert!(tracker_for(&TrackerConfig { uri, ..mlflow }).is_ok());
        assert!(tracker_for(&TrackerConfig::default()).is_ok());
    }
}
