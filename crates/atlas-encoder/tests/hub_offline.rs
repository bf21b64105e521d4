//! A model named by its Hugging Face id loads from the Hugging Face cache with downloads off
//! (`HF_HUB_OFFLINE=1`): the cache is laid out exactly as `huggingface_hub` writes it (refs/main → snapshot
//! folder), built here from the real all-MiniLM-L6-v2 files by symlink, so no network is touched.
//!
//! One test function in this file on purpose: it sets process-wide environment variables.
#![cfg(feature = "hf-hub")]

use std::path::Path;

use atlas_encoder::{resolve_model, BackendKind, Encoder, EncoderError, EncoderOptions, ModelRef};

fn link_all(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            link_all(&e.path(), &target);
        } else {
            std::os::unix::fs::symlink(e.path().canonicalize().unwrap(), target).unwrap();
        }
    }
}

#[test]
fn hub_id_resolves_from_the_offline_cache_and_embeds_like_the_folder() {
    let test = "hub_id_resolves_from_the_offline_cache_and_embeds_like_the_folder";
    let Some(model) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let cache = tempfile::tempdir().unwrap();
    let repo_dir = cache.path().join("models--sentence-transformers--all-MiniLM-L6-v2");
    let commit = "8b3219a92973c328a8e22fadcfa821b5dc75636a";
    std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
    std::fs::write(repo_dir.join("refs/main"), commit).unwrap();
    link_all(&model, &repo_dir.join("snapshots").join(commit));
    std::env::set_var("HF_HUB_CACHE", cache.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");

    let spec = ModelRef::parse("sentence-transformers/all-MiniLM-L6-v2");
    assert!(matches!(spec, ModelRef::Hub { .. }));
    let dir = resolve_model(&spec, true).expect("resolves from the cache");
    assert_eq!(dir, repo_dir.join("snapshots").join(commit));

    let opts = EncoderOptions { backend: BackendKind::Candle, ..EncoderOptions::default() };
    let from_hub = Encoder::load(&dir, &opts).unwrap();
    let from_folder = Encoder::load(&model, &opts).unwrap();
    assert_eq!(
        from_hub.model_hash().unwrap(),
        from_folder.model_hash().unwrap(),
        "same files, same model hash"
    );
    let text = ["Dark matter halos in cosmological simulations [SEP] We study the density profiles."];
    let a = from_hub.embed(&text).unwrap();
    let b = from_folder.embed(&text).unwrap();
    assert!(atlas_encoder::cosine(a.row(0).unwrap(), b.row(0).unwrap()) > 0.999_999);

    // A repo that is not cached is refused offline, naming the repo, the file and the cache.
    let err = resolve_model(&ModelRef::parse("allenai/scibert_scivocab_uncased"), false).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EncoderError::Hub { .. }), "{msg}");
    assert!(msg.contains("allenai/scibert_scivocab_uncased") && msg.contains("config.json"), "{msg}");
    assert!(msg.contains("HF_HUB_OFFLINE") && msg.contains(&cache.path().display().to_string()), "{msg}");
}
