//! The multi-label model on the real `arxiv-mini` papers of the data kit (skipped without it, a failure where
//! `ATLAS_REQUIRE_DATA=1`): `experiment=tfidf_multilabel` trains one-vs-rest over all of a paper's categories,
//! saves per-class thresholds chosen on the validation split — and only there: rewriting every test paper
//! leaves them bit-identical, while rewriting validation papers moves them — and `evaluate` / `classify`
//! use them.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use atlas_config::{load, ConfigSource};
use atlas_corpus::Split;
use atlas_model::{LabelThresholds, LoadOptions, LoadedModel};
use atlas_pipeline::{classify_papers, evaluate, train, EvaluateRequest};

fn train_multilabel(tmp: &Path, input: &Path, name: &str) -> (PathBuf, LabelThresholds) {
    let args = [
        "experiment=tfidf_multilabel".to_string(),
        "data=mini".to_string(),
        format!("data.input={}", input.display()),
        format!("data.cache_dir={}", tmp.join("cache").display()),
        format!("run.root={}", tmp.join("runs").display()),
        format!("run.dir={}", tmp.join("runs").join(name).display()),
    ];
    let resolved = load(&ConfigSource::Embedded, &args, &[]).unwrap();
    let trained = train(&resolved).unwrap();
    let model = LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap();
    assert_eq!(model.predictor.kind(), "arxiv-atlas/tfidf-multilabel");
    assert!(model.calibration.is_none(), "independent sigmoids get no temperature");
    let thresholds = model.thresholds.clone().expect("train saves the thresholds of a multi-label model");
    (trained.run_dir, thresholds)
}

/// A copy of the JSON-lines `input` with the `categories` of every paper of `split` replaced by `cs.CL`
/// (their texts unchanged).
fn relabel_split(input: &Path, out: &Path, split: Split) -> usize {
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(std::fs::File::open(input).unwrap()));
    let mut w = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let mut changed = 0;
    for line in reader.lines() {
        let line = line.unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if atlas_corpus::split_of(v["id"].as_str().unwrap()) == split {
            v["categories"] = "cs.CL".into();
            changed += 1;
        }
        writeln!(w, "{v}").unwrap();
    }
    w.flush().unwrap();
    changed
}

#[test]
fn thresholds_come_from_validation_only_and_serve_label_sets() {
    let test = "thresholds_come_from_validation_only_and_serve_label_sets";
    let Some(input) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (run, original) = train_multilabel(tmp.path(), &input, "original");
    let model = LoadedModel::open(&run, &LoadOptions::default()).unwrap();
    assert_eq!(original.thresholds.len(), model.predictor.labels().len());
    assert!(original.n_papers > 100, "{original:?}");
    // Tuned thresholds differ from class to class (one global value would be a bug in the fit).
    let tuned: Vec<f32> =
        original.thresholds.iter().copied().filter(|&t| t != atlas_calibrate::DEFAULT_THRESHOLD).collect();
    assert!(tuned.len() > 10 && tuned.iter().any(|&t| t != tuned[0]), "{:?}", original.thresholds);

    // Every test paper relabelled: the model and its thresholds are exactly the same.
    let test_changed = tmp.path().join("test-changed.jsonl");
    assert!(relabel_split(&input, &test_changed, Split::Test) > 100);
    let (_, after_test_change) = train_multilabel(tmp.path(), &test_changed, "test-changed");
    assert_eq!(after_test_change, original, "thresholds moved when only the test split changed");
    // Every validation paper relabelled: the thresholds move (so the check above could fail).
    let valid_changed = tmp.path().join("valid-changed.jsonl");
    assert!(relabel_split(&input, &valid_changed, Split::Validation) > 100);
    let (_, after_valid_change) = train_multilabel(tmp.path(), &valid_changed, "valid-changed");
    assert_ne!(after_valid_change.thresholds, original.thresholds);

    // evaluate scores the label sets of those thresholds against all categories.
    let outcome = evaluate(&EvaluateRequest {
        model: run.clone(),
        input: input.clone(),
        splits: vec![Split::Test],
        run_dir: Some(tmp.path().join("runs/eval")),
        runs_root: tmp.path().join("runs"),
        multilabel_threshold: 0.2,
        coverage: None,
    })
    .unwrap();
    let m = &outcome.report.multilabel;
    assert!(m.per_class_thresholds);
    assert!(m.micro_f1 > 0.3 && m.map > 0.3 && m.lrap > 0.5, "{m:?}");
    assert!(m.mean_true_labels > 1.0, "arxiv-mini papers have cross-lists: {}", m.mean_true_labels);

    // classify returns each paper's label set, led by its top category.
    let papers = atlas_pipeline::read_splits(&input, &[Split::Test]).unwrap();
    let out = classify_papers(&model, &papers[..20], 3, None, true).unwrap();
    for c in &out {
        let set = c.label_set.as_ref().expect("a multi-label model answers a label set");
        assert_eq!(set[0].category, c.category);
        assert!(set.windows(2).all(|w| w[0].probability >= w[1].probability));
    }
    assert!(out.iter().any(|c| c.label_set.as_ref().unwrap().len() > 1), "no paper got two labels");
}
