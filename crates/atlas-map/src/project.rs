//! From sentence vectors to 2-D points: PCA, a k-nearest-neighbour graph, then a UMAP layout.
//!
//! * **PCA** to [`ProjectionOptions::pca_dims`] dimensions (50): the covariance of the centred vectors is
//!   accumulated in parallel blocks and its eigenvectors come from `nalgebra`'s symmetric eigensolver (a
//!   384 × 384 problem: milliseconds). PCA removes noise dimensions and makes the neighbour search cheaper;
//!   its first two components also start the layout, so the picture's rough arrangement is the global one.
//! * **Neighbours** in the PCA space: exact (every pair, parallel) up to [`ProjectionOptions::exact_max`]
//!   papers, an HNSW graph (`usearch`, the engine `atlas-index` uses) above, where the pairs grow
//!   quadratically.
//! * **UMAP**: the fuzzy neighbour graph from `umap-rs`, then umap-learn's stochastic gradient descent (our
//!   loop: umap-rs 0.4.5's has a wrong gradient, see `umap_layout`), with a progress bar (or, without a
//!   terminal, a plain log line every 10 epochs).
//!
//! Why UMAP and not t-SNE, with the measured times, is in `docs/map.md`.

use std::time::Instant;

use indicatif::ProgressBar;
use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;
use umap_rs::{GraphParams, ManifoldParams, Umap, UmapConfig};

use crate::MapError;

/// How [`project`] works.
#[derive(Debug, Clone)]
pub struct ProjectionOptions {
    /// Dimensions kept by the PCA before the neighbour search (capped at the vectors' own).
    pub pca_dims: usize,
    /// Neighbours of each paper in the UMAP graph (the paper itself included, as in umap-learn).
    pub neighbours: usize,
    /// UMAP's `min_dist`: how tightly points may pack in the picture.
    pub min_dist: f32,
    /// Gradient-descent epochs; `None`: umap-learn's default (500 up to 10,000 papers, 200 above).
    pub epochs: Option<usize>,
    /// Largest set whose neighbours are found exactly; larger sets use an HNSW graph.
    pub exact_max: usize,
    /// Show a progress bar on stderr (plain log lines when stderr is not a terminal).
    pub progress: bool,
}

impl Default for ProjectionOptions {
    fn default() -> Self {
        Self { pca_dims: 50, neighbours: 15, min_dist: 0.1, epochs: None, exact_max: 10_000, progress: false }
    }
}

impl ProjectionOptions {
    fn validate(&self, n: usize) -> Result<(), MapError> {
        if self.neighbours < 2 {
            return Err(MapError::Options(format!("neighbours must be at least 2, got {}", self.neighbours)));
        }
        if self.pca_dims < 2 {
            return Err(MapError::Options(format!("pca_dims must be at least 2, got {}", self.pca_dims)));
        }
        if !(0.0..=1.0).contains(&self.min_dist) {
            return Err(MapError::Options(format!("min_dist must be in [0, 1], got {}", self.min_dist)));
        }
        if self.epochs == Some(0) {
            return Err(MapError::Options("epochs must be at least 1".into()));
        }
        if n <= self.neighbours {
            return Err(MapError::TooFewPoints { needed: self.neighbours + 1, found: n });
        }
        Ok(())
    }

    /// The epochs a run of `n` papers does.
    pub fn epochs_for(&self, n: usize) -> usize {
        self.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 })
    }
}

/// What [`project`] did and how long each step took.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectionReport {
    /// Papers projected.
    pub points: usize,
    /// Dimensions of the input vectors.
    pub input_dims: usize,
    /// Dimensions the PCA kept.
    pub pca_dims: usize,
    /// Share of the variance the kept PCA dimensions explain.
    pub pca_variance_explained: f64,
    /// `exact` or `hnsw`.
    pub neighbour_search: &'static str,
    /// Neighbours per paper.
    pub neighbours: usize,
    /// UMAP epochs run.
    pub epochs: usize,
    /// Seconds of the PCA.
    pub pca_seconds: f64,
    /// Seconds of the neighbour search.
    pub neighbour_seconds: f64,
    /// Seconds of the UMAP graph and layout.
    pub layout_seconds: f64,
}

/// 2-D points, one per input row, with how they were made.
#[derive(Debug, Clone)]
pub struct Projection {
    /// `(x, y)` of each row, in UMAP's units (only relative positions mean anything).
    pub xy: Vec<[f32; 2]>,
    /// Timings and settings.
    pub report: ProjectionReport,
}

/// Projects `vectors` (row-major, `dim` wide) to 2-D: PCA, neighbours, UMAP (see the module docs).
pub fn project(vectors: &[f32], dim: usize, opts: &ProjectionOptions) -> Result<Projection, MapError> {
    if dim == 0 || !vectors.len().is_multiple_of(dim) {
        return Err(MapError::Shape {
            what: "vectors",
            message: format!("{} floats do not make rows of width {dim}", vectors.len()),
        });
    }
    let n = vectors.len() / dim;
    opts.validate(n)?;
    if let Some(row) = vectors.chunks_exact(dim).position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(MapError::NotFinite { row });
    }

    let t = Instant::now();
    let pca = Pca::fit(vectors, dim, opts.pca_dims.min(dim));
    let reduced = pca.transform(vectors);
    let pca_seconds = t.elapsed().as_secs_f64();
    tracing::info!(
        "PCA {dim} → {} dims ({:.1} % of the variance) in {pca_seconds:.1} s",
        pca.dims,
        100.0 * pca.explained
    );

    let t = Instant::now();
    let exact = n <= opts.exact_max;
    let knn = if exact {
        exact_neighbours(&reduced, pca.dims, opts.neighbours)
    } else {
        hnsw_neighbours(&reduced, pca.dims, opts.neighbours, opts.progress)?
    };
    let neighbour_seconds = t.elapsed().as_secs_f64();
    tracing::info!(
        "{} neighbours of {n} papers ({}) in {neighbour_seconds:.1} s",
        opts.neighbours,
        if exact { "exact" } else { "HNSW" }
    );

    let t = Instant::now();
    let epochs = opts.epochs_for(n);
    let xy = umap_layout(&reduced, pca.dims, &knn, opts, epochs)?;
    let layout_seconds = t.elapsed().as_secs_f64();
    tracing::info!("UMAP layout ({epochs} epochs) in {layout_seconds:.1} s");

    Ok(Projection {
        xy,
        report: ProjectionReport {
            points: n,
            input_dims: dim,
            pca_dims: pca.dims,
            pca_variance_explained: pca.explained,
            neighbour_search: if exact { "exact" } else { "hnsw" },
            neighbours: opts.neighbours,
            epochs,
            pca_seconds,
            neighbour_seconds,
            layout_seconds,
        },
    })
}

/// PCA of `vectors` (row-major, `dim` wide) to `dims` dimensions: row-major coordinates and the share of
/// the variance they explain. [`project`] starts with this; it is public for comparing other layouts on the
/// same input.
pub fn pca(vectors: &[f32], dim: usize, dims: usize) -> (Vec<f32>, f64) {
    let pca = Pca::fit(vectors, dim, dims.clamp(1, dim.max(1)));
    (pca.transform(vectors), pca.explained)
}

/// Rows per parallel block of the covariance and the transform: large enough for a fast matrix product,
/// small enough to spread 100k rows over every core.
const BLOCK: usize = 2048;

/// A fitted PCA: the mean and the top eigenvectors of the covariance.
struct Pca {
    mean: Vec<f32>,
    /// `dim × dims`, column `j` the `j`-th principal axis.
    axes: DMatrix<f32>,
    dims: usize,
    /// Share of the total variance the kept axes explain.
    explained: f64,
}

impl Pca {
    fn fit(vectors: &[f32], dim: usize, dims: usize) -> Pca {
        let n = vectors.len() / dim;
        let sums = vectors
            .par_chunks(BLOCK * dim)
            .map(|block| {
                let mut s = vec![0f64; dim];
                for row in block.chunks_exact(dim) {
                    s.iter_mut().zip(row).for_each(|(a, &v)| *a += f64::from(v));
                }
                s
            })
            .reduce(|| vec![0f64; dim], |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect());
        let mean: Vec<f32> = sums.iter().map(|s| (s / n as f64) as f32).collect();
        // Σ over blocks of Bᵀ·B (B the centred block): one matrix product per block, summed in f64.
        let cov = vectors
            .par_chunks(BLOCK * dim)
            .map(|block| {
                let b = centred_block(block, dim, &mean);
                let bt_b = b.transpose() * &b;
                bt_b.map(f64::from)
            })
            .reduce(|| DMatrix::<f64>::zeros(dim, dim), |a, b| a + b)
            / (n.max(2) - 1) as f64;
        let eigen = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..dim).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
        let kept: f64 = order[..dims].iter().map(|&i| eigen.eigenvalues[i].max(0.0)).sum();
        let mut axes = DMatrix::<f32>::zeros(dim, dims);
        for (j, &i) in order[..dims].iter().enumerate() {
            let v = eigen.eigenvectors.column(i);
            // An eigenvector's sign is arbitrary; fixing it (largest entry positive) makes maps repeatable.
            let largest = v.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs())).unwrap_or(1.0);
            let sign = if largest < 0.0 { -1.0 } else { 1.0 };
            for r in 0..dim {
                axes[(r, j)] = (sign * v[r]) as f32;
            }
        }
        Pca { mean, axes, dims, explained: if total > 0.0 { kept / total } else { 0.0 } }
    }

    /// Row-major `n × dims` coordinates of `vectors` on the principal axes.
    fn transform(&self, vectors: &[f32]) -> Vec<f32> {
        let dim = self.mean.len();
        vectors
            .par_chunks(BLOCK * dim)
            .flat_map_iter(|block| {
                let projected = centred_block(block, dim, &self.mean) * &self.axes;
                // nalgebra is column-major: its transpose's storage is the product row by row.
                projected.transpose().as_slice().to_vec()
            })
            .collect()
    }
}

/// A block of row-major rows, centred, as a `rows × dim` matrix.
fn centred_block(block: &[f32], dim: usize, mean: &[f32]) -> DMatrix<f32> {
    let rows = block.len() / dim;
    DMatrix::from_fn(rows, dim, |r, c| block[r * dim + c] - mean[c])
}

/// Neighbour lists: `k` per point, the point itself first, with Euclidean distances.
struct Neighbours {
    k: usize,
    indices: Vec<u32>,
    distances: Vec<f32>,
}

fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Every pair, in parallel over the points: `n² · dims` work, seconds for 10,000 papers.
fn exact_neighbours(points: &[f32], dims: usize, k: usize) -> Neighbours {
    let rows: Vec<&[f32]> = points.chunks_exact(dims).collect();
    let lists: Vec<Vec<(f32, u32)>> = rows
        .par_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut d: Vec<(f32, u32)> = rows
                .iter()
                .enumerate()
                // The point itself is always first (distance 0), even beside a duplicate paper.
                .map(|(j, b)| (if i == j { -1.0 } else { squared_distance(a, b) }, j as u32))
                .collect();
            d.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0));
            d.truncate(k);
            d.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            d
        })
        .collect();
    flatten(lists, k)
}

/// An HNSW graph over the PCA coordinates (usearch, f32, squared L2), built and queried in parallel.
fn hnsw_neighbours(points: &[f32], dims: usize, k: usize, progress: bool) -> Result<Neighbours, MapError> {
    use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
    let n = points.len() / dims;
    let options = IndexOptions {
        dimensions: dims,
        metric: MetricKind::L2sq,
        quantization: ScalarKind::F32,
        // atlas-index's defaults, which reach recall@10 ≥ 0.95 on these vectors.
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 64,
        multi: false,
    };
    let index = Index::new(&options).map_err(err("create"))?;
    index.reserve_capacity_and_threads(n, rayon::current_num_threads()).map_err(err("reserve"))?;
    let pb = stage_bar(progress, 2 * n as u64, "neighbours");
    points.par_chunks_exact(dims).enumerate().try_for_each(|(i, v)| {
        index.add(i as u64, v).map_err(err("add"))?;
        pb.inc(1);
        Ok::<(), MapError>(())
    })?;
    let lists: Vec<Vec<(f32, u32)>> = points
        .par_chunks_exact(dims)
        .enumerate()
        .map(|(i, v)| {
            let found = index.search(v, k).map_err(err("search"))?;
            pb.inc(1);
            let mut list: Vec<(f32, u32)> = vec![(0.0, i as u32)];
            list.extend(
                found
                    .keys
                    .iter()
                    .zip(&found.distances)
                    .filter(|(&key, _)| key != i as u64)
                    .map(|(&key, &d)| (d, key as u32)),
            );
            list.truncate(k);
            // A graph walk can come back short; repeating the farthest neighbour keeps every row k long (what
            // UMAP needs) without inventing a closer one.
            while list.len() < k {
                let last = *list.last().unwrap_or(&(0.0, i as u32));
                list.push(last);
            }
            Ok(list)
        })
        .collect::<Result<_, MapError>>()?;
    pb.finish_and_clear();
    Ok(flatten(lists, k))
}

/// A usearch failure during `what`.
fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> MapError {
    move |e| MapError::Neighbours(format!("{what}: {e}"))
}

/// Squared distances → the row-major lists UMAP takes (Euclidean distances, self at 0).
fn flatten(lists: Vec<Vec<(f32, u32)>>, k: usize) -> Neighbours {
    let mut indices = Vec::with_capacity(lists.len() * k);
    let mut distances = Vec::with_capacity(lists.len() * k);
    for list in lists {
        for (d, j) in list {
            indices.push(j);
            distances.push(d.max(0.0).sqrt());
        }
    }
    Neighbours { k, indices, distances }
}

/// Epochs per progress step of the layout.
const EPOCH_SLICE: usize = 10;
/// Negative samples per positive one (umap-learn's default).
const NEGATIVE_RATE: f64 = 5.0;

/// The UMAP layout: umap-rs builds the fuzzy neighbour graph (and the curve's a, b); the gradient descent is
/// ours. umap-rs 0.4.5's SGD divides both gradients by `a·d^(2b)·d² + 1` where umap-learn (and the UMAP paper)
/// have `a·d^(2b) + 1`; with that extra `d²` clusters never contract (three far-apart blobs stayed mixed in
/// the unit test below). This loop is umap-learn's `optimize_layout_euclidean`, one thread, seeded.
fn umap_layout(
    points: &[f32],
    dims: usize,
    knn: &Neighbours,
    opts: &ProjectionOptions,
    epochs: usize,
) -> Result<Vec<[f32; 2]>, MapError> {
    let n = points.len() / dims;
    let shape = |e: ndarray::ShapeError| MapError::Shape { what: "UMAP input", message: e.to_string() };
    let data = Array2::from_shape_vec((n, dims), points.to_vec()).map_err(shape)?;
    let indices = Array2::from_shape_vec((n, knn.k), knn.indices.clone()).map_err(shape)?;
    let distances = Array2::from_shape_vec((n, knn.k), knn.distances.clone()).map_err(shape)?;
    let config = UmapConfig {
        n_components: 2,
        graph: GraphParams { n_neighbors: knn.k, ..GraphParams::default() },
        manifold: ManifoldParams { min_dist: opts.min_dist, spread: 1.0, ..ManifoldParams::default() },
        ..UmapConfig::default()
    };
    let manifold = Umap::new(config).learn_manifold(data.view(), indices.view(), distances.view());
    let (a, b) = manifold.curve_params();
    // Edges too weak to be sampled once in `epochs` are dropped, as in umap-learn.
    let max_w = manifold.graph().data().iter().copied().fold(0f32, f32::max);
    let edges: Vec<(u32, u32, f64)> = manifold
        .graph()
        .iter()
        .filter(|(&w, _)| w > 0.0 && w >= max_w / epochs as f32)
        .map(|(&w, (i, j))| (i, j, f64::from(max_w / w)))
        .collect();
    drop(manifold);
    // The first two principal components start the layout, scaled to [0, 10] like umap-learn's spectral
    // start, so the picture keeps the global arrangement PCA sees.
    let mut y: Vec<[f32; 2]> = (0..n).map(|i| [points[i * dims], points[i * dims + 1]]).collect();
    for d in 0..2 {
        let (lo, hi) =
            y.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), p| (l.min(p[d]), h.max(p[d])));
        let span = if hi > lo { hi - lo } else { 1.0 };
        y.iter_mut().for_each(|p| p[d] = 10.0 * (p[d] - lo) / span);
    }
    let mut next_sample: Vec<f64> = edges.iter().map(|e| e.2).collect();
    let mut next_negative: Vec<f64> = edges.iter().map(|e| e.2 / NEGATIVE_RATE).collect();
    let mut rng = SplitMix(0x756d_6170);
    let pb = stage_bar(opts.progress, epochs as u64, "layout");
    let started = Instant::now();
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f64;
        for (e, &(j, k, per_sample)) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            let (j, k) = (j as usize, k as usize);
            let d2 = dist2(y[j], y[k]);
            let coeff = if d2 > 0.0 { -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0) } else { 0.0 };
            let diff = [y[j][0] - y[k][0], y[j][1] - y[k][1]];
            let g = diff.map(|v| clip(coeff * v) * alpha);
            y[j] = [y[j][0] + g[0], y[j][1] + g[1]];
            y[k] = [y[k][0] - g[0], y[k][1] - g[1]];
            next_sample[e] += per_sample;
            let per_negative = per_sample / NEGATIVE_RATE;
            let negatives = ((now - next_negative[e]) / per_negative).max(0.0) as usize;
            for _ in 0..negatives {
                let k = rng.below(n);
                if k == j {
                    continue;
                }
                let d2 = dist2(y[j], y[k]);
                let coeff = if d2 > 0.0 { 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0)) } else { 0.0 };
                let diff = [y[j][0] - y[k][0], y[j][1] - y[k][1]];
                let g = diff.map(|v| if coeff > 0.0 { clip(coeff * v) } else { 4.0 } * alpha);
                y[j] = [y[j][0] + g[0], y[j][1] + g[1]];
            }
            next_negative[e] += negatives as f64 * per_negative;
        }
        if (epoch + 1) % EPOCH_SLICE == 0 || epoch + 1 == epochs {
            pb.set_position(epoch as u64 + 1);
            if opts.progress && pb.is_hidden() {
                tracing::info!(
                    "UMAP epoch {}/{epochs} ({:.0} s)",
                    epoch + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    pb.finish_and_clear();
    Ok(y)
}

fn dist2(p: [f32; 2], q: [f32; 2]) -> f32 {
    (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)
}

/// umap-learn clips each gradient component to ±4.
fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// SplitMix64: a tiny seeded generator for the negative samples (fast, and the map is repeatable).
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (((z >> 32) * n as u64) >> 32) as usize
    }
}

/// A progress bar for one stage (hidden without `progress` or without a terminal).
fn stage_bar(progress: bool, total: u64, what: &str) -> ProgressBar {
    if progress {
        atlas_embed::job::progress_bar(total, what)
    } else {
        ProgressBar::hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight, far-apart blobs in 20 dimensions.
    fn blobs(per: usize) -> (Vec<f32>, Vec<usize>, usize) {
        let dim = 20;
        let mut v = Vec::new();
        let mut label = Vec::new();
        // A small deterministic generator: tests must not depend on a seed library's stream.
        let mut state = 12345u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        for c in 0..3 {
            for _ in 0..per {
                for d in 0..dim {
                    let centre = if d % 3 == c { 10.0 } else { 0.0 };
                    v.push(centre + 0.3 * noise());
                }
                label.push(c);
            }
        }
        (v, label, dim)
    }

    #[test]
    fn neighbours_in_the_vectors_stay_together_on_the_map() {
        let (v, label, dim) = blobs(40);
        let opts = ProjectionOptions { pca_dims: 5, epochs: Some(100), ..ProjectionOptions::default() };
        let p = project(&v, dim, &opts).unwrap();
        assert_eq!(p.xy.len(), label.len());
        assert_eq!(p.report.neighbour_search, "exact");
        assert!(p.report.pca_variance_explained > 0.9, "{}", p.report.pca_variance_explained);
        // Each point's nearest other point on the map belongs to its own blob.
        for (i, a) in p.xy.iter().enumerate() {
            let nearest = (0..p.xy.len())
                .filter(|&j| j != i)
                .min_by(|&x, &y| {
                    let dx = (p.xy[x][0] - a[0]).powi(2) + (p.xy[x][1] - a[1]).powi(2);
                    let dy = (p.xy[y][0] - a[0]).powi(2) + (p.xy[y][1] - a[1]).powi(2);
                    dx.total_cmp(&dy)
                })
                .unwrap();
            assert_eq!(label[nearest], label[i], "point {i}");
        }
    }

    #[test]
    fn hnsw_and_exact_neighbours_agree_on_clear_clusters() {
        let (v, _, dim) = blobs(30);
        let exact = exact_neighbours(&v, dim, 5);
        let hnsw = hnsw_neighbours(&v, dim, 5, false).unwrap();
        assert_eq!(exact.indices.len(), hnsw.indices.len());
        // Self first in both.
        for i in 0..90 {
            assert_eq!(exact.indices[i * 5], i as u32);
            assert_eq!(hnsw.indices[i * 5], i as u32);
        }
        let agree = exact
            .indices
            .chunks(5)
            .zip(hnsw.indices.chunks(5))
            .map(|(a, b)| a.iter().filter(|x| b.contains(x)).count())
            .sum::<usize>();
        assert!(agree as f64 / exact.indices.len() as f64 > 0.9, "{agree}");
    }

    #[test]
    fn pca_finds_the_axis_of_largest_spread() {
        // Points along (1, 1, 0) with a little noise on z.
        let v: Vec<f32> =
            (0..50).flat_map(|i| [i as f32, i as f32, if i % 2 == 0 { 0.1 } else { -0.1 }]).collect();
        let pca = Pca::fit(&v, 3, 2);
        let axis = pca.axes.column(0);
        assert!((axis[0] - axis[1]).abs() < 1e-4 && axis[0] > 0.7, "{axis:?}");
        assert!(pca.explained > 0.99);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let opts = ProjectionOptions::default();
        assert!(matches!(project(&[0.0; 10], 3, &opts), Err(MapError::Shape { .. })));
        assert!(matches!(project(&[0.0; 30], 3, &opts), Err(MapError::TooFewPoints { .. })));
        let mut v = vec![0.5f32; 3 * 40];
        v[7] = f32::NAN;
        assert!(matches!(project(&v, 3, &opts), Err(MapError::NotFinite { row: 2 })));
        let one = ProjectionOptions { neighbours: 1, ..ProjectionOptions::default() };
        assert!(matches!(project(&v, 3, &one), Err(MapError::Options(_))));
    }
}
