//! `POST /v1/recommend`: papers like a reading list, ranked by `atlas-recommend` (a linear model fitted to the
//! list over embeddings and TF-IDF). The recommender is loaded with the index when the index folder holds
//! its TF-IDF features (`arxiv-atlas recommend --papers … ` builds them once).

use std::sync::Arc;
use std::time::Instant;

use atlas_recommend::{RecommendError, Recommender};
use axum::extract::State;
use axum::Json;

use crate::api::BodyErrors;
use crate::api::{check_count, check_filter, check_range, check_text, default_k, paper_out, MAX_ID_CHARS};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::types::*;

fn recommender(state: &AppState) -> Result<Arc<Recommender>, ApiError> {
    state.0.recommender.clone().ok_or_else(|| {
        ApiError::unavailable(
            "recommendations_unavailable",
            format!("recommendations are not available: {}", state.0.recommend_disabled),
        )
    })
}

/// Papers like a reading list: a linear model is fitted to the list's papers against a sample of the index
/// and ranks every indexed paper; the list's own papers are never returned.
#[utoipa::path(post, path = "/v1/recommend", tag = "search", request_body = RecommendRequest,
    responses((status = 200, body = RecommendResponse), BodyErrors,
              (status = 404, description = "An id of the list is not in the index (`paper_not_found`; the message names every such id)", body = ErrorBody),
              (status = 503, description = "No index with reading-list features is loaded (`recommendations_unavailable`), or the server is shutting down", body = ErrorBody)))]
pub async fn recommend(
    State(state): State<AppState>,
    crate::extract::ApiJson(req): crate::extract::ApiJson<RecommendRequest>,
) -> Result<Json<RecommendResponse>, ApiError> {
    let started = Instant::now();
    check_count("ids", req.ids.len(), state.config().max_items)?;
    for id in &req.ids {
        check_text("ids", id, true, MAX_ID_CHARS)?;
    }
    let max_k = i64::try_from(state.config().max_k).unwrap_or(i64::MAX);
    let k = check_range("k", req.k.unwrap_or_else(|| default_k(state.config())), 1, max_k)?;
    let (filter, empty_range) = check_filter(&state, req.category, req.years)?;
    let rec = recommender(&state)?;
    let ids = req.ids.clone();
    let found = tokio::task::spawn_blocking(move || match empty_range {
        // Nothing can match an empty year range; the ids are still checked.
        true => rec.recommend_where(&ids, k, |_| false),
        false => rec.recommend(&ids, k, &filter),
    })
    .await
    .map_err(|_| ApiError::internal("the recommender panicked"))?;
    let recs = match found {
        Ok(r) => r,
        Err(RecommendError::UnknownIds(unknown)) => {
            return Err(ApiError {
                field: Some("ids".into()),
                ..ApiError::not_found("paper_not_found", format!("not in the index: {}", unknown.join(", ")))
            })
        }
        Err(RecommendError::EmptyList) => {
            return Err(ApiError::field("empty_list", "ids", "must hold at least one item"))
        }
        Err(e) => return Err(ApiError::internal(format!("recommend: {e}"))),
    };
    let results: Vec<RecommendHit> = recs
        .into_iter()
        .map(|r| RecommendHit { score: r.score, paper: paper_out(&state, r.paper) })
        .collect();
    let took_ms = started.elapsed().as_secs_f64() * 1000.0;
    let ranked = results.iter().map(|h| (h.paper.id.as_str(), h.score));
    crate::api::log_ranked(&state, "recommend", &req.ids.join(","), ranked, took_ms);
    Ok(Json(RecommendResponse { results, took_ms }))
}
