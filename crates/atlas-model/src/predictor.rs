//! [`LoadedModel`]: a model folder opened, verified and ready to predict.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use atlas_classify::{Classifier, DenseHead, Labels, Probabilities};
use atlas_embed::EmbeddingCache;
use atlas_encoder::{Encoder, SavedEncoder};

use crate::folder::{
    read_calibration, read_pipeline_meta, read_thresholds, resolve_model_folder, PipelineMeta,
};
use crate::PredictorError;

/// Set to `off` (or `0`, `false`) to serve every text through the encoder instead of the embedding cache:
/// benchmarks that cycle a few bodies would otherwise measure the cache, not the model.
pub const EMBED_CACHE_ENV: &str = "ARXIV_ATLAS_EMBED_CACHE";

/// Texts a single [`Predictor::predict`] call embeds before it shows a progress bar.
const PROGRESS_ABOVE: usize = 1000;

/// Texts embedded (and cached) per chunk inside one prediction.
const EMBED_CHUNK: usize = 1024;

/// How to open a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// ONNX Runtime sessions of an embedding classifier's encoder, running calls side by side (one per
    /// inference worker of a server).
    pub sessions: usize,
    /// Read and fill the embedding cache when predicting with an embedding classifier.
    pub embed_cache: bool,
}

impl Default for LoadOptions {
    /// One session; the cache on unless [`EMBED_CACHE_ENV`] turns it off.
    fn default() -> Self {
        let off = std::env::var(EMBED_CACHE_ENV).is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false"));
        LoadOptions { sessions: 1, embed_cache: !off }
    }
}

/// Turns texts into class probabilities, whatever the model family.
pub enum Predictor {
    /// A classifier that reads text itself (TF-IDF).
    Text(Box<dyn Classifier>),
    /// A head on frozen sentence embeddings; texts go through the encoder (and its cache) first.
    Embedding {
        /// The encoder the head was trained on (checked by embedding id at load). Shared, so a server can
        /// use the same loaded encoder for `/v1/embed` and search.
        encoder: Arc<Encoder>,
        /// The classifier head.
        head: Box<DenseHead>,
        /// Vectors of texts seen before.
        cache: Option<Mutex<EmbeddingCache>>,
    },
    /// Several calibrated models stacked by a combiner (`experiment=ensemble`).
    Ensemble(Box<crate::Ensemble>),
}

impl std::fmt::Debug for Predictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictor").field("kind", &self.kind()).finish_non_exhaustive()
    }
}

impl Predictor {
    /// The label set.
    pub fn labels(&self) -> &Labels {
        match self {
            Predictor::Text(c) => c.labels(),
            Predictor::Embedding { head, .. } => head.labels(),
            Predictor::Ensemble(e) => &e.labels,
        }
    }

    /// Model kind (`arxiv-atlas/tfidf-linear`, `arxiv-atlas/embedding-lr` …).
    pub fn kind(&self) -> &str {
        match self {
            Predictor::Text(c) => c.kind(),
            Predictor::Embedding { head, .. } => head.kind(),
            Predictor::Ensemble(_) => crate::ENSEMBLE_KIND,
        }
    }

    /// The sentence encoder inside an embedding classifier, or inside an ensemble's first embedding part
    /// (`None` for TF-IDF models).
    pub fn encoder(&self) -> Option<&Arc<Encoder>> {
        match self {
            Predictor::Embedding { encoder, .. } => Some(encoder),
            Predictor::Text(_) => None,
            Predictor::Ensemble(e) => e.parts.iter().find_map(|p| p.predictor.encoder()),
        }
    }

    /// The encoder for changing its settings (batch limits) before it is shared; `None` for TF-IDF models or
    /// once the encoder has been shared.
    pub fn encoder_mut(&mut self) -> Option<&mut Encoder> {
        match self {
            Predictor::Embedding { encoder, .. } => Arc::get_mut(encoder),
            Predictor::Text(_) => None,
            Predictor::Ensemble(e) => e.parts.iter_mut().find_map(|p| p.predictor.encoder_mut()),
        }
    }

    /// For each class of `classes`, the at most `top` terms of `text` (rendered with the template) that
    /// raised its score most (TF-IDF value × weight), largest first: from the TF-IDF model, or an ensemble's
    /// TF-IDF part; `None` for a model without one.
    pub fn explain_terms(
        &self,
        text: &str,
        classes: &[usize],
        top: usize,
    ) -> Option<Vec<Vec<atlas_classify::TermContribution>>> {
        match self {
            Predictor::Text(c) => c.explain_terms(text, classes, top),
            Predictor::Embedding { .. } => None,
            Predictor::Ensemble(e) => {
                e.parts.iter().find_map(|p| p.predictor.explain_terms(text, classes, top))
            }
        }
    }

    /// Probabilities of every class for each text (texts already rendered with the model's template).
    pub fn predict(&self, texts: &[String]) -> Result<Probabilities, PredictorError> {
        match self {
            Predictor::Text(c) => {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok(c.predict_proba(&refs))
            }
            Predictor::Embedding { encoder, head, cache } => {
                Ok(head.predict_proba_dense(&embed_cached(encoder, cache.as_ref(), texts)?))
            }
            Predictor::Ensemble(e) => e.predict(texts),
        }
    }

    /// The sentence vectors (row-major, the encoder's width) of texts rendered with the model's template,
    /// through the embedding cache as [`Predictor::predict`] does (so vectors of texts just classified come
    /// from the cache): from the embedding head's encoder, or an ensemble's embedding part's; `None` for a
    /// model without an encoder.
    pub fn embed(&self, texts: &[String]) -> Result<Option<Vec<f32>>, PredictorError> {
        match self {
            Predictor::Embedding { encoder, cache, .. } => {
                Ok(Some(embed_cached(encoder, cache.as_ref(), texts)?))
            }
            Predictor::Text(_) => Ok(None),
            Predictor::Ensemble(e) => {
                for part in &e.parts {
                    if let Some(v) = part.predictor.embed(texts)? {
                        return Ok(Some(v));
                    }
                }
                Ok(None)
            }
        }
    }
}

/// Vectors of `texts` from `encoder`, read from and added to `cache` when there is one.
fn embed_cached(
    encoder: &Encoder,
    cache: Option<&Mutex<EmbeddingCache>>,
    texts: &[String],
) -> Result<Vec<f32>, PredictorError> {
    // A poisoned lock only means another thread panicked mid-write; the SQLite cache itself is
    // transactional, so it is still safe to use.
    let mut guard = cache.map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
    let pb = (texts.len() > PROGRESS_ABOVE)
        .then(|| atlas_embed::job::progress_bar(texts.len() as u64, "embedding"));
    let (x, _) =
        atlas_embed::embed_texts_cached(encoder, guard.as_deref_mut(), texts, EMBED_CHUNK, pb.as_ref())?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    Ok(x)
}

/// A loaded model: the predictor and the pipeline that feeds it.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model folder it was loaded from.
    pub dir: PathBuf,
    /// The model (checksums verified on load).
    pub predictor: Predictor,
    /// Template and provenance.
    pub pipeline: PipelineMeta,
    /// Temperature and conformal scores (`None`: a model calibrated by no one; temperature 1, no sets).
    pub calibration: Option<atlas_calibrate::Calibration>,
    /// Per-class thresholds of a multi-label model, chosen on validation (`None` for single-label models).
    pub thresholds: Option<atlas_calibrate::LabelThresholds>,
}

impl LoadedModel {
    /// Opens a run folder or model folder, verifying every checksum.
    pub fn open(path: &Path, opts: &LoadOptions) -> Result<Self, PredictorError> {
        let dir = resolve_model_folder(path)?;
        let classifier_err = |source| PredictorError::Classifier { dir: dir.clone(), source };
        let kind = atlas_classify::model_kind(&dir).map_err(classifier_err)?;
        let predictor = if kind == crate::ENSEMBLE_KIND {
            Predictor::Ensemble(Box::new(crate::ensemble::load_ensemble(&dir, opts)?))
        } else if kind.starts_with("arxiv-atlas/embedding-") {
            load_embedding_predictor(&dir, opts)?
        } else {
            Predictor::Text(atlas_classify::load_classifier(&dir).map_err(classifier_err)?)
        };
        let pipeline = read_pipeline_meta(&dir, predictor.kind())?;
        let calibration = read_calibration(&dir)?;
        let thresholds = read_thresholds(&dir)?;
        Ok(LoadedModel { dir, predictor, pipeline, calibration, thresholds })
    }

    /// The folder of the model's embedding head: the model folder of an embedding model, the embedding
    /// part's folder of an ensemble; `None` for a model without one (TF-IDF). Files the head was saved with
    /// (e.g. its training papers for explanations) live there.
    pub fn embedding_head_dir(&self) -> Option<PathBuf> {
        match &self.predictor {
            Predictor::Embedding { .. } => Some(self.dir.clone()),
            Predictor::Text(_) => None,
            Predictor::Ensemble(e) => e
                .parts
                .iter()
                .find(|p| matches!(p.predictor, Predictor::Embedding { .. }))
                .map(|p| crate::ensemble_part_dir(&self.dir, &p.name)),
        }
    }

    /// The temperature the model's probabilities are scaled by (1 without a calibration).
    pub fn temperature(&self) -> f64 {
        self.calibration.as_ref().map_or(1.0, |c| c.temperature)
    }

    /// Calibrated class probabilities of texts (already rendered with the template): the predictor's
    /// probabilities scaled by the model's temperature.
    pub fn predict(&self, texts: &[String]) -> Result<Probabilities, PredictorError> {
        let mut probs = self.predictor.predict(texts)?;
        atlas_calibrate::apply_temperature(&mut probs.data, probs.n_classes, self.temperature());
        Ok(probs)
    }

    /// The conformal category set of every row of calibrated `probs` at `coverage` (e.g. 0.9), most probable
    /// class first; [`PredictorError::NotCalibrated`] when the model has no conformal calibration.
    pub fn category_sets(
        &self,
        probs: &Probabilities,
        coverage: f64,
    ) -> Result<Vec<Vec<usize>>, PredictorError> {
        let conformal = self
            .calibration
            .as_ref()
            .and_then(|c| c.conformal.as_ref())
            .ok_or_else(|| PredictorError::NotCalibrated { dir: self.dir.clone() })?;
        Ok(conformal.sets(&probs.data, probs.n_classes, coverage)?)
    }

    /// The label set of every row of `probs` (from [`LoadedModel::predict`]): the classes at or above their
    /// thresholds plus the top class, most probable first; `None` for a model without thresholds (a
    /// single-label model).
    pub fn label_sets(&self, probs: &Probabilities) -> Option<Vec<Vec<usize>>> {
        Some(self.thresholds.as_ref()?.sets(&probs.data, probs.n_classes))
    }

    /// The model's input texts of `papers` (rendered with its template).
    pub fn texts_for<'a>(&self, papers: impl Iterator<Item = &'a atlas_corpus::Paper>) -> Vec<String> {
        papers.map(|p| p.text(&self.pipeline.template)).collect()
    }

    /// Calibrated class probabilities of `papers`, one row each.
    pub fn predict_papers<'a>(
        &self,
        papers: impl Iterator<Item = &'a atlas_corpus::Paper>,
    ) -> Result<Probabilities, PredictorError> {
        self.predict(&self.texts_for(papers))
    }

    /// The predictor's own (uncalibrated) class probabilities of `papers`, one row each: what a calibration
    /// is fitted on and compared with.
    pub fn predict_papers_uncalibrated<'a>(
        &self,
        papers: impl Iterator<Item = &'a atlas_corpus::Paper>,
    ) -> Result<Probabilities, PredictorError> {
        self.predictor.predict(&self.texts_for(papers))
    }

    /// A version string for answers and logs: `experiment@run_id`, or the experiment alone.
    pub fn version(&self) -> String {
        let p = &self.pipeline;
        if p.run_id.is_empty() {
            p.experiment.clone()
        } else {
            format!("{}@{}", p.experiment, p.run_id)
        }
    }
}

/// Rebuilds the encoder an embedding head was trained with, and checks it produces the same vector space.
fn load_embedding_predictor(dir: &Path, opts: &LoadOptions) -> Result<Predictor, PredictorError> {
    let classifier_err = |source| PredictorError::Classifier { dir: dir.to_path_buf(), source };
    let (head, meta) = DenseHead::load(dir).map_err(classifier_err)?;
    let saved: SavedEncoder = serde_json::from_value(meta)
        .map_err(|source| PredictorError::Json { path: dir.join(atlas_artifact::MANIFEST_FILE), source })?;
    let encoder = saved.spec_in(dir).load(&saved.template, opts.sessions)?;
    let got = encoder.embedding_id()?;
    if got != saved.embedding_id {
        return Err(PredictorError::EncoderMismatch {
            dir: dir.to_path_buf(),
            want: saved.embedding_id,
            got: got.to_string(),
            encoder_dir: encoder.folder().dir().to_path_buf(),
        });
    }
    let cache = if opts.embed_cache {
        match EmbeddingCache::for_encoder(&encoder, None) {
            Ok(c) => Some(Mutex::new(c)),
            Err(e) => {
                tracing::warn!("embedding cache unavailable, embedding without it: {e}");
                None
            }
        }
    } else {
        None
    };
    Ok(Predictor::Embedding { encoder: Arc::new(encoder), head: Box::new(head), cache })
}
