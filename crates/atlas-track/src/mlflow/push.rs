//! Uploading a finished local run folder to an MLflow server: one MLflow run with the run's parameters, every
//! logged metric with its step and time, provenance tags, and the files under `artifacts/` (the model folder,
//! reports, plots) plus the run's own records under `atlas-run/`.
//!
//! The MLflow tracker calls this when a run finishes, and `arxiv-atlas runs push` calls it for a run recorded
//! while the server was unreachable: both paths upload the same thing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::{proxied_artifact_path, MlflowClient, MlflowError};
use crate::error::TrackError;
use crate::record::{
    read_metrics_log, read_run, RunRecord, RunStatus, ARTIFACTS_DIR, CONFIG_FILE, METRICS_FILE, PARAMS_FILE,
    RUN_FILE,
};
use atlas_artifact::IoError;

/// File in a run folder that records where the run was uploaded (its presence means "pushed").
pub const MLFLOW_FILE: &str = "mlflow.json";

/// The artifact folder, inside the MLflow run, that receives the run's own records (`run.json`, `params.json`,
/// `metrics.jsonl`, `config.resolved.yaml`), so the local run folder can be rebuilt from the server.
pub const RECORDS_ARTIFACT_DIR: &str = "atlas-run";

/// MLflow's limits per `runs/log-batch` request.
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_TAGS: usize = 100;
const MAX_BATCH_METRICS: usize = 1000;
/// MLflow 3 stores at most this many characters of a parameter value; longer values are cut with a warning.
const MAX_PARAM_VALUE: usize = 6000;

/// Where a local run lives on an MLflow server; the content of the run folder's `mlflow.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRun {
    /// The server.
    pub tracking_uri: String,
    /// The MLflow experiment's name.
    pub experiment: String,
    /// The MLflow experiment's id.
    pub experiment_id: String,
    /// The MLflow run id.
    pub run_id: String,
    /// The run's artifact root, e.g. `mlflow-artifacts:/1/<run_id>/artifacts`.
    pub artifact_uri: String,
}

impl PushedRun {
    /// Reads the `mlflow.json` of a run folder; `None` when the run was never pushed.
    pub fn read(run_dir: &Path) -> Result<Option<PushedRun>, TrackError> {
        let path = run_dir.join(MLFLOW_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|source| TrackError::Json { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(IoError::new("read", path, source).into()),
        }
    }

    fn write(&self, run_dir: &Path) -> Result<(), TrackError> {
        let path = run_dir.join(MLFLOW_FILE);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| TrackError::Json { path: path.clone(), source })?;
        atlas_artifact::write_atomic(&path, &json)?;
        Ok(())
    }
}

/// Uploads the finished run in `run_dir` to `experiment` (created when missing) and records the MLflow run in the
/// folder's `mlflow.json`. A run already pushed to the same server is not uploaded twice: its [`PushedRun`] is
/// returned as it is. If the upload fails half-way, the half-made MLflow run is deleted (best effort) so a
/// later push starts clean.
pub fn push_run(client: &MlflowClient, experiment: &str, run_dir: &Path) -> Result<PushedRun, TrackError> {
    let record = read_run(run_dir)?;
    if record.status == RunStatus::Running {
        return Err(TrackError::Invalid {
            what: "run to push",
            reason: format!(
                "{} is still running (or its process died): only ended runs are pushed",
                record.id
            ),
        });
    }
    if let Some(done) = PushedRun::read(run_dir)? {
        if done.tracking_uri == client.uri() {
            tracing::info!(
                "run {} is already on {} as MLflow run {}",
                record.id,
                done.tracking_uri,
                done.run_id
            );
            return Ok(done);
        }
    }
    let experiment_id = experiment_id(client, experiment)?;
    let created: Value = client.post(
        "runs/create",
        &json!({
            "experiment_id": experiment_id,
            "run_name": record.name.clone().unwrap_or_else(|| record.id.clone()),
            "start_time": record.started_at.timestamp_millis(),
        }),
    )?;
    let info = &created["run"]["info"];
    let (Some(run_id), Some(artifact_uri)) = (info["run_id"].as_str(), info["artifact_uri"].as_str()) else {
        return Err(client.bad("runs/create", format!("no run_id/artifact_uri in {created}")).into());
    };
    let pushed = PushedRun {
        tracking_uri: client.uri().to_string(),
        experiment: experiment.to_string(),
        experiment_id,
        run_id: run_id.to_string(),
        artifact_uri: artifact_uri.to_string(),
    };
    if let Err(e) = upload(client, &record, &pushed) {
        // Leave no half-uploaded run behind to be mistaken for the real one.
        if let Err(del) = client.post::<Value>("runs/delete", &json!({ "run_id": pushed.run_id })) {
            tracing::warn!("could not delete the half-uploaded MLflow run {}: {del}", pushed.run_id);
        }
        return Err(e);
    }
    pushed.write(run_dir)?;
    tracing::info!("run {} uploaded to {} as MLflow run {}", record.id, pushed.tracking_uri, pushed.run_id);
    Ok(pushed)
}

/// The MLflow experiment a run was configured for: `tracker.experiment` of its `config.resolved.yaml`, when the
/// run has one and names one (`runs push` and `runs register` default to it).
pub fn configured_experiment(run_dir: &Path) -> Option<String> {
    let text = fs::read_to_string(run_dir.join(CONFIG_FILE)).ok()?;
    let config: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    config.get("tracker")?.get("experiment")?.as_str().map(str::to_string)
}

/// The id of the experiment named `name`, created when it does not exist.
pub fn experiment_id(client: &MlflowClient, name: &str) -> Result<String, MlflowError> {
    let found: Result<Value, _> = client.get("experiments/get-by-name", &[("experiment_name", name)]);
    let answer = match found {
        Ok(v) => v["experiment"]["experiment_id"].clone(),
        Err(e) if e.server_code() == Some("RESOURCE_DOES_NOT_EXIST") => {
            match client.post::<Value>("experiments/create", &json!({ "name": name })) {
                Ok(v) => v["experiment_id"].clone(),
                // Created by someone else in between.
                Err(e) if e.server_code() == Some("RESOURCE_ALREADY_EXISTS") => client
                    .get::<Value>("experiments/get-by-name", &[("experiment_name", name)])?["experiment"]
                    ["experiment_id"]
                    .clone(),
                Err(e) => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    answer
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| client.bad("experiments/get-by-name", format!("no experiment_id for `{name}`")))
}

fn upload(client: &MlflowClient, record: &RunRecord, pushed: &PushedRun) -> Result<(), TrackError> {
    let run_dir = record.dir.as_path();
    let run_id = pushed.run_id.as_str();
    let params = param_entries(record);
    for chunk in params.chunks(MAX_BATCH_PARAMS) {
        client.post::<Value>("runs/log-batch", &json!({ "run_id": run_id, "params": chunk }))?;
    }
    let tags = tag_entries(record, run_dir)?;
    for chunk in tags.chunks(MAX_BATCH_TAGS) {
        client.post::<Value>("runs/log-batch", &json!({ "run_id": run_id, "tags": chunk }))?;
    }
    let metrics = metric_entries(record, &run_dir.join(METRICS_FILE))?;
    for chunk in metrics.chunks(MAX_BATCH_METRICS) {
        client.post::<Value>("runs/log-batch", &json!({ "run_id": run_id, "metrics": chunk }))?;
    }
    let root = proxied_artifact_path(&pushed.artifact_uri).ok_or_else(|| {
        client.bad(
            "runs/create",
            format!(
                "the run's artifact location {} is not served by the tracking server; start it with \
                 `mlflow server --serve-artifacts` (the default in MLflow 3)",
                pushed.artifact_uri
            ),
        )
    })?;
    for (rel, path) in files_under(&run_dir.join(ARTIFACTS_DIR))? {
        upload_file(client, &format!("{root}/{rel}"), &path)?;
    }
    for name in [RUN_FILE, PARAMS_FILE, METRICS_FILE, CONFIG_FILE] {
        let path = run_dir.join(name);
        if path.is_file() {
            upload_file(client, &format!("{root}/{RECORDS_ARTIFACT_DIR}/{name}"), &path)?;
        }
    }
    let status = match record.status {
        RunStatus::Finished => "FINISHED",
        RunStatus::Failed | RunStatus::Running => "FAILED",
    };
    let end = record.finished_at.unwrap_or(record.started_at);
    client.post::<Value>(
        "runs/update",
        &json!({ "run_id": run_id, "status": status, "end_time": end.timestamp_millis() }),
    )?;
    Ok(())
}

fn upload_file(client: &MlflowClient, artifact_path: &str, path: &Path) -> Result<(), TrackError> {
    let bytes = fs::read(path).map_err(|source| IoError::new("read", path, source))?;
    client.put_artifact(&encode_path(artifact_path), &bytes)?;
    Ok(())
}

/// Percent-encodes what a URL path cannot hold as it is (spaces, `?`, `#`, `%` …), keeping `/` as separator.
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every file under `dir` (recursively) as (`/`-separated path relative to `dir`, full path), sorted.
pub(crate) fn files_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, TrackError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        let entries = match fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && prefix.is_empty() => return Ok(out),
            Err(source) => return Err(IoError::new("list", folder, source).into()),
        };
        for entry in entries {
            let entry = entry.map_err(|source| IoError::new("list", &folder, source))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let path = entry.path();
            if path.is_dir() {
                stack.push((rel, path));
            } else if path.is_file() {
                out.push((rel, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parameters as MLflow stores them: text. Strings stay as they are, anything else is its JSON.
fn param_entries(record: &RunRecord) -> Vec<Value> {
    record
        .params
        .iter()
        .map(|(k, v)| {
            let mut text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if text.chars().count() > MAX_PARAM_VALUE {
                tracing::warn!(
                    "run {}: param {k} is longer than {MAX_PARAM_VALUE} characters; cut",
                    record.id
                );
                text = text.chars().take(MAX_PARAM_VALUE).collect();
            }
            json!({ "key": k, "value": text })
        })
        .collect()
}

/// MLflow's own tags (run name, git commit, source) and arxiv-atlas's provenance (`atlas.*`), then the run's
/// free-form tags.
fn tag_entries(record: &RunRecord, run_dir: &Path) -> Result<Vec<Value>, TrackError> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    tags.insert("mlflow.runName".into(), record.name.clone().unwrap_or_else(|| record.id.clone()));
    tags.insert("mlflow.source.name".into(), "arxiv-atlas".into());
    tags.insert("mlflow.source.type".into(), "LOCAL".into());
    tags.insert("atlas.run_id".into(), record.id.clone());
    tags.insert("atlas.kind".into(), record.kind.clone());
    tags.insert("atlas.version".into(), record.atlas_version.clone());
    if let Some(git) = &record.git {
        if let Some(commit) = &git.commit {
            tags.insert("mlflow.source.git.commit".into(), commit.clone());
        }
        tags.insert("atlas.git_dirty".into(), git.dirty.to_string());
    }
    if let Some(fp) = &record.data_fingerprint {
        tags.insert("atlas.data_fingerprint".into(), fp.clone());
    }
    let config = run_dir.join(CONFIG_FILE);
    if config.is_file() {
        let (sha, _) = atlas_artifact::sha256_file(&config)?;
        tags.insert("atlas.config_hash".into(), sha);
    }
    if let Some(cpu) = &record.host.cpu_model {
        tags.insert("atlas.host.cpu".into(), cpu.clone());
    }
    tags.insert("atlas.host.cores".into(), record.host.cores.to_string());
    tags.insert("atlas.host.os".into(), record.host.os.clone());
    for (k, v) in &record.tags {
        tags.insert(k.clone(), v.clone());
    }
    Ok(tags.into_iter().map(|(k, v)| json!({ "key": k, "value": v })).collect())
}

/// Every finite value of the metrics log with its step (MLflow's step 0 for lines without one) and time, then
/// the phase timings as `time_<phase>_s`.
fn metric_entries(record: &RunRecord, log: &Path) -> Result<Vec<Value>, TrackError> {
    let fallback = record.started_at.timestamp_millis();
    let mut out = Vec::new();
    for line in read_metrics_log(log)? {
        let ts = line.time.map_or(fallback, |t| t.timestamp_millis());
        for (k, v) in &line.values {
            out.push(json!({ "key": k, "value": v, "timestamp": ts, "step": line.step.unwrap_or(0) }));
        }
    }
    let end = record.finished_at.map_or(fallback, |t| t.timestamp_millis());
    for (phase, s) in &record.timings {
        out.push(json!({ "key": format!("time_{phase}_s"), "value": s, "timestamp": end, "step": 0 }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_experiment_is_read_from_the_resolved_config() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(configured_experiment(tmp.path()), None);
        fs::write(tmp.path().join(CONFIG_FILE), "seed: 1\n").unwrap();
        assert_eq!(configured_experiment(tmp.path()), None);
        fs::write(tmp.path().join(CONFIG_FILE), "tracker:\n  backend: mlflow\n  experiment: papers\n")
            .unwrap();
        assert_eq!(configured_experiment(tmp.path()).as_deref(), Some("papers"));
    }

    #[test]
    fn artifact_paths_are_url_safe() {
        assert_eq!(encode_path("1/ab/artifacts/model/w.bin"), "1/ab/artifacts/model/w.bin");
        assert_eq!(encode_path("a b/c?d#e%f"), "a%20b/c%3Fd%23e%25f");
    }

    #[test]
    fn files_under_recurses_and_sorts() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("model/sub")).unwrap();
        fs::write(tmp.path().join("model/sub/x.bin"), b"x").unwrap();
        fs::write(tmp.path().join("model/manifest.json"), b"{}").unwrap();
        fs::write(tmp.path().join("report.json"), b"{}").unwrap();
        let rels: Vec<String> = files_under(tmp.path()).unwrap().into_iter().map(|(r, _)| r).collect();
        assert_eq!(rels, ["model/manifest.json", "model/sub/x.bin", "report.json"]);
        assert!(files_under(&tmp.path().join("none")).unwrap().is_empty());
    }
}
