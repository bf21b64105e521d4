//! Prometheus metrics and the middleware that turns every answer into metrics (and every error into JSON).
//!
//! Metrics are recorded with the `metrics` facade; [`prometheus`] installs the Prometheus recorder once per
//! process (the facade has one global recorder) and `/metrics` renders it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{code_for_status, ApiError};
use crate::state::AppState;

/// Latency buckets (seconds): 1 ms … 30 s, dense where a classify or search request usually lands.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Batch-size buckets (texts or requests per model call).
const SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Token buckets per model call.
const TOKEN_BUCKETS: &[f64] = &[16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on first use. When another recorder was installed
/// first (an embedding application's), metrics go there and `/metrics` renders an empty registry.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("atlas_batch_size".into()), SIZE_BUCKETS))
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full("atlas_batch_requests".into()), SIZE_BUCKETS)
            })
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("atlas_batch_tokens".into()), TOKEN_BUCKETS))
            .expect("bucket lists are non-empty constants");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        // Counters that only move on trouble exist from the start at 0, so that `rate()` in alert rules and
        // dashboards (deploy/) has a series before the first rejection or dropped record.
        for name in [
            "atlas_queue_rejected_total",
            "atlas_jobs_cancelled_total",
            "atlas_request_log_written_total",
            "atlas_request_log_dropped_total",
        ] {
            metrics::counter!(name).increment(0);
        }
        for outcome in ["ok", "failed"] {
            metrics::counter!("atlas_reloads_total", "outcome" => outcome).increment(0);
        }
        metrics::gauge!("atlas_queue_depth").increment(0.0);
        handle
    })
}

fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests answered, by route, method and status");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency"
    );
    metrics::describe_gauge!("http_requests_in_flight", "HTTP requests being served");
    metrics::describe_gauge!("atlas_queue_depth", "Inference jobs waiting in the queue");
    metrics::describe_counter!(
        "atlas_queue_rejected_total",
        "Requests refused with 429 because the queue was full"
    );
    metrics::describe_counter!(
        "atlas_jobs_cancelled_total",
        "Queued jobs skipped because their client had gone"
    );
    metrics::describe_histogram!(
        "atlas_queue_wait_seconds",
        metrics::Unit::Seconds,
        "Time jobs waited in the queue"
    );
    metrics::describe_histogram!("atlas_batch_size", "Texts per model call");
    metrics::describe_histogram!("atlas_batch_requests", "Requests merged into one model call");
    metrics::describe_histogram!("atlas_batch_tokens", "Estimated tokens per model call");
    metrics::describe_histogram!("atlas_inference_seconds", metrics::Unit::Seconds, "Model call duration");
    metrics::describe_counter!("atlas_request_log_written_total", "Request-log records written");
    metrics::describe_gauge!(
        "atlas_drift_score",
        "Latest drift test score (effect size or statistic), by window, feature and method"
    );
    metrics::describe_gauge!("atlas_drift_threshold", "Threshold the drift test's score is compared with");
    metrics::describe_gauge!(
        "atlas_drift_detected",
        "1 when the drift test reports drift in the latest run of its window, else 0"
    );
    metrics::describe_gauge!("atlas_drift_p_value", "p-value of the drift test, for tests that have one");
    metrics::describe_gauge!(
        "atlas_drift_sample_size",
        "Rows the drift test used, by side (reference, current)"
    );
    metrics::describe_gauge!(
        "atlas_drift_window_detected",
        "1 when any test of the window's latest report reports drift"
    );
    metrics::describe_gauge!(
        "atlas_drift_window_requests",
        "Classify requests the window's latest drift run read"
    );
    metrics::describe_gauge!(
        "atlas_drift_run_duration_seconds",
        metrics::Unit::Seconds,
        "Duration of the window's latest drift run"
    );
    metrics::describe_gauge!(
        "atlas_drift_last_success_timestamp_seconds",
        metrics::Unit::Seconds,
        "Unix time of the window's latest drift report"
    );
    metrics::describe_counter!(
        "atlas_drift_runs_total",
        "Drift runs by window and outcome (ready, too_few_requests, failed)"
    );
    metrics::describe_counter!(
        "atlas_reloads_total",
        "POST /v1/admin/reload calls by outcome (ok, failed: the previous state kept serving)"
    );
    metrics::describe_gauge!("atlas_index_papers", "Papers in the index now served");
    metrics::describe_counter!(
        "atlas_request_log_dropped_total",
        "Request-log records dropped (writer behind or failing)"
    );
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics_handler() -> Response {
    let h = prometheus();
    h.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response()
}

/// Counts and times every request by its route pattern (not the raw path, which would explode label
/// cardinality with paper ids).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let method = req.method().to_string();
    let start = Instant::now();
    let gauge = metrics::gauge!("http_requests_in_flight");
    gauge.increment(1.0);
    let resp = next.run(req).await;
    gauge.decrement(1.0);
    let status = resp.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// Ends a request that runs past the configured timeout with 504. Dropping the handler future also drops
/// its queue reply channel, so a job still waiting is skipped by the worker.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // A reload answers when the new state serves (a large index may take longer than a request may);
    // cutting it short would not stop it, only hide its outcome.
    if req.uri().path().starts_with("/v1/admin/") {
        return next.run(req).await;
    }
    let limit: Duration = state.config().request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("the request took longer than {:.1} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// Rewrites every error answer that is not JSON (axum's own 404/405/413 and rejections, tower-http's panic
/// answer) into the `{"error": {"code", "message"}}` shape, keeping its text as the message.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = match (text.trim(), status) {
        ("", StatusCode::NOT_FOUND) => "no such route".to_string(),
        ("", StatusCode::METHOD_NOT_ALLOWED) => "this route does not accept that method".to_string(),
        ("", s) => s.canonical_reason().unwrap_or("error").to_string(),
        (t, _) => t.to_string(),
    };
    let mut fresh = ApiError::new(status, code_for_status(status), message).into_response();
    // Keep headers such as Allow (405) and Retry-After; the body's own headers are replaced.
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(k.clone(), v.clone());
        }
    }
    fresh.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    fresh
}

/// The answer for a panicking handler (tower-http `CatchPanic`): a JSON 500, never a dropped connection.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    ApiError::internal("the server hit an internal error while answering this request").into_response()
}
