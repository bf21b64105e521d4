//! Run folders and experiment tracking for arxiv-atlas, behind a [`Tracker`] trait.
//!
//! Every `train` or `evaluate` is a *run*: a folder with its resolved config, parameters, a metrics log, timings,
//! provenance (git revision, machine, data fingerprint) and its artifacts, so any result can be traced back to
//! exactly what produced it and compared with other runs.
//!
//! ```text
//! runs/20250101-120000-train-1a2b/
//!   run.json              RunRecord: status, times, git, host, timings, tags, final metrics, params
//!   config.resolved.yaml  the configuration as resolved
//!   params.json           flat parameters
//!   metrics.jsonl         {"time": …, "step": …, "<metric>": value, …} per line
//!   artifacts/            model, reports, plots
//! ```
//!
//! [`LocalTracker`] writes these folders. [`MlflowTracker`] writes the same folders and uploads each ended run to
//! an MLflow server over its REST API (params, per-step metrics, provenance tags, artifacts), optionally
//! registering its model; [`push_run`] uploads a run recorded while the server was unreachable, and
//! [`resolve_model_path`] turns a `models:/NAME@ALIAS` URI into a downloaded, checksum-verified model folder.
//!
//! ```
//! use atlas_track::{LocalTracker, RunSpec, RunStatus, Tracker};
//! # let tmp = tempfile::tempdir().unwrap();
//! let spec = RunSpec { kind: "train".into(), name: None, root: tmp.path().to_path_buf(), dir: None };
//! let mut run = LocalTracker.start_run(spec).unwrap();
//! run.log_metrics(Some(1), &[("accuracy".to_string(), 0.9)].into()).unwrap();
//! let record = run.finish(RunStatus::Finished).unwrap();
//! assert_eq!(record.metrics["accuracy"], 0.9);
//! assert_eq!(atlas_track::list_runs(tmp.path()).unwrap().len(), 1);
//! ```

#![warn(missing_docs)]

mod catalog;
mod error;
mod local;
pub mod mlflow;
mod provenance;
mod record;
mod table;
mod tracker;

pub use catalog::{list_runs, open_run};
pub use error::TrackError;
pub use local::LocalTracker;
pub use mlflow::{
    push_run, register_model, resolve_model_path, MlflowClient, MlflowError, MlflowSettings, MlflowTracker,
    ModelUri, PushedRun,
};
pub use provenance::{git_info, host_info};
pub use record::{
    read_metrics_log, read_run, GitInfo, HostInfo, MetricsLine, RunRecord, RunStatus, ARTIFACTS_DIR,
    CONFIG_FILE, METRICS_FILE, PARAMS_FILE, RUN_FILE, RUN_FORMAT_VERSION,
};
pub use table::{
    compare_runs, compare_runs_with, render_runs_table, CompareOptions, KEY_METRICS, MAX_METRIC_COLUMNS,
};
pub use tracker::{Run, RunSpec, Tracker};

#[cfg(test)]
mod tests;
