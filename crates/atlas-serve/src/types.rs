//! Request and response bodies of the JSON API (also the OpenAPI schemas).
//!
//! The schemas derived here are completed at run time by [`crate::openapi::document`] with the rules that
//! depend on the server's settings or that utoipa cannot state (text and list limits, non-blank patterns, the
//! category codes, exclusive fields); the handlers in [`crate::api`] enforce exactly those rules.

use serde::de::{self, Deserializer, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::extract::Object;
use crate::model::ModelInfo;

/// A paper given by its text.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaperInput {
    /// Title (required, not blank).
    #[schema(example = "Attention Is All You Need")]
    pub title: String,
    /// Abstract (may be empty: a title alone is classified too).
    #[serde(rename = "abstract", default)]
    #[schema(
        example = "The dominant sequence transduction models are based on complex recurrent or convolutional neural networks..."
    )]
    pub abstract_text: String,
}

/// `POST /v1/classify`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// Title (required, not blank).
    #[schema(example = "Attention Is All You Need")]
    pub title: String,
    /// Abstract (may be empty).
    #[serde(rename = "abstract", default)]
    #[schema(
        example = "We propose a new simple network architecture, the Transformer, based solely on attention mechanisms."
    )]
    pub abstract_text: String,
    /// How many categories to list (default 5; larger than the number of classes lists all).
    #[serde(default, deserialize_with = "integral_opt")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 2147483647, default = 5, example = 5)]
    pub top_k: Option<i64>,
    /// Also return the conformal category set that holds the true category with this probability (strictly
    /// between 0 and 1, e.g. 0.9). Needs a calibrated model (503 `calibration_unavailable` otherwise).
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0, example = 0.9)]
    pub coverage: Option<f64>,
    /// Also return, for each listed category, the paper's terms that raised its score most (TF-IDF models
    /// and ensembles; an empty list for other models).
    #[serde(default)]
    pub explain: bool,
}

/// `POST /v1/classify/batch`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyBatchRequest {
    /// The papers (at least one).
    #[serde(deserialize_with = "objects")]
    #[schema(min_items = 1)]
    pub papers: Vec<PaperInput>,
    /// How many categories to list per paper (default 5).
    #[serde(default, deserialize_with = "integral_opt")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 2147483647, default = 5)]
    pub top_k: Option<i64>,
    /// Also return each paper's conformal category set at this coverage (strictly between 0 and 1).
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub coverage: Option<f64>,
    /// Also return the terms that support each listed category, as in `/v1/classify`.
    #[serde(default)]
    pub explain: bool,
}

/// One category with its probability.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryProbability {
    /// Category code, e.g. `cs.LG`.
    pub category: String,
    /// Official name, e.g. `Machine Learning`.
    pub name: String,
    /// Probability (all classes sum to 1), calibrated by the model's temperature when it has one; a
    /// multi-label model gives each category its own probability (they need not sum to 1).
    pub probability: f32,
}

/// The classification of one paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClassifyResponse {
    /// Most probable category.
    pub category: String,
    /// Its name.
    pub name: String,
    /// Its probability.
    pub probability: f32,
    /// The `top_k` most probable categories, most probable first.
    pub probabilities: Vec<CategoryProbability>,
    /// The coverage asked for (only with `coverage` in the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// The conformal category set at `coverage`, most probable first, never empty: on papers like those the
    /// model was calibrated on, it holds the true primary category with probability at least `coverage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_set: Option<Vec<CategoryProbability>>,
    /// A multi-label model's label set: every category whose probability reaches its threshold (chosen per
    /// category on the validation split), plus the most probable one, most probable first. Absent for
    /// single-label models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_set: Option<Vec<CategoryProbability>>,
    /// With `explain: true`: one entry per category of `probabilities`, in the same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanations: Option<Vec<CategoryExplanation>>,
    /// With `explain: true`, for a model with an embedding head (`embedding_lr`, `embedding_mlp`, an
    /// ensemble): the labelled training papers nearest to the paper, whatever their category, and whether
    /// their most common category is the predicted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nearest: Option<NearestPapers>,
    /// With `explain: true`: what could not be explained and why, e.g. an embedding model trained before
    /// training papers were stored with it (no supporting papers; train it again to get them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_note: Option<String>,
    /// Model version.
    pub model: String,
}

/// What supports one category of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CategoryExplanation {
    /// Category code.
    pub category: String,
    /// The paper's terms that raised the category's score most, largest first (empty for a model without
    /// a TF-IDF part).
    pub terms: Vec<TermContribution>,
    /// The labelled training papers of this category nearest to the paper, nearest first (a model with an
    /// embedding head; absent for TF-IDF models and for embedding models saved without training papers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub neighbours: Vec<SupportingPaper>,
}

/// A labelled training paper close to the classified paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SupportingPaper {
    /// arXiv id.
    #[schema(example = "1706.03762")]
    pub id: String,
    /// Title.
    pub title: String,
    /// Its primary category: the label the model was trained with.
    pub category: String,
    /// Cosine similarity of its embedding and the paper's (1 = same direction).
    pub cosine: f32,
    /// `https://arxiv.org/abs/<id>`.
    pub url: String,
}

/// The training papers nearest to the classified paper, whatever their category.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NearestPapers {
    /// Nearest first.
    pub papers: Vec<SupportingPaper>,
    /// Their most common category (a tie goes to the category of the nearer paper).
    pub majority: Option<String>,
    /// Whether `majority` is the predicted category: when it is not, the model's answer is not what the
    /// closest labelled examples say.
    pub agrees: bool,
}

impl From<atlas_classify::SupportingPaper> for SupportingPaper {
    fn from(p: atlas_classify::SupportingPaper) -> Self {
        SupportingPaper {
            url: format!("https://arxiv.org/abs/{}", p.id),
            id: p.id,
            title: p.title,
            category: p.category,
            cosine: p.cosine,
        }
    }
}

impl From<atlas_classify::NearestPapers> for NearestPapers {
    fn from(n: atlas_classify::NearestPapers) -> Self {
        NearestPapers {
            papers: n.papers.into_iter().map(Into::into).collect(),
            majority: n.majority,
            agrees: n.agrees,
        }
    }
}

/// One term of the paper and what it added to a category's score.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TermContribution {
    /// The term (a word, or two words joined by a space), lower-cased as the model reads it.
    #[schema(example = "attention")]
    pub term: String,
    /// TF-IDF value of the term in the paper times the model's weight for the category (always > 0).
    pub contribution: f32,
}

/// `POST /v1/classify/batch` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ClassifyBatchResponse {
    /// One result per paper, in request order.
    pub results: Vec<ClassifyResponse>,
    /// Model version.
    pub model: String,
}

/// `POST /v1/embed`: exactly one of `texts` (embedded as given) or `papers` (rendered with the encoder's
/// template).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    /// Raw texts (not with `papers`).
    #[schema(min_items = 1)]
    pub texts: Option<Vec<String>>,
    /// Papers (not with `texts`).
    #[serde(default, deserialize_with = "objects_opt")]
    #[schema(min_items = 1)]
    pub papers: Option<Vec<PaperInput>>,
}

/// `POST /v1/embed` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EmbedResponse {
    /// Encoder name.
    pub model: String,
    /// Vector-space id (vectors compare only within one id).
    pub embedding_id: String,
    /// Vector width.
    pub dim: usize,
    /// Unit-length vectors, one per input, in request order.
    pub embeddings: Vec<Vec<f32>>,
    /// Tokens the encoder read for this request's inputs (after truncation).
    pub tokens: usize,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// How `/v1/embeddings` writes each vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// A JSON array of numbers (the default).
    #[default]
    Float,
    /// The little-endian `float32` bytes of the vector, base64-encoded: what the OpenAI client libraries
    /// ask for when the caller does not choose, and decode themselves.
    Base64,
}

/// `POST /v1/embeddings`, the OpenAI embeddings request. Unknown fields are ignored, as OpenAI clients send
/// extras (`user`, `dimensions`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct OpenAiEmbeddingsRequest {
    /// Text or texts to embed.
    pub input: OneOrMany,
    /// Model name; informational (the server has one encoder).
    pub model: Option<String>,
    /// `float` (default) or `base64`.
    pub encoding_format: Option<EncodingFormat>,
}

/// A vector as `/v1/embeddings` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingVector {
    /// `encoding_format: float`.
    Float(Vec<f32>),
    /// `encoding_format: base64`: little-endian `float32` bytes, base64 (standard alphabet, padded).
    Base64(String),
}

/// One vector of an OpenAI embeddings answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenAiEmbedding {
    /// Always `embedding`.
    pub object: String,
    /// Position of the input.
    pub index: usize,
    /// The vector.
    pub embedding: EmbeddingVector,
}

/// Token counts of an OpenAI embeddings answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenAiUsage {
    /// Tokens the encoder read for this request's inputs (after truncation).
    pub prompt_tokens: usize,
    /// Same as `prompt_tokens`.
    pub total_tokens: usize,
}

/// `POST /v1/embeddings` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpenAiEmbeddingsResponse {
    /// Always `list`.
    pub object: String,
    /// The vectors.
    pub data: Vec<OpenAiEmbedding>,
    /// Encoder name.
    pub model: String,
    /// Token counts.
    pub usage: OpenAiUsage,
}

/// `POST /v1/search`: give exactly one of `text`, `title` (+ `abstract`), or `id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Free text, embedded as given.
    #[schema(example = "graph neural networks for molecules")]
    pub text: Option<String>,
    /// A paper title (rendered with `abstract` through the encoder's template).
    pub title: Option<String>,
    /// The paper's abstract (with `title`).
    #[serde(rename = "abstract")]
    pub abstract_text: Option<String>,
    /// An indexed paper's arXiv id: search with its stored vector (the paper itself is left out).
    pub id: Option<String>,
    /// Number of results (default 10, or the server's largest `k` when that is smaller).
    #[serde(default, deserialize_with = "integral_opt")]
    #[schema(value_type = Option<i32>, minimum = 1, example = 10)]
    pub k: Option<i64>,
    /// Keep only papers listing this category (or any of these).
    pub category: Option<OneOrMany>,
    /// Keep only papers first published in `[from, to]` (inclusive; `from` after `to` is an empty range, which
    /// matches no paper).
    #[serde(default, deserialize_with = "integral_pair_opt")]
    #[schema(value_type = Option<Vec<u16>>, min_items = 2, max_items = 2, example = json!([2015, 2020]))]
    pub years: Option<[i64; 2]>,
}

/// A stored paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaperOut {
    /// arXiv id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Categories, primary first.
    pub categories: Vec<String>,
    /// Name of the primary category, when known.
    pub category_name: Option<String>,
    /// Year of the first version.
    pub year: Option<u16>,
    /// First authors.
    pub authors: Vec<String>,
    /// `https://arxiv.org/abs/<id>`.
    pub url: String,
}

/// One similar paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    /// Cosine similarity to the query.
    pub score: f32,
    /// The paper.
    #[serde(flatten)]
    pub paper: PaperOut,
}

/// `POST /v1/search` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    /// Best first.
    pub results: Vec<SearchHit>,
    /// Index backend that answered.
    pub backend: String,
    /// Milliseconds spent (embedding + search).
    pub took_ms: f64,
}

/// `POST /v1/recommend`: papers like a reading list.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// The reading list: arXiv ids of indexed papers (duplicates count once). Its papers are never
    /// recommended back.
    #[schema(example = json!(["1706.03762", "1810.04805"]))]
    pub ids: Vec<String>,
    /// Number of recommendations (default 10, or the server's largest `k` when that is smaller).
    #[serde(default, deserialize_with = "integral_opt")]
    #[schema(value_type = Option<i32>, minimum = 1, example = 10)]
    pub k: Option<i64>,
    /// Keep only papers listing this category (or any of these).
    pub category: Option<OneOrMany>,
    /// Keep only papers first published in `[from, to]` (inclusive; `from` after `to` matches no paper).
    #[serde(default, deserialize_with = "integral_pair_opt")]
    #[schema(value_type = Option<Vec<u16>>, min_items = 2, max_items = 2, example = json!([2015, 2020]))]
    pub years: Option<[i64; 2]>,
}

/// One recommended paper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecommendHit {
    /// The list model's decision value: higher is more like the list (comparable within one answer only).
    pub score: f32,
    /// The paper.
    #[serde(flatten)]
    pub paper: PaperOut,
}

/// `POST /v1/recommend` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RecommendResponse {
    /// Best first; never a paper of the list.
    pub results: Vec<RecommendHit>,
    /// Milliseconds spent (fitting the list's model and ranking every paper).
    pub took_ms: f64,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// Always `ok` while the process serves.
    pub status: String,
}

/// `GET /ready`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready`, or `not_ready` with status 503.
    pub status: String,
    /// The classifier is loaded.
    pub model: bool,
    /// An encoder is loaded (embedding and text search work).
    pub encoder: bool,
    /// An index is loaded (search and papers work).
    pub index: bool,
    /// Inference worker threads running.
    pub workers: usize,
    /// The server is shutting down.
    pub draining: bool,
}

/// Encoder facts for `/info`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EncoderInfo {
    /// Name.
    pub name: String,
    /// Vector-space id.
    pub embedding_id: String,
    /// Width.
    pub dim: usize,
    /// Longest input in tokens.
    pub max_tokens: usize,
    /// The engine running it (backend, precision, device, sessions), when the embedder says.
    pub backend: String,
}

/// Index facts for `/info`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IndexSummary {
    /// Backend.
    pub backend: String,
    /// Vector-space id.
    pub embedding_id: String,
    /// Width.
    pub dim: usize,
    /// Papers stored.
    pub count: usize,
    /// Distance.
    pub metric: String,
}

/// Batching settings for `/info`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchSummary {
    /// Most texts per model call.
    pub max_batch_size: usize,
    /// Most estimated tokens per model call.
    pub max_batch_tokens: usize,
    /// Longest wait for a batch to fill, milliseconds.
    pub max_wait_ms: f64,
    /// Queue capacity (requests).
    pub queue_capacity: usize,
    /// Worker threads.
    pub workers: usize,
}

/// `GET /info`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InfoResponse {
    /// `arxiv-atlas`.
    pub name: String,
    /// Server version (the crate version).
    pub version: String,
    /// The classifier; `null` on a server of embeddings and search only.
    pub model: Option<ModelInfo>,
    /// Number of classes.
    pub classes: usize,
    /// The encoder, when loaded.
    pub encoder: Option<EncoderInfo>,
    /// The index, when loaded.
    pub index: Option<IndexSummary>,
    /// Batching.
    pub batch: BatchSummary,
    /// Request log target (`sqlite:PATH`, `postgres`), when enabled.
    pub request_log: Option<String>,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Seconds each loading step took before the server listened (`arxiv-atlas serve`: `model`, `index`,
    /// `encoder`, and `load` for all of them), as the binary reported them; empty when it reported none.
    pub startup_s: std::collections::BTreeMap<String, f64>,
}

/// A JSON number that JSON Schema calls an `integer`: `5`, `5.0` and `5e0` are all the integer 5 (clients and
/// generators may write any of them); `5.5` is not. Range checks are the handlers' (they name the limits).
struct Integral(i64);

impl<'de> Deserialize<'de> for Integral {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Integral;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Integral, E> {
                Ok(Integral(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Integral, E> {
                i64::try_from(v)
                    .map(Integral)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &"a smaller integer"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Integral, E> {
                // `i64::MIN as f64` is exactly -2^63; the upper bound is exclusive because 2^63 itself does not fit.
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < 9_223_372_036_854_775_808.0 {
                    Ok(Integral(v as i64))
                } else if v.fract() == 0.0 {
                    Err(E::invalid_value(Unexpected::Float(v), &"a smaller integer"))
                } else {
                    Err(E::invalid_value(Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for a list of structs, each from a JSON object only ([`Object`]).
fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<Object<T>>::deserialize(d)?.into_iter().map(|o| o.0).collect())
}

/// [`objects`] for an optional list (`null` is absent).
fn objects_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    Ok(Option::<Vec<Object<T>>>::deserialize(d)?.map(|v| v.into_iter().map(|o| o.0).collect()))
}

/// `deserialize_with` for an optional [`Integral`] field (`null` is absent).
fn integral_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Integral>::deserialize(d)?.map(|i| i.0))
}

/// `deserialize_with` for an optional pair of [`Integral`]s (`null` is absent).
fn integral_pair_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[i64; 2]>, D::Error> {
    Ok(Option::<[Integral; 2]>::deserialize(d)?.map(|[a, b]| [a.0, b.0]))
}
