//! Top-layer fine-tuning end to end on real data: the first papers of arxiv-mini embedded with the real
//! all-MiniLM-L6-v2, its top layer fine-tuned from the hidden-state store, then
//! - the saved folder loads like any model and embeds papers as the tuned embedding set says (the set is
//!   computed from f16 stored states; the encoder runs the whole model from the text);
//! - the tuned model's embedding cache holds every paper;
//! - a run stopped mid-way (as a kill leaves it: a checkpoint, nothing else) and resumed by running the same
//!   request again ends with the same weights, byte for byte, as an unbroken run, and the same loss history;
//! - the loss curve and validation curve are drawn;
//! - `loss: contrastive` trains on the same stored states with mined hard negatives.
//!
//! Needs the data kit and ONNX Runtime (the bottom and top passes run on it).

use std::path::Path;

use atlas_embed::{EmbedFileOptions, EmbeddingCache, EmbeddingSet};
use atlas_encoder::{cosine, Encoder, EncoderOptions};
use atlas_finetune::{finetune, FinetuneRequest, LayerOptions, LossKind, TrainLayers, TrainOptions};

const PAPERS: usize = 600;

fn request(set: &Path, run: &Path, root: &Path, opts: LayerOptions) -> FinetuneRequest {
    FinetuneRequest {
        embeddings: Some(set.to_path_buf()),
        papers: None,
        model_dir: None,
        run_dir: Some(run.to_path_buf()),
        runs_root: root.to_path_buf(),
        train: TrainOptions::default(),
        fill_cache: true,
        cache_dir: Some(root.join("cache")),
        train_layers: TrainLayers::Top(1),
        layers: opts,
        hidden_dir: Some(root.join("hidden")),
        threads: 2,
        run_name: None,
        config_yaml: None,
    }
}

#[test]
fn top_layer_fine_tuning_saves_a_working_model_and_resumes_bit_for_bit() {
    let test = "top_layer_fine_tuning_saves_a_working_model_and_resumes_bit_for_bit";
    let Some(mini) = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz") else { return };
    let Some(model) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    if !atlas_encoder::encoder::onnx_runtime_available() {
        let why = "ONNX Runtime is not installed (scripts/setup-onnxruntime.sh)";
        atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, test, why);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let papers = root.join("papers.jsonl");
    atlas_testkit::jsonl_gz_head(&mini, &papers, PAPERS);
    let encoder = Encoder::load(&model, &EncoderOptions::default()).unwrap();
    let mut cache = EmbeddingCache::for_encoder(&encoder, None).unwrap();
    let set_dir = root.join("emb");
    let eopts = EmbedFileOptions { progress: false, ..EmbedFileOptions::default() };
    atlas_embed::embed_file(&encoder, Some(&mut cache), &papers, &set_dir, &eopts).unwrap();

    let opts = LayerOptions {
        max_pairs: 96,
        batch_size: 16,
        accumulation: 2,
        lr: 2e-4,
        max_tokens: 64,
        checkpoint_every: 2,
        eval_every: 3,
        eval_queries: 40,
        eval_docs: 200,
        progress: false,
        ..LayerOptions::default()
    };

    // Unbroken.
    let a = finetune(&request(&set_dir, &root.join("run-a"), root, opts.clone())).unwrap();
    let layers = a.layers.clone().expect("a layer run reports its steps");
    assert_eq!(layers.steps.len(), 6);
    assert_eq!(layers.from_layer, 5);
    assert!(layers.steps.iter().all(|s| s.loss.is_finite() && s.grad_norm > 0.0));
    // Validation at step 0 (frozen), 3 and 6.
    assert_eq!(layers.evals.iter().map(|e| e.step).collect::<Vec<_>>(), [0, 3, 6]);
    let (store_dir, built) = a.hidden_store.clone().unwrap();
    assert!(built && store_dir.join("states.f16").is_file());
    for png in ["curves-loss.png", "curves-validation.png"] {
        let bytes = std::fs::read(a.run_dir.join("artifacts").join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png}");
    }

    // The folder embeds papers as the tuned set says, and differs from the base model.
    let tuned_set = EmbeddingSet::open(&a.embeddings_dir).unwrap();
    let tuned = Encoder::load(&a.model_dir, &EncoderOptions::default()).unwrap();
    assert_eq!(tuned.embedding_id().unwrap(), tuned_set.meta.embedding_id);
    assert_ne!(tuned.embedding_id().unwrap(), encoder.embedding_id().unwrap());
    let mut texts = Vec::new();
    atlas_corpus::read_papers(&papers, &atlas_corpus::ReadOptions::default(), |p| {
        if texts.len() < 12 {
            texts.push((p.id.clone(), p.text(tuned.template())));
        }
    })
    .unwrap();
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    let got = tuned.embed(&refs).unwrap();
    let frozen = encoder.embed(&refs).unwrap();
    let row_of = |id: &str| tuned_set.ids.iter().position(|x| x == id).unwrap();
    let mut moved = 0.0f64;
    for ((i, (id, _)), (g, f)) in texts.iter().enumerate().zip(got.rows().zip(frozen.rows())) {
        let r = row_of(id);
        let stored = &tuned_set.vectors[r * tuned.dim()..(r + 1) * tuned.dim()];
        let c = cosine(g, stored);
        assert!(c > 0.9999, "paper {i} ({id}): cosine {c} between the folder's embedding and the tuned set");
        moved += 1.0 - cosine(g, f);
    }
    assert!(moved > 1e-4, "the tuned model embeds like the frozen one (summed 1 - cosine {moved})");
    let tuned_cache = EmbeddingCache::for_encoder(&tuned, Some(&root.join("cache"))).unwrap();
    let keys: Vec<[u8; 32]> = texts.iter().map(|(_, t)| atlas_embed::text_key(t)).collect();
    let mut cached = vec![0.0f32; keys.len() * tuned.dim()];
    assert!(tuned_cache.get_many(&keys, &mut cached).unwrap().is_empty());

    // Stopped after step 3 (a checkpoint at 2 and one at the stop), then the same request again.
    let stopped = LayerOptions { stop_after: Some(3), ..opts.clone() };
    let err = finetune(&request(&set_dir, &root.join("run-b"), root, stopped)).unwrap_err().to_string();
    assert!(err.contains("stopped after step 3"), "{err}");
    assert!(!root.join("run-b/artifacts/model").exists());
    let b = finetune(&request(&set_dir, &root.join("run-b"), root, opts.clone())).unwrap();
    let lb = b.layers.clone().unwrap();
    assert_eq!(lb.resumed_from, 3);
    assert!(!b.hidden_store.as_ref().unwrap().1, "the second run reuses the store");
    let weights = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    assert!(weights(&a.model_dir) == weights(&b.model_dir), "resumed weights differ from the unbroken run's");
    // The history of the steps before the stop went through the checkpoint's JSON, whose float parsing may
    // differ from the value written in the last bit: equal to 1e-12, not bit for bit (the weights are).
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * x.abs().max(y.abs()).max(1.0);
    assert_eq!(layers.steps.len(), lb.steps.len());
    for (x, y) in layers.steps.iter().zip(&lb.steps) {
        assert!(
            x.step == y.step && close(x.loss, y.loss) && close(x.lr, y.lr) && close(x.grad_norm, y.grad_norm),
            "{x:?} vs {y:?}"
        );
    }
    assert_eq!(layers.evals.len(), lb.evals.len());
    for (x, y) in layers.evals.iter().zip(&lb.evals) {
        assert!(
            x.step == y.step && close(x.p_at_1, y.p_at_1) && close(x.mrr_at_10, y.mrr_at_10),
            "{x:?} vs {y:?}"
        );
    }

    // A resume with other settings is refused rather than mixing two runs.
    let other = LayerOptions { lr: 1e-3, ..opts.clone() };
    let err = finetune(&request(&set_dir, &root.join("run-b"), root, other)).unwrap_err().to_string();
    assert!(err.contains("checkpoint of other settings"), "{err}");

    // loss=contrastive on the same stored states: hard negatives mined from the frozen vectors, a model that
    // differs from the MNRL one, the loss recorded with the run.
    let contrastive = LayerOptions { loss: LossKind::Contrastive, margin: 0.5, ..opts };
    let c = finetune(&request(&set_dir, &root.join("run-c"), root, contrastive)).unwrap();
    let lc = c.layers.clone().unwrap();
    assert_eq!(lc.steps.len(), 6);
    assert!(
        lc.steps.iter().all(|s| s.loss.is_finite() && s.loss >= 0.0 && s.grad_norm > 0.0),
        "{:?}",
        lc.steps
    );
    assert!(c.timings.contains_key("mine_negatives"), "{:?}", c.timings);
    assert!(weights(&c.model_dir) != weights(&a.model_dir), "the contrastive run trained the MNRL model");
    let params = std::fs::read_to_string(c.run_dir.join("params.json")).unwrap();
    assert!(
        params.contains("\"loss\":\"contrastive\"") || params.contains("\"loss\": \"contrastive\""),
        "{params}"
    );
}
