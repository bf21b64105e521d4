//! Similar-paper search: one [`VectorIndex`] trait, several backends.
//!
//! Every index answers the same question — "which stored papers are closest (cosine) to this vector, among
//! those that pass a [`Filter`]?" — and carries the paper metadata it needs to answer without the dataset
//! ([`PaperMeta`]). The trait is object-safe so the binary and the HTTP server can hold any backend as
//! `Arc<dyn VectorIndex>`.

#![warn(missing_docs)]

mod bench;
mod exact;
mod hnsw;
mod kernel;
mod location;
mod metrics;
mod params;
mod pg;
mod protocol;
mod rows;
pub mod store;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Instant;

use atlas_progress::Progress;

use serde::{Deserialize, Serialize};

pub use bench::{bench_search, BenchOptions, SearchBench};
pub use exact::{ExactIndex, QUERY_BLOCK};
pub use hnsw::UsearchIndex;
pub use location::{IndexLocation, TempPgIndex, DEFAULT_INDEX_NAME};
pub use metrics::{evaluate_retrieval, recall_at_k, retrieval_metrics, RetrievalMetrics, METRIC_DEPTH};
pub use params::{
    BuildOptions, ExactParams, HnswParams, IndexBackend, IndexParams, PgParams, Scalar, Storage, VectorSpace,
};
pub use pg::{BuildPart, PgIndex, MIGRATIONS};
pub use protocol::{
    bench_protocol, evaluate_protocol, join_papers, AnnResult, Corpus, EfPoint, ExactResult, PgSweep,
    RetrievalOptions, RetrievalProtocol, RetrievalReport, SweepOptions, SweepReport,
};
pub use store::{INDEX_FORMAT_VERSION, INDEX_KIND};
pub use table::MAX_AUTHORS;

/// What a search hit shows about a paper (enough to render a result without the dataset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperMeta {
    /// arXiv id, e.g. `1501.00001`.
    pub id: String,
    /// Title (normalised whitespace).
    pub title: String,
    /// Categories, primary first.
    pub categories: Vec<String>,
    /// Year of the first version, when known.
    pub year: Option<u16>,
    /// First authors (at most a few), as written in the source.
    pub authors: Vec<String>,
}

/// Restricts a search. An empty filter passes every paper.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Keep papers that list any of these categories (primary or cross-list). `None` = all.
    pub categories: Option<Vec<String>>,
    /// Keep papers whose year lies in this range (papers without a year are dropped). `None` = all.
    pub years: Option<RangeInclusive<u16>>,
}

impl Filter {
    /// True when this filter restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.categories.is_none() && self.years.is_none()
    }

    /// Whether `paper` passes.
    pub fn matches(&self, paper: &PaperMeta) -> bool {
        if let Some(cats) = &self.categories {
            if !paper.categories.iter().any(|c| cats.iter().any(|w| w == c)) {
                return false;
            }
        }
        if let Some(years) = &self.years {
            match paper.year {
                Some(y) if years.contains(&y) => {}
                _ => return false,
            }
        }
        true
    }
}

/// Parses a year range with Rust's range meaning: `2015..2019` is 2015 to 2018 (the end is excluded),
/// `2015..=2019` is 2015 to 2019, `2015..` and `..2019` / `..=2019` are open on one side, and `2017` alone
/// is that year. Anything else, or a range with no year in it, is an error that says so.
pub fn parse_year_range(s: &str) -> Result<RangeInclusive<u16>, IndexError> {
    let bad = |why: String| IndexError::Invalid(format!("years `{s}`: {why}"));
    let year = |t: &str| -> Result<u16, IndexError> {
        t.trim().parse::<u16>().map_err(|_| bad(format!("`{}` is not a year", t.trim())))
    };
    let range = match s.split_once("..") {
        None => {
            let y = year(s)?;
            y..=y
        }
        Some((from, to)) => {
            let start = if from.trim().is_empty() { 0 } else { year(from)? };
            let end = match to.trim().strip_prefix('=') {
                Some(incl) => year(incl)?,
                None if to.trim().is_empty() => u16::MAX,
                None => year(to)?.checked_sub(1).ok_or_else(|| {
                    bad("the range is empty (the end is excluded; write ..= to include it)".into())
                })?,
            };
            start..=end
        }
    };
    if range.start() > range.end() {
        return Err(bad("the range is empty (`A..B` excludes B; write `A..=B` to include it)".into()));
    }
    Ok(range)
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Cosine similarity to the query (1 = same direction).
    pub score: f32,
    /// The paper.
    pub paper: PaperMeta,
}

/// Describes an index: what vector space it lives in and how it is stored. Written into its manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// Backend name: `exact`, `usearch`, `postgres`.
    pub backend: String,
    /// The encoder's vector-space id; a query must come from an encoder with the same id.
    pub embedding_id: String,
    /// Hash of the model weights/tokenizer/config that produced the vectors.
    pub model_hash: String,
    /// Model folder the vectors came from (used to load the query encoder).
    pub model_dir: std::path::PathBuf,
    /// Text template of the encoder.
    pub template: String,
    /// Vector width.
    pub dim: usize,
    /// Distance: always `cos` today.
    pub metric: String,
    /// Number of papers stored.
    pub count: usize,
}

/// Errors of the index crate.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A query or added vector has the wrong width.
    #[error("vector has {got} dimensions, the index stores {expected}")]
    Dimension {
        /// Index width.
        expected: usize,
        /// Offered width.
        got: usize,
    },
    /// The index folder failed verification (missing manifest, wrong kind, newer format, damaged file).
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// The folder passed its checksums but its contents are inconsistent (or it was written by a bug).
    #[error("{path}: {message}")]
    BadIndex {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The query encoder lives in another vector space than the index.
    #[error(
        "the query encoder has embedding id `{query}` but the index was built with `{index}`: \
         vectors from different encoders (or precisions, or templates) are not comparable; \
         embed the query with the index's encoder or rebuild the index"
    )]
    EmbeddingMismatch {
        /// The index's embedding id.
        index: String,
        /// The query encoder's embedding id.
        query: String,
    },
    /// Inputs that cannot make an index (bad parameters, duplicate ids, length mismatches …).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The usearch engine reported an error.
    #[error("usearch {op}: {message}")]
    Usearch {
        /// What was being done.
        op: &'static str,
        /// usearch's message.
        message: String,
    },
    /// PostgreSQL reported an error (the server's own message, e.g. `ERROR: ef_construction must be greater
    /// than or equal to 2 * m`, not just the driver's "db error").
    #[error("postgres: {op}: {}", pg_message(source))]
    Postgres {
        /// What was being done.
        op: String,
        /// The driver's error.
        #[source]
        source: postgres::Error,
    },
    /// This backend cannot do what was asked.
    #[error("the `{backend}` backend does not support {what}")]
    Unsupported {
        /// Backend name.
        backend: String,
        /// The operation.
        what: &'static str,
    },
}

/// The server's message of a PostgreSQL error (with its detail and hint), or the driver's description of a
/// connection-level failure.
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                m.push_str(&format!(" ({d})"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => e.to_string(),
    }
}

impl IndexError {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        IndexError::Io(atlas_artifact::IoError::new(op, path, source))
    }

    pub(crate) fn bad(path: &std::path::Path, message: impl Into<String>) -> Self {
        IndexError::BadIndex { path: path.to_path_buf(), message: message.into() }
    }
}

/// Refuses a query encoder whose vector space differs from the index's: compares `query_embedding_id` with
/// [`IndexInfo::embedding_id`] and names both in the error.
pub fn check_embedding_id(info: &IndexInfo, query_embedding_id: &str) -> Result<(), IndexError> {
    if info.embedding_id == query_embedding_id {
        Ok(())
    } else {
        Err(IndexError::EmbeddingMismatch {
            index: info.embedding_id.clone(),
            query: query_embedding_id.to_string(),
        })
    }
}

/// A searchable set of paper vectors with their metadata.
pub trait VectorIndex: Send + Sync {
    /// What this index holds.
    fn info(&self) -> &IndexInfo;

    /// The `k` best papers for `query` (unit-length, `info().dim` wide) that pass `filter`, best first.
    /// Returns fewer than `k` only when fewer than `k` papers pass the filter.
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError>;

    /// Metadata of one stored paper.
    fn paper(&self, id: &str) -> Result<Option<PaperMeta>, IndexError>;

    /// The stored vector of one paper (for "papers like this one").
    fn vector(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError>;

    /// The `k` papers most like the stored paper `id` (searched with its stored vector), never the paper itself;
    /// `None` when `id` is not stored.
    fn search_like(&self, id: &str, k: usize, filter: &Filter) -> Result<Option<Vec<Hit>>, IndexError> {
        let Some(v) = self.vector(id)? else { return Ok(None) };
        // One more than asked, as the paper itself is normally its own best hit.
        let mut hits = self.search(&v, k + 1, filter)?;
        hits.retain(|h| h.paper.id != id);
        hits.truncate(k);
        Ok(Some(hits))
    }

    /// [`VectorIndex::search`] for many queries (`queries` row-major, `info().dim` wide), on all rayon threads.
    /// Backends override it when they can share work between queries (the exact scan does).
    fn search_batch(&self, queries: &[f32], k: usize, filter: &Filter) -> Result<Vec<Vec<Hit>>, IndexError> {
        use rayon::prelude::*;
        let dim = self.info().dim;
        check_batch(queries, dim)?;
        queries.par_chunks(dim).map(|q| self.search(q, k, filter)).collect()
    }

    /// How many stored papers have each primary category (the first one): the denominators of nDCG's ideal
    /// ranking in [`evaluate_retrieval`].
    /// The default says the backend cannot (so implementations written before this method still compile).
    fn primary_counts(&self) -> Result<HashMap<String, usize>, IndexError> {
        Err(IndexError::Unsupported { backend: self.info().backend.clone(), what: "counting categories" })
    }

    /// Approximate resident memory of the loaded index in bytes (vectors, graph, metadata), when known.
    fn memory_bytes(&self) -> Option<u64> {
        None
    }

    /// Every stored paper with its stored (unit-length) vector, in one pass: for work that needs the whole
    /// corpus, such as fitting a model per reading list (`atlas-recommend`). Reading it paper by paper with
    /// [`VectorIndex::vector`] would cost one database round trip per paper on PostgreSQL.
    /// The default says the backend cannot.
    fn export(&self) -> Result<Corpus, IndexError> {
        Err(IndexError::Unsupported { backend: self.info().backend.clone(), what: "exporting its papers" })
    }
}

/// Checks that `queries` holds whole rows of width `dim`.
pub(crate) fn check_batch(queries: &[f32], dim: usize) -> Result<(), IndexError> {
    if dim == 0 || !queries.len().is_multiple_of(dim) {
        return Err(IndexError::Invalid(format!(
            "{} floats is not a whole number of {dim}-wide query vectors",
            queries.len()
        )));
    }
    Ok(())
}

/// What [`add_to_index`] (or a backend's `add`) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddReport {
    /// Papers inserted.
    pub added: usize,
    /// Ids not inserted because the index (or an earlier row of the same call) already had them.
    pub skipped: Vec<String>,
    /// Papers stored afterwards.
    pub count: usize,
}

/// What [`build_index`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildReport {
    /// The written index.
    pub info: IndexInfo,
    /// Its parameters.
    pub params: IndexParams,
    /// Seconds spent building the structure in memory (graph insertion for usearch), without writing.
    pub build_seconds: f64,
    /// Seconds spent writing and sealing the folder.
    pub write_seconds: f64,
    /// Estimated resident memory of the loaded index.
    pub memory_bytes: u64,
    /// Bytes of the data files on disk.
    pub disk_bytes: u64,
}

/// Builds an index of `papers` (row `i` of `vectors`, row-major and `space.dim` wide, belongs to `papers[i]`)
/// and writes it into `out_dir` atomically (see [`store`]). Rebuilding into a folder that already holds an
/// index replaces it; a folder holding another kind of artifact is refused.
pub fn build_index(
    space: &VectorSpace,
    papers: &[PaperMeta],
    vectors: &[f32],
    params: &IndexParams,
    out_dir: &Path,
) -> Result<BuildReport, IndexError> {
    build_index_with_progress(space, papers, vectors, params, out_dir, &Progress::hidden())
}

/// [`build_index`], counting the vectors put into the graph on `progress` (usearch; the exact index has no
/// slow step to show).
pub fn build_index_with_progress(
    space: &VectorSpace,
    papers: &[PaperMeta],
    vectors: &[f32],
    params: &IndexParams,
    out_dir: &Path,
    progress: &Progress,
) -> Result<BuildReport, IndexError> {
    params.validate()?;
    // Refuse a foreign folder before spending minutes on a graph.
    store::next_generation(out_dir)?;
    let t = Instant::now();
    let (info, memory_bytes, write_seconds) = match params {
        IndexParams::Exact(p) => {
            let index = ExactIndex::build(space, papers, vectors, p.clone())?;
            let built = Instant::now();
            index.save(out_dir)?;
            (index.info().clone(), index.memory_bytes().unwrap_or(0), built.elapsed().as_secs_f64())
        }
        IndexParams::Usearch(p) => {
            let index = UsearchIndex::build_with_progress(space, papers, vectors, p.clone(), progress)?;
            progress.finish();
            let built = Instant::now();
            index.save(out_dir)?;
            (index.info().clone(), index.memory_bytes().unwrap_or(0), built.elapsed().as_secs_f64())
        }
        IndexParams::Postgres(_) => {
            return Err(IndexError::Invalid(format!(
                "{}: the postgres backend builds into a database, not a folder (name the index by its \
                 postgres:// URL)",
                out_dir.display()
            )))
        }
    };
    let build_seconds = t.elapsed().as_secs_f64() - write_seconds;
    let meta = store::open_manifest(out_dir)?;
    let mut disk_bytes = 0;
    for name in meta.files.values() {
        disk_bytes +=
            std::fs::metadata(out_dir.join(name)).map_err(|e| IndexError::io("stat", out_dir, e))?.len();
    }
    Ok(BuildReport { info, params: params.clone(), build_seconds, write_seconds, memory_bytes, disk_bytes })
}

/// An opened on-disk index of either backend, when the caller needs more than the trait (adding, `ef`).
#[derive(Debug)]
pub enum OnDiskIndex {
    /// Brute force.
    Exact(ExactIndex),
    /// HNSW graph.
    Usearch(UsearchIndex),
}

impl OnDiskIndex {
    /// Opens `dir`: verifies the manifest kind, format version and every checksum, then loads the backend
    /// the manifest names.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let meta = store::open_manifest(dir)?;
        match meta.params {
            IndexParams::Exact(_) => Ok(OnDiskIndex::Exact(ExactIndex::from_meta(dir, meta)?)),
            IndexParams::Usearch(_) => Ok(OnDiskIndex::Usearch(UsearchIndex::from_meta(dir, meta)?)),
            IndexParams::Postgres(_) => Err(IndexError::bad(dir, "the manifest names the postgres backend")),
        }
    }

    /// The index as a trait object.
    pub fn as_dyn(&self) -> &dyn VectorIndex {
        match self {
            OnDiskIndex::Exact(i) => i,
            OnDiskIndex::Usearch(i) => i,
        }
    }

    /// Into a trait object (what a server holds).
    pub fn into_dyn(self) -> Box<dyn VectorIndex> {
        match self {
            OnDiskIndex::Exact(i) => Box::new(i),
            OnDiskIndex::Usearch(i) => Box::new(i),
        }
    }

    /// Adds the papers not stored yet, in memory (see [`add_to_index`] for the on-disk version).
    pub fn add(&mut self, papers: &[PaperMeta], vectors: &[f32]) -> Result<AddReport, IndexError> {
        match self {
            OnDiskIndex::Exact(i) => i.add(papers, vectors),
            OnDiskIndex::Usearch(i) => i.add(papers, vectors),
        }
    }

    /// Writes the index as a new generation of `dir` and re-seals its manifest.
    pub fn save(&self, dir: &Path) -> Result<(), IndexError> {
        match self {
            OnDiskIndex::Exact(i) => i.save(dir),
            OnDiskIndex::Usearch(i) => i.save(dir),
        }
    }
}

/// Opens an index folder of any on-disk backend (checksums verified) as a trait object.
pub fn open_index(dir: &Path) -> Result<Box<dyn VectorIndex>, IndexError> {
    Ok(OnDiskIndex::open(dir)?.into_dyn())
}

/// Adds papers to the index in `dir` without rebuilding it: rows whose id is already stored are skipped (and
/// reported); the new rows are appended (exact) or inserted into the existing graph (usearch); the folder is
/// re-sealed atomically (the old files stay valid until the new manifest replaces the old one).
pub fn add_to_index(dir: &Path, papers: &[PaperMeta], vectors: &[f32]) -> Result<AddReport, IndexError> {
    let mut index = OnDiskIndex::open(dir)?;
    let report = index.add(papers, vectors)?;
    if report.added > 0 {
        index.save(dir)?;
    }
    Ok(report)
}
