//! The route handlers. Each validates its body (naming the field at fault), hands model work to the
//! [`crate::batcher::Batcher`], runs index look-ups on the blocking pool (a backend may scan memory or talk
//! to a database), and logs classify/search requests to the request log.

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

/// Default number of categories listed.
const DEFAULT_TOP_K: u32 = 5;
/// Default number of search results.
const DEFAULT_K: u32 = 10;
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
fn check_text(field: &str, s: &str, required: bool, max_chars: usize) -> Result<(), ApiError> {
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

fn check_count(field: &str, n: usize, max: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::field("empty_list", field, "must hold at least one item"));
    }
    if n > max {
        return Err(ApiError::field("too_many", field, format!("holds {n} items; the limit is {max}")));
    }
    Ok(())
}

fn check_top_k(top_k: Option<u32>) -> Result<usize, ApiError> {
    match top_k.unwrap_or(DEFAULT_TOP_K) {
        0 => Err(ApiError::field("invalid_field", "top_k", "must be at least 1")),
        k => Ok(k as usize),
    }
}

/// Builds the answer for row `i`.
fn classification(state: &AppState, p: &Probabilities, i: usize, top_k: usize) -> ClassifyResponse {
    let labels = state.0.model.labels();
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
    ClassifyResponse {
        category: best.category,
        name: best.name,
        probability: best.probability,
        probabilities,
        model: state.0.model.info().version.clone(),
    }
}

/// Renders a paper with the classifier's template, as training did.
fn model_text(state: &AppState, title: &str, abstract_text: &str) -> String {
    atlas_corpus::Paper::from_text(title, abstract_text).text(&state.0.model.info().template)
}

async fn classify_texts(state: &AppState, texts: Vec<String>) -> Result<Probabilities, ApiError> {
    let n = texts.len();
    let p = state.0.batcher.classify(texts).await.map_err(|e| batch_err(state, e))?;
    if p.len() != n || p.n_classes != state.0.model.labels().len() {
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

/// Classify one paper.
#[utoipa::path(post, path = "/v1/classify", tag = "classify", request_body = ClassifyRequest,
    responses((status = 200, body = ClassifyResponse), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 504, body = ErrorBody)))]
pub async fn classify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ClassifyRequest>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let started = Instant::now();
    let max = state.config().max_text_chars;
    check_text("title", &req.title, true, max)?;
    check_text("abstract", &req.abstract_text, false, max)?;
    let top_k = check_top_k(req.top_k)?;
    let text = model_text(&state, &req.title, &req.abstract_text);
    let p = classify_texts(&state, vec![text.clone()]).await?;
    let r = classification(&state, &p, 0, top_k);
    log_classification(&state, &text, &r, started);
    Ok(Json(r))
}

/// Classify several papers in one request.
#[utoipa::path(post, path = "/v1/classify/batch", tag = "classify", request_body = ClassifyBatchRequest,
    responses((status = 200, body = ClassifyBatchResponse), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 504, body = ErrorBody)))]
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
    let texts: Vec<String> =
        req.papers.iter().map(|p| model_text(&state, &p.title, &p.abstract_text)).collect();
    let p = classify_texts(&state, texts.clone()).await?;
    let results: Vec<ClassifyResponse> =
        (0..texts.len()).map(|i| classification(&state, &p, i, top_k)).collect();
    for (t, r) in texts.iter().zip(&results) {
        log_classification(&state, t, r, started);
    }
    Ok(Json(ClassifyBatchResponse { results, model: state.0.model.info().version.clone() }))
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
    responses((status = 200, body = EmbedResponse), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
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
            let e = embedder(&state)?;
            let mut texts = Vec::with_capacity(papers.len());
            for (i, p) in papers.iter().enumerate() {
                check_text(&format!("papers[{i}].title"), &p.title, true, max)?;
                check_text(&format!("papers[{i}].abstract"), &p.abstract_text, false, max)?;
                texts.push(e.render_paper(&p.title, &p.abstract_text));
            }
            texts
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
    responses((status = 200, body = OpenAiEmbeddingsResponse), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn embeddings(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<OpenAiEmbeddingsRequest>,
) -> Result<Json<OpenAiEmbeddingsResponse>, ApiError> {
    if let Some(f) = req.encoding_format.as_deref().filter(|f| *f != "float") {
        return Err(ApiError::field(
            "invalid_field",
            "encoding_format",
            format!("`{f}` is not supported; use `float`"),
        ));
    }
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
            .map(|i| OpenAiEmbedding { object: "embedding".into(), index: i, embedding: out.row(i).to_vec() })
            .collect(),
        model: e.name().to_string(),
        usage: OpenAiUsage { prompt_tokens: out.total_tokens(), total_tokens: out.total_tokens() },
    }))
}

fn index(state: &AppState) -> Result<Arc<dyn VectorIndex>, ApiError> {
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

fn paper_out(state: &AppState, p: PaperMeta) -> PaperOut {
    let category_name = p.categories.first().and_then(|c| {
        state.0.taxonomy.as_ref().and_then(|t| t.name(c)).map(str::to_string).or_else(|| {
            let labels = state.0.model.labels();
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

/// Papers most similar to a text, a paper, or an indexed paper.
#[utoipa::path(post, path = "/v1/search", tag = "search", request_body = SearchRequest,
    responses((status = 200, body = SearchResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<Json<SearchResponse>, ApiError> {
    let started = Instant::now();
    let max = state.config().max_text_chars;
    let given = [req.text.is_some(), req.title.is_some(), req.id.is_some()].iter().filter(|b| **b).count();
    if given == 0 {
        return Err(ApiError::field("missing_field", "text", "give one of text, title (+ abstract) or id"));
    }
    if given > 1 {
        return Err(ApiError::field(
            "conflicting_fields",
            "text",
            "give only one of text, title (+ abstract) or id",
        ));
    }
    if req.abstract_text.is_some() && req.title.is_none() {
        return Err(ApiError::field("missing_field", "title", "abstract needs a title"));
    }
    let k = match req.k.unwrap_or(DEFAULT_K) as usize {
        0 => return Err(ApiError::field("invalid_field", "k", "must be at least 1")),
        k if k > state.config().max_k => {
            return Err(ApiError::field(
                "invalid_field",
                "k",
                format!("must be at most {}", state.config().max_k),
            ))
        }
        k => k,
    };
    let mut filter = Filter::default();
    if let Some(cats) = req.category {
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
    if let Some([from, to]) = req.years {
        if from > to {
            return Err(ApiError::field(
                "invalid_field",
                "years",
                format!("from ({from}) is after to ({to})"),
            ));
        }
        filter.years = Some(from..=to);
    }
    let index = index(&state)?;
    let (query, logged_text, skip_id) = if let Some(id) = req.id {
        check_text("id", &id, true, 64)?;
        let (ix, key) = (index.clone(), id.clone());
        let v = blocking(move || ix.vector(&key)).await?;
        let v = v.ok_or_else(|| ApiError {
            field: Some("id".into()),
            ..ApiError::not_found("paper_not_found", format!("paper {id} is not in the index"))
        })?;
        (v, id.clone(), Some(id))
    } else {
        let text = match (req.text, req.title) {
            (Some(t), _) => {
                check_text("text", &t, true, max)?;
                t
            }
            (None, Some(title)) => {
                let abs = req.abstract_text.unwrap_or_default();
                check_text("title", &title, true, max)?;
                check_text("abstract", &abs, false, max)?;
                embedder(&state)?.render_paper(&title, &abs)
            }
            (None, None) => unreachable!("checked above: one query field is given"),
        };
        embedder(&state)?;
        let e = embed_texts(&state, vec![text.clone()]).await?;
        (e.data, text, None)
    };
    let want = k + usize::from(skip_id.is_some());
    let ix = index.clone();
    let hits = blocking(move || ix.search(&query, want, &filter)).await?;
    let results: Vec<SearchHit> = hits
        .into_iter()
        .filter(|h| skip_id.as_deref() != Some(h.paper.id.as_str()))
        .take(k)
        .map(|h| SearchHit { score: h.score, paper: paper_out(&state, h.paper) })
        .collect();
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Some(log) = &state.0.log {
        let summary: Vec<_> =
            results.iter().map(|h| serde_json::json!({"id": h.paper.id, "score": h.score})).collect();
        let (best, score) = results.first().map_or((String::new(), 0.0), |h| (h.paper.id.clone(), h.score));
        log.record(LogRecord::new(
            "search",
            &logged_text,
            &best,
            score,
            serde_json::to_string(&summary).unwrap_or_default(),
            took_ms,
            &state.0.model.info().version,
        ));
    }
    Ok(Json(SearchResponse { results, backend: index.info().backend.clone(), took_ms }))
}

/// One indexed paper.
#[utoipa::path(get, path = "/v1/papers/{id}", tag = "search",
    params(("id" = String, Path, description = "arXiv id, e.g. 1706.03762 or hep-th/9901001")),
    responses((status = 200, body = PaperOut), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
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

/// Readiness: model (and index, when configured) loaded, workers running, not draining.
#[utoipa::path(get, path = "/ready", tag = "ops", responses((status = 200, body = ReadyResponse), (status = 503, body = ReadyResponse)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let workers = state.0.batcher.workers_alive();
    let draining = state.is_draining();
    let ok = workers > 0 && !draining;
    let body = ReadyResponse {
        status: if ok { "ready" } else { "not_ready" }.into(),
        model: true,
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
        model: s.model.info().clone(),
        classes: s.model.labels().len(),
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
