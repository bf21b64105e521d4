//! `atlas-pipeline`: the workflows that turn a configuration into recorded results.
//!
//! * [`train`]: config → dataset (ingested once and cached) → model → validation metrics → a run folder with
//!   the model, its `pipeline.json`, params, metrics and timings;
//! * [`evaluate`]: a trained model × papers → metrics, per-class table, confusion matrix (CSV + PNG) → an
//!   `evaluate` run folder;
//! * [`classify_file`]: a trained model × a file of papers → ranked categories (and conformal category sets)
//!   as JSON-lines;
//! * [`calibrate_model`]: temperature scaling and conformal scores fitted on the validation split (which
//!   `train` does for every single-label model it trains); [`fit_thresholds`]: the per-class thresholds of a
//!   multi-label model (`experiment=tfidf_multilabel`), also fitted on the validation split.
//! * [`reference_profile`]: the drift monitor's reference profile of a model (saved by `train`, rebuilt for
//!   older models).
//!
//! Each step is done by a library crate (`atlas-corpus`, `atlas-classify`, `atlas-embed`, `atlas-eval`,
//! `atlas-track`); this crate decides the order, what is recorded, and where files go — so the CLI, a DVC
//! stage or a scheduled job run the same workflow.

#![warn(missing_docs)]

mod calibrate;
mod classify;
mod contrastive;
mod dataset;
mod demo;
mod ensemble;
mod error;
mod evaluate;
mod monitor;
mod multilabel;
mod train;

use atlas_track::{Run, RunStatus};

pub use atlas_calibrate::{Calibration, ScoreKind};
pub use calibrate::{calibrate_model, calibration_numbers, fit_calibration, CalibrateOutcome};
pub use classify::{
    classify_file, classify_papers, explain_classifications, CategoryExplanation, CategoryProbability,
    Classification, ClassifyFileReport, EXPLAIN_NEIGHBOURS, EXPLAIN_TERMS, NEIGHBOUR_VOTE,
};
pub use dataset::{labels_from, prepare_dataset};
pub use demo::{prepare_demo, DemoOptions, DemoOutcome, DemoStep};
pub use error::PipelineError;
pub use evaluate::{
    calibrate_probs, coverage_report, evaluate, evaluate_papers, evaluate_probs, evaluate_probs_with,
    read_splits, summary_numbers, CalibrationReport, ClassCoverage, CoverageReport, EvaluateOutcome,
    EvaluateRequest,
};
pub use monitor::{rebuild_reference_profile, reference_profile, save_reference_profile};
pub use multilabel::{category_ids, fit_thresholds};
pub use train::{tracker_for, train, TrainOutcome};

/// Runs `work` inside `run` and finishes the run as finished or failed. On failure the original error is
/// returned; a failure to record the failure is only logged.
pub(crate) fn in_run<T>(
    mut run: Box<dyn Run>,
    work: impl FnOnce(&mut dyn Run) -> Result<T, PipelineError>,
) -> Result<(T, std::path::PathBuf), PipelineError> {
    match work(run.as_mut()) {
        Ok(out) => {
            let dir = run.dir().to_path_buf();
            run.finish(RunStatus::Finished)?;
            Ok((out, dir))
        }
        Err(e) => {
            if let Err(fe) = run.finish(RunStatus::Failed) {
                tracing::warn!("could not mark the run as failed: {fe}");
            }
            Err(e)
        }
    }
}
