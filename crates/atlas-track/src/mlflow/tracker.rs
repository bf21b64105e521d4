//! [`MlflowTracker`]: a local run folder, uploaded to an MLflow server when the run ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::client::MlflowClient;
use super::push::push_run;
use super::registry::{register_model, Registered};
use crate::error::TrackError;
use crate::local::LocalTracker;
use crate::record::{RunRecord, RunStatus};
use crate::tracker::{Run, RunSpec, Tracker};

/// Where and how runs go to MLflow.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowSettings {
    /// The tracking server, e.g. `http://127.0.0.1:5000`.
    pub uri: String,
    /// The MLflow experiment runs are logged to (created when missing).
    pub experiment: String,
    /// Register the model of a finished run under this name (a new version each run).
    pub register_as: Option<String>,
    /// Point this alias (e.g. `champion`) at the new version.
    pub alias: Option<String>,
    /// Timeout of each request.
    pub timeout: Duration,
}

/// Records every run in a local run folder exactly like [`LocalTracker`], and when the run ends uploads it to an
/// MLflow server ([`push_run`]): params, per-step metrics, provenance tags and artifacts. With
/// [`MlflowSettings::register_as`] the model of a finished run becomes a new registered model version.
///
/// The server is never in the way of training: when it is unreachable (at the start or at the end), the run
/// goes on, the local folder is kept, a warning says so, and `arxiv-atlas runs push <run>` uploads it later.
/// The local folder is always kept (it is the source of `runs list` and `runs compare`).
#[derive(Debug, Clone)]
pub struct MlflowTracker {
    client: MlflowClient,
    settings: MlflowSettings,
}

impl MlflowTracker {
    /// A tracker for `settings`; fails only on a malformed URI (the server is not contacted here).
    pub fn new(settings: MlflowSettings) -> Result<Self, TrackError> {
        let client = MlflowClient::new(&settings.uri, settings.timeout)?;
        Ok(MlflowTracker { client, settings })
    }
}

impl Tracker for MlflowTracker {
    fn start_run(&self, spec: RunSpec) -> Result<Box<dyn Run>, TrackError> {
        let local = LocalTracker.start_run(spec)?;
        // An early word when the server is down, so nobody waits for a training run to learn it.
        if let Err(e) = super::push::experiment_id(&self.client, &self.settings.experiment) {
            tracing::warn!(
                "{e}; training goes on, the run is kept in {} (upload it later with `arxiv-atlas runs push {}`)",
                local.dir().display(),
                local.dir().display()
            );
        }
        Ok(Box::new(MlflowRun { local, tracker: self.clone() }))
    }
}

/// A local run that is uploaded when it finishes.
struct MlflowRun {
    local: Box<dyn Run>,
    tracker: MlflowTracker,
}

/// Uploads (and registers) the ended run; any failure is a warning, never the run's failure.
fn publish(tracker: &MlflowTracker, record: &RunRecord) {
    let s = &tracker.settings;
    let pushed = match push_run(&tracker.client, &s.experiment, &record.dir) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(
                "run {} was not uploaded to MLflow: {e}. It is kept in {}; upload it later with \
                     `arxiv-atlas runs push {}`",
                record.id,
                record.dir.display(),
                record.dir.display()
            );
            return;
        }
    };
    let (Some(name), RunStatus::Finished) = (&s.register_as, record.status) else { return };
    match register_model(&tracker.client, &pushed, &record.dir, name, s.alias.as_deref()) {
        Ok(Registered { version, .. }) => tracing::info!(
            "registered {name} version {version}{}",
            s.alias.as_deref().map(|a| format!(" (alias {a})")).unwrap_or_default()
        ),
        Err(e) => tracing::warn!(
            "run {} is on MLflow but its model was not registered as {name}: {e}; register it with \
                 `arxiv-atlas runs register {} --name {name}`",
            record.id,
            record.dir.display()
        ),
    }
}

impl Run for MlflowRun {
    fn id(&self) -> &str {
        self.local.id()
    }

    fn dir(&self) -> &Path {
        self.local.dir()
    }

    fn log_config_yaml(&mut self, yaml: &str) -> Result<(), TrackError> {
        self.local.log_config_yaml(yaml)
    }

    fn log_params(&mut self, params: &Value) -> Result<(), TrackError> {
        self.local.log_params(params)
    }

    fn log_metrics(&mut self, step: Option<u64>, metrics: &BTreeMap<String, f64>) -> Result<(), TrackError> {
        self.local.log_metrics(step, metrics)
    }

    fn log_timing(&mut self, phase: &str, seconds: f64) -> Result<(), TrackError> {
        self.local.log_timing(phase, seconds)
    }

    fn set_data_fingerprint(&mut self, fp: &str) {
        self.local.set_data_fingerprint(fp)
    }

    fn set_tag(&mut self, key: &str, value: &str) {
        self.local.set_tag(key, value)
    }

    fn artifact_dir(&self) -> PathBuf {
        self.local.artifact_dir()
    }

    fn finish(self: Box<Self>, status: RunStatus) -> Result<RunRecord, TrackError> {
        let MlflowRun { local, tracker } = *self;
        let record = local.finish(status)?;
        publish(&tracker, &record);
        Ok(record)
    }
}
