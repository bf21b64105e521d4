//! The confusion matrix of the top-1 predictions.

use std::path::Path;

use serde::Serialize;

use crate::EvalError;

/// `K x K` counts of (true class, predicted class) pairs: rows are true classes, columns predicted ones.
///
/// Papers whose true class is unknown to the model have no row; their predictions are kept apart in
/// [`ConfusionMatrix::unknown_label_predictions`] so that column sums plus that vector give each class's
/// number of predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    /// Category code of each class, in class-id order (row and column labels).
    pub codes: Vec<String>,
    /// Row-major counts, `codes.len()²` entries: `counts[t * K + p]` papers of true class `t` predicted `p`.
    pub counts: Vec<u64>,
    /// For each class, how many papers with an unknown true label were predicted as that class.
    pub unknown_label_predictions: Vec<u64>,
}

impl ConfusionMatrix {
    /// An all-zero matrix over `codes`.
    pub(crate) fn zeros(codes: &[String]) -> Self {
        let k = codes.len();
        Self { codes: codes.to_vec(), counts: vec![0; k * k], unknown_label_predictions: vec![0; k] }
    }

    /// Number of classes `K`.
    pub fn n_classes(&self) -> usize {
        self.codes.len()
    }

    /// Papers of true class `t` predicted as `p`.
    ///
    /// # Panics
    /// If `t` or `p` is not below [`Self::n_classes`].
    pub fn get(&self, t: usize, p: usize) -> u64 {
        assert!(t < self.n_classes() && p < self.n_classes(), "class id out of range");
        self.counts[t * self.n_classes() + p]
    }

    /// The row of true class `t` (predicted-class counts).
    ///
    /// # Panics
    /// If `t` is not below [`Self::n_classes`].
    pub fn row(&self, t: usize) -> &[u64] {
        let k = self.n_classes();
        &self.counts[t * k..(t + 1) * k]
    }

    /// Row `t` divided by its sum (the share of class `t`'s papers given each prediction, whose diagonal
    /// entry is the recall), or `None` when class `t` has no papers.
    pub fn row_normalised(&self, t: usize) -> Option<Vec<f64>> {
        let row = self.row(t);
        let total: u64 = row.iter().sum();
        (total > 0).then(|| row.iter().map(|&c| c as f64 / total as f64).collect())
    }

    pub(crate) fn add(&mut self, t: usize, p: usize) {
        let k = self.n_classes();
        self.counts[t * k + p] += 1;
    }

    /// Writes the matrix as CSV: a header row `true\predicted,<code>...`, then one row per true class
    /// starting with its code. The file is replaced atomically.
    pub fn write_csv(&self, path: &Path) -> Result<(), EvalError> {
        atlas_artifact::write_atomic_with(path, |w| {
            let mut out = csv::Writer::from_writer(w);
            let mut header = Vec::with_capacity(self.n_classes() + 1);
            header.push("true\\predicted");
            header.extend(self.codes.iter().map(String::as_str));
            out.write_record(&header)?;
            for (t, code) in self.codes.iter().enumerate() {
                let cells = std::iter::once(code.clone()).chain(self.row(t).iter().map(u64::to_string));
                out.write_record(cells)?;
            }
            out.flush()
        })?;
        Ok(())
    }
}
