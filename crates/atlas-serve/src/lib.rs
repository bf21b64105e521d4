//! `atlas-serve`: the arxiv-atlas HTTP server.
//!
//! ```text
//!  client ──► axum router ── ApiJson (strict JSON, field-naming errors) ──► handler
//!                 │  metrics, timeout, JSON errors, panic catcher            │
//!                 │                                         bounded queue ◄──┘ 429 when full
//!                 ▼                                               │
//!            /metrics, /openapi.json, /docs, /          worker thread(s): dynamic batches
//!                                                        (max texts / tokens / wait) → Model, Embedder
//!            request log ◄── bounded channel ◄── handlers (drops counted) ── writer thread → SQLite | PostgreSQL
//!                 │
//!                 └──► drift thread (every interval: latest windows → drift report) ──► /v1/drift, gauges
//! ```
//!
//! Build an [`AppState`] around a [`Model`] (and optionally an [`Embedder`], a
//! [`atlas_index::VectorIndex`], a taxonomy and a [`RequestLog`]), then [`router`] gives the axum router and
//! [`serve`] runs it until a shutdown signal, finishing in-flight requests.

#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod batcher;
pub mod drift;
pub mod error;
pub mod extract;
pub mod load;
pub mod model;
pub mod openapi;
pub mod recommend;
pub mod reqlog;
pub mod state;
pub mod telemetry;
pub mod types;
pub mod web;

use std::future::Future;

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use admin::{AdminToken, ReloadResponse, ADMIN_TOKEN_ENV};
pub use batcher::{BatchConfig, BatchError, Batcher};
pub use drift::{DriftMonitor, DriftOptions, DriftResponse, DriftState};
pub use error::{ApiError, ErrorBody, ModelError, ServeError};
pub use load::{build_state, default_max_batch_tokens, ServeOptions};
pub use model::{
    embed_with_encoder, render_with_encoder, Embedded, Embedder, EncoderEmbedder, Model, ModelInfo,
    TextClassifierModel,
};
pub use reqlog::{LogError, LogRecord, LogTarget, RequestLog};
pub use state::{AppState, AppStateBuilder, LiveState, ServerConfig};

/// Every API route as `(method, path in OpenAPI form, handler)`. The router is built from this list and the
/// OpenAPI test compares it with the spec, so a route cannot be added without documenting it.
fn routes() -> Vec<(&'static str, &'static str, MethodRouter<LiveState>)> {
    vec![
        ("POST", "/v1/classify", post(api::classify)),
        ("POST", "/v1/classify/batch", post(api::classify_batch)),
        ("POST", "/v1/embed", post(api::embed)),
        ("POST", "/v1/embeddings", post(api::embeddings)),
        ("POST", "/v1/search", post(api::search)),
        ("POST", "/v1/recommend", post(recommend::recommend)),
        ("GET", "/v1/papers/{id}", get(api::paper)),
        ("GET", "/v1/drift", get(drift::drift)),
        ("POST", "/v1/admin/reload", post(admin::reload)),
        ("GET", "/health", get(api::health)),
        ("GET", "/ready", get(api::ready)),
        ("GET", "/info", get(api::info)),
        ("GET", "/metrics", get(telemetry::metrics_handler)),
        ("GET", "/openapi.json", get(openapi::openapi_json)),
        ("GET", "/", get(web::index)),
    ]
}

/// `(method, path)` of every documented route of [`router`] (the Swagger UI under `/docs` is not an API
/// route and is left out).
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    routes().into_iter().map(|(m, p, _)| (m, p)).collect()
}

/// The axum path for an OpenAPI path: arXiv ids such as `hep-th/9901001` contain a slash, so `{id}` is a
/// catch-all segment.
fn axum_path(path: &str) -> String {
    path.replace("{id}", "{*id}")
}

/// The complete router over `state` (which `POST /v1/admin/reload` cannot replace from outside: use
/// [`live_router`] to keep the holder).
pub fn router(state: AppState) -> Router {
    live_router(LiveState::new(state))
}

/// The complete router: API routes, Swagger UI at `/docs`, and the middleware stack, serving whatever state
/// `live` holds at each request.
pub fn live_router(live: LiveState) -> Router {
    telemetry::prometheus();
    // Limits are settings of the server, the same in every state a reload builds.
    let state = live.current();
    let mut api = Router::new();
    for (_, path, handler) in routes() {
        api = api.route(&axum_path(path), handler);
    }
    let body_limit = state.config().body_limit;
    api.merge(openapi::swagger_ui())
        .fallback(|| async { ApiError::not_found("not_found", "no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        // Order (outermost last): JSON errors see every answer, including timeouts and caught panics.
        .layer(CatchPanicLayer::custom(telemetry::panic_response))
        .layer(axum::middleware::from_fn_with_state(state.clone(), telemetry::timeout))
        .layer(axum::middleware::from_fn(telemetry::json_errors))
        .route_layer(axum::middleware::from_fn(telemetry::track))
        .with_state(live)
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets in-flight requests
/// finish, stops the workers and flushes the request log.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let live = LiveState::new(state);
    let app = live_router(live.clone());
    let s = live.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            s.current().begin_shutdown();
        })
        .await
        .map_err(|source| ServeError::Io { op: "serving HTTP".into(), source });
    // Workers and the log writer are blocking threads: join them off the runtime. The state now served (a
    // reload may have replaced the one given); replaced ones stopped their workers when their last request
    // ended.
    let s = live.current();
    let _ = tokio::task::spawn_blocking(move || s.shutdown()).await;
    result
}

/// Resolves on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
