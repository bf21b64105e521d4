//! `demo` end to end: papers → trained model, embeddings and index in one folder, then the same command again
//! reuses all three.

mod common;

use std::process::Command;

use common::{http, Server};

#[test]
fn demo_prepares_a_servable_folder_and_reuses_it() {
    let test = "demo_prepares_a_servable_folder_and_reuses_it";
    let Some(input) = atlas_testkit::shared_file(test, "data/kaggle-format-200.json") else { return };
    if atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2").is_none() {
        return;
    }
    if !atlas_encoder::encoder::onnx_runtime_available() {
        let why = "the ONNX Runtime library is not installed (bash scripts/setup-onnxruntime.sh)";
        atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, test, why);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
            .args(["demo", "--no-serve", "--input", input.to_str().unwrap(), "--dir", dir.to_str().unwrap()])
            .current_dir(atlas_testkit::repo_root())
            .env("ARXIV_ATLAS_LOG", "warn")
            .env("ARXIV_ATLAS_CACHE_DIR", tmp.path().join("cache"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let first = run();
    for step in ["train", "embed", "index"] {
        let line = first.lines().find(|l| l.trim_start().starts_with(step)).unwrap_or_default();
        assert!(line.contains(" s)"), "{step} ran the first time: {first}");
    }
    assert!(
        first.contains(&format!("serve it:  arxiv-atlas serve --model {}", dir.join("runs/tfidf").display()))
    );
    let set = atlas_embed::EmbeddingSet::open(&dir.join("embeddings/minilm-int8")).unwrap();
    let index = atlas_index::IndexLocation::Folder(dir.join("index")).open(None).unwrap();
    assert_eq!(index.info().count, set.ids.len());
    assert_eq!(index.info().embedding_id, set.meta.embedding_id);

    let second = run();
    assert_eq!(second.matches("(reused)").count(), 3, "{second}");

    // The index alone, without a classifier: search works, classify says what is missing.
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(["serve", "--index", dir.join("index").to_str().unwrap(), "--no-request-log"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(atlas_testkit::repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    common::wait_ready(&mut server, port);
    let (code, s) = http(port, "POST", "/v1/search", Some(r#"{"text":"quantum field theory","k":3}"#));
    assert_eq!((code, s["results"].as_array().map(Vec::len)), (200, Some(3)), "{s}");
    let (code, e) = http(port, "POST", "/v1/classify", Some(r#"{"title":"Quantum fields"}"#));
    assert_eq!((code, e["error"]["code"].as_str()), (503, Some("model_unavailable")), "{e}");
}
