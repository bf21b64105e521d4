//! Building a ready [`AppState`] from what a user names: a trained model (run folder), an index location, an
//! encoder folder, a taxonomy and a request-log target. The binary's `serve` only parses flags into
//! [`ServeOptions`]; a test, a job or another front end builds the same server through [`build_state`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use atlas_classify::{Labels, NeighbourSource, Probabilities};
use atlas_encoder::{BatchLimits, DeviceSpec, Encoder, EncoderSpec};
use atlas_index::{IndexLocation, VectorIndex};
use atlas_model::{LoadOptions, LoadedModel};

use crate::admin::AdminToken;
use crate::drift::{DriftMonitor, DriftOptions};
use crate::error::{ModelError, ServeError};
use crate::model::{Embedder, EncoderEmbedder, Model, ModelInfo, NeighbourAnswers};
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
    /// The bearer token of the admin routes (`POST /v1/admin/reload`); `None` = admin routes are off.
    pub admin_token: Option<AdminToken>,
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

/// Supporting training papers per category that `explain: true` lists (as `classify --explain`).
const EXPLAIN_NEIGHBOURS: usize = 3;

/// Nearest training papers of any category whose majority is compared with the prediction.
const NEIGHBOUR_VOTE: usize = 10;

/// A [`LoadedModel`] as the server's [`Model`].
struct ServedModel {
    /// Shared with the drift monitor, which predicts on the logged texts with the same model.
    loaded: Arc<LoadedModel>,
    info: ModelInfo,
    /// The embedding head's training papers, opened once at start (explanations scan them per request).
    neighbours: NeighbourSource,
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
    fn explain_neighbours(
        &self,
        texts: &[String],
        classes: &[Vec<usize>],
    ) -> Result<NeighbourAnswers, ModelError> {
        let note = self.neighbours.note();
        let Some(store) = self.neighbours.store() else {
            return Ok(NeighbourAnswers { explained: None, note });
        };
        let err = |e: &dyn std::fmt::Display| ModelError::new(format!("explaining by training papers: {e}"));
        // The texts were just classified, so their vectors come from the embedding cache.
        let Some(vectors) = self.loaded.predictor.embed(texts).map_err(|e| err(&e))? else {
            return Ok(NeighbourAnswers { explained: None, note });
        };
        let codes = &self.loaded.predictor.labels().codes;
        let dim = vectors.len() / texts.len().max(1);
        let explained = classes
            .iter()
            .enumerate()
            .map(|(i, cs)| {
                let cats: Vec<&str> = cs.iter().map(|&c| codes[c].as_str()).collect();
                let query = &vectors[i * dim..(i + 1) * dim];
                store.explain(query, &cats, EXPLAIN_NEIGHBOURS, NEIGHBOUR_VOTE).map_err(|e| err(&e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NeighbourAnswers { explained: Some(explained), note })
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
    load(Arc::new(opts.clone()), None).map(|(state, _)| state)
}

/// The successor of `prev` for `POST /v1/admin/reload`: the index re-opened from the same location, the
/// classifier re-opened only when its folder's content changed (else shared, with its encoder and drift
/// monitor), and the request log, taxonomy, limits and admin token carried over. Also says whether the
/// classifier was re-opened. `prev` keeps serving meanwhile; an error leaves it untouched.
pub(crate) fn reload_state(prev: &AppState) -> Result<(AppState, bool), ServeError> {
    let opts = prev.0.source.clone().ok_or_else(|| {
        ServeError::Config("this server was not started from locations it can re-open".into())
    })?;
    load(opts, Some(prev))
}

/// SHA-256 of the `manifest.json` of the model folder `path` names. The manifest lists the SHA-256 of every
/// file of the folder, so its hash changes exactly when the folder's content does, without reading the
/// (large) files themselves.
fn model_fingerprint(path: &std::path::Path) -> Result<String, ServeError> {
    use sha2::Digest;
    let dir = atlas_model::resolve_model_folder(path).map_err(|e| ModelError::new(e.to_string()))?;
    let manifest = dir.join(atlas_artifact::MANIFEST_FILE);
    let bytes = std::fs::read(&manifest)
        .map_err(|source| ServeError::Io { op: format!("reading {}", manifest.display()), source })?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// [`build_state`], or (with `prev`) [`reload_state`].
fn load(opts: Arc<ServeOptions>, prev: Option<&AppState>) -> Result<(AppState, bool), ServeError> {
    let started = Instant::now();
    let workers = opts.server.batch.workers.max(1);
    let load = LoadOptions { sessions: workers, ..LoadOptions::default() };
    let fingerprint = opts.model.as_deref().map(model_fingerprint).transpose()?;
    // The classifier now served, when its folder is unchanged: kept (with its encoder and drift monitor).
    let kept = prev.filter(|p| fingerprint.is_some() && p.0.model_fingerprint == fingerprint);
    let ((loaded, model_s), (index, index_s)) = std::thread::scope(|s| {
        let index = s.spawn(|| timed(|| opts.index.as_ref().map(|loc| loc.open(opts.ef_search)).transpose()));
        let model = timed(|| match kept {
            Some(_) => Ok(None),
            None => opts.model.as_ref().map(|m| LoadedModel::open(m, &load)).transpose(),
        });
        let index = index.join().unwrap_or_else(|_| {
            (Err(atlas_index::IndexError::Invalid("opening the index panicked".into())), 0.0)
        });
        (model, index)
    });
    let mut loaded = loaded?;
    let index: Option<Arc<dyn VectorIndex>> = index?.map(Arc::from);
    let device = loaded.as_ref().and_then(|l| l.predictor.encoder()).map_or(DeviceSpec::Cpu, |e| e.device());
    let max_batch_tokens = match prev {
        // Settled at the start (the device's default unless given); a reload keeps the limits in force.
        Some(p) => p.config().batch.max_batch_tokens,
        None => opts.max_batch_tokens.unwrap_or_else(|| default_max_batch_tokens(device)),
    };
    // The model calls the queue forms are bounded the same way inside the encoder (one large request is cut
    // into calls of at most this size, never padded past the encoder's padding budget).
    let limits = BatchLimits::new(opts.server.batch.max_batch_size, max_batch_tokens);
    if let Some(encoder) = loaded.as_mut().and_then(|l| l.predictor.encoder_mut()) {
        encoder.set_limits(limits)?;
    }
    tracing::info!(model_s, index_s, "model and index loaded");
    let model_encoder = loaded.as_ref().and_then(|l| l.predictor.encoder().cloned());
    let loaded = loaded.map(Arc::new);
    let (model, drift, embedder, encoder_s) = match kept {
        Some(p) => {
            // The encoder already serving fits when the index is still in its vector space (the usual case:
            // papers were added); an index rebuilt with another encoder needs that one.
            let same_space = |e: &Arc<dyn Embedder>| {
                index.as_ref().is_none_or(|i| i.info().embedding_id == e.embedding_id())
            };
            let (embedder, encoder_s) = match p.0.embedder.clone().filter(same_space) {
                Some(e) => (Some(e), None),
                None => choose_embedder(&opts, None, index.as_ref(), limits, workers)?,
            };
            let drift = p.0.drift.clone().map_or_else(|| Err(p.drift_disabled_reason().to_string()), Ok);
            (p.0.model.clone(), drift, embedder, encoder_s)
        }
        None => {
            let (drift, drift_disabled) = drift_monitor(&opts, loaded.as_ref())?;
            let model = loaded
                .map(|loaded| {
                    let info = ModelInfo {
                        version: loaded.version(),
                        kind: loaded.predictor.kind().to_string(),
                        template: loaded.pipeline.template.clone(),
                        dir: loaded.dir.display().to_string(),
                    };
                    // A damaged store is refused like a damaged model; a missing one only loses the
                    // explanations.
                    let neighbours =
                        NeighbourSource::open(loaded.embedding_head_dir().as_deref()).map_err(|e| {
                            ModelError::new(format!("the model's training papers for explanations: {e}"))
                        })?;
                    Ok::<_, ServeError>(Arc::new(ServedModel { loaded, info, neighbours }) as Arc<dyn Model>)
                })
                .transpose()?;
            let (embedder, encoder_s) =
                choose_embedder(&opts, model_encoder, index.as_ref(), limits, workers)?;
            (model, drift.map(Arc::new).ok_or(drift_disabled), embedder, encoder_s)
        }
    };

    let mut config = opts.server.clone();
    config.batch.max_batch_tokens = max_batch_tokens;
    let mut b = match model {
        // A kept classifier took no loading.
        Some(m) if kept.is_none() => AppState::builder(m).startup_phase("model", model_s),
        Some(m) => AppState::builder(m),
        None => AppState::builder_without_model(),
    }
    .config(config)
    .source(opts.clone(), fingerprint);
    if let (Some(i), Some(location)) = (index, &opts.index) {
        // Re-opened on every reload too: the recommender holds its own copy of the index's vectors.
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
    if let Some(t) = &opts.admin_token {
        b = b.admin_token(Arc::new(t.clone()));
    }
    b = match drift {
        Ok(m) => b.drift_monitor(m),
        Err(why) => b.drift_disabled(why),
    };
    match prev {
        Some(p) => {
            // The taxonomy file and the request log are not re-opened: the log's writer thread and its
            // queue belong to the server, not to one state.
            if let Some(t) = &p.0.taxonomy {
                b = b.taxonomy(t.clone());
            }
            if let Some(log) = &p.0.log {
                b = b.request_log(log.clone());
            }
            b = b.succeeds(p).startup_phase("reload", started.elapsed().as_secs_f64());
        }
        None => {
            if let Some(t) = atlas_corpus::taxonomy_path(opts.taxonomy.as_deref()) {
                b = b.taxonomy(Arc::new(atlas_corpus::Taxonomy::load(&t)?));
            }
            if let Some(target) = &opts.request_log {
                b = b.request_log(Arc::new(RequestLog::open(target, REQUEST_LOG_CAPACITY)?));
            }
            b = b.startup_phase("load", started.elapsed().as_secs_f64());
        }
    }
    Ok((b.build()?, kept.is_none() && opts.model.is_some()))
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
