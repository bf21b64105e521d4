//! Finding runs: listing a runs folder and opening one run by path or id.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::TrackError;
use crate::record::{read_run, RunRecord, RUN_FILE};
use atlas_artifact::IoError;

/// Every run under `root`, oldest first (by start time, then id). Sub-folders that are not runs, or whose
/// `run.json` cannot be read, are skipped with a warning; a missing `root` has no runs.
pub fn list_runs(root: &Path) -> Result<Vec<RunRecord>, TrackError> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TrackError::from(IoError::new("list", root, source))),
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TrackError::from(IoError::new("list", root, source)))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        match read_run(&path) {
            Ok(run) => runs.push(run),
            Err(TrackError::NotARun { .. }) => {
                tracing::warn!("skipping {}: not a run folder (no {RUN_FILE})", path.display())
            }
            Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
        }
    }
    runs.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id.cmp(&b.id)));
    Ok(runs)
}

/// Opens a run given its folder, its id under `root`, or a part of its id that only one run under `root`
/// contains (e.g. the random suffix `1a2b`).
pub fn open_run(path_or_id: &str, root: &Path) -> Result<RunRecord, TrackError> {
    let as_path = Path::new(path_or_id);
    if as_path.join(RUN_FILE).is_file() {
        return read_run(as_path);
    }
    let under_root = root.join(path_or_id);
    if under_root.join(RUN_FILE).is_file() {
        return read_run(&under_root);
    }
    if as_path.is_dir() {
        return Err(TrackError::NotARun { path: as_path.to_path_buf() });
    }
    let mut matches: Vec<RunRecord> = list_runs(root)?
        .into_iter()
        .filter(|r| !path_or_id.is_empty() && r.id.contains(path_or_id))
        .collect();
    if matches.len() == 1 {
        if let Some(run) = matches.pop() {
            return Ok(run);
        }
    }
    Err(TrackError::RunNotFound {
        query: path_or_id.to_string(),
        root: root.to_path_buf(),
        candidates: matches.into_iter().map(|r| r.id).collect(),
    })
}
