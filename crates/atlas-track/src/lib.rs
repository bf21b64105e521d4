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
//! [`LocalTracker`] writes these folders. The [`Tracker`] / [`Run`] traits are shaped so that a remote backend
//! (MLflow's REST API) can implement them later without changing callers.
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
mod provenance;
mod record;
mod table;
mod tracker;

pub use catalog::{list_runs, open_run};
pub use error::TrackError;
pub use local::LocalTracker;
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
