//! Training the adapter: epochs of same-category pairs, a warmup + linear-decay learning rate, early stopping
//! on validation same-category P@1.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use atlas_index::{evaluate_retrieval, ExactIndex, ExactParams, RetrievalMetrics, VectorSpace};

use crate::adapter::Adapter;
use crate::data::{LabelledSplit, SplitData};
use crate::layers::{centroid_head, LossKind};
use crate::FinetuneError;

/// Settings of [`train_adapter`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainOptions {
    /// Most epochs (one epoch = every train paper once as an anchor).
    pub epochs: usize,
    /// Pairs per batch: each anchor's in-batch negatives are the other positives.
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    pub lr: f64,
    /// AdamW weight decay (pulls the adapter towards the identity).
    pub weight_decay: f64,
    /// Share of the steps spent warming the learning rate up linearly from 0; it then decays linearly to 0.
    pub warmup: f64,
    /// Similarity scale of the loss: MNRL's (sentence-transformers: 20) or the cosine classifier's.
    pub scale: f64,
    /// The loss: `mnrl` (same-category pairs, in-batch negatives, same-category papers masked) or
    /// `cross_entropy` (a cosine classifier over the primary categories, its class vectors trained with the
    /// adapter from the frozen centroids and then dropped). `contrastive` is for layer runs only.
    pub loss: LossKind,
    /// Units of a hidden ReLU branch beside the linear map (a residual MLP, saved as two Dense modules);
    /// 0 = the linear adapter.
    pub hidden: usize,
    /// Also rank anchors for each positive (symmetric MNRL).
    pub symmetric: bool,
    /// Stop after this many epochs without a better validation P@1.
    pub patience: usize,
    /// Validation queries used for early stopping (the first N validation papers; 0 = all).
    pub val_queries: usize,
    /// Seed of the pair sampling and shuffling: the same seed gives the same run.
    pub seed: u64,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 10,
            batch_size: 256,
            lr: 5e-4,
            weight_decay: 0.01,
            warmup: 0.1,
            scale: 20.0,
            loss: LossKind::Mnrl,
            hidden: 0,
            symmetric: false,
            patience: 3,
            val_queries: 0,
            seed: 42,
            progress: true,
        }
    }
}

/// One epoch of [`train_adapter`] (epoch 0 is the frozen model, before any step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1 (0 = before training).
    pub epoch: usize,
    /// Mean training loss of the epoch (`None` for epoch 0).
    pub loss: Option<f64>,
    /// Validation same-category P@1 (validation queries against train papers).
    pub val_p_at_1: f64,
    /// Validation MRR@10.
    pub val_mrr_at_10: f64,
    /// Seconds of training steps.
    pub train_s: f64,
    /// Seconds of validation.
    pub eval_s: f64,
}

/// What [`train_adapter`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Every epoch, epoch 0 first.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (0 = no epoch beat the frozen model).
    pub best_epoch: usize,
    /// Training pairs per epoch.
    pub pairs_per_epoch: usize,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Whether early stopping ended the run before `epochs`.
    pub stopped_early: bool,
}

/// Retrieval metrics of `queries` against `docs`, with both mapped through `adapter` (exact cosine search;
/// the protocol's metric definitions, [`atlas_index::evaluate_retrieval`]). `limit` > 0 keeps the first
/// `limit` queries.
pub fn adapted_metrics(
    adapter: &Adapter,
    queries: &LabelledSplit,
    docs: &[&LabelledSplit],
    categories: &[String],
    limit: usize,
) -> Result<RetrievalMetrics, FinetuneError> {
    let dim = adapter.dim();
    let n = if limit == 0 { queries.len() } else { limit.min(queries.len()) };
    let mut doc_papers = Vec::new();
    let mut doc_vectors = Vec::new();
    for d in docs {
        doc_papers.extend_from_slice(&d.papers);
        doc_vectors.extend(adapter.apply(&d.vectors)?);
    }
    let space = VectorSpace {
        embedding_id: "atlas-finetune evaluation".into(),
        model_hash: String::new(),
        model_dir: Default::default(),
        template: String::new(),
        dim,
    };
    let index = ExactIndex::build(&space, &doc_papers, &doc_vectors, ExactParams::default())?;
    let q = adapter.apply(&queries.vectors[..n * dim])?;
    let ids: Vec<String> = queries.papers[..n].iter().map(|p| p.id.clone()).collect();
    let labels: Vec<String> = queries.labels[..n].iter().map(|&l| categories[l as usize].clone()).collect();
    Ok(evaluate_retrieval(&index, &q, &ids, &labels)?)
}

/// The learning rate at `step` of `total` for peak `lr`: linear warmup over the first `warmup` share of the
/// steps, then linear decay to 0.
pub(crate) fn lr_at(lr: f64, warmup: f64, step: usize, total: usize) -> f64 {
    let warm = ((total as f64) * warmup).ceil().max(1.0) as usize;
    if step < warm {
        lr * (step + 1) as f64 / warm as f64
    } else {
        lr * (total.saturating_sub(step)) as f64 / (total.saturating_sub(warm)).max(1) as f64
    }
}

/// Anchor/positive index pairs of one epoch: every train paper whose category has another train paper is an
/// anchor once (shuffled), its positive a random other paper of its category.
pub(crate) fn epoch_pairs(by_label: &[Vec<usize>], labels: &[u32], rng: &mut StdRng) -> Vec<(usize, usize)> {
    let mut anchors: Vec<usize> =
        (0..labels.len()).filter(|&i| by_label[labels[i] as usize].len() >= 2).collect();
    anchors.shuffle(rng);
    anchors
        .into_iter()
        .map(|i| {
            let same = &by_label[labels[i] as usize];
            // Draw among the others: index into `same` without i's own slot.
            let mut j = same[rng.random_range(0..same.len() - 1)];
            if j == i {
                j = same[same.len() - 1];
            }
            (i, j)
        })
        .collect()
}

/// Gives every all-zero class vector (a category with no train paper, seen only in validation or test) the
/// opposite of the train papers' mean direction: the cosine classifier normalises its class vectors, and the
/// gradient of a norm at zero is infinite (NaN weights after one step); pointing away from the data, such a
/// class starts with low logits and is never a target.
fn fill_empty_classes(head: &mut [f32], vectors: &[f32], dim: usize) {
    let mut mean = vec![0.0f32; dim];
    for row in vectors.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m -= v);
    }
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        mean.iter_mut().for_each(|x| *x /= norm);
    } else {
        mean[0] = 1.0;
    }
    for row in head.chunks_exact_mut(dim) {
        if row.iter().all(|&x| x == 0.0) {
            row.copy_from_slice(&mean);
        }
    }
}

/// Checks that the adapter can train with `opts.loss`: call it before expensive work for an adapter run (the
/// run folder, or embedding the papers it trains on).
pub fn check_loss(opts: &TrainOptions) -> Result<(), FinetuneError> {
    match opts.loss {
        LossKind::Contrastive => Err(contrastive_refused()),
        LossKind::Mnrl | LossKind::CrossEntropy => Ok(()),
    }
}

fn contrastive_refused() -> FinetuneError {
    FinetuneError::Invalid(
        "loss=contrastive trains encoder layers (hard negatives come from their stored states); the adapter \
         takes mnrl or cross_entropy"
            .into(),
    )
}

/// A new identity adapter for `opts` over `data`: with a hidden branch of `opts.hidden` units, and for
/// `loss: cross_entropy` with class vectors at the train papers' category centroids.
pub fn new_adapter(data: &SplitData, opts: &TrainOptions) -> Result<Adapter, FinetuneError> {
    let head = match opts.loss {
        LossKind::Mnrl => None,
        LossKind::CrossEntropy => {
            let mut head =
                centroid_head(&data.train.vectors, data.dim, &data.train.labels, data.categories.len(), 1.0);
            fill_empty_classes(&mut head, &data.train.vectors, data.dim);
            Some(head)
        }
        LossKind::Contrastive => return Err(contrastive_refused()),
    };
    Adapter::build(data.dim, opts.hidden, head.as_deref(), opts.lr, opts.weight_decay, opts.seed)
}

/// Trains `adapter` on `data.train`, validating on `data.validation` after every epoch; the adapter ends
/// with the weights of the best epoch.
pub fn train_adapter(
    adapter: &mut Adapter,
    data: &SplitData,
    opts: &TrainOptions,
) -> Result<TrainReport, FinetuneError> {
    if opts.batch_size < 2 {
        return Err(FinetuneError::Invalid("batch size must be at least 2 (in-batch negatives)".into()));
    }
    let dim = data.dim;
    let train = &data.train;
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); data.categories.len()];
    for (i, &l) in train.labels.iter().enumerate() {
        by_label[l as usize].push(i);
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let validate = |adapter: &Adapter| {
        adapted_metrics(adapter, &data.validation, &[train], &data.categories, opts.val_queries)
    };

    let t = Instant::now();
    let frozen = validate(adapter)?;
    let mut history = vec![EpochRecord {
        epoch: 0,
        loss: None,
        val_p_at_1: frozen.p_at_1,
        val_mrr_at_10: frozen.mrr_at_10,
        train_s: 0.0,
        eval_s: t.elapsed().as_secs_f64(),
    }];
    tracing::info!("frozen: validation P@1 {:.4}, MRR@10 {:.4}", frozen.p_at_1, frozen.mrr_at_10);

    let pairs_per_epoch = match opts.loss {
        // The cross-entropy loss classifies papers, one at a time: every train paper once an epoch.
        LossKind::CrossEntropy => train.len(),
        _ => epoch_pairs(&by_label, &train.labels, &mut StdRng::seed_from_u64(opts.seed)).len(),
    };
    let steps_per_epoch = pairs_per_epoch / opts.batch_size;
    if steps_per_epoch == 0 {
        return Err(FinetuneError::Invalid(format!(
            "{pairs_per_epoch} training pairs do not fill one batch of {}",
            opts.batch_size
        )));
    }
    let total_steps = steps_per_epoch * opts.epochs;
    let pb = if opts.progress {
        atlas_embed::job::progress_bar(total_steps as u64, "fine-tuning")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (mut best, mut best_epoch) = (frozen.p_at_1, 0usize);
    let mut best_weights = adapter.snapshot()?;
    let (mut step, mut stale, mut stopped_early) = (0usize, 0usize, false);
    let (mut anchors, mut positives, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for epoch in 1..=opts.epochs {
        let t = Instant::now();
        let pairs = match opts.loss {
            LossKind::CrossEntropy => {
                let mut order: Vec<usize> = (0..train.len()).collect();
                order.shuffle(&mut rng);
                order.into_iter().map(|i| (i, i)).collect()
            }
            _ => epoch_pairs(&by_label, &train.labels, &mut rng),
        };
        let mut loss_sum = 0.0f64;
        // A last partial batch is dropped: fewer in-batch negatives would make its loss incomparable.
        for batch in pairs.chunks_exact(opts.batch_size) {
            anchors.clear();
            positives.clear();
            labels.clear();
            let with_positives = opts.loss != LossKind::CrossEntropy;
            for &(i, j) in batch {
                anchors.extend_from_slice(&train.vectors[i * dim..(i + 1) * dim]);
                if with_positives {
                    positives.extend_from_slice(&train.vectors[j * dim..(j + 1) * dim]);
                }
                labels.push(train.labels[i]);
            }
            adapter.set_learning_rate(lr_at(opts.lr, opts.warmup, step, total_steps));
            let loss = if with_positives {
                adapter.step(&anchors, &positives, &labels, opts.scale, opts.symmetric)?
            } else {
                adapter.class_step(&anchors, &labels, opts.scale)?
            };
            loss_sum += f64::from(loss);
            step += 1;
            pb.inc(1);
            pb.set_message(format!("epoch {epoch} loss {loss:.3}"));
        }
        let train_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let m = validate(adapter)?;
        let record = EpochRecord {
            epoch,
            loss: Some(loss_sum / steps_per_epoch as f64),
            val_p_at_1: m.p_at_1,
            val_mrr_at_10: m.mrr_at_10,
            train_s,
            eval_s: t.elapsed().as_secs_f64(),
        };
        pb.suspend(|| {
            tracing::info!(
                "epoch {epoch}: loss {:.4}, validation P@1 {:.4}, MRR@10 {:.4} ({train_s:.1}s train, {:.1}s eval)",
                record.loss.unwrap_or(f64::NAN),
                m.p_at_1,
                m.mrr_at_10,
                record.eval_s
            )
        });
        history.push(record);
        if m.p_at_1 > best {
            (best, best_epoch, stale) = (m.p_at_1, epoch, 0);
            best_weights = adapter.snapshot()?;
        } else {
            stale += 1;
            if stale >= opts.patience.max(1) && epoch < opts.epochs {
                stopped_early = true;
                break;
            }
        }
    }
    pb.finish_and_clear();
    adapter.load_weights(&best_weights)?;
    Ok(TrainReport { history, best_epoch, pairs_per_epoch, steps: step, stopped_early })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_share_a_category_and_never_pair_a_paper_with_itself() {
        let labels = [0u32, 0, 1, 1, 1, 2, 0];
        let mut by_label = vec![Vec::new(); 3];
        for (i, &l) in labels.iter().enumerate() {
            by_label[l as usize].push(i);
        }
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            let pairs = epoch_pairs(&by_label, &labels, &mut rng);
            // Paper 5 is alone in its category: never an anchor.
            assert_eq!(pairs.len(), 6);
            for (i, j) in pairs {
                assert_ne!(i, j);
                assert_eq!(labels[i], labels[j]);
            }
        }
        let a = epoch_pairs(&by_label, &labels, &mut StdRng::seed_from_u64(7));
        assert_eq!(a, epoch_pairs(&by_label, &labels, &mut StdRng::seed_from_u64(7)));
    }

    /// A category without train papers (only in validation or test) gets a class vector pointing away from the
    /// data instead of zeros, whose normalisation would turn the weights into NaN on the first step.
    #[test]
    fn classes_without_train_papers_get_a_usable_vector_and_training_stays_finite() {
        let dim = 4;
        let vectors = vec![1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.0, 0.1, 0.9, 0.0, 0.0];
        let labels = vec![0u32, 1, 0, 1];
        let mut head = centroid_head(&vectors, dim, &labels, 3, 1.0);
        assert!(head[8..].iter().all(|&x| x == 0.0), "class 2 has no train paper");
        fill_empty_classes(&mut head, &vectors, dim);
        assert!(head[8] < 0.0 && head[9] < 0.0, "{:?}", &head[8..]);
        let mut a = Adapter::build(dim, 3, Some(&head), 0.01, 0.0, 1).unwrap();
        for _ in 0..5 {
            assert!(a.class_step(&vectors, &labels, 10.0).unwrap().is_finite());
        }
        assert!(a.apply(&vectors).unwrap().iter().all(|x| x.is_finite()));
    }

    #[test]
    fn the_adapter_refuses_the_contrastive_loss_before_any_work() {
        let opts = |loss| TrainOptions { loss, ..TrainOptions::default() };
        let err = check_loss(&opts(LossKind::Contrastive)).unwrap_err().to_string();
        assert!(err.contains("mnrl or cross_entropy"), "{err}");
        assert!(
            check_loss(&opts(LossKind::Mnrl)).is_ok() && check_loss(&opts(LossKind::CrossEntropy)).is_ok()
        );
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let lr = |step| lr_at(1.0, 0.1, step, 100);
        assert!((lr(0) - 0.1).abs() < 1e-12);
        assert!((lr(9) - 1.0).abs() < 1e-12);
        assert!(lr(50) < 1.0 && lr(50) > lr(90));
        assert!(lr(99) > 0.0 && lr(99) < 0.02);
    }
}
