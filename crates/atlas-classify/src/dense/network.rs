//! The dense classifier network and its inference: `softmax(x · W + b)`, optionally after one ReLU hidden
//! layer `h = max(0, x · W₁ + b₁)`.

use rayon::prelude::*;

use super::matmul::{gemm, MatRef};
use super::scaler::Standardizer;
use super::softmax::{argmax_row, softmax_row};
use crate::labels::Probabilities;

/// Rows per parallel task at prediction and evaluation time. A block's activations
/// (`256 × 512` hidden values) stay in the L2 cache.
const PREDICT_BLOCK: usize = 256;

/// A fully connected layer `z = x · w + b` with `w` row-major `[n_in × n_out]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layer {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
}

impl Layer {
    /// An all-zero layer.
    pub(crate) fn zeros(n_in: usize, n_out: usize) -> Self {
        Layer { n_in, n_out, w: vec![0.0; n_in * n_out], b: vec![0.0; n_out] }
    }

    /// `out = x · w + b` for the `out.len() / n_out` rows of `x` (single-threaded).
    pub(crate) fn forward(&self, x: &[f32], out: &mut [f32]) {
        let rows = out.len() / self.n_out;
        for row in out.chunks_exact_mut(self.n_out) {
            row.copy_from_slice(&self.b);
        }
        gemm(1.0, MatRef::new(x, rows, self.n_in), MatRef::new(&self.w, self.n_in, self.n_out), 1.0, out);
    }
}

/// The classifier: an optional ReLU hidden layer, then a linear layer whose softmax gives the
/// probabilities.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Network {
    pub(crate) hidden: Option<Layer>,
    pub(crate) output: Layer,
}

impl Network {
    /// Input dimension.
    pub(crate) fn dim(&self) -> usize {
        self.hidden.as_ref().unwrap_or(&self.output).n_in
    }

    /// Number of classes.
    pub(crate) fn n_classes(&self) -> usize {
        self.output.n_out
    }

    /// The same network taking raw input, when `self` was trained on `scaler`-standardised input.
    pub(crate) fn fold(&self, scaler: &Standardizer) -> Network {
        let first = self.hidden.as_ref().unwrap_or(&self.output);
        let (w, b) = scaler.fold(&first.w, &first.b);
        let folded = Layer { w, b, ..first.clone() };
        match &self.hidden {
            Some(_) => Network { hidden: Some(folded), output: self.output.clone() },
            None => Network { hidden: None, output: folded },
        }
    }

    /// Logits of the rows of `x` into `out` (`rows × n_classes`); `scratch` holds the hidden activations.
    fn logits_block(&self, x: &[f32], out: &mut [f32], scratch: &mut Vec<f32>) {
        match &self.hidden {
            Some(h) => {
                let rows = out.len() / self.output.n_out;
                scratch.resize(rows * h.n_out, 0.0);
                h.forward(x, scratch);
                scratch.iter_mut().for_each(|v| *v = v.max(0.0));
                self.output.forward(scratch, out);
            }
            None => self.output.forward(x, out),
        }
    }

    /// Class probabilities of every row of `x` (`dim` values per row), in parallel over blocks of rows.
    ///
    /// # Panics
    /// If `x.len()` is not a multiple of the input dimension.
    pub(crate) fn predict_proba(&self, x: &[f32]) -> Probabilities {
        let (dim, k) = (self.dim(), self.n_classes());
        assert!(
            x.len().is_multiple_of(dim),
            "{} values are not rows of {dim}-dimensional embeddings",
            x.len()
        );
        let n = x.len() / dim;
        let mut data = vec![0.0f32; n * k];
        let block = |(xb, out): (&[f32], &mut [f32]), scratch: &mut Vec<f32>| {
            self.logits_block(xb, out, scratch);
            out.chunks_exact_mut(k).for_each(|row| {
                softmax_row(row);
            });
        };
        if n <= PREDICT_BLOCK {
            block((x, &mut data), &mut Vec::new());
        } else {
            x.par_chunks(PREDICT_BLOCK * dim)
                .zip(data.par_chunks_mut(PREDICT_BLOCK * k))
                .for_each_init(Vec::new, |scratch, pair| block(pair, scratch));
        }
        Probabilities { n_classes: k, data }
    }

    /// Mean cross-entropy and top-1 accuracy on `(x, y)` (at least one row). Block sums are combined in
    /// block order, so the figures do not depend on the thread count.
    pub(crate) fn evaluate(&self, x: &[f32], y: &[u32]) -> (f64, f64) {
        let (dim, k) = (self.dim(), self.n_classes());
        let per_block: Vec<(f64, usize)> = x
            .par_chunks(PREDICT_BLOCK * dim)
            .zip(y.par_chunks(PREDICT_BLOCK))
            .map_init(
                || (Vec::new(), Vec::new()),
                |(scratch, logits), (xb, yb)| {
                    logits.resize(yb.len() * k, 0.0);
                    self.logits_block(xb, logits, scratch);
                    let mut loss = 0.0f64;
                    let mut correct = 0usize;
                    for (row, &c) in logits.chunks_exact_mut(k).zip(yb) {
                        let logit_y = row[c as usize];
                        // The arg-max of the logits is that of the probabilities (ties: lower class id).
                        correct += usize::from(argmax_row(row) == c as usize);
                        loss += softmax_row(row) - f64::from(logit_y);
                    }
                    (loss, correct)
                },
            )
            .collect();
        let loss: f64 = per_block.iter().map(|b| b.0).sum();
        let correct: usize = per_block.iter().map(|b| b.1).sum();
        (loss / y.len() as f64, correct as f64 / y.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Network {
        // 2 inputs → 3 hidden → 2 classes.
        let hidden =
            Layer { n_in: 2, n_out: 3, w: vec![1.0, -1.0, 0.5, 2.0, 1.0, -0.5], b: vec![0.0, 0.5, 0.0] };
        let output = Layer { n_in: 3, n_out: 2, w: vec![1.0, 0.0, 0.0, 1.0, 1.0, -1.0], b: vec![0.1, -0.1] };
        Network { hidden: Some(hidden), output }
    }

    #[test]
    fn forward_is_relu_then_softmax() {
        let net = tiny();
        let x = [1.0f32, 2.0];
        // h = relu([1 + 4, -1 + 2 + 0.5, 0.5 - 1]) = [5, 1.5, 0]; logits = [5 + 0.1, 1.5 - 0.1].
        let p = net.predict_proba(&x);
        let e = (1.4f32 - 5.1).exp();
        assert!((p.row(0)[0] - 1.0 / (1.0 + e)).abs() < 1e-6, "{:?}", p.row(0));
        let (loss, acc) = net.evaluate(&x, &[1]);
        assert!((loss - f64::from(5.1f32 - 1.4 + (1.0 + e).ln())).abs() < 1e-5);
        assert_eq!(acc, 0.0);
        assert_eq!((net.dim(), net.n_classes()), (2, 2));
    }

    #[test]
    fn one_row_equals_its_row_in_a_large_parallel_batch() {
        let net = tiny();
        let x: Vec<f32> = (0..2 * 1000).map(|i| ((i as f32) * 0.71).sin()).collect();
        let all = net.predict_proba(&x);
        assert_eq!(all.len(), 1000);
        for r in [0, 257, 999] {
            assert_eq!(net.predict_proba(&x[2 * r..2 * r + 2]).row(0), all.row(r), "row {r}");
        }
    }
}
