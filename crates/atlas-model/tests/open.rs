//! Opening trained model folders: TF-IDF on synthetic texts (no data needed), and an embedding head on the
//! real MiniLM from the data kit, whose encoder record must rebuild the same vector space.

use std::path::Path;

use atlas_classify::{DenseHead, EmbeddingLrParams, Labels, LinearParams, TfidfLinearModel, TfidfParams};
use atlas_encoder::{EncoderSpec, Precision, SavedEncoder};
use atlas_model::{write_pipeline_meta, LoadOptions, LoadedModel, PipelineMeta, PredictorError};

fn labels() -> Labels {
    Labels { codes: vec!["astro-ph".into(), "cs.LG".into()], names: vec!["Astrophysics".into(), "ML".into()] }
}

const TEXTS: [&str; 6] = [
    "galaxies stars dark matter halo",
    "neural network training gradient",
    "stellar spectra galaxy survey",
    "deep learning optimisation network",
    "cosmic microwave background galaxies",
    "transformer attention learning",
];
const Y: [u32; 6] = [0, 1, 0, 1, 0, 1];

#[test]
fn a_run_folder_opens_as_a_text_classifier_with_its_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("run/artifacts/model");
    let linear = LinearParams { epochs: 20, ..LinearParams::default() };
    let (model, _) =
        TfidfLinearModel::train(&TEXTS, &Y, None, labels(), &TfidfParams::default(), &linear, &mut |_| {})
            .unwrap();
    model.save(&model_dir).unwrap();
    let meta = PipelineMeta {
        template: "{title}. {abstract}".parse().unwrap(),
        experiment: "tfidf_linear".into(),
        run_id: "r1".into(),
    };
    write_pipeline_meta(&model_dir, &meta).unwrap();

    let loaded = LoadedModel::open(&tmp.path().join("run"), &LoadOptions::default()).unwrap();
    assert_eq!(loaded.dir, model_dir);
    assert_eq!(loaded.pipeline, meta);
    assert_eq!(loaded.version(), "tfidf_linear@r1");
    assert!(loaded.predictor.encoder().is_none());
    let paper = atlas_corpus::Paper::from_text("Dark matter halo of galaxies", "stars and galaxies");
    let probs = loaded.predict_papers(std::iter::once(&paper)).unwrap();
    assert_eq!(probs.top_k(0, 1)[0].0, 0, "astro-ph");

    // A damaged pipeline.json is refused: it is checksummed with the weights.
    std::fs::write(model_dir.join("pipeline.json"), b"{}").unwrap();
    assert!(LoadedModel::open(&model_dir, &LoadOptions::default()).is_err());
}

/// Trains a logistic-regression head on a few real MiniLM vectors and saves it with `saved` as its record.
fn head_folder(dir: &Path, saved: &SavedEncoder, x: &[f32]) {
    let p = EmbeddingLrParams { max_iter: 20, ..EmbeddingLrParams::default() };
    let (head, _) = DenseHead::train_lr(x, saved.dim, &Y, None, labels(), &p, &mut |_| {}).unwrap();
    head.save(dir, &serde_json::to_value(saved).unwrap()).unwrap();
}

#[test]
fn an_embedding_head_rebuilds_its_encoder_and_refuses_another_vector_space() {
    let test = "an_embedding_head_rebuilds_its_encoder_and_refuses_another_vector_space";
    let Some(model) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let spec = EncoderSpec { model_dir: Some(model), ..EncoderSpec::default() };
    let encoder = spec.load(&atlas_corpus::TextTemplate::default(), 1).unwrap();
    let x = encoder.embed(&TEXTS).unwrap().into_vec();
    let saved = SavedEncoder::new(&spec, &encoder).unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let good = tmp.path().join("good");
    head_folder(&good, &saved, &x);
    let opts = LoadOptions { sessions: 1, embed_cache: false };
    let loaded = LoadedModel::open(&good, &opts).unwrap();
    let enc = loaded.predictor.encoder().expect("an embedding model brings its encoder");
    assert_eq!(enc.embedding_id().unwrap(), saved.embedding_id);
    let probs = loaded.predictor.predict(&["neural networks learn".to_string()]).unwrap();
    assert_eq!(probs.top_k(0, 1)[0].0, 1, "cs.LG");

    // A record whose vector space the folder's encoder does not produce (e.g. trained on another model).
    let other = tmp.path().join("other");
    head_folder(&other, &SavedEncoder { embedding_id: "another-space".into(), ..saved.clone() }, &x);
    match LoadedModel::open(&other, &opts) {
        Err(PredictorError::EncoderMismatch { want, got, .. }) => {
            assert_eq!(want, "another-space");
            assert_eq!(got, saved.embedding_id);
        }
        other => panic!("expected an encoder mismatch, got {other:?}"),
    }

    // A misspelt option in the record is an error naming the valid values, not a silent default.
    let typo = tmp.path().join("typo");
    head_folder(&typo, &saved, &x);
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(typo.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["meta"]["encoder"]["precision"], serde_json::json!(Precision::Fp32.as_str()), "{m}");
    m["meta"]["encoder"]["precision"] = serde_json::json!("int9");
    std::fs::write(typo.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let err = LoadedModel::open(&typo, &opts).unwrap_err().to_string();
    assert!(err.contains("unknown precision `int9` (fp32, int8)"), "{err}");
}
