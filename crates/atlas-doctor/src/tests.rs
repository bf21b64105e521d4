//! [`diagnose`] on made-up machines: every path and variable is passed in, nothing of this machine is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// A machine whose working directory is `<root>/repo` and whose home is `<root>/home`, with an empty Hugging
/// Face cache, an AVX2-only CPU and no live checks.
fn machine(root: &Path) -> Machine {
    let cwd = root.join("repo");
    std::fs::create_dir_all(&cwd).unwrap();
    let vars = BTreeMap::from([
        ("HOME".to_owned(), root.join("home").display().to_string()),
        ("HF_HUB_CACHE".to_owned(), root.join("hf").display().to_string()),
    ]);
    Machine {
        cwd,
        vars,
        cpu: CpuFeatures { arch: "x86_64".into(), avx2: true, fma: true, ..CpuFeatures::default() },
        onnx_built: true,
        cuda_built: false,
        nvidia_gpus: Vec::new(),
        live: false,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A model folder `ModelFolder::open` accepts (weights are not read by the checks), with the int8 graph.
fn fake_model(dir: &Path) {
    write(
        &dir.join("config.json"),
        r#"{"vocab_size": 30, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 64, "model_type": "bert"}"#,
    );
    write(&dir.join("tokenizer.json"), "{}");
    write(&dir.join("onnx/model_qint8_avx2.onnx"), "");
    write(&dir.join("onnx/model_O4.onnx"), "");
}

/// The data kit and model in `<root>/shared`, beside the working directory, and ONNX Runtime where the setup
/// script puts it.
fn full_machine(root: &Path) -> Machine {
    let m = machine(root);
    let data = root.join("shared/data");
    write(&data.join("arxiv-100k.jsonl.gz"), "x");
    write(&data.join("arxiv-mini.jsonl.gz"), "x");
    write(
        &data.join("taxonomy.tsv"),
        "code\tname\tarchive\tgroup\tactive\tcanonical\ncs.AI\tArtificial Intelligence\tcs\tComputer Science\t1\tcs.AI\n",
    );
    fake_model(&root.join("shared/models/all-MiniLM-L6-v2"));
    write(&root.join("home/.cache/arxiv-atlas/ort/libonnxruntime.so"), "");
    m
}

fn get<'a>(r: &'a Report, name: &str) -> &'a Check {
    r.check(name).unwrap_or_else(|| panic!("no check {name} in {r:#?}"))
}

fn fix(c: &Check) -> &str {
    c.fix.as_deref().unwrap_or_else(|| panic!("{} has no fix", c.name))
}

#[test]
fn a_bare_machine_says_what_is_missing_and_how_to_get_it() {
    let root = tempfile::tempdir().unwrap();
    let r = diagnose(&machine(root.path()));
    assert!(!r.ok());
    let missing: Vec<&str> = r.missing().map(|c| c.name.as_str()).collect();
    assert_eq!(missing, ["onnx-runtime", "model", "data-kit"]);

    let ort = get(&r, "onnx-runtime");
    assert!(ort.found.contains("home/.cache/arxiv-atlas/ort/libonnxruntime.so"), "{}", ort.found);
    assert!(fix(ort).contains("bash scripts/setup-onnxruntime.sh") && fix(ort).contains("ORT_DYLIB_PATH"));
    assert_eq!(get(&r, "engine").status, Status::Warning);
    assert!(get(&r, "engine").found.contains("auto → candle"));

    let model = get(&r, "model");
    assert!(model.found.contains("../shared/models/all-MiniLM-L6-v2 not found"), "{}", model.found);
    for want in
        ["--model-dir sentence-transformers/all-MiniLM-L6-v2", "HF_HUB_OFFLINE=1", "ARXIV_ATLAS_MODEL_DIR"]
    {
        assert!(fix(model).contains(want), "{want:?} not in {}", fix(model));
    }
    assert_eq!(get(&r, "int8-graph").status, Status::Info);
    assert!(get(&r, "hf-cache").found.contains("not cached; downloads on"));

    let data = get(&r, "data-kit");
    assert!(data.found.contains("../shared/data/arxiv-100k.jsonl.gz not found"), "{}", data.found);
    for want in ["arxiv-metadata-oai-snapshot.json", KAGGLE_URL, "docs/data.md", "--input"] {
        assert!(fix(data).contains(want), "{want:?} not in {}", fix(data));
    }
    assert!(fix(get(&r, "taxonomy")).contains("data.taxonomy=PATH"));
    assert_eq!(get(&r, "postgres").status, Status::Info);
    assert_eq!(get(&r, "cuda").status, Status::Info);

    // The JSON a script reads carries the same verdict.
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["checks"][0]["name"], "onnx-runtime");
    assert_eq!(json["checks"][0]["status"], "missing");
    assert_eq!(serde_json::from_value::<Report>(json).unwrap(), r);
}

#[test]
fn a_machine_with_the_kit_passes() {
    let root = tempfile::tempdir().unwrap();
    let r = diagnose(&full_machine(root.path()));
    assert!(r.ok(), "{r:#?}");
    assert!(get(&r, "onnx-runtime").found.ends_with("libonnxruntime.so (not loaded)"));
    assert!(get(&r, "engine").found.starts_with("auto → ONNX Runtime fp32"));
    let model = get(&r, "model");
    assert_eq!(model.status, Status::Ok);
    assert!(model.found.contains("8-dimensional"), "{}", model.found);
    let int8 = get(&r, "int8-graph");
    assert_eq!(int8.status, Status::Ok);
    assert!(
        int8.found.contains("onnx/model_qint8_avx2.onnx") && int8.found.contains("also ships model_O4.onnx")
    );
    assert!(get(&r, "data-kit").found.contains("arxiv-mini.jsonl.gz"));
    assert_eq!(
        get(&r, "taxonomy").found,
        format!("{}: 1 category codes", root.path().join("repo/../shared/data/taxonomy.tsv").display())
    );
    assert!(r.checks().iter().all(|c| c.status != Status::Missing));

    // A folder without the shipped int8 graph (a fine-tuned model) is fine: int8 quantizes its own.
    let m = full_machine(root.path());
    std::fs::remove_file(root.path().join("shared/models/all-MiniLM-L6-v2/onnx/model_qint8_avx2.onnx"))
        .unwrap();
    let r = diagnose(&m);
    let int8 = get(&r, "int8-graph");
    assert_eq!(int8.status, Status::Info);
    assert!(int8.found.contains("quantizes a graph from model.safetensors"), "{}", int8.found);
    assert!(r.ok(), "{r:#?}");
}

#[test]
fn the_model_routes_an_environment_can_take() {
    let root = tempfile::tempdir().unwrap();
    let mut m = full_machine(root.path());

    // A model variable pointing nowhere is the user's typo: reported as such, not replaced by the default.
    m.vars.insert("ARXIV_ATLAS_MODEL_DIR".into(), "models/typo".into());
    let r = diagnose(&m);
    let model = get(&r, "model");
    assert_eq!(model.status, Status::Missing);
    assert!(model.found.contains("models/typo (from ARXIV_ATLAS_MODEL_DIR)"), "{}", model.found);
    assert!(fix(model).contains("unset it"));

    // No folder, but the Hugging Face cache has the model: the fix is one export.
    m.vars.remove("ARXIV_ATLAS_MODEL_DIR");
    std::fs::remove_dir_all(root.path().join("shared/models")).unwrap();
    let repo = root.path().join("hf/models--sentence-transformers--all-MiniLM-L6-v2");
    write(&repo.join("refs/main"), "c0ffee");
    let snap = repo.join("snapshots/c0ffee");
    fake_model(&snap);
    write(&snap.join("model.safetensors"), "");
    m.vars.insert("HF_HUB_OFFLINE".into(), "1".into());
    let r = diagnose(&m);
    let model = get(&r, "model");
    assert_eq!(model.status, Status::Missing);
    assert_eq!(
        fix(model),
        format!(
            "export ARXIV_ATLAS_MODEL_DIR={} (or pass --model-dir sentence-transformers/all-MiniLM-L6-v2)",
            snap.display()
        )
    );
    let cache = get(&r, "hf-cache");
    assert!(cache.found.contains("(with its int8 graph); downloads off (HF_HUB_OFFLINE)"), "{}", cache.found);
}

#[test]
fn cuda_onnx_build_and_cpu_variants() {
    let root = tempfile::tempdir().unwrap();
    let mut m = full_machine(root.path());
    m.nvidia_gpus = vec!["NVIDIA H100 80GB HBM3".into()];
    m.onnx_built = false;
    m.cpu = CpuFeatures { arch: "x86_64".into(), ..CpuFeatures::default() };
    let r = diagnose(&m);
    let cuda = get(&r, "cuda");
    assert_eq!(cuda.status, Status::Warning);
    assert!(cuda.found.contains("NVIDIA H100") && fix(cuda).contains("--features atlas-encoder/cuda"));
    let ort = get(&r, "onnx-runtime");
    assert_eq!((ort.status, ort.found.as_str()), (Status::Missing, "this build has no `onnx` feature"));
    assert_eq!(get(&r, "cpu").status, Status::Warning);

    m.cuda_built = true;
    assert_eq!(get(&diagnose(&m), "cuda").status, Status::Info, "not live: the device is not opened");
}

#[test]
fn postgres_urls_are_checked_without_showing_passwords() {
    let root = tempfile::tempdir().unwrap();
    let mut m = full_machine(root.path());
    m.vars.insert("ARXIV_ATLAS_INDEX".into(), "postgres://atlas:s3cret@127.0.0.1:1/papers".into());
    m.vars.insert("ARXIV_ATLAS_REQUEST_LOG".into(), "serve/request-log.sqlite".into());
    m.vars.insert("ARXIV_ATLAS_DATABASE_URL".into(), "postgres://atlas:s3cret@[bad".into());
    let r = diagnose(&m);
    assert!(r.check("postgres").is_none() && r.check("postgres:ARXIV_ATLAS_REQUEST_LOG").is_none());
    let index = get(&r, "postgres:ARXIV_ATLAS_INDEX");
    assert_eq!(
        (index.status, index.found.as_str()),
        (Status::Info, "postgres://atlas@127.0.0.1:1/papers (not connected)")
    );
    let bad = get(&r, "postgres:ARXIV_ATLAS_DATABASE_URL");
    assert_eq!(bad.status, Status::Missing);
    let all = serde_json::to_string(&r).unwrap();
    assert!(!all.contains("s3cret"), "{all}");

    // Live, against a port nothing listens on (loopback only): missing, with the way to start a server. ONNX
    // Runtime stays out of it (the fake library is not one).
    m.live = true;
    m.onnx_built = false;
    m.vars.remove("ARXIV_ATLAS_DATABASE_URL");
    let r = diagnose(&m);
    let index = get(&r, "postgres:ARXIV_ATLAS_INDEX");
    assert_eq!(index.status, Status::Missing);
    assert!(
        index.found.starts_with("postgres://atlas@127.0.0.1:1/papers: cannot connect"),
        "{}",
        index.found
    );
    assert!(fix(index).contains("bash scripts/postgres.sh start") && !index.found.contains("s3cret"));
}

#[test]
fn relative_paths_resolve_from_the_working_directory() {
    let root = tempfile::tempdir().unwrap();
    let mut m = full_machine(root.path());
    // The same kit seen from elsewhere is not found: defaults are relative to where arxiv-atlas runs.
    m.cwd = root.path().join("elsewhere/deeper");
    std::fs::create_dir_all(&m.cwd).unwrap();
    let r = diagnose(&m);
    let missing: Vec<&str> = r.missing().map(|c| c.name.as_str()).collect();
    assert_eq!(missing, ["model", "data-kit"]);
    assert!(get(&r, "data-kit").found.contains(&*PathBuf::from(&m.cwd).display().to_string()));
}

#[test]
fn a_reachable_postgres_is_reported_with_its_version_and_pgvector() {
    let Some(url) =
        atlas_testkit::database_url("a_reachable_postgres_is_reported_with_its_version_and_pgvector")
    else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let mut m = full_machine(root.path());
    m.live = true;
    m.onnx_built = false; // the fake library is not one: keep ONNX Runtime out of it
    m.vars.insert("ARXIV_ATLAS_INDEX".into(), url);
    let r = diagnose(&m);
    let index = get(&r, "postgres:ARXIV_ATLAS_INDEX");
    assert_eq!(index.status, Status::Ok, "{index:#?}");
    assert!(index.found.contains(": PostgreSQL ") && index.found.contains("pgvector 0."), "{}", index.found);
}
