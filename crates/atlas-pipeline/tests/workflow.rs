//! The workflows end to end on a small synthetic corpus (no data kit needed): train from a raw file through
//! the config, evaluate on the test split, classify a file, and a failed training run marked as failed.

use std::io::Write;
use std::path::Path;

use atlas_config::{load, ConfigSource};
use atlas_corpus::Split;
use atlas_pipeline::{classify_file, evaluate, train, EvaluateRequest};

/// Two categories with their own words, 400 papers in the Kaggle JSON-lines schema.
fn write_corpus(path: &Path) {
    let words = [
        ["galaxy", "stellar", "cosmic", "halo", "redshift", "telescope"],
        ["network", "gradient", "learning", "training", "attention", "optimiser"],
    ];
    let cats = ["astro-ph", "cs.LG"];
    let mut f = std::fs::File::create(path).unwrap();
    for i in 0..400 {
        let c = i % 2;
        let w = &words[c];
        let title = format!("{} {} study {i}", w[i % 6], w[(i / 2) % 6]);
        let abs = format!(
            "We report {} and {} with {} methods in paper number {i}.",
            w[(i + 1) % 6],
            w[(i + 3) % 6],
            w[(i + 5) % 6]
        );
        let rec = serde_json::json!({"id": format!("2101.{i:05}"), "title": title, "abstract": abs,
            "categories": cats[c], "authors": "A. Author"});
        writeln!(f, "{rec}").unwrap();
    }
}

fn config(tmp: &Path, input: &Path, extra: &[&str]) -> atlas_config::ResolvedConfig {
    let mut args = vec![
        "experiment=tfidf_linear".to_string(),
        format!("data.input={}", input.display()),
        format!("data.cache_dir={}", tmp.join("cache").display()),
        format!("run.root={}", tmp.join("runs").display()),
        format!("run.dir={}", tmp.join("runs/train").display()),
        "experiment.linear.epochs=5".to_string(),
        // The shipped data groups name the data kit's taxonomy; these papers need none.
        "data.taxonomy=null".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    load(&ConfigSource::Embedded, &args, &[]).unwrap()
}

#[test]
fn train_evaluate_classify_on_a_raw_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("papers.jsonl");
    write_corpus(&input);
    let resolved = config(tmp.path(), &input, &[]);
    let trained = train(&resolved).unwrap();
    assert!(trained.metrics["validation_accuracy"] > 0.9, "{:?}", trained.metrics);
    assert!(trained.run_dir.join("artifacts/model/pipeline.json").is_file());

    let ds = atlas_pipeline::prepare_dataset(&resolved.config.data).unwrap();
    let outcome = evaluate(&EvaluateRequest {
        model: trained.run_dir.clone(),
        input: ds.dir().to_path_buf(),
        splits: vec![Split::Test],
        run_dir: Some(tmp.path().join("runs/eval")),
        runs_root: tmp.path().join("runs"),
        multilabel_threshold: 0.2,
        coverage: Some(0.9),
    })
    .unwrap();
    assert!(outcome.report.accuracy > 0.9, "{}", outcome.report.accuracy);
    assert!(trained.run_dir.join("artifacts/model/calibration.json").is_file());
    let cov = outcome.coverage.as_ref().unwrap();
    assert!(cov.coverage >= 0.8 && cov.mean_set_size >= 1.0, "{cov:?}");
    for f in ["report.json", "per_class.csv", "confusion.csv", "confusion.png", "reliability.png"] {
        assert!(outcome.run_dir.join("artifacts").join(f).is_file(), "{f}");
    }

    let model =
        atlas_model::LoadedModel::open(&trained.run_dir, &atlas_model::LoadOptions::default()).unwrap();
    let out = tmp.path().join("pred.jsonl");
    let report = classify_file(&model, &input, &out, 2, Some(0.9)).unwrap();
    assert_eq!(report.papers, 400);
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 400);
    assert_eq!(lines[0]["id"], "2101.00000");
    assert_eq!(lines[0]["category"], "astro-ph");
    assert_eq!(lines[1]["probabilities"].as_array().unwrap().len(), 2);
    assert_eq!(lines[0]["coverage"], 0.9);
    assert_eq!(lines[0]["category_set"][0]["category"], "astro-ph");
}

#[test]
fn a_failed_training_run_is_recorded_as_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("papers.jsonl");
    write_corpus(&input);
    // An embedding experiment whose model folder does not exist fails after the run folder was created.
    let resolved = config(
        tmp.path(),
        &input,
        &[
            "experiment=embedding_lr",
            &format!("experiment.encoder.model_dir={}", tmp.path().join("no-model").display()),
        ],
    );
    let err = train(&resolved).unwrap_err().to_string();
    assert!(err.contains("no-model"), "{err}");
    let record = atlas_track::read_run(&tmp.path().join("runs/train")).unwrap();
    assert_eq!(record.status, atlas_track::RunStatus::Failed);
}
