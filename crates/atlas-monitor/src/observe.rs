//! What the monitor measures on a set of texts — the same way for the reference and for the current window.

use atlas_classify::tokenize::{normalize, tokens};
use atlas_corpus::Paper;
use atlas_model::{LoadedModel, Predictor};
use serde::{Deserialize, Serialize};

use crate::MonitorError;

/// Texts embedded (and cached) per chunk.
const EMBED_CHUNK: usize = 1024;

/// Texts to compare with the reference: papers of a file, or the texts of a request log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Window {
    /// The model's input texts (papers rendered with the model's template; logged texts as logged).
    pub texts: Vec<String>,
    /// The primary category of every text, when every one is known (papers with categories).
    pub labels: Option<Vec<String>>,
    /// Where the texts came from (a file, a log and its time range), for the report.
    pub source: String,
    /// What the server answered for every text, when the texts come from its request log
    /// ([`crate::read_request_log`]); `None` for papers of a file. [`crate::drift`] uses them instead of
    /// predicting again when every one was made by the loaded model.
    pub predictions: Option<Vec<LoggedPrediction>>,
}

/// What the server answered for one logged classify request: the request log's `prediction`, `score` and
/// `model_version` columns.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedPrediction {
    /// The top category code (empty when the log holds none).
    pub category: String,
    /// Its probability as the API answered it: calibrated (temperature-scaled), the same quantity as
    /// [`Observed::confidence`].
    pub confidence: f64,
    /// The model that answered ([`atlas_model::LoadedModel::version`], which the server stamps on every row).
    pub model_version: String,
}

impl Window {
    /// The papers' texts rendered with the model's template, with their primary categories when every paper
    /// has one.
    pub fn from_papers(model: &LoadedModel, papers: &[Paper], source: impl Into<String>) -> Window {
        let labels = papers.iter().all(|p| !p.categories.is_empty());
        Window {
            texts: model.texts_for(papers.iter()),
            labels: labels.then(|| papers.iter().map(|p| p.primary().to_string()).collect()),
            source: source.into(),
            predictions: None,
        }
    }
}

/// The words a TF-IDF model knows (its unigram features), and how it normalises text before splitting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    /// Whether texts are lower-cased before tokenising.
    pub lowercase: bool,
    /// The known words, sorted.
    pub words: Vec<String>,
}

impl Vocabulary {
    /// The unigram vocabulary of the TF-IDF model in `model`'s folder; `None` for other model kinds.
    pub fn of_model(model: &LoadedModel) -> Result<Option<Vocabulary>, MonitorError> {
        if !matches!(model.predictor, Predictor::Text(_))
            || model.predictor.kind() != atlas_classify::TfidfLinearModel::KIND
        {
            return Ok(None);
        }
        let tfidf = atlas_classify::TfidfLinearModel::load(&model.dir)?;
        let v = tfidf.vectorizer();
        let mut words: Vec<String> = v.terms().iter().filter(|t| !t.contains(' ')).cloned().collect();
        words.sort_unstable();
        Ok(Some(Vocabulary { lowercase: v.params().lowercase, words }))
    }
}

/// Per-text measurements of a window: the features the tests compare.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Tokens per text.
    pub words: Vec<f64>,
    /// Share of each text's tokens outside the vocabulary (empty without a vocabulary).
    pub oov: Vec<f64>,
    /// Probability of the top class, calibrated (the model's temperature applied) as the API answers it; empty
    /// when the predictions were not computed (see [`Predict`]).
    pub confidence: Vec<f64>,
    /// Predicted class code; empty when the predictions were not computed.
    pub predicted: Vec<String>,
    /// Embeddings, `dim` values per text, when the model has an encoder.
    pub embeddings: Option<(Vec<f32>, usize)>,
}

/// Measures `texts`: lengths, out-of-vocabulary shares, the model's predictions and (embedding models) the
/// embeddings, all in one pass over the model. (Public so that other tools can be fed exactly the features
/// the tests see: the Evidently comparison in `bench/` reads them through the `export_windows` example.)
pub fn observe(
    model: &LoadedModel,
    texts: &[String],
    vocabulary: Option<&Vocabulary>,
) -> Result<Observed, MonitorError> {
    observe_with(model, texts, vocabulary, Predict::Calibrated)
}

/// Which predictions [`observe_with`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predict {
    /// The calibrated probabilities the API answers with (the model's temperature applied): what profiles of
    /// format 2 hold and what the request log stores.
    Calibrated,
    /// The predictor's own probabilities, without the temperature: what profiles of format 1 hold.
    Raw,
    /// None: the caller has them already (the request log's). Texts are still measured, and an embedding
    /// model still embeds them (the embedding tests need the vectors, which the log does not keep).
    Skip,
}

/// [`observe`], computing the predictions as `predict` says.
pub fn observe_with(
    model: &LoadedModel,
    texts: &[String],
    vocabulary: Option<&Vocabulary>,
    predict: Predict,
) -> Result<Observed, MonitorError> {
    use rayon::prelude::*;
    // One lookup per token of every text: a fast hash rather than std's DoS-resistant SipHash (the keys are the
    // model's own words; a text's tokens are only looked up, never inserted).
    let known: Option<ahash::AHashSet<&str>> =
        vocabulary.map(|v| v.words.iter().map(String::as_str).collect());
    let lowercase = vocabulary.is_none_or(|v| v.lowercase);
    let counts: Vec<(f64, f64)> = texts
        .par_iter()
        .map(|t| {
            let norm = normalize(t, lowercase);
            let (mut n, mut out) = (0usize, 0usize);
            for tok in tokens(&norm) {
                n += 1;
                if known.as_ref().is_some_and(|k| !k.contains(tok)) {
                    out += 1;
                }
            }
            (n as f64, if n == 0 { 0.0 } else { out as f64 / n as f64 })
        })
        .collect();
    let (words, oov): (Vec<f64>, Vec<f64>) = counts.into_iter().unzip();
    let skip = predict == Predict::Skip;
    let (mut probs, embeddings) = match &model.predictor {
        Predictor::Embedding { encoder, head, cache } => {
            // A poisoned lock only means another thread panicked mid-write; the SQLite cache is transactional.
            let mut guard = cache.as_ref().map(|m| m.lock().unwrap_or_else(|p| p.into_inner()));
            let (x, _) =
                atlas_embed::embed_texts_cached(encoder, guard.as_deref_mut(), texts, EMBED_CHUNK, None)?;
            let probs = (!skip).then(|| head.predict_proba_dense(&x));
            (probs, Some((x, encoder.dim())))
        }
        // An ensemble's embeddings stay inside its part; the monitor watches it like a text model.
        Predictor::Text(_) | Predictor::Ensemble(_) => {
            ((!skip).then(|| model.predictor.predict(texts)).transpose()?, None)
        }
    };
    if predict == Predict::Calibrated {
        if let Some(p) = probs.as_mut() {
            // The same scaling as `LoadedModel::predict`, which the server answers (and logs) with.
            atlas_calibrate::apply_temperature(&mut p.data, p.n_classes, model.temperature());
        }
    }
    let codes = &model.predictor.labels().codes;
    let (confidence, predicted) = probs.map_or_else(Default::default, |probs| {
        (0..probs.len())
            .map(|i| {
                let row = probs.row(i);
                let (best, p) =
                    row.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |acc, (c, &p)| if p > acc.1 { (c, p) } else { acc });
                (f64::from(p), codes[best].clone())
            })
            .unzip()
    });
    Ok(Observed {
        words,
        oov: if vocabulary.is_some() { oov } else { Vec::new() },
        confidence,
        predicted,
        embeddings,
    })
}
