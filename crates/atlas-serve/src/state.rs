//! [`AppState`]: everything the handlers share, built by [`AppState::builder`]; [`LiveState`]: the holder the
//! router serves from, whose state `POST /v1/admin/reload` replaces while requests keep flowing.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use atlas_corpus::Taxonomy;
use atlas_index::VectorIndex;

use crate::admin::AdminToken;
use crate::batcher::{BatchConfig, Batcher};
use crate::drift::DriftMonitor;
use crate::error::ServeError;
use crate::load::ServeOptions;
use crate::model::{Embedder, Model};
use crate::reqlog::RequestLog;

/// Request limits and batching settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Batching and queue limits of the inference workers.
    pub batch: BatchConfig,
    /// Largest request body in bytes (larger → 413).
    pub body_limit: usize,
    /// Longest time a request may take (longer → 504).
    pub request_timeout: Duration,
    /// Longest text field, in characters (longer → 422).
    pub max_text_chars: usize,
    /// Most papers or texts in one batch request (more → 422).
    pub max_items: usize,
    /// Largest `k` of a search.
    pub max_k: usize,
    /// Seconds clients are told to wait in `Retry-After` when the queue is full.
    pub retry_after_s: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            batch: BatchConfig::default(),
            // 2 MiB holds a batch of 128 long abstracts; anything larger is a mistake or an attack.
            body_limit: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_text_chars: 20_000,
            max_items: 128,
            max_k: 100,
            retry_after_s: 1,
        }
    }
}

/// The shared server state (cheap to clone).
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub model: Option<Arc<dyn Model>>,
    pub embedder: Option<Arc<dyn Embedder>>,
    pub index: Option<Arc<dyn VectorIndex>>,
    pub recommender: Option<Arc<atlas_recommend::Recommender>>,
    pub recommend_disabled: String,
    pub taxonomy: Option<Arc<Taxonomy>>,
    pub known_categories: HashSet<String>,
    pub batcher: Batcher,
    pub log: Option<Arc<RequestLog>>,
    pub drift: Option<Arc<DriftMonitor>>,
    pub drift_disabled: String,
    pub config: ServerConfig,
    pub started: Instant,
    /// Shared by every state a reload builds, so that a shutdown begun on one is seen by all.
    pub draining: Arc<AtomicBool>,
    pub startup: BTreeMap<String, f64>,
    pub admin: Option<Arc<AdminToken>>,
    /// What the state was loaded from (by [`crate::build_state`]); `None` = assembled by hand, not reloadable.
    pub source: Option<Arc<ServeOptions>>,
    /// SHA-256 of the loaded classifier's `manifest.json` (which lists the SHA-256 of every file of the
    /// folder): a reload re-opens the model only when this changed.
    pub model_fingerprint: Option<String>,
}

/// Assembles an [`AppState`].
pub struct AppStateBuilder {
    model: Option<Arc<dyn Model>>,
    embedder: Option<Arc<dyn Embedder>>,
    index: Option<Arc<dyn VectorIndex>>,
    recommender: Option<Arc<atlas_recommend::Recommender>>,
    recommend_disabled: String,
    taxonomy: Option<Arc<Taxonomy>>,
    log: Option<Arc<RequestLog>>,
    drift: Option<Arc<DriftMonitor>>,
    drift_disabled: String,
    config: ServerConfig,
    startup: BTreeMap<String, f64>,
    admin: Option<Arc<AdminToken>>,
    source: Option<Arc<ServeOptions>>,
    model_fingerprint: Option<String>,
    /// The state this one replaces (a reload): its uptime clock and draining flag carry over.
    predecessor: Option<(Instant, Arc<AtomicBool>)>,
}

impl AppState {
    /// Starts building a state around a classifier.
    pub fn builder(model: Arc<dyn Model>) -> AppStateBuilder {
        AppStateBuilder { model: Some(model), ..Self::builder_without_model() }
    }

    /// Starts building a server of embeddings and search only: its classify routes answer 503
    /// `model_unavailable`.
    pub fn builder_without_model() -> AppStateBuilder {
        AppStateBuilder {
            model: None,
            embedder: None,
            index: None,
            recommender: None,
            recommend_disabled: "no index is loaded; start the server with --index DIR".into(),
            taxonomy: None,
            log: None,
            drift: None,
            drift_disabled: "drift monitoring is not configured".into(),
            config: ServerConfig::default(),
            startup: BTreeMap::new(),
            admin: None,
            source: None,
            model_fingerprint: None,
            predecessor: None,
        }
    }

    /// The bearer token admin routes require; `None` = admin routes are off.
    pub fn admin_token(&self) -> Option<&Arc<AdminToken>> {
        self.0.admin.as_ref()
    }

    /// Papers in the loaded index (0 without one).
    pub fn index_papers(&self) -> usize {
        self.0.index.as_ref().map_or(0, |i| i.info().count)
    }

    /// The settings in force.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The request log, when one is configured.
    pub fn request_log(&self) -> Option<&Arc<RequestLog>> {
        self.0.log.as_ref()
    }

    /// The background drift monitor, when one runs.
    pub fn drift_monitor(&self) -> Option<&Arc<DriftMonitor>> {
        self.0.drift.as_ref()
    }

    /// Why no drift monitor runs (meaningful when [`AppState::drift_monitor`] is `None`).
    pub fn drift_disabled_reason(&self) -> &str {
        &self.0.drift_disabled
    }

    /// Inference jobs waiting in the queue now.
    pub fn queue_depth(&self) -> usize {
        self.0.batcher.queue_depth()
    }

    /// Marks the server as draining: `/ready` answers 503 so load balancers stop sending traffic while
    /// in-flight requests finish.
    pub fn begin_shutdown(&self) {
        self.0.draining.store(true, Ordering::SeqCst);
    }

    /// Whether [`AppState::begin_shutdown`] was called.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(Ordering::SeqCst)
    }

    /// Stops the workers after the queued jobs and writes out the request log. Call after the HTTP server
    /// has stopped.
    pub fn shutdown(&self) {
        self.begin_shutdown();
        if let Some(m) = &self.0.drift {
            m.stop();
        }
        self.0.batcher.shutdown();
        if let Some(log) = &self.0.log {
            log.shutdown();
        }
    }
}

impl AppStateBuilder {
    /// The sentence encoder for `/v1/embed`, `/v1/embeddings` and text search.
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// The similar-paper index (any backend).
    pub fn index(mut self, index: Arc<dyn VectorIndex>) -> Self {
        self.index = Some(index);
        self
    }

    /// The reading-list recommender of `/v1/recommend` (over the same papers as the index).
    pub fn recommender(mut self, recommender: Arc<atlas_recommend::Recommender>) -> Self {
        self.recommender = Some(recommender);
        self
    }

    /// Why `/v1/recommend` is unavailable (when no recommender is given).
    pub fn recommend_disabled(mut self, reason: impl Into<String>) -> Self {
        self.recommend_disabled = reason.into();
        self
    }

    /// Category names and the codes accepted in search filters.
    pub fn taxonomy(mut self, taxonomy: Arc<Taxonomy>) -> Self {
        self.taxonomy = Some(taxonomy);
        self
    }

    /// The request log.
    pub fn request_log(mut self, log: Arc<RequestLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// The drift monitor, started when the state is built (it reads the request log in the background).
    pub fn drift_monitor(mut self, monitor: Arc<DriftMonitor>) -> Self {
        self.drift = Some(monitor);
        self
    }

    /// Why drift is not monitored, for `GET /v1/drift` (when no monitor is given).
    pub fn drift_disabled(mut self, reason: impl Into<String>) -> Self {
        self.drift_disabled = reason.into();
        self
    }

    /// Limits and batching.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Records how long a loading step took before the server started (`/info` reports them, so a slow
    /// cold start can be traced to the model, the index or the process itself).
    pub fn startup_phase(mut self, name: impl Into<String>, seconds: f64) -> Self {
        self.startup.insert(name.into(), seconds);
        self
    }

    /// Turns admin routes on, guarded by `token`.
    pub fn admin_token(mut self, token: Arc<AdminToken>) -> Self {
        self.admin = Some(token);
        self
    }

    /// Records what the state is loaded from, so that `POST /v1/admin/reload` can load it again.
    pub(crate) fn source(mut self, options: Arc<ServeOptions>, model_fingerprint: Option<String>) -> Self {
        self.source = Some(options);
        self.model_fingerprint = model_fingerprint;
        self
    }

    /// Makes the state a successor of `prev`: the same uptime clock and draining flag, so that `/info` and
    /// `/ready` do not notice the swap, and a shutdown begun on either is seen by both.
    pub(crate) fn succeeds(mut self, prev: &AppState) -> Self {
        self.predecessor = Some((prev.0.started, prev.0.draining.clone()));
        self
    }

    /// Checks the parts fit (the encoder must produce the index's vector space) and starts the workers.
    pub fn build(self) -> Result<AppState, ServeError> {
        if let (Some(e), Some(i)) = (&self.embedder, &self.index) {
            let info = i.info();
            if e.embedding_id() != info.embedding_id {
                return Err(ServeError::Config(format!(
                    "the encoder produces vectors {} but the index stores {} ({}): search would compare \
                     unrelated vectors; load the index's encoder ({})",
                    e.embedding_id(),
                    info.embedding_id,
                    info.backend,
                    info.model_dir.display()
                )));
            }
            if e.dim() != info.dim {
                return Err(ServeError::Config(format!(
                    "encoder width {} differs from the index's {}",
                    e.dim(),
                    info.dim
                )));
            }
        }
        if self.model.is_none() && self.embedder.is_none() && self.index.is_none() {
            return Err(ServeError::Config(
                "nothing to serve: give a classifier (--model), an index (--index) or an encoder (--model-dir)"
                    .into(),
            ));
        }
        let mut known: HashSet<String> =
            self.model.iter().flat_map(|m| m.labels().codes.iter().cloned()).collect();
        if let Some(t) = &self.taxonomy {
            known.extend(t.categories().iter().map(|c| c.code.clone()));
        }
        let batcher = Batcher::start(self.model.clone(), self.embedder.clone(), self.config.batch.clone());
        if let Some(m) = &self.drift {
            m.start();
        }
        let (started, draining) =
            self.predecessor.unwrap_or_else(|| (Instant::now(), Arc::new(AtomicBool::new(false))));
        Ok(AppState(Arc::new(Inner {
            model: self.model,
            embedder: self.embedder,
            index: self.index,
            recommender: self.recommender,
            recommend_disabled: self.recommend_disabled,
            taxonomy: self.taxonomy,
            known_categories: known,
            batcher,
            log: self.log,
            drift: self.drift,
            drift_disabled: self.drift_disabled,
            config: self.config,
            started,
            draining,
            startup: self.startup,
            admin: self.admin,
            source: self.source,
            model_fingerprint: self.model_fingerprint,
        })))
    }
}

/// The state requests are served from. Each request takes the current [`AppState`] once (an `Arc` clone
/// under a read lock held for nanoseconds, through axum's `State` extractor) and finishes on it, however long it
/// runs; a reload builds a complete new state off the request path and swaps it in. The old state (its
/// index, its inference workers) lives until the last request holding it ends.
///
/// A `std` lock rather than a lock-free cell (the `arc-swap` crate): readers only clone an `Arc` under it
/// and a writer swaps one pointer, so contention is nil at any realistic request rate and no dependency is
/// needed.
#[derive(Clone)]
pub struct LiveState(Arc<LiveInner>);

struct LiveInner {
    current: RwLock<AppState>,
    /// Held for a whole reload, so that two reloads never build states at once (each would load the
    /// model and index, doubling memory and racing to swap).
    reloading: Arc<tokio::sync::Mutex<()>>,
}

impl LiveState {
    /// Serves `state` until it is replaced.
    pub fn new(state: AppState) -> LiveState {
        metrics::gauge!("atlas_index_papers").set(state.index_papers() as f64);
        LiveState(Arc::new(LiveInner { current: RwLock::new(state), reloading: Arc::default() }))
    }

    /// The state new requests are served from.
    pub fn current(&self) -> AppState {
        // The lock guards one `Arc`, consistent whatever a panicking holder was doing.
        self.0.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Serves `next` from now on and returns the state it replaces.
    pub fn replace(&self, next: AppState) -> AppState {
        metrics::gauge!("atlas_index_papers").set(next.index_papers() as f64);
        let mut current = self.0.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *current, next)
    }

    /// Waits for any other reload to finish; the guard keeps others out until dropped.
    pub(crate) async fn reload_guard(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.0.reloading.clone().lock_owned().await
    }
}

impl axum::extract::FromRef<LiveState> for AppState {
    fn from_ref(live: &LiveState) -> AppState {
        live.current()
    }
}
