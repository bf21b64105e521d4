//! What a run folder holds, and reading it back.
//!
//! ```text
//! <run>/run.json              RunRecord (rewritten atomically at start, on params/timings, at finish)
//! <run>/config.resolved.yaml  the resolved configuration
//! <run>/params.json           flat parameters ("experiment.linear.epochs": 20, …)
//! <run>/metrics.jsonl         one line per log_metrics call: {"time": …, "step": …, "<name>": value, …}
//! <run>/artifacts/            models, reports, plots
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::TrackError;
use atlas_artifact::IoError;

/// The run record file.
pub const RUN_FILE: &str = "run.json";
/// The resolved configuration file.
pub const CONFIG_FILE: &str = "config.resolved.yaml";
/// The flat parameters file.
pub const PARAMS_FILE: &str = "params.json";
/// The metrics log (JSON lines).
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The folder for a run's outputs.
pub const ARTIFACTS_DIR: &str = "artifacts";

/// Version of the `run.json` layout; readers accept this version and older.
pub const RUN_FORMAT_VERSION: u32 = 1;

/// Where a run stands. A run whose process died keeps `running` in its `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished (or its process died).
    Running,
    /// Completed normally.
    Finished,
    /// Ended with an error.
    Failed,
}

impl RunStatus {
    /// The lower-case name used in `run.json` and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The source revision a run was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    /// `git rev-parse HEAD`; `None` in a repository without commits.
    pub commit: Option<String>,
    /// Whether `git status --porcelain` listed any change (modified or untracked files).
    pub dirty: bool,
}

/// The machine a run ran on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The CPU's "model name" from `/proc/cpuinfo`; `None` where that is not available.
    pub cpu_model: Option<String>,
    /// Threads the process may use (`std::thread::available_parallelism`).
    pub cores: usize,
    /// Operating system and architecture, e.g. `linux x86_64`.
    pub os: String,
}

/// Everything known about a run; the content of its `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Layout version of this record ([`RUN_FORMAT_VERSION`]).
    pub format_version: u32,
    /// Run id: the run folder's name (`20250101-120000-train-1a2b` for generated folders).
    pub id: String,
    /// What the run did: `train`, `evaluate` …
    pub kind: String,
    /// Optional human name.
    pub name: Option<String>,
    /// Where the run stands.
    pub status: RunStatus,
    /// When the run started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it finished or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Source revision; `None` when git is missing or the directory is not a repository.
    pub git: Option<GitInfo>,
    /// The machine.
    pub host: HostInfo,
    /// Version of arxiv-atlas that recorded the run.
    pub atlas_version: String,
    /// Fingerprint of the data the run read (e.g. a dataset checksum).
    pub data_fingerprint: Option<String>,
    /// Seconds spent per phase (`data`, `fit`, `predict` …); repeated phases add up.
    pub timings: BTreeMap<String, f64>,
    /// Free-form labels.
    pub tags: BTreeMap<String, String>,
    /// Last logged value of every metric.
    pub metrics: BTreeMap<String, f64>,
    /// Flat parameters, as in `params.json`.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The run folder this record was read from or written to (not stored in `run.json`, so folders can
    /// be moved).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl RunRecord {
    /// Wall-clock seconds from start to finish; `None` while running.
    pub fn duration_s(&self) -> Option<f64> {
        let end = self.finished_at?;
        Some((end - self.started_at).num_milliseconds() as f64 / 1000.0)
    }

    /// Writes `dir/run.json` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), TrackError> {
        let path = dir.join(RUN_FILE);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|source| TrackError::Json { path: path.clone(), source })?;
        atlas_artifact::write_atomic(&path, &json)?;
        Ok(())
    }
}

/// Reads the run in `dir`. For a run still marked `running` (in progress, or its process died) the metrics
/// and parameters are recovered from `metrics.jsonl` and `params.json`, which are written as the run goes,
/// so a crashed run still shows what it logged.
pub fn read_run(dir: &Path) -> Result<RunRecord, TrackError> {
    let path = dir.join(RUN_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TrackError::NotARun { path: dir.to_path_buf() })
        }
        Err(source) => return Err(TrackError::from(IoError::new("read", path, source))),
    };
    let mut record: RunRecord =
        serde_json::from_slice(&bytes).map_err(|source| TrackError::Json { path: path.clone(), source })?;
    if record.format_version > RUN_FORMAT_VERSION {
        return Err(TrackError::Invalid {
            what: "run.json",
            reason: format!(
                "{}: format version {} is newer than this build reads ({RUN_FORMAT_VERSION})",
                path.display(),
                record.format_version
            ),
        });
    }
    record.dir = dir.to_path_buf();
    if record.status == RunStatus::Running {
        let logged = read_metrics_log(&dir.join(METRICS_FILE))?;
        for line in logged {
            record.metrics.extend(line.values);
        }
        let params_path = dir.join(PARAMS_FILE);
        if let Ok(bytes) = fs::read(&params_path) {
            if let Ok(params) = serde_json::from_slice(&bytes) {
                record.params = params;
            }
        }
    }
    Ok(record)
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsLine {
    /// When it was logged.
    pub time: Option<DateTime<Utc>>,
    /// Step (epoch, iteration) it belongs to, if any.
    pub step: Option<u64>,
    /// The finite values of the line (non-finite values are written as `null` and skipped here).
    pub values: BTreeMap<String, f64>,
}

/// Reads a `metrics.jsonl` file; a missing file is an empty log. A torn last line (the process died while
/// writing it) is skipped with a warning; any other malformed line is an error.
pub fn read_metrics_log(path: &Path) -> Result<Vec<MetricsLine>, TrackError> {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TrackError::from(IoError::new("open", path, source))),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| TrackError::from(IoError::new("read", path, source)))?;
    let mut out = Vec::with_capacity(lines.len());
    let n = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(line) {
            Ok(o) => o,
            Err(e) if i + 1 == n => {
                tracing::warn!("{}: skipping a torn last line: {e}", path.display());
                continue;
            }
            Err(source) => return Err(TrackError::Json { path: path.to_path_buf(), source }),
        };
        let mut parsed = MetricsLine { time: None, step: None, values: BTreeMap::new() };
        for (k, v) in obj {
            match k.as_str() {
                "time" => parsed.time = v.as_str().and_then(|s| s.parse().ok()),
                "step" => parsed.step = v.as_u64(),
                _ => {
                    if let Some(x) = v.as_f64() {
                        parsed.values.insert(k, x);
                    }
                }
            }
        }
        out.push(parsed);
    }
    Ok(out)
}
