//! Fine-tuning the top layers of the encoder itself, contrastively, from the hidden-state store.
//!
//! The model is a [`TrainableBert`] with the layers below the cut frozen; each step runs the top layers over
//! the stored states of a batch of same-category pairs (anchors and positives), computes masked MNRL (the
//! adapter's loss, [`crate::mnrl_loss`]) and updates the top layers with [`AdamW`]. Around the step: a
//! warmup + linear-decay schedule, gradient accumulation, clipping by global norm, batches of similar length,
//! periodic validation, and checkpoints from which a killed run resumes bit for bit.
//!
//! Why resuming is exact: every random draw derives from the seed and a position, never from a generator's
//! history: the pairs of epoch `e` from `seed + e`, the dropout masks of step `s` from `seed` and `s`. A
//! checkpoint then only needs the weights, the optimizer moments and the step, and the resumed run draws what
//! the unbroken one would have.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::bert::{Mode, TrainableBert};
use crate::hidden::HiddenStore;
use crate::optim::{clip_grad_norm, AdamW};
use crate::train::{epoch_pairs, lr_at};
use crate::FinetuneError;

/// How much of the encoder trains. Written as `adapter`, `all` or a number of top layers (`1`), in YAML, JSON
/// and on the command line alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrainLayers {
    /// A residual linear adapter on the frozen embeddings ([`crate::Adapter`]).
    #[default]
    Adapter,
    /// The top `n` transformer layers (the rest frozen).
    Top(usize),
    /// Every layer and the embeddings.
    All,
}

impl TrainLayers {
    /// Parses `adapter`, `all` or a layer count.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "adapter" => Ok(Self::Adapter),
            "all" => Ok(Self::All),
            n => n.parse::<usize>().ok().filter(|&n| n > 0).map(Self::Top).ok_or_else(|| {
                format!("`{s}`: expected `adapter`, `all` or a number of top layers (1, 2, …)")
            }),
        }
    }
}

impl Serialize for TrainLayers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Top(n) => s.serialize_u64(*n as u64),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for TrainLayers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u64),
            Name(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Count(n) => n.to_string(),
            Raw::Name(s) => s,
        };
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for TrainLayers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Adapter => f.write_str("adapter"),
            Self::All => f.write_str("all"),
            Self::Top(n) => write!(f, "{n}"),
        }
    }
}

/// The loss of top-layer training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// MultipleNegativesRankingLoss: in-batch negatives, same-category papers masked out of them
    /// ([`crate::mnrl_loss`]).
    #[default]
    Mnrl,
    /// ContrastiveLoss on each anchor's positive pair and its hard negative, the frozen model's nearest train
    /// paper of another category ([`crate::contrastive`]).
    Contrastive,
    /// Cross-entropy of a linear classification head over the primary categories, trained with the layers
    /// (`experiment=finetune_classifier`): the head starts as the frozen model's category centroids × `scale`,
    /// and both papers of each pair are classified. The head is not saved: the encoder is what this tunes.
    CrossEntropy,
}

impl std::fmt::Display for LossKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LossKind::Mnrl => "mnrl",
            LossKind::Contrastive => "contrastive",
            LossKind::CrossEntropy => "cross_entropy",
        })
    }
}

/// Settings of top-layer fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LayerOptions {
    /// Epochs (one epoch = every train paper once as an anchor, or `max_pairs` of them).
    pub epochs: usize,
    /// Anchors per epoch (0 = every train paper with a same-category partner).
    pub max_pairs: usize,
    /// Pairs per optimizer step.
    pub batch_size: usize,
    /// Micro-batches per step: each computes its loss with its own in-batch negatives, and their gradients
    /// are averaged before the update (memory goes with the micro-batch).
    pub accumulation: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Share of the steps spent warming up, then linear decay to 0.
    pub warmup: f64,
    /// Clip the gradients' global L2 norm to this (0 = no clipping).
    pub max_grad_norm: f64,
    /// The loss.
    pub loss: LossKind,
    /// Margin of the contrastive loss on cosine distance (`loss: contrastive`).
    pub margin: f64,
    /// MNRL similarity scale.
    pub scale: f64,
    /// Symmetric MNRL.
    pub symmetric: bool,
    /// Tokens per paper seen in training (the stored states are cut; embedding uses them all).
    pub max_tokens: usize,
    /// Save a checkpoint every N steps (0 = only at the end).
    pub checkpoint_every: usize,
    /// Validate every N steps (0 = only at the end of each epoch).
    pub eval_every: usize,
    /// Validation queries (the first N validation papers).
    pub eval_queries: usize,
    /// Documents they are ranked against (the first N train papers).
    pub eval_docs: usize,
    /// Seed of pairs, batch order and dropout.
    pub seed: u64,
    /// Draw a progress bar.
    pub progress: bool,
    /// Stop (as if killed) after this step, leaving the checkpoint; for tests of resuming.
    #[serde(skip)]
    pub stop_after: Option<usize>,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            epochs: 1,
            max_pairs: 0,
            batch_size: 32,
            accumulation: 1,
            lr: 1e-4,
            weight_decay: 0.01,
            warmup: 0.1,
            max_grad_norm: 1.0,
            loss: LossKind::Mnrl,
            margin: 0.5,
            scale: 20.0,
            symmetric: false,
            max_tokens: 128,
            checkpoint_every: 50,
            eval_every: 0,
            eval_queries: 500,
            eval_docs: 5000,
            seed: 42,
            progress: true,
            stop_after: None,
        }
    }
}

/// One optimizer step's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step number, from 1.
    pub step: usize,
    /// Mean loss of the step's micro-batches.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
}

/// One validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Steps taken when it ran (0 = the frozen model).
    pub step: usize,
    /// Same-category P@1 of the validation queries against the documents.
    pub p_at_1: f64,
    /// MRR@10 of the same.
    pub mrr_at_10: f64,
}

/// What a checkpoint's `state.json` holds beside the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Optimizer steps done.
    pub step: usize,
    /// Options of the run (a resumed run must use the same).
    pub options: LayerOptions,
    /// First layer trained.
    pub from_layer: usize,
    /// Every step so far.
    pub steps: Vec<StepRecord>,
    /// Every validation so far.
    pub evals: Vec<EvalRecord>,
    /// Seconds of training so far (over all sessions of the run).
    pub train_s: f64,
}

/// The result of [`train_layers`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// First layer trained (the store's cut).
    pub from_layer: usize,
    /// Pairs per epoch.
    pub pairs_per_epoch: usize,
    /// Optimizer steps in all.
    pub total_steps: usize,
    /// Every step.
    pub steps: Vec<StepRecord>,
    /// Every validation, the frozen model first.
    pub evals: Vec<EvalRecord>,
    /// Step the run resumed from (0 = started fresh).
    pub resumed_from: usize,
    /// Seconds of training steps, over every session of the run.
    pub train_s: f64,
    /// Whether the run stopped early at `stop_after`.
    pub stopped: bool,
}

/// The training inputs: labels of the train papers and where each train and validation paper's states are.
#[derive(Debug, Clone)]
pub struct LayerData<'a> {
    /// Primary-category label of each train paper.
    pub train_labels: &'a [u32],
    /// Store position of each train paper.
    pub train_rows: Vec<usize>,
    /// Label of each validation paper.
    pub val_labels: &'a [u32],
    /// Store position of each validation paper.
    pub val_rows: Vec<usize>,
    /// Number of categories.
    pub categories: usize,
    /// For `loss: contrastive`: the train index of each train paper's hard negative
    /// ([`crate::contrastive::mine_hard_negatives`]).
    pub hard_negatives: Option<Vec<Option<usize>>>,
    /// For `loss: cross_entropy`: the head's initial weights, `categories × hidden` row-major.
    pub class_init: Option<Vec<f32>>,
}

/// Optimizer names of the `loss: cross_entropy` head (after the layers' names, which all start with the
/// checkpoint's layer prefixes).
const HEAD_WEIGHT: &str = "~classifier.weight";
const HEAD_BIAS: &str = "~classifier.bias";

/// Initial weights of the `loss: cross_entropy` head: each category's centroid of the frozen `vectors`
/// (`rows × dim`), normalised and multiplied by `scale`, so the head starts as a nearest-centroid classifier of
/// the frozen model (a category without train papers gets a zero row).
pub fn centroid_head(vectors: &[f32], dim: usize, labels: &[u32], categories: usize, scale: f64) -> Vec<f32> {
    let mut sums = vec![0.0f32; categories * dim];
    for (row, &l) in vectors.chunks_exact(dim).zip(labels) {
        for (s, v) in sums[l as usize * dim..(l as usize + 1) * dim].iter_mut().zip(row) {
            *s += v;
        }
    }
    for row in sums.chunks_exact_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x *= scale as f32 / norm);
        }
    }
    sums
}

/// Seed of step `step`'s dropout masks.
fn dropout_seed(seed: u64, step: usize) -> u64 {
    seed ^ (step as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The steps of epoch `epoch`: its pairs (train indices), grouped into batches of similar anchor length, the
/// batches in random order.
fn epoch_batches(
    data: &LayerData<'_>,
    by_label: &[Vec<usize>],
    store: &HiddenStore,
    opts: &LayerOptions,
    epoch: usize,
) -> Vec<Vec<(usize, usize)>> {
    let mut rng = StdRng::seed_from_u64(opts.seed.wrapping_add(epoch as u64));
    let mut pairs = epoch_pairs(by_label, data.train_labels, &mut rng);
    if opts.max_pairs > 0 {
        pairs.truncate(opts.max_pairs);
    }
    // Length-sorted within windows of 50 batches: padding drops, and batches still mix topics.
    let window = opts.batch_size * 50;
    let len = |i: usize| store.length(data.train_rows[i]).min(opts.max_tokens);
    let mut batches = Vec::new();
    for chunk in pairs.chunks_mut(window) {
        chunk.sort_by_key(|&(a, p)| (len(a).max(len(p)), a));
        for b in chunk.chunks_exact(opts.batch_size) {
            batches.push(b.to_vec());
        }
    }
    batches.shuffle(&mut rng);
    batches
}

/// Top-layer embeddings of store rows `rows` computed by `model` in eval mode (candle; for validation).
fn embed_rows(
    model: &TrainableBert,
    from: usize,
    store: &HiddenStore,
    rows: &[usize],
    device: &Device,
) -> Result<Vec<f32>, FinetuneError> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| store.length(rows[i]));
    let h = store.meta().hidden;
    let mut out = vec![0.0f32; rows.len() * h];
    let mut rng = StdRng::seed_from_u64(0);
    for chunk in order.chunks(32) {
        let ids: Vec<usize> = chunk.iter().map(|&i| rows[i]).collect();
        let b = store.batch(&ids, usize::MAX)?;
        let c = FinetuneError::candle("validation batch");
        let x = Tensor::from_vec(b.states, (ids.len(), b.seq, h), device).map_err(c)?;
        let mask =
            Tensor::from_vec(b.mask, (ids.len(), b.seq), device).map_err(FinetuneError::candle("mask"))?;
        let e = model.forward_hidden(from, &x, &mask, Mode::Eval, &mut rng)?;
        let e = e.to_vec2::<f32>().map_err(FinetuneError::candle("reading embeddings"))?;
        for (&i, row) in chunk.iter().zip(e) {
            out[i * h..(i + 1) * h].copy_from_slice(&row);
        }
    }
    Ok(out)
}

/// Validation P@1 / MRR@10: the first `eval_queries` validation papers against the first `eval_docs` train
/// papers, both embedded by the current model, hit = same category.
fn validate(
    model: &TrainableBert,
    from: usize,
    store: &HiddenStore,
    data: &LayerData<'_>,
    opts: &LayerOptions,
    device: &Device,
) -> Result<(f64, f64), FinetuneError> {
    let nq = opts.eval_queries.min(data.val_rows.len());
    let nd = opts.eval_docs.min(data.train_rows.len());
    let q = embed_rows(model, from, store, &data.val_rows[..nq], device)?;
    let d = embed_rows(model, from, store, &data.train_rows[..nd], device)?;
    let h = store.meta().hidden;
    let (mut hits, mut mrr) = (0usize, 0.0f64);
    for qi in 0..nq {
        let qv = &q[qi * h..(qi + 1) * h];
        let mut scored: Vec<(f32, usize)> = (0..nd)
            .map(|di| (qv.iter().zip(&d[di * h..(di + 1) * h]).map(|(a, b)| a * b).sum::<f32>(), di))
            .collect();
        let k = 10.min(scored.len());
        if k == 0 {
            continue;
        }
        scored.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        scored[..k].sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let label = data.val_labels[qi];
        if data.train_labels[scored[0].1] == label {
            hits += 1;
        }
        if let Some(r) = scored[..k].iter().position(|&(_, di)| data.train_labels[di] == label) {
            mrr += 1.0 / (r + 1) as f64;
        }
    }
    let n = nq.max(1) as f64;
    Ok((hits as f64 / n, mrr / n))
}

/// Writes the checkpoint of `opt` after `state.step` steps into `dir` (`state.safetensors` + `state.json`),
/// replacing the previous one only once the new one is complete.
pub fn save_checkpoint(dir: &Path, opt: &AdamW, state: &CheckpointState) -> Result<(), FinetuneError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FinetuneError::Io { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = parent.join(format!(".{name}.partial"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    candle_core::safetensors::save(&opt.state(), tmp.join("state.safetensors"))
        .map_err(FinetuneError::candle("writing the checkpoint"))?;
    let json = serde_json::to_vec_pretty(state).map_err(|e| FinetuneError::Invalid(e.to_string()))?;
    std::fs::write(tmp.join("state.json"), json).map_err(io(&tmp))?;
    // Swap: the old checkpoint is moved aside before the new one takes its name, so at every instant one
    // complete checkpoint exists under `dir` or `<dir>.old` (which load_checkpoint also reads).
    let old = parent.join(format!("{name}.old"));
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        std::fs::rename(dir, &old).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(io(&old))?;
    }
    Ok(())
}

/// A checkpoint read back: its state and its tensors (`w.`, `m.`, `v.` + variable name).
pub type Checkpoint = (CheckpointState, HashMap<String, Tensor>);

/// Reads the checkpoint in `dir` (or the one left at `<dir>.old` by a kill during the swap).
pub fn load_checkpoint(dir: &Path, device: &Device) -> Result<Option<Checkpoint>, FinetuneError> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let old = dir.with_file_name(format!("{name}.old"));
    let dir = if dir.join("state.json").is_file() {
        dir.to_path_buf()
    } else if old.join("state.json").is_file() {
        old
    } else {
        return Ok(None);
    };
    let path = dir.join("state.json");
    let bytes = std::fs::read(&path).map_err(|source| FinetuneError::Io { path: path.clone(), source })?;
    let state: CheckpointState = serde_json::from_slice(&bytes)
        .map_err(|e| FinetuneError::Invalid(format!("{}: {e}", path.display())))?;
    let tensors = candle_core::safetensors::load(dir.join("state.safetensors"), device)
        .map_err(FinetuneError::candle("reading the checkpoint"))?;
    Ok(Some((state, tensors)))
}

/// Trains the layers of `model` above `from` (its trainable vars) on `data`'s train pairs, from `store`'s
/// states; checkpoints go to `checkpoint_dir`, and a checkpoint found there is resumed (its options must
/// equal `opts` but for the progress bar). The report holds every step and validation of the run, the ones
/// before a resume included.
pub fn train_layers(
    model: &TrainableBert,
    from: usize,
    store: &HiddenStore,
    data: &LayerData<'_>,
    opts: &LayerOptions,
    checkpoint_dir: &Path,
    device: &Device,
) -> Result<LayerReport, FinetuneError> {
    if opts.batch_size < 2 || opts.accumulation == 0 || !opts.batch_size.is_multiple_of(opts.accumulation) {
        return Err(FinetuneError::Invalid(format!(
            "batch size {} with {} micro-batches: each micro-batch needs at least 2 pairs and the batch must \
             split evenly",
            opts.batch_size, opts.accumulation
        )));
    }
    if opts.batch_size / opts.accumulation < 2 {
        return Err(FinetuneError::Invalid("each micro-batch needs at least 2 pairs".into()));
    }
    let negatives = match (opts.loss, &data.hard_negatives) {
        (LossKind::Contrastive, Some(n)) if n.len() == data.train_labels.len() => Some(n),
        (LossKind::Contrastive, _) => {
            return Err(FinetuneError::Invalid(
                "loss contrastive needs a hard negative for every train paper".into(),
            ))
        }
        _ => None,
    };
    let h = store.meta().hidden;
    // The classification head of `loss: cross_entropy`: trained with the layers, checkpointed with them
    // (it is part of the optimizer's variables), not saved with the model.
    let head = match (opts.loss, &data.class_init) {
        (LossKind::CrossEntropy, Some(init)) if init.len() == data.categories * h => {
            let c = FinetuneError::candle("the classification head");
            let w = Tensor::from_vec(init.clone(), (data.categories, h), device).map_err(c)?;
            let b = Tensor::zeros(data.categories, candle_core::DType::F32, device)
                .map_err(FinetuneError::candle("the classification head"))?;
            let w = candle_core::Var::from_tensor(&w).map_err(FinetuneError::candle("the head weight"))?;
            let b = candle_core::Var::from_tensor(&b).map_err(FinetuneError::candle("the head bias"))?;
            Some((w, b))
        }
        (LossKind::CrossEntropy, _) => {
            return Err(FinetuneError::Invalid(format!(
                "loss cross_entropy needs the head's initial weights ({} categories × {h})",
                data.categories
            )))
        }
        _ => None,
    };
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); data.categories];
    for (i, &l) in data.train_labels.iter().enumerate() {
        by_label[l as usize].push(i);
    }
    let steps_per_epoch = epoch_batches(data, &by_label, store, opts, 0).len();
    if steps_per_epoch == 0 {
        return Err(FinetuneError::Invalid(format!(
            "the train papers do not fill one batch of {} pairs",
            opts.batch_size
        )));
    }
    let pairs_per_epoch = steps_per_epoch * opts.batch_size;
    let total = steps_per_epoch * opts.epochs;
    let mut vars = model.trainable_vars();
    if let Some((w, b)) = &head {
        vars.push((HEAD_WEIGHT.to_string(), w.clone()));
        vars.push((HEAD_BIAS.to_string(), b.clone()));
    }
    let mut opt = AdamW::new(vars, opts.weight_decay)?;

    let (mut steps, mut evals, mut train_s, start) = match load_checkpoint(checkpoint_dir, device)? {
        Some((state, tensors)) => {
            // Only what changes the computation must match (not the progress bar or a test's stop).
            let norm = |o: &LayerOptions| LayerOptions { progress: false, stop_after: None, ..o.clone() };
            if norm(&state.options) != norm(opts) || state.from_layer != from {
                return Err(FinetuneError::Invalid(format!(
                    "{} holds a checkpoint of other settings (layer {}, {:?}); resume with the same settings \
                     or use a new run folder",
                    checkpoint_dir.display(),
                    state.from_layer,
                    state.options
                )));
            }
            opt.restore(&tensors, state.step as u64)?;
            tracing::info!("resuming at step {} of {total} from {}", state.step, checkpoint_dir.display());
            (state.steps, state.evals, state.train_s, state.step)
        }
        None => {
            let (p, m) = validate(model, from, store, data, opts, device)?;
            tracing::info!("frozen: validation P@1 {p:.4}, MRR@10 {m:.4}");
            (Vec::new(), vec![EvalRecord { step: 0, p_at_1: p, mrr_at_10: m }], 0.0, 0)
        }
    };
    let checkpoint = |opt: &AdamW, steps: &[StepRecord], evals: &[EvalRecord], train_s: f64, step: usize| {
        let state = CheckpointState {
            step,
            options: opts.clone(),
            from_layer: from,
            steps: steps.to_vec(),
            evals: evals.to_vec(),
            train_s,
        };
        save_checkpoint(checkpoint_dir, opt, &state)
    };

    let pb = if opts.progress {
        atlas_embed::job::progress_bar(total as u64, "fine-tuning layers")
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_position(start as u64);
    pb.reset_eta();
    let micro = opts.batch_size / opts.accumulation;
    let mut stopped = false;
    'epochs: for epoch in start / steps_per_epoch..opts.epochs {
        let batches = epoch_batches(data, &by_label, store, opts, epoch);
        for (b, batch) in batches.iter().enumerate() {
            let step = epoch * steps_per_epoch + b; // 0-based index of this step
            if step < start {
                continue;
            }
            let t = Instant::now();
            let mut rng = StdRng::seed_from_u64(dropout_seed(opts.seed, step));
            let lr = lr_at(opts.lr, opts.warmup, step, total);
            let mut grads: Option<Vec<Tensor>> = None;
            let mut loss_sum = 0.0f64;
            for part in batch.chunks(micro) {
                let rows = |side: fn(&(usize, usize)) -> usize| -> Vec<usize> {
                    part.iter().map(|p| data.train_rows[side(p)]).collect()
                };
                let labels: Vec<u32> = part.iter().map(|&(a, _)| data.train_labels[a]).collect();
                let mut encode = |rows: Vec<usize>| -> Result<Tensor, FinetuneError> {
                    let b = store.batch(&rows, opts.max_tokens)?;
                    let c = FinetuneError::candle("training batch");
                    let x = Tensor::from_vec(b.states, (rows.len(), b.seq, h), device).map_err(c)?;
                    let mask = Tensor::from_vec(b.mask, (rows.len(), b.seq), device)
                        .map_err(FinetuneError::candle("mask"))?;
                    model.forward_hidden(from, &x, &mask, Mode::Train, &mut rng)
                };
                let a = encode(rows(|p| p.0))?;
                let p = encode(rows(|p| p.1))?;
                let loss = match (negatives, &head) {
                    (_, Some((w, b))) => {
                        let c = FinetuneError::candle;
                        let targets = Tensor::new(labels.as_slice(), device).map_err(c("targets"))?;
                        let side = |x: &Tensor| -> Result<Tensor, FinetuneError> {
                            let logits = x
                                .matmul(&w.as_tensor().t().map_err(c("head"))?)
                                .and_then(|l| l.broadcast_add(b.as_tensor()))
                                .map_err(c("logits"))?;
                            candle_nn::loss::cross_entropy(&logits, &targets).map_err(c("cross-entropy"))
                        };
                        ((side(&a)? + side(&p)?).and_then(|l| l * 0.5)).map_err(c("mean of both sides"))?
                    }
                    (None, None) => crate::mnrl_loss(&a, &p, &labels, opts.scale, opts.symmetric)?,
                    (Some(neg), None) => {
                        // An anchor without another category in training (never with real data) is its own
                        // negative: a constant term without gradient.
                        let n_rows =
                            part.iter().map(|&(a, _)| data.train_rows[neg[a].unwrap_or(a)]).collect();
                        let n = encode(n_rows)?;
                        crate::contrastive::contrastive_loss(&a, &p, &n, opts.margin)?
                    }
                };
                loss_sum +=
                    f64::from(loss.to_scalar::<f32>().map_err(FinetuneError::candle("reading the loss"))?);
                let g = loss.backward().map_err(FinetuneError::candle("backward"))?;
                let mut this = Vec::with_capacity(opt.vars().len());
                for (name, var) in opt.vars() {
                    let gv = g.get(var.as_tensor()).ok_or_else(|| {
                        FinetuneError::Invalid(format!("{name} received no gradient (a frozen path?)"))
                    })?;
                    this.push(
                        (gv / opts.accumulation as f64)
                            .map_err(FinetuneError::candle("averaging gradients"))?,
                    );
                }
                grads = Some(match grads {
                    None => this,
                    Some(acc) => acc
                        .iter()
                        .zip(&this)
                        .map(|(a, b)| a + b)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(FinetuneError::candle("accumulating gradients"))?,
                });
            }
            let mut grads = grads.unwrap_or_default();
            let grad_norm = clip_grad_norm(&mut grads, opts.max_grad_norm)?;
            opt.step(&grads, lr)?;
            train_s += t.elapsed().as_secs_f64();
            let record =
                StepRecord { step: step + 1, loss: loss_sum / opts.accumulation as f64, lr, grad_norm };
            let done = step + 1;
            let end_of_epoch = b + 1 == batches.len();
            let eval_now = (opts.eval_every > 0 && done.is_multiple_of(opts.eval_every)) || end_of_epoch;
            let eval = if eval_now {
                let (p, m) = pb.suspend(|| validate(model, from, store, data, opts, device))?;
                pb.suspend(|| tracing::info!("step {done}: validation P@1 {p:.4}, MRR@10 {m:.4}"));
                Some(EvalRecord { step: done, p_at_1: p, mrr_at_10: m })
            } else {
                None
            };
            steps.push(record.clone());
            evals.extend(eval);
            pb.inc(1);
            pb.set_message(format!("loss {:.3}", record.loss));
            let stop = opts.stop_after == Some(done);
            if (opts.checkpoint_every > 0 && done.is_multiple_of(opts.checkpoint_every))
                || done == total
                || stop
            {
                checkpoint(&opt, &steps, &evals, train_s, done)?;
            }
            if stop {
                stopped = true;
                break 'epochs;
            }
        }
    }
    pb.finish_and_clear();
    Ok(LayerReport {
        from_layer: from,
        pairs_per_epoch,
        total_steps: total,
        steps,
        evals,
        resumed_from: start,
        train_s,
        stopped,
    })
}

/// The path of the checkpoint folder inside a run folder.
pub fn checkpoint_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoint")
}
