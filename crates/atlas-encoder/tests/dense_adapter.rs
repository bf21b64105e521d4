//! A model folder derived from all-MiniLM-L6-v2 with a Dense module (what `arxiv-atlas finetune` saves) embeds
//! exactly as the base model followed by that layer and normalisation, on every engine: the folder's vectors
//! equal `normalize(W · base(text) + b)`.
//!
//! Needs the shared model folder (skips without it; a failure where `ATLAS_REQUIRE_DATA` is set); the ONNX half
//! also needs the ONNX Runtime library (`ATLAS_REQUIRE_ONNXRUNTIME`), through `atlas_testkit`.

use std::path::Path;

use atlas_encoder::{
    save_with_dense, Activation, BackendKind, DenseLayer, Encoder, EncoderOptions, ModelFolder,
};

const TEXTS: [&str; 4] = [
    "Dark matter halos in cosmological simulations [SEP] We simulate the growth of halos.",
    "Attention is all you need [SEP] A network architecture based solely on attention.",
    "On the zeros of the Riemann zeta function [SEP] We prove a new zero-density estimate.",
    "Graphene",
];

/// A fixed, clearly non-identity 384 × 384 layer with a bias (a small LCG; quality is irrelevant).
fn layer() -> DenseLayer {
    let mut state = 7u64;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let n = 384;
    let mut w: Vec<f32> = (0..n * n).map(|_| 0.1 * next()).collect();
    for i in 0..n {
        w[i * n + i] += 1.0;
    }
    let b = (0..n).map(|_| 0.05 * next()).collect();
    DenseLayer::new(n, n, w, Some(b), Activation::Identity).unwrap()
}

fn check(base_dir: &Path, backend: BackendKind) {
    let out = tempfile::tempdir().unwrap();
    let derived_dir = out.path().join("model");
    let base_folder = ModelFolder::open(base_dir).unwrap();
    let l = layer();
    let derived = save_with_dense(&base_folder, &l, &derived_dir).unwrap();
    assert_eq!(derived.dim(), 384);
    assert!(derived.normalize());
    assert_ne!(derived.model_hash().unwrap(), base_folder.model_hash().unwrap());
    // The layout Python reads: the base's modules, then the Dense module and a Normalize.
    let modules: serde_json::Value =
        serde_json::from_slice(&std::fs::read(derived_dir.join("modules.json")).unwrap()).unwrap();
    let types: Vec<&str> = modules.as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "sentence_transformers.models.Transformer",
            "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize",
            "sentence_transformers.models.Dense",
            "sentence_transformers.models.Normalize"
        ]
    );
    assert!(derived_dir.join("3_Dense/config.json").is_file());
    assert!(derived_dir.join("3_Dense/model.safetensors").is_file());
    assert!(!derived_dir.join("reference-embeddings.json").exists());

    let opts = EncoderOptions { backend, ..Default::default() };
    let base = Encoder::load(base_dir, &opts).unwrap().embed(&TEXTS).unwrap();
    let tuned_encoder = Encoder::load(&derived_dir, &opts).unwrap();
    assert_ne!(
        tuned_encoder.embedding_id().unwrap(),
        Encoder::load(base_dir, &opts).unwrap().embedding_id().unwrap()
    );
    let tuned = tuned_encoder.embed(&TEXTS).unwrap();
    assert_eq!((tuned.len(), tuned.dim()), (TEXTS.len(), 384));
    let want = l.apply(base.as_slice());
    for (i, (got, want)) in tuned.rows().zip(want.chunks_exact(384)).enumerate() {
        let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
        let diff = got.iter().zip(want).map(|(g, w)| (g - w / norm).abs()).fold(0.0f32, f32::max);
        assert!(diff < 1e-5, "{backend}: text {i}: max |Δ| {diff}");
        let unit = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((unit - 1.0).abs() < 1e-5);
    }
    // A derived folder cannot be written over an existing one.
    assert!(save_with_dense(&base_folder, &l, &derived_dir).is_err());
}

#[test]
fn dense_folder_embeds_as_base_times_w_plus_b_normalised_on_candle() {
    let test = "dense_folder_embeds_as_base_times_w_plus_b_normalised_on_candle";
    let Some(dir) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    check(&dir, BackendKind::Candle);
}

#[cfg(feature = "onnx")]
#[test]
fn dense_folder_embeds_as_base_times_w_plus_b_normalised_on_onnx() {
    let test = "dense_folder_embeds_as_base_times_w_plus_b_normalised_on_onnx";
    let Some(dir) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    if let Err(e) = atlas_encoder::backend::onnx::find_ort_library() {
        atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, test, e);
        return;
    }
    check(&dir, BackendKind::Onnx);
}
