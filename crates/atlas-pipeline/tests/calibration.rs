//! Calibration and conformal sets on the real `arxiv-mini` papers of the data kit (skipped without it, a
//! failure where `ATLAS_REQUIRE_DATA=1`): train calibrates the model from the validation split only, the
//! temperature lowers the log loss of its fitting half, conformal sets cover held-out test papers near the
//! target, and a model without a calibration still loads and can be calibrated afterwards.

use std::path::Path;

use atlas_config::{load, ConfigSource};
use atlas_corpus::Split;
use atlas_model::{LoadOptions, LoadedModel, PredictorError, CALIBRATION_FILE};
use atlas_pipeline::{calibrate_model, classify_papers, evaluate, train, EvaluateRequest};

fn config(tmp: &Path, input: &Path) -> atlas_config::ResolvedConfig {
    let args = [
        "experiment=tfidf_linear".to_string(),
        "data=mini".to_string(),
        format!("data.input={}", input.display()),
        format!("data.cache_dir={}", tmp.join("cache").display()),
        format!("run.root={}", tmp.join("runs").display()),
        format!("run.dir={}", tmp.join("runs/train").display()),
    ];
    load(&ConfigSource::Embedded, &args, &[]).unwrap()
}

/// Drops `calibration.json` from a model folder's manifest and disk: the folder of a model trained before
/// calibration existed.
fn uncalibrate(model_dir: &Path) {
    let kind = atlas_artifact::Manifest::peek_kind(model_dir, "model").unwrap();
    let mut m = atlas_artifact::Manifest::open(model_dir, &kind, u32::MAX).unwrap();
    assert!(m.files.remove(CALIBRATION_FILE).is_some(), "train wrote no calibration");
    m.write(model_dir).unwrap();
    std::fs::remove_file(model_dir.join(CALIBRATION_FILE)).unwrap();
}

#[test]
fn calibration_and_conformal_sets_on_arxiv_mini() {
    let test = "calibration_and_conformal_sets_on_arxiv_mini";
    let Some(input) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let resolved = config(tmp.path(), &input);
    let trained = train(&resolved).unwrap();
    let m = &trained.metrics;
    // Fitted on the temperature half of validation: the NLL-optimal temperature lowers that half's log loss.
    assert!(m["calibration_nll_after"] < m["calibration_nll_before"], "{m:?}");
    assert!(m["calibration_temperature"] != 1.0);
    let model = LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap();
    let cal = model.calibration.clone().expect("train calibrates every model");
    let conformal = cal.conformal.as_ref().expect("conformal half");
    // The two halves split the labelled validation papers between them.
    let ds = atlas_pipeline::prepare_dataset(&resolved.config.data).unwrap();
    let n_valid = ds.read(Split::Validation).unwrap().len();
    assert!(cal.n_temperature + conformal.n() <= n_valid);
    assert!(
        cal.n_temperature > n_valid / 3 && conformal.n() > n_valid / 3,
        "{} {}",
        cal.n_temperature,
        conformal.n()
    );

    // Coverage on the test split (never seen by train or the calibration). With n_c ≈ 250 conformal papers
    // and n_t ≈ 500 test papers the empirical coverage has sd ≈ √(α(1-α)(1/n_c + 1/n_t)) ≈ 0.023 at α = 0.1
    // and 0.031 at α = 0.2; the tolerance is 3 sd, and the upper side adds 1/(n_c+1).
    for (target, tol) in [(0.8, 0.095), (0.9, 0.07)] {
        let outcome = evaluate(&EvaluateRequest {
            model: trained.run_dir.clone(),
            input: ds.dir().to_path_buf(),
            splits: vec![Split::Test],
            run_dir: Some(tmp.path().join(format!("runs/eval-{target}"))),
            runs_root: tmp.path().join("runs"),
            multilabel_threshold: 0.2,
            coverage: Some(target),
        })
        .unwrap();
        let cov = outcome.coverage.as_ref().unwrap();
        let hi = target + tol + 1.0 / (conformal.n() as f64 + 1.0);
        assert!(cov.coverage >= target - tol && cov.coverage <= hi, "coverage {} at {target}", cov.coverage);
        assert!(cov.mean_set_size >= 1.0);
        let summary = outcome.summary();
        for key in
            ["coverage", "mean_set_size", "ece_before", "ece_after", "log_loss_before", "log_loss_after"]
        {
            assert!(summary[key].is_number(), "{key} missing from {summary}");
        }
        for f in ["reliability.png", "calibration.json", "coverage.json", "coverage_per_class.csv"] {
            assert!(outcome.run_dir.join("artifacts").join(f).is_file(), "{f}");
        }
    }

    // Sets are never empty and start with the top-1 category.
    let papers = ds.read(Split::Test).unwrap();
    let answers = classify_papers(&model, &papers[..50], 3, Some(0.9), false).unwrap();
    for a in &answers {
        let set = a.category_set.as_ref().unwrap();
        assert!(!set.is_empty());
        assert_eq!(set[0].category, a.category);
    }

    // A model without calibration loads (temperature 1, no sets) and `calibrate` restores the same one.
    let model_dir = model.dir.clone();
    uncalibrate(&model_dir);
    let old = LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap();
    assert!(old.calibration.is_none());
    assert_eq!(old.temperature(), 1.0);
    let err = classify_papers(&old, &papers[..1], 3, Some(0.9), false).unwrap_err().to_string();
    assert!(err.contains("arxiv-atlas calibrate"), "{err}");
    assert!(matches!(
        old.category_sets(&old.predict_papers(papers[..1].iter()).unwrap(), 0.9),
        Err(PredictorError::NotCalibrated { .. })
    ));
    let redone = calibrate_model(&trained.run_dir, ds.dir(), None).unwrap();
    // Deterministic, on the same halves (compared to 1e-12: serde_json's float parsing is not bit-exact).
    let (a, b) = (&redone.calibration, &cal);
    assert_eq!(
        (a.n_temperature, a.conformal.as_ref().map(|c| (c.n(), c.score))),
        (b.n_temperature, Some((conformal.n(), conformal.score)))
    );
    assert!((a.temperature - b.temperature).abs() < 1e-12);
    let redone_scores = &a.conformal.as_ref().unwrap().scores;
    assert!(redone_scores.iter().zip(&conformal.scores).all(|(x, y)| (x - y).abs() < 1e-12));
    assert!(LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap().calibration.is_some());
}
