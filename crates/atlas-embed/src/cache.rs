//! A persistent cache of embeddings keyed by (vector space, text).
//!
//! Embedding is by far the most expensive step of the pipeline (tens of texts per second per core on CPU), so
//! no text is embedded twice by the same encoder: training an embedding classifier, evaluating it, `embed`
//! runs and (later) the server all look vectors up here first. The vector space is the encoder's
//! [`embedding_id`](atlas_encoder::Encoder::embedding_id) (model weights, graph, precision, template); each
//! space gets its own SQLite file, so spaces never mix and an old one can be deleted as a whole. SQLite makes
//! the cache safe to share between processes and robust to a kill mid-write (each chunk is one transaction).

use atlas_artifact::IoContext;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::EmbedError;

/// Key of a text in the cache: SHA-256 of its UTF-8 bytes.
pub fn text_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Default cache folder: `$ARXIV_ATLAS_CACHE_DIR/embeddings`, else `$HOME/.cache/arxiv-atlas/embeddings`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARXIV_ATLAS_CACHE_DIR") {
        return PathBuf::from(dir).join("embeddings");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("arxiv-atlas").join("embeddings")
}

/// The cache of one vector space.
pub struct EmbeddingCache {
    conn: Connection,
    dim: usize,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache").field("path", &self.path).field("dim", &self.dim).finish()
    }
}

impl EmbeddingCache {
    /// Opens the cache of `encoder`'s vector space in `dir`, default [`default_cache_dir`].
    pub fn for_encoder(encoder: &atlas_encoder::Encoder, dir: Option<&Path>) -> Result<Self, EmbedError> {
        let dir = dir.map(Path::to_path_buf).unwrap_or_else(default_cache_dir);
        Self::open(&dir, encoder.embedding_id()?, encoder.dim())
    }

    /// Opens (creating if needed) the cache of `embedding_id` with vectors of `dim` floats under `dir`.
    pub fn open(dir: &Path, embedding_id: &str, dim: usize) -> Result<Self, EmbedError> {
        std::fs::create_dir_all(dir).io_context("create", dir)?;
        let short: String = embedding_id.chars().filter(char::is_ascii_alphanumeric).take(24).collect();
        let path = dir.join(format!("{short}.sqlite"));
        let sql = |e: rusqlite::Error| EmbedError::Cache { path: path.clone(), message: e.to_string() };
        let conn = Connection::open(&path).map_err(sql)?;
        // Several processes may share a cache (an `embed` run beside a training run): wait for a writer
        // instead of failing with "database is locked".
        conn.busy_timeout(std::time::Duration::from_secs(60)).map_err(sql)?;
        // WAL: readers do not block the writer; NORMAL sync is durable enough for a cache (a lost last
        // transaction only means re-embedding one chunk).
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID;",
        )
        .map_err(sql)?;
        let stored: Option<(String, String)> = conn
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key='embedding_id'), (SELECT value FROM meta WHERE key='dim')",
                [],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .map(|(a, b)| a.zip(b))
            .map_err(sql)?;
        match stored {
            None => {
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('embedding_id', ?1)",
                    params![embedding_id],
                )
                .map_err(sql)?;
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?1)", params![dim.to_string()])
                    .map_err(sql)?;
            }
            Some((id, d)) if id == embedding_id && d == dim.to_string() => {}
            Some((id, d)) => {
                return Err(EmbedError::Cache {
                    path,
                    message: format!(
                        "belongs to embedding space {id} (dim {d}), not {embedding_id} (dim {dim}); delete it"
                    ),
                })
            }
        }
        Ok(Self { conn, dim, path })
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of cached vectors.
    pub fn len(&self) -> Result<u64, EmbedError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM vectors", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Whether the cache holds no vector.
    pub fn is_empty(&self) -> Result<bool, EmbedError> {
        Ok(self.len()? == 0)
    }

    fn err(&self, e: rusqlite::Error) -> EmbedError {
        EmbedError::Cache { path: self.path.clone(), message: e.to_string() }
    }

    /// Looks up every key; `out` receives the vectors found (row `i` of `out` for key `i`) and the return
    /// value lists the indices that were not found.
    pub fn get_many(&self, keys: &[[u8; 32]], out: &mut [f32]) -> Result<Vec<usize>, EmbedError> {
        let dim = self.dim;
        let mut stmt =
            self.conn.prepare_cached("SELECT vec FROM vectors WHERE key = ?1").map_err(|e| self.err(e))?;
        let mut missing = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let blob: Option<Vec<u8>> =
                stmt.query_row(params![&key[..]], |r| r.get(0)).optional().map_err(|e| self.err(e))?;
            match blob {
                Some(b) if b.len() == dim * 4 => {
                    for (dst, src) in out[i * dim..(i + 1) * dim].iter_mut().zip(b.chunks_exact(4)) {
                        *dst = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
                    }
                }
                // A row of the wrong size cannot come from this space; treat it as a miss and overwrite it.
                _ => missing.push(i),
            }
        }
        Ok(missing)
    }

    /// Stores vectors (`rows` is `keys.len() × dim`) in one transaction.
    pub fn put_many(&mut self, keys: &[[u8; 32]], rows: &[f32]) -> Result<(), EmbedError> {
        let dim = self.dim;
        let path = self.path.clone();
        let sql = |e: rusqlite::Error| EmbedError::Cache { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(sql)?;
        {
            let mut stmt = tx
                .prepare_cached("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?1, ?2)")
                .map_err(sql)?;
            let mut buf = Vec::with_capacity(dim * 4);
            for (key, row) in keys.iter().zip(rows.chunks_exact(dim)) {
                buf.clear();
                for x in row {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
                stmt.execute(params![&key[..], &buf]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_misses() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbeddingCache::open(dir.path(), "space-a", 3).unwrap();
        let k = [text_key("one"), text_key("two"), text_key("three")];
        c.put_many(&k[..2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let mut out = vec![0.0; 9];
        let missing = c.get_many(&k, &mut out).unwrap();
        assert_eq!(missing, vec![2]);
        assert_eq!(&out[..6], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(c.len().unwrap(), 2);
        drop(c);
        // Persistent across opens.
        let c = EmbeddingCache::open(dir.path(), "space-a", 3).unwrap();
        assert_eq!(c.len().unwrap(), 2);
    }

    #[test]
    fn spaces_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        EmbeddingCache::open(dir.path(), "space-a", 3).unwrap();
        // Another id maps to another file.
        let b = EmbeddingCache::open(dir.path(), "space-b", 3).unwrap();
        assert!(b.is_empty().unwrap());
        // Same file name, other dimension: refused.
        let err = EmbeddingCache::open(dir.path(), "space-a", 4).unwrap_err().to_string();
        assert!(err.contains("dim 3"), "{err}");
    }
}
