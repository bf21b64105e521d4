//! The trainable BERT forward ([`atlas_finetune::TrainableBert`]) on a tiny random BERT written by the test
//! itself (no `../shared` needed):
//! * eval mode computes what atlas-encoder's candle backend serves for the same folder (so training trains
//!   the served model);
//! * one backward of an MNRL loss reaches every trainable weight, with a finite, non-zero gradient, and
//!   `freeze_below` leaves exactly the lower layers and embeddings out;
//! * a negative control: the same check over `candle_nn::LayerNorm` finds weights without a gradient (the
//!   "LayerNorm trap" of candle 0.11), so the check above would catch a model built from it;
//! * the loss falls over 20 AdamW steps on a fixed batch;
//! * with `../shared` (skipped without it), the same agreement and gradient checks on all-MiniLM-L6-v2.

use std::collections::HashMap;
use std::path::Path;

use atlas_encoder::backend::candle::CandleBackend;
use atlas_encoder::{cosine, Backend, DeviceSpec, ModelFolder, PoolingHead, Precision, TokenBatch};
use atlas_finetune::{Mode, TrainableBert};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use candle_nn::{Module, VarBuilder, VarMap};

use atlas_testkit::tiny_bert::{tensors, write_config_files, HIDDEN, LAYERS};

/// Writes a sentence-transformers folder (Transformer + mean Pooling) around random BERT weights, with every
/// tensor name carrying `prefix`.
fn write_folder(dir: &Path, prefix: &str) {
    write_config_files(dir, "gelu", "mean");
    let tensors: HashMap<String, Tensor> = tensors(42)
        .into_iter()
        .map(|(name, shape, data)| {
            (format!("{prefix}{name}"), Tensor::from_vec(data, shape, &Device::Cpu).unwrap())
        })
        .collect();
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).unwrap();
}

/// Mixed lengths, so masking of padded keys and pooling matters; ids stay inside the tiny vocabulary.
fn anchors() -> TokenBatch {
    let rows: [&[u32]; 4] =
        [&[1, 5, 9, 13, 17, 21, 25, 2], &[1, 7, 2], &[1, 30, 31, 32, 33, 2], &[1, 40, 41, 2]];
    TokenBatch::new(&rows, 0).unwrap()
}

fn positives() -> TokenBatch {
    let rows: [&[u32]; 4] =
        [&[1, 5, 9, 14, 2], &[1, 7, 8, 3, 2], &[1, 30, 31, 34, 35, 36, 37, 2], &[1, 40, 42, 2]];
    TokenBatch::new(&rows, 0).unwrap()
}

/// MultipleNegativesRankingLoss: row i of the anchors should score highest against positive i (scale 20).
fn mnrl(model: &TrainableBert, mode: Mode) -> Tensor {
    let a = model.forward(&anchors(), mode).unwrap();
    let p = model.forward(&positives(), mode).unwrap();
    let scores = (a.matmul(&p.t().unwrap()).unwrap() * 20.0).unwrap();
    let labels = Tensor::arange(0u32, 4, &Device::Cpu).unwrap();
    candle_nn::loss::cross_entropy(&scores, &labels).unwrap()
}

/// Names of `vars` without a finite, non-zero gradient in `grads`.
///
/// The attention key bias is exempt from "non-zero" (but not from "present and finite"): it adds `q·b` to every
/// score of a query row, which softmax cancels, so its true gradient is exactly zero (what is computed is zero
/// up to rounding). Every other weight must move the loss.
fn without_gradient(vars: &[(String, Var)], grads: &GradStore) -> Vec<String> {
    vars.iter()
        .filter(|(name, v)| match grads.get(v.as_tensor()) {
            None => true,
            Some(g) => {
                let g: Vec<f32> = g.flatten_all().unwrap().to_vec1().unwrap();
                let may_be_zero = name.ends_with("attention.self.key.bias");
                !g.iter().all(|x| x.is_finite()) || (!may_be_zero && g.iter().all(|x| *x == 0.0))
            }
        })
        .map(|(n, _)| n.clone())
        .collect()
}

#[test]
fn eval_forward_matches_the_served_candle_embeddings() {
    for (prefix, normalize) in [("", false), ("bert.", true)] {
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), prefix);
        let folder = ModelFolder::open(dir.path()).unwrap();
        let served = CandleBackend::load(&folder, Precision::Fp32, DeviceSpec::Cpu, 1).unwrap();
        let head = PoolingHead { pooling: folder.pooling(), normalize, dim: HIDDEN };
        let model = TrainableBert::load(dir.path(), &Device::Cpu, 0, normalize).unwrap();
        let mut worst = f64::INFINITY;
        for batch in [anchors(), positives()] {
            let want = served.embed_batch(&batch, &head).unwrap();
            let got: Vec<f32> =
                model.forward(&batch, Mode::Eval).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got.len(), want.len());
            for (row, (x, y)) in got.chunks_exact(HIDDEN).zip(want.chunks_exact(HIDDEN)).enumerate() {
                let c = cosine(x, y);
                worst = worst.min(c);
                let max_diff = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
                assert!(
                    c >= 0.99999 && max_diff < 1e-4,
                    "{prefix:?} row {row}: cos {c}, max diff {max_diff}"
                );
            }
        }
        eprintln!("{prefix:?} normalize={normalize}: lowest cosine to the served embeddings {worst}");
    }
}

#[test]
fn train_mode_applies_dropout_and_eval_mode_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), "");
    let model = TrainableBert::load(dir.path(), &Device::Cpu, 0, false).unwrap();
    let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    let e1 = flat(model.forward(&anchors(), Mode::Eval).unwrap());
    let e2 = flat(model.forward(&anchors(), Mode::Eval).unwrap());
    assert_eq!(e1, e2, "eval mode must not be random");
    let t = flat(model.forward(&anchors(), Mode::Train).unwrap());
    assert_ne!(e1, t, "train mode must apply dropout");
}

#[test]
fn every_trainable_weight_gets_a_gradient() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), "");
    let model = TrainableBert::load(dir.path(), &Device::Cpu, 0, true).unwrap();
    let vars = model.trainable_vars();
    // 5 embedding tensors + 16 per layer: the whole model.
    assert_eq!(vars.len(), 5 + 16 * LAYERS);
    assert_eq!(model.varmap().all_vars().len(), vars.len());
    for mode in [Mode::Eval, Mode::Train] {
        let grads = mnrl(&model, mode).backward().unwrap();
        let missing = without_gradient(&vars, &grads);
        assert!(missing.is_empty(), "{mode:?}: no finite non-zero gradient for {missing:?}");
    }
}

#[test]
fn freeze_below_trains_only_the_top_layers() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), "bert.");
    let model = TrainableBert::load(dir.path(), &Device::Cpu, LAYERS - 1, true).unwrap();
    let vars = model.trainable_vars();
    let top = format!("encoder.layer.{}.", LAYERS - 1);
    assert_eq!(vars.len(), 16);
    assert!(
        vars.iter().all(|(n, _)| n.starts_with(&top)),
        "{:?}",
        vars.iter().map(|v| &v.0).collect::<Vec<_>>()
    );
    let grads = mnrl(&model, Mode::Train).backward().unwrap();
    let missing = without_gradient(&vars, &grads);
    assert!(missing.is_empty(), "no finite non-zero gradient for {missing:?}");
    // The frozen weights are detached: backward does not reach them at all.
    let data = model.varmap().data().lock().unwrap();
    let reached: Vec<&String> = data
        .iter()
        .filter(|(n, v)| !n.starts_with(&top) && grads.get(v.as_tensor()).is_some())
        .map(|(n, _)| n)
        .collect();
    assert!(reached.is_empty(), "frozen weights got gradients: {reached:?}");
    assert!(TrainableBert::load(dir.path(), &Device::Cpu, LAYERS + 1, true).is_err());
}

/// The negative control: candle_nn's own LayerNorm, the one candle_transformers' BertModel uses. In candle
/// 0.11.1 its forward takes the fused `ops::layer_norm` path (contiguous input), which records no backward op,
/// so neither its weights nor anything below it get a gradient: the check of
/// `every_trainable_weight_gets_a_gradient` lists them. If a candle upgrade fixes this, this test fails and
/// should be turned around (assert that the gradients now arrive) — the trap is then gone.
#[test]
fn negative_control_candle_nn_layer_norm_drops_gradients() {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let dense = candle_nn::linear(HIDDEN, HIDDEN, vb.pp("dense")).unwrap();
    let norm = candle_nn::layer_norm(HIDDEN, 1e-12, vb.pp("LayerNorm")).unwrap();
    let x = Tensor::randn(0f32, 1.0, (3, 5, HIDDEN), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 1.0, (3, 5, HIDDEN), &Device::Cpu).unwrap();
    let y = norm.forward(&dense.forward(&x).unwrap()).unwrap();
    let loss = (y * w).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let data = varmap.data().lock().unwrap();
    let mut vars: Vec<(String, Var)> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let missing = without_gradient(&vars, &grads);
    assert_eq!(
        missing,
        ["LayerNorm.bias", "LayerNorm.weight", "dense.bias", "dense.weight"],
        "candle_nn::LayerNorm now passes gradients: the trap this crate works around may be fixed"
    );

    // The same for the fused softmax: `softmax_last_dim` is applied with `apply_op1_no_bwd`, which is why
    // TrainableBert's attention uses `ops::softmax`.
    let s = Var::randn(0f32, 1.0, (2, 5), &Device::Cpu).unwrap();
    let w = Tensor::randn(0f32, 1.0, (2, 5), &Device::Cpu).unwrap();
    let fused = (candle_nn::ops::softmax_last_dim(s.as_tensor()).unwrap() * &w).unwrap().sum_all().unwrap();
    assert!(fused.backward().unwrap().get(s.as_tensor()).is_none(), "softmax_last_dim now has a backward");
    let slow = (candle_nn::ops::softmax(s.as_tensor(), 1).unwrap() * &w).unwrap().sum_all().unwrap();
    assert!(slow.backward().unwrap().get(s.as_tensor()).is_some(), "ops::softmax lost its backward");
}

#[test]
fn loss_falls_over_adamw_steps_on_a_fixed_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), "");
    let model = TrainableBert::load(dir.path(), &Device::Cpu, 0, true).unwrap();
    let vars: Vec<Var> = model.trainable_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt =
        AdamW::new(vars, ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() }).unwrap();
    let loss_of = |m: &TrainableBert| mnrl(m, Mode::Eval).to_scalar::<f32>().unwrap();
    let first = loss_of(&model);
    let mut losses = vec![first];
    for _ in 0..20 {
        // Eval mode keeps the batch's loss a deterministic function of the weights (dropout is tested above).
        let loss = mnrl(&model, Mode::Eval);
        opt.backward_step(&loss).unwrap();
        losses.push(loss_of(&model));
    }
    let last = *losses.last().unwrap();
    eprintln!("MNRL loss over 20 AdamW steps (lr 1e-3): {losses:?}");
    assert!(last.is_finite() && last < 0.5 * first, "loss did not fall: {losses:?}");
}

/// The real model (skipped without `../shared`): TrainableBert over all-MiniLM-L6-v2 computes the served
/// candle embeddings of real tokenised texts, and one MNRL backward reaches all of its weights.
#[test]
fn minilm_eval_matches_served_and_every_weight_gets_a_gradient() {
    let test = "minilm_eval_matches_served_and_every_weight_gets_a_gradient";
    let Some(dir) = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2") else { return };
    let folder = ModelFolder::open(&dir).unwrap();
    let tokenizer = atlas_encoder::TextTokenizer::from_folder(&folder).unwrap();
    let texts = [
        "Attention is all you need.",
        "A short one.",
        "We study the spectral gap of random regular graphs and its consequences for mixing times.",
        "Dark matter halos in cosmological simulations.",
    ];
    let ids = tokenizer.encode(&texts).unwrap();
    let rows: Vec<&[u32]> = ids.iter().map(|r| r.as_slice()).collect();
    let batch = TokenBatch::new(&rows, tokenizer.pad_id()).unwrap();
    let served = CandleBackend::load(&folder, Precision::Fp32, DeviceSpec::Cpu, 0).unwrap();
    let head = PoolingHead { pooling: folder.pooling(), normalize: folder.normalize(), dim: folder.dim() };
    let want = served.embed_batch(&batch, &head).unwrap();
    let model = TrainableBert::load(&dir, &Device::Cpu, 0, folder.normalize()).unwrap();
    let got: Vec<f32> = model.forward(&batch, Mode::Eval).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    for (row, (x, y)) in got.chunks_exact(folder.dim()).zip(want.chunks_exact(folder.dim())).enumerate() {
        let c = cosine(x, y);
        assert!(c >= 0.99999, "row {row}: cosine {c} to the served embedding");
    }

    let vars = model.trainable_vars();
    assert_eq!(vars.len(), model.varmap().all_vars().len());
    let a = model.forward(&batch, Mode::Train).unwrap();
    let p = model.forward(&batch, Mode::Train).unwrap();
    let scores = (a.matmul(&p.t().unwrap()).unwrap() * 20.0).unwrap();
    let labels = Tensor::arange(0u32, texts.len() as u32, &Device::Cpu).unwrap();
    let grads = candle_nn::loss::cross_entropy(&scores, &labels).unwrap().backward().unwrap();
    let missing = without_gradient(&vars, &grads);
    assert!(
        missing.is_empty(),
        "{} of {} weights without a gradient: {missing:?}",
        missing.len(),
        vars.len()
    );
    eprintln!("MiniLM: all {} weights got a gradient", vars.len());
}

/// The top-layer path: from stored states of layer `from`, only layers `from..` train, every one of their
/// weights gets a gradient, and seeded dropout repeats exactly with its seed.
#[test]
fn forward_from_hidden_states_trains_exactly_the_top_layers_and_repeats_with_its_seed() {
    use rand::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), "");
    let from = LAYERS - 1;
    let model = TrainableBert::load(dir.path(), &Device::Cpu, from, true).unwrap();
    let vars = model.trainable_vars();
    assert!(!vars.is_empty());
    assert!(vars.iter().all(|(n, _)| n.starts_with(&format!("encoder.layer.{from}."))), "{vars:?}");
    // States as the bottom would give them: random, (rows, seq, hidden), with the anchors' padding mask.
    let batch = anchors();
    let (rows, seq) = (batch.rows(), batch.seq_len());
    let mask: Vec<f32> = batch.attention_mask().iter().map(|&m| m as f32).collect();
    let mask = Tensor::from_vec(mask, (rows, seq), &Device::Cpu).unwrap();
    let x = Tensor::randn(0f32, 1.0, (rows, seq, HIDDEN), &Device::Cpu).unwrap();
    let run = |seed: u64| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        model.forward_hidden(from, &x, &mask, Mode::Train, &mut rng).unwrap()
    };
    let flat = |t: &Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    assert_eq!(flat(&run(7)), flat(&run(7)), "the same seed must give the same dropout");
    assert_ne!(flat(&run(7)), flat(&run(8)), "another seed must give other dropout masks");
    let e = run(7);
    let scores = (e.matmul(&e.t().unwrap()).unwrap() * 20.0).unwrap();
    let labels = Tensor::arange(0u32, rows as u32, &Device::Cpu).unwrap();
    let loss = candle_nn::loss::cross_entropy(&scores, &labels).unwrap();
    let grads = loss.backward().unwrap();
    assert!(without_gradient(&vars, &grads).is_empty(), "{:?}", without_gradient(&vars, &grads));
    // Eval mode draws nothing: two generators, one answer. (That eval from stored states equals the whole
    // model is checked on MiniLM in tests/layers.rs, against the saved folder's embeddings.)
    let mut r1 = rand::rngs::StdRng::seed_from_u64(1);
    let mut r2 = rand::rngs::StdRng::seed_from_u64(2);
    let a = model.forward_hidden(from, &x, &mask, Mode::Eval, &mut r1).unwrap();
    let b = model.forward_hidden(from, &x, &mask, Mode::Eval, &mut r2).unwrap();
    assert_eq!(flat(&a), flat(&b));
}
