//! What the server needs from a model, as two small traits, so that it can serve any model family without
//! depending on the binary that loads them: [`Model`] turns texts into class probabilities, [`Embedder`] turns
//! texts into vectors. Both are called only from the batching worker threads, never on the async runtime.
//!
//! [`TextClassifierModel`] adapts any [`atlas_classify::Classifier`] (TF-IDF) and [`EncoderEmbedder`] adapts an
//! [`atlas_encoder::Encoder`]; [`crate::load`] serves a trained model folder of either family.

use std::sync::Arc;

use atlas_classify::{Classifier, Labels, Probabilities};
use atlas_encoder::Encoder;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ModelError;

/// What a model says about itself in `/info` and in every prediction.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelInfo {
    /// Version string shown in answers and written to the request log: experiment and run id, e.g.
    /// `tfidf_linear@20250101-120000-ab12`.
    pub version: String,
    /// Manifest kind, e.g. `arxiv-atlas/tfidf-linear`.
    pub kind: String,
    /// Text template that turns a paper into the model's input, e.g. `{title} [SEP] {abstract}`.
    #[schema(value_type = String)]
    pub template: atlas_corpus::TextTemplate,
    /// Folder the model was loaded from.
    pub dir: String,
}

/// A classifier of paper texts.
pub trait Model: Send + Sync + 'static {
    /// Name, version and template.
    fn info(&self) -> &ModelInfo;
    /// The classes (column `c` of a prediction is class `labels().codes[c]`).
    fn labels(&self) -> &Labels;
    /// Class probabilities of every text (texts already rendered with the template).
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError>;
    /// The conformal category set of every row of `probs` (from [`Model::predict`]) at `coverage` (in (0, 1)),
    /// most probable class first; `None` when the model has no conformal calibration.
    fn category_sets(&self, probs: &Probabilities, coverage: f64) -> Option<Vec<Vec<usize>>> {
        let _ = (probs, coverage);
        None
    }
    /// The label set of one row of a prediction (a multi-label model's per-class thresholds), most
    /// probable class first; `None` for single-label models.
    fn label_set(&self, row: &[f32]) -> Option<Vec<usize>> {
        let _ = row;
        None
    }
    /// For each class of `classes`, the at most `top` terms of `text` (rendered with the template) that
    /// raised its score most; `None` for a model that cannot name terms.
    fn explain_terms(
        &self,
        text: &str,
        classes: &[usize],
        top: usize,
    ) -> Option<Vec<Vec<atlas_classify::TermContribution>>> {
        let _ = (text, classes, top);
        None
    }
    /// For each text (rendered with the template), the labelled training papers nearest to it of each class
    /// of `classes[i]`, and of any class: a model with an embedding head and its stored training papers.
    /// The default (a model that cannot) explains nothing and has nothing to say about it.
    fn explain_neighbours(
        &self,
        texts: &[String],
        classes: &[Vec<usize>],
    ) -> Result<NeighbourAnswers, ModelError> {
        let _ = (texts, classes);
        Ok(NeighbourAnswers::default())
    }
}

/// What [`Model::explain_neighbours`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NeighbourAnswers {
    /// One explanation per text, in order; `None` when the model has none to give.
    pub explained: Option<Vec<atlas_classify::NeighbourExplanation>>,
    /// Why there are none, when the model should have some (an embedding model saved without its training
    /// papers).
    pub note: Option<&'static str>,
}

/// Vectors of a batch of texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    /// Vector width.
    pub dim: usize,
    /// Row-major vectors, `dim` values per text.
    pub data: Vec<f32>,
    /// Tokens the encoder read for each text (after truncation), for OpenAI-style usage figures. Counted per
    /// row so that a request is charged for its own texts, whatever batch the worker ran them in.
    pub tokens: Vec<usize>,
}

impl Embedded {
    /// Vector of text `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// `true` when there is no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tokens of all the texts.
    pub fn total_tokens(&self) -> usize {
        self.tokens.iter().sum()
    }
}

/// A sentence encoder.
pub trait Embedder: Send + Sync + 'static {
    /// Short model name, e.g. `all-MiniLM-L6-v2`.
    fn name(&self) -> &str;
    /// Vector-space id: vectors of two embedders are comparable only when their ids are equal.
    fn embedding_id(&self) -> &str;
    /// Vector width.
    fn dim(&self) -> usize;
    /// Longest input in tokens (longer texts are truncated).
    fn max_tokens(&self) -> usize;
    /// The encoder input for a paper.
    fn render_paper(&self, title: &str, abstract_text: &str) -> String;
    /// Unit-length vectors of `texts`.
    fn embed(&self, texts: &[String]) -> Result<Embedded, ModelError>;
    /// The engine that runs the model (e.g. `onnx int8 cpu (model_qint8_avx2.onnx)`), for `/info`; empty when
    /// the embedder does not say.
    fn backend(&self) -> &str {
        ""
    }
}

/// Embeds with an encoder and counts tokens: the texts are tokenized once and the token ids reused.
pub fn embed_with_encoder(encoder: &Encoder, texts: &[String]) -> Result<Embedded, ModelError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = encoder.tokenize(&refs)?;
    let tokens = ids.iter().map(Vec::len).collect();
    let e = encoder.embed_tokens(&ids, encoder.limits())?;
    Ok(Embedded { dim: e.dim(), data: e.into_vec(), tokens })
}

/// Renders a paper with an encoder's template (its title and abstract normalised like ingested papers;
/// fields other than title and abstract are empty).
pub fn render_with_encoder(encoder: &Encoder, title: &str, abstract_text: &str) -> String {
    atlas_corpus::Paper::from_text(title, abstract_text).text(encoder.template())
}

/// An [`Encoder`] as an [`Embedder`]. The encoder is shared (`Arc`), so an embedding classifier and the
/// server's `/v1/embed` use one loaded copy.
pub struct EncoderEmbedder {
    encoder: Arc<Encoder>,
    name: String,
    embedding_id: String,
}

impl EncoderEmbedder {
    /// Wraps a loaded encoder (fails only if its files cannot be hashed for the vector-space id).
    pub fn new(encoder: impl Into<Arc<Encoder>>) -> Result<Self, ModelError> {
        let encoder = encoder.into();
        let embedding_id = encoder.embedding_id()?.to_string();
        let dir = encoder.folder().dir();
        let name =
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "encoder".into());
        Ok(EncoderEmbedder { encoder, name, embedding_id })
    }

    /// The wrapped encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }
}

impl Embedder for EncoderEmbedder {
    fn name(&self) -> &str {
        &self.name
    }
    fn backend(&self) -> &str {
        self.encoder.backend_name()
    }
    fn embedding_id(&self) -> &str {
        &self.embedding_id
    }
    fn dim(&self) -> usize {
        self.encoder.dim()
    }
    fn max_tokens(&self) -> usize {
        self.encoder.max_seq_length()
    }
    fn render_paper(&self, title: &str, abstract_text: &str) -> String {
        render_with_encoder(&self.encoder, title, abstract_text)
    }
    fn embed(&self, texts: &[String]) -> Result<Embedded, ModelError> {
        embed_with_encoder(&self.encoder, texts)
    }
}

/// A text classifier (e.g. TF-IDF + linear) as a [`Model`], with conformal sets when given a calibration.
pub struct TextClassifierModel {
    classifier: Box<dyn Classifier>,
    info: ModelInfo,
    conformal: Option<atlas_calibrate::Conformal>,
}

impl TextClassifierModel {
    /// Wraps `classifier`; `info.kind` is filled from the classifier when empty.
    pub fn new(classifier: Box<dyn Classifier>, mut info: ModelInfo) -> Self {
        if info.kind.is_empty() {
            info.kind = classifier.kind().to_string();
        }
        TextClassifierModel { classifier, info, conformal: None }
    }

    /// The same model, answering category sets from `conformal` (scores of the classifier's probabilities).
    pub fn with_conformal(mut self, conformal: atlas_calibrate::Conformal) -> Self {
        self.conformal = Some(conformal);
        self
    }
}

impl Model for TextClassifierModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        self.classifier.labels()
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(self.classifier.predict_proba(&refs))
    }
    fn category_sets(&self, probs: &Probabilities, coverage: f64) -> Option<Vec<Vec<usize>>> {
        self.conformal.as_ref()?.sets(&probs.data, probs.n_classes, coverage).ok()
    }
    fn explain_terms(
        &self,
        text: &str,
        classes: &[usize],
        top: usize,
    ) -> Option<Vec<Vec<atlas_classify::TermContribution>>> {
        self.classifier.explain_terms(text, classes, top)
    }
}
