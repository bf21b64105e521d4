//! The request log: every classify and search request, written off the request path.
//!
//! Handlers call [`RequestLog::record`], which never blocks: it puts the record on a bounded channel and, when
//! the channel is full (the database is slower than the traffic), drops it and counts the drop in
//! `atlas_request_log_dropped_total`. One writer thread drains the channel and inserts records in batches
//! (one transaction per batch) into SQLite ([`SqliteSink`], the default) or PostgreSQL ([`PostgresSink`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Most records one insert transaction takes.
const WRITE_BATCH: usize = 256;

/// Request-log failures.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// SQLite failed.
    #[error("SQLite {path}: {source}")]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// Connecting failed in an unexpected way.
    #[error("connecting: {0}")]
    Connect(String),
    /// A folder for the database could not be made.
    #[error("creating {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogRecord {
    /// When the answer was sent, RFC 3339 with milliseconds, UTC.
    pub ts: String,
    /// `classify` or `search`.
    pub endpoint: String,
    /// The text the model read (for a search by id: the paper id).
    pub text: String,
    /// SHA-256 (hex) of `text`: groups repeated inputs without comparing long strings.
    pub text_hash: String,
    /// Top category (classify) or best hit id (search).
    pub prediction: String,
    /// Its probability (classify) or cosine score (search).
    pub score: f32,
    /// JSON: the top categories with probabilities, or the hits with scores.
    pub result: String,
    /// Milliseconds from request to answer.
    pub latency_ms: f64,
    /// Model version ([`crate::ModelInfo::version`]).
    pub model_version: String,
}

impl LogRecord {
    /// A record stamped now, with the text's hash.
    pub fn new(
        endpoint: &str,
        text: &str,
        prediction: &str,
        score: f32,
        result: String,
        latency_ms: f64,
        model_version: &str,
    ) -> Self {
        LogRecord {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            endpoint: endpoint.to_string(),
            text: text.to_string(),
            text_hash: text_hash(text),
            prediction: prediction.to_string(),
            score,
            result,
            latency_ms,
            model_version: model_version.to_string(),
        }
    }
}

/// SHA-256 of a text, hex.
pub fn text_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A database that takes records in batches. Runs on the writer thread only.
pub trait LogSink: Send + 'static {
    /// Inserts the records (all or none).
    fn write(&mut self, records: &[LogRecord]) -> Result<(), LogError>;
}

/// Where the log goes.
#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user@host:port/db`).
    Postgres(String),
}

impl LogTarget {
    /// Reads what a user names as the log: a `postgres://` / `postgresql://` URL is a database, anything else a
    /// SQLite file.
    pub fn parse(target: &str) -> Self {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            LogTarget::Postgres(target.to_string())
        } else {
            LogTarget::Sqlite(PathBuf::from(target))
        }
    }
}

/// Counters of the writer.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Records written.
    pub written: AtomicU64,
    /// Records dropped (channel full or a failed write).
    pub dropped: AtomicU64,
}

/// The sending half, held by the server; the writer thread owns the sink.
pub struct RequestLog {
    tx: Mutex<Option<SyncSender<LogRecord>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<LogStats>,
    target: String,
}

impl RequestLog {
    /// Opens the target (creating tables as needed) and starts the writer with a channel of `capacity`.
    pub fn open(target: &LogTarget, capacity: usize) -> Result<RequestLog, LogError> {
        let (sink, name): (Box<dyn LogSink>, String) = match target {
            LogTarget::Sqlite(p) => (Box::new(SqliteSink::open(p)?), format!("sqlite:{}", p.display())),
            // The synchronous client drives its own Tokio runtime and panics when connected from inside
            // another one, so connect on a plain thread: `open` then works from async code too.
            LogTarget::Postgres(url) => {
                let sink = std::thread::scope(|s| s.spawn(|| PostgresSink::connect(url)).join())
                    .unwrap_or_else(|_| Err(LogError::Connect("the connecting thread panicked".into())))?;
                (Box::new(sink), "postgres".to_string())
            }
        };
        Ok(RequestLog::start(sink, capacity, name))
    }

    /// Starts a writer thread over any sink.
    pub fn start(sink: Box<dyn LogSink>, capacity: usize, target: String) -> RequestLog {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let stats = Arc::new(LogStats::default());
        let s = stats.clone();
        let writer = std::thread::Builder::new()
            .name("atlas-request-log".into())
            .spawn(move || write_loop(sink, rx, &s))
            .expect("spawning the request-log writer thread");
        RequestLog { tx: Mutex::new(Some(tx)), writer: Mutex::new(Some(writer)), stats, target }
    }

    /// Queues a record; drops it (counted) when the writer is behind. Never blocks.
    pub fn record(&self, record: LogRecord) {
        let Ok(guard) = self.tx.lock() else { return };
        let Some(tx) = guard.as_ref() else { return };
        match tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("atlas_request_log_dropped_total").increment(1);
            }
        }
    }

    /// Writer counters.
    pub fn stats(&self) -> &LogStats {
        &self.stats
    }

    /// Where records go (`sqlite:PATH` or `postgres`; never the URL, which may hold a password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes the channel and waits until every queued record is written.
    pub fn shutdown(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(h) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn write_loop(mut sink: Box<dyn LogSink>, rx: Receiver<LogRecord>, stats: &LogStats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        match sink.write(&batch) {
            Ok(()) => {
                stats.written.fetch_add(batch.len() as u64, Ordering::Relaxed);
                metrics::counter!("atlas_request_log_written_total").increment(batch.len() as u64);
            }
            Err(e) => {
                tracing::warn!("request log: dropping {} records: {e}", batch.len());
                stats.dropped.fetch_add(batch.len() as u64, Ordering::Relaxed);
                metrics::counter!("atlas_request_log_dropped_total").increment(batch.len() as u64);
            }
        }
    }
}

/// The SQLite table (same columns as the PostgreSQL one).
const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS request_log (
    id            INTEGER PRIMARY KEY,
    ts            TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    text          TEXT NOT NULL,
    text_hash     TEXT NOT NULL,
    prediction    TEXT NOT NULL,
    score         REAL NOT NULL,
    result        TEXT NOT NULL,
    latency_ms    REAL NOT NULL,
    model_version TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_ts ON request_log (ts);
CREATE INDEX IF NOT EXISTS request_log_text_hash ON request_log (text_hash);
";

/// SQLite in WAL mode, so readers (a dashboard, `sqlite3`) never block the writer.
pub struct SqliteSink {
    conn: rusqlite::Connection,
    path: PathBuf,
}

impl SqliteSink {
    /// Opens (or creates) the database file and its table.
    pub fn open(path: &Path) -> Result<SqliteSink, LogError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| LogError::Io { path: parent.to_path_buf(), source })?;
        }
        let err = |source| LogError::Sqlite { path: path.to_path_buf(), source };
        let conn = rusqlite::Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(SQLITE_SCHEMA).map_err(err)?;
        Ok(SqliteSink { conn, path: path.to_path_buf() })
    }
}

impl LogSink for SqliteSink {
    fn write(&mut self, records: &[LogRecord]) -> Result<(), LogError> {
        let path = self.path.clone();
        let err = |source| LogError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO request_log (ts, endpoint, text, text_hash, prediction, score, result, latency_ms, model_version)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err)?;
            for r in records {
                stmt.execute(rusqlite::params![
                    r.ts,
                    r.endpoint,
                    r.text,
                    r.text_hash,
                    r.prediction,
                    f64::from(r.score),
                    r.result,
                    r.latency_ms,
                    r.model_version
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }
}

/// Versioned PostgreSQL migrations: applied in order, each once, recorded in `atlas_schema_migrations`.
pub const POSTGRES_MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE IF NOT EXISTS atlas_request_log (
        id            BIGSERIAL PRIMARY KEY,
        ts            TIMESTAMPTZ NOT NULL,
        endpoint      TEXT NOT NULL,
        text          TEXT NOT NULL,
        text_hash     TEXT NOT NULL,
        prediction    TEXT NOT NULL,
        score         REAL NOT NULL,
        result        JSONB NOT NULL,
        latency_ms    DOUBLE PRECISION NOT NULL,
        model_version TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS atlas_request_log_ts ON atlas_request_log (ts);
    CREATE INDEX IF NOT EXISTS atlas_request_log_text_hash ON atlas_request_log (text_hash);",
)];

/// Applies the pending [`POSTGRES_MIGRATIONS`] in one transaction; returns how many ran.
pub fn migrate_postgres(client: &mut postgres::Client) -> Result<usize, LogError> {
    let mut tx = client.transaction()?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS atlas_schema_migrations (
            version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
         LOCK TABLE atlas_schema_migrations IN EXCLUSIVE MODE;",
    )?;
    let done: Vec<i32> =
        tx.query("SELECT version FROM atlas_schema_migrations", &[])?.iter().map(|r| r.get(0)).collect();
    let mut ran = 0;
    for (version, sql) in POSTGRES_MIGRATIONS {
        if !done.contains(version) {
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO atlas_schema_migrations (version) VALUES ($1)", &[version])?;
            ran += 1;
        }
    }
    tx.commit()?;
    Ok(ran)
}

/// PostgreSQL through the synchronous `postgres` client (it runs on the writer thread, not on the runtime).
pub struct PostgresSink {
    client: postgres::Client,
}

impl PostgresSink {
    /// Connects (no TLS: the log database is expected on a private network or localhost) and migrates.
    pub fn connect(url: &str) -> Result<PostgresSink, LogError> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        migrate_postgres(&mut client)?;
        Ok(PostgresSink { client })
    }
}

impl LogSink for PostgresSink {
    fn write(&mut self, records: &[LogRecord]) -> Result<(), LogError> {
        // One multi-row INSERT per chunk: a round trip per batch instead of per record. 9 parameters a row
        // keeps a chunk of 256 far below PostgreSQL's 65535-parameter limit.
        let mut tx = self.client.transaction()?;
        for chunk in records.chunks(WRITE_BATCH) {
            let mut sql = String::from(
                "INSERT INTO atlas_request_log (ts, endpoint, text, text_hash, prediction, score, result, latency_ms, model_version) VALUES ",
            );
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = Vec::with_capacity(chunk.len() * 9);
            for (i, r) in chunk.iter().enumerate() {
                let b = i * 9;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}::text::timestamptz, ${}, ${}, ${}, ${}, ${}, ${}::text::jsonb, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9
                ));
                params.extend([
                    &r.ts as &(dyn postgres::types::ToSql + Sync),
                    &r.endpoint,
                    &r.text,
                    &r.text_hash,
                    &r.prediction,
                    &r.score,
                    &r.result,
                    &r.latency_ms,
                    &r.model_version,
                ]);
            }
            tx.execute(sql.as_str(), &params)?;
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that waits for permission before each write, to back the channel up.
    struct Stalled(std::sync::mpsc::Receiver<()>, Arc<Mutex<Vec<LogRecord>>>);

    impl LogSink for Stalled {
        fn write(&mut self, records: &[LogRecord]) -> Result<(), LogError> {
            let _ = self.0.recv();
            self.1.lock().unwrap().extend_from_slice(records);
            Ok(())
        }
    }

    fn rec(i: usize) -> LogRecord {
        LogRecord::new("classify", &format!("text {i}"), "cs.LG", 0.5, "[]".into(), 1.0, "v")
    }

    #[test]
    fn a_slow_database_drops_records_instead_of_blocking() {
        let (go, wait) = std::sync::mpsc::channel();
        let got = Arc::new(Mutex::new(Vec::new()));
        let log = RequestLog::start(Box::new(Stalled(wait, got.clone())), 4, "test".into());
        let t = std::time::Instant::now();
        for i in 0..100 {
            log.record(rec(i));
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "record() blocked");
        let dropped = log.stats().dropped.load(Ordering::Relaxed);
        // Only the channel (4) and what the writer took before it stalled can be kept.
        assert!(dropped >= 50, "{dropped} dropped");
        for _ in 0..10 {
            let _ = go.send(());
        }
        drop(go);
        log.shutdown();
        let kept = got.lock().unwrap().len() as u64;
        assert_eq!(kept + dropped, 100);
        assert_eq!(log.stats().written.load(Ordering::Relaxed), kept);
    }

    #[test]
    fn sqlite_sink_writes_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let log = RequestLog::open(&LogTarget::Sqlite(path.clone()), 64).unwrap();
        for i in 0..10 {
            log.record(rec(i));
        }
        log.shutdown();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM request_log", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 10);
        let h: String = conn
            .query_row("SELECT text_hash FROM request_log WHERE text = 'text 3'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(h, text_hash("text 3"));
        assert_eq!(log.stats().written.load(Ordering::Relaxed), 10);
    }
}
