//! `arxiv-atlas drift` end to end: `train` saves a reference profile, a held-out split is not drift (exit 0),
//! papers of 2025 logged by the server's own request-log writer are (exit 1, JSON and HTML report), a failed
//! check exits 2, and `drift profile` rebuilds the profile from the run's training data.

use std::path::PathBuf;
use std::process::{Command, Output};

fn atlas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(args)
        .current_dir(atlas_testkit::repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .output()
        .expect("the arxiv-atlas binary runs")
}

fn report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| {
        panic!("no JSON on stdout\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    });
    serde_json::from_str(line).expect("valid JSON")
}

#[test]
fn drift_is_quiet_on_held_out_papers_and_loud_on_logged_papers_of_2025() {
    let test = "drift_is_quiet_on_held_out_papers_and_loud_on_logged_papers_of_2025";
    let Some(mini) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let Some(recent) = atlas_testkit::shared_file(test, "data/recent-2025.jsonl.gz") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ds = tmp.path().join("dataset");
    let run = tmp.path().join("run");
    let out = atlas(&["ingest", mini.to_str().unwrap(), "--out", ds.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = atlas(&[
        "train",
        "experiment=tfidf_linear",
        &format!("data.input={}", ds.display()),
        &format!("run.dir={}", run.display()),
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let model: PathBuf = run.join("artifacts/model");
    let manifest = std::fs::read_to_string(model.join("manifest.json")).unwrap();
    assert!(model.join("drift-profile.json").is_file() && manifest.contains("drift-profile.json"));

    // The test split: no drift, exit 0.
    let out = atlas(&[
        "drift",
        "--model",
        run.to_str().unwrap(),
        "--current",
        ds.to_str().unwrap(),
        "--split",
        "test",
        "--json",
    ]);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{}", r["drifted"]);
    assert_eq!(r["drift"], false);
    assert!(r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["method"].is_string() && t["threshold"].is_number()));

    // 300 papers of 2025, written by the server's request-log writer (plus a search, which is not compared).
    let (papers, _) = atlas_corpus::load_papers(&recent, None).unwrap();
    let log_path = tmp.path().join("log.sqlite");
    let log = atlas_serve::RequestLog::open(&atlas_serve::LogTarget::Sqlite(log_path.clone()), 1024).unwrap();
    let template = atlas_corpus::TextTemplate::default();
    for p in papers.iter().take(300) {
        log.record(atlas_serve::LogRecord::new(
            "classify",
            &p.text(&template),
            "cs.LG",
            0.5,
            "[]".into(),
            1.0,
            "v",
        ));
    }
    log.record(atlas_serve::LogRecord::new("search", "2501.00001", "x", 0.9, "[]".into(), 1.0, "v"));
    log.shutdown();
    let html = tmp.path().join("report.html");
    let out = atlas(&[
        "drift",
        "--model",
        run.to_str().unwrap(),
        "--request-log",
        log_path.to_str().unwrap(),
        "--since",
        "2000-01-01",
        "--json",
        "--report",
        html.to_str().unwrap(),
    ]);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1), "drift must exit 1: {r}");
    assert_eq!(r["n_current"], 300);
    let drifted: Vec<&str> = r["drifted"].as_array().unwrap().iter().filter_map(|d| d.as_str()).collect();
    assert!(drifted.contains(&"text/domain_classifier_auc"), "{drifted:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Words that moved most") && !page.contains("<script"));
    // The log's rows name another model version ("v"), so its answers are predicted again, and the table says
    // so and why.
    assert_eq!(r["predictions"], "recomputed", "{r}");
    let out = atlas(&[
        "drift",
        "--model",
        run.to_str().unwrap(),
        "--request-log",
        log_path.to_str().unwrap(),
        "--since",
        "2000-01-01",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("predictions: recomputed (") && text.contains("DRIFT"), "{text}");

    // A broken check is not an alarm: exit 2.
    let out = atlas(&["drift", "--model", run.to_str().unwrap(), "--request-log", "/nonexistent/log.sqlite"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // Rebuilt from the training data recorded in the run folder.
    let out = atlas(&["drift", "profile", "--model", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("validation split"));
}
