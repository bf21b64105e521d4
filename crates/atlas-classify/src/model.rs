//! The TF-IDF + softmax-regression classifier: training, prediction and its model folder.
//!
//! A model folder holds
//! - `vocabulary.txt`: one term per line, line `i` is feature `i`;
//! - `weights.safetensors`: `weight` `[n_features × n_classes]`, `bias` `[n_classes]`, `idf` `[n_features]`
//!   (all `f32`);
//! - `manifest.json`: kind `arxiv-atlas/tfidf-linear`, format version, SHA-256 of both files, and in `meta`
//!   the labels and the TF-IDF / linear settings.
//!
//! Other files in the folder (e.g. the CLI's `pipeline.json`) are left alone.

use std::path::Path;
use std::time::Instant;

use atlas_artifact::{IoContext, Manifest, MANIFEST_FILE};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;
use crate::folder::{self, check_labels, WEIGHTS_FILE};
use crate::labels::{Labels, Probabilities};
use crate::params::{LinearParams, TfidfParams};
use crate::softmax::SoftmaxRegression;
use crate::tensors::{self, TensorFile, TensorRef};
use crate::tfidf::TfidfVectorizer;
use crate::train::{in_pool, sigmoid, EpochStats, Targets};
use crate::Classifier;

const VOCAB_FILE: &str = "vocabulary.txt";

/// Below this many texts `predict_proba` stays on the calling thread: handing one text to the thread pool
/// costs more than transforming it.
const SEQUENTIAL_BELOW: usize = 8;

/// What training did and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Seconds spent fitting the vectoriser and transforming the training (and validation) texts (0 for
    /// the embedding heads of [`crate::DenseHead`], whose caller embeds the texts).
    pub vectorize_s: f64,
    /// Seconds spent fitting the linear model (all epochs, validation passes included).
    pub fit_s: f64,
    /// Number of input features: TF-IDF terms, or the embedding dimension of a [`crate::DenseHead`].
    pub n_features: usize,
    /// Epochs run (L-BFGS iterations for an L-BFGS-fitted head).
    pub epochs_run: usize,
    /// Epoch whose weights were kept (lowest validation loss; the last epoch without validation data).
    pub best_epoch: usize,
    /// Figures of every epoch.
    pub history: Vec<EpochStats>,
}

/// What `manifest.json`'s `meta` holds for this kind.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    labels: Labels,
    tfidf: TfidfParams,
    linear: LinearParams,
    n_features: usize,
    n_classes: usize,
}

/// A trained TF-IDF + multinomial logistic regression classifier, or its one-vs-rest (multi-label) twin
/// (see [`TfidfLinearModel::train_one_vs_rest`]).
#[derive(Debug, Clone)]
pub struct TfidfLinearModel {
    vectorizer: TfidfVectorizer,
    regression: SoftmaxRegression,
    labels: Labels,
    linear: LinearParams,
    /// Independent sigmoids per class instead of one softmax (kind [`TfidfLinearModel::KIND_MULTILABEL`]).
    pub(crate) one_vs_rest: bool,
}

impl TfidfLinearModel {
    /// The manifest kind of this model's folders.
    pub const KIND: &'static str = "arxiv-atlas/tfidf-linear";
    /// The manifest kind of one-vs-rest (multi-label) models: the same folder format, read through sigmoids.
    pub const KIND_MULTILABEL: &'static str = "arxiv-atlas/tfidf-multilabel";
    /// The newest folder format this build writes and reads.
    pub const FORMAT_VERSION: u32 = 1;

    /// Fits the vectoriser on `train`, then the linear model on its TF-IDF rows, early-stopping on `valid`
    /// when given. `train_y[i]` is the class id (index into `labels`) of `train[i]`. `observer` sees every
    /// epoch's figures (on the calling thread).
    pub fn train(
        train: &[&str],
        train_y: &[u32],
        valid: Option<(&[&str], &[u32])>,
        labels: Labels,
        tfidf: &TfidfParams,
        linear: &LinearParams,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<(Self, TrainReport), ClassifyError> {
        let valid = valid.map(|(v, vy)| (v, Targets::Single(vy)));
        Self::train_targets(train, Targets::Single(train_y), valid, labels, tfidf, linear, observer)
    }

    /// [`TfidfLinearModel::train`] for either kind of targets.
    pub(crate) fn train_targets(
        train: &[&str],
        train_y: Targets<'_>,
        valid: Option<(&[&str], Targets<'_>)>,
        labels: Labels,
        tfidf: &TfidfParams,
        linear: &LinearParams,
        observer: &mut dyn FnMut(&EpochStats),
    ) -> Result<(Self, TrainReport), ClassifyError> {
        check_labels(&labels)?;
        if train.len() != train_y.len() {
            return Err(ClassifyError::InvalidData(format!(
                "{} training texts but {} labels",
                train.len(),
                train_y.len()
            )));
        }
        if let Some((v, vy)) = valid {
            if v.len() != vy.len() {
                return Err(ClassifyError::InvalidData(format!(
                    "{} validation texts but {} labels",
                    v.len(),
                    vy.len()
                )));
            }
        }
        // threads = 0 uses rayon's global pool (all cores) rather than building a second one.
        let pool = match linear.threads {
            0 => None,
            n => Some(rayon::ThreadPoolBuilder::new().num_threads(n).build()?),
        };
        let pool = pool.as_ref();

        let t0 = Instant::now();
        let (vectorizer, x) = in_pool(pool, || TfidfVectorizer::fit_transform(train, tfidf))?;
        let valid_x = valid.map(|(v, vy)| (in_pool(pool, || vectorizer.transform(v)), vy));
        let vectorize_s = t0.elapsed().as_secs_f64();
        tracing::info!(
            "TF-IDF: {} features, {} non-zeros over {} training texts ({vectorize_s:.1}s)",
            vectorizer.n_features(),
            x.nnz(),
            x.n_rows()
        );

        let t1 = Instant::now();
        let valid_ref = valid_x.as_ref().map(|(vx, vy)| (vx, *vy));
        let (regression, summary) =
            SoftmaxRegression::fit_targets_in(pool, &x, train_y, labels.len(), valid_ref, linear, observer)?;
        let fit_s = t1.elapsed().as_secs_f64();
        let report = TrainReport {
            vectorize_s,
            fit_s,
            n_features: vectorizer.n_features(),
            epochs_run: summary.epochs_run,
            best_epoch: summary.best_epoch,
            history: summary.history,
        };
        let one_vs_rest = matches!(train_y, Targets::Multi(_));
        Ok((TfidfLinearModel { vectorizer, regression, labels, linear: linear.clone(), one_vs_rest }, report))
    }

    /// Assembles a model from its parts (shapes must agree).
    pub fn from_parts(
        vectorizer: TfidfVectorizer,
        regression: SoftmaxRegression,
        labels: Labels,
        linear: LinearParams,
    ) -> Result<Self, ClassifyError> {
        check_labels(&labels)?;
        if regression.n_features() != vectorizer.n_features() || regression.n_classes() != labels.len() {
            return Err(ClassifyError::InvalidData(format!(
                "a {}-feature × {}-class linear model does not fit {} TF-IDF features and {} labels",
                regression.n_features(),
                regression.n_classes(),
                vectorizer.n_features(),
                labels.len()
            )));
        }
        Ok(TfidfLinearModel { vectorizer, regression, labels, linear, one_vs_rest: false })
    }

    /// The fitted vectoriser.
    pub fn vectorizer(&self) -> &TfidfVectorizer {
        &self.vectorizer
    }

    /// The linear model.
    pub fn regression(&self) -> &SoftmaxRegression {
        &self.regression
    }

    /// The settings the linear model was trained with.
    pub fn linear_params(&self) -> &LinearParams {
        &self.linear
    }

    /// Writes the model into `dir` (created if needed). Every file is written atomically and the manifest
    /// last, so an interrupted save leaves a folder that [`TfidfLinearModel::load`] refuses.
    pub fn save(&self, dir: &Path) -> Result<(), ClassifyError> {
        let (d, k) = (self.regression.n_features(), self.regression.n_classes());
        let meta = Meta {
            labels: self.labels.clone(),
            tfidf: self.vectorizer.params().clone(),
            linear: self.linear.clone(),
            n_features: d,
            n_classes: k,
        };
        folder::save(dir, self.kind(), Self::FORMAT_VERSION, &[VOCAB_FILE, WEIGHTS_FILE], &meta, || {
            atlas_artifact::write_atomic_with(&dir.join(VOCAB_FILE), |w| {
                for term in self.vectorizer.terms() {
                    w.write_all(term.as_bytes())?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            })?;
            tensors::write_f32(
                &dir.join(WEIGHTS_FILE),
                &[
                    TensorRef { name: "weight", shape: vec![d, k], data: self.regression.weights() },
                    TensorRef { name: "bias", shape: vec![k], data: self.regression.bias() },
                    TensorRef { name: "idf", shape: vec![d], data: self.vectorizer.idf() },
                ],
            )
        })
    }

    /// Loads a model folder written by [`TfidfLinearModel::save`], verifying every checksum first. Refuses
    /// folders of another kind, of a newer format version, and damaged or incomplete ones.
    /// Folders of kind [`TfidfLinearModel::KIND_MULTILABEL`] load as one-vs-rest models.
    pub fn load(dir: &Path) -> Result<Self, ClassifyError> {
        let one_vs_rest = Manifest::peek_kind(dir, Self::KIND)? == Self::KIND_MULTILABEL;
        let kind = if one_vs_rest { Self::KIND_MULTILABEL } else { Self::KIND };
        let meta: Meta =
            folder::open(dir, kind, Self::FORMAT_VERSION, &[VOCAB_FILE, WEIGHTS_FILE], |m: &Meta| &m.labels)?;
        let vocab_path = dir.join(VOCAB_FILE);
        let vocab = std::fs::read(&vocab_path).io_context("read", &vocab_path)?;
        let vocab = String::from_utf8(vocab)
            .map_err(|e| ClassifyError::format(&vocab_path, format!("not UTF-8 text: {e}")))?;
        let terms: Vec<String> = vocab.lines().map(str::to_string).collect();

        let mut weights = TensorFile::read(&dir.join(WEIGHTS_FILE))?;
        let (d, k) = (meta.n_features, meta.n_classes);
        let weight = weights.take("weight", &[d, k])?;
        let bias = weights.take("bias", &[k])?;
        let idf = weights.take("idf", &[d])?;
        if terms.len() != d {
            return Err(ClassifyError::format(
                &vocab_path,
                format!("{} terms, the model has {d} features", terms.len()),
            ));
        }
        let vectorizer = TfidfVectorizer::from_parts(terms, idf, &meta.tfidf)
            .map_err(|e| ClassifyError::format(&vocab_path, e))?;
        let regression = SoftmaxRegression::from_parts(d, k, weight, bias)
            .map_err(|e| ClassifyError::format(weights.path(), e))?;
        let model = Self::from_parts(vectorizer, regression, meta.labels, meta.linear)
            .map_err(|e| ClassifyError::format(&dir.join(MANIFEST_FILE), e))?;
        Ok(TfidfLinearModel { one_vs_rest, ..model })
    }
}

impl Classifier for TfidfLinearModel {
    fn kind(&self) -> &str {
        if self.one_vs_rest {
            Self::KIND_MULTILABEL
        } else {
            Self::KIND
        }
    }

    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn explain_terms(
        &self,
        text: &str,
        classes: &[usize],
        top: usize,
    ) -> Option<Vec<Vec<crate::TermContribution>>> {
        Some(self.explain(text, classes, top))
    }

    fn predict_proba(&self, texts: &[&str]) -> Probabilities {
        let k = self.regression.n_classes();
        let mut data = vec![0.0f32; texts.len() * k];
        let one = |(text, out): (&&str, &mut [f32])| {
            let (idx, val) = self.vectorizer.transform_one(text);
            if self.one_vs_rest {
                self.regression.logits_into(&idx, &val, out);
                out.iter_mut().for_each(|z| *z = sigmoid(*z));
            } else {
                self.regression.proba_into(&idx, &val, out);
            }
        };
        if texts.len() < SEQUENTIAL_BELOW {
            texts.iter().zip(data.chunks_mut(k)).for_each(one);
        } else {
            texts.par_iter().zip(data.par_chunks_mut(k)).with_min_len(16).for_each(one);
        }
        Probabilities { n_classes: k, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atlas_artifact::Manifest;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Texts of `k` topics: each draws words from its own 12-word vocabulary plus shared filler words, so
    /// the topics are separable by word content.
    fn topic_texts(n: usize, k: usize, seed: u64) -> (Vec<String>, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let filler = ["the", "of", "we", "results", "method", "paper", "show"];
        let mut texts = Vec::new();
        let mut y = Vec::new();
        for _ in 0..n {
            let c = rng.random_range(0..k);
            let mut words: Vec<String> =
                (0..6).map(|_| format!("topic{c}word{}", rng.random_range(0..12))).collect();
            words.extend((0..5).map(|_| filler[rng.random_range(0..filler.len())].to_string()));
            // Shuffle so bigrams mix topic and filler words.
            for i in (1..words.len()).rev() {
                words.swap(i, rng.random_range(0..=i));
            }
            texts.push(format!("Title {} [SEP] {}.", words[0], words[1..].join(" ")));
            y.push(c as u32);
        }
        (texts, y)
    }

    fn labels(k: usize) -> Labels {
        Labels {
            codes: (0..k).map(|c| format!("t.{c}")).collect(),
            names: (0..k).map(|c| format!("Topic {c}")).collect(),
        }
    }

    fn small_params() -> (TfidfParams, LinearParams) {
        let tfidf = TfidfParams { min_df: 1, max_features: Some(5_000), ..TfidfParams::default() };
        let linear = LinearParams { epochs: 8, batch_size: 16, threads: 2, ..LinearParams::default() };
        (tfidf, linear)
    }

    fn train(seed: u64) -> (TfidfLinearModel, TrainReport, Vec<String>, Vec<u32>) {
        let (texts, y) = topic_texts(400, 4, 1);
        let (vtexts, vy) = topic_texts(100, 4, 2);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let vrefs: Vec<&str> = vtexts.iter().map(String::as_str).collect();
        let (tfidf, mut linear) = small_params();
        linear.seed = seed;
        let mut epochs = Vec::new();
        let (m, r) =
            TfidfLinearModel::train(&refs, &y, Some((&vrefs, &vy)), labels(4), &tfidf, &linear, &mut |e| {
                epochs.push(e.epoch)
            })
            .unwrap();
        assert_eq!(epochs, (1..=r.epochs_run).collect::<Vec<_>>());
        (m, r, vtexts, vy)
    }

    fn accuracy(p: &Probabilities, y: &[u32]) -> f64 {
        p.argmax().iter().zip(y).filter(|(a, b)| **a == **b as usize).count() as f64 / y.len() as f64
    }

    #[test]
    fn separable_topics_are_classified_and_probabilities_are_normalised() {
        let (m, r, vtexts, vy) = train(42);
        let refs: Vec<&str> = vtexts.iter().map(String::as_str).collect();
        let p = m.predict_proba(&refs);
        assert_eq!(p.len(), refs.len());
        assert!(accuracy(&p, &vy) >= 0.99, "accuracy {}", accuracy(&p, &vy));
        for i in 0..p.len() {
            assert!((p.row(i).iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
        assert_eq!(r.n_features, m.vectorizer().n_features());
        assert!(r.best_epoch >= 1 && r.best_epoch <= r.epochs_run);
        assert_eq!(m.kind(), TfidfLinearModel::KIND);
        // A single text goes through the sequential path and gives the same row as in a batch.
        let one = m.predict_proba(&refs[..1]);
        assert_eq!(one.row(0), p.row(0));
        // An empty text still yields a distribution.
        let empty = m.predict_proba(&[""]);
        assert!((empty.row(0).iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn training_is_deterministic_for_a_fixed_seed() {
        let (a, ra, vtexts, _) = train(7);
        let (b, rb, _, _) = train(7);
        let refs: Vec<&str> = vtexts.iter().map(String::as_str).collect();
        assert_eq!(a.regression(), b.regression());
        assert_eq!(a.predict_proba(&refs), b.predict_proba(&refs));
        let losses =
            |r: &TrainReport| r.history.iter().map(|e| (e.train_loss, e.valid_loss)).collect::<Vec<_>>();
        assert_eq!(losses(&ra), losses(&rb));
    }

    #[test]
    fn save_then_load_gives_identical_probabilities() {
        let (m, _, vtexts, _) = train(42);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        m.save(&path).unwrap();
        let back = TfidfLinearModel::load(&path).unwrap();
        let refs: Vec<&str> = vtexts.iter().map(String::as_str).collect();
        assert_eq!(back.predict_proba(&refs), m.predict_proba(&refs));
        assert_eq!(back.labels(), m.labels());
        assert_eq!(back.vectorizer().terms(), m.vectorizer().terms());
        assert_eq!(back.linear_params(), m.linear_params());
        // Through the kind-dispatching loader too.
        let dynamic = crate::load_classifier(&path).unwrap();
        assert_eq!(dynamic.kind(), TfidfLinearModel::KIND);
        assert_eq!(dynamic.predict_proba(&refs), m.predict_proba(&refs));
        // Saving again over the same folder works and keeps unrelated files.
        std::fs::write(path.join("pipeline.json"), b"{}").unwrap();
        m.save(&path).unwrap();
        assert!(TfidfLinearModel::load(&path).is_ok());
        assert!(path.join("pipeline.json").exists());
    }

    #[test]
    fn damaged_foreign_or_newer_folders_are_refused() {
        let (m, _, _, _) = train(42);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        m.save(&path).unwrap();
        let load = |p: &Path| TfidfLinearModel::load(p).map(drop).map_err(|e| e.to_string());
        crate::folder::tests::assert_damaged_weights_are_refused(&path, load);
        // The kind-dispatching loader verifies the checksums too.
        let weights = path.join(WEIGHTS_FILE);
        let original = std::fs::read(&weights).unwrap();
        std::fs::write(&weights, &original[..original.len() / 2]).unwrap();
        let err = crate::load_classifier(&path).err().unwrap().to_string();
        assert!(err.contains(WEIGHTS_FILE) && err.contains("size"), "{err}");
        std::fs::write(&weights, &original).unwrap();

        // A folder of another kind.
        let mut manifest = Manifest::read(&path, TfidfLinearModel::KIND, 1).unwrap();
        manifest.kind = "arxiv-atlas/dataset".into();
        manifest.write(&path).unwrap();
        let err = TfidfLinearModel::load(&path).unwrap_err().to_string();
        assert!(err.contains("arxiv-atlas/dataset"), "{err}");
        let err = crate::load_classifier(&path).err().unwrap();
        assert!(matches!(err, ClassifyError::UnknownKind { .. }), "{err}");
        // A newer format version.
        manifest.kind = TfidfLinearModel::KIND.into();
        manifest.format_version = TfidfLinearModel::FORMAT_VERSION + 1;
        manifest.write(&path).unwrap();
        let err = TfidfLinearModel::load(&path).unwrap_err().to_string();
        assert!(err.contains("not supported"), "{err}");
        // No manifest at all.
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = crate::load_classifier(&empty).err().unwrap().to_string();
        assert!(err.contains("not an arxiv-atlas artifact"), "{err}");
    }

    #[test]
    fn checksummed_but_inconsistent_files_are_refused() {
        let (m, _, _, _) = train(42);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        m.save(&path).unwrap();
        // Drop the last vocabulary line and re-record the checksum: the count no longer matches the weights.
        let vocab = std::fs::read_to_string(path.join(VOCAB_FILE)).unwrap();
        let lines: Vec<&str> = vocab.lines().collect();
        std::fs::write(path.join(VOCAB_FILE), lines[..lines.len() - 1].join("\n")).unwrap();
        let mut manifest = Manifest::read(&path, TfidfLinearModel::KIND, 1).unwrap();
        manifest.add_file(&path, VOCAB_FILE).unwrap();
        manifest.write(&path).unwrap();
        let err = TfidfLinearModel::load(&path).unwrap_err().to_string();
        assert!(err.contains(VOCAB_FILE) && err.contains("features"), "{err}");
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let (tfidf, linear) = small_params();
        let texts = ["alpha beta", "gamma delta"];
        let mut nop = |_: &EpochStats| {};
        let err = TfidfLinearModel::train(&texts, &[0], None, labels(2), &tfidf, &linear, &mut nop);
        assert!(matches!(err, Err(ClassifyError::InvalidData(_))));
        let bad_labels = Labels { codes: vec!["a".into()], names: vec![] };
        let err = TfidfLinearModel::train(&texts, &[0, 0], None, bad_labels, &tfidf, &linear, &mut nop);
        assert!(matches!(err, Err(ClassifyError::InvalidData(_))));
        let err = TfidfLinearModel::train(&texts, &[0, 5], None, labels(2), &tfidf, &linear, &mut nop);
        assert!(matches!(err, Err(ClassifyError::InvalidData(_))));
    }
}
