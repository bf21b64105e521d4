//! Tests of the local tracker through the public interface: files written, statuses, listing, comparing.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::json;

use crate::*;

fn spec(root: &Path, kind: &str, name: Option<&str>) -> RunSpec {
    RunSpec { kind: kind.into(), name: name.map(str::to_string), root: root.to_path_buf(), dir: None }
}

fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_run_writes_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let mut run = LocalTracker.start_run(spec(&root, "train", Some("baseline"))).unwrap();
    let dir = run.dir().to_path_buf();
    assert_eq!(dir.parent().unwrap(), root);
    assert_eq!(dir.file_name().unwrap().to_str().unwrap(), run.id());

    // Id: <yyyymmdd>-<hhmmss>-<kind>-<4 hex>.
    let parts: Vec<&str> = run.id().split('-').collect();
    assert_eq!(parts.len(), 4, "{}", run.id());
    assert!(parts[0].len() == 8 && parts[0].chars().all(|c| c.is_ascii_digit()), "{}", run.id());
    assert!(parts[1].len() == 6 && parts[1].chars().all(|c| c.is_ascii_digit()), "{}", run.id());
    assert_eq!(parts[2], "train");
    assert!(parts[3].len() == 4 && parts[3].chars().all(|c| c.is_ascii_hexdigit()), "{}", run.id());

    run.log_config_yaml("seed: 42\ndata:\n  max_samples: 100\n").unwrap();
    run.log_params(&json!({"seed": 42, "experiment": {"linear": {"epochs": 5, "l2": 0.0}}, "tags": ["a"]}))
        .unwrap();
    run.log_params(&json!({"experiment": {"linear": {"epochs": 6}}, "data": {"max_samples": null}})).unwrap();
    run.log_metrics(Some(1), &metrics(&[("train_loss", 1.5), ("valid_accuracy", 0.5)])).unwrap();
    run.log_metrics(Some(2), &metrics(&[("train_loss", 1.0), ("valid_accuracy", 0.625)])).unwrap();
    run.log_metrics(None, &metrics(&[("accuracy", 0.75)])).unwrap();
    run.log_timing("fit", 1.25).unwrap();
    run.log_timing("fit", 0.75).unwrap();
    run.log_timing("data", 0.5).unwrap();
    run.set_data_fingerprint("abc123");
    run.set_tag("purpose", "test");
    assert_eq!(run.artifact_dir(), dir.join("artifacts"));
    assert!(run.artifact_dir().is_dir());
    fs::write(run.artifact_dir().join("model.bin"), b"weights").unwrap();
    let record = run.finish(RunStatus::Finished).unwrap();

    // run.json holds the final record.
    let on_disk = read_run(&dir).unwrap();
    assert_eq!(on_disk, record);
    assert_eq!(record.status, RunStatus::Finished);
    assert_eq!(record.kind, "train");
    assert_eq!(record.name.as_deref(), Some("baseline"));
    assert!(record.finished_at.unwrap() >= record.started_at);
    assert!(record.duration_s().unwrap() >= 0.0);
    assert_eq!(record.data_fingerprint.as_deref(), Some("abc123"));
    assert_eq!(record.tags["purpose"], "test");
    assert_eq!(record.timings, BTreeMap::from([("data".to_string(), 0.5), ("fit".to_string(), 2.0)]));
    assert_eq!(
        record.metrics,
        metrics(&[("accuracy", 0.75), ("train_loss", 1.0), ("valid_accuracy", 0.625)])
    );
    assert_eq!(record.atlas_version, env!("CARGO_PKG_VERSION"));
    assert!(record.host.cores >= 1);
    let raw = read_json(&dir.join(RUN_FILE));
    assert_eq!(raw["status"], "finished");
    assert_eq!(raw["format_version"], RUN_FORMAT_VERSION);
    assert!(raw["started_at"].as_str().unwrap().ends_with('Z'), "{}", raw["started_at"]);
    assert!(raw.get("git").is_some(), "git is recorded, as null when unavailable");
    assert!(raw.get("dir").is_none(), "the folder is not stored, so runs can be moved");

    // params.json: flat, merged, later calls win.
    let params = read_json(&dir.join(PARAMS_FILE));
    assert_eq!(
        params,
        json!({"seed": 42, "experiment.linear.epochs": 6, "experiment.linear.l2": 0.0, "tags": ["a"],
               "data.max_samples": null})
    );
    assert_eq!(serde_json::to_value(&record.params).unwrap(), params);

    assert_eq!(fs::read_to_string(dir.join(CONFIG_FILE)).unwrap(), "seed: 42\ndata:\n  max_samples: 100\n");
    assert_eq!(fs::read(dir.join("artifacts/model.bin")).unwrap(), b"weights");

    // metrics.jsonl: one line per call, time and step first.
    let text = fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with(r#"{"time":""#) && lines[0].contains(r#"Z","step":1,"#), "{}", lines[0]);
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["step"], 1);
    assert_eq!(first["train_loss"], 1.5);
    assert_eq!(first["valid_accuracy"], 0.5);
    let last: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(last["step"], serde_json::Value::Null);
    assert_eq!(last["accuracy"], 0.75);
    let parsed = read_metrics_log(&dir.join(METRICS_FILE)).unwrap();
    assert_eq!(parsed[1].step, Some(2));
    assert_eq!(parsed[1].values, metrics(&[("train_loss", 1.0), ("valid_accuracy", 0.625)]));
    assert!(parsed[1].time.is_some());
}

#[test]
fn status_transitions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();

    // Started: running, no end time.
    let run = LocalTracker.start_run(spec(root, "train", None)).unwrap();
    let dir = run.dir().to_path_buf();
    let started = read_run(&dir).unwrap();
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.finished_at, None);
    assert_eq!(started.duration_s(), None);
    let done = run.finish(RunStatus::Failed).unwrap();
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(read_run(&dir).unwrap().status, RunStatus::Failed);
    assert!(read_run(&dir).unwrap().finished_at.is_some());

    // Dropped without finish (an early return or a panic): failed.
    let run = LocalTracker.start_run(spec(root, "evaluate", None)).unwrap();
    let dir = run.dir().to_path_buf();
    drop(run);
    assert_eq!(read_run(&dir).unwrap().status, RunStatus::Failed);

    // Finishing as "running" makes no sense.
    let run = LocalTracker.start_run(spec(root, "train", None)).unwrap();
    let err = run.finish(RunStatus::Running).unwrap_err();
    assert!(err.to_string().contains("finished"), "{err}");
}

#[test]
fn a_crashed_run_stays_running_and_keeps_what_it_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut run = LocalTracker.start_run(spec(tmp.path(), "train", None)).unwrap();
    run.log_params(&json!({"lr": 0.5})).unwrap();
    run.log_metrics(Some(1), &metrics(&[("train_loss", 2.0)])).unwrap();
    run.log_metrics(Some(2), &metrics(&[("train_loss", 1.5)])).unwrap();
    let dir = run.dir().to_path_buf();
    // A killed process runs no destructor: forgetting the run is the same as far as the disk is concerned.
    std::mem::forget(run);
    // The process died in the middle of a line.
    let mut text = fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    text.push_str(r#"{"time":"2025-01-01T00:00:00.000Z","st"#);
    fs::write(dir.join(METRICS_FILE), text).unwrap();

    let runs = list_runs(tmp.path()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Running);
    assert_eq!(runs[0].metrics, metrics(&[("train_loss", 1.5)]), "recovered from metrics.jsonl");
    assert_eq!(runs[0].params["lr"], 0.5);
    assert!(render_runs_table(&runs).contains("running"));
}

#[test]
fn explicit_dir_is_used_exactly_and_reuse_starts_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("deep/nested/my-run");
    let mut s = spec(&tmp.path().join("unused-root"), "train", None);
    s.dir = Some(dir.clone());
    let mut run = LocalTracker.start_run(s.clone()).unwrap();
    assert_eq!(run.dir(), dir);
    assert_eq!(run.id(), "my-run");
    run.log_metrics(Some(1), &metrics(&[("old", 1.0)])).unwrap();
    run.log_params(&json!({"old": true})).unwrap();
    run.finish(RunStatus::Finished).unwrap();
    assert!(!tmp.path().join("unused-root").exists(), "nothing is created under root");

    // The same folder again: a new run, with none of the old run's metrics or params.
    let mut run = LocalTracker.start_run(s).unwrap();
    run.log_metrics(Some(1), &metrics(&[("new", 2.0)])).unwrap();
    let record = run.finish(RunStatus::Finished).unwrap();
    assert_eq!(record.metrics, metrics(&[("new", 2.0)]));
    assert!(!dir.join(PARAMS_FILE).exists());
    assert_eq!(fs::read_to_string(dir.join(METRICS_FILE)).unwrap().lines().count(), 1);
}

#[test]
fn invalid_inputs_are_refused_or_recorded_honestly() {
    let tmp = tempfile::tempdir().unwrap();
    let err = LocalTracker.start_run(spec(tmp.path(), "train/../x", None)).err().unwrap();
    assert!(err.to_string().contains("run kind"), "{err}");

    let mut run = LocalTracker.start_run(spec(tmp.path(), "train", None)).unwrap();
    assert!(run.log_params(&json!([1, 2])).unwrap_err().to_string().contains("JSON object"));
    assert!(run.log_metrics(None, &metrics(&[("step", 1.0)])).is_err());
    assert!(run.log_config_yaml("a: [unclosed").is_err());

    // A NaN loss is logged as null and is not a final value.
    run.log_metrics(Some(1), &metrics(&[("loss", 1.0)])).unwrap();
    run.log_metrics(Some(2), &metrics(&[("loss", f64::NAN), ("acc", 0.5)])).unwrap();
    run.log_timing("fit", f64::INFINITY).unwrap();
    let dir = run.dir().to_path_buf();
    let record = run.finish(RunStatus::Finished).unwrap();
    assert_eq!(record.metrics, metrics(&[("acc", 0.5)]));
    assert!(record.timings.is_empty());
    let text = fs::read_to_string(dir.join(METRICS_FILE)).unwrap();
    assert!(text.lines().nth(1).unwrap().contains(r#""loss":null"#), "{text}");
    assert_eq!(read_run(&dir).unwrap(), record, "run.json stays valid JSON");
}

/// Two finished runs with known metrics and params, plus folders that are not runs.
fn populated_root() -> (tempfile::TempDir, RunRecord, RunRecord) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut a = LocalTracker.start_run(spec(root, "train", Some("small"))).unwrap();
    a.log_params(&json!({"epochs": 5, "lr": 0.5, "data": "mini"})).unwrap();
    a.log_metrics(None, &metrics(&[("accuracy", 0.5), ("macro_f1", 0.25), ("train_loss", 1.0)])).unwrap();
    a.log_timing("fit", 10.0).unwrap();
    let a = a.finish(RunStatus::Finished).unwrap();
    let mut b = LocalTracker.start_run(spec(root, "evaluate", Some("big"))).unwrap();
    b.log_params(&json!({"epochs": 20, "lr": 0.5, "data": "arxiv100k"})).unwrap();
    b.log_metrics(None, &metrics(&[("accuracy", 0.75), ("macro_f1", 0.5)])).unwrap();
    b.log_timing("fit", 40.0).unwrap();
    let b = b.finish(RunStatus::Failed).unwrap();
    fs::create_dir_all(root.join("not-a-run/artifacts")).unwrap();
    fs::create_dir_all(root.join("broken")).unwrap();
    fs::write(root.join("broken").join(RUN_FILE), b"{ half a record").unwrap();
    fs::write(root.join("README.txt"), b"notes").unwrap();
    (tmp, a, b)
}

#[test]
fn list_skips_non_runs_and_renders_a_table() {
    let (tmp, a, b) = populated_root();
    let runs = list_runs(tmp.path()).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [a.id.as_str(), b.id.as_str()], "oldest first, non-runs skipped");
    assert_eq!(runs[0].dir, a.dir);

    let table = render_runs_table(&runs);
    for needle in
        [&a.id, &b.id, "small", "big", "finished", "failed", "accuracy", "macro_f1", "0.7500", "0.2500"]
    {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    assert!(!table.contains("train_loss"), "only key metrics are columns\n{table}");
    // The accuracy column comes before macro_f1.
    let header = table.lines().find(|l| l.contains("accuracy")).unwrap();
    assert!(header.find("accuracy").unwrap() < header.find("macro_f1").unwrap(), "{header}");

    assert!(list_runs(&tmp.path().join("missing")).unwrap().is_empty());
}

#[test]
fn compare_shows_metrics_deltas_and_differing_params() {
    let (_tmp, a, b) = populated_root();
    let out = compare_runs(&a, &b);
    // The row whose first cell is `name`.
    let row = |name: &str| {
        let first_cell =
            |l: &str| l.split('┆').next().unwrap_or_default().trim_start_matches('│').trim().to_string();
        out.lines().find(|l| first_cell(l) == name).unwrap_or_default().to_string()
    };
    let acc = row("accuracy");
    assert!(acc.contains("0.5000") && acc.contains("0.7500") && acc.contains("+0.2500"), "{out}");
    let loss = row("train_loss");
    assert!(loss.contains('1') && loss.contains('-'), "metrics of one run only are shown too:\n{out}");
    let epochs = row("epochs");
    assert!(epochs.contains('5') && epochs.contains("20") && epochs.contains("+15"), "{out}");
    assert!(row("data").contains("arxiv100k"), "{out}");
    assert!(out.contains("params (2 differ, 1 equal not shown)"), "{out}");
    assert!(!out.contains(" lr "), "equal params are hidden by default:\n{out}");
    let fit = row("fit");
    assert!(fit.contains("10") && fit.contains("40") && fit.contains("+30"), "{out}");
    assert!(out.contains("finished") && out.contains("failed"), "{out}");

    let all = compare_runs_with(&a, &b, CompareOptions { all_params: true });
    assert!(all.contains(" lr ") && all.contains("params (3)"), "{all}");
}

#[test]
fn open_by_path_id_or_unique_part() {
    let (tmp, a, b) = populated_root();
    let root = tmp.path();
    assert_eq!(open_run(a.dir.to_str().unwrap(), Path::new("/nonexistent")).unwrap().id, a.id);
    assert_eq!(open_run(&a.id, root).unwrap().id, a.id);
    let suffix = b.id.rsplit('-').next().unwrap();
    if !a.id.contains(suffix) {
        assert_eq!(open_run(&format!("evaluate-{suffix}"), root).unwrap().id, b.id);
    }
    let err = open_run("-", root).unwrap_err().to_string();
    assert!(err.contains("ambiguous") && err.contains(&a.id) && err.contains(&b.id), "{err}");
    let err = open_run("nothing-like-it", root).unwrap_err();
    assert!(matches!(err, TrackError::RunNotFound { ref candidates, .. } if candidates.is_empty()), "{err}");
    let err = open_run(root.join("not-a-run").to_str().unwrap(), root).unwrap_err();
    assert!(matches!(err, TrackError::NotARun { .. }), "{err}");
}
