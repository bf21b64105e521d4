//! Calibration of a trained model: temperature on one half of the validation split, conformal scores on the
//! other (halves by id hash, see [`atlas_calibrate::calibration_half`]); the test split is never read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use atlas_calibrate::{calibration_half, Calibration, CalibrationHalf, ScoreKind};
use atlas_classify::{Labels, Probabilities};
use atlas_corpus::{Paper, Split};
use atlas_model::{write_calibration, LoadOptions, LoadedModel};

use crate::PipelineError;

/// The class id of every paper's primary category, `None` where the model does not know it.
pub(crate) fn label_ids(labels: &Labels, papers: &[Paper]) -> Vec<Option<u32>> {
    let index: HashMap<&str, u32> =
        labels.codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
    papers.iter().map(|p| index.get(p.primary()).copied()).collect()
}

/// The rows of `probs` (and their labels) of the papers whose primary category the model knows, for which
/// `keep` holds.
pub(crate) fn labelled_rows(
    probs: &Probabilities,
    y: &[Option<u32>],
    keep: impl Fn(usize) -> bool,
) -> (Vec<f32>, Vec<u32>) {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (i, label) in y.iter().enumerate() {
        if let (Some(l), true) = (label, keep(i)) {
            rows.extend_from_slice(probs.row(i));
            labels.push(*l);
        }
    }
    (rows, labels)
}

/// Fits a calibration on validation `papers` and the model's uncalibrated `probs` of them (one row each):
/// temperature (and RAPS's `lambda`, `k_reg`) on the temperature half, conformal scores on the other half.
/// Papers whose primary category the model does not know are left out. `score`: `None` tunes RAPS on the
/// temperature half (the default), `Some` uses that score (e.g. [`ScoreKind::Aps`]). `None` when the
/// temperature half holds no labelled paper (e.g. an empty validation split): the model then stays
/// uncalibrated.
pub fn fit_calibration(
    labels: &Labels,
    probs: &Probabilities,
    papers: &[Paper],
    score: Option<ScoreKind>,
) -> Result<Option<Calibration>, PipelineError> {
    let y = label_ids(labels, papers);
    let half = |i: usize| calibration_half(&papers[i].id);
    let (pt, yt) = labelled_rows(probs, &y, |i| half(i) == CalibrationHalf::Temperature);
    let (pc, yc) = labelled_rows(probs, &y, |i| half(i) == CalibrationHalf::Conformal);
    if yt.is_empty() {
        tracing::warn!(
            "no labelled validation paper in the temperature half: the model is left uncalibrated"
        );
        return Ok(None);
    }
    Ok(Some(Calibration::fit(&pt, &yt, &pc, &yc, probs.n_classes, score)?))
}

/// The numbers a calibration records in a run's metrics (`calibration_*`).
pub fn calibration_numbers(c: &Calibration) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::from([
        ("calibration_temperature".to_string(), c.temperature),
        ("calibration_n_temperature".to_string(), c.n_temperature as f64),
        ("calibration_nll_before".to_string(), c.fit.nll_before),
        ("calibration_nll_after".to_string(), c.fit.nll_after),
        ("calibration_ece_before".to_string(), c.fit.ece_before),
        ("calibration_ece_after".to_string(), c.fit.ece_after),
    ]);
    if let Some(conf) = &c.conformal {
        m.insert("calibration_n_conformal".into(), conf.n() as f64);
        if let atlas_calibrate::ScoreKind::Raps { lambda, k_reg } = conf.score {
            m.insert("calibration_raps_lambda".into(), lambda);
            m.insert("calibration_raps_k_reg".into(), k_reg as f64);
        }
    }
    m
}

/// What [`calibrate_model`] did.
#[derive(Debug, Clone)]
pub struct CalibrateOutcome {
    /// The model folder that received `calibration.json`.
    pub model_dir: PathBuf,
    /// The calibration written.
    pub calibration: Calibration,
    /// Validation papers read.
    pub n_validation: usize,
}

/// Adds a calibration to an existing model (e.g. one trained before calibration existed): reads the
/// validation split of `input` (an ingested dataset folder, or any ingest format, split the way ingest
/// splits), fits (`score` as for [`fit_calibration`]), and writes `calibration.json` into the model folder
/// (re-sealing its manifest). Replaces an earlier calibration.
pub fn calibrate_model(
    model: &Path,
    input: &Path,
    score: Option<ScoreKind>,
) -> Result<CalibrateOutcome, PipelineError> {
    let loaded = LoadedModel::open(model, &LoadOptions::default())?;
    let (papers, report) = atlas_corpus::load_papers(input, Some(Split::Validation))?;
    if report.skipped_total() > 0 {
        tracing::warn!("{} input records of {} were skipped", report.skipped_total(), input.display());
    }
    if papers.is_empty() {
        return Err(PipelineError::input(input, "no validation papers to calibrate on"));
    }
    let probs = loaded.predict_papers_uncalibrated(papers.iter())?;
    let calibration =
        fit_calibration(loaded.predictor.labels(), &probs, &papers, score)?.ok_or_else(|| {
            PipelineError::input(
                input,
                "no validation paper of the temperature half has a category the model knows",
            )
        })?;
    write_calibration(&loaded.dir, &calibration)?;
    Ok(CalibrateOutcome { model_dir: loaded.dir, calibration, n_validation: papers.len() })
}
