//! [`LocalTracker`]: run folders on the local disk.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::TrackError;
use crate::provenance::{git_info, host_info};
use crate::record::{
    RunRecord, RunStatus, ARTIFACTS_DIR, CONFIG_FILE, METRICS_FILE, PARAMS_FILE, RUN_FILE, RUN_FORMAT_VERSION,
};
use crate::tracker::{Run, RunSpec, Tracker};
use atlas_artifact::IoError;

/// Records runs as folders: `<root>/<UTC yyyymmdd-hhmmss>-<kind>-<4 hex>/`, or exactly `spec.dir`.
///
/// Reusing a `spec.dir` that already holds a run replaces that run's records (`run.json`, `params.json`,
/// `config.resolved.yaml`, `metrics.jsonl`), with a warning, so two runs' metrics never mix; files under
/// `artifacts/` are left for the new run to overwrite.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTracker;

impl Tracker for LocalTracker {
    fn start_run(&self, spec: RunSpec) -> Result<Box<dyn Run>, TrackError> {
        Ok(Box::new(LocalRun::start(spec)?))
    }
}

/// A run being recorded in a local folder.
struct LocalRun {
    record: RunRecord,
    dir: PathBuf,
    metrics: File,
    /// Set once `finish` ran, so `Drop` knows the run ended properly.
    finished: bool,
}

impl LocalRun {
    fn start(spec: RunSpec) -> Result<LocalRun, TrackError> {
        check_kind(&spec.kind)?;
        let started_at = Utc::now();
        let (dir, id) = match &spec.dir {
            Some(dir) => (prepare_explicit_dir(dir)?, folder_id(dir)),
            None => create_unique_dir(&spec.root, started_at, &spec.kind)?,
        };
        let artifacts = dir.join(ARTIFACTS_DIR);
        fs::create_dir_all(&artifacts).map_err(io_err("create folder", &artifacts))?;
        let metrics_path = dir.join(METRICS_FILE);
        let metrics = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&metrics_path)
            .map_err(io_err("create", &metrics_path))?;
        let record = RunRecord {
            format_version: RUN_FORMAT_VERSION,
            id,
            kind: spec.kind,
            name: spec.name,
            status: RunStatus::Running,
            started_at,
            finished_at: None,
            git: git_info(Path::new(".")),
            host: host_info(),
            atlas_version: env!("CARGO_PKG_VERSION").to_string(),
            data_fingerprint: None,
            timings: BTreeMap::new(),
            tags: BTreeMap::new(),
            metrics: BTreeMap::new(),
            params: BTreeMap::new(),
            dir: dir.clone(),
        };
        record.write(&dir)?;
        Ok(LocalRun { record, dir, metrics, finished: false })
    }

    fn end(&mut self, status: RunStatus) -> Result<RunRecord, TrackError> {
        self.finished = true;
        self.record.status = status;
        self.record.finished_at = Some(Utc::now());
        self.record.write(&self.dir)?;
        Ok(self.record.clone())
    }
}

impl Run for LocalRun {
    fn id(&self) -> &str {
        &self.record.id
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn log_config_yaml(&mut self, yaml: &str) -> Result<(), TrackError> {
        serde_yaml::from_str::<serde_yaml::Value>(yaml)
            .map_err(|e| TrackError::Invalid { what: "config YAML", reason: e.to_string() })?;
        atlas_artifact::write_atomic(&self.dir.join(CONFIG_FILE), yaml.as_bytes())?;
        Ok(())
    }

    fn log_params(&mut self, params: &serde_json::Value) -> Result<(), TrackError> {
        let serde_json::Value::Object(map) = params else {
            return Err(TrackError::Invalid {
                what: "params",
                reason: format!("expected a JSON object, got {params}"),
            });
        };
        for (k, v) in map {
            flatten(k, v, &mut self.record.params);
        }
        let path = self.dir.join(PARAMS_FILE);
        let json = serde_json::to_vec_pretty(&self.record.params)
            .map_err(|source| TrackError::Json { path: path.clone(), source })?;
        atlas_artifact::write_atomic(&path, &json)?;
        self.record.write(&self.dir)
    }

    fn log_metrics(&mut self, step: Option<u64>, metrics: &BTreeMap<String, f64>) -> Result<(), TrackError> {
        if let Some(bad) = metrics.keys().find(|k| k.is_empty() || *k == "time" || *k == "step") {
            return Err(TrackError::Invalid {
                what: "metric name",
                reason: format!("`{bad}` (empty, or reserved for the line's own fields)"),
            });
        }
        let path = self.dir.join(METRICS_FILE);
        let line = metrics_line(Utc::now(), step, metrics)
            .map_err(|source| TrackError::Json { path: path.clone(), source })?;
        // One write per line, flushed, so a crash loses at most the line being written.
        self.metrics.write_all(line.as_bytes()).map_err(io_err("append to", &path))?;
        self.metrics.flush().map_err(io_err("append to", &path))?;
        for (k, &v) in metrics {
            if v.is_finite() {
                self.record.metrics.insert(k.clone(), v);
            } else {
                tracing::warn!("run {}: metric {k} is {v}; logged as null", self.record.id);
                self.record.metrics.remove(k);
            }
        }
        Ok(())
    }

    fn log_timing(&mut self, phase: &str, seconds: f64) -> Result<(), TrackError> {
        if !seconds.is_finite() {
            tracing::warn!("run {}: timing of {phase} is {seconds}; not recorded", self.record.id);
            return Ok(());
        }
        *self.record.timings.entry(phase.to_string()).or_insert(0.0) += seconds;
        self.record.write(&self.dir)
    }

    fn set_data_fingerprint(&mut self, fp: &str) {
        self.record.data_fingerprint = Some(fp.to_string());
    }

    fn set_tag(&mut self, key: &str, value: &str) {
        self.record.tags.insert(key.to_string(), value.to_string());
    }

    fn artifact_dir(&self) -> PathBuf {
        self.dir.join(ARTIFACTS_DIR)
    }

    fn finish(mut self: Box<Self>, status: RunStatus) -> Result<RunRecord, TrackError> {
        if status == RunStatus::Running {
            return Err(TrackError::Invalid {
                what: "final status",
                reason: "a run finishes as `finished` or `failed`".into(),
            });
        }
        self.end(status)
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Dropped without `finish`: an early return or a panic. Leaving it `running` would look like a run
        // still in progress.
        tracing::warn!("run {} ended without finish(); recording it as failed", self.record.id);
        if let Err(e) = self.end(RunStatus::Failed) {
            tracing::warn!("could not record run {} as failed: {e}", self.record.id);
        }
    }
}

/// One `metrics.jsonl` line, with `time` and `step` first (a JSON map would sort them among the metrics).
fn metrics_line(
    time: DateTime<Utc>,
    step: Option<u64>,
    metrics: &BTreeMap<String, f64>,
) -> Result<String, serde_json::Error> {
    let mut line = String::from("{\"time\":");
    line.push_str(&serde_json::to_string(&time.to_rfc3339_opts(SecondsFormat::Millis, true))?);
    line.push_str(",\"step\":");
    line.push_str(&step.map_or_else(|| "null".to_string(), |s| s.to_string()));
    for (k, v) in metrics {
        line.push(',');
        line.push_str(&serde_json::to_string(k)?);
        line.push(':');
        // serde_json writes NaN and infinities as `null`, the only JSON for "no number".
        line.push_str(&serde_json::to_string(v)?);
    }
    line.push_str("}\n");
    Ok(line)
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn check_kind(kind: &str) -> Result<(), TrackError> {
    if !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(TrackError::Invalid {
            what: "run kind",
            reason: format!("`{kind}`: use letters, digits, `_` and `-` (it is part of the run id)"),
        })
    }
}

/// The id of an explicitly chosen folder: its name.
fn folder_id(dir: &Path) -> String {
    dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string())
}

/// Creates `dir` if needed; if it already holds a run, removes that run's records (see [`LocalTracker`]).
fn prepare_explicit_dir(dir: &Path) -> Result<PathBuf, TrackError> {
    fs::create_dir_all(dir).map_err(io_err("create run folder", dir))?;
    if dir.join(RUN_FILE).exists() {
        tracing::warn!("{} already holds a run; its records are replaced by the new run", dir.display());
        for name in [CONFIG_FILE, PARAMS_FILE] {
            let path = dir.join(name);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(TrackError::from(IoError::new("remove", path, source))),
            }
        }
    }
    Ok(dir.to_path_buf())
}

/// Creates a new `<root>/<timestamp>-<kind>-<4 hex>` folder; the random part is drawn again if the name is
/// taken (two runs started in the same second).
fn create_unique_dir(
    root: &Path,
    started: DateTime<Utc>,
    kind: &str,
) -> Result<(PathBuf, String), TrackError> {
    fs::create_dir_all(root).map_err(io_err("create runs folder", root))?;
    let stamp = started.format("%Y%m%d-%H%M%S");
    let mut last_err = None;
    for _ in 0..32 {
        let id = format!("{stamp}-{kind}-{}", random_hex4());
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, id)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(source) => return Err(TrackError::from(IoError::new("create run folder", dir, source))),
        }
    }
    Err(TrackError::from(IoError::new(
        "find a free run folder name in",
        root,
        last_err.unwrap_or_else(|| io::Error::other("every name tried was taken")),
    )))
}

/// 16 random bits as 4 hex digits. `RandomState` is seeded from the OS once per thread and varies per
/// instance; mixing in time, pid and a counter keeps names distinct across processes and calls.
fn random_hex4() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(Utc::now().timestamp_nanos_opt().unwrap_or_default());
    format!("{:04x}", h.finish() & 0xffff)
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TrackError + 'a {
    move |source| TrackError::from(IoError::new(op, path, source))
}
