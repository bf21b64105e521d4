//! Flags of `serve`.

use std::path::PathBuf;

use atlas_index::DEFAULT_INDEX_NAME;
use clap::Args;

/// `arxiv-atlas serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A run folder from `train` (or the model folder inside it), or a registered model `models:/NAME@ALIAS` /
    /// `models:/NAME/VERSION` (downloaded from `$MLFLOW_TRACKING_URI`): TF-IDF or embedding classifier. Without it
    /// the server does embeddings and search only (classify answers 503 `model_unavailable`).
    #[arg(long, required_unless_present_any = ["index", "model_dir"])]
    pub model: Option<PathBuf>,
    /// Similar-paper index (enables /v1/search and /v1/papers): a folder or a PostgreSQL URL (pgvector).
    #[arg(long, env = "ARXIV_ATLAS_INDEX", hide_env_values = true)]
    pub index: Option<String>,
    /// Table-name prefix of a PostgreSQL index.
    #[arg(long, default_value = DEFAULT_INDEX_NAME, alias = "pg-index")]
    pub index_name: String,
    /// HNSW search breadth instead of the index's stored one.
    #[arg(long)]
    pub ef_search: Option<usize>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Category names (`taxonomy.tsv`); default `../shared/data/taxonomy.tsv` (the data kit) when it exists.
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Sentence-transformer folder for /v1/embed and text search when neither the model nor the index brings
    /// one, or when the index's model folder has moved (default: `$ARXIV_ATLAS_MODEL_DIR`, else
    /// `../shared/models/all-MiniLM-L6-v2` when present).
    #[arg(long, alias = "encoder-dir")]
    pub model_dir: Option<PathBuf>,
    /// Where requests are logged: a SQLite file, or a PostgreSQL URL.
    #[arg(
        long,
        env = "ARXIV_ATLAS_REQUEST_LOG",
        hide_env_values = true,
        default_value = "serve/request-log.sqlite"
    )]
    pub request_log: String,
    /// Do not log requests (wins over --request-log and its environment variable).
    #[arg(long)]
    pub no_request_log: bool,
    /// Most texts in one model call.
    #[arg(long, default_value_t = 32)]
    pub max_batch_size: usize,
    /// Most tokens in one model call (rows × longest row). Default: 1024 when the encoder runs on a CPU,
    /// 16384 on a GPU. On a CPU a small batch costs nothing in throughput (one abstract is already a 180-row
    /// matrix product), while every 256-token row of a batch adds ~20 MB to the peak RSS, and with two workers
    /// 16384 served half the requests/s of 1024 (docs/benchmarks.md, serving).
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
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: u32,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Per-request time limit in seconds (longer → 504).
    #[arg(long, default_value_t = 30.0)]
    pub request_timeout_s: f64,
    /// Seconds between two drift runs over the request log (a background thread compares the latest windows
    /// with the model's drift profile; `GET /v1/drift` and the `atlas_drift_*` gauges show the results).
    /// 0 turns live drift monitoring off. Thresholds: the `monitor` section of the configuration.
    #[arg(long, default_value_t = 60.0)]
    pub drift_interval_s: f64,
    /// A window of the request log to monitor, ending at each run: a length with a unit (`15m`, `1h`, `7d`).
    /// Repeat for several; the first is what `GET /v1/drift` answers without `?window=`.
    #[arg(long = "drift-window", default_value = "1h", value_parser = parse_span)]
    pub drift_windows: Vec<atlas_monitor::Span>,
    /// Most requests per drift window (the latest ones), bounding a run's time under heavy traffic.
    #[arg(long, default_value_t = 10_000)]
    pub drift_max_requests: usize,
    /// Fewest requests in a window for a drift report (fewer: `too_few_requests`, no verdict).
    #[arg(long, default_value_t = 100)]
    pub drift_min_requests: usize,
    /// File holding the bearer token of the admin routes (`POST /v1/admin/reload`), e.g. a mounted secret; the
    /// token may instead be given in `ARXIV_ATLAS_ADMIN_TOKEN` (not both). Without either, admin routes are off
    /// (404). The token is never a flag's value: command lines are visible to every user of the machine.
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

fn parse_span(value: &str) -> Result<atlas_monitor::Span, String> {
    value.parse().map_err(|e: atlas_monitor::MonitorError| e.to_string())
}
