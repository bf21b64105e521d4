//! Admin routes: `POST /v1/admin/reload` picks up an updated index (and a changed model) without a restart.
//!
//! Admin routes are off unless the server was given a bearer token ([`AdminToken`]: the
//! `ARXIV_ATLAS_ADMIN_TOKEN` environment variable or `serve --admin-token-file`); off, they answer 404
//! `admin_disabled`; on, a request without the token, or with another, answers 401 with
//! `WWW-Authenticate: Bearer`.

use std::path::Path;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody, ServeError};
use crate::state::{AppState, LiveState};

/// The environment variable holding the admin token.
pub const ADMIN_TOKEN_ENV: &str = "ARXIV_ATLAS_ADMIN_TOKEN";

/// Fewest characters of an admin token: a short secret can be guessed through the API.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The secret that admin requests must present as `Authorization: Bearer <token>`.
///
/// Only its SHA-256 is kept: the secret itself never sits in the server's memory after start, and a
/// presented token is compared digest to digest in constant time (equal-length digests, every byte
/// compared), so the answer time tells nothing about how much of a guess was right.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// A token from its text (surrounding white space, such as a file's final newline, is not part of it).
    pub fn new(secret: &str) -> Result<AdminToken, ServeError> {
        let secret = secret.trim();
        if secret.chars().count() < MIN_TOKEN_CHARS {
            return Err(ServeError::Config(format!(
                "the admin token must be at least {MIN_TOKEN_CHARS} characters long; make one with \
                 `openssl rand -hex 32`"
            )));
        }
        Ok(AdminToken { digest: Sha256::digest(secret.as_bytes()).into() })
    }

    /// The token in file `path` (a mounted secret).
    pub fn from_file(path: &Path) -> Result<AdminToken, ServeError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::Io {
            op: format!("reading the admin token {}", path.display()),
            source,
        })?;
        AdminToken::new(&text)
            .map_err(|e| ServeError::Config(format!("admin token file {}: {e}", path.display())))
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.iter().zip(other.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The refusal of an admin request: 404 when admin routes are off, 401 (with `WWW-Authenticate`) when the
/// request does not carry the token; `None` when it may proceed.
fn refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let Some(token) = state.admin_token() else {
        return Some(
            ApiError::not_found(
                "admin_disabled",
                format!(
                    "admin routes are off: start the server with {ADMIN_TOKEN_ENV} or --admin-token-file"
                ),
            )
            .into_response(),
        );
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    if presented.is_some_and(|t| token.matches(t)) {
        return None;
    }
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "admin routes need `Authorization: Bearer <token>` with the server's admin token",
    )
    .into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(resp)
}

/// `POST /v1/admin/reload`: what the server serves now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadResponse {
    /// Papers in the index before the reload (0 without an index).
    pub papers_before: usize,
    /// Papers in the index now.
    pub papers_after: usize,
    /// Index backend (`usearch`, `exact`, `postgres`), when an index is served.
    pub index_backend: Option<String>,
    /// The classifier's version now served, when one is.
    pub model: Option<String>,
    /// Whether the classifier was loaded again (its folder's content changed) or kept.
    pub model_reloaded: bool,
    /// The vector space of the encoder now served, when one is.
    pub embedding_id: Option<String>,
    /// How long loading and swapping took, in milliseconds.
    pub took_ms: f64,
}

/// Re-open the index (and the classifier, when its folder's content changed) and serve them from now on.
///
/// The new state is built completely beside the old one, then swapped in: requests in flight finish on the
/// old state and no request fails. A reload that fails (a missing or corrupt index, a checksum mismatch)
/// leaves the old state serving. Reloads run one at a time. For a PostgreSQL index, whose papers are live
/// already, the reload only reconnects.
#[utoipa::path(post, path = "/v1/admin/reload", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = ReloadResponse),
              (status = 401, description = "No `Authorization: Bearer` header, or not the admin token (`unauthorized`)", body = ErrorBody),
              (status = 404, description = "Admin routes are off: the server has no admin token (`admin_disabled`)", body = ErrorBody),
              (status = 409, description = "The server was not started from locations it can re-open (`reload_unavailable`)", body = ErrorBody),
              (status = 500, description = "Loading failed; the previous state is still served (`reload_failed`)", body = ErrorBody),
              (status = 503, description = "The server is shutting down (`shutting_down`)", body = ErrorBody)))]
pub async fn reload(State(live): State<LiveState>, headers: HeaderMap) -> Response {
    let state = live.current();
    if let Some(resp) = refusal(&state, &headers) {
        return resp;
    }
    if state.is_draining() {
        return ApiError::unavailable("shutting_down", "the server is shutting down").into_response();
    }
    if state.0.source.is_none() {
        return ApiError::new(
            StatusCode::CONFLICT,
            "reload_unavailable",
            "this server was assembled in-process, not from locations it can re-open",
        )
        .into_response();
    }
    // The guard and the swap travel into the blocking task: a client that hangs up mid-reload neither frees
    // the next reload early nor leaves a loaded state unswapped.
    let guard = live.reload_guard().await;
    let task = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let started = Instant::now();
        // The state now served (another reload may have swapped one in while this one waited).
        let prev = live.current();
        let outcome = crate::load::reload_state(&prev).map(|(next, model_reloaded)| {
            let report = ReloadResponse {
                papers_before: prev.index_papers(),
                papers_after: next.index_papers(),
                index_backend: next.0.index.as_ref().map(|i| i.info().backend.clone()),
                model: next.0.model.as_ref().map(|m| m.info().version.clone()),
                model_reloaded,
                embedding_id: next.0.embedder.as_ref().map(|e| e.embedding_id().to_string()),
                took_ms: 0.0,
            };
            drop(live.replace(next));
            report
        });
        outcome.map(|r| ReloadResponse { took_ms: started.elapsed().as_secs_f64() * 1000.0, ..r })
    });
    match task.await {
        Ok(Ok(report)) => {
            metrics::counter!("atlas_reloads_total", "outcome" => "ok").increment(1);
            tracing::info!(
                papers_before = report.papers_before,
                papers_after = report.papers_after,
                model_reloaded = report.model_reloaded,
                took_ms = report.took_ms,
                "reloaded"
            );
            Json(report).into_response()
        }
        Ok(Err(e)) => {
            metrics::counter!("atlas_reloads_total", "outcome" => "failed").increment(1);
            tracing::error!(error = %e, "reload failed; still serving the previous state");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reload_failed",
                format!("reload failed, the previous state is still served: {e}"),
            )
            .into_response()
        }
        Err(_) => {
            metrics::counter!("atlas_reloads_total", "outcome" => "failed").increment(1);
            ApiError::internal("the reload panicked; the previous state is still served").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_itself_only() {
        let t = AdminToken::new("  0123456789abcdef0123\n").unwrap();
        assert!(t.matches("0123456789abcdef0123"));
        assert!(!t.matches("0123456789abcdef0124"));
        assert!(!t.matches(""));
        assert!(!format!("{t:?}").contains("0123"), "Debug must not show the secret");
    }

    #[test]
    fn a_short_token_is_refused() {
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("   ").is_err());
    }
}
