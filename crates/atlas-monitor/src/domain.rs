//! Domain classifiers: can a model tell reference rows from current rows? Cross-validated ROC AUC near 0.5
//! means no; the TF-IDF one also names the words it leaned on.

use atlas_classify::{CsrMatrix, TfidfParams, TfidfVectorizer};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::stats::roc_auc;
use crate::MonitorError;

/// A word whose use differs between reference and current texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordShift {
    /// The word.
    pub word: String,
    /// The domain classifier's weight: positive leans to the current texts, negative to the reference.
    pub weight: f64,
    /// Share of reference texts (of the classifier's sample) containing it.
    pub reference_share: f64,
    /// Share of current texts containing it.
    pub current_share: f64,
}

/// Result of a domain classifier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DomainResult {
    /// Out-of-fold ROC AUC (current = positive).
    pub auc: f64,
    /// Rows per side used.
    pub per_side: usize,
    /// Words that moved most (TF-IDF classifier only), the strongest first.
    pub words: Vec<WordShift>,
}

/// Equal-sized random samples of both sides (at most `limit` each), reference rows first.
fn balanced<T: Clone>(reference: &[T], current: &[T], limit: usize, seed: u64) -> (Vec<T>, usize) {
    let m = reference.len().min(current.len()).min(limit);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out: Vec<T> = reference.choose_multiple(&mut rng, m).cloned().collect();
    out.extend(current.choose_multiple(&mut rng, m).cloned());
    (out, m)
}

/// Fold of every row (2·m rows, balanced folds).
fn folds(rows: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x5eed));
    let mut fold = vec![0; rows];
    for (pos, &i) in order.iter().enumerate() {
        fold[i] = pos % k.max(2);
    }
    fold
}

/// Every row's out-of-fold score `score(model of its fold, row)`, where a fold's model is `fit(rows of the
/// other folds)`. The folds' fits are independent, so they run side by side (rayon), each on one thread.
fn cross_validate<M: Send + Sync>(
    rows: usize,
    k: usize,
    seed: u64,
    fit: impl Fn(&[usize]) -> M + Sync,
    score: impl Fn(&M, usize) -> f64 + Sync,
) -> Vec<f64> {
    use rayon::prelude::*;
    let k = k.max(2);
    let fold = folds(rows, k, seed);
    let models: Vec<M> = (0..k)
        .into_par_iter()
        .map(|f| fit(&(0..rows).filter(|&i| fold[i] != f).collect::<Vec<_>>()))
        .collect();
    (0..rows).into_par_iter().map(|i| score(&models[fold[i]], i)).collect()
}

/// TF-IDF (unigrams) + logistic regression telling current texts from reference texts.
pub(crate) fn text_domain(
    reference: &[String],
    current: &[String],
    limit: usize,
    k: usize,
    top: usize,
    seed: u64,
) -> Result<DomainResult, MonitorError> {
    let (texts, m) = balanced(reference, current, limit, seed);
    if m < k.max(2) {
        return Ok(DomainResult { auc: 0.5, per_side: m, words: Vec::new() });
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tfidf = TfidfParams { ngram_max: 1, min_df: 3, max_features: Some(20_000), ..TfidfParams::default() };
    let (vectorizer, x) = TfidfVectorizer::fit_transform(&refs, &tfidf)?;
    let y: Vec<bool> = (0..2 * m).map(|i| i >= m).collect();
    let all: Vec<usize> = (0..2 * m).collect();
    // The words come from one more model fitted on every row; it runs beside the folds' fits.
    let (scores, model) = rayon::join(
        || {
            cross_validate(
                2 * m,
                k,
                seed,
                |train| SparseLogistic::fit(&x, &y, train, seed),
                |model, i| {
                    let (idx, val) = x.row(i);
                    f64::from(sigmoid(model.logit(idx, val)))
                },
            )
        },
        || SparseLogistic::fit(&x, &y, &all, seed),
    );
    let auc = roc_auc(&scores, &y);
    let mut docs = vec![[0u32; 2]; x.n_cols];
    for (i, &current) in y.iter().enumerate() {
        for &f in x.row(i).0 {
            docs[f as usize][usize::from(current)] += 1;
        }
    }
    let weight = |f: usize| f64::from(model.weights[f]);
    let mut order: Vec<usize> = (0..x.n_cols).collect();
    order.sort_unstable_by(|&a, &b| weight(b).abs().total_cmp(&weight(a).abs()));
    let words = order
        .into_iter()
        .take(top)
        .map(|f| WordShift {
            word: vectorizer.terms()[f].clone(),
            weight: weight(f),
            reference_share: f64::from(docs[f][0]) / m as f64,
            current_share: f64::from(docs[f][1]) / m as f64,
        })
        .collect();
    Ok(DomainResult { auc, per_side: m, words })
}

/// Mini-batch size of the text domain classifier's optimiser (`LinearParams`' default: the classifier is the
/// binary form of a two-class `SoftmaxRegression` fitted with `LinearParams { epochs: 8, .. }`, and gives
/// the same out-of-fold AUCs).
const TEXT_BATCH: usize = 256;

/// Passes over the training rows of the text domain classifier.
const TEXT_EPOCHS: usize = 8;

/// AdaGrad step of the binary weights: twice `LinearParams`' default 0.2, because a two-class softmax moves
/// both classes' weights by 0.2 in opposite directions and so their difference — this model's weight — by 0.4.
const TEXT_STEP: f32 = 0.4;

/// Starting value of the AdaGrad accumulators (as in atlas-classify's trainer): the first step of a feature
/// is then close to the step size, without dividing by zero.
const INITIAL_ACCUMULATOR: f32 = 1e-8;

/// A binary logistic regression on sparse rows (current = positive).
struct SparseLogistic {
    /// One weight per feature: positive leans to the current texts.
    weights: Vec<f32>,
    bias: f32,
}

impl SparseLogistic {
    /// The logit of one row.
    fn logit(&self, idx: &[u32], val: &[f32]) -> f32 {
        self.bias + idx.iter().zip(val).map(|(&j, &v)| self.weights[j as usize] * v).sum::<f32>()
    }

    /// Fits rows `train` of `x` (labels `y`, current = true) by mini-batch AdaGrad in a seeded order — the
    /// optimiser of a two-class `SoftmaxRegression::fit` with `LinearParams { epochs: 8, .. }`, written for
    /// two classes on one thread: the folds run side by side instead, and a fit of a few thousand rows is
    /// too small for the per-batch parallel phases of the general trainer to pay off.
    fn fit(x: &CsrMatrix, y: &[bool], train: &[usize], seed: u64) -> Self {
        let n = x.n_cols;
        let mut model = SparseLogistic { weights: vec![0.0; n], bias: 0.0 };
        let (mut acc, mut acc_bias) = (vec![INITIAL_ACCUMULATOR; n], INITIAL_ACCUMULATOR);
        let mut grad = vec![0f32; n];
        let mut touched: Vec<u32> = Vec::new();
        let mut residuals: Vec<f32> = Vec::new();
        let mut order: Vec<u32> = (0..train.len() as u32).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let batch = TEXT_BATCH.min(train.len()).max(1);
        for _ in 0..TEXT_EPOCHS {
            order.shuffle(&mut rng);
            for chunk in order.chunks(batch) {
                // Every row of a batch is scored with the weights from before the batch, then one step.
                residuals.clear();
                residuals.extend(chunk.iter().map(|&r| {
                    let i = train[r as usize];
                    let (idx, val) = x.row(i);
                    sigmoid(model.logit(idx, val)) - f32::from(u8::from(y[i]))
                }));
                let scale = 1.0 / chunk.len() as f32;
                for (&r, &res) in chunk.iter().zip(&residuals) {
                    let (idx, val) = x.row(train[r as usize]);
                    for (&j, &v) in idx.iter().zip(val) {
                        let g = &mut grad[j as usize];
                        // (A sum that cancels to exactly 0 lists a feature twice; its second step is 0.)
                        if *g == 0.0 {
                            touched.push(j);
                        }
                        *g += res * v * scale;
                    }
                }
                for j in touched.drain(..) {
                    let j = j as usize;
                    let g = std::mem::take(&mut grad[j]);
                    acc[j] += g * g;
                    model.weights[j] -= TEXT_STEP * g / acc[j].sqrt();
                }
                let g = residuals.iter().sum::<f32>() * scale;
                acc_bias += g * g;
                model.bias -= TEXT_STEP * g / acc_bias.sqrt();
            }
        }
        model
    }
}

fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Logistic regression on dense rows (the PCA projection of embeddings) telling current from reference.
pub(crate) fn dense_domain(
    reference: &[f32],
    current: &[f32],
    dim: usize,
    limit: usize,
    k: usize,
    seed: u64,
) -> DomainResult {
    let rows_of = |x: &[f32]| x.chunks_exact(dim).map(<[f32]>::to_vec).collect::<Vec<_>>();
    let (rows, m) = balanced(&rows_of(reference), &rows_of(current), limit, seed);
    if m < k.max(2) {
        return DomainResult { auc: 0.5, per_side: m, words: Vec::new() };
    }
    let y: Vec<bool> = (0..2 * m).map(|i| i >= m).collect();
    let scores = cross_validate(
        2 * m,
        k,
        seed,
        |train| newton_logistic(&rows, &y, train, dim),
        |w, i| linear(w, &rows[i]),
    );
    DomainResult { auc: roc_auc(&scores, &y), per_side: m, words: Vec::new() }
}

fn linear(w: &[f64], row: &[f32]) -> f64 {
    w[0] + row.iter().zip(&w[1..]).map(|(a, b)| f64::from(*a) * b).sum::<f64>()
}

/// Binary logistic regression by Newton's method (a few dozen features: the Hessian is tiny), with a light
/// ridge so separable data does not diverge. Returns [bias, weights…].
fn newton_logistic(rows: &[Vec<f32>], y: &[bool], train: &[usize], dim: usize) -> Vec<f64> {
    let p = dim + 1;
    let mut w = vec![0f64; p];
    let ridge = 1e-3 * train.len() as f64;
    for _ in 0..15 {
        let mut grad = vec![0f64; p];
        let mut hess = vec![0f64; p * p];
        let mut xi = vec![1f64; p];
        for &i in train {
            for (d, &v) in xi[1..].iter_mut().zip(&rows[i]) {
                *d = f64::from(v);
            }
            let mu = 1.0 / (1.0 + (-linear(&w, &rows[i])).exp());
            let r = mu - f64::from(u8::from(y[i]));
            let s = mu * (1.0 - mu);
            for a in 0..p {
                grad[a] += r * xi[a];
                for b in 0..p {
                    hess[a * p + b] += s * xi[a] * xi[b];
                }
            }
        }
        for a in 1..p {
            grad[a] += ridge * w[a];
            hess[a * p + a] += ridge;
        }
        hess[0] += 1e-9;
        let Some(step) = solve(hess, grad, p) else { break };
        w.iter_mut().zip(&step).for_each(|(a, s)| *a -= s);
        if step.iter().map(|s| s * s).sum::<f64>() < 1e-12 {
            break;
        }
    }
    w
}

/// Solves `a · x = b` (Gaussian elimination with partial pivoting); `None` when singular.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for c in 0..n {
        let piv = (c..n).max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))?;
        if a[piv * n + c].abs() < 1e-300 {
            return None;
        }
        for j in 0..n {
            a.swap(c * n + j, piv * n + j);
        }
        b.swap(c, piv);
        for r in (c + 1)..n {
            let f = a[r * n + c] / a[c * n + c];
            for j in c..n {
                a[r * n + j] -= f * a[c * n + j];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0f64; n];
    for r in (0..n).rev() {
        let s: f64 = ((r + 1)..n).map(|j| a[r * n + j] * x[j]).sum();
        x[r] = (b[r] - s) / a[r * n + r];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn the_text_classifier_finds_the_words_that_moved() {
        let base = [
            "neural network training",
            "graph theory bounds",
            "quantum field theory",
            "stellar evolution model",
        ];
        let reference: Vec<String> = (0..300).map(|i| format!("{} study {i}", base[i % 4])).collect();
        let same: Vec<String> = (0..300).map(|i| format!("{} study {}", base[(i + 1) % 4], i + 7)).collect();
        let moved: Vec<String> =
            (0..300).map(|i| format!("{} transformer language study {i}", base[i % 4])).collect();
        let null = text_domain(&reference, &same, 1000, 5, 5, 1).unwrap();
        assert!(null.auc < 0.6, "{}", null.auc);
        let shift = text_domain(&reference, &moved, 1000, 5, 5, 1).unwrap();
        assert!(shift.auc > 0.95, "{}", shift.auc);
        let top: Vec<&str> = shift.words.iter().take(2).map(|w| w.word.as_str()).collect();
        assert!(top.contains(&"transformer") || top.contains(&"language"), "{:?}", shift.words);
        assert!(shift.words[0].weight > 0.0 && shift.words[0].current_share > 0.9);
    }

    #[test]
    fn the_dense_classifier_sees_a_mean_shift() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut draw =
            |n: usize, shift: f32| -> Vec<f32> { (0..n * 3).map(|_| rng.random::<f32>() + shift).collect() };
        let (a, b, c) = (draw(500, 0.0), draw(500, 0.0), draw(500, 0.3));
        let null = dense_domain(&a, &b, 3, 1000, 5, 1);
        let shift = dense_domain(&a, &c, 3, 1000, 5, 1);
        assert!(null.auc < 0.56, "{}", null.auc);
        assert!(shift.auc > 0.75, "{}", shift.auc);
    }
}
