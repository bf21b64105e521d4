//! A linear SVM for one reading list: L2-regularised squared-hinge loss solved in the dual by coordinate
//! descent — LIBLINEAR's default solver, the one behind scikit-learn's `LinearSVC` that arxiv-sanity-lite
//! uses — over rows that are a dense block (the sentence embedding) beside a sparse block (TF-IDF).
//!
//! Trained rows are few (the list plus a few thousand sampled negatives), so the solver keeps them as
//! references into the corpus and the weights as one dense vector over both blocks.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One training row: the dense block, the sparse block (indices, values) and the label.
pub(crate) struct Row<'a> {
    pub dense: &'a [f32],
    pub sparse: (&'a [u32], &'a [f32]),
    pub positive: bool,
}

/// Solver settings.
pub(crate) struct SvmParams {
    /// Penalty of the hinge loss (scikit-learn's `C`), before the class weights.
    pub c: f64,
    /// Scale of the dense block (its rows are unit length, as are the sparse ones).
    pub dense_weight: f32,
    /// Maximum passes over the rows.
    pub max_epochs: usize,
    /// Stops when the projected gradient's spread falls below this.
    pub tol: f64,
    /// Seed of the row order.
    pub seed: u64,
}

/// The fitted weights: dense block, sparse block, bias.
pub(crate) struct LinearModel {
    pub dense: Vec<f32>,
    pub sparse: Vec<f32>,
    pub bias: f32,
    pub dense_weight: f32,
}

impl LinearModel {
    /// Decision value of a row.
    pub fn score(&self, dense: &[f32], sparse: (&[u32], &[f32])) -> f32 {
        let d: f32 = self.dense.iter().zip(dense).map(|(w, x)| w * x).sum();
        let s: f32 = sparse.0.iter().zip(sparse.1).map(|(&j, &v)| self.sparse[j as usize] * v).sum();
        self.dense_weight * d + s + self.bias
    }
}

/// Fits the SVM with class-balanced weights (scikit-learn's `class_weight="balanced"`: each class weighs
/// `n / (2 · n_class)`, so five positives count as much as thousands of negatives). The bias is a constant
/// feature of value 1, regularised like the others, as in LIBLINEAR.
pub(crate) fn fit(rows: &[Row<'_>], dense_dim: usize, sparse_dim: usize, p: &SvmParams) -> LinearModel {
    let n = rows.len() as f64;
    let n_pos = rows.iter().filter(|r| r.positive).count().max(1) as f64;
    let n_neg = (rows.len() as f64 - n_pos).max(1.0);
    let c_pos = p.c * n / (2.0 * n_pos);
    let c_neg = p.c * n / (2.0 * n_neg);
    let dw = p.dense_weight as f64;
    let mut w_dense = vec![0f64; dense_dim];
    let mut w_sparse = vec![0f64; sparse_dim];
    let mut bias = 0f64;
    let mut alpha = vec![0f64; rows.len()];
    // Squared hinge: the dual's diagonal gains 1 / (2 C_i) and alpha has no upper bound.
    let diag: Vec<f64> = rows.iter().map(|r| 0.5 / if r.positive { c_pos } else { c_neg }).collect();
    let qii: Vec<f64> = rows
        .iter()
        .zip(&diag)
        .map(|(r, d)| {
            let dn: f64 = r.dense.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() * dw * dw;
            let sn: f64 = r.sparse.1.iter().map(|&x| (x as f64) * (x as f64)).sum();
            dn + sn + 1.0 + d
        })
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    let mut rng = StdRng::seed_from_u64(p.seed);
    for _ in 0..p.max_epochs {
        order.shuffle(&mut rng);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let r = &rows[i];
            let y = if r.positive { 1.0 } else { -1.0 };
            let wx = dw * r.dense.iter().zip(&w_dense).map(|(&x, w)| x as f64 * w).sum::<f64>()
                + r.sparse
                    .0
                    .iter()
                    .zip(r.sparse.1)
                    .map(|(&j, &v)| w_sparse[j as usize] * v as f64)
                    .sum::<f64>()
                + bias;
            let g = y * wx - 1.0 + diag[i] * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (alpha[i] - g / qii[i]).max(0.0);
                let step = (alpha[i] - old) * y;
                for (w, &x) in w_dense.iter_mut().zip(r.dense) {
                    *w += step * dw * x as f64;
                }
                for (&j, &v) in r.sparse.0.iter().zip(r.sparse.1) {
                    w_sparse[j as usize] += step * v as f64;
                }
                bias += step;
            }
        }
        if pg_max - pg_min < p.tol {
            break;
        }
    }
    LinearModel {
        dense: w_dense.into_iter().map(|w| w as f32).collect(),
        sparse: w_sparse.into_iter().map(|w| w as f32).collect(),
        bias: bias as f32,
        dense_weight: p.dense_weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two separable clouds: the fitted model scores every positive above every negative, and a point on the
    /// positive side above one on the negative side.
    #[test]
    fn separates_two_clouds() {
        let pos: Vec<Vec<f32>> = (0..5).map(|i| vec![1.0, 0.1 * i as f32, 0.0]).collect();
        let neg: Vec<Vec<f32>> = (0..200).map(|i| vec![-0.2, 0.01 * (i % 50) as f32, 1.0]).collect();
        let empty: (&[u32], &[f32]) = (&[], &[]);
        let rows: Vec<Row<'_>> = pos
            .iter()
            .map(|d| Row { dense: d, sparse: empty, positive: true })
            .chain(neg.iter().map(|d| Row { dense: d, sparse: empty, positive: false }))
            .collect();
        let p = SvmParams { c: 1.0, dense_weight: 1.0, max_epochs: 200, tol: 1e-4, seed: 1 };
        let m = fit(&rows, 3, 0, &p);
        let worst_pos = pos.iter().map(|d| m.score(d, empty)).fold(f32::INFINITY, f32::min);
        let best_neg = neg.iter().map(|d| m.score(d, empty)).fold(f32::NEG_INFINITY, f32::max);
        assert!(worst_pos > best_neg, "{worst_pos} <= {best_neg}");
        assert!(m.score(&[0.9, 0.0, 0.1], empty) > m.score(&[0.0, 0.0, 0.9], empty));
    }
}
