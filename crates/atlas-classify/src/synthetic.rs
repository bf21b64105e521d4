//! Synthetic embedding data sets, for tests and benchmarks of the dense heads without an encoder.
//!
//! Two generators of L2-normalised vectors, both deterministic for a seed:
//!
//! - [`ClusterProblem`]: Gaussian clusters on the unit sphere shaped like sentence-embedding
//!   classification: classes nested in groups (arXiv categories in archives) whose means share a group
//!   direction, Zipf-distributed class frequencies, a large component common to every vector, anisotropic
//!   noise and labels swapped within a group (cross-listed papers).
//! - [`PlantedLogistic`]: labels drawn from a known multinomial logistic model, so the best achievable
//!   accuracy (the Bayes rate) is known and a fitted logistic regression can be compared with it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dense::matmul::{gemm, MatRef};
use crate::dense::standard_normal as normal;

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| normal(rng)).collect();
    normalize(&mut v);
    v
}

/// A `dim × dim` mixing matrix with a decaying spectrum: Gaussian noise multiplied by it has a few
/// dominant directions, as real embeddings do. Column `j` is scaled by `1 / √(1 + j / 16)`.
fn mixing_matrix(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let scale = 1.0 / (dim as f32).sqrt();
    let mut m: Vec<f32> = (0..dim * dim).map(|_| normal(rng) * scale).collect();
    for (i, v) in m.iter_mut().enumerate() {
        *v /= (1.0 + (i / dim) as f32 / 16.0).sqrt();
    }
    m
}

/// Rows generated per block by [`noisy_rows`], so that the temporaries stay small next to the result.
const GENERATE_BLOCK: usize = 4096;

/// How a vector is placed on the sphere, besides its signal.
struct NoiseShape<'a> {
    /// Length of the component common to every vector.
    offset: f32,
    offset_dir: &'a [f32],
    /// Scale of the Gaussian noise.
    noise: f32,
    /// `dim × dim` mixing matrix of the noise.
    mixing: &'a [f32],
}

/// `n` unit-norm rows `offset · o + signal(i) + noise · (g_i · M)` with `g_i` standard normal, where
/// `signal(i)` is row `i` of a signal matrix (`None`: zero) and `M` the mixing matrix. Built block by
/// block; the normals are drawn in row order either way.
fn noisy_rows<'s>(
    rng: &mut StdRng,
    n: usize,
    dim: usize,
    signal: impl Fn(usize) -> Option<&'s [f32]>,
    shape: &NoiseShape<'_>,
) -> Vec<f32> {
    let mut x = vec![0.0f32; n * dim];
    let mut g = Vec::with_capacity(GENERATE_BLOCK * dim);
    for (b, block) in x.chunks_mut(GENERATE_BLOCK * dim).enumerate() {
        let rows = block.len() / dim;
        for (i, row) in block.chunks_exact_mut(dim).enumerate() {
            if let Some(s) = signal(b * GENERATE_BLOCK + i) {
                row.copy_from_slice(s);
            }
        }
        g.clear();
        g.extend((0..rows * dim).map(|_| normal(rng)));
        gemm(shape.noise, MatRef::new(&g, rows, dim), MatRef::new(shape.mixing, dim, dim), 1.0, block);
        for row in block.chunks_exact_mut(dim) {
            row.iter_mut().zip(shape.offset_dir).for_each(|(v, &o)| *v += shape.offset * o);
            normalize(row);
        }
    }
    x
}

/// Settings of a [`ClusterProblem`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Embedding dimension.
    pub dim: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Number of class groups (classes are dealt round-robin into groups).
    pub n_groups: usize,
    /// Weight of the group direction in a class mean (the class's own direction has weight 1; both
    /// unit vectors, the mean is normalised). Larger values make classes of a group harder to tell apart.
    pub group_weight: f32,
    /// Sub-clusters per class (topics within a category); with more than one, classes are not linearly
    /// separable from each other even without noise.
    pub modes: usize,
    /// Weight of a sub-cluster's own random direction in its centre (relative to the class direction).
    pub mode_spread: f32,
    /// Length of the component shared by every vector, before normalisation.
    pub offset: f32,
    /// Noise scale relative to the (unit) class mean.
    pub noise: f32,
    /// Probability that a label is replaced by a random class of the same group.
    pub label_noise: f32,
    /// Class frequencies are proportional to `1 / (rank + 1)^zipf` (0: balanced).
    pub zipf: f32,
}

impl ClusterSpec {
    /// Well-separated clusters: a linear model should classify (nearly) every vector correctly.
    pub fn separable(dim: usize, n_classes: usize) -> Self {
        ClusterSpec {
            dim,
            n_classes,
            n_groups: 1,
            group_weight: 0.0,
            modes: 1,
            mode_spread: 0.0,
            offset: 0.5,
            noise: 0.3,
            label_noise: 0.0,
            zipf: 0.0,
        }
    }

    /// The benchmark problem standing in for arXiv MiniLM embeddings (384 dimensions, 172 classes),
    /// calibrated on what scikit-learn's logistic regression does on the real ones: with 80k training
    /// rows a logistic regression with `C = 16` reaches about 0.5 accuracy and 0.75 top-3 accuracy, and
    /// `C = 64` does slightly worse (over-fitting). Classes are made of 4 sub-clusters, so a perceptron
    /// can do a little better than a linear model.
    pub fn arxiv_like() -> Self {
        ClusterSpec {
            dim: 384,
            n_classes: 172,
            n_groups: 30,
            group_weight: 2.0,
            modes: 4,
            mode_spread: 3.0,
            offset: 1.5,
            noise: 0.9,
            label_noise: 0.45,
            zipf: 0.5,
        }
    }
}

/// Gaussian classes on the unit sphere (see the module documentation).
#[derive(Debug, Clone)]
pub struct ClusterProblem {
    spec: ClusterSpec,
    /// Sub-cluster centres, `modes` per class, row-major `[n_classes · modes × dim]`.
    means: Vec<f32>,
    /// Cumulative class probabilities.
    cumulative: Vec<f64>,
    offset_dir: Vec<f32>,
    mixing: Vec<f32>,
}

impl ClusterProblem {
    /// Draws the class structure (means, frequencies, noise shape) from `seed`.
    ///
    /// # Panics
    /// If `dim`, `n_classes` or `n_groups` is 0.
    pub fn new(spec: ClusterSpec, seed: u64) -> Self {
        assert!(
            spec.dim > 0 && spec.n_classes > 0 && spec.n_groups > 0 && spec.modes > 0,
            "empty problem: {spec:?}"
        );
        let mut rng = StdRng::seed_from_u64(seed);
        let dim = spec.dim;
        let groups: Vec<Vec<f32>> = (0..spec.n_groups).map(|_| random_unit(&mut rng, dim)).collect();
        let mut means = Vec::with_capacity(spec.n_classes * spec.modes * dim);
        for c in 0..spec.n_classes {
            let own = random_unit(&mut rng, dim);
            let group = &groups[c % spec.n_groups];
            for _ in 0..spec.modes {
                let spread = random_unit(&mut rng, dim);
                let mut mean: Vec<f32> = own
                    .iter()
                    .zip(group)
                    .zip(&spread)
                    .map(|((o, g), s)| o + spec.group_weight * g + spec.mode_spread * s)
                    .collect();
                normalize(&mut mean);
                means.extend(mean);
            }
        }
        // Frequencies by a random rank, so that class id and frequency are unrelated.
        let mut ranks: Vec<usize> = (0..spec.n_classes).collect();
        rand::seq::SliceRandom::shuffle(ranks.as_mut_slice(), &mut rng);
        let weights: Vec<f64> =
            ranks.iter().map(|&r| 1.0 / ((r + 1) as f64).powf(f64::from(spec.zipf))).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let offset_dir = random_unit(&mut rng, dim);
        let mixing = mixing_matrix(&mut rng, dim);
        ClusterProblem { spec, means, cumulative, offset_dir, mixing }
    }

    /// The settings.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// `n` unit vectors (row-major, `dim` values each) and their labels, drawn from `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (dim, k, groups) = (self.spec.dim, self.spec.n_classes, self.spec.n_groups);
        let mut centres = Vec::with_capacity(n);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let u: f64 = rng.random();
            let c = self.cumulative.partition_point(|&p| p < u).min(k - 1);
            centres.push(c * self.spec.modes + rng.random_range(0..self.spec.modes));
            let label = if rng.random::<f32>() < self.spec.label_noise {
                // A random class of the same group (classes are dealt round-robin into groups).
                let members = (k - c % groups).div_ceil(groups);
                c % groups + groups * rng.random_range(0..members)
            } else {
                c
            };
            y.push(label as u32);
        }
        let shape = NoiseShape {
            offset: self.spec.offset,
            offset_dir: &self.offset_dir,
            noise: self.spec.noise,
            mixing: &self.mixing,
        };
        let x = noisy_rows(
            &mut rng,
            n,
            dim,
            |i| Some(&self.means[centres[i] * dim..(centres[i] + 1) * dim]),
            &shape,
        );
        (x, y)
    }
}

/// Labels drawn from a known multinomial logistic model over unit vectors (see the module documentation).
#[derive(Debug, Clone)]
pub struct PlantedLogistic {
    dim: usize,
    n_classes: usize,
    /// True weights, row-major `[dim × n_classes]`, and biases.
    w: Vec<f32>,
    b: Vec<f32>,
    offset_dir: Vec<f32>,
    mixing: Vec<f32>,
}

/// A sample of a [`PlantedLogistic`] model.
#[derive(Debug, Clone)]
pub struct PlantedSample {
    /// Unit vectors, row-major, `dim` values each.
    pub x: Vec<f32>,
    /// Labels drawn from the true class probabilities.
    pub y: Vec<u32>,
    /// Top-1 accuracy of the Bayes classifier on this sample, in expectation over the labels: the mean
    /// of the largest true class probability of every vector.
    pub bayes_accuracy: f64,
}

impl PlantedLogistic {
    /// A model whose logits are `√dim · x · W + b` for Gaussian `W` with standard deviation `scale` and
    /// standard normal biases: `scale` sets how predictable the labels are.
    ///
    /// # Panics
    /// If `dim` or `n_classes` is 0.
    pub fn new(dim: usize, n_classes: usize, scale: f32, seed: u64) -> Self {
        assert!(dim > 0 && n_classes > 0, "empty problem");
        let mut rng = StdRng::seed_from_u64(seed);
        let w = (0..dim * n_classes).map(|_| normal(&mut rng) * scale).collect();
        let b = (0..n_classes).map(|_| normal(&mut rng)).collect();
        let offset_dir = random_unit(&mut rng, dim);
        let mixing = mixing_matrix(&mut rng, dim);
        PlantedLogistic { dim, n_classes, w, b, offset_dir, mixing }
    }

    /// `n` vectors, labels drawn from the model, and the Bayes accuracy on them.
    pub fn sample(&self, n: usize, seed: u64) -> PlantedSample {
        let mut rng = StdRng::seed_from_u64(seed);
        let (dim, k) = (self.dim, self.n_classes);
        let shape =
            NoiseShape { offset: 1.0, offset_dir: &self.offset_dir, noise: 1.0, mixing: &self.mixing };
        let x = noisy_rows(&mut rng, n, dim, |_| None, &shape);
        // The model acts on the coordinates scaled by √dim, so that logits do not shrink with the
        // dimension (unit vectors have coordinates of about 1/√dim). The component common to every
        // vector only shifts each class's logit by a constant, like a bias.
        let mut logits = vec![0.0f32; n * k];
        for row in logits.chunks_exact_mut(k) {
            row.copy_from_slice(&self.b);
        }
        let s = (dim as f32).sqrt();
        gemm(s, MatRef::new(&x, n, dim), MatRef::new(&self.w, dim, k), 1.0, &mut logits);
        let mut y = Vec::with_capacity(n);
        let mut bayes = 0.0f64;
        for row in logits.chunks_exact_mut(k) {
            crate::softmax::softmax_in_place(row);
            bayes += f64::from(row.iter().copied().fold(0.0f32, f32::max));
            let u: f32 = rng.random();
            let mut acc = 0.0f32;
            let c = row.iter().position(|&p| {
                acc += p;
                u < acc
            });
            y.push(c.unwrap_or(k - 1) as u32);
        }
        PlantedSample { x, y, bayes_accuracy: bayes / n.max(1) as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_unit_vectors_with_valid_labels_and_deterministic() {
        let p =
            ClusterProblem::new(ClusterSpec { label_noise: 0.3, zipf: 1.0, ..ClusterSpec::arxiv_like() }, 1);
        let (x, y) = p.sample(500, 2);
        assert_eq!((x.len(), y.len()), (500 * 384, 500));
        for row in x.chunks_exact(384) {
            assert!((row.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4);
        }
        assert!(y.iter().all(|&c| c < 172));
        assert_eq!(p.sample(500, 2), (x.clone(), y.clone()));
        assert_ne!(p.sample(500, 3).1, y);
        // Zipf frequencies: the most frequent class is far more common than the median one.
        let mut counts = vec![0usize; 172];
        let (_, many) = p.sample(20_000, 4);
        many.iter().for_each(|&c| counts[c as usize] += 1);
        counts.sort_unstable();
        assert!(counts[171] > 10 * counts[86].max(1), "{counts:?}");

        let planted = PlantedLogistic::new(16, 5, 1.0, 9);
        let s = planted.sample(2000, 1);
        assert!(s.y.iter().all(|&c| c < 5));
        assert!(s.bayes_accuracy > 0.2 && s.bayes_accuracy < 1.0, "{}", s.bayes_accuracy);
        assert_eq!(planted.sample(2000, 1).y, s.y);
    }
}
