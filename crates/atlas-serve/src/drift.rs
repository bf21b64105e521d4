//! Live drift monitoring: a background thread that, every [`DriftOptions::interval`], reads the latest
//! windows of the request log (the classify requests of the last `1h`, `24h` …) and runs atlas-monitor's
//! drift report on each against the model's reference profile. The latest report per window is what
//! `GET /v1/drift?window=` answers, and every test's score, threshold, verdict and sample sizes are Prometheus
//! gauges on `/metrics`.
//!
//! The work never runs on a request's path: a request only reads the latest result under a lock held for a
//! clone. The thread is a plain OS thread, so the synchronous PostgreSQL client (which drives a runtime of its
//! own and panics inside Tokio's) can read a PostgreSQL request log there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use atlas_model::LoadedModel;
use atlas_monitor::{DriftReport, MonitorParams, ReferenceProfile, Span};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How the server watches its request log for drift.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftOptions {
    /// Time between two runs (each run computes every window). A run that takes longer delays the next one;
    /// runs never overlap.
    pub interval: Duration,
    /// The windows, each ending at the run's start: the classify requests of the last `span`. The first is
    /// what `GET /v1/drift` answers without `?window=`.
    pub windows: Vec<Span>,
    /// Most requests per window: the latest ones when the window holds more, so that a burst of traffic
    /// cannot make a run arbitrarily slow (the tests subsample larger windows anyway).
    pub max_requests: usize,
    /// Fewer requests than this in a window: no report (`too_few_requests`) — a handful of texts says
    /// nothing about a distribution, and the cross-validated domain classifiers need several per fold.
    pub min_requests: usize,
    /// Thresholds and sample sizes of the tests (the `monitor` section of the configuration).
    pub params: MonitorParams,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            interval: Duration::from_secs(60),
            windows: vec![Span::from_secs(3600).expect("an hour is a valid span")],
            max_requests: 10_000,
            min_requests: 100,
            params: MonitorParams::default(),
        }
    }
}

/// Where a window's monitoring stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// The server does not monitor drift (no classifier, no request log, no reference profile, or turned
    /// off); `message` says which.
    Disabled,
    /// Monitored, but the first run has not finished yet.
    Pending,
    /// The latest run found fewer requests in the window than the server's minimum.
    TooFewRequests,
    /// The latest run produced `report`.
    Ready,
    /// The latest run failed (`message` says why); no report.
    Failed,
}

/// `GET /v1/drift`: the latest drift report of one window of the request log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriftResponse {
    /// The window (e.g. `1h`: the classify requests of the hour before the run).
    pub window: String,
    /// Every window this server monitors.
    pub windows: Vec<String>,
    /// Where the window's monitoring stands.
    pub state: DriftState,
    /// Seconds between runs (`null` when disabled).
    pub interval_s: Option<f64>,
    /// When the latest run of this window finished (RFC 3339, UTC); `null` before the first.
    pub computed_at: Option<String>,
    /// Classify requests the latest run read from the window (at most the server's maximum, the latest ones).
    pub requests: usize,
    /// Seconds the latest run of this window took.
    pub seconds: Option<f64>,
    /// Whether the latest report found drift (`false` without a report).
    pub drift: bool,
    /// Why there is no report (disabled, too few requests, the error).
    pub message: Option<String>,
    /// The latest report, as `arxiv-atlas drift --json` prints it: every test with method, score, threshold,
    /// p-value, sample sizes and verdict, the distributions, the categories and words that moved.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// The outcome of one window's latest run.
#[derive(Debug, Clone)]
struct WindowResult {
    state: DriftState,
    computed_at: Option<String>,
    requests: usize,
    seconds: Option<f64>,
    message: Option<String>,
    report: Option<Arc<DriftReport>>,
}

impl WindowResult {
    fn pending() -> Self {
        WindowResult {
            state: DriftState::Pending,
            computed_at: None,
            requests: 0,
            seconds: None,
            message: None,
            report: None,
        }
    }
}

/// The background drift monitor of a server: model, reference profile, request log and the latest results.
pub struct DriftMonitor {
    model: Arc<LoadedModel>,
    profile: ReferenceProfile,
    /// The request log as atlas-monitor reads it: a SQLite path or a PostgreSQL URL.
    log: String,
    options: DriftOptions,
    latest: RwLock<BTreeMap<Span, WindowResult>>,
    /// `(feature, method)` of the tests that have gauges, per window, so that a run without a report can
    /// clear their verdicts instead of leaving a stale alarm.
    gauged: Mutex<BTreeMap<Span, BTreeSet<(String, String)>>>,
    stop: Mutex<Option<SyncSender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl DriftMonitor {
    /// A monitor of `log` (a SQLite path or a PostgreSQL URL, as the server writes it) for `model` against its
    /// reference `profile`. It runs once [`DriftMonitor::start`]ed (the server's state does it when built).
    pub fn new(
        model: Arc<LoadedModel>,
        profile: ReferenceProfile,
        log: String,
        mut options: DriftOptions,
    ) -> Result<DriftMonitor, String> {
        let mut seen = BTreeSet::new();
        options.windows.retain(|w| seen.insert(*w));
        if options.windows.is_empty() {
            return Err("drift monitoring needs at least one window".into());
        }
        if options.interval.is_zero() {
            return Err("the drift interval must be positive".into());
        }
        let latest = options.windows.iter().map(|w| (*w, WindowResult::pending())).collect();
        Ok(DriftMonitor {
            model,
            profile,
            log,
            options,
            latest: RwLock::new(latest),
            gauged: Mutex::new(BTreeMap::new()),
            stop: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    /// The settings in force.
    pub fn options(&self) -> &DriftOptions {
        &self.options
    }

    /// Starts the background thread: a run at once, then one every interval until [`DriftMonitor::stop`] or
    /// until the monitor is dropped. Does nothing when already started.
    pub fn start(self: &Arc<Self>) {
        let Ok(mut thread) = self.thread.lock() else { return };
        if thread.is_some() {
            return;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        // A weak reference: the thread must not keep the monitor (and its model) alive once the server's
        // state is gone; dropping the monitor drops the sender, which ends the thread's wait.
        let weak = Arc::downgrade(self);
        let spawned =
            std::thread::Builder::new().name("atlas-drift".into()).spawn(move || run_loop(weak, rx));
        match spawned {
            Ok(h) => {
                *thread = Some(h);
                if let Ok(mut stop) = self.stop.lock() {
                    *stop = Some(tx);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not start the drift monitor thread"),
        }
    }

    /// Stops the background thread after its current run.
    pub fn stop(&self) {
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
        if let Some(h) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = h.join();
        }
    }

    /// Computes every window now, on the calling thread (the background thread calls this each interval),
    /// and publishes the results and gauges.
    pub fn run_once(&self) {
        for &window in &self.options.windows {
            let started = Instant::now();
            let mut result = self.compute(window);
            let seconds = started.elapsed().as_secs_f64();
            result.seconds = Some(seconds);
            result.computed_at = Some(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
            self.publish(window, &result, seconds);
            if let Ok(mut latest) = self.latest.write() {
                latest.insert(window, result);
            }
        }
    }

    /// One window's run: read the latest requests, then the report (or why there is none).
    fn compute(&self, window: Span) -> WindowResult {
        let failed = |requests: usize, message: String| WindowResult {
            state: DriftState::Failed,
            requests,
            message: Some(message),
            ..WindowResult::pending()
        };
        let since = Utc::now() - chrono::Duration::seconds(window.as_secs() as i64);
        let since = since.to_rfc3339_opts(SecondsFormat::Millis, true);
        let texts = atlas_monitor::read_request_log_tail(
            &self.log,
            Some(&since),
            None,
            Some(self.options.max_requests),
        );
        let mut current = match texts {
            Ok(w) => w,
            Err(e) => return failed(0, format!("reading the request log: {e}")),
        };
        let requests = current.texts.len();
        if requests < self.options.min_requests.max(1) {
            return WindowResult {
                state: DriftState::TooFewRequests,
                requests,
                message: Some(format!(
                    "{requests} classify requests in the last {window}; a report needs at least {}",
                    self.options.min_requests.max(1)
                )),
                ..WindowResult::pending()
            };
        }
        current.source = format!("request log, last {window} ({requests} classify requests)");
        match atlas_monitor::drift(&self.model, &self.profile, &current, &self.options.params) {
            Ok(report) => WindowResult {
                state: DriftState::Ready,
                requests,
                report: Some(Arc::new(report)),
                ..WindowResult::pending()
            },
            Err(e) => failed(requests, e.to_string()),
        }
    }

    /// Sets the window's gauges from `result`.
    fn publish(&self, window: Span, result: &WindowResult, seconds: f64) {
        let w = window.to_string();
        let outcome = match result.state {
            DriftState::Ready => "ready",
            DriftState::TooFewRequests => "too_few_requests",
            _ => "failed",
        };
        metrics::counter!("atlas_drift_runs_total", "window" => w.clone(), "outcome" => outcome).increment(1);
        metrics::gauge!("atlas_drift_window_requests", "window" => w.clone()).set(result.requests as f64);
        metrics::gauge!("atlas_drift_run_duration_seconds", "window" => w.clone()).set(seconds);
        let Ok(mut gauged) = self.gauged.lock() else { return };
        let known = gauged.entry(window).or_default();
        let Some(report) = &result.report else {
            // No verdict this run: clear the previous verdicts rather than keep alerting on an old window.
            metrics::gauge!("atlas_drift_window_detected", "window" => w.clone()).set(0.0);
            for (feature, method) in known.iter() {
                let labels = test_labels(&w, feature, method);
                metrics::gauge!("atlas_drift_detected", &labels).set(0.0);
            }
            return;
        };
        metrics::gauge!("atlas_drift_window_detected", "window" => w.clone())
            .set(f64::from(u8::from(report.drift)));
        metrics::gauge!("atlas_drift_last_success_timestamp_seconds", "window" => w.clone())
            .set(Utc::now().timestamp_millis() as f64 / 1000.0);
        for t in &report.tests {
            let labels = test_labels(&w, &t.feature, &t.method);
            metrics::gauge!("atlas_drift_score", &labels).set(t.score);
            metrics::gauge!("atlas_drift_threshold", &labels).set(t.threshold);
            metrics::gauge!("atlas_drift_detected", &labels).set(f64::from(u8::from(t.drift)));
            if let Some(p) = t.p_value {
                metrics::gauge!("atlas_drift_p_value", &labels).set(p);
            }
            for (side, n) in [("reference", t.n_reference), ("current", t.n_current)] {
                let mut l = labels.clone();
                l.push(("side", side.to_string()));
                metrics::gauge!("atlas_drift_sample_size", &l).set(n as f64);
            }
            known.insert((t.feature.clone(), t.method.clone()));
        }
    }

    /// The answer to `GET /v1/drift` for `window` (the first monitored one when `None`).
    fn answer(&self, window: Option<Span>) -> Result<DriftResponse, ApiError> {
        let windows: Vec<String> = self.options.windows.iter().map(Span::to_string).collect();
        let window = window.unwrap_or(self.options.windows[0]);
        let latest =
            self.latest.read().map_err(|_| ApiError::internal("the drift results are unreadable"))?;
        let Some(r) = latest.get(&window) else {
            return Err(ApiError::not_found(
                "window_not_monitored",
                format!("this server does not monitor the last {window}; it monitors {}", windows.join(", ")),
            ));
        };
        let report = match &r.report {
            Some(report) => Some(
                serde_json::to_value(report.as_ref())
                    .map_err(|e| ApiError::internal(format!("serialising the drift report: {e}")))?,
            ),
            None => None,
        };
        Ok(DriftResponse {
            window: window.to_string(),
            windows,
            state: r.state,
            interval_s: Some(self.options.interval.as_secs_f64()),
            computed_at: r.computed_at.clone(),
            requests: r.requests,
            seconds: r.seconds,
            drift: r.report.as_ref().is_some_and(|r| r.drift),
            message: r.message.clone(),
            report,
        })
    }
}

/// The labels of one test's gauges.
fn test_labels(window: &str, feature: &str, method: &str) -> Vec<(&'static str, String)> {
    vec![("window", window.to_string()), ("feature", feature.to_string()), ("method", method.to_string())]
}

/// The background thread's loop: a run, then a wait of one interval that a stop (or the monitor's drop)
/// cuts short.
fn run_loop(monitor: Weak<DriftMonitor>, stop: Receiver<()>) {
    loop {
        let Some(m) = monitor.upgrade() else { return };
        m.run_once();
        let interval = m.options.interval;
        drop(m);
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Reads `?window=` from a query string: `None` when absent; 400 for anything else than one valid window.
fn window_param(query: Option<&str>) -> Result<Option<Span>, ApiError> {
    let bad = |code: &'static str, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    let mut window = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "window" {
            return Err(bad(
                "invalid_query",
                format!("unknown query parameter {key:?}; the only one is `window`"),
            ));
        }
        if window.is_some() {
            return Err(bad("invalid_window", "give `window` once".into()));
        }
        let span: Span = value
            .parse()
            .map_err(|e: atlas_monitor::MonitorError| bad("invalid_window", format!("window: {e}")))?;
        window = Some(span);
    }
    Ok(window)
}

/// The latest drift report of a window of the request log, computed in the background (this route only
/// reads it).
#[utoipa::path(get, path = "/v1/drift", tag = "monitor",
    params(("window" = Option<String>, Query, description = "Which monitored window: a length with a unit (`15m`, `1h`, `7d`); default the server's first window (`serve --drift-window`)")),
    responses((status = 200, body = DriftResponse),
              (status = 400, description = "`window` is not a window length (`invalid_window`), or the query has another parameter (`invalid_query`)", body = ErrorBody),
              (status = 404, description = "The server does not monitor this window (`window_not_monitored`)", body = ErrorBody)))]
pub async fn drift(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<DriftResponse>, ApiError> {
    let window = window_param(query.as_deref())?;
    match state.drift_monitor() {
        Some(m) => m.answer(window).map(Json),
        None => Ok(Json(DriftResponse {
            window: window.map(|w| w.to_string()).unwrap_or_default(),
            windows: Vec::new(),
            state: DriftState::Disabled,
            interval_s: None,
            computed_at: None,
            requests: 0,
            seconds: None,
            drift: false,
            message: Some(state.drift_disabled_reason().to_string()),
            report: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_parameter_is_one_valid_window() {
        assert_eq!(window_param(None).unwrap(), None);
        assert_eq!(window_param(Some("")).unwrap(), None);
        assert_eq!(window_param(Some("window=60m")).unwrap().map(|w| w.to_string()), Some("1h".into()));
        for (query, code) in [
            ("window=soon", "invalid_window"),
            ("window=", "invalid_window"),
            ("window=0m", "invalid_window"),
            ("window=1h&window=2h", "invalid_window"),
            ("since=1h", "invalid_query"),
        ] {
            let e = window_param(Some(query)).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, code), "{query}");
        }
    }
}
