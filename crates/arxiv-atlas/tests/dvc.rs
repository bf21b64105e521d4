//! The DVC pipeline of the repository root (`dvc.yaml` + `params.yaml`), run by real DVC on a 400-paper slice
//! of arxiv-mini in a throwaway git repository: the first `dvc repro` runs every stage and writes the metrics and
//! plots, the second does nothing, and a changed train parameter reruns exactly `train` and `evaluate`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TEST: &str = "dvc_pipeline_reproduces_then_does_nothing";

fn repo_root() -> PathBuf {
    atlas_testkit::repo_root()
}

/// Runs `dvc ARGS` in `dir` with the binary under test first on `PATH`; returns stdout + stderr.
fn dvc(dvc: &Path, dir: &Path, model_dir: &Path, args: &[&str]) -> String {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_arxiv-atlas")).parent().expect("the binary's folder");
    let path = std::env::join_paths(
        std::iter::once(bin_dir.to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("a PATH");
    let out = Command::new(dvc)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("ARXIV_ATLAS_MODEL_DIR", model_dir)
        // No network beyond 127.0.0.1: no usage reports, no update check.
        .env("DVC_NO_ANALYTICS", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", dvc.display()));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "dvc {args:?} failed ({}):\n{text}", out.status);
    text
}

/// The stages `dvc repro` ran, in order, from its "Running stage 'NAME':" lines.
fn ran(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("Running stage '")?.split_once('\'').map(|(s, _)| s.to_string()))
        .collect()
}

/// `params.yaml` with `old` replaced by `new`, failing if the line the test relies on is gone.
fn edit(text: &str, old: &str, new: &str) -> String {
    assert!(text.contains(old), "params.yaml no longer holds `{old}`: update this test with the pipeline");
    text.replacen(old, new, 1)
}

#[test]
fn dvc_pipeline_reproduces_then_does_nothing() {
    let Some(mini) = atlas_testkit::shared_file(TEST, "data/arxiv-mini.jsonl.gz") else { return };
    let Some(model) = atlas_testkit::shared_dir(TEST, "models/all-MiniLM-L6-v2") else { return };
    let Some(dvc_bin) = atlas_testkit::dvc(TEST) else { return };
    let mini = mini.canonicalize().unwrap();
    let model = model.canonicalize().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let git = Command::new("git").args(["init", "-q"]).current_dir(dir).status().expect("git runs");
    assert!(git.success(), "git init failed");
    std::fs::copy(repo_root().join("dvc.yaml"), dir.join("dvc.yaml")).unwrap();
    let params = std::fs::read_to_string(repo_root().join("params.yaml")).unwrap();
    let params =
        edit(&params, "input: ../shared/data/arxiv-100k.jsonl.gz", &format!("input: {}", mini.display()));
    let params = edit(&params, "limit: all", "limit: 400");
    std::fs::write(dir.join("params.yaml"), &params).unwrap();
    std::fs::create_dir(dir.join("metrics")).unwrap();
    dvc(&dvc_bin, dir, &model, &["init", "-q"]);
    dvc(&dvc_bin, dir, &model, &["config", "core.analytics", "false"]);

    // First run: every stage, in dependency order.
    let first = dvc(&dvc_bin, dir, &model, &["repro"]);
    let stages = ran(&first);
    assert_eq!(stages, ["ingest", "train", "evaluate", "embed", "index", "retrieval"], "{first}");
    let evaluate: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics/evaluate.json")).unwrap()).unwrap();
    assert!(evaluate["accuracy"].as_f64().is_some_and(|a| a > 0.0), "{evaluate}");
    assert!(evaluate["n"].as_u64().is_some_and(|n| n > 0 && n < 400), "test split of the slice: {evaluate}");
    let retrieval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metrics/retrieval.json")).unwrap()).unwrap();
    assert!(retrieval["exact"]["metrics"]["p_at_1"].as_f64().is_some(), "{retrieval}");
    assert!(dir.join("data/pipeline/index").is_dir());

    // `dvc metrics show` and `dvc plots show` read what the stages declared.
    let metrics = dvc(&dvc_bin, dir, &model, &["metrics", "show", "--json"]);
    assert!(metrics.contains("\"accuracy\"") && metrics.contains("p_at_1"), "{metrics}");
    let plots = dvc(&dvc_bin, dir, &model, &["plots", "show", "--json"]);
    assert!(plots.contains("confusion.png") && plots.contains("per_class.csv"), "{plots}");

    // Second run: nothing to do.
    let second = dvc(&dvc_bin, dir, &model, &["repro"]);
    assert!(ran(&second).is_empty(), "a second repro reran stages:\n{second}");
    assert!(second.contains("Data and pipelines are up to date"), "{second}");

    // A train parameter reruns train and what reads its model, and nothing upstream or beside it.
    let params = edit(&params, "experiment.linear.epochs=10", "experiment.linear.epochs=3");
    std::fs::write(dir.join("params.yaml"), params).unwrap();
    let third = dvc(&dvc_bin, dir, &model, &["repro"]);
    assert_eq!(ran(&third), ["train", "evaluate"], "{third}");
}
