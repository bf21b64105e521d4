//! Explanations of an embedding model on the real `arxiv-mini` papers and MiniLM model of the data kit
//! (skipped without them, a failure where `ATLAS_REQUIRE_DATA=1`): `train experiment=embedding_lr` stores the
//! training papers with the head, and `classify --explain` returns, for each top category, the nearest
//! training papers of that category; a model folder saved before stores existed gets a note instead.

mod common;

use std::collections::HashSet;

use atlas_artifact::Manifest;
use atlas_classify::neighbours::{NEIGHBOURS_DIR, NO_STORE_NOTE};
use atlas_corpus::Split;
use atlas_model::{LoadOptions, LoadedModel};
use atlas_pipeline::{classify_papers, explain_classifications, train, EXPLAIN_NEIGHBOURS, NEIGHBOUR_VOTE};

#[test]
fn an_embedding_model_is_explained_by_its_nearest_training_papers() {
    let test = "an_embedding_model_is_explained_by_its_nearest_training_papers";
    let tmp = tempfile::tempdir().unwrap();
    let Some(resolved) = common::mini_config(test, "embedding_lr", tmp.path()) else { return };
    let trained = train(&resolved).unwrap();
    let model = LoadedModel::open(&trained.run_dir, &LoadOptions::default()).unwrap();
    let ds = atlas_pipeline::prepare_dataset(&resolved.config.data).unwrap();
    let train_papers = ds.read(Split::Train).unwrap();
    assert_eq!(trained.metrics["neighbours_papers"] as usize, train_papers.len());
    assert!(model.dir.join(NEIGHBOURS_DIR).is_dir());
    // The model folder's manifest covers the store.
    let kind = Manifest::peek_kind(&model.dir, "model").unwrap();
    let manifest = Manifest::read(&model.dir, &kind, u32::MAX).unwrap();
    assert!(manifest.files.contains_key(&format!("{NEIGHBOURS_DIR}/manifest.json")));

    // Test papers: each top category is supported by training papers of that very category, nearest first.
    let train_ids: HashSet<&str> = train_papers.iter().map(|p| p.id.as_str()).collect();
    let papers = ds.read(Split::Test).unwrap();
    let papers = &papers[..5];
    let mut answers = classify_papers(&model, papers, 3, Some(0.9), true).unwrap();
    explain_classifications(&model, papers, &mut answers).unwrap();
    for a in &answers {
        let per_category = a.explanations.as_ref().unwrap();
        let codes: Vec<&str> = a.probabilities.iter().map(|p| p.category.as_str()).collect();
        assert_eq!(per_category.iter().map(|e| e.category.as_str()).collect::<Vec<_>>(), codes);
        for e in per_category {
            assert!(e.terms.is_empty(), "an embedding model names no terms: {e:?}");
            assert_eq!(e.neighbours.len(), EXPLAIN_NEIGHBOURS, "{e:?}");
            assert!(e.neighbours.iter().all(|n| n.category == e.category), "{e:?}");
            assert!(e.neighbours.iter().all(|n| train_ids.contains(n.id.as_str())), "{e:?}");
            assert!(e.neighbours.windows(2).all(|w| w[0].cosine >= w[1].cosine), "{e:?}");
            assert!(e.neighbours.iter().all(|n| n.cosine > 0.0 && n.cosine <= 1.001), "{e:?}");
        }
        let nearest = a.nearest.as_ref().expect("nearest training papers");
        assert_eq!(nearest.papers.len(), NEIGHBOUR_VOTE);
        // The nearest paper overall is at least as close as the top category's nearest.
        assert!(nearest.papers[0].cosine >= per_category[0].neighbours[0].cosine);
        // The majority is the most frequent category of the nearest papers; `agrees` compares it with the
        // prediction.
        let majority = nearest.majority.as_deref().expect("a majority");
        let count = |c: &str| nearest.papers.iter().filter(|p| p.category == c).count();
        assert!(nearest.papers.iter().all(|p| count(&p.category) <= count(majority)), "{nearest:?}");
        assert_eq!(nearest.agrees, majority == a.category, "{nearest:?}");
        assert!(a.explanation_note.is_none());
    }

    // A training paper finds itself first among the papers of its own category.
    let own = &train_papers[..1];
    let mut answers = classify_papers(&model, own, 5, None, true).unwrap();
    explain_classifications(&model, own, &mut answers).unwrap();
    let first = answers[0].explanations.as_ref().unwrap().iter().find(|e| e.category == own[0].primary());
    let first = first.expect("its own category is among the top 5");
    assert_eq!(first.neighbours[0].id, own[0].id);
    assert!(first.neighbours[0].cosine > 0.99, "{:?}", first.neighbours[0]);
    assert_eq!(answers[0].nearest.as_ref().unwrap().papers[0].id, own[0].id);

    // A model folder from before stores existed (no neighbours/, not in its manifest) loads and explains
    // with a note instead of papers.
    let dir = model.dir.clone();
    drop(model);
    std::fs::remove_dir_all(dir.join(NEIGHBOURS_DIR)).unwrap();
    let mut manifest = Manifest::read(&dir, &kind, u32::MAX).unwrap();
    manifest.files.remove(&format!("{NEIGHBOURS_DIR}/manifest.json"));
    manifest.write(&dir).unwrap();
    let old_model = LoadedModel::open(&dir, &LoadOptions::default()).unwrap();
    let mut answers = classify_papers(&old_model, papers, 3, None, true).unwrap();
    explain_classifications(&old_model, papers, &mut answers).unwrap();
    for a in &answers {
        assert_eq!(a.explanation_note.as_deref(), Some(NO_STORE_NOTE));
        assert!(a.nearest.is_none());
        assert!(a.explanations.as_ref().unwrap().iter().all(|e| e.neighbours.is_empty()));
    }
}
