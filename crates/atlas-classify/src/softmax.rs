//! Multinomial (softmax) logistic regression on sparse rows: the model and its inference.
//!
//! Training lives in [`crate::train`].

use rayon::prelude::*;

use crate::error::ClassifyError;
use crate::kernels::add_weighted_rows;
use crate::labels::Probabilities;
use crate::sparse::CsrMatrix;

/// A linear model `softmax(x · W + b)` with `W` stored row-major as `[n_features × n_classes]`, so the
/// weights of one feature are contiguous: a sparse row touches only the rows of its non-zero features.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRegression {
    n_features: usize,
    n_classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl SoftmaxRegression {
    /// An all-zero model (uniform probabilities).
    pub fn zeros(n_features: usize, n_classes: usize) -> Self {
        SoftmaxRegression {
            n_features,
            n_classes,
            weights: vec![0.0; n_features * n_classes],
            bias: vec![0.0; n_classes],
        }
    }

    /// A model from its parameters; fails if the lengths do not match the shape.
    pub fn from_parts(
        n_features: usize,
        n_classes: usize,
        weights: Vec<f32>,
        bias: Vec<f32>,
    ) -> Result<Self, ClassifyError> {
        if n_classes == 0 {
            return Err(ClassifyError::InvalidData("a classifier needs at least one class".into()));
        }
        if weights.len() != n_features * n_classes || bias.len() != n_classes {
            return Err(ClassifyError::InvalidData(format!(
                "weights of length {} and bias of length {} do not fit {n_features} features × {n_classes} \
                 classes",
                weights.len(),
                bias.len()
            )));
        }
        Ok(SoftmaxRegression { n_features, n_classes, weights, bias })
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Row-major `[n_features × n_classes]` weights.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Per-class bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    pub(crate) fn params_mut(&mut self) -> (&mut [f32], &mut [f32]) {
        (&mut self.weights, &mut self.bias)
    }

    /// Class probabilities of one sparse row, written into `out` (length `n_classes`).
    ///
    /// # Panics
    /// If a feature index is `>= n_features` or `out` has the wrong length.
    pub fn proba_into(&self, indices: &[u32], values: &[f32], out: &mut [f32]) {
        self.logits_into(indices, values, out);
        softmax_in_place(out);
    }

    /// Logits `x · W + b` of one sparse row, written into `out` (length `n_classes`).
    ///
    /// # Panics
    /// If a feature index is `>= n_features` or `out` has the wrong length.
    pub fn logits_into(&self, indices: &[u32], values: &[f32], out: &mut [f32]) {
        assert_eq!(out.len(), self.n_classes, "output length must be the number of classes");
        out.copy_from_slice(&self.bias);
        add_weighted_rows(&self.weights, self.n_classes, indices, values, out);
    }

    /// Class probabilities of every row of `x` (parallel over rows).
    ///
    /// # Panics
    /// If `x` has more columns than the model has features.
    pub fn predict_proba(&self, x: &CsrMatrix) -> Probabilities {
        assert!(x.n_cols <= self.n_features, "{} columns for a {}-feature model", x.n_cols, self.n_features);
        let k = self.n_classes;
        let mut data = vec![0.0f32; x.n_rows() * k];
        data.par_chunks_mut(k).enumerate().with_min_len(32).for_each(|(i, out)| {
            let (idx, val) = x.row(i);
            self.proba_into(idx, val, out);
        });
        Probabilities { n_classes: k, data }
    }
}

/// Replaces logits by their softmax (shifted by the max, so large logits cannot overflow) and returns the
/// log-sum-exp of the logits, from which the cross-entropy of class `y` is `lse - logit_y`.
pub(crate) fn softmax_in_place(out: &mut [f32]) -> f64 {
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in out.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    out.iter_mut().for_each(|v| *v *= inv);
    f64::from(max) + f64::from(sum).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let mut v = [1000.0f32, 1000.0, -1000.0];
        let lse = softmax_in_place(&mut v);
        assert!((v[0] - 0.5).abs() < 1e-6 && (v[1] - 0.5).abs() < 1e-6 && v[2] == 0.0);
        assert!((lse - (1000.0 + 2f64.ln())).abs() < 1e-3);
    }

    #[test]
    fn logits_are_x_times_w_plus_b() {
        // 3 features × 2 classes.
        let w = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = SoftmaxRegression::from_parts(3, 2, w, vec![0.5, -0.5]).unwrap();
        let mut out = [0.0f32; 2];
        m.logits_into(&[0, 2], &[2.0, 1.0], &mut out);
        assert_eq!(out, [0.5 + 2.0 + 5.0, -0.5 + 4.0 + 6.0]);
        let mut x = CsrMatrix::empty(3);
        x.push_row(&[0, 2], &[2.0, 1.0]);
        x.push_row(&[], &[]);
        let p = m.predict_proba(&x);
        assert_eq!(p.len(), 2);
        let e = (-2.0f32).exp(); // logits 7.5 and 9.5
        assert!((p.row(0)[0] - e / (1.0 + e)).abs() < 1e-6);
        // An empty row falls back to softmax(bias).
        assert!((p.row(1)[0] - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6);
        assert!(SoftmaxRegression::from_parts(3, 2, vec![0.0; 5], vec![0.0; 2]).is_err());
    }
}
