//! The MLflow tracker, `push_run`, the registry and `models:/` downloads against a REAL MLflow server
//! (`scripts/mlflow.sh`, URI in `ARXIV_ATLAS_TEST_MLFLOW_URI`). What the tests check is read back through the
//! server's REST API, not from the client's own bookkeeping.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use atlas_artifact::Manifest;
use atlas_track::mlflow::{fetch_model, register_run, DEFAULT_TIMEOUT};
use atlas_track::{
    push_run, MlflowClient, MlflowSettings, MlflowTracker, ModelUri, PushedRun, RunSpec, RunStatus, Tracker,
};
use serde_json::{json, Value};

/// A name no other test (or earlier test run against the same server) uses.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn settings(uri: &str, experiment: &str) -> MlflowSettings {
    MlflowSettings {
        uri: uri.to_string(),
        experiment: experiment.to_string(),
        register_as: None,
        alias: None,
        timeout: Duration::from_secs(30),
    }
}

/// A small sealed "model folder" with a nested file, as a trainer writes one.
fn write_model(dir: &Path) {
    Manifest::begin_write(dir).unwrap();
    fs::create_dir_all(dir.join("parts")).unwrap();
    fs::write(dir.join("weights.bin"), (0..=255u8).cycle().take(10_000).collect::<Vec<u8>>()).unwrap();
    fs::write(dir.join("parts/labels with space.json"), br#"["cs.LG","cs.CL"]"#).unwrap();
    Manifest::seal(
        dir,
        "arxiv-atlas/test-model",
        1,
        &["weights.bin", "parts/labels with space.json"],
        &json!({}),
    )
    .unwrap();
}

/// One run, recorded through `tracker`, with epochs, a final metric, a model and a plot.
fn record_run(tracker: &dyn Tracker, root: &Path) -> atlas_track::RunRecord {
    let spec =
        RunSpec { kind: "train".into(), name: Some("mlflow-test".into()), root: root.into(), dir: None };
    let mut run = tracker.start_run(spec).unwrap();
    run.log_config_yaml("seed: 42\nexperiment:\n  linear:\n    epochs: 2\n").unwrap();
    run.log_params(&json!({"seed": 42, "experiment": {"linear": {"epochs": 2}, "name": "tfidf_linear"}}))
        .unwrap();
    run.set_data_fingerprint("fp-1234");
    run.set_tag("purpose", "test");
    for epoch in 1..=2u64 {
        let m = BTreeMap::from([("train_loss".to_string(), 1.0 / epoch as f64)]);
        run.log_metrics(Some(epoch), &m).unwrap();
    }
    run.log_metrics(None, &BTreeMap::from([("validation_accuracy".to_string(), 0.75)])).unwrap();
    run.log_timing("fit", 1.5).unwrap();
    write_model(&run.artifact_dir().join("model"));
    fs::write(run.artifact_dir().join("confusion.png"), b"\x89PNG fake").unwrap();
    run.finish(RunStatus::Finished).unwrap()
}

fn get(client: &MlflowClient, endpoint: &str, query: &[(&str, &str)]) -> Value {
    client.get(endpoint, query).unwrap_or_else(|e| panic!("{endpoint}: {e}"))
}

/// key → value of MLflow's `[{"key": …, "value": …}]` lists.
fn pairs(list: &Value) -> BTreeMap<String, Value> {
    list.as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone())).collect())
        .unwrap_or_default()
}

fn artifact_names(client: &MlflowClient, path: &str) -> Vec<String> {
    client.list_artifacts(path).unwrap().into_iter().map(|e| e.path).collect()
}

#[test]
fn a_run_is_logged_registered_and_served_back_through_models_uris() {
    let Some(uri) =
        atlas_testkit::mlflow_uri("a_run_is_logged_registered_and_served_back_through_models_uris")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (experiment, model_name) = (unique("atlas-test"), unique("atlas-model"));
    let mut s = settings(&uri, &experiment);
    s.register_as = Some(model_name.clone());
    s.alias = Some("champion".into());
    let record = record_run(&MlflowTracker::new(s).unwrap(), &tmp.path().join("runs"));
    let pushed = PushedRun::read(&record.dir).unwrap().expect("the run was pushed (mlflow.json)");
    assert_eq!(pushed.experiment, experiment);

    // The run as the server has it.
    let client = MlflowClient::new(&uri, DEFAULT_TIMEOUT).unwrap();
    let run = get(&client, "runs/get", &[("run_id", &pushed.run_id)])["run"].clone();
    assert_eq!(run["info"]["status"], "FINISHED", "{run}");
    let params = pairs(&run["data"]["params"]);
    assert_eq!(params["experiment.linear.epochs"], "2", "{params:?}");
    assert_eq!(params["experiment.name"], "tfidf_linear", "{params:?}");
    assert_eq!(params["seed"], "42", "{params:?}");
    let tags = pairs(&run["data"]["tags"]);
    assert_eq!(tags["atlas.data_fingerprint"], "fp-1234", "{tags:?}");
    assert_eq!(tags["atlas.run_id"], record.id.as_str(), "{tags:?}");
    assert_eq!(tags["purpose"], "test", "{tags:?}");
    assert_eq!(tags["mlflow.runName"], "mlflow-test", "{tags:?}");
    let config_sha = atlas_artifact::sha256_file(&record.dir.join("config.resolved.yaml")).unwrap().0;
    assert_eq!(tags["atlas.config_hash"], config_sha.as_str(), "{tags:?}");
    if let Some(commit) = record.git.as_ref().and_then(|g| g.commit.clone()) {
        assert_eq!(tags["mlflow.source.git.commit"], commit.as_str(), "{tags:?}");
    }
    let metrics = pairs(&run["data"]["metrics"]);
    assert_eq!(metrics["validation_accuracy"], 0.75, "{metrics:?}");
    assert_eq!(metrics["time_fit_s"], 1.5, "{metrics:?}");
    // Every epoch, with its step.
    let history =
        get(&client, "metrics/get-history", &[("run_id", &pushed.run_id), ("metric_key", "train_loss")]);
    let mut steps: Vec<(i64, f64)> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["step"].as_i64().unwrap_or(0), m["value"].as_f64().unwrap()))
        .collect();
    steps.sort_by_key(|s| s.0);
    assert_eq!(steps, [(1, 1.0), (2, 0.5)], "{history}");
    // Artifacts: the model folder, the plot and the run's own records.
    let root = atlas_track::mlflow::proxied_artifact_path(&pushed.artifact_uri).unwrap();
    let top = artifact_names(&client, &root);
    for name in ["model", "confusion.png", "atlas-run"] {
        assert!(top.iter().any(|p| p == name), "{name} missing from {top:?}");
    }
    let model_files = artifact_names(&client, &format!("{root}/model"));
    for name in ["manifest.json", "weights.bin", "parts"] {
        assert!(model_files.iter().any(|p| p == name), "{name} missing from {model_files:?}");
    }
    let records = artifact_names(&client, &format!("{root}/atlas-run"));
    for name in ["run.json", "params.json", "metrics.jsonl", "config.resolved.yaml"] {
        assert!(records.iter().any(|p| p == name), "{name} missing from {records:?}");
    }

    // Registered as version 1 with the alias.
    let by_alias = get(&client, "registered-models/alias", &[("name", &model_name), ("alias", "champion")]);
    assert_eq!(by_alias["model_version"]["version"], "1", "{by_alias}");
    assert_eq!(by_alias["model_version"]["run_id"], pushed.run_id.as_str(), "{by_alias}");

    // models:/ → the same bytes in the cache, verified; a second resolution reuses the copy.
    let cache = tmp.path().join("cache");
    let alias_uri = ModelUri::parse(&format!("models:/{model_name}@champion")).unwrap().unwrap();
    let fetched = fetch_model(&client, &alias_uri, &cache).unwrap();
    assert_eq!(fetched, cache.join(&model_name).join("1"));
    let local_model = record.dir.join("artifacts/model");
    for f in ["manifest.json", "weights.bin", "parts/labels with space.json"] {
        assert_eq!(fs::read(fetched.join(f)).unwrap(), fs::read(local_model.join(f)).unwrap(), "{f}");
    }
    // A damaged cached copy is noticed and downloaded again.
    fs::write(fetched.join("weights.bin"), b"damaged").unwrap();
    let version_uri = ModelUri::parse(&format!("models:/{model_name}/1")).unwrap().unwrap();
    let again = fetch_model(&client, &version_uri, &cache).unwrap();
    assert_eq!(
        fs::read(again.join("weights.bin")).unwrap(),
        fs::read(local_model.join("weights.bin")).unwrap()
    );

    // `runs register` of the same run: no second upload, a second version, the alias moves.
    let reg =
        register_run(&client, "ignored-because-pushed", &record.dir, &model_name, Some("champion")).unwrap();
    assert_eq!(reg.version, "2");
    let by_alias = get(&client, "registered-models/alias", &[("name", &model_name), ("alias", "champion")]);
    assert_eq!(by_alias["model_version"]["version"], "2", "{by_alias}");
    assert_eq!(PushedRun::read(&record.dir).unwrap().unwrap(), pushed, "not uploaded twice");

    // Unknown aliases are the server's errors, with its message.
    let missing = ModelUri::parse(&format!("models:/{model_name}@nobody")).unwrap().unwrap();
    let err = fetch_model(&client, &missing, &cache).unwrap_err().to_string();
    assert!(err.contains("nobody") && err.contains("registered-models/alias"), "{err}");
}

#[test]
fn an_unreachable_server_keeps_the_run_and_push_uploads_it_later() {
    let Some(uri) =
        atlas_testkit::mlflow_uri("an_unreachable_server_keeps_the_run_and_push_uploads_it_later")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let experiment = unique("atlas-offline");
    // Port 1 on the loopback: connection refused at once.
    let mut down = settings("http://127.0.0.1:1", &experiment);
    down.register_as = Some(unique("never-registered"));
    down.timeout = Duration::from_secs(2);
    let record = record_run(&MlflowTracker::new(down).unwrap(), &tmp.path().join("runs"));
    assert_eq!(record.status, RunStatus::Finished, "training is not failed by the tracker");
    assert!(record.dir.join("artifacts/model/manifest.json").is_file());
    assert!(PushedRun::read(&record.dir).unwrap().is_none(), "nothing was pushed");

    // Later, with the server up: `runs push`.
    let client = MlflowClient::new(&uri, DEFAULT_TIMEOUT).unwrap();
    let pushed = push_run(&client, &experiment, &record.dir).unwrap();
    let run = get(&client, "runs/get", &[("run_id", &pushed.run_id)])["run"].clone();
    assert_eq!(run["info"]["status"], "FINISHED");
    assert_eq!(run["info"]["experiment_id"], pushed.experiment_id.as_str());
    assert_eq!(pairs(&run["data"]["metrics"])["validation_accuracy"], 0.75);
    assert_eq!(run["info"]["start_time"], record.started_at.timestamp_millis(), "the run's own start time");
    // Pushing again does not make a second MLflow run.
    assert_eq!(push_run(&client, &experiment, &record.dir).unwrap(), pushed);
    let exp_id = pushed.experiment_id.as_str();
    let found: Value =
        client.post("runs/search", &json!({ "experiment_ids": [exp_id], "max_results": 10 })).unwrap();
    assert_eq!(found["runs"].as_array().map_or(0, Vec::len), 1, "{found}");
}

#[test]
fn a_model_damaged_after_sealing_is_refused_on_download() {
    let Some(uri) = atlas_testkit::mlflow_uri("a_model_damaged_after_sealing_is_refused_on_download") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let local = atlas_track::LocalTracker;
    let spec = RunSpec { kind: "train".into(), name: None, root: tmp.path().join("runs"), dir: None };
    let run = local.start_run(spec).unwrap();
    let model = run.artifact_dir().join("model");
    write_model(&model);
    // Changed after the manifest was written: the upload carries the damage, the download must refuse it.
    fs::write(model.join("weights.bin"), vec![7u8; 10_000]).unwrap();
    let record = run.finish(RunStatus::Finished).unwrap();
    let client = MlflowClient::new(&uri, DEFAULT_TIMEOUT).unwrap();
    let name = unique("atlas-damaged");
    let reg = register_run(&client, &unique("atlas-damaged-exp"), &record.dir, &name, None).unwrap();
    let cache = tmp.path().join("cache");
    let uri = ModelUri::parse(&format!("models:/{name}/{}", reg.version)).unwrap().unwrap();
    let err = fetch_model(&client, &uri, &cache).unwrap_err().to_string();
    assert!(err.contains("weights.bin") && err.contains("sha256"), "{err}");
    assert!(!cache.join(&name).join(&reg.version).exists(), "nothing unverified is left in the cache");
}
