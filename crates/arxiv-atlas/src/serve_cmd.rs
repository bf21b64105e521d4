//! `arxiv-atlas serve`: loads the model (and optionally an index), wires them into `atlas-serve`, and runs the
//! HTTP server until Ctrl-C or SIGTERM.
//!
//! The server library knows models only through its `Model` and `Embedder` traits; this file implements
//! them for the CLI's [`LoadedModel`], so both model families (TF-IDF and embedding heads) are served
//! without the library depending on the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use atlas_classify::{Labels, Probabilities};
use atlas_index::VectorIndex;
use atlas_serve::{
    AppState, BatchConfig, Embedded, Embedder, EncoderEmbedder, LogTarget, Model, ModelError, ModelInfo,
    RequestLog, ServerConfig,
};
use clap::Args;

use crate::model_dir::{LoadedModel, Predictor};

/// `arxiv-atlas serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A run folder from `train` (or the model folder inside it): TF-IDF or embedding classifier.
    #[arg(long)]
    pub model: PathBuf,
    /// Similar-paper index folder (enables /v1/search and /v1/papers).
    #[arg(long, conflicts_with = "pg_index")]
    pub index: Option<PathBuf>,
    /// Serve the PostgreSQL + pgvector index with this table prefix from `--database-url` (built by
    /// `index build --backend postgres --prefix P`) instead of an index folder.
    #[arg(long, requires = "database_url")]
    pub pg_index: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Category names (`taxonomy.tsv`); default `../shared/data/taxonomy.tsv` when it exists.
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Sentence-transformer folder for /v1/embed and text search when neither the model nor the index brings
    /// one (default: `$ARXIV_ATLAS_MODEL_DIR`, else the bundled MiniLM when present).
    #[arg(long)]
    pub encoder_dir: Option<PathBuf>,
    /// PostgreSQL for the request log (instead of SQLite) and, with `--pg-index`, the pgvector index.
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// SQLite file of the request log.
    #[arg(long, default_value = "serve/request-log.sqlite")]
    pub request_log: PathBuf,
    /// Do not log requests.
    #[arg(long, conflicts_with = "database_url")]
    pub no_request_log: bool,
    /// Most texts in one model call.
    #[arg(long, default_value_t = 32)]
    pub max_batch_size: usize,
    /// Most tokens in one model call (rows × longest row). Default: 1024 when the encoder runs on a CPU,
    /// 16384 on a GPU. On a CPU a small batch costs nothing in throughput (one abstract is already a 180-row
    /// matrix product), while every 256-token row of a batch adds ~20 MB to the peak RSS (10 rows: ~210 MB),
    /// and with two workers 16384 served half the requests/s of 1024 (docs/benchmarks.md, serving).
    #[arg(long)]
    pub max_batch_tokens: Option<usize>,
    /// Longest wait for a batch to fill, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub max_wait_ms: u64,
    /// Requests that may wait for a worker; more are answered 429.
    #[arg(long, default_value_t = 256)]
    pub queue_capacity: usize,
    /// Inference workers: each runs one model call at a time, and the ONNX encoder gets one session per
    /// worker with the CPU threads split between them.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Per-request time limit in seconds (longer → 504).
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout_s: f64,
}

/// Opens an index folder with the backend its manifest names.
pub type IndexOpener = fn(&Path) -> Result<Box<dyn VectorIndex>>;

fn open_index_folder(path: &Path) -> Result<Box<dyn VectorIndex>> {
    Ok(atlas_index::open_index(path)?)
}

/// The opener `serve` uses: any on-disk backend of `atlas-index`, checksums verified.
pub const OPEN_INDEX: IndexOpener = open_index_folder;

/// [`LoadedModel`] as the server's [`Model`].
struct ServedModel {
    loaded: LoadedModel,
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
        self.loaded.predictor.predict(texts).map_err(|e| ModelError::new(format!("{e:#}")))
    }
}

/// The encoder inside an embedding-head model, shared with the classifier instead of loaded twice.
struct ModelEncoder {
    model: Arc<ServedModel>,
    name: String,
    embedding_id: String,
}

impl ModelEncoder {
    fn encoder(&self) -> &atlas_encoder::Encoder {
        match &self.model.loaded.predictor {
            Predictor::Embedding { encoder, .. } => encoder,
            Predictor::Text(_) => unreachable!("ModelEncoder is built only for embedding models"),
        }
    }
}

impl Embedder for ModelEncoder {
    fn name(&self) -> &str {
        &self.name
    }
    fn embedding_id(&self) -> &str {
        &self.embedding_id
    }
    fn dim(&self) -> usize {
        self.encoder().dim()
    }
    fn max_tokens(&self) -> usize {
        self.encoder().max_seq_length()
    }
    fn backend(&self) -> &str {
        self.encoder().backend_name()
    }
    fn render_paper(&self, title: &str, abstract_text: &str) -> String {
        atlas_serve::render_with_encoder(self.encoder(), title, abstract_text)
    }
    fn embed(&self, texts: &[String]) -> Result<Embedded, ModelError> {
        atlas_serve::embed_with_encoder(self.encoder(), texts)
    }
}

fn folder_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "encoder".into())
}

/// An encoder for `/v1/embed` and text search, and the seconds spent loading it when it is not the model's own.
type ChosenEmbedder = (Option<Arc<dyn Embedder>>, Option<f64>);

/// Picks the encoder: the model's own (embedding heads), else the index's, else `--encoder-dir` / the default
/// folder. `None` (with a warning) when there is none: classification still works.
fn choose_embedder(
    a: &ServeArgs,
    model: &Arc<ServedModel>,
    index: Option<&Arc<dyn VectorIndex>>,
    limits: atlas_encoder::BatchLimits,
) -> Result<ChosenEmbedder> {
    if let Predictor::Embedding { encoder, .. } = &model.loaded.predictor {
        let e = ModelEncoder {
            model: model.clone(),
            name: folder_name(encoder.folder().dir()),
            embedding_id: encoder.embedding_id()?.to_string(),
        };
        if index.is_none_or(|i| i.info().embedding_id == e.embedding_id) {
            return Ok((Some(Arc::new(e)), None));
        }
    }
    let started = Instant::now();
    let own = |encoder: atlas_encoder::Encoder| -> Result<ChosenEmbedder> {
        let embedder: Arc<dyn Embedder> = Arc::new(EncoderEmbedder::new(encoder)?);
        Ok((Some(embedder), Some(started.elapsed().as_secs_f64())))
    };
    if let Some(i) = index {
        // The encoder that reproduces the index's vector space (its model folder, fp32 or int8), so text
        // queries land where the stored papers are.
        let mut encoder =
            crate::search_cmd::query_encoder_sessions(i.as_ref(), a.encoder_dir.as_deref(), a.workers)
                .context("loading the encoder of the index (--encoder-dir names its model folder)")?;
        encoder.set_limits(limits)?;
        return own(encoder);
    }
    let Some(dir) = a.encoder_dir.clone().or_else(atlas_encoder::default_model_dir).filter(|d| d.is_dir())
    else {
        tracing::warn!("no sentence encoder found: /v1/embed, /v1/embeddings and text search are disabled");
        return Ok((None, None));
    };
    let cfg = atlas_config::EncoderConfig { model_dir: Some(dir), ..atlas_config::EncoderConfig::default() };
    let mut encoder =
        crate::encoding::encoder_with_sessions(&cfg, atlas_corpus::DEFAULT_TEMPLATE, a.workers)?;
    encoder.set_limits(limits)?;
    own(encoder)
}

/// `--max-batch-tokens` default for an encoder on `device`.
fn default_max_batch_tokens(device: &atlas_encoder::DeviceSpec) -> usize {
    match device {
        atlas_encoder::DeviceSpec::Cpu => 1024,
        _ => 16_384,
    }
}

fn server_config(a: &ServeArgs, max_batch_tokens: usize) -> Result<ServerConfig> {
    if !(a.request_timeout_s > 0.0 && a.request_timeout_s.is_finite()) {
        bail!("--request-timeout-s must be a positive number of seconds");
    }
    Ok(ServerConfig {
        batch: BatchConfig {
            max_batch_size: a.max_batch_size,
            max_batch_tokens,
            max_wait: Duration::from_millis(a.max_wait_ms),
            queue_capacity: a.queue_capacity,
            workers: a.workers,
        },
        body_limit: a.body_limit,
        request_timeout: Duration::from_secs_f64(a.request_timeout_s),
        ..ServerConfig::default()
    })
}

/// Opens the index `a` names (a folder or a pgvector prefix), `None` when it names none.
fn open_named_index(a: &ServeArgs, open_index: IndexOpener) -> Result<Option<Arc<dyn VectorIndex>>> {
    Ok(match &a.index {
        Some(dir) => {
            Some(Arc::from(open_index(dir).with_context(|| format!("opening the index {}", dir.display()))?))
        }
        None => match (&a.pg_index, &a.database_url) {
            (Some(prefix), Some(url)) => {
                let params =
                    atlas_index::PgParams { prefix: prefix.clone(), ..atlas_index::PgParams::default() };
                let index = atlas_index::PgIndex::open(url, &params)
                    .with_context(|| format!("opening the pgvector index `{prefix}`"))?;
                Some(Arc::new(index) as Arc<dyn VectorIndex>)
            }
            _ => None,
        },
    })
}

/// Runs `f` and returns its result with the seconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Loads everything `a` names into a server state.
///
/// The model and the index load on two threads at once: both are mostly file reading, checksumming and
/// (for the model) graph optimisation, independent of each other, so the cold start is the longer of the
/// two instead of their sum.
pub fn build_state(a: &ServeArgs, open_index: IndexOpener) -> Result<AppState> {
    let started = Instant::now();
    let ((loaded, model_s), (index, index_s)) = std::thread::scope(|s| {
        let index = s.spawn(|| timed(|| open_named_index(a, open_index)));
        let model = timed(|| LoadedModel::open_with_sessions(&a.model, a.workers));
        let index =
            index.join().unwrap_or_else(|_| (Err(anyhow::anyhow!("opening the index panicked")), 0.0));
        (model, index)
    });
    let (mut loaded, index) = (loaded?, index?);
    let device = loaded.predictor.encoder_mut().map_or(atlas_encoder::DeviceSpec::Cpu, |e| e.device());
    let max_batch_tokens = a.max_batch_tokens.unwrap_or_else(|| default_max_batch_tokens(&device));
    // The model calls the queue forms are bounded the same way inside the encoder (one large request is
    // cut into calls of at most this size, never padded past the encoder's padding budget).
    let limits = atlas_encoder::BatchLimits::new(a.max_batch_size, max_batch_tokens);
    if let Some(encoder) = loaded.predictor.encoder_mut() {
        encoder.set_limits(limits).context("--max-batch-size / --max-batch-tokens")?;
    }
    tracing::info!(model_s, index_s, "model and index loaded");
    let p = &loaded.pipeline;
    let version =
        if p.run_id.is_empty() { p.experiment.clone() } else { format!("{}@{}", p.experiment, p.run_id) };
    let info = ModelInfo {
        version,
        kind: loaded.predictor.kind().to_string(),
        template: p.template.clone(),
        dir: loaded.dir.display().to_string(),
    };
    let model = Arc::new(ServedModel { loaded, info });
    let (embedder, encoder_s) = choose_embedder(a, &model, index.as_ref(), limits)?;
    let mut b =
        AppState::builder(model).config(server_config(a, max_batch_tokens)?).startup_phase("model", model_s);
    if index.is_some() {
        b = b.startup_phase("index", index_s);
    }
    if let Some(seconds) = encoder_s {
        // An encoder of its own was loaded (the model brings none, or not the index's vector space).
        b = b.startup_phase("encoder", seconds);
    }
    if let Some(e) = embedder {
        b = b.embedder(e);
    }
    if let Some(i) = index {
        b = b.index(i);
    }
    if let Some(t) = crate::pipeline::taxonomy_path(a.taxonomy.as_deref()) {
        let tax = atlas_corpus::Taxonomy::load(&t)
            .with_context(|| format!("loading the taxonomy {}", t.display()))?;
        b = b.taxonomy(Arc::new(tax));
    }
    if !a.no_request_log {
        let target = match &a.database_url {
            Some(url) => LogTarget::Postgres(url.clone()),
            None => LogTarget::Sqlite(a.request_log.clone()),
        };
        b = b.request_log(Arc::new(RequestLog::open(&target, 4096)?));
    }
    let state = b.startup_phase("load", started.elapsed().as_secs_f64()).build()?;
    Ok(state)
}

/// `arxiv-atlas serve`.
pub fn serve(a: ServeArgs) -> Result<()> {
    let state = build_state(&a, OPEN_INDEX)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .with_context(|| format!("listening on {}", a.addr))?;
        let addr = listener.local_addr()?;
        let since_start = crate::PROCESS_START.get().map(|t| t.elapsed().as_secs_f64());
        tracing::info!(
            process_start_to_listen_s = since_start,
            "serving on http://{addr}/ (docs at /docs, metrics at /metrics)"
        );
        // Scripts read this line to learn the port when --addr ends in :0.
        println!("listening on http://{addr}");
        atlas_serve::serve(listener, state, atlas_serve::shutdown_signal()).await?;
        tracing::info!("server stopped");
        Ok(())
    })
}
