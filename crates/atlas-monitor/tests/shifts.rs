//! The monitor on real shifts of the data kit: quiet on random splits and windows of the same corpus, loud on
//! newer papers and on synthetic shifts — each caught by the test that should catch it.
//!
//! A TF-IDF model is trained on arxiv-mini's training split (default settings, as `train data=mini`), its
//! reference profile built from arxiv-mini's validation split. Windows of "the same" data come from the test
//! split of arxiv-100k, which arxiv-mini is a subset of with the same id-hash split, so no window paper was
//! seen in training.

use std::collections::HashMap;
use std::sync::OnceLock;

use atlas_classify::{Labels, LinearParams, TfidfLinearModel, TfidfParams};
use atlas_corpus::{Paper, Split};
use atlas_model::{LoadOptions, LoadedModel, PipelineMeta};
use atlas_monitor::synthetic::{cut_abstracts, one_archive, random_window};
use atlas_monitor::{drift, DriftReport, MonitorParams, PredictionSource, ReferenceProfile, Window};

struct Kit {
    _dir: tempfile::TempDir,
    model: LoadedModel,
    profile: ReferenceProfile,
    mini_test: Vec<Paper>,
    big_test: Vec<Paper>,
}

fn papers(rel: &str, split: Option<Split>) -> Option<Vec<Paper>> {
    let path = atlas_testkit::shared_file("atlas-monitor shifts", rel)?;
    Some(atlas_corpus::load_papers(&path, split).expect("reading the data kit").0)
}

/// The model, its profile and the unseen papers; `None` (skip) without the data kit.
fn kit() -> Option<&'static Kit> {
    static KIT: OnceLock<Option<Kit>> = OnceLock::new();
    KIT.get_or_init(|| {
        let train = papers("data/arxiv-mini.jsonl.gz", Some(Split::Train))?;
        let valid = papers("data/arxiv-mini.jsonl.gz", Some(Split::Validation))?;
        let mini_test = papers("data/arxiv-mini.jsonl.gz", Some(Split::Test))?;
        let big_test = papers("data/arxiv-100k.jsonl.gz", Some(Split::Test))?;
        let mut codes: Vec<String> = train.iter().map(|p| p.primary().to_string()).collect();
        codes.sort_unstable();
        codes.dedup();
        let index: HashMap<&str, u32> =
            codes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let template = atlas_corpus::TextTemplate::default();
        let texts: Vec<String> = train.iter().map(|p| p.text(&template)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let y: Vec<u32> = train.iter().map(|p| index[p.primary()]).collect();
        let labels = Labels { names: codes.clone(), codes };
        let (model, _) = TfidfLinearModel::train(
            &refs,
            &y,
            None,
            labels,
            &TfidfParams::default(),
            &LinearParams::default(),
            &mut |_| {},
        )
        .expect("training");
        let dir = tempfile::tempdir().expect("tempdir");
        model.save(dir.path()).expect("saving");
        let meta = PipelineMeta { template, experiment: "tfidf_linear".into(), run_id: "mini".into() };
        atlas_model::write_pipeline_meta(dir.path(), &meta).expect("pipeline.json");
        let model = LoadedModel::open(dir.path(), &LoadOptions::default()).expect("opening");
        let window = Window::from_papers(&model, &valid, "arxiv-mini validation");
        let profile = ReferenceProfile::build(&model, &window, &MonitorParams::default()).expect("profile");
        profile.save(dir.path()).expect("saving the profile");
        Some(Kit { _dir: dir, model, profile, mini_test, big_test })
    })
    .as_ref()
}

fn report(kit: &Kit, papers: &[Paper], what: &str) -> DriftReport {
    let window = Window::from_papers(&kit.model, papers, what);
    drift(&kit.model, &kit.profile, &window, &MonitorParams::default()).expect("drift report")
}

fn flagged(r: &DriftReport, feature: &str, method: &str) -> bool {
    r.tests.iter().any(|t| t.feature == feature && t.method == method && t.drift)
}

#[test]
fn the_saved_profile_reads_back_and_a_modified_one_is_refused() {
    let Some(kit) = kit() else { return };
    let loaded = ReferenceProfile::load(&kit.model.dir).unwrap().expect("a saved profile");
    // Everything but the last bit of a float survives JSON (serde_json parses without exact round trips).
    assert!(loaded.n == kit.profile.n && loaded.texts == kit.profile.texts);
    assert!(loaded.categorical == kit.profile.categorical && loaded.vocabulary == kit.profile.vocabulary);
    for (feature, values) in &kit.profile.numeric {
        let back = &loaded.numeric[feature];
        assert!(back.len() == values.len() && back.iter().zip(values).all(|(a, b)| (a - b).abs() < 1e-12));
    }
    assert!(loaded.vocabulary.as_ref().is_some_and(|v| v.words.len() > 10_000));
    // Any edit of the file breaks its checksum.
    let path = kit.model.dir.join(atlas_monitor::PROFILE_FILE);
    let copy = tempfile::tempdir().unwrap();
    for f in ["manifest.json", atlas_monitor::PROFILE_FILE] {
        std::fs::copy(kit.model.dir.join(f), copy.path().join(f)).unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(b" ");
    std::fs::write(copy.path().join(atlas_monitor::PROFILE_FILE), bytes).unwrap();
    let err = ReferenceProfile::load(copy.path()).unwrap_err().to_string();
    assert!(err.contains("SHA-256"), "{err}");
}

#[test]
fn validation_against_test_is_not_drift() {
    let Some(kit) = kit() else { return };
    let r = report(kit, &kit.mini_test, "arxiv-mini test");
    assert!(!r.drift, "false alarm: {:?}", r.drifted);
    assert!(r.tests.iter().all(|t| t.n_current > 0 && t.threshold > 0.0 && !t.method.is_empty()));
}

#[test]
fn random_windows_of_unseen_papers_are_not_drift() {
    let Some(kit) = kit() else { return };
    let alarms: Vec<Vec<String>> = (0..5)
        .map(|seed| report(kit, &random_window(&kit.big_test, 1000, seed), "window").drifted)
        .filter(|d| !d.is_empty())
        .collect();
    assert!(alarms.len() <= 1, "false alarms in 5 windows: {alarms:?}");
}

#[test]
fn papers_of_2025_are_drift_seen_by_text_and_predictions() {
    let Some(kit) = kit() else { return };
    let Some(recent) = papers("data/recent-2025.jsonl.gz", None) else { return };
    let window = random_window(&recent, 1000, 1);
    let r = report(kit, &window, "recent-2025 window");
    assert!(r.drift);
    assert!(flagged(&r, "text", "domain_classifier_auc"), "{:?}", r.drifted);
    assert!(
        flagged(&r, "predicted_category", "jensen_shannon") || flagged(&r, "confidence", "ks"),
        "prediction tests missed it: {:?}",
        r.drifted
    );
}

#[test]
fn one_archive_only_is_caught_by_the_category_tests() {
    let Some(kit) = kit() else { return };
    let math = one_archive(&kit.big_test, "math");
    let r = report(kit, &random_window(&math, 1000, 2), "math only");
    assert!(flagged(&r, "category", "jensen_shannon"), "{:?}", r.drifted);
    assert!(flagged(&r, "predicted_category", "jensen_shannon"), "{:?}", r.drifted);
    let top = &r.categories.iter().find(|c| c.feature == "category").unwrap().category;
    assert!(top.starts_with("math."), "the category that moved most is {top}");
}

#[test]
fn abstracts_cut_to_twenty_words_are_caught_by_the_length_test() {
    let Some(kit) = kit() else { return };
    let cut = cut_abstracts(&random_window(&kit.big_test, 1000, 3), 20);
    let r = report(kit, &cut, "abstracts cut");
    assert!(flagged(&r, "text_words", "ks") && flagged(&r, "text_words", "wasserstein"), "{:?}", r.drifted);
    // The category mix did not change, and the category tests say so.
    assert!(!flagged(&r, "category", "jensen_shannon"), "{:?}", r.drifted);
    let html = atlas_monitor::render_html(&r);
    assert!(html.contains("<svg") && html.contains("text_words") && html.contains("DRIFT"));
}

/// A SQLite request log as atlas-serve writes it, one classify row per text with the given answers.
fn write_log(path: &std::path::Path, texts: &[String], answers: &[(String, f64, String)]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    // atlas-serve's schema (crates/atlas-serve/src/reqlog.rs).
    conn.execute_batch(
        "CREATE TABLE request_log (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, endpoint TEXT NOT NULL,
         text TEXT NOT NULL, text_hash TEXT NOT NULL, prediction TEXT NOT NULL, score REAL NOT NULL,
         result TEXT NOT NULL, latency_ms REAL NOT NULL, model_version TEXT NOT NULL)",
    )
    .unwrap();
    for (text, (category, score, version)) in texts.iter().zip(answers) {
        conn.execute(
            "INSERT INTO request_log (ts, endpoint, text, text_hash, prediction, score, result, latency_ms,
             model_version) VALUES ('2026-01-01T10:00:00.000Z', 'classify', ?1, '', ?2, ?3, '[]', 1, ?4)",
            rusqlite::params![text, category, score, version],
        )
        .unwrap();
    }
}

fn score_of(r: &DriftReport, feature: &str, method: &str) -> f64 {
    r.tests.iter().find(|t| t.feature == feature && t.method == method).expect("the test").score
}

#[test]
fn a_logs_predictions_by_the_loaded_model_are_used_and_others_recomputed() {
    let Some(kit) = kit() else { return };
    let params = MonitorParams::default();
    let papers = random_window(&kit.big_test, 1000, 3);
    let texts = Window::from_papers(&kit.model, &papers, "papers").texts;
    let version = kit.model.version();
    // What the server answered (the same calibrated probabilities `observe` computes) …
    let obs = atlas_monitor::observe(&kit.model, &texts, kit.profile.vocabulary.as_ref()).unwrap();
    let answers: Vec<(String, f64, String)> =
        obs.predicted.iter().zip(&obs.confidence).map(|(c, &p)| (c.clone(), p, version.clone())).collect();
    // … and answers no model of this profile would give: one category, always unsure.
    let odd = |v: &str| -> Vec<(String, f64, String)> {
        texts.iter().map(|_| (obs.predicted[0].clone(), 0.01, v.to_string())).collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let report_of = |name: &str, answers: &[(String, f64, String)]| {
        let path = dir.path().join(name);
        write_log(&path, &texts, answers);
        let window = atlas_monitor::read_request_log(path.to_str().unwrap(), None, None).unwrap();
        drift(&kit.model, &kit.profile, &window, &params).unwrap()
    };
    let recomputed = report(kit, &papers, "papers");
    assert_eq!(recomputed.predictions, PredictionSource::Recomputed);
    assert!(recomputed.predictions_reason.as_deref().is_some_and(|r| r.contains("no logged")));

    // The server's own answers: used, and the same report as predicting again (REAL keeps ~7 digits).
    let logged = report_of("same.sqlite", &answers);
    assert_eq!((logged.predictions, logged.predictions_reason.clone()), (PredictionSource::Logged, None));
    assert_eq!(logged.drifted, recomputed.drifted);
    for (f, m) in [("predicted_category", "jensen_shannon"), ("predicted_category", "chi2")] {
        assert_eq!(score_of(&logged, f, m), score_of(&recomputed, f, m), "{f}/{m}");
    }
    assert!((score_of(&logged, "confidence", "ks") - score_of(&recomputed, "confidence", "ks")).abs() < 0.01);

    // Odd answers stamped with the loaded model's version are what the prediction tests see.
    let forced = report_of("odd.sqlite", &odd(&version));
    assert_eq!(forced.predictions, PredictionSource::Logged);
    for test in ["predicted_category/jensen_shannon", "confidence/ks"] {
        assert!(forced.drifted.iter().any(|d| d == test), "{test} not among {:?}", forced.drifted);
    }
    // The same answers from another model version are not trusted: predicted again, quiet, and said why.
    let other = report_of("other.sqlite", &odd("tfidf_linear@older"));
    assert_eq!(other.predictions, PredictionSource::Recomputed);
    let why = other.predictions_reason.clone().unwrap_or_default();
    assert!(why.contains("another model") && why.contains("tfidf_linear@older"), "{why}");
    assert_eq!(other.drifted, recomputed.drifted);
}
