//! Multi-label metrics: how well the probabilities recover *all* of a paper's categories.

use serde::Serialize;

use crate::single::f1;
use crate::EvalInput;

/// Metrics of the multi-label view of the predictions.
///
/// A paper's predicted set is every class with probability `>= threshold`, plus its top-1 class (so no
/// paper predicts nothing); its true set is [`EvalInput::true_sets`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiLabelMetrics {
    /// The probability threshold of the predicted sets (unused when `per_class_thresholds`).
    pub threshold: f32,
    /// The predicted sets used one threshold per class ([`crate::EvalOptions::class_thresholds`]).
    pub per_class_thresholds: bool,
    /// F1 over all (paper, class) decisions pooled: `2TP / (2TP + FP + FN)`.
    pub micro_f1: f64,
    /// Unweighted mean of per-class F1 over the classes that occur in a true set or a predicted set
    /// (scikit-learn's `f1_score(Y, P, average="macro", labels=those classes)`).
    pub macro_f1: f64,
    /// Number of classes averaged in [`Self::macro_f1`].
    pub n_classes_in_macro: usize,
    /// Mean over the classes with at least one positive paper of that class's average precision, i.e. the
    /// ranking quality of the class's probability column (scikit-learn's `average_precision_score`, ties
    /// grouped). `NaN` when no paper has any category among the model's labels.
    pub map: f64,
    /// Number of classes averaged in [`Self::map`].
    pub n_classes_in_map: usize,
    /// Average precision of each class (class-id order), `None` for classes without positive papers.
    pub average_precision: Vec<Option<f64>>,
    /// Label ranking average precision, as scikit-learn's `label_ranking_average_precision_score`: for each
    /// paper and each of its true classes, the share of true classes among the classes ranked at or above
    /// it, averaged per paper and then over papers. Papers whose true set is empty (or holds every class)
    /// score 1, as in scikit-learn.
    pub lrap: f64,
    /// Mean size of the true sets (duplicates removed).
    pub mean_true_labels: f64,
    /// Mean size of the predicted sets.
    pub mean_predicted_labels: f64,
}

/// Computes the multi-label metrics from validated input and the top-1 predictions `pred`, with the
/// global `threshold` or, when given, one threshold per class.
pub(crate) fn compute(
    input: &EvalInput<'_>,
    pred: &[usize],
    threshold: f32,
    class_thresholds: Option<&[f32]>,
) -> MultiLabelMetrics {
    let k = input.n_classes;
    let thresholds = class_thresholds.map_or_else(|| vec![threshold; k], <[f32]>::to_vec);
    let n = input.y_true.len();
    // Dense n x K membership: 1.7 MB for the 10k x 172 test split, and it makes duplicate ids in the
    // caller's sets harmless.
    let mut is_true = vec![false; n * k];
    for (i, set) in input.true_sets.iter().enumerate() {
        for &c in set {
            is_true[i * k + c as usize] = true;
        }
    }

    let (mut tp, mut fp, mut fn_) = (vec![0u64; k], vec![0u64; k], vec![0u64; k]);
    let (mut n_true_labels, mut n_pred_labels) = (0u64, 0u64);
    let mut lrap_sum = 0.0f64;
    for (i, row) in input.probs.chunks_exact(k).enumerate() {
        let truth = &is_true[i * k..(i + 1) * k];
        for c in 0..k {
            let predicted = row[c] >= thresholds[c] || c == pred[i];
            match (truth[c], predicted) {
                (true, true) => tp[c] += 1,
                (false, true) => fp[c] += 1,
                (true, false) => fn_[c] += 1,
                (false, false) => {}
            }
            n_true_labels += u64::from(truth[c]);
            n_pred_labels += u64::from(predicted);
        }
        lrap_sum += ranking_precision(row, truth);
    }

    let (mut macro_sum, mut n_classes_in_macro) = (0.0f64, 0usize);
    for c in 0..k {
        if tp[c] + fp[c] + fn_[c] > 0 {
            macro_sum += f1(tp[c], tp[c] + fp[c], tp[c] + fn_[c]);
            n_classes_in_macro += 1;
        }
    }
    let (tp_all, fp_all, fn_all): (u64, u64, u64) = (tp.iter().sum(), fp.iter().sum(), fn_.iter().sum());

    let average_precision = average_precisions(input.probs, k, &is_true);
    let aps: Vec<f64> = average_precision.iter().flatten().copied().collect();

    MultiLabelMetrics {
        threshold,
        per_class_thresholds: class_thresholds.is_some(),
        micro_f1: f1(tp_all, tp_all + fp_all, tp_all + fn_all),
        macro_f1: if n_classes_in_macro == 0 { 0.0 } else { macro_sum / n_classes_in_macro as f64 },
        n_classes_in_macro,
        map: if aps.is_empty() { f64::NAN } else { aps.iter().sum::<f64>() / aps.len() as f64 },
        n_classes_in_map: aps.len(),
        average_precision,
        lrap: lrap_sum / n as f64,
        mean_true_labels: n_true_labels as f64 / n as f64,
        mean_predicted_labels: n_pred_labels as f64 / n as f64,
    }
}

/// Average precision of every class (class-id order; `None` for a class without positive papers), as
/// scikit-learn's `average_precision_score` of the class's column: `Σ (R_i - R_{i-1}) P_i` over the
/// distinct scores in decreasing order, where P_i / R_i are the precision / recall of "score >= that
/// score", so papers with equal scores enter together.
///
/// Only thresholds at a positive paper's score move the recall, so instead of sorting all `n` scores
/// per class this sorts the class's few positives and places each negative among them with a binary
/// search, in one row-major (cache-friendly) pass over the probabilities and without an `n`-sized
/// scratch buffer per class.
fn average_precisions(probs: &[f32], k: usize, is_true: &[bool]) -> Vec<Option<f64>> {
    let mut positives: Vec<Vec<f32>> = vec![Vec::new(); k];
    for (row, truth) in probs.chunks_exact(k).zip(is_true.chunks_exact(k)) {
        for c in (0..k).filter(|&c| truth[c]) {
            positives[c].push(row[c]);
        }
    }
    // Per class: the distinct positive scores in decreasing order, and how many positives score >= each.
    let mut levels: Vec<Vec<f32>> = Vec::with_capacity(k);
    let mut tp_at: Vec<Vec<usize>> = Vec::with_capacity(k);
    for scores in &mut positives {
        // Validation rejected NaN, so `total_cmp` is the numeric order (up to -0.0 < +0.0, merged below).
        scores.sort_unstable_by(|a, b| b.total_cmp(a));
        let (mut lv, mut tp) = (Vec::new(), Vec::new());
        for (i, &s) in scores.iter().enumerate() {
            if lv.last() == Some(&s) {
                *tp.last_mut().expect("tp has an entry per level") = i + 1;
            } else {
                lv.push(s);
                tp.push(i + 1);
            }
        }
        levels.push(lv);
        tp_at.push(tp);
    }
    // fp_hist[c][j]: negatives whose score is >= levels[c][j] but < levels[c][j - 1].
    let mut fp_hist: Vec<Vec<u64>> = levels.iter().map(|lv| vec![0; lv.len() + 1]).collect();
    for (row, truth) in probs.chunks_exact(k).zip(is_true.chunks_exact(k)) {
        for c in 0..k {
            if !truth[c] && !levels[c].is_empty() {
                let x = row[c];
                fp_hist[c][levels[c].partition_point(|&u| u > x)] += 1;
            }
        }
    }
    (0..k)
        .map(|c| {
            let total = *tp_at[c].last()?;
            let (mut fp, mut prev_tp, mut ap) = (0u64, 0usize, 0.0f64);
            for (&tp, &new_fp) in tp_at[c].iter().zip(&fp_hist[c]) {
                fp += new_fp;
                ap += (tp - prev_tp) as f64 / total as f64 * (tp as f64 / (tp as f64 + fp as f64));
                prev_tp = tp;
            }
            Some(ap)
        })
        .collect()
}

/// One paper's label-ranking average precision (see [`MultiLabelMetrics::lrap`]).
fn ranking_precision(row: &[f32], truth: &[bool]) -> f64 {
    let n_true = truth.iter().filter(|&&t| t).count();
    if n_true == 0 || n_true == row.len() {
        return 1.0;
    }
    let mut sum = 0.0;
    for (j, &sj) in row.iter().enumerate() {
        if !truth[j] {
            continue;
        }
        // Ties count against the label (rank = number of classes scored >= it), as in scikit-learn.
        let (mut rank, mut true_at_or_above) = (0usize, 0usize);
        for (&s, &t) in row.iter().zip(truth) {
            if s >= sj {
                rank += 1;
                true_at_or_above += usize::from(t);
            }
        }
        sum += true_at_or_above as f64 / rank as f64;
    }
    sum / n_true as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition: walk the papers by decreasing score, one distinct score at a time.
    fn naive_average_precision(scores: &[f32], positive: &[bool]) -> Option<f64> {
        let total = positive.iter().filter(|&&p| p).count();
        if total == 0 {
            return None;
        }
        let mut distinct: Vec<f32> = scores.to_vec();
        distinct.sort_by(|a, b| b.total_cmp(a));
        distinct.dedup();
        let (mut ap, mut prev_recall) = (0.0, 0.0);
        for t in distinct {
            let at_or_above: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] >= t).collect();
            let tp = at_or_above.iter().filter(|&&i| positive[i]).count();
            let recall = tp as f64 / total as f64;
            ap += (recall - prev_recall) * tp as f64 / at_or_above.len() as f64;
            prev_recall = recall;
        }
        Some(ap)
    }

    #[test]
    fn average_precision_matches_the_definition_on_tied_scores() {
        // Scores on a coarse grid so that ties (also between positives and negatives) are common.
        let (n, k) = (300usize, 7usize);
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let probs: Vec<f32> = (0..n * k).map(|_| (next() % 11) as f32 / 10.0).collect();
        let mut is_true: Vec<bool> = (0..n * k).map(|_| next() % 4 == 0).collect();
        // Class 6 has no positive paper.
        for i in 0..n {
            is_true[i * k + 6] = false;
        }
        let got = average_precisions(&probs, k, &is_true);
        for c in 0..k {
            let scores: Vec<f32> = (0..n).map(|i| probs[i * k + c]).collect();
            let positive: Vec<bool> = (0..n).map(|i| is_true[i * k + c]).collect();
            match (got[c], naive_average_precision(&scores, &positive)) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-12, "class {c}: {g} vs {w}"),
                (g, w) => assert_eq!(g, w, "class {c}"),
            }
        }
        assert_eq!(got[6], None);
    }

    #[test]
    fn ranking_precision_follows_scikit_learn_edge_cases() {
        // Hand-computed: true {0, 2} with scores 0.5 / 0.1 / 0.4: label 0 ranks 1st (1/1), label 2 ranks
        // 2nd with both true labels at or above it (2/2) -> 1.0. Moving label 1 above label 2: 2/3.
        assert_eq!(ranking_precision(&[0.5, 0.1, 0.4], &[true, false, true]), 1.0);
        assert!(
            (ranking_precision(&[0.5, 0.45, 0.05], &[true, false, true]) - (1.0 + 2.0 / 3.0) / 2.0).abs()
                < 1e-12
        );
        // A tie counts against the label: rank 2 for both tied labels, one true.
        assert_eq!(ranking_precision(&[0.5, 0.5], &[true, false]), 0.5);
        // No true label, or all labels true: 1 by convention.
        assert_eq!(ranking_precision(&[0.5, 0.5], &[false, false]), 1.0);
        assert_eq!(ranking_precision(&[0.9, 0.1], &[true, true]), 1.0);
    }
}
