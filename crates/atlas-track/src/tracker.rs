//! The tracking interface: a [`Tracker`] starts [`Run`]s, a run records what happened.
//!
//! The interface is shaped after what remote trackers offer, and the MLflow backend
//! ([`MlflowTracker`](crate::MlflowTracker)) maps it onto MLflow's REST API: [`Run::log_params`] ↔ `log-batch`
//! params (flat key/value), [`Run::log_metrics`] ↔ `log-batch` metrics (name, value, timestamp, step),
//! [`Run::set_tag`] ↔ tags, [`Run::finish`] ↔ `runs/update` with the end status, and [`Run::artifact_dir`] the
//! local folder it uploads at finish.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::TrackError;
use crate::record::{RunRecord, RunStatus};

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// What the run does: `train`, `evaluate` … (letters, digits, `_` and `-`; it is part of the run id).
    pub kind: String,
    /// Optional human name.
    pub name: Option<String>,
    /// Folder that holds run folders; a new run goes to `<root>/<id>/`.
    pub root: PathBuf,
    /// Use exactly this folder instead (its name becomes the run id).
    pub dir: Option<PathBuf>,
}

/// A tracking backend.
pub trait Tracker: Send {
    /// Starts a run: creates its folder and records it as `running`.
    fn start_run(&self, spec: RunSpec) -> Result<Box<dyn Run>, TrackError>;
}

/// A run in progress. End it with [`Run::finish`]; a run dropped without `finish` (an early return or a
/// panic) is recorded as failed, and a run whose process is killed stays `running`.
pub trait Run: Send {
    /// The run id.
    fn id(&self) -> &str;
    /// The run folder.
    fn dir(&self) -> &Path;
    /// Saves the resolved configuration (`config.resolved.yaml`); it must be valid YAML.
    fn log_config_yaml(&mut self, yaml: &str) -> Result<(), TrackError>;
    /// Merges parameters into `params.json`. Nested objects are flattened with dots
    /// (`{"experiment": {"linear": {"epochs": 5}}}` → `experiment.linear.epochs`); later calls overwrite
    /// keys of earlier ones. `params` must be a JSON object.
    fn log_params(&mut self, params: &serde_json::Value) -> Result<(), TrackError>;
    /// Appends one line to `metrics.jsonl` (`{"time": …, "step": …, "<name>": value, …}`) and updates the final
    /// metrics. Non-finite values are written as `null` and removed from the final metrics. The names
    /// `time` and `step` are reserved.
    fn log_metrics(&mut self, step: Option<u64>, metrics: &BTreeMap<String, f64>) -> Result<(), TrackError>;
    /// Adds `seconds` to the time of `phase` (repeated phases add up).
    fn log_timing(&mut self, phase: &str, seconds: f64) -> Result<(), TrackError>;
    /// Records the fingerprint of the data the run read.
    fn set_data_fingerprint(&mut self, fp: &str);
    /// Sets a free-form tag.
    fn set_tag(&mut self, key: &str, value: &str);
    /// Folder for the run's outputs (models, reports, plots); it exists once the run started.
    fn artifact_dir(&self) -> PathBuf;
    /// Ends the run with `status` (`Finished` or `Failed`) and returns its final record.
    fn finish(self: Box<Self>, status: RunStatus) -> Result<RunRecord, TrackError>;
}
