//! `experiment=ensemble` on the real `arxiv-mini` papers and MiniLM model of the data kit (skipped without
//! them, a failure where `ATLAS_REQUIRE_DATA=1`): the stacked model beats each of its three parts (TF-IDF,
//! embedding MLP, nearest-neighbour votes) on the same test
//! split, its calibration halves stay disjoint, it serves through `LoadedModel` like any model, and a damaged
//! or swapped part is refused.

use std::path::Path;

mod common;

use atlas_model::{
    ensemble_part_dir, LoadOptions, LoadedModel, Predictor, COMBINER_FILE, ENSEMBLE_KIND, PARTS_DIR,
};
use atlas_pipeline::{
    classify_papers, evaluate, explain_classifications, train, EvaluateOutcome, EvaluateRequest,
};

fn evaluate_on_test(model: &Path, input: &Path, run_dir: &Path, runs: &Path) -> EvaluateOutcome {
    evaluate(&EvaluateRequest {
        model: model.to_path_buf(),
        input: input.to_path_buf(),
        splits: vec![atlas_corpus::Split::Test],
        run_dir: Some(run_dir.to_path_buf()),
        runs_root: runs.to_path_buf(),
        multilabel_threshold: 0.2,
        coverage: Some(0.9),
    })
    .unwrap()
}

#[test]
fn the_ensemble_beats_each_part_on_arxiv_mini() {
    let test = "the_ensemble_beats_each_part_on_arxiv_mini";
    let tmp = tempfile::tempdir().unwrap();
    let Some(resolved) = common::mini_config(test, "ensemble", tmp.path()) else { return };
    let runs = tmp.path().join("runs");
    let trained = train(&resolved).unwrap();
    let m = &trained.metrics;
    for part in ["tfidf", "embedding", "knn"] {
        assert!(m[&format!("ensemble_weight_{part}")] > 0.0, "{part}: {m:?}");
    }

    // The model folder: the combiner, and each part a calibrated model folder of its own.
    let model = LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap();
    assert_eq!(model.predictor.kind(), ENSEMBLE_KIND);
    assert!(model.dir.join(COMBINER_FILE).is_file());
    let Predictor::Ensemble(ensemble) = &model.predictor else { panic!("not an ensemble: {model:?}") };
    let names: Vec<&str> = ensemble.parts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tfidf", "embedding", "knn"]);
    let kinds: Vec<&str> = ensemble.parts.iter().map(|p| p.predictor.kind()).collect();
    assert_eq!(kinds, ["arxiv-atlas/tfidf-linear", "arxiv-atlas/embedding-mlp", "arxiv-atlas/embedding-knn"]);
    assert!(ensemble.parts.iter().all(|p| p.temperature != 1.0), "every part is calibrated");
    assert!(model.predictor.encoder().is_some(), "the embedding part's encoder is reachable");
    // The combiner and the temperatures were fitted on the temperature half; the conformal half is the rest.
    let cal = model.calibration.as_ref().expect("the ensemble is calibrated");
    let conformal = cal.conformal.as_ref().expect("conformal half");
    assert_eq!(ensemble.stack.n_fit, cal.n_temperature);
    assert_eq!(m["ensemble_n_fit"] as usize, cal.n_temperature);
    assert!(conformal.n() > 100, "{}", conformal.n());

    // Same test split, same evaluation, for the ensemble and each part.
    let ds = atlas_pipeline::prepare_dataset(&resolved.config.data).unwrap();
    let whole = evaluate_on_test(&trained.run_dir, ds.dir(), &runs.join("eval"), &runs);
    let model_dir = &model.dir;
    let tfidf = evaluate_on_test(&ensemble_part_dir(model_dir, "tfidf"), ds.dir(), &runs.join("e-t"), &runs);
    let emb =
        evaluate_on_test(&ensemble_part_dir(model_dir, "embedding"), ds.dir(), &runs.join("e-e"), &runs);
    let knn = evaluate_on_test(&ensemble_part_dir(model_dir, "knn"), ds.dir(), &runs.join("e-k"), &runs);
    let acc = |o: &EvaluateOutcome| o.summary()["accuracy"].as_f64().unwrap();
    let loss = |o: &EvaluateOutcome| o.summary()["log_loss"].as_f64().unwrap();
    for (name, part) in [("tfidf", &tfidf), ("embedding", &emb), ("knn", &knn)] {
        assert!(acc(&whole) > acc(part), "accuracy {} vs {name} {}", acc(&whole), acc(part));
        assert!(loss(&whole) < loss(part), "log loss {} vs {name} {}", loss(&whole), loss(part));
    }
    eprintln!(
        "arxiv-mini test accuracy / log loss: ensemble {:.4} / {:.3}, tfidf {:.4} / {:.3}, mlp {:.4} / {:.3}, \
         knn {:.4} / {:.3}",
        acc(&whole),
        loss(&whole),
        acc(&tfidf),
        loss(&tfidf),
        acc(&emb),
        loss(&emb),
        acc(&knn),
        loss(&knn)
    );
    let cov = whole.coverage.as_ref().unwrap().coverage;
    assert!((0.82..=0.98).contains(&cov), "coverage {cov} at 0.9");

    // Classified like any model, category sets included.
    let papers = ds.read(atlas_corpus::Split::Test).unwrap();
    let answers = classify_papers(&model, &papers[..3], 3, Some(0.9), true).unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| a.category_set.as_ref().is_some_and(|s| !s.is_empty())));
    // Explained through the TF-IDF part: every term of a category is in the paper's text and raised its score.
    let mut explained = answers.clone();
    explain_classifications(&model, &papers[..3], &mut explained).unwrap();
    for (answer, paper) in explained.iter().zip(&papers[..3]) {
        let text = paper.text(&model.pipeline.template).to_lowercase();
        let per_category = answer.explanations.as_ref().unwrap();
        let codes: Vec<&str> = answer.probabilities.iter().map(|p| p.category.as_str()).collect();
        assert_eq!(per_category.iter().map(|e| e.category.as_str()).collect::<Vec<_>>(), codes);
        assert!(!per_category[0].terms.is_empty(), "{answer:?}");
        // ... and through the embedding part: supporting training papers of each category, nearest first.
        for e in per_category {
            assert!(!e.neighbours.is_empty(), "{answer:?}");
            assert!(e.neighbours.iter().all(|n| n.category == e.category), "{e:?}");
            assert!(e.neighbours.windows(2).all(|w| w[0].cosine >= w[1].cosine), "{e:?}");
        }
        let nearest = answer.nearest.as_ref().expect("nearest training papers");
        assert_eq!(nearest.papers.len(), atlas_pipeline::NEIGHBOUR_VOTE);
        assert_eq!(nearest.agrees, nearest.majority.as_deref() == Some(answer.category.as_str()));
        assert!(answer.explanation_note.is_none());
        for term in per_category.iter().flat_map(|e| &e.terms) {
            assert!(term.contribution > 0.0, "{term:?}");
            assert!(term.term.split(' ').all(|w| text.contains(w)), "{} not in {text}", term.term);
        }
    }

    // A part whose files change is refused, even when its own manifest is re-sealed over the change: the
    // ensemble's manifest holds the checksum of each part's manifest.
    let part = ensemble_part_dir(model_dir, "tfidf");
    let calibration = part.join(atlas_model::CALIBRATION_FILE);
    let text = std::fs::read_to_string(&calibration).unwrap();
    std::fs::write(&calibration, text.replacen("\"temperature\": ", "\"temperature\": 1", 1)).unwrap();
    let err = LoadedModel::open(model_dir, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains(atlas_model::CALIBRATION_FILE), "{err}");
    let kind = atlas_artifact::Manifest::peek_kind(&part, "model").unwrap();
    let mut manifest = atlas_artifact::Manifest::read(&part, &kind, u32::MAX).unwrap();
    manifest.add_file(&part, atlas_model::CALIBRATION_FILE).unwrap();
    manifest.write(&part).unwrap();
    let err = LoadedModel::open(model_dir, &LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains(&format!("{PARTS_DIR}/tfidf/manifest.json")), "{err}");
}
