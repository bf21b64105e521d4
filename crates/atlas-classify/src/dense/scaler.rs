//! Per-dimension standardisation of embeddings during training.
//!
//! Sentence embeddings are far from centred: every vector shares a large common component and the spread
//! differs a lot between dimensions, which makes the loss surface of a linear layer badly conditioned.
//! Training on `(x − mean) / std` and folding the affine map into the first layer afterwards
//! ([`Standardizer::fold`]) gives the optimiser a well-conditioned problem while the saved model still
//! takes raw embeddings.
//!
//! Dimensions without real spread must not be blown up to unit variance. The int8-quantised MiniLM
//! encoder gives a few dimensions that are constant up to 1e-8 (on arxiv-mini: dimensions 127 and 223 at
//! ±1e-33, dimension 319 at −4.2e-8 ± 6.9e-9). Scaling dimension 319 by 1 / 6.9e-9 turned quantisation
//! noise into a unit-variance feature and, since the logistic regression's L2 penalty is on the
//! raw-input weights (`W[d] / std_d`), gave the objective a curvature 10¹² times the others along it:
//! L-BFGS could not move. The variance used for scaling is therefore floored at [`VARIANCE_FLOOR`] times
//! the median variance, which leaves ordinary dimensions (within a factor of ~3 of the median) scaled
//! as before to within 2%, and leaves near-constant ones at about their raw size.

use rayon::prelude::*;

/// Rows per parallel task when computing the moments (fixed, so the sums do not depend on the thread
/// count).
const MOMENT_BLOCK: usize = 4096;

/// The variance a dimension is scaled by is at least this fraction of the median variance.
const VARIANCE_FLOOR: f64 = 0.01;

/// Mean and inverse (floored) standard deviation of every input dimension.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Standardizer {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
}

impl Standardizer {
    /// The moments of the rows of `x` (`dim` values per row; at least one row). Each dimension is scaled
    /// by `1 / √(variance + floor)` with `floor` = [`VARIANCE_FLOOR`] × the median variance (see the
    /// module documentation); if every dimension is constant, nothing is scaled.
    pub(crate) fn fit(x: &[f32], dim: usize) -> Self {
        let n = x.len() / dim;
        // Block-wise sums in f64, combined in block order: exact enough for 10⁵ rows and deterministic.
        let partial: Vec<(Vec<f64>, Vec<f64>)> = x
            .par_chunks(MOMENT_BLOCK * dim)
            .map(|block| {
                let mut sum = vec![0.0f64; dim];
                for row in block.chunks_exact(dim) {
                    for (s, &v) in sum.iter_mut().zip(row) {
                        *s += f64::from(v);
                    }
                }
                let rows = (block.len() / dim) as f64;
                // Centred second moment around the block mean, combined below with Chan et al.'s update.
                let mean: Vec<f64> = sum.iter().map(|s| s / rows).collect();
                let mut m2 = vec![0.0f64; dim];
                for row in block.chunks_exact(dim) {
                    for ((m, &v), &mu) in m2.iter_mut().zip(row).zip(&mean) {
                        let d = f64::from(v) - mu;
                        *m += d * d;
                    }
                }
                (mean, m2)
            })
            .collect();
        let mut count = 0.0f64;
        let mut mean = vec![0.0f64; dim];
        let mut m2 = vec![0.0f64; dim];
        for (i, (bmean, bm2)) in partial.iter().enumerate() {
            let rows = (MOMENT_BLOCK.min(n - i * MOMENT_BLOCK)) as f64;
            let total = count + rows;
            for d in 0..dim {
                let delta = bmean[d] - mean[d];
                mean[d] += delta * rows / total;
                m2[d] += bm2[d] + delta * delta * count * rows / total;
            }
            count = total;
        }
        let var: Vec<f64> = m2.iter().map(|&m| m / count.max(1.0)).collect();
        let mut sorted = var.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let floor = VARIANCE_FLOOR * sorted[sorted.len() / 2];
        let inv_std = var
            .iter()
            .map(|&v| if floor > 0.0 && floor.is_finite() { (1.0 / (v + floor).sqrt()) as f32 } else { 1.0 })
            .collect();
        Standardizer { mean: mean.into_iter().map(|m| m as f32).collect(), inv_std }
    }

    /// The identity map (what `standardize: false` uses).
    pub(crate) fn identity(dim: usize) -> Self {
        Standardizer { mean: vec![0.0; dim], inv_std: vec![1.0; dim] }
    }

    /// `1 / std` of every dimension (1 for the identity map).
    pub(crate) fn inv_std(&self) -> &[f32] {
        &self.inv_std
    }

    /// Writes the standardised rows `rows` of `x` (`dim` values each) into `out`, one after another.
    pub(crate) fn gather(&self, x: &[f32], rows: impl Iterator<Item = usize>, out: &mut [f32]) {
        let dim = self.mean.len();
        for (r, o) in rows.zip(out.chunks_exact_mut(dim)) {
            let src = &x[r * dim..(r + 1) * dim];
            for (((o, &v), &m), &s) in o.iter_mut().zip(src).zip(&self.mean).zip(&self.inv_std) {
                *o = (v - m) * s;
            }
        }
    }

    /// Turns a layer `z = x̃ · W + b` on standardised input `x̃ = (x − mean) · inv_std` into the same layer
    /// on raw input: `W'[d] = W[d] · inv_std[d]`, `b' = b − Σ_d mean[d] · W'[d]`. `w` is row-major
    /// `[dim × n_out]`.
    pub(crate) fn fold(&self, w: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n_out = b.len();
        let mut w2 = w.to_vec();
        let mut b2: Vec<f64> = b.iter().map(|&v| f64::from(v)).collect();
        for (d, row) in w2.chunks_exact_mut(n_out).enumerate() {
            let (m, s) = (self.mean[d], self.inv_std[d]);
            for (v, acc) in row.iter_mut().zip(b2.iter_mut()) {
                *v *= s;
                *acc -= f64::from(m) * f64::from(*v);
            }
        }
        (w2, b2.into_iter().map(|v| v as f32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_match_a_two_pass_computation_and_folding_is_exact_in_exact_arithmetic() {
        let dim = 3;
        let n = 10_000; // more than two blocks
        let x: Vec<f32> =
            (0..n * dim).map(|i| ((i * 7919) % 1000) as f32 / 100.0 + (i % dim) as f32 * 50.0).collect();
        let s = Standardizer::fit(&x, dim);
        for d in 0..dim {
            let col: Vec<f64> = x.iter().skip(d).step_by(dim).map(|&v| f64::from(v)).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            assert!((f64::from(s.mean[d]) - mean).abs() < 1e-4, "mean of dim {d}");
            // The three dimensions have the same spread, so the floor is 1% of each one's variance.
            assert!((f64::from(s.inv_std[d]) - 1.0 / (1.01 * var).sqrt()).abs() < 1e-5, "scale of dim {d}");
        }
        // All dimensions constant: nothing to scale by.
        let c = Standardizer::fit(&[2.0, 2.0, 2.0], 1);
        assert_eq!((c.mean[0], c.inv_std[0]), (2.0, 1.0));
        // A dimension constant up to 1e-8 next to ordinary ones stays at about its raw size instead of
        // being scaled to unit variance (the int8 MiniLM pattern).
        let rows = 1000;
        let y: Vec<f32> = (0..rows)
            .flat_map(|i| {
                let t = i as f32;
                [(t * 0.37).sin() * 0.05, (t * 0.11).cos() * 0.05, -4.2e-8 + (t * 0.7).sin() * 7e-9]
            })
            .collect();
        let tiny = Standardizer::fit(&y, 3);
        assert!(tiny.inv_std[0] > 20.0 && tiny.inv_std[1] > 20.0, "{:?}", tiny.inv_std);
        // 1 / √(0.01 · 0.00125) ≈ 283: the quantisation noise (7e-9) stays around 2e-6 after scaling.
        assert!(tiny.inv_std[2] < 300.0, "{:?}", tiny.inv_std);

        // (x̃ · W + b) equals (x · W' + b') after folding.
        let w = [0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5]; // 3 × 2
        let b = [0.1f32, -0.2];
        let (w2, b2) = s.fold(&w, &b);
        let mut std_row = vec![0.0f32; dim];
        s.gather(&x, std::iter::once(17), &mut std_row);
        let raw = &x[17 * dim..18 * dim];
        for c in 0..2 {
            let a: f32 = b[c] + (0..dim).map(|d| std_row[d] * w[d * 2 + c]).sum::<f32>();
            let f: f32 = b2[c] + (0..dim).map(|d| raw[d] * w2[d * 2 + c]).sum::<f32>();
            assert!((a - f).abs() < 1e-4, "class {c}: {a} vs {f}");
        }
    }
}
