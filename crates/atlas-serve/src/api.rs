//! The route handlers. Each validates its body (naming the field at fault), hands model work to the
//! [`crate::batcher::Batcher`], runs index look-ups on the blocking pool (a backend may scan memory or talk
//! to a database), and logs classify/search requests to the request log.
//!
//! The rules checked here are exactly those `/openapi.json` states ([`crate::openapi::document`]), and every
//! field is checked before the availability of the parts a route needs: a request the schema refuses is a
//! 422 even where the encoder or the index is not loaded (a 503 only answers a request the schema accepts).

use std::sync::Arc;
use std::time::Instant;

use atlas_classify::Probabilities;
use atlas_index::{Filter, PaperMeta, VectorIndex};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::batcher::BatchError;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::reqlog::LogRecord;
use crate::state::AppState;
use crate::types::*;

/// Terms listed per category with `explain: true` (as `classify --explain`).
const EXPLAIN_TERMS: usize = 8;

/// Default number of categories listed.
const DEFAULT_TOP_K: i64 = 5;
/// Largest `top_k`: the schema calls it an `int32`, so that a generated client can hold every accepted value
/// (any value from the number of classes up lists them all).
pub const MAX_TOP_K: i64 = i32::MAX as i64;
/// Default number of search results (fewer when the server allows fewer, see [`default_k`]).
const DEFAULT_K: i64 = 10;
/// Longest arXiv id `/v1/search` accepts (real ids are under 30 characters).
pub const MAX_ID_CHARS: usize = 64;
/// Categories with probabilities kept in the request log.
const LOGGED_TOP: usize = 5;

impl From<BatchError> for ApiError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::QueueFull { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue_full", e.to_string()).retry_after(1)
            }
            BatchError::Closed => ApiError::unavailable("shutting_down", e.to_string()).retry_after(1),
            BatchError::Model(m) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "inference_failed", m.message)
            }
            BatchError::NoEncoder => ApiError::unavailable(
                "encoder_unavailable",
                "no sentence encoder is loaded; start the server with an embedding model or an index",
            ),
            BatchError::NoModel => ApiError::unavailable(
                "model_unavailable",
                "no classifier is loaded; start the server with --model RUN (a run folder of `arxiv-atlas train`)",
            ),
        }
    }
}

/// Maps a batch error, putting the configured `Retry-After` on 429s.
fn batch_err(state: &AppState, e: BatchError) -> ApiError {
    let full = matches!(e, BatchError::QueueFull { .. });
    let err = ApiError::from(e);
    if full {
        err.retry_after(state.config().retry_after_s)
    } else {
        err
    }
}

/// Rejects blank (when `required`) or over-long text.
pub(crate) fn check_text(field: &str, s: &str, required: bool, max_chars: usize) -> Result<(), ApiError> {
    if required && s.trim().is_empty() {
        return Err(ApiError::field("empty_text", field, "must not be empty or only whitespace"));
    }
    let n = s.chars().count();
    if n > max_chars {
        return Err(ApiError::field(
            "too_long",
            field,
            format!("is {n} characters long; the limit is {max_chars}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_count(field: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::field("empty_list", field, "must hold at least one item"));
    }
    if n > max {
        return Err(ApiError::field("too_many", field, format!("holds {n} items; the limit is {max}")));
    }
    Ok(())
}

/// The `k` of a search that gives none: 10, or the server's largest `k` when that is smaller (the schema
/// states it as the default).
pub fn default_k(config: &crate::state::ServerConfig) -> i64 {
    DEFAULT_K.min(i64::try_from(config.max_k).unwrap_or(i64::MAX))
}

/// Rejects an integer outside `[min, max]`; the value as a `usize` otherwise (`min` is never negative).
pub(crate) fn check_range(field: &str, v: i64, min: i64, max: i64) -> Result<usize, ApiError> {
    if v < min {
        return Err(ApiError::field("invalid_field", field, format!("must be at least {min}")));
    }
    if v > max {
        return Err(ApiError::field("invalid_field", field, format!("must be at most {max}")));
    }
    usize::try_from(v).map_err(|_| ApiError::field("invalid_field", field, "is out of range"))
}

fn check_top_k(top_k: Option<i64>) -> Result<usize, ApiError> {
    check_range("top_k", top_k.unwrap_or(DEFAULT_TOP_K), 1, MAX_TOP_K)
}

/// A coverage strictly between 0 and 1 (422 `invalid_field` otherwise, as the schema's exclusive bounds say).
fn check_coverage(coverage: Option<f64>) -> Result<Option<f64>, ApiError> {
    match coverage {
        Some(c) if !(c > 0.0 && c < 1.0) => {
            Err(ApiError::field("invalid_field", "coverage", "must be strictly between 0 and 1, e.g. 0.9"))
        }
        other => Ok(other),
    }
}

/// The category sets of `p` at `coverage`, or 503 `calibration_unavailable` for a model without a conformal
/// calibration (the request is fine; this server's model cannot answer it).
fn category_sets(
    model: &dyn crate::model::Model,
    p: &Probabilities,
    coverage: Option<f64>,
) -> Result<Option<Vec<Vec<usize>>>, ApiError> {
    let Some(c) = coverage else { return Ok(None) };
    model.category_sets(p, c).map(Some).ok_or_else(|| {
        ApiError::unavailable(
            "calibration_unavailable",
            "the loaded model has no conformal calibration, so it cannot return category sets; calibrate it with \
             `arxiv-atlas calibrate --model RUN --input DATASET` (models trained by this version have one)",
        )
    })
}

/// The classifier, or 503 `model_unavailable` (a server of embeddings and search only).
fn model(state: &AppState) -> Result<&Arc<dyn crate::model::Model>, ApiError> {
    state.0.model.as_ref().ok_or_else(|| ApiError::from(BatchError::NoModel))
}

/// The classifier's version for answers and the request log (empty without one).
fn model_version(state: &AppState) -> String {
    state.0.model.as_ref().map(|m| m.info().version.clone()).unwrap_or_default()
}

/// Builds the answer for row `i` (called only once `model(state)` succeeded).
fn classification(
    state: &AppState,
    model: &dyn crate::model::Model,
    p: &Probabilities,
    i: usize,
    top_k: usize,
    sets: Option<&(f64, Vec<Vec<usize>>)>,
    explain: Option<Explain<'_>>,
) -> ClassifyResponse {
    let labels = model.labels();
    let name = |c: usize| {
        let code = &labels.codes[c];
        let from_labels = labels.names.get(c).filter(|n| !n.is_empty() && *n != code);
        from_labels
            .cloned()
            .or_else(|| state.0.taxonomy.as_ref().and_then(|t| t.name(code)).map(str::to_string))
            .unwrap_or_else(|| code.clone())
    };
    let probabilities: Vec<CategoryProbability> = p
        .top_k(i, top_k)
        .into_iter()
        .map(|(c, prob)| CategoryProbability {
            category: labels.codes[c].clone(),
            name: name(c),
            probability: prob,
        })
        .collect();
    let best = probabilities.first().cloned().unwrap_or(CategoryProbability {
        category: String::new(),
        name: String::new(),
        probability: 0.0,
    });
    let entries = |set: &[usize]| -> Vec<CategoryProbability> {
        set.iter()
            .map(|&c| CategoryProbability {
                category: labels.codes[c].clone(),
                name: name(c),
                probability: p.row(i)[c],
            })
            .collect()
    };
    let category_set = sets.map(|(_, s)| entries(&s[i]));
    let label_set = model.label_set(p.row(i)).map(|s| entries(&s));
    let neighbours = explain.and_then(|e| e.neighbours);
    let explanations = explain.map(|e| {
        let classes: Vec<usize> = p.top_k(i, top_k).into_iter().map(|(c, _)| c).collect();
        let terms = model.explain_terms(e.text, &classes, EXPLAIN_TERMS);
        classes
            .iter()
            .enumerate()
            .map(|(j, &c)| CategoryExplanation {
                category: labels.codes[c].clone(),
                terms: terms
                    .as_ref()
                    .and_then(|t| t.get(j))
                    .map(|t| {
                        t.iter()
                            .map(|t| TermContribution { term: t.term.clone(), contribution: t.contribution })
                            .collect()
                    })
                    .unwrap_or_default(),
                neighbours: neighbours
                    .and_then(|n| n.by_category.get(j))
                    .map(|n| n.iter().cloned().map(Into::into).collect())
                    .unwrap_or_default(),
            })
            .collect()
    });
    ClassifyResponse {
        category: best.category,
        name: best.name,
        probability: best.probability,
        probabilities,
        coverage: sets.map(|(c, _)| *c),
        category_set,
        label_set,
        explanations,
        nearest: neighbours.map(|n| n.nearest.clone().into()),
        explanation_note: explain.and_then(|e| e.note).map(str::to_string),
        model: model.info().version.clone(),
    }
}

/// What `explain: true` adds to the answer of one paper.
#[derive(Clone, Copy)]
struct Explain<'a> {
    /// The paper's text as the model read it (for its terms).
    text: &'a str,
    /// Its nearest training papers, for a model with an embedding head and its training papers.
    neighbours: Option<&'a atlas_classify::NeighbourExplanation>,
    /// Why some explanation is missing.
    note: Option<&'static str>,
}

/// The nearest training papers of each text for the `top_k` categories of its row of `p` (off the async
/// runtime: it may embed the texts and scans the model's training papers).
async fn explain_neighbours(
    model: &Arc<dyn crate::model::Model>,
    texts: &[String],
    p: &Probabilities,
    top_k: usize,
) -> Result<crate::model::NeighbourAnswers, ApiError> {
    let classes: Vec<Vec<usize>> =
        (0..texts.len()).map(|i| p.top_k(i, top_k).into_iter().map(|(c, _)| c).collect()).collect();
    let (model, texts) = (model.clone(), texts.to_vec());
    match tokio::task::spawn_blocking(move || model.explain_neighbours(&texts, &classes)).await {
        Ok(Ok(answers)) => Ok(answers),
        Ok(Err(e)) => Err(ApiError::internal(e.to_string())),
        Err(_) => Err(ApiError::internal("explaining by training papers panicked")),
    }
}

/// The [`Explain`] of text `i` (with `explain: true`).
fn explain_of<'a>(texts: &'a [String], answers: &'a crate::model::NeighbourAnswers, i: usize) -> Explain<'a> {
    Explain {
        text: &texts[i],
        neighbours: answers.explained.as_ref().and_then(|e| e.get(i)),
        note: answers.note,
    }
}

/// Renders a paper with the classifier's template, as training did.
fn model_text(model: &dyn crate::model::Model, title: &str, abstract_text: &str) -> String {
    atlas_corpus::Paper::from_text(title, abstract_text).text(&model.info().template)
}

async fn classify_texts(
    state: &AppState,
    model: &dyn crate::model::Model,
    texts: Vec<String>,
) -> Result<Probabilities, ApiError> {
    let n = texts.len();
    let p = state.0.batcher.classify(texts).await.map_err(|e| batch_err(state, e))?;
    if p.len() != n || p.n_classes != model.labels().len() {
        return Err(ApiError::internal(format!(
            "the model returned {} rows of {} classes for {n} texts",
            p.len(),
            p.n_classes
        )));
    }
    Ok(p)
}

fn log_classification(state: &AppState, text: &str, r: &ClassifyResponse, started: Instant) {
    if let Some(log) = &state.0.log {
        let top: Vec<_> = r.probabilities.iter().take(LOGGED_TOP).collect();
        log.record(LogRecord::new(
            "classify",
            text,
            &r.category,
            r.probability,
            serde_json::to_string(&top).unwrap_or_default(),
            started.elapsed().as_secs_f64() * 1000.0,
            &r.model,
        ));
    }
}

/// The error answers of every route that reads a JSON body and may run a model (their `503`s differ and
/// are listed by each route).
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    /// The body is not JSON (syntax error, truncated, trailing data, bad UTF-8, empty).
    #[response(status = 400)]
    NotJson(ErrorBody),
    /// The body is larger than the server's limit.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body breaks the request schema; `error.field` names the field.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// The inference queue is full; retry after `Retry-After` seconds.
    #[response(status = 429)]
    QueueFull(ErrorBody),
    /// The model or the index failed.
    #[response(status = 500)]
    Failed(ErrorBody),
    /// The request took longer than the server's limit.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

/// Classify one paper.
#[utoipa::path(post, path = "/v1/classify", tag = "classify", request_body = ClassifyRequest,
    responses((status = 200, body = ClassifyResponse), BodyErrors,
              (status = 503, description = "No classifier is loaded (`model_unavailable`), `coverage` was asked of a model without a conformal calibration (`calibration_unavailable`), or the server is shutting down", body = ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let started = Instant::now();
    let max = state.config().max_text_chars;
    check_text("title", &req.title, true, max)?;
    check_text("abstract", &req.abstract_text, false, max)?;
    let top_k = check_top_k(req.top_k)?;
    let coverage = check_coverage(req.coverage)?;
    let model = model(&state)?.clone();
    let text = model_text(model.as_ref(), &req.title, &req.abstract_text);
    let p = classify_texts(&state, model.as_ref(), vec![text.clone()]).await?;
    let sets = category_sets(model.as_ref(), &p, coverage)?.zip(coverage).map(|(s, c)| (c, s));
    let texts = [text];
    let answers = match req.explain {
        true => explain_neighbours(&model, &texts, &p, top_k).await?,
        false => Default::default(),
    };
    let explain = req.explain.then(|| explain_of(&texts, &answers, 0));
    let r = classification(&state, model.as_ref(), &p, 0, top_k, sets.as_ref(), explain);
    let [text] = texts;
    log_classification(&state, &text, &r, started);
    Ok(Json(r))
}

/// Classify several papers in one request.
#[utoipa::path(post, path = "/v1/classify/batch", tag = "classify", request_body = ClassifyBatchRequest,
    responses((status = 200, body = ClassifyBatchResponse), BodyErrors,
              (status = 503, description = "No classifier is loaded (`model_unavailable`), `coverage` was asked of a model without a conformal calibration (`calibration_unavailable`), or the server is shutting down", body = ErrorBody)))]
pub async fn classify_batch(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ClassifyBatchRequest>,
) -> Result<Json<ClassifyBatchResponse>, ApiError> {
    let started = Instant::now();
    let max = state.config().max_text_chars;
    check_count("papers", req.papers.len(), state.config().max_items)?;
    for (i, p) in req.papers.iter().enumerate() {
        check_text(&format!("papers[{i}].title"), &p.title, true, max)?;
        check_text(&format!("papers[{i}].abstract"), &p.abstract_text, false, max)?;
    }
    let top_k = check_top_k(req.top_k)?;
    let coverage = check_coverage(req.coverage)?;
    let model = model(&state)?.clone();
    let texts: Vec<String> =
        req.papers.iter().map(|p| model_text(model.as_ref(), &p.title, &p.abstract_text)).collect();
    let p = classify_texts(&state, model.as_ref(), texts.clone()).await?;
    let sets = category_sets(model.as_ref(), &p, coverage)?.zip(coverage).map(|(s, c)| (c, s));
    let answers = match req.explain {
        true => explain_neighbours(&model, &texts, &p, top_k).await?,
        false => Default::default(),
    };
    let results: Vec<ClassifyResponse> = (0..texts.len())
        .map(|i| {
            let explain = req.explain.then(|| explain_of(&texts, &answers, i));
            classification(&state, model.as_ref(), &p, i, top_k, sets.as_ref(), explain)
        })
        .collect();
    for (t, r) in texts.iter().zip(&results) {
        log_classification(&state, t, r, started);
    }
    Ok(Json(ClassifyBatchResponse { results, model: model.info().version.clone() }))
}

fn embedder(state: &AppState) -> Result<&Arc<dyn crate::model::Embedder>, ApiError> {
    state.0.embedder.as_ref().ok_or_else(|| ApiError::from(BatchError::NoEncoder))
}

/// Embeds validated texts through the queue.
async fn embed_texts(state: &AppState, texts: Vec<String>) -> Result<crate::model::Embedded, ApiError> {
    let n = texts.len();
    let e = state.0.batcher.embed(texts).await.map_err(|e| batch_err(state, e))?;
    if e.len() != n {
        return Err(ApiError::internal(format!("the encoder returned {} vectors for {n} texts", e.len())));
    }
    Ok(e)
}

/// Sentence vectors of texts or papers.
#[utoipa::path(post, path = "/v1/embed", tag = "embed", request_body = EmbedRequest,
    responses((status = 200, body = EmbedResponse), BodyErrors,
              (status = 503, description = "No encoder is loaded (`encoder_unavailable`), or the server is shutting down", body = ErrorBody)))]
pub async fn embed(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmbedRequest>,
) -> Result<Json<EmbedResponse>, ApiError> {
    let max = state.config().max_text_chars;
    let texts = match (req.texts, req.papers) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "conflicting_fields",
                "papers",
                "give either texts or papers, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::field("missing_field", "texts", "give texts (a list of strings) or papers"))
        }
        (Some(texts), None) => {
            check_count("texts", texts.len(), state.config().max_items)?;
            for (i, t) in texts.iter().enumerate() {
                check_text(&format!("texts[{i}]"), t, true, max)?;
            }
            texts
        }
        (None, Some(papers)) => {
            check_count("papers", papers.len(), state.config().max_items)?;
            for (i, p) in papers.iter().enumerate() {
                check_text(&format!("papers[{i}].title"), &p.title, true, max)?;
                check_text(&format!("papers[{i}].abstract"), &p.abstract_text, false, max)?;
            }
            // Rendering needs the encoder's template: asked for only once every field has passed.
            let e = embedder(&state)?;
            papers.iter().map(|p| e.render_paper(&p.title, &p.abstract_text)).collect()
        }
    };
    let e = embedder(&state)?.clone();
    let out = embed_texts(&state, texts).await?;
    Ok(Json(EmbedResponse {
        model: e.name().to_string(),
        embedding_id: e.embedding_id().to_string(),
        dim: out.dim,
        embeddings: (0..out.len()).map(|i| out.row(i).to_vec()).collect(),
        tokens: out.total_tokens(),
    }))
}

/// OpenAI-compatible embeddings.
#[utoipa::path(post, path = "/v1/embeddings", tag = "embed", request_body = OpenAiEmbeddingsRequest,
    responses((status = 200, body = OpenAiEmbeddingsResponse), BodyErrors,
              (status = 503, description = "No encoder is loaded (`encoder_unavailable`), or the server is shutting down", body = ErrorBody)))]
pub async fn embeddings(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<OpenAiEmbeddingsRequest>,
) -> Result<Json<OpenAiEmbeddingsResponse>, ApiError> {
    let format = req.encoding_format.unwrap_or_default();
    let texts = req.input.into_vec();
    check_count("input", texts.len(), state.config().max_items)?;
    for (i, t) in texts.iter().enumerate() {
        check_text(&format!("input[{i}]"), t, true, state.config().max_text_chars)?;
    }
    let e = embedder(&state)?.clone();
    let out = embed_texts(&state, texts).await?;
    Ok(Json(OpenAiEmbeddingsResponse {
        object: "list".into(),
        data: (0..out.len())
            .map(|i| OpenAiEmbedding {
                object: "embedding".into(),
                index: i,
                embedding: vector_as(format, out.row(i)),
            })
            .collect(),
        model: e.name().to_string(),
        usage: OpenAiUsage { prompt_tokens: out.total_tokens(), total_tokens: out.total_tokens() },
    }))
}

/// A vector in the OpenAI `encoding_format`: numbers, or the base64 of its little-endian `float32` bytes
/// (what the OpenAI client libraries request by default and decode).
fn vector_as(format: EncodingFormat, v: &[f32]) -> EmbeddingVector {
    match format {
        EncodingFormat::Float => EmbeddingVector::Float(v.to_vec()),
        EncodingFormat::Base64 => {
            use base64::Engine;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}

pub(crate) fn index(state: &AppState) -> Result<Arc<dyn VectorIndex>, ApiError> {
    state.0.index.clone().ok_or_else(|| {
        ApiError::unavailable(
            "index_unavailable",
            "no similar-paper index is loaded; start the server with --index DIR",
        )
    })
}

/// Runs a blocking index call off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, atlas_index::IndexError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::internal(format!("index: {e}"))),
        Err(_) => Err(ApiError::internal("the index panicked")),
    }
}

pub(crate) fn paper_out(state: &AppState, p: PaperMeta) -> PaperOut {
    let category_name = p.categories.first().and_then(|c| {
        state.0.taxonomy.as_ref().and_then(|t| t.name(c)).map(str::to_string).or_else(|| {
            let labels = state.0.model.as_ref()?.labels();
            labels.codes.iter().position(|x| x == c).and_then(|i| labels.names.get(i).cloned())
        })
    });
    PaperOut {
        url: format!("https://arxiv.org/abs/{}", p.id),
        id: p.id,
        title: p.title,
        categories: p.categories,
        category_name,
        year: p.year,
        authors: p.authors,
    }
}

/// The `category` and `years` filter of a search or a recommendation, checked; with whether the year range is
/// empty (`from` after `to`: no paper matches; JSON Schema cannot compare two items, so the schema cannot
/// refuse it, and the server does not either).
pub(crate) fn check_filter(
    state: &AppState,
    category: Option<OneOrMany>,
    years: Option<[i64; 2]>,
) -> Result<(Filter, bool), ApiError> {
    let mut filter = Filter::default();
    if let Some(cats) = category {
        let cats = cats.into_vec();
        check_count("category", cats.len(), state.config().max_items)?;
        for c in &cats {
            if !state.0.known_categories.contains(c) {
                return Err(ApiError::field(
                    "unknown_category",
                    "category",
                    format!("`{c}` is not an arXiv category code"),
                ));
            }
        }
        filter.categories = Some(cats);
    }
    let mut empty_range = false;
    if let Some([from, to]) = years {
        let max_year = i64::from(u16::MAX);
        let from = check_range("years", from, 0, max_year)?;
        let to = check_range("years", to, 0, max_year)?;
        // Both checked to lie in 0..=u16::MAX just above.
        let (from, to) = (from as u16, to as u16);
        empty_range = from > to;
        filter.years = Some(from..=to);
    }
    Ok((filter, empty_range))
}

/// Logs a ranked answer (search, recommend): the best id and score, and every `(id, score)` as the result.
pub(crate) fn log_ranked<'a>(
    state: &AppState,
    endpoint: &str,
    text: &str,
    ranked: impl Iterator<Item = (&'a str, f32)>,
    took_ms: f64,
) {
    let Some(log) = &state.0.log else { return };
    let ranked: Vec<(&str, f32)> = ranked.collect();
    let summary: Vec<_> =
        ranked.iter().map(|(id, score)| serde_json::json!({"id": id, "score": score})).collect();
    let (best, score) = ranked.first().copied().unwrap_or(("", 0.0));
    log.record(LogRecord::new(
        endpoint,
        text,
        best,
        score,
        serde_json::to_string(&summary).unwrap_or_default(),
        took_ms,
        &model_version(state),
    ));
}

/// What a search looks for.
enum Query {
    /// Free text, embedded as given.
    Text(String),
    /// A title and an abstract, rendered with the encoder's template.
    Paper(String, String),
    /// An indexed paper's stored vector.
    Id(String),
}

/// Papers most similar to a text, a paper, or an indexed paper.
#[utoipa::path(post, path = "/v1/search", tag = "search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), BodyErrors,
              (status = 404, description = "The `id` is not in the index (`paper_not_found`)", body = ErrorBody),
              (status = 503, description = "No index (`index_unavailable`) or, for a text query, no encoder (`encoder_unavailable`) is loaded, or the server is shutting down", body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let max = state.config().max_text_chars;
    // Every field first (the schema's rules), then the parts the query needs (503 when one is missing).
    let mut abstract_text = req.abstract_text;
    let query = match (req.text, req.title, req.id) {
        (None, None, None) => {
            return Err(ApiError::field(
                "missing_field",
                "text",
                "give one of text, title (+ abstract) or id",
            ))
        }
        (Some(text), None, None) => {
            check_text("text", &text, true, max)?;
            Query::Text(text)
        }
        (None, Some(title), None) => {
            let abs = abstract_text.take().unwrap_or_default();
            check_text("title", &title, true, max)?;
            check_text("abstract", &abs, false, max)?;
            Query::Paper(title, abs)
        }
        (None, None, Some(id)) => {
            check_text("id", &id, true, MAX_ID_CHARS)?;
            Query::Id(id)
        }
        _ => {
            return Err(ApiError::field(
                "conflicting_fields",
                "text",
                "give only one of text, title (+ abstract) or id",
            ))
        }
    };
    if abstract_text.is_some() {
        return Err(ApiError::field("missing_field", "title", "abstract needs a title"));
    }
    let max_k = i64::try_from(state.config().max_k).unwrap_or(i64::MAX);
    let k = check_range("k", req.k.unwrap_or_else(|| default_k(state.config())), 1, max_k)?;
    let (filter, empty_range) = check_filter(&state, req.category, req.years)?;
    let index = index(&state)?;
    // A vector query, or none when the year range is empty (nothing can match; skip the scan).
    let search = |v: Vec<f32>| {
        let (ix, filter) = (index.clone(), filter.clone());
        async move {
            if empty_range {
                return Ok(Vec::new());
            }
            blocking(move || ix.search(&v, k, &filter)).await
        }
    };
    let (hits, logged_text) = match query {
        Query::Id(id) => {
            let (ix, key, filter) = (index.clone(), id.clone(), filter.clone());
            // Papers like a stored one, never the paper itself (`None`: the id is not stored).
            let found = blocking(move || match empty_range {
                true => Ok(ix.paper(&key)?.map(|_| Vec::new())),
                false => ix.search_like(&key, k, &filter),
            })
            .await?;
            let hits = found.ok_or_else(|| ApiError {
                field: Some("id".into()),
                ..ApiError::not_found("paper_not_found", format!("paper {id} is not in the index"))
            })?;
            (hits, id)
        }
        Query::Text(text) => {
            embedder(&state)?;
            let v = embed_texts(&state, vec![text.clone()]).await?.data;
            (search(v).await?, text)
        }
        Query::Paper(title, abs) => {
            let text = embedder(&state)?.render_paper(&title, &abs);
            let v = embed_texts(&state, vec![text.clone()]).await?.data;
            (search(v).await?, text)
        }
    };
    let results: Vec<SearchHit> =
        hits.into_iter().map(|h| SearchHit { score: h.score, paper: paper_out(&state, h.paper) }).collect();
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    log_ranked(
        &state,
        "search",
        &logged_text,
        results.iter().map(|h| (h.paper.id.as_str(), h.score)),
        took_ms,
    );
    Ok(Json(SearchResponse { results, backend: index.info().backend.clone(), took_ms }))
}

/// One indexed paper.
#[utoipa::path(get, path = "/v1/papers/{id}", tag = "search",
    params(("id" = String, Path, description = "arXiv id, e.g. 1706.03762 or hep-th/9901001")),
    responses((status = 200, body = PaperOut),
              (status = 404, description = "The id is not in the index (`paper_not_found`)", body = ErrorBody),
              (status = 500, description = "The index failed", body = ErrorBody),
              (status = 503, description = "No index is loaded (`index_unavailable`)", body = ErrorBody),
              (status = 504, description = "The request took longer than the server's limit", body = ErrorBody)))]
pub async fn paper(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PaperOut>, ApiError> {
    let id = id.trim_start_matches('/').to_string();
    let ix = index(&state)?;
    let key = id.clone();
    match blocking(move || ix.paper(&key)).await? {
        Some(p) => Ok(Json(paper_out(&state, p))),
        None => Err(ApiError::not_found("paper_not_found", format!("paper {id} is not in the index"))),
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = HealthResponse)))]
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into() })
}

/// Readiness: what was configured is loaded (classifier, encoder, index), workers running, not draining.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let workers = state.0.batcher.workers_alive();
    let draining = state.is_draining();
    let ok = workers > 0 && !draining;
    let body = ReadyResponse {
        status: if ok { "ready" } else { "not_ready" }.into(),
        model: state.0.model.is_some(),
        encoder: state.0.embedder.is_some(),
        index: state.0.index.is_some(),
        workers,
        draining,
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// What is loaded, and the versions.
#[utoipa::path(get, path = "/info", tag = "ops", responses((status = 200, body = InfoResponse)))]
pub async fn info(State(state): State<AppState>) -> Json<InfoResponse> {
    let s = &state.0;
    let b = s.batcher.config();
    Json(InfoResponse {
        name: "arxiv-atlas".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        model: s.model.as_ref().map(|m| m.info().clone()),
        classes: s.model.as_ref().map_or(0, |m| m.labels().len()),
        encoder: s.embedder.as_ref().map(|e| EncoderInfo {
            name: e.name().into(),
            embedding_id: e.embedding_id().into(),
            dim: e.dim(),
            max_tokens: e.max_tokens(),
            backend: e.backend().to_string(),
        }),
        index: s.index.as_ref().map(|i| {
            let i = i.info();
            IndexSummary {
                backend: i.backend.clone(),
                embedding_id: i.embedding_id.clone(),
                dim: i.dim,
                count: i.count,
                metric: i.metric.clone(),
            }
        }),
        batch: BatchSummary {
            max_batch_size: b.max_batch_size,
            max_batch_tokens: b.max_batch_tokens,
            max_wait_ms: b.max_wait.as_secs_f64() * 1000.0,
            queue_capacity: b.queue_capacity,
            workers: b.workers,
        },
        request_log: s.log.as_ref().map(|l| l.target().to_string()),
        uptime_s: s.started.elapsed().as_secs_f64(),
        startup_s: s.startup.clone(),
    })
}
