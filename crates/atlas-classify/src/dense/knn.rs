//! The k-nearest-neighbour head (`arxiv-atlas/embedding-knn`): distance-weighted votes of the most similar
//! training papers.
//!
//! It keeps every training embedding (unit length) and its class. A query's cosine similarity to all of
//! them is one matrix product (exact search: 80k × 384 is about 31 M multiply-adds per paper, ~1 ms); the
//! `k` most similar vote with weight `exp((s − s_max) / weight_temperature)`, and a little of the class
//! prior (`smoothing × prior(c) × mean weight`) is added so that no class gets probability 0 (a zero would
//! veto the class in a product of experts).
//!
//! Why a third model for the ensemble: its errors differ from those of the linear heads (a paper in a
//! dense neighbourhood of one category is pulled there whatever the decision boundary says).

use rayon::prelude::*;

use super::matmul::{gemm, MatRef};
use crate::error::ClassifyError;
use crate::labels::Probabilities;
use crate::params::EmbeddingKnnParams;

/// Query rows per matrix product: 64 × 80k similarities (20 MB) per block keeps memory bounded while the
/// product stays large enough to run at full speed.
const QUERY_BLOCK: usize = 64;

/// The stored papers and the vote settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KnnIndex {
    pub(crate) dim: usize,
    pub(crate) n_classes: usize,
    /// `n × dim`, every row of unit length (or zero).
    pub(crate) vectors: Vec<f32>,
    /// The class of every stored row.
    pub(crate) classes: Vec<u32>,
    /// Share of each class among the stored rows (the smoothing's prior).
    prior: Vec<f32>,
    pub(crate) params: EmbeddingKnnParams,
}

/// Scales every `dim`-row of `x` to unit length (zero rows stay zero).
fn normalize_rows(x: &mut [f32], dim: usize) {
    for row in x.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|v| *v /= norm);
        }
    }
}

/// Checks the vote settings.
pub(crate) fn validate(p: &EmbeddingKnnParams) -> Result<(), ClassifyError> {
    let bad = |msg: String| Err(ClassifyError::InvalidParams(msg));
    if p.k == 0 {
        return bad("knn.k must be at least 1".into());
    }
    if !(p.weight_temperature.is_finite() && p.weight_temperature > 0.0) {
        return bad(format!(
            "knn.weight_temperature must be a positive number, got {}",
            p.weight_temperature
        ));
    }
    if !(p.smoothing.is_finite() && p.smoothing > 0.0) {
        // Zero smoothing would give unseen classes probability 0, which log-linear pooling cannot undo.
        return bad(format!("knn.smoothing must be a positive number, got {}", p.smoothing));
    }
    Ok(())
}

impl KnnIndex {
    /// Stores the rows of `x` (`dim` values each, normalised here) with their classes `y` (< `n_classes`).
    /// The caller has checked shapes, labels and finiteness.
    pub(crate) fn new(
        x: &[f32],
        dim: usize,
        y: &[u32],
        n_classes: usize,
        params: EmbeddingKnnParams,
    ) -> Result<Self, ClassifyError> {
        let mut vectors = x.to_vec();
        normalize_rows(&mut vectors, dim);
        Self::from_unit_rows(vectors, dim, y, n_classes, params)
    }

    /// Like [`KnnIndex::new`] for rows already of unit length (a saved index: normalising again would move
    /// the last bits, and a loaded model must predict exactly what the saved one did).
    pub(crate) fn from_unit_rows(
        vectors: Vec<f32>,
        dim: usize,
        y: &[u32],
        n_classes: usize,
        params: EmbeddingKnnParams,
    ) -> Result<Self, ClassifyError> {
        validate(&params)?;
        if y.is_empty() {
            return Err(ClassifyError::InvalidData(
                "a k-nearest-neighbour head needs training papers".into(),
            ));
        }
        let mut prior = vec![0.0f32; n_classes];
        for &c in y {
            prior[c as usize] += 1.0;
        }
        prior.iter_mut().for_each(|v| *v /= y.len() as f32);
        Ok(KnnIndex { dim, n_classes, vectors, classes: y.to_vec(), prior, params })
    }

    /// Class probabilities of every row of `x` (`dim` values each), in parallel over blocks of queries.
    pub(crate) fn predict_proba(&self, x: &[f32]) -> Probabilities {
        let (dim, k) = (self.dim, self.n_classes);
        assert!(
            x.len().is_multiple_of(dim),
            "{} values are not rows of {dim}-dimensional embeddings",
            x.len()
        );
        let n = x.len() / dim;
        let mut data = vec![0.0f32; n * k];
        x.par_chunks(QUERY_BLOCK * dim).zip(data.par_chunks_mut(QUERY_BLOCK * k)).for_each(|(xb, out)| {
            self.predict_block(xb, out);
        });
        Probabilities { n_classes: k, data }
    }

    /// One block of queries: similarities to every stored row, then each row's vote.
    fn predict_block(&self, xb: &[f32], out: &mut [f32]) {
        let (dim, k) = (self.dim, self.n_classes);
        let rows = xb.len() / dim;
        let stored = self.classes.len();
        let mut q = xb.to_vec();
        normalize_rows(&mut q, dim);
        let mut sims = vec![0.0f32; rows * stored];
        let v = MatRef::new(&self.vectors, stored, dim).t();
        gemm(1.0, MatRef::new(&q, rows, dim), v, 0.0, &mut sims);
        let top = self.params.k.min(stored);
        let mut order: Vec<u32> = Vec::with_capacity(stored);
        for (s, p) in sims.chunks_exact(stored).zip(out.chunks_exact_mut(k)) {
            order.clear();
            order.extend(0..stored as u32);
            // Most similar first; ties by row, so the neighbours do not depend on the sort's whims.
            let cmp = |a: &u32, b: &u32| s[*b as usize].total_cmp(&s[*a as usize]).then(a.cmp(b));
            if top < stored {
                order.select_nth_unstable_by(top - 1, cmp);
            }
            let best = order[..top].iter().map(|&i| s[i as usize]).fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0f64;
            for &i in &order[..top] {
                let w = (f64::from(s[i as usize] - best) / self.params.weight_temperature).exp();
                p[self.classes[i as usize] as usize] += w as f32;
                total += w;
            }
            let floor = self.params.smoothing * total / top as f64;
            for (pc, prior) in p.iter_mut().zip(&self.prior) {
                *pc += (floor * f64::from(*prior)) as f32;
            }
            let sum: f32 = p.iter().sum();
            p.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(k: usize) -> EmbeddingKnnParams {
        EmbeddingKnnParams { k, weight_temperature: 0.05, smoothing: 0.1 }
    }

    #[test]
    fn the_nearest_papers_vote_and_every_class_keeps_some_probability() {
        // Class 0 around +x, class 1 around +y, class 2 a single paper at -x.
        let x = [1.0, 0.1, 0.9, -0.1, 0.1, 1.0, -0.1, 0.8, -1.0, 0.0];
        let y = [0, 0, 1, 1, 2];
        let knn = KnnIndex::new(&x, 2, &y, 3, params(2)).unwrap();
        let p = knn.predict_proba(&[2.0, 0.0, 0.0, 3.0, 0.0, 0.0]);
        assert_eq!(p.argmax(), vec![0, 1, 0]);
        for i in 0..3 {
            let row = p.row(i);
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert!(row.iter().all(|v| *v > 0.0), "{row:?}");
        }
        // Only the 2 nearest vote: the lone -x paper is not among them, so it keeps only the smoothing.
        assert!(p.row(0)[2] < 0.05, "{:?}", p.row(0));
        // A zero query is equally similar to everything: the votes follow the first k rows, ties by row.
        assert_eq!(p.row(2)[0], p.row(2).iter().copied().fold(0.0, f32::max));
    }

    #[test]
    fn a_sharper_vote_follows_the_single_nearest_paper() {
        let x = [1.0, 0.0, 0.8, 0.6, 0.8, 0.6];
        let y = [0, 1, 1];
        let query = [1.0, 0.05];
        let soft = KnnIndex::new(&x, 2, &y, 2, EmbeddingKnnParams { weight_temperature: 10.0, ..params(3) })
            .unwrap()
            .predict_proba(&query);
        let sharp = KnnIndex::new(&x, 2, &y, 2, EmbeddingKnnParams { weight_temperature: 0.01, ..params(3) })
            .unwrap()
            .predict_proba(&query);
        assert_eq!(soft.argmax(), vec![1], "two near votes outweigh one nearest at a soft temperature");
        assert_eq!(sharp.argmax(), vec![0]);
    }

    #[test]
    fn bad_settings_are_refused() {
        let x = [1.0, 0.0];
        for p in [
            params(0),
            EmbeddingKnnParams { weight_temperature: 0.0, ..params(1) },
            EmbeddingKnnParams { smoothing: 0.0, ..params(1) },
        ] {
            assert!(matches!(KnnIndex::new(&x, 2, &[0], 1, p), Err(ClassifyError::InvalidParams(_))));
        }
        assert!(matches!(KnnIndex::new(&[], 2, &[], 1, params(1)), Err(ClassifyError::InvalidData(_))));
    }
}
