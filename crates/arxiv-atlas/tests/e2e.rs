//! End-to-end tests of the `arxiv-atlas` binary on the real arXiv sample in `../shared/data`.
//!
//! They run the binary as a user would (a fresh process per command, files on disk between steps), so they
//! catch wiring mistakes that crate-level tests cannot: config resolution, run folders, model hand-over
//! between `train`, `evaluate` and `classify`, and error reporting.

mod common;

use std::path::{Path, PathBuf};

use common::{atlas, http, last_json, ok, repo_root, Server};
use std::process::Command;

/// The files of `../shared` these tests read (the binary also finds the model and `data=mini` there).
const MINI: &str = "data/arxiv-mini.jsonl.gz";
const KAGGLE_200: &str = "data/kaggle-format-200.json";
const INT8_GRAPH: &str = "models/all-MiniLM-L6-v2/onnx/model_qint8_avx2.onnx";

/// The shared folder once every file `test` reads from it is readable; `None` (skip) or a panic where
/// `ATLAS_REQUIRE_DATA` is set (`atlas_testkit`).
fn shared(test: &str, files: &[&str]) -> Option<PathBuf> {
    for f in files {
        atlas_testkit::shared_file(test, f)?;
    }
    Some(atlas_testkit::shared_root())
}

fn fails(args: &[&str]) -> String {
    let out = atlas(args);
    assert!(!out.status.success(), "arxiv-atlas {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn ingest_train_evaluate_classify_on_arxiv_mini() {
    let Some(shared) = shared("ingest_train_evaluate_classify_on_arxiv_mini", &[MINI]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mini = shared.join("data/arxiv-mini.jsonl.gz");
    let ds = tmp.path().join("dataset");

    // ingest
    let rep = last_json(&ok(&["ingest", mini.to_str().unwrap(), "--out", ds.to_str().unwrap(), "--json"]));
    assert_eq!(rep["totals"]["records_kept"], 5000, "{}", rep["totals"]);
    assert_eq!(
        rep["written"]["train"].as_u64().unwrap()
            + rep["written"]["validation"].as_u64().unwrap()
            + rep["written"]["test"].as_u64().unwrap(),
        5000
    );
    for f in ["train.parquet", "validation.parquet", "test.parquet", "ingest-report.json", "manifest.json"] {
        assert!(ds.join(f).is_file(), "{f} missing");
    }

    // train from the ingested folder with dotted overrides
    let run = tmp.path().join("run");
    let train = last_json(&ok(&[
        "train",
        "experiment=tfidf_linear",
        &format!("data.input={}", ds.display()),
        &format!("run.dir={}", run.display()),
        "--json",
    ]));
    assert!(train["validation_accuracy"].as_f64().unwrap() > 0.2, "{train}");
    for f in
        ["run.json", "config.resolved.yaml", "params.json", "metrics.jsonl", "artifacts/model/manifest.json"]
    {
        assert!(run.join(f).is_file(), "run file {f} missing");
    }
    let resolved = std::fs::read_to_string(run.join("config.resolved.yaml")).unwrap();
    assert!(resolved.contains("tfidf_linear"), "{resolved}");

    // evaluate on the test split. The largest class of arxiv-mini holds ~1.2 % of the papers, so 0.25 is
    // twenty times the majority-class accuracy; the model measures far above it (see docs/benchmarks.md).
    let eval_dir = tmp.path().join("eval");
    let m = last_json(&ok(&[
        "evaluate",
        "--model",
        run.to_str().unwrap(),
        "--input",
        ds.to_str().unwrap(),
        "--split",
        "test",
        "--run-dir",
        eval_dir.to_str().unwrap(),
        "--json",
    ]));
    let n = m["n"].as_u64().unwrap();
    assert!((400..=600).contains(&n), "test split of 5000 papers should hold ~10 %: {n}");
    let acc = m["accuracy"].as_f64().unwrap();
    assert!(acc > 0.25, "accuracy {acc} is too close to chance");
    assert!(m["top3_accuracy"].as_f64().unwrap() > acc);
    assert!(m["macro_f1"].as_f64().unwrap() > 0.1);
    for f in ["confusion.csv", "confusion.png", "per_class.csv", "report.json"] {
        assert!(eval_dir.join("artifacts").join(f).is_file(), "evaluate artifact {f} missing");
    }

    // the same evaluation straight from the raw file gives the same numbers (split rule is by id)
    let raw = last_json(&ok(&[
        "evaluate",
        "--model",
        run.to_str().unwrap(),
        "--input",
        mini.to_str().unwrap(),
        "--split",
        "test",
        "--run-dir",
        tmp.path().join("eval2").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(raw["n"], m["n"]);
    assert_eq!(raw["accuracy"], m["accuracy"]);

    // classify one paper
    let c = last_json(&ok(&[
        "classify",
        "--model",
        run.to_str().unwrap(),
        "--title",
        "Convergence of stochastic gradient descent for non-convex optimization",
        "--abstract",
        "We prove convergence rates of stochastic gradient methods for smooth non-convex objectives and \
         study the iteration complexity of variance reduction in optimization.",
        "--top-k",
        "3",
        "--json",
    ]));
    let probs = c["probabilities"].as_array().unwrap();
    assert_eq!(probs.len(), 3);
    assert!(probs[0]["probability"].as_f64().unwrap() >= probs[1]["probability"].as_f64().unwrap());
    assert!(!probs[0]["name"].as_str().unwrap().is_empty());
    assert_eq!(c["category"], probs[0]["category"]);

    // batch classify
    let out = tmp.path().join("pred.jsonl");
    ok(&[
        "classify",
        "--model",
        run.to_str().unwrap(),
        "--input",
        mini.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), 5000);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    // The default -k/--top-k is 10, as for search.
    assert!(first["id"].is_string() && first["probabilities"].as_array().unwrap().len() == 10);

    // runs list / compare see both runs
    let runs_root = tmp.path().to_str().unwrap();
    let list = ok(&["runs", "list", "--runs-root", runs_root]);
    assert!(list.contains("train") && list.contains("evaluate"), "{list}");
    let cmp =
        ok(&["runs", "compare", run.to_str().unwrap(), eval_dir.to_str().unwrap(), "--runs-root", runs_root]);
    assert!(cmp.contains("accuracy"), "{cmp}");

    // a damaged model is refused with a message naming the file
    let model_dir = run.join("artifacts/model");
    let victim = std::fs::read_dir(&model_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a weights file");
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    let err = fails(&["classify", "--model", run.to_str().unwrap(), "--title", "x", "--abstract", "y"]);
    assert!(err.contains(victim.file_name().unwrap().to_str().unwrap()), "{err}");
}

#[test]
fn config_errors_name_the_key() {
    let err = fails(&["train", "data.max_sample=10", "--print-config"]);
    assert!(err.contains("data.max_sample"), "{err}");
    let err = fails(&["train", "experiment=nope", "--print-config"]);
    assert!(err.contains("tfidf_linear"), "available options should be listed: {err}");
    let err = fails(&["train", "data.max_samples=abc", "--print-config"]);
    assert!(err.contains("data.max_samples"), "{err}");
    let cfg = ok(&["train", "data=mini", "experiment.linear.epochs=3", "--print-config"]);
    assert!(cfg.contains("arxiv-mini"), "{cfg}");
    assert!(cfg.contains("epochs: 3"), "{cfg}");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let err = fails(&["classify", "--model", "/nonexistent/run", "--title", "a", "--abstract", "b"]);
    assert!(err.contains("/nonexistent/run"), "{err}");
    let err = fails(&["ingest", "/nonexistent/file.jsonl", "--out", "/tmp/never"]);
    assert!(err.contains("/nonexistent/file.jsonl"), "{err}");
}

#[test]
fn quickstart_runs_end_to_end_on_a_small_input() {
    let Some(shared) = shared("quickstart_runs_end_to_end_on_a_small_input", &[MINI]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&[
        "quickstart",
        "--input",
        shared.join("data/arxiv-mini.jsonl.gz").to_str().unwrap(),
        "--run-dir",
        tmp.path().join("qs").to_str().unwrap(),
        &format!("data.cache_dir={}", tmp.path().join("cache").display()),
    ]);
    assert!(out.contains("accuracy"), "{out}");
    assert!(out.contains("Attention Is All You Need"), "{out}");
    assert!(tmp.path().join("qs/artifacts/model/manifest.json").is_file());
    assert!(tmp.path().join("qs-eval/artifacts/confusion.png").is_file());
    // Every folder it made, and the next commands with those real paths.
    let cache = tmp.path().join("cache");
    assert!(out.contains(&format!("dataset     {}/arxiv-mini-", cache.display())), "{out}");
    assert!(out.contains(&format!("--model {} --title", tmp.path().join("qs").display())), "{out}");
    assert!(out.contains(&format!("embed --input {}/arxiv-mini-", cache.display())), "{out}");
    assert!(out.contains(
        "index build --embeddings data/embeddings/arxiv-mini-minilm --index data/indexes/arxiv-mini"
    ));
}

#[test]
fn train_from_a_raw_file_prints_only_json_on_stdout() {
    let Some(_) = shared("train_from_a_raw_file_prints_only_json_on_stdout", &[MINI]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&[
        "train",
        "data=mini",
        "experiment.linear.epochs=1",
        &format!("data.cache_dir={}", tmp.path().join("cache").display()),
        &format!("run.dir={}", tmp.path().join("run").display()),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("stdout is exactly one JSON object");
    assert_eq!(v["epochs_run"], 1.0);
    // The raw file was ingested into the cache and is reused by the next run.
    let cached: Vec<_> = std::fs::read_dir(tmp.path().join("cache")).unwrap().collect();
    assert_eq!(cached.len(), 1);
}

/// Whether ONNX Runtime loads; `false` after a skip, a panic where `ATLAS_REQUIRE_ONNXRUNTIME` is set.
fn onnx_runtime_installed(test: &str) -> bool {
    let ok = atlas_encoder::encoder::onnx_runtime_available();
    if !ok {
        let why = "the ONNX Runtime library is not installed (bash scripts/setup-onnxruntime.sh)";
        atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, test, why);
    }
    ok
}

#[test]
fn embed_resumes_after_an_interruption_and_reuses_the_cache() {
    let test = "embed_resumes_after_an_interruption_and_reuses_the_cache";
    let Some(shared) = shared(test, &[KAGGLE_200, INT8_GRAPH]) else { return };
    if !onnx_runtime_installed(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = shared.join("data/kaggle-format-200.json");
    let out = tmp.path().join("emb");
    let cache = tmp.path().join("cache");
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "embed",
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--precision",
            "int8",
            "--chunk-size",
            "50",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| last_json(&ok(&a.iter().map(String::as_str).collect::<Vec<_>>()));

    // A time-boxed first run stops after 2 of 4 chunks, as a killed run would.
    let r1 = run(args(&out, &["--max-chunks", "2"]));
    assert_eq!(r1["complete"], false);
    assert_eq!(r1["counts"]["embedded"], 100);
    assert!(!out.join("manifest.json").exists());
    // The second run resumes: only the 100 missing papers are embedded.
    let r2 = run(args(&out, &[]));
    assert_eq!(r2["complete"], true);
    assert_eq!(r2["resumed_chunks"], 2);
    assert_eq!(r2["counts"]["embedded"], 100);
    let set = atlas_embed::EmbeddingSet::open(&out).unwrap();
    assert_eq!(set.ids.len(), 200);
    assert_eq!(set.meta.dim, 384);
    assert!(set.meta.normalized);
    let norm: f32 = set.row(0).iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-3, "rows are unit vectors: {norm}");
    // Same model and input again: nothing to do.
    assert_eq!(run(args(&out, &[]))["up_to_date"], true);
    // Another output folder: everything comes from the cache, bit for bit the same vectors.
    let out2 = tmp.path().join("emb2");
    let r3 = run(args(&out2, &[]));
    assert_eq!(r3["counts"]["from_cache"], 200);
    assert_eq!(r3["counts"]["embedded"], 0);
    let set2 = atlas_embed::EmbeddingSet::open(&out2).unwrap();
    assert_eq!(set2.ids, set.ids);
    assert_eq!(set2.vectors, set.vectors);
    // A damaged set is refused.
    let vec_file = out2.join("embeddings.safetensors");
    let mut bytes = std::fs::read(&vec_file).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x55;
    std::fs::write(&vec_file, bytes).unwrap();
    assert!(atlas_embed::EmbeddingSet::open(&out2).is_err());
}

#[test]
fn bench_embed_reports_the_issue_keys() {
    let test = "bench_embed_reports_the_issue_keys";
    let Some(_) = shared(test, &[MINI, INT8_GRAPH]) else { return };
    if !onnx_runtime_installed(test) {
        return;
    }
    let v = last_json(&ok(&[
        "bench",
        "embed",
        "--limit",
        "40",
        "--repeats",
        "1",
        "--latency-texts",
        "5",
        "--precision",
        "int8",
        "--json",
    ]));
    for k in ["texts_per_s", "tokens_per_s", "latency_p50_ms", "latency_p95_ms", "gflops"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k} in {v}");
    }
    assert_eq!(v["texts"], 40);
}

#[test]
fn embedding_classifier_trains_evaluates_and_classifies() {
    let test = "embedding_classifier_trains_evaluates_and_classifies";
    let Some(_) = shared(test, &[MINI, INT8_GRAPH]) else { return };
    if !onnx_runtime_installed(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let cache = tmp.path().join("emb-cache");
    let data_cache = tmp.path().join("data");
    // 1,500 papers keep the test short (int8 encoder: ~1,400 texts to embed).
    let train = last_json(&ok(&[
        "train",
        "experiment=embedding_lr",
        "data=mini",
        "data.max_samples=1500",
        &format!("data.cache_dir={}", data_cache.display()),
        "experiment.encoder.precision=int8",
        &format!("experiment.encoder.cache_dir={}", cache.display()),
        &format!("run.dir={}", run.display()),
        "--json",
    ]));
    // ~150 classes with ~9 training papers each: chance is under 1 %; the head measures ~0.35.
    let acc = train["validation_accuracy"].as_f64().unwrap();
    assert!(acc > 0.15, "validation accuracy {acc}: {train}");
    assert!(train["embedded_texts"].as_f64().unwrap() > 1000.0);
    let manifest = std::fs::read_to_string(run.join("artifacts/model/manifest.json")).unwrap();
    assert!(manifest.contains("embedding_id"), "the head records its encoder: {manifest}");
    // Embedding heads are calibrated by train like TF-IDF models (temperature + conformal scores, sealed).
    assert!(manifest.contains("calibration.json"), "{manifest}");
    assert!(
        train["calibration_nll_after"].as_f64().unwrap() <= train["calibration_nll_before"].as_f64().unwrap()
    );

    // A second training run on the same data embeds nothing: every vector comes from the cache.
    let again = last_json(&ok(&[
        "train",
        "experiment=embedding_lr",
        "data=mini",
        "data.max_samples=1500",
        &format!("data.cache_dir={}", data_cache.display()),
        "experiment.encoder.precision=int8",
        &format!("experiment.encoder.cache_dir={}", cache.display()),
        &format!("run.dir={}", tmp.path().join("run2").display()),
        "--json",
    ]));
    assert_eq!(again["embedded_texts"], 0.0, "{again}");

    // classify loads the encoder the head was trained with.
    let c = last_json(&ok(&[
        "classify",
        "--model",
        run.to_str().unwrap(),
        "--title",
        "Lattice QCD calculation of the nucleon axial charge",
        "--abstract",
        "We compute the axial charge of the nucleon in lattice QCD with dynamical quarks at the physical pion mass.",
        "-k",
        "5",
        "--coverage",
        "0.9",
        "--json",
    ]));
    assert_eq!(c["probabilities"].as_array().unwrap().len(), 5);
    let set = c["category_set"].as_array().unwrap();
    assert!(!set.is_empty() && set[0]["category"] == c["category"], "{c}");
}

/// `recommend` over a real index: the TF-IDF features are built once from the papers (and the error without
/// them says what is needed), the list's papers never come back, a list of one category ranks that category
/// first, filters hold, and unknown ids are named.
#[test]
fn recommend_from_a_reading_list() {
    let Some((tmp, emb)) = embedded_sample("recommend_from_a_reading_list") else { return };
    let idx = tmp.path().join("idx").to_str().unwrap().to_owned();
    ok(&["index", "build", "--embeddings", &emb, "--index", &idx, "--backend", "exact", "--json"]);
    let set = atlas_embed::EmbeddingSet::open(Path::new(&emb)).unwrap();
    let papers = set.meta.input.to_str().unwrap().to_owned();
    let (all, _) = atlas_corpus::load_papers(&set.meta.input, None).unwrap();
    // The most common primary category of the sample, and three of its papers as the list.
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for p in &all {
        *counts.entry(p.categories[0].as_str()).or_default() += 1;
    }
    let (&top, &n_top) = counts.iter().max_by_key(|(_, n)| **n).unwrap();
    let list: Vec<&str> =
        all.iter().filter(|p| p.categories[0] == top).take(3).map(|p| p.id.as_str()).collect();
    let ids = list.join(",");

    let err = fails(&["recommend", "--ids", &ids, "--index", &idx]);
    assert!(err.contains("no reading-list features") && err.contains("--papers"), "{err}");
    let r = last_json(&ok(&[
        "recommend",
        "--ids",
        &ids,
        "--index",
        &idx,
        "--papers",
        &papers,
        "-k",
        "5",
        "--json",
    ]));
    let recs = r["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    assert!(recs.iter().all(|x| !list.contains(&x["paper"]["id"].as_str().unwrap())), "{r}");
    let on_topic = recs.iter().filter(|x| x["paper"]["categories"][0] == top).count();
    assert!(on_topic >= 3.min(n_top - list.len()), "{on_topic} of 5 in {top}: {r}");
    assert!(Path::new(&idx).join("recommend-features/manifest.json").exists());

    // Built once: no --papers needed now; a filter keeps only papers listing the category.
    let r = last_json(&ok(&["recommend", "--ids", &ids, "--index", &idx, "--category", "hep-ph", "--json"]));
    for x in r["recommendations"].as_array().unwrap() {
        assert!(x["paper"]["categories"].as_array().unwrap().iter().any(|c| c == "hep-ph"), "{x}");
    }
    let text = ok(&["recommend", "--ids", list[0], "--index", &idx, "-k", "3"]);
    assert!(text.contains("score") && !text.contains(list[0]), "{text}");
    let err = fails(&["recommend", "--ids", &format!("{},9999.99999", list[0]), "--index", &idx]);
    assert!(err.contains("not in the index: 9999.99999"), "{err}");
}

/// The 200-paper Kaggle sample embedded (int8 encoder) into `<tmp>/emb`; `None` (test skipped) without the real
/// data or ONNX Runtime. Returns the temporary folder and the embedding set's path.
fn embedded_sample(test: &str) -> Option<(tempfile::TempDir, String)> {
    let shared = shared(test, &[KAGGLE_200, INT8_GRAPH])?;
    if !onnx_runtime_installed(test) {
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let input = shared.join("data/kaggle-format-200.json");
    let (emb, cache) = (p("emb"), p("cache"));
    let input_s = input.to_str().unwrap();
    ok(&["embed", "--input", input_s, "--out", &emb, "--precision", "int8", "--cache-dir", &cache, "--json"]);
    Some((tmp, emb))
}

#[test]
fn index_build_search_add_and_refuse_damage() {
    let Some((tmp, emb)) = embedded_sample("index_build_search_add_and_refuse_damage") else { return };
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let set = atlas_embed::EmbeddingSet::open(Path::new(&emb)).unwrap();
    let split = |id: &str| atlas_corpus::split_of(id);
    let n_docs = set.ids.iter().filter(|id| split(id) != atlas_corpus::Split::Test).count();
    let n_train = set.ids.iter().filter(|id| split(id) == atlas_corpus::Split::Train).count();

    // `embed --split` takes a list, as everywhere a split is chosen: exactly the papers of those splits
    // (the vectors come from the cache the first embed filled).
    let held_out = p("emb-held-out");
    let (input, cache) = (set.meta.input.to_str().unwrap().to_owned(), p("cache"));
    let r = last_json(&ok(&[
        "embed",
        "--input",
        &input,
        "--out",
        &held_out,
        "--split",
        "validation,test",
        "--precision",
        "int8",
        "--cache-dir",
        &cache,
        "--json",
    ]));
    assert_eq!(r["count"], (set.ids.len() - n_train) as u64, "{r}");
    let held = atlas_embed::EmbeddingSet::open(Path::new(&held_out)).unwrap();
    assert!(held.ids.iter().all(|id| split(id) != atlas_corpus::Split::Train));
    assert!(held.ids.iter().any(|id| split(id) == atlas_corpus::Split::Test));
    assert!(held.ids.iter().any(|id| split(id) == atlas_corpus::Split::Validation));

    // usearch over train + validation, as for the retrieval protocol.
    let idx = p("idx");
    let built = last_json(&ok(&[
        "index",
        "build",
        "--embeddings",
        &emb,
        "--index",
        &idx,
        "--split",
        "train,validation",
        "--json",
    ]));
    assert_eq!(built["info"]["count"], n_docs as u64);
    assert_eq!(built["info"]["embedding_id"], set.meta.embedding_id.as_str());

    // Papers like a stored one: k hits, best first, never the paper itself.
    let query_id = set.ids.iter().find(|id| split(id) == atlas_corpus::Split::Train).unwrap();
    let r = last_json(&ok(&["search", "--id", query_id, "--index", &idx, "-k", "5", "--json"]));
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5);
    assert!(hits.iter().all(|h| h["paper"]["id"] != query_id.as_str()));
    let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");

    // Free text, with the index's own encoder; a category filter keeps only papers listing it.
    let r = last_json(&ok(&[
        "search",
        "quark gluon plasma at the LHC",
        "--index",
        &idx,
        "-k",
        "3",
        "--category",
        "hep-ph",
        "--json",
    ]));
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    for h in hits {
        let cats: Vec<&str> =
            h["paper"]["categories"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert!(cats.contains(&"hep-ph"), "{cats:?}");
    }
    // A year range no paper of 2007 passes returns nothing rather than unfiltered hits.
    let r = last_json(&ok(&["search", "--id", query_id, "--index", &idx, "--years", "1900..1901", "--json"]));
    assert_eq!(r["hits"].as_array().unwrap().len(), 0);
    assert!(fails(&["search", "--id", query_id, "--index", &idx, "--years", "2019..2001"])
        .contains("years `2019..2001`"));

    pgvector_build_and_search(&emb, query_id);

    // Adding to an exact index of the train split: only the new papers go in, without a rebuild.
    let exact = p("exact");
    ok(&[
        "index",
        "build",
        "--embeddings",
        &emb,
        "--index",
        &exact,
        "--backend",
        "exact",
        "--split",
        "train",
    ]);
    let added = last_json(&ok(&["index", "add", "--index", &exact, "--embeddings", &emb, "--json"]));
    assert_eq!(added["added"], (set.ids.len() - n_train) as u64);
    assert_eq!(added["skipped"].as_array().unwrap().len(), n_train);
    assert_eq!(added["count"], set.ids.len() as u64);

    // A damaged index file is refused with a message naming it.
    let graph = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "usearch"))
        .expect("a usearch graph file");
    let mut bytes = std::fs::read(&graph).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&graph, bytes).unwrap();
    let err = fails(&["search", "--id", query_id, "--index", &idx]);
    assert!(err.contains("usearch"), "{err}");
}

/// Drops a test's pgvector tables even when an assertion fails.
struct PgTables(String, String);

impl Drop for PgTables {
    fn drop(&mut self) {
        let _ = atlas_index::PgIndex::drop_tables(&self.0, &self.1);
    }
}

/// The PostgreSQL backend through the CLI: `index build --index postgres://…`, then `search` by id
/// and by text with a filter. Runs against the real server `scripts/test.sh` starts.
fn pgvector_build_and_search(emb: &str, query_id: &str) {
    let Some(url) = atlas_testkit::database_url("index_build_search_add_and_refuse_damage (pgvector part)")
    else {
        return;
    };
    let prefix = format!("e2e{}", std::process::id());
    let _drop = PgTables(url.clone(), prefix.clone());
    let built = last_json(&ok(&[
        "index",
        "build",
        "--embeddings",
        emb,
        "--index",
        &url,
        "--index-name",
        &prefix,
        "--split",
        "train,validation",
        "--json",
    ]));
    assert_eq!(built["info"]["backend"], "postgres", "{built}");
    let loc = ["--index", url.as_str(), "--index-name", prefix.as_str()];
    let r = last_json(&ok(&[&["search", "--id", query_id, "-k", "5", "--json"][..], &loc[..]].concat()));
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 5, "{r}");
    assert!(hits.iter().all(|h| h["paper"]["id"] != query_id), "{r}");
    let text = ["search", "quark gluon plasma at the LHC", "-k", "3", "--category", "hep-ph", "--json"];
    let r = last_json(&ok(&[&text[..], &loc[..]].concat()));
    let hits = r["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{r}");
    assert!(
        hits.iter().all(|h| h["paper"]["categories"].as_array().unwrap().iter().any(|c| c == "hep-ph")),
        "{r}"
    );
}

/// `serve` as a user runs it: a trained model and an index folder built by the binary, a real TCP port, the
/// request log in SQLite, stopped by SIGTERM.
#[test]
fn serve_classifies_and_searches_with_a_real_index() {
    let Some((tmp, emb)) = embedded_sample("serve_classifies_and_searches_with_a_real_index") else { return };
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (idx, run, log) = (p("idx"), p("run"), p("log.sqlite"));
    ok(&["index", "build", "--embeddings", &emb, "--index", &idx, "--json"]);
    ok(&[
        "train",
        "data=mini",
        "data.max_samples=1500",
        "experiment.linear.epochs=2",
        &format!("data.cache_dir={}", p("cache")),
        &format!("run.dir={run}"),
        "--json",
    ]);
    let port = common::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"))
        .args(["serve", "--model", &run, "--index", &idx, "--request-log", &log, "--workers", "2"])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .current_dir(repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    common::wait_ready(&mut server, port);

    // What loaded, and how long each part took: the index's int8 encoder, one session per worker.
    let (code, info) = http(port, "GET", "/info", None);
    assert_eq!(code, 200, "{info}");
    let backend = info["encoder"]["backend"].as_str().unwrap_or("");
    assert!(backend.contains("int8") && backend.contains("2 sessions"), "{info}");
    for phase in ["model", "index", "load"] {
        assert!(info["startup_s"][phase].as_f64().is_some_and(|s| s > 0.0), "{phase}: {info}");
    }
    assert_eq!(info["batch"]["max_batch_tokens"], 1024, "the CPU default: {info}");

    let (code, c) = http(
        port,
        "POST",
        "/v1/classify",
        Some(
            r#"{"title":"Surface codes","abstract":"We study quantum error correction with surface codes and decoders.","top_k":3}"#,
        ),
    );
    assert_eq!(code, 200, "{c}");
    assert_eq!(c["probabilities"].as_array().unwrap().len(), 3);
    assert!(c["category"].is_string() && c["name"].is_string(), "{c}");

    // Text search through the index's own encoder, then search by the id of a hit and fetch that paper.
    let (code, s) =
        http(port, "POST", "/v1/search", Some(r#"{"text":"dark matter halo simulations","k":4}"#));
    assert_eq!(code, 200, "{s}");
    let hits = s["results"].as_array().unwrap();
    assert_eq!(hits.len(), 4, "{s}");
    let id = hits[0]["id"].as_str().unwrap().to_owned();
    let (code, s) = http(port, "POST", "/v1/search", Some(&format!(r#"{{"id":"{id}","k":3}}"#)));
    assert_eq!(code, 200, "{s}");
    assert!(s["results"].as_array().unwrap().iter().all(|h| h["id"] != id.as_str()), "{s}");
    let (code, paper) = http(port, "GET", &format!("/v1/papers/{id}"), None);
    assert_eq!((code, paper["id"].as_str()), (200, Some(id.as_str())), "{paper}");

    // Bad input: JSON errors naming the field, never a dropped connection.
    let (code, e) = http(port, "POST", "/v1/search", Some(r#"{"text":"   ","k":3}"#));
    assert_eq!(code, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("text"), "{e}");
    let (code, e) = http(port, "GET", "/v1/papers/0000.00000", None);
    assert_eq!(code, 404, "{e}");
    assert!(e["error"]["code"].is_string(), "{e}");

    let (code, m) = http(port, "GET", "/metrics", None);
    assert_eq!(code, 200);
    assert!(m.as_str().unwrap_or("").contains("route=\"/v1/search\""), "{m}");

    // SIGTERM: a clean exit, and the requests are in the log.
    let killed = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = server.0.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
    let bytes = std::fs::read(&log).expect("the request log exists");
    assert!(bytes.starts_with(b"SQLite format 3"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("dark matter halo simulations"), "the search request is logged");
}

/// Scale-out through the CLI on 1,200 papers of arxiv-mini: `embed --shard I/4` four times, then
/// `merge-embeddings` gives the whole run's set byte for byte, and `index build` with the four shards appends
/// them one by one into one PostgreSQL index whose searches equal those of an index built from the whole run.
/// (The whole run fills a private cache that the shards then read: this test is about the cut, the merge and
/// the load; bit-equality under fresh compute is `atlas-embed`'s `tests/shards.rs`.)
#[test]
fn sharded_embed_merges_and_loads_postgres_like_one_run() {
    let test = "sharded_embed_merges_and_loads_postgres_like_one_run";
    let Some(shared) = shared(test, &[MINI, INT8_GRAPH]) else { return };
    if !onnx_runtime_installed(test) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let papers = tmp.path().join("papers.jsonl");
    atlas_testkit::jsonl_gz_head(&shared.join(MINI), &papers, 1200);
    let (papers, cache) = (papers.to_str().unwrap().to_owned(), p("cache"));
    let embed = |out: &str, shard: Option<&str>| {
        let mut a = vec!["embed", "--input", &papers, "--out", out, "--precision", "int8"];
        a.extend(["--cache-dir", &cache, "--json"]);
        if let Some(s) = shard {
            a.extend(["--shard", s]);
        }
        last_json(&ok(&a))
    };
    let whole = p("whole");
    assert_eq!(embed(&whole, None)["count"], 1200);
    let shards: Vec<String> = (0..4).map(|i| p(&format!("shard-{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        let r = embed(dir, Some(&format!("{i}/4")));
        assert_eq!(r["count"], 300, "{r}");
    }
    let err = fails(&["embed", "--input", &papers, "--out", &p("x"), "--shard", "4/4"]);
    assert!(err.contains("below the count"), "{err}");

    let merged = p("merged");
    let m = last_json(&ok(&[
        &["merge-embeddings", "--out", &merged, "--json"][..],
        &shards.iter().map(String::as_str).collect::<Vec<_>>()[..],
    ]
    .concat()));
    assert_eq!((m["shards"].as_u64(), m["count"].as_u64()), (Some(4), Some(1200)), "{m}");
    for f in ["embeddings.safetensors", "ids.txt"] {
        let (a, b) = (
            std::fs::read(Path::new(&whole).join(f)).unwrap(),
            std::fs::read(Path::new(&merged).join(f)).unwrap(),
        );
        assert!(a == b, "merged {f} differs from the whole run's");
    }
    // Three shards of four are refused, by the merge and by the index build alike.
    let three = shards[..3].join(",");
    assert!(fails(&["merge-embeddings", "--out", &p("short"), &shards[0], &shards[1], &shards[2]])
        .contains("4 shards"));
    assert!(
        fails(&["index", "build", "--embeddings", &three, "--index", &p("idx-short")]).contains("4 shards")
    );

    let Some(url) = atlas_testkit::database_url(&format!("{test} (pgvector part)")) else { return };
    let (one, four) = (format!("shone{}", std::process::id()), format!("shfour{}", std::process::id()));
    let _drop = (PgTables(url.clone(), one.clone()), PgTables(url.clone(), four.clone()));
    let all = shards.join(",");
    for (prefix, emb) in [(&one, whole.as_str()), (&four, all.as_str())] {
        let built = last_json(&ok(&[
            "index",
            "build",
            "--embeddings",
            emb,
            "--index",
            &url,
            "--index-name",
            prefix,
            "--json",
        ]));
        assert_eq!(
            (built["info"]["backend"].as_str(), built["info"]["count"].as_u64()),
            (Some("postgres"), Some(1200)),
            "{built}"
        );
    }
    // efSearch 1000 ≥ the 1,200-row graph's reach at k = 10: both graphs answer exactly, so the hits must be equal
    // (HNSW builds draw random levels; at a small efSearch two builds of the same rows may differ in the tail).
    let set = atlas_embed::EmbeddingSet::open(Path::new(&whole)).unwrap();
    for id in [&set.ids[0], &set.ids[299], &set.ids[300], &set.ids[777], &set.ids[1199]] {
        let search = |prefix: &str| {
            let r = last_json(&ok(&[
                "search",
                "--id",
                id,
                "-k",
                "10",
                "--ef-search",
                "1000",
                "--index",
                &url,
                "--index-name",
                prefix,
                "--json",
            ]));
            r["hits"].clone()
        };
        let (a, b) = (search(&one), search(&four));
        assert_eq!(a.as_array().map(Vec::len), Some(10), "{a}");
        assert_eq!(a, b, "paper {id}: the sharded load answers differently");
    }
}

/// `map` on arxiv-mini: `embed` (int8, through the shared embedding cache, so a second run costs nothing) →
/// `map --out --png --json`; the page and the picture are checked, and papers that do not match fail clearly.
#[test]
fn map_of_arxiv_mini_writes_a_page_and_a_picture() {
    let test = "map_of_arxiv_mini_writes_a_page_and_a_picture";
    let Some(shared) = shared(test, &[MINI, KAGGLE_200, INT8_GRAPH]) else { return };
    if !onnx_runtime_installed(test) {
        return;
    }
    let mini = shared.join(MINI);
    let tmp = tempfile::tempdir().unwrap();
    let emb = tmp.path().join("emb");
    let (emb_s, mini_s) = (emb.to_str().unwrap(), mini.to_str().unwrap());
    ok(&["embed", "--input", mini_s, "--out", emb_s, "--precision", "int8", "--json"]);

    let html = tmp.path().join("map.html");
    let png = tmp.path().join("map.png");
    let out = ok(&[
        "map",
        "--embeddings",
        emb_s,
        "--out",
        html.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "--epochs",
        "100",
        "--json",
    ]);
    let report = last_json(&out);
    assert_eq!(report["papers"], 5000, "{report}");
    assert_eq!(report["projection"]["neighbour_search"], "exact");
    assert_eq!(report["projection"]["epochs"], 100);
    assert!(report["archives"].as_u64().unwrap() >= 5, "{report}");
    // Region names come from the taxonomy of the data kit (full names, not codes).
    let labels: Vec<&str> = report["labels"].as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
    assert!(labels.len() >= 5, "{labels:?}");
    assert!(labels.iter().any(|l| l.contains(' ')), "taxonomy names: {labels:?}");

    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(report["html_bytes"], page.len());
    // Every paper of the embedding set is on the page with its title.
    let set = atlas_embed::EmbeddingSet::open(&emb).unwrap();
    for id in set.ids.iter().step_by(500) {
        assert!(page.contains(&format!("\"{id}\"")), "{id} on the page");
    }
    let (papers, _) = atlas_corpus::load_papers(&mini, None).unwrap();
    for p in papers.iter().step_by(700) {
        let title = serde_json::to_string(&p.title).unwrap().replace('<', "\\u003c");
        assert!(page.contains(&title), "{title} on the page");
    }
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    // Width and height from the IHDR chunk: the default size.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1800);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 1200);

    // Papers that do not match the vectors are refused, naming the file.
    let other = shared.join(KAGGLE_200);
    let bad = atlas(&[
        "map",
        "--embeddings",
        emb_s,
        "--out",
        html.to_str().unwrap(),
        "--papers",
        other.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("kaggle-format-200.json") && err.contains("disagree"), "{err}");
}
