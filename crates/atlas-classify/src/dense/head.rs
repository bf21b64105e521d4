//! [`DenseHead`]: training entry points, prediction and the model folder.
//!
//! A model folder holds
//! - `weights.safetensors` (all `f32`, acting on raw embeddings): `weight` `[dim × n_classes]` and `bias`
//!   `[n_classes]` for the logistic regression; `hidden.weight` `[dim × hidden]`, `hidden.bias`,
//!   `output.weight` `[hidden × n_classes]` and `output.bias` for the perceptron;
//!   for the k-nearest-neighbour head, `knn.vectors` `[papers × dim]` (unit length) and `knn.classes`
//!   `[papers]` (class ids, exact in `f32`);
//! - `manifest.json`: kind `arxiv-atlas/embedding-lr`, `arxiv-atlas/embedding-mlp` or
//!   `arxiv-atlas/embedding-knn`, format version, the weights' SHA-256, and in `meta` the labels, `dim`,
//!   `n_classes`, the training settings (`lr`, `mlp` or `knn`, with `papers`) and the caller's `encoder`
//!   description.
//!
//! Other files in the folder are left alone.

use std::path::Path;
use std::time::Instant;

use atlas_artifact::{ArtifactError, MANIFEST_FILE};
use serde::{Deserialize, Serialize};

use super::adam::{AdamConfig, AdamTrainer};
use super::fit::{fit_loop, LoopSettings, StepTrainer};
use super::knn::KnnIndex;
use super::lbfgs::LbfgsTrainer;
use super::network::{Layer, Network};
use super::scaler::Standardizer;
use crate::error::ClassifyError;
use crate::folder::{self, check_labels, WEIGHTS_FILE};
use crate::labels::{Labels, Probabilities};
use crate::model::TrainReport;
use crate::params::{EmbeddingKnnParams, EmbeddingLrParams, EmbeddingMlpParams, LrSolver};
use crate::tensors::{self, TensorFile, TensorRef};
use crate::train::{in_pool, EpochStats, FitSummary};

/// An Adam epoch counts as progress only if it lowers the best validation loss by more than 0.1%:
/// smaller gains late in training are noise, and treating them as a plateau lowers the step size
/// (see `AdamTrainer::on_plateau`) and ends training instead of running every remaining epoch.
const ADAM_MIN_IMPROVEMENT: f64 = 1e-3;

/// The settings a [`DenseHead`] was trained with; the variant decides the kind.
#[derive(Debug, Clone, PartialEq)]
pub enum HeadParams {
    /// A multinomial logistic regression.
    Lr(EmbeddingLrParams),
    /// A one-hidden-layer perceptron.
    Mlp(EmbeddingMlpParams),
    /// Votes of the nearest training papers.
    Knn(EmbeddingKnnParams),
}

/// What maps embeddings to probabilities: a network (LR, MLP) or the stored training papers (kNN).
#[derive(Debug, Clone, PartialEq)]
enum Body {
    Net(Network),
    Knn(KnnIndex),
}

/// What `manifest.json`'s `meta` holds for these kinds.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    labels: Labels,
    dim: usize,
    n_classes: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lr: Option<EmbeddingLrParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mlp: Option<EmbeddingMlpParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    knn: Option<EmbeddingKnnParams>,
    /// Stored training papers of a kNN head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    papers: Option<usize>,
    #[serde(default)]
    encoder: serde_json::Value,
}

/// A classifier head on frozen sentence embeddings: a multinomial logistic regression, a perceptron
/// with one hidden ReLU layer, or k-nearest-neighbour votes, mapping `dim`-dimensional embeddings to class
/// probabilities. It does not
/// embed text itself; the caller pairs it with the encoder described in its folder's metadata.
#[derive(Debug, Clone)]
pub struct DenseHead {
    body: Body,
    labels: Labels,
    params: HeadParams,
}

/// Checks the training (or validation) embeddings and labels.
fn check_data(x: &[f32], dim: usize, y: &[u32], n_classes: usize, what: &str) -> Result<(), ClassifyError> {
    let bad = |msg: String| Err(ClassifyError::InvalidData(format!("{what}: {msg}")));
    if x.len() != y.len() * dim {
        return bad(format!(
            "{} values are not {} rows of {dim}-dimensional embeddings (one per label)",
            x.len(),
            y.len()
        ));
    }
    if let Some((i, &c)) = y.iter().enumerate().find(|(_, &c)| c as usize >= n_classes) {
        return bad(format!("label {c} of example {i} is not a class id (there are {n_classes} classes)"));
    }
    // A NaN embedding would silently poison every weight it touches.
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return bad(format!("embedding {} has a non-finite value ({})", i / dim, x[i]));
    }
    Ok(())
}

/// Shared checks and set-up of both trainers; returns the thread pool (`None`: the current one).
fn prepare(
    x: &[f32],
    dim: usize,
    y: &[u32],
    valid: Option<(&[f32], &[u32])>,
    labels: &Labels,
    threads: usize,
) -> Result<Option<rayon::ThreadPool>, ClassifyError> {
    check_labels(labels)?;
    if dim == 0 {
        return Err(ClassifyError::InvalidData("the embedding dimension is 0".into()));
    }
    if y.is_empty() {
        return Err(ClassifyError::InvalidData("no training examples".into()));
    }
    check_data(x, dim, y, labels.len(), "training set")?;
    if let Some((vx, vy)) = valid {
        check_data(vx, dim, vy, labels.len(), "validation set")?;
    }
    // threads = 0 uses rayon's global pool (all cores) rather than building a second one.
    Ok(match threads {
        0 => None,
        n => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build()?),
    })
}

fn validate_lr(p: &EmbeddingLrParams) -> Result<(), ClassifyError> {
    let bad = |msg: String| Err(ClassifyError::InvalidParams(msg));
    if p.max_iter == 0 {
        return bad("lr.max_iter must be at least 1".into());
    }
    if !(p.c.is_finite() && p.c > 0.0) {
        return bad(format!("lr.c must be a positive number, got {}", p.c));
    }
    if !(p.tol.is_finite() && p.tol >= 0.0) {
        return bad(format!("lr.tol must be zero or positive, got {}", p.tol));
    }
    if p.history == 0 {
        return bad("lr.history must be at least 1".into());
    }
    if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
        return bad(format!("lr.learning_rate must be a positive number, got {}", p.learning_rate));
    }
    if p.batch_size == 0 {
        return bad("lr.batch_size must be at least 1".into());
    }
    Ok(())
}

fn validate_mlp(p: &EmbeddingMlpParams) -> Result<(), ClassifyError> {
    let bad = |msg: String| Err(ClassifyError::InvalidParams(msg));
    if p.hidden == 0 {
        return bad("mlp.hidden must be at least 1".into());
    }
    if !(p.dropout.is_finite() && (0.0..1.0).contains(&p.dropout)) {
        return bad(format!("mlp.dropout must be in [0, 1), got {}", p.dropout));
    }
    if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
        return bad(format!("mlp.learning_rate must be a positive number, got {}", p.learning_rate));
    }
    if !(p.weight_decay.is_finite() && p.weight_decay >= 0.0) {
        return bad(format!("mlp.weight_decay must be zero or positive, got {}", p.weight_decay));
    }
    if p.batch_size == 0 {
        return bad("mlp.batch_size must be at least 1".into());
    }
    if p.max_epochs == 0 {
        return bad("mlp.max_epochs must be at least 1".into());
    }
    Ok(())
}

/// The standardisation to train with (computed on `pool`, like the rest of training).
fn fit_scaler(pool: Option<&rayon::ThreadPool>, x: &[f32], dim: usize, standardize: bool) -> Standardizer {
    if standardize {
        in_pool(pool, || Standardizer::fit(x, dim))
    } else {
        Standardizer::identity(dim)
    }
}

fn report(fit_s: f64, dim: usize, summary: FitSummary) -> TrainReport {
    TrainReport {
        vectorize_s: 0.0,
        fit_s,
        n_features: dim,
        epochs_run: summary.epochs_run,
        best_epoch: summary.best_epoch,
        history: summary.history,
    }
}

/// The tensors of a network head (LR: `weight`, `bias`; MLP: `hidden.*`, `output.*`).
fn net_tensors(net: &Network) -> Vec<TensorRef<'_>> {
    let (dim, k, out) = (net.dim(), net.n_classes(), &net.output);
    match &net.hidden {
        None => vec![
            TensorRef { name: "weight", shape: vec![dim, k], data: &out.w },
            TensorRef { name: "bias", shape: vec![k], data: &out.b },
        ],
        Some(h) => vec![
            TensorRef { name: "hidden.weight", shape: vec![dim, h.n_out], data: &h.w },
            TensorRef { name: "hidden.bias", shape: vec![h.n_out], data: &h.b },
            TensorRef { name: "output.weight", shape: vec![h.n_out, k], data: &out.w },
            TensorRef { name: "output.bias", shape: vec![k], data: &out.b },
        ],
    }
}

impl DenseHead {
    /// The manifest kind of a logistic-regression head's folders.
    pub const KIND_LR: &'static str = "arxiv-atlas/embedding-lr";
    /// The manifest kind of a perceptron head's folders.
    pub const KIND_MLP: &'static str = "arxiv-atlas/embedding-mlp";
    /// The manifest kind of a k-nearest-neighbour head's folders.
    pub const KIND_KNN: &'static str = "arxiv-atlas/embedding-knn";
    /// The newest folder format this build writes and reads.
    pub const FORMAT_VERSION: u32 = 1;

    /// Trains a multinomial logistic regression on the rows of `x` (`dim` values each, one per label in
    /// `y`; `y[i]` is the class id, an index into `labels`). With `valid`, the weights of the iteration
    /// (L-BFGS) or epoch (Adam) with the lowest validation loss are kept and training stops after
    /// `p.patience` steps without improvement. `observer` sees every step's figures on the calling thread.
    /// Deterministic for a given seed, whatever the thread count.
    pub fn train_lr(
        x: &[f32],
        dim: usize,
        y: &[u32],
        valid: Option<(&[f32], &[u32])>,
        labels: Labels,
        p: &EmbeddingLrParams,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<(Self, TrainReport), ClassifyError> {
        validate_lr(p)?;
        let pool = prepare(x, dim, y, valid, &labels, p.threads)?;
        let t0 = Instant::now();
        let k = labels.len();
        // scikit-learn's C · Σ CE + ½‖W‖², divided by C·n: mean CE + l2/2 · ‖W‖².
        let l2 = 1.0 / (p.c * y.len() as f64);
        let scaler = fit_scaler(pool.as_ref(), x, dim, p.standardize);
        let settings = LoopSettings {
            max_steps: p.max_iter,
            patience: p.patience,
            // L-BFGS improves the validation loss by small amounts every iteration until it converges;
            // Adam epochs are compared like the MLP's.
            min_improvement: match p.solver {
                LrSolver::Lbfgs => 0.0,
                LrSolver::Adam => ADAM_MIN_IMPROVEMENT,
            },
            valid: valid.filter(|(_, vy)| !vy.is_empty()),
            scaler: &scaler,
            log_every: match p.solver {
                LrSolver::Lbfgs => 25,
                LrSolver::Adam => 1,
            },
            lower_hint: "lr.learning_rate",
        };
        let mut trainer: Box<dyn StepTrainer> = match p.solver {
            LrSolver::Lbfgs => Box::new(LbfgsTrainer::new(x, y, dim, k, &scaler, l2, p.tol, p.history)),
            LrSolver::Adam => Box::new(AdamTrainer::new(
                x,
                y,
                dim,
                k,
                &scaler,
                AdamConfig {
                    hidden: 0,
                    dropout: 0.0,
                    learning_rate: p.learning_rate,
                    l2,
                    weight_decay: 0.0,
                    batch_size: p.batch_size,
                    seed: p.seed,
                },
            )),
        };
        let (net, summary) = fit_loop(pool.as_ref(), trainer.as_mut(), &settings, observer)?;
        let fit_s = t0.elapsed().as_secs_f64();
        tracing::info!(
            "embedding LR: {} steps, kept step {} ({fit_s:.1}s)",
            summary.epochs_run,
            summary.best_epoch
        );
        Ok((
            DenseHead { body: Body::Net(net), labels, params: HeadParams::Lr(p.clone()) },
            report(fit_s, dim, summary),
        ))
    }

    /// Trains a perceptron with one hidden ReLU layer (dropout during training, AdamW, mini-batches) on
    /// the rows of `x`; otherwise like [`DenseHead::train_lr`], with early stopping counted in epochs.
    pub fn train_mlp(
        x: &[f32],
        dim: usize,
        y: &[u32],
        valid: Option<(&[f32], &[u32])>,
        labels: Labels,
        p: &EmbeddingMlpParams,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<(Self, TrainReport), ClassifyError> {
        validate_mlp(p)?;
        let pool = prepare(x, dim, y, valid, &labels, p.threads)?;
        let t0 = Instant::now();
        let scaler = fit_scaler(pool.as_ref(), x, dim, p.standardize);
        let settings = LoopSettings {
            max_steps: p.max_epochs,
            patience: p.patience,
            min_improvement: ADAM_MIN_IMPROVEMENT,
            valid: valid.filter(|(_, vy)| !vy.is_empty()),
            scaler: &scaler,
            log_every: 1,
            lower_hint: "mlp.learning_rate",
        };
        let cfg = AdamConfig {
            hidden: p.hidden,
            dropout: p.dropout,
            learning_rate: p.learning_rate,
            l2: 0.0,
            weight_decay: p.weight_decay,
            batch_size: p.batch_size,
            seed: p.seed,
        };
        let mut trainer = AdamTrainer::new(x, y, dim, labels.len(), &scaler, cfg);
        let (net, summary) = fit_loop(pool.as_ref(), &mut trainer, &settings, observer)?;
        let fit_s = t0.elapsed().as_secs_f64();
        tracing::info!(
            "embedding MLP: {} epochs, kept epoch {} ({fit_s:.1}s)",
            summary.epochs_run,
            summary.best_epoch
        );
        Ok((
            DenseHead { body: Body::Net(net), labels, params: HeadParams::Mlp(p.clone()) },
            report(fit_s, dim, summary),
        ))
    }

    /// A k-nearest-neighbour head over the rows of `x` (`dim` values each, one per label in `y`): nothing
    /// is fitted; the papers are stored (normalised to unit length) and vote at prediction.
    pub fn build_knn(
        x: &[f32],
        dim: usize,
        y: &[u32],
        labels: Labels,
        p: &EmbeddingKnnParams,
    ) -> Result<(Self, TrainReport), ClassifyError> {
        check_labels(&labels)?;
        check_data(x, dim, y, labels.len(), "training data")?;
        let t0 = Instant::now();
        let index = KnnIndex::new(x, dim, y, labels.len(), p.clone())?;
        let summary = FitSummary { epochs_run: 0, best_epoch: 0, history: Vec::new() };
        let head = DenseHead { body: Body::Knn(index), labels, params: HeadParams::Knn(p.clone()) };
        Ok((head, report(t0.elapsed().as_secs_f64(), dim, summary)))
    }

    /// Class probabilities of every row of `x` (`dim()` values per row; rows sum to 1), computed in
    /// parallel on the current rayon pool. A row's probabilities do not depend on the other rows.
    ///
    /// # Panics
    /// If `x.len()` is not a multiple of [`DenseHead::dim`].
    pub fn predict_proba_dense(&self, x: &[f32]) -> Probabilities {
        match &self.body {
            Body::Net(net) => net.predict_proba(x),
            Body::Knn(knn) => knn.predict_proba(x),
        }
    }

    /// The classes; column `c` of the probabilities is class `labels().codes[c]`.
    pub fn labels(&self) -> &Labels {
        &self.labels
    }

    /// The embedding dimension the head takes.
    pub fn dim(&self) -> usize {
        match &self.body {
            Body::Net(net) => net.dim(),
            Body::Knn(knn) => knn.dim,
        }
    }

    /// The manifest kind: [`DenseHead::KIND_LR`], [`DenseHead::KIND_MLP`] or [`DenseHead::KIND_KNN`].
    pub fn kind(&self) -> &str {
        match self.params {
            HeadParams::Lr(_) => Self::KIND_LR,
            HeadParams::Mlp(_) => Self::KIND_MLP,
            HeadParams::Knn(_) => Self::KIND_KNN,
        }
    }

    /// The network of an LR or MLP head (tests compare weights).
    #[cfg(test)]
    fn net(&self) -> &Network {
        match &self.body {
            Body::Net(net) => net,
            Body::Knn(_) => panic!("a kNN head has no network"),
        }
    }

    /// The settings the head was trained with.
    pub fn params(&self) -> &HeadParams {
        &self.params
    }

    /// Writes the head into `dir` (created if needed) with `encoder` (the caller's description of the
    /// encoder the head was trained on: model name, hash, text template, pooling …) in the manifest's
    /// metadata. Every file is written atomically and the manifest last, so an interrupted save leaves a
    /// folder that [`DenseHead::load`] refuses.
    pub fn save(&self, dir: &Path, encoder: &serde_json::Value) -> Result<(), ClassifyError> {
        let (dim, k) = (self.dim(), self.labels.len());
        // Class ids as f32: exact below 2^24 classes, and the tensor file holds f32 only.
        let knn_classes: Vec<f32>;
        let tensors = match &self.body {
            Body::Knn(knn) => {
                knn_classes = knn.classes.iter().map(|&c| c as f32).collect();
                vec![
                    TensorRef {
                        name: "knn.vectors",
                        shape: vec![knn.classes.len(), dim],
                        data: &knn.vectors,
                    },
                    TensorRef { name: "knn.classes", shape: vec![knn.classes.len()], data: &knn_classes },
                ]
            }
            Body::Net(net) => net_tensors(net),
        };
        let (lr, mlp, knn) = match &self.params {
            HeadParams::Lr(p) => (Some(p.clone()), None, None),
            HeadParams::Mlp(p) => (None, Some(p.clone()), None),
            HeadParams::Knn(p) => (None, None, Some(p.clone())),
        };
        let (hidden, papers) = match &self.body {
            Body::Net(net) => (net.hidden.as_ref().map(|h| h.n_out), None),
            Body::Knn(index) => (None, Some(index.classes.len())),
        };
        let meta = Meta {
            labels: self.labels.clone(),
            dim,
            n_classes: k,
            hidden,
            lr,
            mlp,
            knn,
            papers,
            encoder: encoder.clone(),
        };
        folder::save(dir, self.kind(), Self::FORMAT_VERSION, &[WEIGHTS_FILE], &meta, || {
            tensors::write_f32(&dir.join(WEIGHTS_FILE), &tensors)
        })
    }

    /// Loads a folder written by [`DenseHead::save`], verifying every checksum first; returns the head
    /// and the `encoder` description it was saved with. Refuses folders of another kind, of a newer
    /// format version, and damaged or inconsistent ones.
    pub fn load(dir: &Path) -> Result<(Self, serde_json::Value), ClassifyError> {
        let kind = crate::model_kind(dir)?;
        if ![Self::KIND_LR, Self::KIND_MLP, Self::KIND_KNN].contains(&kind.as_str()) {
            return Err(ArtifactError::WrongKind {
                dir: dir.to_path_buf(),
                expected: format!("{}` or `{}` or `{}", Self::KIND_LR, Self::KIND_MLP, Self::KIND_KNN),
                found: kind,
            }
            .into());
        }
        let meta: Meta =
            folder::open(dir, &kind, Self::FORMAT_VERSION, &[WEIGHTS_FILE], |m: &Meta| &m.labels)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let (dim, k) = (meta.dim, meta.n_classes);
        if meta.labels.len() != k || dim == 0 {
            return Err(ClassifyError::format(
                &manifest_path,
                format!("{} labels for {k} classes, dimension {dim}", meta.labels.len()),
            ));
        }
        let bad_meta = || {
            ClassifyError::format(
                &manifest_path,
                format!(
                    "the metadata of a `{kind}` folder must hold its settings (and `hidden` for an MLP, \
                     `papers` for a kNN head)"
                ),
            )
        };
        let mut t = TensorFile::read(&dir.join(WEIGHTS_FILE))?;
        let (body, params) = match (kind.as_str(), meta.lr, meta.mlp, meta.knn, meta.hidden, meta.papers) {
            (Self::KIND_LR, Some(p), None, None, None, None) => {
                let output =
                    Layer { n_in: dim, n_out: k, w: t.take("weight", &[dim, k])?, b: t.take("bias", &[k])? };
                (Body::Net(Network { hidden: None, output }), HeadParams::Lr(p))
            }
            (Self::KIND_MLP, None, Some(p), None, Some(h), None) => {
                let hidden = Layer {
                    n_in: dim,
                    n_out: h,
                    w: t.take("hidden.weight", &[dim, h])?,
                    b: t.take("hidden.bias", &[h])?,
                };
                let output = Layer {
                    n_in: h,
                    n_out: k,
                    w: t.take("output.weight", &[h, k])?,
                    b: t.take("output.bias", &[k])?,
                };
                (Body::Net(Network { hidden: Some(hidden), output }), HeadParams::Mlp(p))
            }
            (Self::KIND_KNN, None, None, Some(p), None, Some(n)) => {
                let vectors = t.take("knn.vectors", &[n, dim])?;
                let classes = t.take("knn.classes", &[n])?;
                // A class id must be a whole number below k; anything else is a damaged file.
                let ids: Option<Vec<u32>> = classes
                    .iter()
                    .map(|&c| (c >= 0.0 && c.fract() == 0.0 && (c as usize) < k).then_some(c as u32))
                    .collect();
                let ids = ids.ok_or_else(|| {
                    ClassifyError::format(
                        t.path(),
                        format!("knn.classes holds a value that is not a class id below {k}"),
                    )
                })?;
                let index = KnnIndex::from_unit_rows(vectors, dim, &ids, k, p.clone())
                    .map_err(|e| ClassifyError::format(&manifest_path, e.to_string()))?;
                (Body::Knn(index), HeadParams::Knn(p))
            }
            _ => return Err(bad_meta()),
        };
        Ok((DenseHead { body, labels: meta.labels, params }, meta.encoder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{ClusterProblem, ClusterSpec, PlantedLogistic};
    use atlas_artifact::Manifest;

    fn labels(k: usize) -> Labels {
        Labels {
            codes: (0..k).map(|c| format!("c.{c}")).collect(),
            names: (0..k).map(|c| format!("Class {c}")).collect(),
        }
    }

    fn accuracy(p: &Probabilities, y: &[u32]) -> f64 {
        p.argmax().iter().zip(y).filter(|(a, b)| **a == **b as usize).count() as f64 / y.len() as f64
    }

    fn lr_params() -> EmbeddingLrParams {
        EmbeddingLrParams { solver: LrSolver::Lbfgs, threads: 2, ..EmbeddingLrParams::default() }
    }

    fn mlp_params() -> EmbeddingMlpParams {
        EmbeddingMlpParams {
            hidden: 32,
            max_epochs: 30,
            batch_size: 64,
            threads: 2,
            ..EmbeddingMlpParams::default()
        }
    }

    /// Separable clusters: (train x, train y, valid x, valid y).
    fn separable(dim: usize, k: usize) -> (Vec<f32>, Vec<u32>, Vec<f32>, Vec<u32>) {
        let p = ClusterProblem::new(ClusterSpec::separable(dim, k), 1);
        let (x, y) = p.sample(1500, 2);
        let (vx, vy) = p.sample(500, 3);
        (x, y, vx, vy)
    }

    fn nop() -> impl FnMut(&EpochStats) {
        |_| {}
    }

    #[test]
    fn separable_clusters_are_learned_by_every_head() {
        let (dim, k) = (24, 6);
        let (x, y, vx, vy) = separable(dim, k);
        let valid = Some((vx.as_slice(), vy.as_slice()));
        let adam = EmbeddingLrParams { solver: LrSolver::Adam, max_iter: 30, ..lr_params() };
        for p in [lr_params(), adam] {
            let mut seen = 0;
            let (m, r) = DenseHead::train_lr(&x, dim, &y, valid, labels(k), &p, &mut |_| seen += 1).unwrap();
            assert_eq!(seen, r.epochs_run);
            let acc = accuracy(&m.predict_proba_dense(&vx), &vy);
            assert!(acc >= 0.99, "{:?}: validation accuracy {acc}", p.solver);
            assert_eq!((m.kind(), m.dim(), m.labels().len()), (DenseHead::KIND_LR, dim, k));
            assert_eq!((r.n_features, r.vectorize_s), (dim, 0.0));
        }
        let (m, r) = DenseHead::train_mlp(&x, dim, &y, valid, labels(k), &mlp_params(), &mut nop()).unwrap();
        let p = m.predict_proba_dense(&vx);
        assert!(accuracy(&p, &vy) >= 0.99, "MLP validation accuracy {}", accuracy(&p, &vy));
        assert_eq!(m.kind(), DenseHead::KIND_MLP);
        assert!(r.best_epoch >= 1 && r.best_epoch <= r.epochs_run);
        for i in 0..p.len() {
            assert!((p.row(i).iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let (m, r) = DenseHead::build_knn(&x, dim, &y, labels(k), &EmbeddingKnnParams::default()).unwrap();
        let acc = accuracy(&m.predict_proba_dense(&vx), &vy);
        assert!(acc >= 0.99, "kNN validation accuracy {acc}");
        assert_eq!((m.kind(), m.dim(), r.epochs_run), (DenseHead::KIND_KNN, dim, 0));
    }

    #[test]
    fn logistic_regression_approaches_the_bayes_rate_of_a_planted_model() {
        // Labels drawn from a known logistic model: no classifier can beat its Bayes accuracy, and a
        // logistic regression fitted on enough data should come close to it.
        let (dim, k) = (16, 6);
        let model = PlantedLogistic::new(dim, k, 0.3, 11);
        let train = model.sample(30_000, 1);
        let valid = model.sample(5_000, 2);
        let test = model.sample(20_000, 3);
        assert!(test.bayes_accuracy > 0.5 && test.bayes_accuracy < 0.9, "Bayes {}", test.bayes_accuracy);
        let (m, _) = DenseHead::train_lr(
            &train.x,
            dim,
            &train.y,
            Some((&valid.x, &valid.y)),
            labels(k),
            &lr_params(),
            &mut nop(),
        )
        .unwrap();
        let acc = accuracy(&m.predict_proba_dense(&test.x), &test.y);
        // 20k test labels: the standard error of an accuracy near 0.7 is 0.003.
        assert!(acc > test.bayes_accuracy - 0.015, "accuracy {acc}, Bayes {}", test.bayes_accuracy);
        assert!(acc < test.bayes_accuracy + 0.01, "accuracy {acc} above Bayes {}", test.bayes_accuracy);
    }

    #[test]
    fn reported_training_loss_is_the_loss_of_the_network_kept() {
        // With the training set as validation set, L-BFGS's training loss (measured at the accepted
        // point) and the validation loss of the folded network are the same number up to rounding.
        let (dim, k) = (24, 6);
        let p = ClusterProblem::new(
            ClusterSpec { noise: 2.0, label_noise: 0.2, ..ClusterSpec::separable(dim, k) },
            5,
        );
        let (x, y) = p.sample(3000, 1);
        let params = EmbeddingLrParams { max_iter: 15, ..lr_params() };
        let mut seen = Vec::new();
        DenseHead::train_lr(&x, dim, &y, Some((&x, &y)), labels(k), &params, &mut |e| {
            seen.push((e.train_loss, e.valid_loss.unwrap()))
        })
        .unwrap();
        assert!(seen.len() >= 5);
        for (t, v) in seen {
            assert!((t - v).abs() < 1e-5 * t, "training loss {t}, validation loss {v}");
        }
    }

    #[test]
    fn standardising_only_preconditions_the_logistic_regression() {
        // Badly scaled features: one dimension 100× the others. The penalty is on the raw weights either
        // way, so both runs converge to the same model.
        let (dim, k) = (8, 3);
        let p = ClusterProblem::new(ClusterSpec { noise: 1.5, ..ClusterSpec::separable(dim, k) }, 2);
        let (mut x, y) = p.sample(2000, 1);
        x.chunks_exact_mut(dim).for_each(|r| r[0] *= 100.0);
        let base = EmbeddingLrParams { c: 1.0, tol: 1e-9, max_iter: 2000, ..lr_params() };
        let fit = |standardize: bool| {
            let p = EmbeddingLrParams { standardize, ..base.clone() };
            let (m, r) = DenseHead::train_lr(&x, dim, &y, None, labels(k), &p, &mut nop()).unwrap();
            (m.predict_proba_dense(&x), r.epochs_run)
        };
        let (a, steps_std) = fit(true);
        let (b, steps_raw) = fit(false);
        let worst = a.data.iter().zip(&b.data).map(|(u, v)| (u - v).abs()).fold(0.0f32, f32::max);
        // The raw run stops where f32 gradients no longer resolve its ill-conditioned objective
        // (measured: largest difference 0.002 after 460 iterations, against 33 standardised).
        assert!(worst < 5e-3, "largest probability difference {worst}");
        assert!(5 * steps_std < steps_raw, "standardised {steps_std} iterations, raw {steps_raw}");
    }

    #[test]
    fn near_constant_dimensions_do_not_stall_the_logistic_regression() {
        // The int8 MiniLM encoder gives a few dimensions that are constant up to 1e-8 (see
        // `dense::scaler`); standardising them to unit variance once left L-BFGS stuck at its starting
        // point on real embeddings. Reproduce that pattern on separable clusters with few rows per class.
        let (dim, k) = (24, 12);
        let p = ClusterProblem::new(ClusterSpec::separable(dim, k), 4);
        let (mut x, y) = p.sample(600, 1);
        let (mut vx, vy) = p.sample(300, 2);
        for (i, row) in x.chunks_exact_mut(dim).chain(vx.chunks_exact_mut(dim)).enumerate() {
            let t = i as f32;
            row[3] = -4.2e-8 + (t * 0.7).sin() * 7e-9;
            row[7] = (t * 1.3).cos() * 2e-33;
            row[11] = 0.0;
        }
        let (m, r) =
            DenseHead::train_lr(&x, dim, &y, Some((&vx, &vy)), labels(k), &lr_params(), &mut nop()).unwrap();
        let (first, last) = (r.history[0].train_loss, r.history[r.epochs_run - 1].train_loss);
        assert!(last < 0.5 * first, "training loss went from {first} to {last} in {} steps", r.epochs_run);
        let acc = accuracy(&m.predict_proba_dense(&vx), &vy);
        assert!(acc >= 0.97, "validation accuracy {acc}");
    }

    #[test]
    fn training_is_deterministic_across_thread_counts() {
        let (dim, k) = (24, 6);
        let p = ClusterProblem::new(
            ClusterSpec { noise: 2.0, label_noise: 0.2, ..ClusterSpec::separable(dim, k) },
            9,
        );
        let (x, y) = p.sample(5000, 1); // several objective blocks and mini-batch row blocks
        let (vx, vy) = p.sample(600, 2);
        let valid = Some((vx.as_slice(), vy.as_slice()));
        let history =
            |r: &TrainReport| r.history.iter().map(|e| (e.train_loss, e.valid_loss)).collect::<Vec<_>>();
        let lr = |threads| {
            let p = EmbeddingLrParams { threads, max_iter: 20, ..lr_params() };
            DenseHead::train_lr(&x, dim, &y, valid, labels(k), &p, &mut nop()).unwrap()
        };
        let (a, ra) = lr(1);
        let (b, rb) = lr(3);
        assert_eq!(a.net(), b.net(), "L-BFGS weights differ between 1 and 3 threads");
        assert_eq!(history(&ra), history(&rb));
        let mlp = |threads, seed| {
            let p = EmbeddingMlpParams { threads, seed, max_epochs: 3, hidden: 80, ..mlp_params() };
            DenseHead::train_mlp(&x, dim, &y, valid, labels(k), &p, &mut nop()).unwrap()
        };
        let (a, ra) = mlp(1, 7);
        let (b, rb) = mlp(3, 7);
        assert_eq!(a.net(), b.net(), "MLP weights differ between 1 and 3 threads");
        assert_eq!(history(&ra), history(&rb));
        let (c, _) = mlp(2, 8);
        assert_ne!(a.net(), c.net(), "another seed should initialise, shuffle and drop out differently");
    }

    #[test]
    fn early_stopping_keeps_the_best_step() {
        // Validation labels are a permutation of what training teaches: validation loss rises as soon as
        // the model learns anything.
        let (dim, k) = (24, 6);
        let (x, y, vx, vy) = separable(dim, k);
        let shifted: Vec<u32> = vy.iter().map(|&c| (c + 1) % k as u32).collect();
        let valid = Some((vx.as_slice(), shifted.as_slice()));
        let p = EmbeddingMlpParams { patience: 3, ..mlp_params() };
        let (m, r) = DenseHead::train_mlp(&x, dim, &y, valid, labels(k), &p, &mut nop()).unwrap();
        assert_eq!(r.best_epoch, 1);
        assert_eq!(r.epochs_run, 4);
        let (loss, _) = m.net().evaluate(&vx, &shifted);
        assert_eq!(loss, r.history[0].valid_loss.unwrap(), "the weights of epoch 1 were not restored");
        let p = EmbeddingLrParams { patience: 4, ..lr_params() };
        let (_, r) = DenseHead::train_lr(&x, dim, &y, valid, labels(k), &p, &mut nop()).unwrap();
        assert_eq!((r.best_epoch, r.epochs_run), (1, 5));
    }

    #[test]
    fn dropout_is_off_at_prediction() {
        let (dim, k) = (24, 6);
        let (x, y, vx, _) = separable(dim, k);
        let p = EmbeddingMlpParams { dropout: 0.5, max_epochs: 3, ..mlp_params() };
        let (m, _) = DenseHead::train_mlp(&x, dim, &y, None, labels(k), &p, &mut nop()).unwrap();
        let a = m.predict_proba_dense(&vx);
        assert_eq!(a, m.predict_proba_dense(&vx), "prediction is not deterministic");
        // The plain forward pass, in f64: no unit dropped, no 1/(1 − p) rescaling.
        let (h, o) = (m.net().hidden.as_ref().unwrap(), &m.net().output);
        for (i, row) in vx.chunks_exact(dim).enumerate().take(50) {
            let hidden: Vec<f64> = (0..h.n_out)
                .map(|j| {
                    let z = f64::from(h.b[j])
                        + (0..dim).map(|d| f64::from(row[d]) * f64::from(h.w[d * h.n_out + j])).sum::<f64>();
                    z.max(0.0)
                })
                .collect();
            let logits: Vec<f64> = (0..k)
                .map(|c| {
                    f64::from(o.b[c])
                        + hidden.iter().enumerate().map(|(j, v)| v * f64::from(o.w[j * k + c])).sum::<f64>()
                })
                .collect();
            let z: f64 = logits.iter().map(|l| l.exp()).sum();
            for (c, (&got, l)) in a.row(i).iter().zip(&logits).enumerate() {
                assert!((f64::from(got) - l.exp() / z).abs() < 1e-5, "row {i}, class {c}");
            }
        }
    }

    #[test]
    fn save_then_load_gives_identical_probabilities() {
        let (dim, k) = (24, 6);
        let (x, y, vx, vy) = separable(dim, k);
        let valid = Some((vx.as_slice(), vy.as_slice()));
        let encoder = serde_json::json!({"model": "all-MiniLM-L6-v2", "pooling": "mean", "hash": "abc"});
        let dir = tempfile::tempdir().unwrap();
        let lr = DenseHead::train_lr(&x, dim, &y, valid, labels(k), &lr_params(), &mut nop()).unwrap().0;
        let mlp = DenseHead::train_mlp(&x, dim, &y, valid, labels(k), &mlp_params(), &mut nop()).unwrap().0;
        let knn_params = EmbeddingKnnParams { k: 7, ..EmbeddingKnnParams::default() };
        let knn = DenseHead::build_knn(&x, dim, &y, labels(k), &knn_params).unwrap().0;
        for (name, head) in [("lr", &lr), ("mlp", &mlp), ("knn", &knn)] {
            let path = dir.path().join(name);
            head.save(&path, &encoder).unwrap();
            let (back, meta) = DenseHead::load(&path).unwrap();
            assert_eq!(meta, encoder);
            assert_eq!(back.predict_proba_dense(&vx), head.predict_proba_dense(&vx));
            assert_eq!(
                (back.kind(), back.labels(), back.params()),
                (head.kind(), head.labels(), head.params())
            );
            assert_eq!(crate::model_kind(&path).unwrap(), head.kind());
            // The text-classifier loader refuses it with a pointer to the right one.
            let err = crate::load_classifier(&path).err().unwrap();
            assert!(matches!(err, ClassifyError::NeedsEncoder { .. }), "{err}");
            assert!(err.to_string().contains("DenseHead::load"), "{err}");
            // Saving again over the folder works and keeps unrelated files.
            std::fs::write(path.join("pipeline.json"), b"{}").unwrap();
            head.save(&path, &encoder).unwrap();
            assert!(DenseHead::load(&path).is_ok() && path.join("pipeline.json").exists());
        }
        // One row alone gives the same probabilities as in a batch.
        for head in [&mlp, &knn] {
            let one = head.predict_proba_dense(&vx[..dim]);
            assert_eq!(one.row(0), head.predict_proba_dense(&vx).row(0));
        }
    }

    #[test]
    fn a_damaged_knn_folder_is_refused() {
        let (dim, k) = (24, 6);
        let (x, y, _, _) = separable(dim, k);
        let head = DenseHead::build_knn(&x, dim, &y, labels(k), &EmbeddingKnnParams::default()).unwrap().0;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knn");
        head.save(&path, &serde_json::Value::Null).unwrap();
        let mut manifest = Manifest::read(&path, DenseHead::KIND_KNN, 1).unwrap();
        let good_meta = manifest.meta.clone();
        // More papers than stored: the shape check names the tensor.
        manifest.meta["papers"] = serde_json::json!(y.len() + 1);
        manifest.write(&path).unwrap();
        let err = DenseHead::load(&path).unwrap_err().to_string();
        assert!(err.contains("knn.vectors") && err.contains("shape"), "{err}");
        // A kNN folder without its paper count, or relabelled as an MLP.
        manifest.meta = good_meta.clone();
        manifest.meta.as_object_mut().unwrap().remove("papers");
        manifest.write(&path).unwrap();
        assert!(DenseHead::load(&path).unwrap_err().to_string().contains("papers"));
        manifest.meta = good_meta.clone();
        manifest.kind = DenseHead::KIND_MLP.into();
        manifest.write(&path).unwrap();
        assert!(DenseHead::load(&path).unwrap_err().to_string().contains("settings"));
        // Settings that no longer validate.
        manifest.kind = DenseHead::KIND_KNN.into();
        manifest.meta = good_meta;
        manifest.meta["knn"]["k"] = serde_json::json!(0);
        manifest.write(&path).unwrap();
        assert!(DenseHead::load(&path).unwrap_err().to_string().contains("knn.k"));
    }

    #[test]
    fn damaged_foreign_or_inconsistent_folders_are_refused() {
        let (dim, k) = (24, 6);
        let (x, y, _, _) = separable(dim, k);
        let head = DenseHead::train_mlp(
            &x,
            dim,
            &y,
            None,
            labels(k),
            &EmbeddingMlpParams { max_epochs: 2, ..mlp_params() },
            &mut nop(),
        )
        .unwrap()
        .0;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("head");
        head.save(&path, &serde_json::Value::Null).unwrap();
        let load = |p: &Path| DenseHead::load(p).map(drop).map_err(|e| e.to_string());
        crate::folder::tests::assert_damaged_weights_are_refused(&path, load);

        // Metadata that disagrees with the (checksummed) tensors.
        let mut manifest = Manifest::read(&path, DenseHead::KIND_MLP, 1).unwrap();
        let good_meta = manifest.meta.clone();
        manifest.meta["hidden"] = serde_json::json!(33);
        manifest.write(&path).unwrap();
        let err = DenseHead::load(&path).unwrap_err().to_string();
        assert!(err.contains("hidden.weight") && err.contains("shape"), "{err}");
        // An MLP folder relabelled as a logistic regression.
        manifest.meta = good_meta;
        manifest.kind = DenseHead::KIND_LR.into();
        manifest.write(&path).unwrap();
        let err = DenseHead::load(&path).unwrap_err().to_string();
        assert!(err.contains("settings"), "{err}");
        // A foreign kind, and a newer format version.
        manifest.kind = crate::TfidfLinearModel::KIND.into();
        manifest.write(&path).unwrap();
        let err = DenseHead::load(&path).unwrap_err().to_string();
        assert!(err.contains("tfidf-linear") && err.contains("embedding-lr"), "{err}");
        manifest.kind = DenseHead::KIND_MLP.into();
        manifest.format_version = DenseHead::FORMAT_VERSION + 1;
        manifest.write(&path).unwrap();
        let err = DenseHead::load(&path).unwrap_err().to_string();
        assert!(err.contains("not supported"), "{err}");
        // No manifest at all.
        let err = DenseHead::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not an arxiv-atlas artifact"), "{err}");
    }

    #[test]
    fn bad_inputs_and_settings_are_refused() {
        let (dim, k) = (4, 2);
        let x = vec![0.5f32; 10 * dim];
        let y = vec![0u32, 1, 0, 1, 0, 1, 0, 1, 0, 1];
        let lr = |x: &[f32], y: &[u32], valid, p: &EmbeddingLrParams| {
            DenseHead::train_lr(x, dim, y, valid, labels(k), p, &mut nop())
        };
        let data_err = |r: Result<(DenseHead, TrainReport), ClassifyError>| {
            matches!(r, Err(ClassifyError::InvalidData(_)))
        };
        let p = lr_params();
        assert!(lr(&x, &y, None, &p).is_ok());
        assert!(data_err(lr(&x[..9 * dim + 1], &y[..9], None, &p)), "rows that do not match the labels");
        assert!(data_err(lr(&x, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 2], None, &p)), "a label out of range");
        let mut nan = x.clone();
        nan[13] = f32::NAN;
        assert!(data_err(lr(&nan, &y, None, &p)), "a NaN embedding");
        assert!(data_err(lr(&[], &[], None, &p)), "no examples");
        assert!(data_err(lr(&x, &y, Some((&x[..dim], &y[..2])), &p)), "a mismatched validation set");
        assert!(data_err(DenseHead::train_lr(&x, 0, &[], None, labels(k), &p, &mut nop())), "dimension 0");
        let bad_labels = Labels { codes: vec!["a".into()], names: vec![] };
        assert!(data_err(DenseHead::train_lr(&x, dim, &y, None, bad_labels, &p, &mut nop())));
        let param_err = |r: Result<(DenseHead, TrainReport), ClassifyError>| {
            matches!(r, Err(ClassifyError::InvalidParams(_)))
        };
        for bad in [
            EmbeddingLrParams { c: 0.0, ..lr_params() },
            EmbeddingLrParams { max_iter: 0, ..lr_params() },
            EmbeddingLrParams { history: 0, ..lr_params() },
            EmbeddingLrParams { tol: f64::NAN, ..lr_params() },
        ] {
            assert!(param_err(lr(&x, &y, None, &bad)), "{bad:?}");
        }
        let mlp = |p: &EmbeddingMlpParams| DenseHead::train_mlp(&x, dim, &y, None, labels(k), p, &mut nop());
        for bad in [
            EmbeddingMlpParams { hidden: 0, ..mlp_params() },
            EmbeddingMlpParams { dropout: 1.0, ..mlp_params() },
            EmbeddingMlpParams { learning_rate: -1.0, ..mlp_params() },
            EmbeddingMlpParams { batch_size: 0, ..mlp_params() },
        ] {
            assert!(param_err(mlp(&bad)), "{bad:?}");
        }
        // A diverging step size is reported, not turned into NaN weights.
        let wild = EmbeddingMlpParams { learning_rate: 1e30, max_epochs: 3, ..mlp_params() };
        let (x2, y2, _, _) = separable(24, 6);
        let err = DenseHead::train_mlp(&x2, 24, &y2, None, labels(6), &wild, &mut nop());
        assert!(param_err(err), "diverging training was not reported");
    }

    #[test]
    #[should_panic(expected = "not rows of")]
    fn predicting_rows_of_the_wrong_width_panics() {
        let (x, y, _, _) = separable(24, 6);
        let head = DenseHead::train_lr(
            &x,
            24,
            &y,
            None,
            labels(6),
            &EmbeddingLrParams { max_iter: 2, ..lr_params() },
            &mut nop(),
        )
        .unwrap()
        .0;
        head.predict_proba_dense(&x[..30]);
    }
}
