//! `arxiv-atlas sweep` end to end on arxiv-mini (skipped without the data kit, a failure where
//! `ATLAS_REQUIRE_DATA=1`): the process is killed once its first trial is saved, and the same command run
//! again resumes — the saved trial is not trained again, the others are — and ranks all of them. A bad
//! search space is refused before anything trains, naming the key.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn atlas() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"));
    c.current_dir(atlas_testkit::repo_root()).env("ARXIV_ATLAS_LOG", "warn");
    c
}

fn finished_trials(state: &Path) -> usize {
    let Ok(raw) = std::fs::read(state) else { return 0 };
    let v: serde_json::Value = serde_json::from_slice(&raw).expect("sweep.json is always whole JSON");
    v["trials"].as_array().unwrap().iter().filter(|t| t["status"] == "finished").count()
}

#[test]
fn a_killed_sweep_resumes_where_it_stopped() {
    let test = "a_killed_sweep_resumes_where_it_stopped";
    let Some(mini) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sweep");
    let args = [
        "sweep".to_string(),
        "experiment=tfidf_linear".to_string(),
        format!("data.input={}", mini.display()),
        format!("data.cache_dir={}", tmp.path().join("cache").display()),
        format!("run.root={}", tmp.path().join("runs").display()),
        "experiment.linear.epochs=2".to_string(),
        "experiment.linear.learning_rate=choice(0.1,0.4)".to_string(),
        "experiment.tfidf.ngram_max=choice(1,2)".to_string(),
        "--dir".to_string(),
        dir.display().to_string(),
    ];

    // Killed (SIGKILL: no chance to clean up) as soon as the first trial is saved.
    let mut child = atlas().args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let state = dir.join("sweep.json");
    let started = Instant::now();
    while finished_trials(&state) == 0 {
        assert!(started.elapsed() < Duration::from_secs(300), "no trial finished in 300 s");
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = finished_trials(&state);
    assert!((1..4).contains(&saved), "{saved} trials finished before the kill");

    let out = atlas().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    // The saved trials are skipped, every other one runs once, with a progress line each.
    assert_eq!(stderr.matches("already Finished").count(), saved, "{stderr}");
    assert_eq!(stderr.matches(": validation_accuracy ").count(), 4 - saved, "{stderr}");
    assert_eq!(finished_trials(&state), 4);
    // The table ranks all four, best first and marked.
    assert!(stdout.contains("best"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let metrics: Vec<f64> =
        v["trials"].as_array().unwrap().iter().map(|t| t["metric"].as_f64().unwrap()).collect();
    let best = metrics.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best_row = stdout.lines().find(|l| l.contains("best")).unwrap();
    assert!(best_row.contains(&format!("{best:.4}")), "{best_row} should show {best:.4}\n{stdout}");
    // One run folder per trial.
    let runs = std::fs::read_dir(tmp.path().join("runs")).unwrap().count();
    assert!(runs >= 4, "{runs} run folders");
}

#[test]
fn a_bad_search_space_names_the_key() {
    for (arg, key) in [
        ("experiment.mlp.lr=choice(1e-3,3e-4)", "experiment.mlp.lr=1e-3"),
        ("experiment.mlp.hidden=choice(256,512", "experiment.mlp.hidden"),
        ("experiment.mlp.hidden=choice(256,many)", "experiment.mlp.hidden=many"),
    ] {
        let out = atlas().args(["sweep", "experiment=embedding_mlp", arg]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(&format!("search space: {key}")), "{arg}: {stderr}");
    }
}
