//! `evaluate`: a trained model × papers → metrics, reports and plots, recorded in an `evaluate` run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_artifact::IoContext;
use atlas_classify::{Labels, Probabilities};
use atlas_corpus::{Paper, Split};
use atlas_eval::{EvalInput, EvalOptions, EvalReport};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_track::{LocalTracker, RunSpec, Tracker};
use serde_json::json;

use crate::{in_run, PipelineError};

/// What to evaluate, and where to record it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateRequest {
    /// A training run folder or the model folder inside it.
    pub model: PathBuf,
    /// Papers: any ingest format or an ingested dataset folder.
    pub input: PathBuf,
    /// Only these splits of the input (empty: every record).
    pub splits: Vec<Split>,
    /// Run folder to write (default: a new folder under `runs_root`).
    pub run_dir: Option<PathBuf>,
    /// Where new run folders go.
    pub runs_root: PathBuf,
    /// Probability threshold of the multi-label metrics (top-1 is always predicted).
    pub multilabel_threshold: f32,
}

/// What [`evaluate`] produced.
#[derive(Debug)]
pub struct EvaluateOutcome {
    /// The evaluation run folder.
    pub run_dir: PathBuf,
    /// The report.
    pub report: EvalReport,
}

/// Evaluates a trained model on a file or dataset and records an `evaluate` run with `report.json`,
/// `per_class.csv`, `confusion.csv` and `confusion.png`.
pub fn evaluate(req: &EvaluateRequest) -> Result<EvaluateOutcome, PipelineError> {
    let model = LoadedModel::open(&req.model, &LoadOptions::default())?;
    let spec = RunSpec {
        kind: "evaluate".into(),
        name: None,
        root: req.runs_root.clone(),
        dir: req.run_dir.clone(),
    };
    let run = LocalTracker.start_run(spec)?;
    let (report, run_dir) = in_run(run, |run| {
        run.log_params(&json!({
            "model": model.dir,
            "model_run": model.pipeline.run_id,
            "experiment": model.pipeline.experiment,
            "input": req.input,
            "split": req.splits.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "multilabel_threshold": req.multilabel_threshold,
        }))?;
        let t = Instant::now();
        let papers = read_splits(&req.input, &req.splits)?;
        run.log_timing("data", t.elapsed().as_secs_f64())?;
        if papers.is_empty() {
            return Err(PipelineError::input(&req.input, "no papers to evaluate"));
        }
        run.set_data_fingerprint(&atlas_corpus::fingerprint_files(std::slice::from_ref(&req.input))?);
        let t = Instant::now();
        let report = evaluate_papers(&model, &papers, req.multilabel_threshold)?;
        run.log_timing("predict", t.elapsed().as_secs_f64())?;
        write_reports(&run.artifact_dir(), &report)?;
        run.log_metrics(None, &summary_numbers(&report))?;
        Ok(report)
    })?;
    Ok(EvaluateOutcome { run_dir, report })
}

/// The papers of `splits` (all records when empty), warning about skipped input records.
pub fn read_splits(input: &Path, splits: &[Split]) -> Result<Vec<Paper>, PipelineError> {
    let mut papers = Vec::new();
    let wanted: Vec<Option<Split>> =
        if splits.is_empty() { vec![None] } else { splits.iter().copied().map(Some).collect() };
    for split in wanted {
        let (part, report) = atlas_corpus::load_papers(input, split)?;
        if report.skipped_total() > 0 {
            tracing::warn!("{} input records of {} were skipped", report.skipped_total(), input.display());
        }
        papers.extend(part);
    }
    Ok(papers)
}

fn write_reports(art: &Path, report: &EvalReport) -> Result<(), PipelineError> {
    std::fs::create_dir_all(art).io_context("create", art)?;
    report.write_per_class_csv(&art.join("per_class.csv"))?;
    report.write_confusion_csv(&art.join("confusion.csv"))?;
    report.write_confusion_png(&art.join("confusion.png"))?;
    let json = serde_json::to_vec_pretty(report)
        .map_err(|source| PipelineError::Json { what: "the report", source })?;
    atlas_artifact::write_atomic(&art.join("report.json"), &json)?;
    Ok(())
}

/// Predicts and scores `papers` with `model`.
pub fn evaluate_papers(
    model: &LoadedModel,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport, PipelineError> {
    let probs = model.predict_papers(papers.iter())?;
    evaluate_probs(model.predictor.labels(), &probs, papers, multilabel_threshold)
}

/// Scores predicted probabilities (one row per paper) against the papers' categories.
pub fn evaluate_probs(
    labels: &Labels,
    probs: &Probabilities,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport, PipelineError> {
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
