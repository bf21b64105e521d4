//! Per-class decision thresholds of a multi-label model, chosen on validation papers.
//!
//! A one-vs-rest model gives every class its own probability; a paper's label set is every class whose
//! probability reaches that class's threshold, plus its most probable class (every paper has at least its
//! primary category, so a set is never empty). One global threshold suits no one: a frequent class like
//! `cs.LG` wants a higher one than a rare class whose probabilities never leave 0.2. So each class gets the
//! threshold that maximises its own F1 on the validation papers — and only those: the test split is never
//! read, so test metrics stay honest.

use serde::{Deserialize, Serialize};

use crate::CalibrateError;

/// Threshold of a class with fewer validation papers than [`MIN_POSITIVES`]: the natural decision point
/// of a sigmoid. With one or two positives the F1-optimal threshold is set by a single paper's score, which
/// says little about the next paper.
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Validation papers a class needs before its threshold is tuned rather than [`DEFAULT_THRESHOLD`].
pub const MIN_POSITIVES: usize = 3;

/// Per-class thresholds; serialised into a model folder as `thresholds.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelThresholds {
    /// Threshold of each class (class-id order): the class is in a paper's set when its probability is
    /// `>=` this.
    pub thresholds: Vec<f32>,
    /// Validation papers the thresholds were chosen on.
    pub n_papers: usize,
    /// Classes that had fewer than [`MIN_POSITIVES`] positive papers and got [`DEFAULT_THRESHOLD`].
    pub n_default: usize,
}

impl LabelThresholds {
    /// Chooses each class's threshold to maximise its F1 on `probs` (`n × k`, row-major) against `sets`
    /// (the class ids of each paper's categories). Candidates are midpoints between consecutive distinct
    /// scores, so a threshold never sits exactly on a validation paper's score; ties in F1 keep the higher
    /// threshold (fewer false positives elsewhere).
    pub fn fit(probs: &[f32], k: usize, sets: &[Vec<u32>]) -> Result<Self, CalibrateError> {
        let n = sets.len();
        if n == 0 || k == 0 {
            return Err(CalibrateError::Empty { what: "validation papers for label thresholds" });
        }
        if probs.len() != n * k {
            return Err(CalibrateError::Shape { what: "probabilities", expected: n * k, found: probs.len() });
        }
        let mut positive = vec![false; n * k];
        for (i, set) in sets.iter().enumerate() {
            for &c in set {
                if c as usize >= k {
                    return Err(CalibrateError::LabelOutOfRange { label: c, n_classes: k });
                }
                positive[i * k + c as usize] = true;
            }
        }
        let mut thresholds = Vec::with_capacity(k);
        let mut n_default = 0;
        let mut column: Vec<(f32, bool)> = Vec::with_capacity(n);
        for c in 0..k {
            column.clear();
            column.extend((0..n).map(|i| (probs[i * k + c], positive[i * k + c])));
            let n_pos = column.iter().filter(|e| e.1).count();
            if n_pos < MIN_POSITIVES {
                thresholds.push(DEFAULT_THRESHOLD);
                n_default += 1;
                continue;
            }
            thresholds.push(best_f1_threshold(&mut column, n_pos));
        }
        Ok(LabelThresholds { thresholds, n_papers: n, n_default })
    }

    /// The label set of one probability row: classes at or above their threshold, plus the most probable
    /// class, most probable first.
    pub fn set_of(&self, row: &[f32]) -> Vec<usize> {
        let top = row.iter().enumerate().fold(0, |b, (c, &p)| if p > row[b] { c } else { b });
        let mut set: Vec<usize> = (0..row.len().min(self.thresholds.len()))
            .filter(|&c| c == top || row[c] >= self.thresholds[c])
            .collect();
        if set.is_empty() && !row.is_empty() {
            set.push(top);
        }
        set.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        set
    }

    /// The label set of every row of `probs` (`k` wide).
    pub fn sets(&self, probs: &[f32], k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return Vec::new();
        }
        probs.chunks_exact(k).map(|row| self.set_of(row)).collect()
    }
}

/// The F1-maximising threshold of one class's `(score, is_positive)` column with `n_pos` positives.
fn best_f1_threshold(column: &mut [(f32, bool)], n_pos: usize) -> f32 {
    column.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut best_f1, mut best_t) = (-1.0f64, DEFAULT_THRESHOLD);
    let mut i = 0;
    while i < column.len() {
        // Papers with equal scores are predicted together.
        let score = column[i].0;
        while i < column.len() && column[i].0 == score {
            if column[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let f1 = 2.0 * tp as f64 / (tp + fp + n_pos) as f64;
        if f1 > best_f1 {
            best_f1 = f1;
            let next = column.get(i).map_or(0.0, |e| e.0);
            best_t = 0.5 * (score + next);
        }
    }
    best_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_gets_the_threshold_of_its_best_f1() {
        // Class 0: positives at 0.9, 0.8, 0.6; negatives at 0.7, 0.3 → best F1 (6/7) by taking the top four
        // scores, i.e. a threshold between 0.6 and 0.3.
        // Class 1: positives at 0.35, 0.3, 0.25; negatives at 0.1 and below → threshold between 0.25 and 0.1.
        let rows = [[0.9, 0.1], [0.8, 0.35], [0.7, 0.3], [0.6, 0.25], [0.3, 0.1], [0.2, 0.05]];
        let sets = vec![vec![0], vec![0, 1], vec![1], vec![0, 1], vec![], vec![]];
        let probs: Vec<f32> = rows.iter().flatten().copied().collect();
        let t = LabelThresholds::fit(&probs, 2, &sets).unwrap();
        assert!((t.thresholds[0] - 0.45).abs() < 1e-6, "{:?}", t.thresholds);
        assert!((t.thresholds[1] - 0.175).abs() < 1e-6, "{:?}", t.thresholds);
        assert_eq!((t.n_papers, t.n_default), (6, 0));
        // A rare class would get its own threshold far below a global 0.5.
        assert_eq!(t.set_of(&[0.2, 0.3]), [1]);
        assert_eq!(t.set_of(&[0.6, 0.2]), [0, 1]);
    }

    #[test]
    fn sets_are_never_empty_and_ranked() {
        let t = LabelThresholds { thresholds: vec![0.9, 0.9, 0.1], n_papers: 1, n_default: 0 };
        assert_eq!(t.set_of(&[0.3, 0.4, 0.05]), [1]);
        assert_eq!(t.set_of(&[0.95, 0.2, 0.5]), [0, 2]);
        assert_eq!(t.sets(&[0.3, 0.4, 0.05, 0.95, 0.2, 0.5], 3), [vec![1], vec![0, 2]]);
    }

    #[test]
    fn classes_with_few_positives_keep_the_default() {
        let probs = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3];
        let t = LabelThresholds::fit(&probs, 2, &[vec![0], vec![0], vec![0, 1]]).unwrap();
        assert_eq!(t.thresholds[1], DEFAULT_THRESHOLD);
        assert_eq!(t.n_default, 1);
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(LabelThresholds::fit(&[], 2, &[]), Err(CalibrateError::Empty { .. })));
        assert!(matches!(LabelThresholds::fit(&[0.5], 2, &[vec![0]]), Err(CalibrateError::Shape { .. })));
        let e = LabelThresholds::fit(&[0.5, 0.5], 2, &[vec![2]]).unwrap_err();
        assert!(matches!(e, CalibrateError::LabelOutOfRange { label: 2, .. }), "{e}");
    }
}
