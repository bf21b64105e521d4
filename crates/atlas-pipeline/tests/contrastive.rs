//! `train experiment=contrastive` on the real `arxiv-mini` papers and MiniLM of the data kit (skipped without
//! them, a failure where `ATLAS_REQUIRE_DATA=1`): the `finetune` group's settings fine-tune the top layer,
//! the run folder holds the resolved configuration, the tuned model and its metrics, and the tuned model
//! serves at fp32 and at int8 (a graph arxiv-atlas quantizes itself: a tuned folder ships none);
//! `train experiment=finetune_classifier` tunes the top layer with a cross-entropy head and serves the `lr` head
//! on the tuned encoder like an `embedding_lr` model; `finetune=adapter` without a set embeds the papers itself.

mod common;

use atlas_encoder::{cosine, BackendKind, Encoder, EncoderOptions, Precision};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_pipeline::{evaluate, train, EvaluateRequest, PipelineError};

/// Overrides for a small run: 600 arxiv-mini papers, the top layer, 4 steps of 16 pairs, caches under `t`.
fn small_run(t: &std::path::Path) -> Vec<String> {
    [
        "data.max_samples=600",
        "finetune.train_layers=1",
        "finetune.layers.max_pairs=64",
        "finetune.layers.batch_size=16",
        "finetune.layers.eval_every=2",
        "finetune.layers.eval_queries=50",
        "finetune.layers.eval_docs=200",
        "finetune.layers.progress=false",
        "experiment.encoder.threads=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        format!("finetune.hidden_dir={}", t.join("hidden").display()),
        format!("experiment.encoder.cache_dir={}", t.join("emb-cache").display()),
    ])
    .collect()
}

#[test]
fn contrastive_experiment_tunes_the_top_layer_and_the_tuned_model_serves_fp32_and_int8() {
    let test = "contrastive_experiment_tunes_the_top_layer_and_the_tuned_model_serves_fp32_and_int8";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let extra = small_run(t);
    let Some(resolved) = common::mini_config_with(test, "contrastive", t, &extra) else { return };
    assert_eq!(resolved.groups["finetune"], "cpu_60min");
    let out = train(&resolved).unwrap();
    assert_eq!(out.run_dir, t.join("runs/train"));

    // The run record: the resolved configuration and both sides of the comparison.
    let yaml = std::fs::read_to_string(out.run_dir.join("config.resolved.yaml")).unwrap();
    assert!(yaml.contains("kind: contrastive") && yaml.contains("train_layers: 1"), "{yaml}");
    for key in ["frozen_test_p_at_1", "test_p_at_1", "test_p_at_10", "test_mrr_at_10"] {
        let v = out.metrics[key];
        assert!(v > 0.0 && v <= 1.0, "{key} = {v}");
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["name"], "contrastive", "{run}");

    // The tuned folder embeds at fp32 and, with no shipped int8 graph, at int8 through the graph quantized
    // here; int8 stays close to fp32 and is another vector space.
    let model = out.run_dir.join("artifacts/model");
    assert!(!model.join("onnx").exists(), "a tuned folder ships no (stale) ONNX graphs");
    let base = resolved.config.experiment.encoder.spec.resolve_model_dir().unwrap();
    let opts = |precision| EncoderOptions {
        backend: BackendKind::Onnx,
        precision,
        threads: 2,
        ..Default::default()
    };
    let fp32 = Encoder::load(&model, &opts(Precision::Fp32)).unwrap();
    let int8 = Encoder::load(&model, &opts(Precision::Int8)).unwrap();
    let frozen = Encoder::load(&base, &opts(Precision::Fp32)).unwrap();
    assert!(int8.backend_name().contains("quantized from model.safetensors"), "{}", int8.backend_name());
    let texts = [
        "Graph neural networks for molecule property prediction [SEP] We learn message passing on molecules.",
        "Dark matter halo profiles from weak lensing [SEP] We measure halo masses of galaxy clusters.",
        "Sharp bounds for the Riemann zeta function on the critical line [SEP] We prove new moment estimates.",
    ];
    let (a, b, c) = (fp32.embed(&texts).unwrap(), int8.embed(&texts).unwrap(), frozen.embed(&texts).unwrap());
    for ((x, y), z) in a.rows().zip(b.rows()).zip(c.rows()) {
        let (int8_cos, moved) = (cosine(x, y), cosine(x, z));
        assert!(int8_cos > 0.98, "int8 vs fp32 of the tuned model: {int8_cos}");
        assert!(moved < 0.99999, "the tuned model embeds like the base ({moved})");
    }
    assert_ne!(fp32.embedding_id().unwrap(), int8.embedding_id().unwrap());
}

/// `finetune=adapter` without `finetune.embeddings`: the run embeds the papers itself (through the cache, into a
/// set beside it) and trains the adapter — here the residual MLP with the cosine classifier's cross-entropy.
#[test]
fn an_adapter_without_an_embedding_set_embeds_the_papers_itself() {
    let test = "an_adapter_without_an_embedding_set_embeds_the_papers_itself";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let extra: Vec<String> = [
        "finetune=adapter",
        "data.max_samples=600",
        "finetune.adapter.loss=cross_entropy",
        "finetune.adapter.hidden=64",
        "finetune.adapter.epochs=3",
        "finetune.adapter.batch_size=64",
        "finetune.adapter.progress=false",
        "experiment.encoder.threads=2",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("experiment.encoder.cache_dir={}", t.join("emb-cache").display())])
    .collect();
    let Some(resolved) = common::mini_config_with(test, "contrastive", t, &extra) else { return };
    let out = train(&resolved).unwrap();
    let sets: Vec<_> = std::fs::read_dir(t.join("sets")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set = atlas_embed::EmbeddingSet::open(&sets[0]).unwrap();
    assert_eq!(set.ids.len(), 600);
    let params = std::fs::read_to_string(out.run_dir.join("params.json")).unwrap();
    assert!(params.contains("residual_mlp") && params.contains("cross_entropy"), "{params}");
    assert!(params.contains(&*sets[0].to_string_lossy()), "the run names the set it trained on: {params}");
    let modules = std::fs::read_to_string(out.run_dir.join("artifacts/model/modules.json")).unwrap();
    assert!(modules.contains("3_Dense") && modules.contains("4_Dense"), "{modules}");
    for key in ["frozen_test_p_at_1", "test_p_at_1"] {
        let v = out.metrics[key];
        assert!(v > 0.0 && v <= 1.0, "{key} = {v}");
    }
}

#[test]
fn finetune_classifier_tunes_the_encoder_with_a_head_then_serves_like_embedding_lr() {
    let test = "finetune_classifier_tunes_the_encoder_with_a_head_then_serves_like_embedding_lr";
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let extra = small_run(t);
    let Some(resolved) = common::mini_config_with(test, "finetune_classifier", t, &extra) else { return };
    let out = train(&resolved).unwrap();

    // The encoder's own run inside the classifier's, trained with cross-entropy whatever the group says.
    let encoder_run = out.run_dir.join("encoder");
    let params = std::fs::read_to_string(encoder_run.join("params.json")).unwrap();
    assert!(params.contains("cross_entropy"), "{params}");
    for key in ["encoder_frozen_test_p_at_1", "encoder_test_p_at_1", "validation_accuracy"] {
        let v = out.metrics[key];
        assert!(v > 0.0 && v <= 1.0, "{key} = {v}");
    }
    // The head found every paper embedded by the tuned encoder already (the fine-tuning filled the cache).
    assert_eq!(out.metrics["embedded_texts"], 0.0, "{:?}", out.metrics);

    // It loads and classifies like an embedding_lr model, with the tuned encoder.
    let model = LoadedModel::open(&out.run_dir, &LoadOptions::default()).unwrap();
    let encoder = model.predictor.encoder().expect("an embedding model");
    let tuned = atlas_encoder::ModelFolder::open(&encoder_run.join("artifacts/model")).unwrap();
    assert_eq!(encoder.model_hash().unwrap(), tuned.model_hash().unwrap(), "not the tuned encoder");
    let ds = atlas_pipeline::prepare_dataset(&resolved.config.data).unwrap();
    let report = evaluate(&EvaluateRequest {
        model: out.run_dir.clone(),
        input: ds.dir().to_path_buf(),
        splits: vec![atlas_corpus::Split::Test],
        run_dir: Some(t.join("runs/eval")),
        runs_root: t.join("runs"),
        multilabel_threshold: 0.2,
        coverage: None,
    })
    .unwrap()
    .report;
    // 600 papers over ~100 categories: far above the 1/categories of guessing, far from perfect.
    assert!(report.accuracy > 0.1 && report.accuracy < 1.0, "test accuracy {}", report.accuracy);

    // The run moves as a whole (copied to another machine, renamed): the head still finds the encoder tuned
    // inside it, recorded relative to the head's folder.
    let tuned_hash = tuned.model_hash().unwrap().to_string();
    drop((model, tuned));
    let moved = t.join("moved-run");
    std::fs::rename(&out.run_dir, &moved).unwrap();
    let model = LoadedModel::open(&moved, &LoadOptions::default()).unwrap();
    let encoder = model.predictor.encoder().expect("an embedding model");
    assert_eq!(encoder.model_hash().unwrap(), tuned_hash, "the moved run lost its tuned encoder");
    assert!(encoder.folder().dir().starts_with(&moved), "{}", encoder.folder().dir().display());

    // The adapter is no way to tune a classifier's encoder.
    let tmp2 = tempfile::tempdir().unwrap();
    let extra = vec!["finetune=adapter".to_string()];
    let resolved = common::mini_config_with(test, "finetune_classifier", tmp2.path(), &extra).unwrap();
    let err = train(&resolved).unwrap_err();
    assert!(matches!(err, PipelineError::Setting { key: "finetune.train_layers", .. }), "{err}");
}
