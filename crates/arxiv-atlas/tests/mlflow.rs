//! The binary with a REAL MLflow server (`scripts/mlflow.sh`, `ARXIV_ATLAS_TEST_MLFLOW_URI`): `train
//! tracker=mlflow` logs and registers, `classify` and `serve` load `models:/` URIs, and a run trained while the
//! server was unreachable is uploaded by `runs push`. Everything is read back through the server's REST API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use atlas_track::mlflow::DEFAULT_TIMEOUT;
use atlas_track::{MlflowClient, PushedRun};
use common::{http, Server};
use serde_json::Value;

const MINI: &str = "data/arxiv-mini.jsonl.gz";
const TITLE: &str = "Surface codes";
const ABSTRACT: &str =
    "We study quantum error correction with surface codes and their decoders on noisy qubits.";

fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

/// The binary from the repository root, with the registry's server and a private model cache.
fn atlas(args: &[&str], uri: &str, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(args)
        .current_dir(repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .env("MLFLOW_TRACKING_URI", uri)
        .env("ARXIV_ATLAS_CACHE_DIR", cache)
        .output()
        .expect("the arxiv-atlas binary runs")
}

fn ok(args: &[&str], uri: &str, cache: &Path) -> Output {
    let out = atlas(args, uri, cache);
    assert!(
        out.status.success(),
        "arxiv-atlas {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn last_json(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("a JSON line on stdout");
    serde_json::from_str(line).expect("valid JSON")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// `train` on 1,500 papers of arxiv-mini, two epochs, with extra overrides.
fn train_args(tmp: &Path, run: &str, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> =
        ["train", "data=mini", "data.max_samples=1500", "experiment.linear.epochs=2", "--json"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.push(format!("data.cache_dir={}", tmp.join("data").display()));
    args.push(format!("run.dir={}", tmp.join(run).display()));
    args.extend(extra.iter().cloned());
    args
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn pairs(list: &Value) -> std::collections::BTreeMap<String, Value> {
    list.as_array()
        .map(|a| a.iter().map(|kv| (kv["key"].as_str().unwrap().to_string(), kv["value"].clone())).collect())
        .unwrap_or_default()
}

#[test]
fn train_logs_to_mlflow_registers_and_serves_a_models_uri() {
    let test = "train_logs_to_mlflow_registers_and_serves_a_models_uri";
    let Some(uri) = atlas_testkit::mlflow_uri(test) else { return };
    if atlas_testkit::shared_file(test, MINI).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (experiment, name) = (unique("e2e-exp"), unique("e2e-model"));
    let extra = [
        "tracker=mlflow".to_string(),
        format!("tracker.uri={uri}"),
        format!("tracker.experiment={experiment}"),
        format!("tracker.register_as={name}"),
        "tracker.alias=champion".to_string(),
    ];
    let trained = last_json(&ok(&refs(&train_args(tmp.path(), "run", &extra)), &uri, &cache));
    let run_dir = tmp.path().join("run");
    let pushed = PushedRun::read(&run_dir).unwrap().expect("train pushed the run");

    // The run on the server: params of the config, every epoch's loss, provenance tags, the model.
    let client = MlflowClient::new(&uri, DEFAULT_TIMEOUT).unwrap();
    let run: Value = client.get("runs/get", &[("run_id", &pushed.run_id)]).unwrap();
    let params = pairs(&run["run"]["data"]["params"]);
    assert_eq!(params["experiment.linear.epochs"], "2", "{params:?}");
    assert_eq!(params["data.max_samples"], "1500", "{params:?}");
    let tags = pairs(&run["run"]["data"]["tags"]);
    let record: Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(tags["atlas.data_fingerprint"], record["data_fingerprint"], "{tags:?}");
    assert!(tags.contains_key("atlas.config_hash"), "{tags:?}");
    let metrics = pairs(&run["run"]["data"]["metrics"]);
    let acc = metrics["validation_accuracy"].as_f64().unwrap();
    assert!((acc - trained["validation_accuracy"].as_f64().unwrap()).abs() < 1e-9, "{metrics:?}");
    let history: Value = client
        .get("metrics/get-history", &[("run_id", &pushed.run_id), ("metric_key", "train_loss")])
        .unwrap();
    let mut steps: Vec<i64> =
        history["metrics"].as_array().unwrap().iter().map(|m| m["step"].as_i64().unwrap_or(0)).collect();
    steps.sort();
    assert_eq!(steps, [1, 2], "one train_loss per epoch: {history}");
    let root = atlas_track::mlflow::proxied_artifact_path(&pushed.artifact_uri).unwrap();
    let model_files: Vec<String> =
        client.list_artifacts(&format!("{root}/model")).unwrap().into_iter().map(|e| e.path).collect();
    assert!(model_files.iter().any(|f| f == "manifest.json"), "{model_files:?}");

    // classify through the registry gives what the local run gives.
    let paper = ["--title", TITLE, "--abstract", ABSTRACT, "--json"];
    let local_run = run_dir.to_str().unwrap();
    let local = last_json(&ok(&[&["classify", "--model", local_run][..], &paper].concat(), &uri, &cache));
    let alias = format!("models:/{name}@champion");
    let remote =
        last_json(&ok(&[&["classify", "--model", alias.as_str()][..], &paper].concat(), &uri, &cache));
    assert_eq!(local, remote);
    assert!(cache.join("models").join(&name).join("1/manifest.json").is_file(), "downloaded into the cache");

    // serve a version URI.
    let port = common::free_port();
    let version = format!("models:/{name}/1");
    let child = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(["serve", "--model", &version, "--no-request-log", "--addr", &format!("127.0.0.1:{port}")])
        .current_dir(repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .env("MLFLOW_TRACKING_URI", &uri)
        .env("ARXIV_ATLAS_CACHE_DIR", &cache)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    common::wait_ready(&mut server, port);
    let body = serde_json::json!({ "title": TITLE, "abstract": ABSTRACT, "top_k": 3 }).to_string();
    let (code, c) = http(port, "POST", "/v1/classify", Some(&body));
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["category"], local["category"], "{c}");

    // A URI the registry does not know: an error that carries the server's message.
    let out = atlas(
        &["classify", "--model", &format!("models:/{name}@nobody"), "--title", "t", "--abstract", "a"],
        &uri,
        &cache,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody") && err.contains(&uri), "{err}");
}

#[test]
fn training_goes_on_without_the_server_and_runs_push_uploads_later() {
    let test = "training_goes_on_without_the_server_and_runs_push_uploads_later";
    let Some(uri) = atlas_testkit::mlflow_uri(test) else { return };
    if atlas_testkit::shared_file(test, MINI).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let experiment = unique("e2e-push");
    let extra = [
        "tracker=mlflow".to_string(),
        "tracker.uri=http://127.0.0.1:1".to_string(),
        format!("tracker.experiment={experiment}"),
    ];
    let out = ok(&refs(&train_args(tmp.path(), "offline", &extra)), &uri, &cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run_dir = tmp.path().join("offline");
    assert!(stderr.contains("unreachable") && stderr.contains("runs push"), "{stderr}");
    assert!(run_dir.join("artifacts/model/manifest.json").is_file());
    assert!(PushedRun::read(&run_dir).unwrap().is_none());

    let run = run_dir.to_str().unwrap();
    let out = ok(&["runs", "push", run, "--tracking-uri", &uri], &uri, &cache);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pushed = PushedRun::read(&run_dir).unwrap().expect("pushed");
    assert_eq!(pushed.experiment, experiment, "the experiment the run was trained for");
    assert!(stdout.contains(&pushed.run_id), "{stdout}");
    let client = MlflowClient::new(&uri, DEFAULT_TIMEOUT).unwrap();
    let got: Value = client.get("runs/get", &[("run_id", &pushed.run_id)]).unwrap();
    assert_eq!(got["run"]["info"]["status"], "FINISHED", "{got}");
    assert!(pairs(&got["run"]["data"]["metrics"]).contains_key("validation_accuracy"), "{got}");

    // Then registered from the command line, and loadable by alias.
    let name = unique("e2e-registered");
    let out = ok(&["runs", "register", run, "--name", &name, "--alias", "champion"], &uri, &cache);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("version 1") && stdout.contains(&format!("models:/{name}@champion")), "{stdout}");
    let alias = format!("models:/{name}@champion");
    let c = last_json(&ok(
        &["classify", "--model", &alias, "--title", TITLE, "--abstract", ABSTRACT, "--json"],
        &uri,
        &cache,
    ));
    assert!(c["category"].is_string(), "{c}");
}
