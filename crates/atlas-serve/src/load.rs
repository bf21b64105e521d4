//! Building a ready [`AppState`] from what a user names: a trained model (run folder), an index location, an
//! encoder folder, a taxonomy and a request-log target. The binary's `serve` only parses flags into
//! [`ServeOptions`]; a test, a job or another front end builds the same server through [`build_state`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use atlas_classify::{Labels, Probabilities};
use atlas_encoder::{BatchLimits, DeviceSpec, Encoder, EncoderSpec};
use atlas_index::{IndexLocation, VectorIndex};
use atlas_model::{LoadOptions, LoadedModel};

use crate::drift::{DriftMonitor, DriftOptions};
use crate::error::{ModelError, ServeError};
use crate::model::{Embedder, EncoderEmbedder, Model, ModelInfo};
use crate::reqlog::{LogTarget, RequestLog};
use crate::state::{AppState, ServerConfig};

/// Records the request log queues before new ones are dropped (and counted).
const REQUEST_LOG_CAPACITY: usize = 4096;

/// What `serve` loads, already parsed.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A training run folder (or the model folder inside it): TF-IDF or embedding classifier. `None` serves
    /// embeddings and search only (classify answers 503 `model_unavailable`).
    pub model: Option<PathBuf>,
    /// The similar-paper index (enables search and papers).
    pub index: Option<IndexLocation>,
    /// HNSW search breadth instead of the index's stored one.
    pub ef_search: Option<usize>,
    /// Encoder folder for `/v1/embed` and text search when neither the model nor the index brings one, or
    /// when the index's recorded folder has moved.
    pub model_dir: Option<PathBuf>,
    /// Category names; `None` = the default taxonomy file when present.
    pub taxonomy: Option<PathBuf>,
    /// Where requests are logged; `None` = not logged.
    pub request_log: Option<LogTarget>,
    /// Limits, batching and worker settings. `batch.max_batch_tokens` is replaced by the device's default
    /// unless [`ServeOptions::max_batch_tokens`] is set.
    pub server: ServerConfig,
    /// Most tokens in one model call; `None` = [`default_max_batch_tokens`] of the encoder's device.
    pub max_batch_tokens: Option<usize>,
    /// Live drift monitoring of the request log; `None` = off. It also needs a classifier, a request log and
    /// the model's drift profile: without one of them the server runs without it (`GET /v1/drift` says why).
    pub drift: Option<DriftOptions>,
}

/// `--max-batch-tokens` default for an encoder on `device`: 1024 on a CPU, where a small batch costs nothing in
/// throughput (one abstract is already a 180-row matrix product) while every 256-token row adds ~20 MB to the
/// peak RSS, and two workers with 16384 served half the requests/s of 1024 (docs/benchmarks.md, serving);
/// 16384 on a GPU, which needs large batches to be busy.
pub fn default_max_batch_tokens(device: DeviceSpec) -> usize {
    match device {
        DeviceSpec::Cpu => 1024,
        DeviceSpec::Cuda(_) => 16_384,
    }
}

/// A [`LoadedModel`] as the server's [`Model`].
struct ServedModel {
    /// Shared with the drift monitor, which predicts on the logged texts with the same model.
    loaded: Arc<LoadedModel>,
    info: ModelInfo,
}

impl Model for ServedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        self.loaded.predictor.labels()
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        // Calibrated (temperature-scaled) probabilities: what the API promises since issue 16.
        self.loaded.predict(texts).map_err(|e| ModelError::new(e.to_string()))
    }
    fn category_sets(&self, probs: &Probabilities, coverage: f64) -> Option<Vec<Vec<usize>>> {
        self.loaded.category_sets(probs, coverage).ok()
    }
    fn label_set(&self, row: &[f32]) -> Option<Vec<usize>> {
        Some(self.loaded.thresholds.as_ref()?.set_of(row))
    }
    fn explain_terms(
        &self,
        text: &str,
        classes: &[usize],
        top: usize,
    ) -> Option<Vec<Vec<atlas_classify::TermContribution>>> {
        self.loaded.predictor.explain_terms(text, classes, top)
    }
}

/// The reading-list recommender over the served index, when the index has its TF-IDF features (see
/// `atlas_recommend::features`); otherwise `None` and why, for `/v1/recommend`'s 503 (the server runs without
/// recommendations rather than not at all).
fn load_recommender(
    index: &dyn VectorIndex,
    location: &IndexLocation,
) -> (Option<atlas_recommend::Recommender>, String) {
    let opened = atlas_recommend::features_dir(location, None).and_then(|dir| {
        atlas_recommend::Recommender::over(index, &dir, None, atlas_recommend::RecommendParams::default())
    });
    match opened {
        Ok((r, _)) => (Some(r), String::new()),
        Err(e) => {
            tracing::warn!("recommendations off: {e}");
            (None, e.to_string())
        }
    }
}

/// Runs `f` and returns its result with the seconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Loads everything `opts` names into a server state (model checksums verified, the encoder checked against
/// the index's vector space, workers started).
///
/// The model and the index load on two threads at once: both are mostly file reading, checksumming and (for
/// the model) graph optimisation, independent of each other, so the cold start is the longer of the two
/// instead of their sum. `/info` reports each phase.
pub fn build_state(opts: &ServeOptions) -> Result<AppState, ServeError> {
    let started = Instant::now();
    let workers = opts.server.batch.workers.max(1);
    let load = LoadOptions { sessions: workers, ..LoadOptions::default() };
    let ((loaded, model_s), (index, index_s)) = std::thread::scope(|s| {
        let index = s.spawn(|| timed(|| opts.index.as_ref().map(|loc| loc.open(opts.ef_search)).transpose()));
        let model = timed(|| opts.model.as_ref().map(|m| LoadedModel::open(m, &load)).transpose());
        let index = index.join().unwrap_or_else(|_| {
            (Err(atlas_index::IndexError::Invalid("opening the index panicked".into())), 0.0)
        });
        (model, index)
    });
    let mut loaded = loaded?;
    let index: Option<Arc<dyn VectorIndex>> = index?.map(Arc::from);
    let device = loaded.as_ref().and_then(|l| l.predictor.encoder()).map_or(DeviceSpec::Cpu, |e| e.device());
    let max_batch_tokens = opts.max_batch_tokens.unwrap_or_else(|| default_max_batch_tokens(device));
    // The model calls the queue forms are bounded the same way inside the encoder (one large request is cut
    // into calls of at most this size, never padded past the encoder's padding budget).
    let limits = BatchLimits::new(opts.server.batch.max_batch_size, max_batch_tokens);
    if let Some(encoder) = loaded.as_mut().and_then(|l| l.predictor.encoder_mut()) {
        encoder.set_limits(limits)?;
    }
    tracing::info!(model_s, index_s, "model and index loaded");
    let model_encoder = loaded.as_ref().and_then(|l| l.predictor.encoder().cloned());
    let loaded = loaded.map(Arc::new);
    let (drift, drift_disabled) = drift_monitor(opts, loaded.as_ref())?;
    let model = loaded.map(|loaded| {
        let info = ModelInfo {
            version: loaded.version(),
            kind: loaded.predictor.kind().to_string(),
            template: loaded.pipeline.template.clone(),
            dir: loaded.dir.display().to_string(),
        };
        Arc::new(ServedModel { loaded, info }) as Arc<dyn Model>
    });
    let (embedder, encoder_s) = choose_embedder(opts, model_encoder, index.as_ref(), limits, workers)?;

    let mut config = opts.server.clone();
    config.batch.max_batch_tokens = max_batch_tokens;
    let mut b = match model {
        Some(m) => AppState::builder(m).startup_phase("model", model_s),
        None => AppState::builder_without_model(),
    }
    .config(config);
    if let (Some(i), Some(location)) = (index, &opts.index) {
        let ((recommender, reason), recommend_s) = timed(|| load_recommender(&*i, location));
        b = b.startup_phase("index", index_s).index(i).recommend_disabled(reason);
        if let Some(r) = recommender {
            b = b.startup_phase("recommender", recommend_s).recommender(Arc::new(r));
        }
    }
    if let Some(seconds) = encoder_s {
        // An encoder of its own was loaded (the model brings none, or not the index's vector space).
        b = b.startup_phase("encoder", seconds);
    }
    if let Some(e) = embedder {
        b = b.embedder(e);
    }
    if let Some(t) = atlas_corpus::taxonomy_path(opts.taxonomy.as_deref()) {
        b = b.taxonomy(Arc::new(atlas_corpus::Taxonomy::load(&t)?));
    }
    if let Some(target) = &opts.request_log {
        b = b.request_log(Arc::new(RequestLog::open(target, REQUEST_LOG_CAPACITY)?));
    }
    b = match drift {
        Some(m) => b.drift_monitor(Arc::new(m)),
        None => b.drift_disabled(drift_disabled),
    };
    b.startup_phase("load", started.elapsed().as_secs_f64()).build()
}

/// The drift monitor `opts` asks for, or why there is none. A missing part (no classifier, no request log, no
/// drift profile in the model folder) turns monitoring off with a warning rather than failing the start: the
/// server is useful without it. A profile that is there but unreadable (a checksum mismatch) is an error.
fn drift_monitor(
    opts: &ServeOptions,
    model: Option<&Arc<LoadedModel>>,
) -> Result<(Option<DriftMonitor>, String), ServeError> {
    let Some(options) = &opts.drift else {
        return Ok((None, "drift monitoring is turned off (`serve --drift-interval-s 0`)".into()));
    };
    let off = |why: String| {
        tracing::warn!("drift monitoring is off: {why}");
        Ok((None, why))
    };
    let Some(model) = model else { return off("no classifier is loaded (`serve --model`)".into()) };
    let log = match &opts.request_log {
        None => return off("requests are not logged (`serve --no-request-log`)".into()),
        Some(LogTarget::Postgres(url)) => url.clone(),
        Some(LogTarget::Sqlite(path)) => match path.to_str() {
            Some(p) => p.to_string(),
            None => return off(format!("the request-log path {} is not UTF-8", path.display())),
        },
    };
    let Some(profile) = atlas_monitor::ReferenceProfile::load(&model.dir)? else {
        return off(format!(
            "{} has no drift profile; build one with `arxiv-atlas drift profile --model RUN --input DATA`",
            model.dir.display()
        ));
    };
    let monitor =
        DriftMonitor::new(model.clone(), profile, log, options.clone()).map_err(ServeError::Config)?;
    Ok((Some(monitor), String::new()))
}

/// An encoder for `/v1/embed` and text search, and the seconds spent loading it when it is not the model's
/// own.
type ChosenEmbedder = (Option<Arc<dyn Embedder>>, Option<f64>);

/// Picks the encoder: the model's own (embedding heads, shared, not loaded twice) when it fits the index, else
/// the index's, else `model_dir` / the default folder. `None` (with a warning) when there is none:
/// classification still works.
fn choose_embedder(
    opts: &ServeOptions,
    model_encoder: Option<Arc<Encoder>>,
    index: Option<&Arc<dyn VectorIndex>>,
    limits: BatchLimits,
    workers: usize,
) -> Result<ChosenEmbedder, ServeError> {
    if let Some(encoder) = model_encoder {
        let id = encoder.embedding_id()?.to_string();
        if index.is_none_or(|i| i.info().embedding_id == id) {
            return Ok((Some(Arc::new(EncoderEmbedder::new(encoder)?)), None));
        }
    }
    let started = Instant::now();
    let own = |mut encoder: Encoder| -> Result<ChosenEmbedder, ServeError> {
        encoder.set_limits(limits)?;
        let embedder: Arc<dyn Embedder> = Arc::new(EncoderEmbedder::new(Arc::new(encoder))?);
        Ok((Some(embedder), Some(started.elapsed().as_secs_f64())))
    };
    if let Some(i) = index {
        // The encoder that reproduces the index's vector space (its model folder, fp32 or int8), so text
        // queries land where the stored papers are.
        return own(atlas_model::query_encoder(i.info(), opts.model_dir.as_deref(), workers)?);
    }
    let Some(dir) = opts.model_dir.clone().or_else(atlas_encoder::default_model_dir).filter(|d| d.is_dir())
    else {
        tracing::warn!("no sentence encoder found: /v1/embed, /v1/embeddings and text search are disabled");
        return Ok((None, None));
    };
    let spec = EncoderSpec { model_dir: Some(dir), ..EncoderSpec::default() };
    own(spec.load(&atlas_corpus::TextTemplate::default(), workers)?)
}
