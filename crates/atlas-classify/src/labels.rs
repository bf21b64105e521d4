//! Class labels and predicted class probabilities.

use serde::{Deserialize, Serialize};

/// The classes of a classifier; the position in both vectors is the class id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// Machine codes, e.g. `cs.LG`.
    pub codes: Vec<String>,
    /// Human-readable names, e.g. `Machine Learning` (same length as `codes`).
    pub names: Vec<String>,
}

impl Labels {
    /// Number of classes.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// `true` when there is no class at all.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// Class probabilities of a batch of texts: a row-major `n × n_classes` matrix whose rows sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Probabilities {
    /// Number of classes (columns).
    pub n_classes: usize,
    /// Row-major values, `len() * n_classes` of them.
    pub data: Vec<f32>,
}

impl Probabilities {
    /// The probabilities of text `i` (panics if `i >= len()`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n_classes..(i + 1) * self.n_classes]
    }

    /// Number of texts (rows).
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.n_classes).unwrap_or(0)
    }

    /// `true` when there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` most probable classes of text `i` as `(class id, probability)`, most probable first; equal
    /// probabilities are ordered by class id so the result is deterministic.
    pub fn top_k(&self, i: usize, k: usize) -> Vec<(usize, f32)> {
        let mut ranked: Vec<(usize, f32)> = self.row(i).iter().copied().enumerate().collect();
        let by_prob = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let k = k.min(ranked.len());
        if k == 0 {
            return Vec::new();
        }
        if k < ranked.len() {
            ranked.select_nth_unstable_by(k - 1, by_prob);
            ranked.truncate(k);
        }
        ranked.sort_unstable_by(by_prob);
        ranked
    }

    /// The most probable class of every row (ties go to the lower class id).
    pub fn argmax(&self) -> Vec<usize> {
        (0..self.len()).map(|i| self.top_k(i, 1).first().map_or(0, |&(c, _)| c)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_top_k() {
        let p = Probabilities { n_classes: 3, data: vec![0.2, 0.5, 0.3, 0.4, 0.4, 0.2] };
        assert_eq!(p.len(), 2);
        assert_eq!(p.row(1), &[0.4, 0.4, 0.2]);
        assert_eq!(p.top_k(0, 2), vec![(1, 0.5), (2, 0.3)]);
        // Ties are broken by class id; k larger than the class count is clamped.
        assert_eq!(p.top_k(1, 9), vec![(0, 0.4), (1, 0.4), (2, 0.2)]);
        assert!(p.top_k(0, 0).is_empty());
        assert_eq!(p.argmax(), vec![1, 0]);
        let empty = Probabilities { n_classes: 0, data: vec![] };
        assert!(empty.is_empty());
    }
}
