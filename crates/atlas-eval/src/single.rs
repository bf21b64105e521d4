//! Single-label (top-1) metrics, computed the way scikit-learn computes them.

use crate::confusion::ConfusionMatrix;
use crate::{ClassMetrics, EvalInput};

/// Probabilities are clipped to this before taking the log, so one confident mistake costs ln(1e15) ≈ 34.5
/// instead of infinity.
pub(crate) const LOG_LOSS_EPS: f64 = 1e-15;

/// The single-label part of a report.
pub(crate) struct SingleLabel {
    pub n_unknown_label: usize,
    pub accuracy: f64,
    pub top_k_accuracy: f64,
    pub log_loss: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub n_classes_in_macro: usize,
    pub per_class: Vec<ClassMetrics>,
    pub confusion: ConfusionMatrix,
}

/// Index of the largest value; the lowest index wins ties, as with `numpy.argmax`.
pub(crate) fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &p) in row.iter().enumerate().skip(1) {
        if p > row[best] {
            best = j;
        }
    }
    best
}

/// Whether class `t` is among the `k` highest of `row`, ranking ties by lowest index first (the same
/// tie rule as [`argmax`], so top-1 accuracy equals accuracy).
fn in_top_k(row: &[f32], t: usize, k: usize) -> bool {
    let pt = row[t];
    let mut ahead = 0;
    for (j, &p) in row.iter().enumerate() {
        if p > pt || (p == pt && j < t) {
            ahead += 1;
            if ahead >= k {
                return false;
            }
        }
    }
    true
}

/// `2tp / (2tp + fp + fn)`, the form scikit-learn uses; 0 when the class is never true nor predicted.
pub(crate) fn f1(tp: u64, predicted: u64, support: u64) -> f64 {
    let denom = predicted + support;
    if denom == 0 {
        0.0
    } else {
        2.0 * tp as f64 / denom as f64
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes every single-label metric from validated input and the top-1 predictions `pred`
/// (`top_k` already capped at `K`).
pub(crate) fn compute(input: &EvalInput<'_>, pred: &[usize], top_k: usize) -> SingleLabel {
    let k = input.n_classes;
    let n = input.y_true.len();
    let mut confusion = ConfusionMatrix::zeros(input.codes);
    let mut n_unknown_label = 0usize;
    let mut correct = 0u64;
    let mut top_k_correct = 0u64;
    let mut log_loss_sum = 0.0f64;
    for (row, (y, &p)) in input.probs.chunks_exact(k).zip(input.y_true.iter().zip(pred)) {
        let Some(t) = *y else {
            n_unknown_label += 1;
            confusion.unknown_label_predictions[p] += 1;
            continue;
        };
        let t = t as usize;
        confusion.add(t, p);
        correct += u64::from(t == p);
        top_k_correct += u64::from(in_top_k(row, t, top_k));
        log_loss_sum -= f64::from(row[t]).max(LOG_LOSS_EPS).ln();
    }

    let mut per_class = Vec::with_capacity(k);
    let (mut macro_sum, mut n_classes_in_macro, mut weighted_sum) = (0.0f64, 0usize, 0.0f64);
    for c in 0..k {
        let tp = confusion.get(c, c);
        let support: u64 = confusion.row(c).iter().sum();
        // Predictions on unknown-label papers are false positives of the predicted class, exactly as they
        // are for scikit-learn when it sees those papers' (foreign) labels.
        let predicted =
            (0..k).map(|t| confusion.get(t, c)).sum::<u64>() + confusion.unknown_label_predictions[c];
        let f = f1(tp, predicted, support);
        if support > 0 || predicted > 0 {
            macro_sum += f;
            n_classes_in_macro += 1;
        }
        weighted_sum += f * support as f64;
        per_class.push(ClassMetrics {
            code: input.codes[c].clone(),
            name: input.names[c].clone(),
            precision: ratio(tp, predicted),
            recall: ratio(tp, support),
            f1: f,
            support,
            predicted,
            average_precision: None,
        });
    }
    let n_known = n - n_unknown_label;
    SingleLabel {
        n_unknown_label,
        accuracy: ratio(correct, n as u64),
        top_k_accuracy: ratio(top_k_correct, n as u64),
        log_loss: if n_known == 0 { f64::NAN } else { log_loss_sum / n_known as f64 },
        // `n_classes_in_macro >= 1` because every paper predicts some class.
        macro_f1: macro_sum / n_classes_in_macro.max(1) as f64,
        // Unknown-label papers weigh in the denominator with an F1 of 0, which is what scikit-learn's
        // weighted average gives their labels.
        weighted_f1: weighted_sum / n as f64,
        n_classes_in_macro,
        per_class,
        confusion,
    }
}
