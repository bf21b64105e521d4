//! A PCA basis of embeddings: the reference's mean and leading principal directions.
//!
//! Embedding tests run in this low-dimensional space: the domain classifier and the MMD kernel see the
//! directions the reference actually varies in, and their cost no longer grows with the encoder's width.

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Power-iteration rounds of the subspace iteration (the leading eigenvalues of embedding covariances are
/// well separated; 40 rounds reach float precision on 384-dimensional MiniLM vectors).
const ROUNDS: usize = 40;

/// Mean and leading principal components of a set of vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca {
    /// Input dimension.
    pub dim: usize,
    /// Mean vector (`dim` values).
    pub mean: Vec<f32>,
    /// Components, row-major `k × dim`, orthonormal, largest variance first.
    pub components: Vec<f32>,
    /// Variance along each component.
    pub variance: Vec<f64>,
}

impl Pca {
    /// Fits `k` components (at most `dim`) to the rows of `x` (`dim` values each) by subspace iteration on
    /// the covariance matrix.
    pub fn fit(x: &[f32], dim: usize, k: usize, seed: u64) -> Pca {
        let n = x.len() / dim.max(1);
        let k = k.min(dim).max(1);
        let mut mean = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut cov = vec![0f64; dim * dim];
        let mut centred = vec![0f64; dim];
        for row in x.chunks_exact(dim) {
            for (c, (&v, m)) in centred.iter_mut().zip(row.iter().zip(&mean)) {
                *c = f64::from(v) - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                let out = &mut cov[i * dim..(i + 1) * dim];
                for (o, &cj) in out.iter_mut().zip(&centred) {
                    *o += ci * cj;
                }
            }
        }
        cov.iter_mut().for_each(|c| *c /= (n.max(2) - 1) as f64);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut q: Vec<Vec<f64>> =
            (0..k).map(|_| (0..dim).map(|_| rng.random::<f64>() - 0.5).collect()).collect();
        orthonormalise(&mut q);
        for _ in 0..ROUNDS {
            q = q.iter().map(|v| mat_vec(&cov, v)).collect();
            orthonormalise(&mut q);
        }
        let variance: Vec<f64> = q.iter().map(|v| dot(v, &mat_vec(&cov, v))).collect();
        Pca {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            components: q.iter().flatten().map(|&v| v as f32).collect(),
            variance,
        }
    }

    /// Number of components.
    pub fn k(&self) -> usize {
        self.variance.len()
    }

    /// The rows of `x` (`dim` values each) centred and projected on the components (`k` values each).
    pub fn project(&self, x: &[f32]) -> Vec<f32> {
        let k = self.k();
        let mut out = Vec::with_capacity(x.len() / self.dim.max(1) * k);
        for row in x.chunks_exact(self.dim) {
            for c in self.components.chunks_exact(self.dim) {
                out.push(row.iter().zip(&self.mean).zip(c).map(|((v, m), w)| (v - m) * w).sum());
            }
        }
        out
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn mat_vec(m: &[f64], v: &[f64]) -> Vec<f64> {
    m.chunks_exact(v.len()).map(|row| dot(row, v)).collect()
}

/// Gram–Schmidt, twice for numerical safety.
fn orthonormalise(q: &mut [Vec<f64>]) {
    for _ in 0..2 {
        for i in 0..q.len() {
            for j in 0..i {
                let (done, rest) = q.split_at_mut(i);
                let p = dot(&rest[0], &done[j]);
                rest[0].iter_mut().zip(&done[j]).for_each(|(a, b)| *a -= p * b);
            }
            let norm = dot(&q[i], &q[i]).sqrt().max(1e-300);
            q[i].iter_mut().for_each(|a| *a /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_direction_of_largest_variance() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // Variance 9 along (1, 1, 0)/√2, 1 elsewhere.
        let mut x = Vec::new();
        for _ in 0..2000 {
            let (a, b, c): (f32, f32, f32) =
                (rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5);
            let s = 3.0 * a * std::f32::consts::SQRT_2;
            x.extend_from_slice(&[s / 2.0_f32.sqrt() + 1.0 + b * 0.1, s / 2.0_f32.sqrt() + 2.0 - b * 0.1, c]);
        }
        let pca = Pca::fit(&x, 3, 2, 1);
        let c0 = &pca.components[..3];
        assert!((c0[0].abs() - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01, "{c0:?}");
        assert!(c0[0] * c0[1] > 0.0 && c0[2].abs() < 0.05, "{c0:?}");
        assert!((pca.mean[0] - 1.0).abs() < 0.1 && (pca.mean[1] - 2.0).abs() < 0.1);
        assert!(pca.variance[0] > pca.variance[1]);
        assert_eq!(pca.project(&x).len(), 2000 * 2);
    }
}
