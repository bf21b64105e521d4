//! End to end on real data: the first 3,000 papers of arxiv-mini embedded with the real all-MiniLM-L6-v2
//! (through the embedding cache, so a second run is quick), an adapter fine-tuned for a few epochs, then:
//! validation same-category P@1 improves over the frozen embeddings, test P@1 does not fall, and the saved
//! folder round-trips through atlas-encoder — its embeddings of papers equal the adapted embedding set's rows,
//! which carry the vector-space id the encoder gives that folder.
//!
//! Needs the data kit and model (`ATLAS_REQUIRE_DATA`, through atlas-testkit); uses ONNX Runtime when it is
//! installed (fp32 graph from the safetensors: the same vectors as candle, faster), else candle.

use atlas_embed::{EmbedFileOptions, EmbeddingCache, EmbeddingSet};
use atlas_encoder::{cosine, Encoder, EncoderOptions};
use atlas_finetune::{
    finetune, FinetuneRequest, FinetuneResult, LayerOptions, LossKind, TrainLayers, TrainOptions,
};

const PAPERS: usize = 3000;

/// The first [`PAPERS`] papers of arxiv-mini in a temporary folder and their frozen embedding set (through the
/// default embedding cache, so the tests after the first embed nothing).
struct Setup {
    tmp: tempfile::TempDir,
    papers: std::path::PathBuf,
    set_dir: std::path::PathBuf,
    encoder: Encoder,
}

fn setup(test: &str) -> Option<Setup> {
    let mini = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz")?;
    let model = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2")?;
    let tmp = tempfile::tempdir().unwrap();
    let papers = tmp.path().join("papers.jsonl");
    atlas_testkit::jsonl_gz_head(&mini, &papers, PAPERS);
    let encoder = Encoder::load(&model, &EncoderOptions::default()).unwrap();
    let mut cache = EmbeddingCache::for_encoder(&encoder, None).unwrap();
    let set_dir = tmp.path().join("emb");
    let opts = EmbedFileOptions { progress: false, ..EmbedFileOptions::default() };
    atlas_embed::embed_file(&encoder, Some(&mut cache), &papers, &set_dir, &opts).unwrap();
    Some(Setup { tmp, papers, set_dir, encoder })
}

/// An adapter run over the set with `train`, writing into the temporary folder.
fn adapter_run(s: &Setup, train: TrainOptions) -> FinetuneResult {
    let req = FinetuneRequest {
        embeddings: Some(s.set_dir.clone()),
        papers: None,
        model_dir: None,
        run_dir: Some(s.tmp.path().join("run")),
        runs_root: s.tmp.path().to_path_buf(),
        train,
        fill_cache: true,
        cache_dir: Some(s.tmp.path().join("cache")),
        train_layers: TrainLayers::Adapter,
        layers: LayerOptions::default(),
        hidden_dir: None,
        threads: 0,
        run_name: None,
        config_yaml: None,
    };
    finetune(&req).unwrap()
}

/// Validation P@1 rose by a point or more at the kept epoch, test P@1 did not fall, and the run is recorded.
fn assert_it_learned(r: &FinetuneResult) {
    let train = r.train.clone().expect("an adapter run reports its epochs");
    let frozen_val = train.history[0].val_p_at_1;
    let best_val = train.history[train.best_epoch].val_p_at_1;
    assert!(
        train.best_epoch > 0 && best_val >= frozen_val + 0.01,
        "validation P@1 {frozen_val} -> {best_val}"
    );
    assert!(
        r.tuned_test.p_at_1 >= r.frozen_test.p_at_1,
        "test P@1 {} -> {}",
        r.frozen_test.p_at_1,
        r.tuned_test.p_at_1
    );
    // The loss fell from the first epoch to the kept one.
    let loss = |e: usize| train.history[e].loss.unwrap();
    assert!(loss(train.best_epoch) < loss(1) || train.best_epoch == 1);
    assert!(r.run_dir.join("run.json").is_file() && r.run_dir.join("metrics.jsonl").is_file());
}

/// The folder, loaded like any model, embeds papers as the adapted set says, and its cache holds them.
fn assert_folder_round_trips(s: &Setup, r: &FinetuneResult) {
    let adapted = EmbeddingSet::open(&r.embeddings_dir).unwrap();
    let tuned = Encoder::load(&r.model_dir, &EncoderOptions::default()).unwrap();
    assert_eq!(tuned.embedding_id().unwrap(), adapted.meta.embedding_id);
    assert_ne!(tuned.embedding_id().unwrap(), s.encoder.embedding_id().unwrap());
    let mut texts = Vec::new();
    atlas_corpus::read_papers(&s.papers, &atlas_corpus::ReadOptions::default(), |p| {
        if texts.len() < 8 {
            texts.push((p.id.clone(), p.text(tuned.template())));
        }
    })
    .unwrap();
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    let got = tuned.embed(&refs).unwrap();
    // The new model's cache already holds every paper of the set, under the text the encoder would embed.
    let tuned_cache = EmbeddingCache::for_encoder(&tuned, Some(&s.tmp.path().join("cache"))).unwrap();
    let keys: Vec<[u8; 32]> = texts.iter().map(|(_, t)| atlas_embed::text_key(t)).collect();
    let mut cached = vec![0.0f32; keys.len() * tuned.dim()];
    assert!(tuned_cache.get_many(&keys, &mut cached).unwrap().is_empty());
    for (row, c) in got.rows().zip(cached.chunks_exact(tuned.dim())) {
        assert!(cosine(row, c) > 0.99999);
    }
    for ((id, _), row) in texts.iter().zip(got.rows()) {
        let i = adapted.ids.iter().position(|x| x == id).unwrap();
        let c = cosine(row, adapted.row(i));
        assert!(c > 0.99999, "{id}: cosine {c}");
    }
}

#[test]
fn adapter_improves_same_category_retrieval_and_its_folder_round_trips() {
    let test = "adapter_improves_same_category_retrieval_and_its_folder_round_trips";
    let Some(s) = setup(test) else { return };
    let r = adapter_run(
        &s,
        TrainOptions { epochs: 6, batch_size: 128, progress: false, ..TrainOptions::default() },
    );
    assert_it_learned(&r);
    assert_folder_round_trips(&s, &r);
}

/// The residual MLP trained with the cosine classifier's cross-entropy: it learns, and its folder — two Dense
/// modules, ReLU then linear, as sentence-transformers writes them — embeds what the run computed.
#[test]
fn mlp_adapter_with_cross_entropy_learns_and_saves_as_two_dense_modules() {
    let test = "mlp_adapter_with_cross_entropy_learns_and_saves_as_two_dense_modules";
    let Some(s) = setup(test) else { return };
    let train = TrainOptions {
        epochs: 8,
        batch_size: 128,
        lr: 0.002,
        scale: 10.0,
        loss: LossKind::CrossEntropy,
        hidden: 256,
        progress: false,
        ..TrainOptions::default()
    };
    let r = adapter_run(&s, train);
    assert_it_learned(&r);
    let modules: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.model_dir.join("modules.json")).unwrap()).unwrap();
    let paths: Vec<&str> = modules.as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths[3..], ["3_Dense", "4_Dense", "5_Normalize"], "{modules}");
    let config = |dir: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(r.model_dir.join(dir).join("config.json")).unwrap())
            .unwrap()
    };
    let (first, second) = (config("3_Dense"), config("4_Dense"));
    assert_eq!(first["activation_function"], "torch.nn.modules.activation.ReLU", "{first}");
    assert_eq!(
        (first["in_features"].as_u64(), first["out_features"].as_u64()),
        (Some(384), Some(2 * 384 + 256))
    );
    assert_eq!(second["activation_function"], "torch.nn.modules.linear.Identity", "{second}");
    assert_eq!(second["out_features"].as_u64(), Some(384));
    assert_folder_round_trips(&s, &r);
}
