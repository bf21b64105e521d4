//! `evaluate`: a trained model × papers → metrics, calibration (ECE and log loss before/after temperature
//! scaling, a reliability diagram), conformal coverage, reports and plots, recorded in an `evaluate` run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_artifact::IoContext;
use atlas_calibrate::{ReliabilityBin, ECE_BINS};
use atlas_classify::{Labels, Probabilities};
use atlas_corpus::{Paper, Split};
use atlas_eval::{EvalInput, EvalOptions, EvalReport};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_track::{LocalTracker, RunSpec, Tracker};
use serde::Serialize;
use serde_json::json;

use crate::calibrate::{label_ids, labelled_rows};
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
    /// Target coverage of conformal category sets (e.g. 0.9): measure their empirical coverage and size
    /// (the model needs a conformal calibration).
    pub coverage: Option<f64>,
}

/// Calibration of the evaluated probabilities, before and after the model's temperature, over the papers
/// whose primary category the model knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationReport {
    /// The model's temperature (1 for an uncalibrated model).
    pub temperature: f64,
    /// Papers measured.
    pub n: usize,
    /// ECE (15 bins) of the model's own probabilities.
    pub ece_before: f64,
    /// ECE after temperature scaling.
    pub ece_after: f64,
    /// Log loss before.
    pub log_loss_before: f64,
    /// Log loss after.
    pub log_loss_after: f64,
    /// Reliability-diagram bins before.
    pub reliability_before: Vec<ReliabilityBin>,
    /// Reliability-diagram bins after.
    pub reliability_after: Vec<ReliabilityBin>,
}

/// Coverage of one category's papers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassCoverage {
    /// Category code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Papers of this primary category.
    pub support: usize,
    /// Share of them whose set holds their category.
    pub coverage: f64,
    /// Their mean set size.
    pub mean_set_size: f64,
}

/// Empirical behaviour of conformal category sets on the evaluated papers whose primary category the model
/// knows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    /// The coverage asked for.
    pub target: f64,
    /// Score (`raps` or `aps`).
    pub method: String,
    /// Calibration papers the threshold came from.
    pub n_calibration: usize,
    /// Papers measured.
    pub n: usize,
    /// Share of papers whose set holds their primary category.
    pub coverage: f64,
    /// Mean number of categories per set.
    pub mean_set_size: f64,
    /// The smallest `k` whose plain top-k sets reach at least `coverage` on the same papers.
    pub topk_k: usize,
    /// Their coverage.
    pub topk_coverage: f64,
    /// Coverage per primary category (class-conditional coverage is not guaranteed).
    pub per_class: Vec<ClassCoverage>,
}

/// What [`evaluate`] produced.
#[derive(Debug)]
pub struct EvaluateOutcome {
    /// The evaluation run folder.
    pub run_dir: PathBuf,
    /// The report (of the calibrated probabilities; temperature scaling changes no ranking).
    pub report: EvalReport,
    /// Calibration before and after temperature scaling (`None` when no paper has a known category).
    pub calibration: Option<CalibrationReport>,
    /// Conformal sets, when a coverage was asked for.
    pub coverage: Option<CoverageReport>,
}

impl EvaluateOutcome {
    /// Every headline number: the report's summary plus `temperature`, `ece_before`, `ece_after`,
    /// `log_loss_before`, `log_loss_after` and, with a coverage, `coverage_target`, `coverage`,
    /// `mean_set_size`, `topk_k_same_coverage`, `topk_coverage`.
    pub fn numbers(&self) -> BTreeMap<String, f64> {
        let mut m = summary_numbers(&self.report);
        m.extend(extra_numbers(self.calibration.as_ref(), self.coverage.as_ref()));
        m
    }

    /// [`EvalReport::summary`] with the numbers of [`EvaluateOutcome::numbers`] added.
    pub fn summary(&self) -> serde_json::Value {
        let mut summary = self.report.summary();
        if let Some(o) = summary.as_object_mut() {
            for (k, v) in extra_numbers(self.calibration.as_ref(), self.coverage.as_ref()) {
                o.insert(k, json!(v));
            }
        }
        summary
    }
}

fn extra_numbers(cal: Option<&CalibrationReport>, cov: Option<&CoverageReport>) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    if let Some(c) = cal {
        m.insert("temperature".into(), c.temperature);
        m.insert("ece_before".into(), c.ece_before);
        m.insert("ece_after".into(), c.ece_after);
        m.insert("log_loss_before".into(), c.log_loss_before);
        m.insert("log_loss_after".into(), c.log_loss_after);
    }
    if let Some(c) = cov {
        m.insert("coverage_target".into(), c.target);
        m.insert("coverage".into(), c.coverage);
        m.insert("mean_set_size".into(), c.mean_set_size);
        m.insert("topk_k_same_coverage".into(), c.topk_k as f64);
        m.insert("topk_coverage".into(), c.topk_coverage);
    }
    m
}

/// Evaluates a trained model on a file or dataset and records an `evaluate` run with `report.json`,
/// `per_class.csv`, `confusion.csv`, `confusion.png`, `calibration.json`, `reliability.png` and, with a
/// coverage, `coverage.json` and `coverage_per_class.csv`.
pub fn evaluate(req: &EvaluateRequest) -> Result<EvaluateOutcome, PipelineError> {
    let model = LoadedModel::open(&req.model, &LoadOptions::default())?;
    if let Some(c) = req.coverage {
        // Refused before any work: a bad coverage or an uncalibrated model.
        check_coverage(&model, c)?;
    }
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
            "coverage": req.coverage,
        }))?;
        let t = Instant::now();
        let papers = read_splits(&req.input, &req.splits)?;
        run.log_timing("data", t.elapsed().as_secs_f64())?;
        if papers.is_empty() {
            return Err(PipelineError::input(&req.input, "no papers to evaluate"));
        }
        run.set_data_fingerprint(&atlas_corpus::fingerprint_files(std::slice::from_ref(&req.input))?);
        let t = Instant::now();
        let raw = model.predict_papers_uncalibrated(papers.iter())?;
        run.log_timing("predict", t.elapsed().as_secs_f64())?;
        let labels = model.predictor.labels();
        let (probs, calibration) = calibrate_probs(labels, raw, model.temperature(), &papers)?;
        let report =
            evaluate_probs_with(labels, &probs, &papers, &eval_options(&model, req.multilabel_threshold))?;
        let coverage = match req.coverage {
            Some(target) => Some(coverage_report(&model, &probs, &papers, target)?),
            None => None,
        };
        let art = run.artifact_dir();
        write_reports(&art, &report)?;
        write_calibration_reports(&art, calibration.as_ref(), coverage.as_ref())?;
        let mut numbers = summary_numbers(&report);
        numbers.extend(extra_numbers(calibration.as_ref(), coverage.as_ref()));
        run.log_metrics(None, &numbers)?;
        Ok((report, calibration, coverage))
    })?;
    let (report, calibration, coverage) = report;
    Ok(EvaluateOutcome { run_dir, report, calibration, coverage })
}

/// Fails unless `model` can return category sets at `coverage`.
fn check_coverage(model: &LoadedModel, coverage: f64) -> Result<(), PipelineError> {
    let empty = Probabilities { n_classes: model.predictor.labels().len(), data: Vec::new() };
    model.category_sets(&empty, coverage)?;
    Ok(())
}

/// Applies `temperature` to the model's own probabilities `raw` and measures calibration before and after
/// on the papers with a category the model knows.
pub fn calibrate_probs(
    labels: &Labels,
    raw: Probabilities,
    temperature: f64,
    papers: &[Paper],
) -> Result<(Probabilities, Option<CalibrationReport>), PipelineError> {
    let mut probs = raw.clone();
    atlas_calibrate::apply_temperature(&mut probs.data, probs.n_classes, temperature);
    let y = label_ids(labels, papers);
    let (before, yl) = labelled_rows(&raw, &y, |_| true);
    if yl.is_empty() {
        return Ok((probs, None));
    }
    let (after, _) = labelled_rows(&probs, &y, |_| true);
    let k = probs.n_classes;
    let report = CalibrationReport {
        temperature,
        n: yl.len(),
        ece_before: atlas_calibrate::ece(&before, k, &yl, ECE_BINS)?,
        ece_after: atlas_calibrate::ece(&after, k, &yl, ECE_BINS)?,
        log_loss_before: atlas_calibrate::nll(&before, k, &yl)?,
        log_loss_after: atlas_calibrate::nll(&after, k, &yl)?,
        reliability_before: atlas_calibrate::reliability(&before, k, &yl, ECE_BINS)?,
        reliability_after: atlas_calibrate::reliability(&after, k, &yl, ECE_BINS)?,
    };
    Ok((probs, Some(report)))
}

/// Coverage and size of the model's conformal sets at `target` on `papers` (calibrated `probs`, one row
/// each), overall and per category, beside plain top-k sets.
pub fn coverage_report(
    model: &LoadedModel,
    probs: &Probabilities,
    papers: &[Paper],
    target: f64,
) -> Result<CoverageReport, PipelineError> {
    let labels = model.predictor.labels();
    let sets = model.category_sets(probs, target)?;
    let conformal = model.calibration.as_ref().and_then(|c| c.conformal.as_ref());
    let y = label_ids(labels, papers);
    let k = labels.len();
    // Per class: (support, covered, total set size); plus how many papers have their label at each rank.
    let mut per = vec![(0usize, 0usize, 0usize); k];
    let mut at_rank = vec![0usize; k + 1];
    for (i, (set, label)) in sets.iter().zip(&y).enumerate() {
        let Some(l) = label.map(|l| l as usize) else { continue };
        let e = &mut per[l];
        e.0 += 1;
        e.1 += usize::from(set.contains(&l));
        e.2 += set.len();
        let rank = probs.row(i).iter().filter(|&&p| p > probs.row(i)[l]).count();
        at_rank[rank.min(k)] += 1;
    }
    let n: usize = per.iter().map(|e| e.0).sum();
    if n == 0 {
        return Err(PipelineError::input(&model.dir, "no evaluated paper has a category the model knows"));
    }
    let covered: usize = per.iter().map(|e| e.1).sum();
    let coverage = covered as f64 / n as f64;
    // Smallest top-k at least as good (ties in probability count in the label's favour).
    let (mut topk_k, mut hits) = (k, 0usize);
    for (r, count) in at_rank.iter().enumerate().take(k) {
        hits += count;
        if hits as f64 / n as f64 >= coverage {
            topk_k = r + 1;
            break;
        }
    }
    let topk_coverage = at_rank[..topk_k.min(k)].iter().sum::<usize>() as f64 / n as f64;
    Ok(CoverageReport {
        target,
        method: conformal.map_or("none", |c| c.score.name()).to_string(),
        n_calibration: conformal.map_or(0, |c| c.n()),
        n,
        coverage,
        mean_set_size: per.iter().map(|e| e.2).sum::<usize>() as f64 / n as f64,
        topk_k,
        topk_coverage,
        per_class: per
            .iter()
            .enumerate()
            .filter(|(_, e)| e.0 > 0)
            .map(|(c, e)| ClassCoverage {
                code: labels.codes[c].clone(),
                name: labels.names[c].clone(),
                support: e.0,
                coverage: e.1 as f64 / e.0 as f64,
                mean_set_size: e.2 as f64 / e.0 as f64,
            })
            .collect(),
    })
}

fn write_calibration_reports(
    art: &Path,
    cal: Option<&CalibrationReport>,
    cov: Option<&CoverageReport>,
) -> Result<(), PipelineError> {
    let json_err = |source| PipelineError::Json { what: "the calibration report", source };
    if let Some(c) = cal {
        atlas_artifact::write_atomic(
            &art.join("calibration.json"),
            &serde_json::to_vec_pretty(c).map_err(json_err)?,
        )?;
        let title = format!(
            "Reliability, n = {}: ECE {:.4} -> {:.4} at T = {:.3}",
            c.n, c.ece_before, c.ece_after, c.temperature
        );
        atlas_eval::write_reliability_png(
            &art.join("reliability.png"),
            &[("before temperature scaling", &c.reliability_before), ("after", &c.reliability_after)],
            &title,
        )?;
    }
    if let Some(c) = cov {
        atlas_artifact::write_atomic(
            &art.join("coverage.json"),
            &serde_json::to_vec_pretty(c).map_err(json_err)?,
        )?;
        atlas_artifact::write_atomic_with(&art.join("coverage_per_class.csv"), |w| {
            writeln!(w, "code,name,support,coverage,mean_set_size")?;
            for r in &c.per_class {
                let name = r.name.replace('"', "\"\"");
                writeln!(w, "{},\"{name}\",{},{:.6},{:.4}", r.code, r.support, r.coverage, r.mean_set_size)?;
            }
            Ok(())
        })?;
    }
    Ok(())
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

/// Predicts (calibrated probabilities) and scores `papers` with `model` (a multi-label model's predicted
/// sets use its per-class thresholds, not `multilabel_threshold`).
pub fn evaluate_papers(
    model: &LoadedModel,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport, PipelineError> {
    let probs = model.predict_papers(papers.iter())?;
    evaluate_probs_with(model.predictor.labels(), &probs, papers, &eval_options(model, multilabel_threshold))
}

/// The metric options for `model`: its per-class thresholds when it has them (a multi-label model), else
/// the global `multilabel_threshold`.
fn eval_options(model: &LoadedModel, multilabel_threshold: f32) -> EvalOptions {
    EvalOptions {
        multilabel_threshold,
        class_thresholds: model.thresholds.as_ref().map(|t| t.thresholds.clone()),
        ..EvalOptions::default()
    }
}

/// Scores predicted probabilities (one row per paper) against the papers' categories.
pub fn evaluate_probs(
    labels: &Labels,
    probs: &Probabilities,
    papers: &[Paper],
    multilabel_threshold: f32,
) -> Result<EvalReport, PipelineError> {
    let opts = EvalOptions { multilabel_threshold, ..EvalOptions::default() };
    evaluate_probs_with(labels, probs, papers, &opts)
}

/// [`evaluate_probs`] with every option of the metrics (e.g. a multi-label model's per-class thresholds).
pub fn evaluate_probs_with(
    labels: &Labels,
    probs: &Probabilities,
    papers: &[Paper],
    opts: &EvalOptions,
) -> Result<EvalReport, PipelineError> {
    let y_true = label_ids(labels, papers);
    let true_sets = crate::multilabel::category_ids(labels, papers);
    let input = EvalInput {
        probs: &probs.data,
        n_classes: probs.n_classes,
        y_true: &y_true,
        true_sets: &true_sets,
        codes: &labels.codes,
        names: &labels.names,
    };
    Ok(atlas_eval::evaluate(&input, opts)?)
}

/// The numeric entries of a report's summary.
pub fn summary_numbers(rep: &EvalReport) -> BTreeMap<String, f64> {
    let summary = rep.summary();
    summary
        .as_object()
        .map(|o| o.iter().filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x))).collect())
        .unwrap_or_default()
}
