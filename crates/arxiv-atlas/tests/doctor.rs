//! `arxiv-atlas doctor` as a user runs it, and the "not found" errors that point at it.
//!
//! The bare-machine tests run the binary from an empty temporary folder, so `../shared` is not found, with ONNX
//! Runtime pointed nowhere and the Hugging Face cache empty and offline: what a user outside this project's
//! machines sees on day one. The repository-root tests need the data kit (through `atlas_testkit`, so they fail
//! where `ATLAS_REQUIRE_DATA` is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Variables of the caller that would change the verdict (a model folder, PostgreSQL URLs, an ONNX Runtime).
const CLEARED: &[&str] = &[
    "ARXIV_ATLAS_MODEL_DIR",
    "ARXIV_ATLAS_INDEX",
    "ARXIV_ATLAS_REQUEST_LOG",
    "ARXIV_ATLAS_DATABASE_URL",
    "ARXIV_ATLAS_CONFIG_DIR",
    "HF_HOME",
];

fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

/// The binary in `cwd`, with the variables in [`CLEARED`] removed and `env` set.
fn atlas_in(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"));
    cmd.args(args).current_dir(cwd).env("ARXIV_ATLAS_LOG", "warn");
    for v in CLEARED {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the arxiv-atlas binary runs")
}

/// An empty working directory, and the environment of a machine without ONNX Runtime or a network.
struct Bare {
    dir: tempfile::TempDir,
}

impl Bare {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cwd")).unwrap();
        Self { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        let d = self.dir.path();
        atlas_in(
            &d.join("cwd"),
            args,
            &[
                ("ORT_DYLIB_PATH", &d.join("nowhere/libonnxruntime.so")),
                ("HF_HUB_OFFLINE", Path::new("1")),
                ("HF_HUB_CACHE", &d.join("hf-cache")),
            ],
        )
    }
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn text<'a>(c: &'a serde_json::Value, field: &str) -> &'a str {
    c[field].as_str().unwrap_or_else(|| panic!("{field} is not a string in {c}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn doctor_on_a_bare_machine_says_what_is_missing_and_how_to_get_it() {
    let bare = Bare::new();
    let out = bare.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    assert_eq!(report["ok"], false);

    let ort = check(&report, "onnx-runtime");
    assert_eq!(ort["status"], "missing", "{ort}");
    assert!(text(ort, "found").contains("nowhere/libonnxruntime.so"), "{ort}");
    assert!(text(ort, "fix").contains("bash scripts/setup-onnxruntime.sh"), "{ort}");
    assert_eq!(check(&report, "engine")["status"], "warning");

    let model = check(&report, "model");
    assert_eq!(model["status"], "missing", "{model}");
    assert!(text(model, "found").contains("../shared/models/all-MiniLM-L6-v2 not found"), "{model}");
    for want in ["--model-dir sentence-transformers/all-MiniLM-L6-v2", "HF_HUB_OFFLINE=1", "docs/data.md"] {
        assert!(text(model, "fix").contains(want), "{want:?} not in {model}");
    }
    assert!(text(check(&report, "hf-cache"), "found").contains("not cached; downloads off (HF_HUB_OFFLINE)"));

    let kit = check(&report, "data-kit");
    assert_eq!(kit["status"], "missing", "{kit}");
    for want in
        ["arxiv-metadata-oai-snapshot.json", "kaggle.com/datasets/Cornell-University/arxiv", "docs/data.md"]
    {
        assert!(text(kit, "fix").contains(want), "{want:?} not in {kit}");
    }
    assert_eq!(check(&report, "taxonomy")["status"], "warning");

    // The table says the same, and exits the same way.
    let out = bare.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("MISSING") && table.contains("missing: onnx-runtime, model, data-kit"), "{table}");
}

#[test]
fn not_found_errors_name_the_fix() {
    let bare = Bare::new();
    let fails = |args: &[&str]| {
        let out = bare.run(args);
        assert!(!out.status.success(), "arxiv-atlas {args:?} should fail");
        stderr(&out)
    };

    let err = fails(&["quickstart"]);
    for want in
        ["../shared/data/arxiv-100k.jsonl.gz not found", "Cornell-University/arxiv", "docs/data.md", "doctor"]
    {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }

    let out = bare.dir.path().join("emb");
    let err = fails(&["embed", "--input", "papers.jsonl", "--out", out.to_str().unwrap()]);
    for want in [
        "no model folder",
        "--model-dir sentence-transformers/all-MiniLM-L6-v2",
        "HF_HUB_OFFLINE=1",
        "doctor",
    ] {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }

    let err = fails(&["train"]);
    assert!(err.contains("data.input: no such file or folder") && err.contains("docs/data.md"), "{err}");
}

#[test]
fn doctor_at_the_repository_root_finds_the_kit() {
    let test = "doctor_at_the_repository_root_finds_the_kit";
    for f in ["data/arxiv-100k.jsonl.gz", "data/arxiv-mini.jsonl.gz", "data/taxonomy.tsv"] {
        let Some(_) = atlas_testkit::shared_file(test, f) else { return };
    }
    let Some(_) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let out = atlas_in(&repo_root(), &["doctor", "--json"], &[]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object on stdout");
    for name in ["model", "int8-graph", "data-kit", "taxonomy", "cpu"] {
        assert_eq!(check(&report, name)["status"], "ok", "{}", check(&report, name));
    }
    assert!(text(check(&report, "taxonomy"), "found").contains("176 category codes"));
    // With ONNX Runtime installed (as the test script does), nothing is missing and the exit code says so.
    if atlas_encoder::encoder::onnx_runtime_available() {
        assert_eq!(check(&report, "onnx-runtime")["status"], "ok");
        assert_eq!((out.status.code(), &report["ok"]), (Some(0), &serde_json::json!(true)), "{report}");
    } else {
        assert_eq!(check(&report, "onnx-runtime")["status"], "missing");
        assert_eq!(out.status.code(), Some(1));
    }
}

#[test]
fn auto_falling_back_to_candle_warns_and_names_doctor() {
    let test = "auto_falling_back_to_candle_warns_and_names_doctor";
    let Some(_) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The encoder loads (on candle: ONNX Runtime is pointed nowhere) before the missing input stops the command.
    let out = atlas_in(
        &repo_root(),
        &[
            "embed",
            "--input",
            tmp.path().join("none.jsonl").to_str().unwrap(),
            "--out",
            tmp.path().join("emb").to_str().unwrap(),
        ],
        &[("ORT_DYLIB_PATH", &tmp.path().join("nowhere/libonnxruntime.so"))],
    );
    let err = stderr(&out);
    for want in ["falls back to candle", "bash scripts/setup-onnxruntime.sh", "arxiv-atlas doctor"] {
        assert!(err.contains(want), "{want:?} not in: {err}");
    }
}
