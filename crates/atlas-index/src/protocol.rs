//! The retrieval protocol of the peers (`../shared/bench/peer_minilm.py`, `peer_faiss.py`): documents are the
//! train + validation papers of an embedded dataset, queries its test papers, a hit is relevant when it shares
//! the query's primary category. [`evaluate_protocol`] measures quality (exact and approximate indexes,
//! recall against exact); [`bench_protocol`] sweeps the HNSW search breadth for speed at a target recall.
//!
//! Vectors come in as rows with paper ids (an embedding set); the papers' metadata is read once from the
//! papers file and joined to them by id.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use atlas_corpus::{split_of, Split};
use serde::{Deserialize, Serialize};

use crate::location::TempPgIndex;
use crate::{
    bench_search, evaluate_retrieval, recall_at_k, BenchOptions, BuildOptions, ExactIndex, ExactParams,
    Filter, HnswParams, IndexBackend, IndexError, IndexParams, PaperMeta, PgParams, RetrievalMetrics, Scalar,
    UsearchIndex, VectorIndex, VectorSpace,
};

/// Papers and their vectors (row `i` of `vectors` belongs to `papers[i]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corpus {
    /// Metadata.
    pub papers: Vec<PaperMeta>,
    /// Row-major vectors.
    pub vectors: Vec<f32>,
}

/// Joins vector rows (`ids[i]` ↔ row `i` of `vectors`, `dim` wide) with the metadata of the papers in
/// `papers_file` (any ingest format or dataset folder), reading it once: each row goes to the corpus
/// `bucket` names for its split (`None` drops it); `n` corpora are returned. A row whose paper is not in the
/// file is an error: the vectors and the papers disagree.
pub fn join_papers(
    ids: &[String],
    vectors: &[f32],
    dim: usize,
    papers_file: &Path,
    n: usize,
    bucket: impl Fn(Split) -> Option<usize>,
) -> Result<Vec<Corpus>, IndexError> {
    if vectors.len() != ids.len() * dim {
        return Err(IndexError::Invalid(format!(
            "{} ids for {} floats of width {dim}",
            ids.len(),
            vectors.len()
        )));
    }
    let mut meta: HashMap<String, PaperMeta> = HashMap::with_capacity(ids.len());
    let t = Instant::now();
    atlas_corpus::read_papers(papers_file, &atlas_corpus::ReadOptions::default(), |p| {
        meta.insert(p.id.clone(), PaperMeta::from_paper(&p));
    })
    .map_err(|e| {
        IndexError::Invalid(format!("reading paper metadata from {}: {e}", papers_file.display()))
    })?;
    tracing::info!(
        "read metadata of {} papers from {} ({:.1}s)",
        meta.len(),
        papers_file.display(),
        t.elapsed().as_secs_f64()
    );
    let mut out: Vec<Corpus> = (0..n).map(|_| Corpus::default()).collect();
    for (i, id) in ids.iter().enumerate() {
        let Some(b) = bucket(split_of(id)) else { continue };
        let slot = out.get_mut(b).ok_or_else(|| IndexError::Invalid(format!("bucket {b} of {n}")))?;
        let Some(p) = meta.remove(id) else {
            return Err(IndexError::Invalid(format!(
                "paper {id} (row {i}) is not in {}: the vectors and the papers disagree",
                papers_file.display()
            )));
        };
        slot.papers.push(p);
        slot.vectors.extend_from_slice(&vectors[i * dim..(i + 1) * dim]);
    }
    Ok(out)
}

/// An embedded dataset split the peers' way.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalProtocol {
    /// The vector space of the rows.
    pub space: VectorSpace,
    /// Train + validation papers: what is searched.
    pub docs: Corpus,
    /// Test papers: the queries.
    pub queries: Corpus,
}

impl RetrievalProtocol {
    /// Splits rows (`ids` ↔ `vectors`) into documents and queries by the id split rule, with metadata from
    /// `papers_file`. Both sides must be non-empty.
    pub fn split(
        space: VectorSpace,
        ids: &[String],
        vectors: &[f32],
        papers_file: &Path,
    ) -> Result<Self, IndexError> {
        // One read of the papers for both sides: bucket 0 = documents, 1 = queries.
        let mut sides =
            join_papers(ids, vectors, space.dim, papers_file, 2, |s| Some(usize::from(s == Split::Test)))?;
        let queries = sides.pop().unwrap_or_default();
        let docs = sides.pop().unwrap_or_default();
        if docs.papers.is_empty() || queries.papers.is_empty() {
            return Err(IndexError::Invalid(format!(
                "{} documents (train + validation) and {} queries (test): the protocol needs both",
                docs.papers.len(),
                queries.papers.len()
            )));
        }
        Ok(RetrievalProtocol { space, docs, queries })
    }

    fn query_ids(&self) -> Vec<String> {
        self.queries.papers.iter().map(|p| p.id.clone()).collect()
    }

    fn query_labels(&self) -> Vec<String> {
        self.queries.papers.iter().map(|p| p.categories.first().cloned().unwrap_or_default()).collect()
    }

    /// The first `n` query rows (all when fewer).
    fn first_queries(&self, n: usize) -> &[f32] {
        let n = n.min(self.queries.papers.len());
        &self.queries.vectors[..n * self.space.dim]
    }

    fn exact(&self) -> Result<ExactIndex, IndexError> {
        ExactIndex::build(&self.space, &self.docs.papers, &self.docs.vectors, ExactParams::default())
    }

    fn usearch(&self, params: HnswParams) -> Result<(UsearchIndex, f64), IndexError> {
        let t = Instant::now();
        let index = UsearchIndex::build(&self.space, &self.docs.papers, &self.docs.vectors, params)?;
        Ok((index, t.elapsed().as_secs_f64()))
    }

    /// A pgvector index of the documents in temporary tables `<prefix>_*` (dropped with the guard).
    fn temp_pg(
        &self,
        url: &str,
        prefix: String,
        opts: &BuildOptions,
    ) -> Result<(TempPgIndex, PgParams), IndexError> {
        let IndexParams::Postgres(params) =
            IndexParams::for_backend(IndexBackend::Postgres, &pg_options(opts))?
        else {
            return Err(IndexError::Invalid("postgres parameters".into()));
        };
        let params = PgParams { prefix, ..params };
        let index = TempPgIndex::build(url, &self.space, &self.docs.papers, &self.docs.vectors, &params)?;
        Ok((index, params))
    }
}

/// The folder backends' scalar choice does not apply to pgvector (which stores f32).
fn pg_options(opts: &BuildOptions) -> BuildOptions {
    BuildOptions { scalar: None, ..opts.clone() }
}

fn hnsw_params(opts: &BuildOptions) -> Result<HnswParams, IndexError> {
    match IndexParams::for_backend(IndexBackend::Usearch, opts)? {
        IndexParams::Usearch(p) => Ok(p),
        other => Err(IndexError::Invalid(format!("usearch parameters expected, got {other:?}"))),
    }
}

/// Options of [`evaluate_protocol`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetrievalOptions {
    /// HNSW settings of the approximate indexes.
    pub build: BuildOptions,
    /// Also measure a pgvector index in this database (temporary tables, dropped on every path).
    pub database_url: Option<String>,
    /// Prefix of the temporary tables (default `evalret_<pid>`).
    pub temp_prefix: Option<String>,
}

/// Quality of the exact index: the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExactResult {
    /// Retrieval metrics.
    pub metrics: RetrievalMetrics,
    /// Seconds to search every query.
    pub seconds: f64,
}

/// Quality and speed of an approximate index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnResult {
    /// Retrieval metrics.
    pub metrics: RetrievalMetrics,
    /// Mean recall@10 against the exact index.
    pub recall_at_10: f64,
    /// Queries per second, one at a time on one thread (first 1,000 queries).
    pub qps_1t: f64,
    /// Seconds to build.
    pub build_s: f64,
    /// Seconds to evaluate.
    pub seconds: f64,
}

/// What [`evaluate_protocol`] measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Documents searched.
    pub n_docs: usize,
    /// Queries.
    pub n_queries: usize,
    /// The exact index.
    pub exact: ExactResult,
    /// usearch HNSW.
    pub usearch: AnnResult,
    /// pgvector, when a database was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<AnnResult>,
}

/// Queries timed for QPS in [`evaluate_protocol`] (the peer times the first 1,000 test papers).
const TIMED_QUERIES: usize = 1000;

/// Measures retrieval quality of the exact index, usearch HNSW and (optionally) pgvector on `p`.
pub fn evaluate_protocol(
    p: &RetrievalProtocol,
    opts: &RetrievalOptions,
) -> Result<RetrievalReport, IndexError> {
    let (ids, labels) = (p.query_ids(), p.query_labels());
    let exact = p.exact()?;
    let t = Instant::now();
    let metrics = evaluate_retrieval(&exact, &p.queries.vectors, &ids, &labels)?;
    let exact_result = ExactResult { metrics, seconds: t.elapsed().as_secs_f64() };
    let exact_hits = exact.search_batch(&p.queries.vectors, 10, &Filter::default())?;
    let measure = |index: &dyn VectorIndex, build_s: f64| -> Result<AnnResult, IndexError> {
        let t = Instant::now();
        let metrics = evaluate_retrieval(index, &p.queries.vectors, &ids, &labels)?;
        let hits = index.search_batch(&p.queries.vectors, 10, &Filter::default())?;
        let recall_at_10 = recall_at_k(&hits, &exact_hits, 10);
        let b = bench_search(index, p.first_queries(TIMED_QUERIES), &BenchOptions::default(), None)?;
        Ok(AnnResult { metrics, recall_at_10, qps_1t: b.qps_1t, build_s, seconds: t.elapsed().as_secs_f64() })
    };
    let (hnsw, build_s) = p.usearch(hnsw_params(&opts.build)?)?;
    let usearch = measure(&hnsw, build_s)?;
    drop(hnsw);
    let postgres = match &opts.database_url {
        Some(url) => {
            let prefix =
                opts.temp_prefix.clone().unwrap_or_else(|| format!("evalret_{}", std::process::id()));
            let t = Instant::now();
            // The guard drops the tables however the measurement ends.
            let (temp, _) = p.temp_pg(url, prefix, &opts.build)?;
            let build_s = t.elapsed().as_secs_f64();
            let index = temp.index().ok_or_else(|| IndexError::Invalid("temporary index missing".into()))?;
            Some(measure(index, build_s)?)
        }
        None => None,
    };
    Ok(RetrievalReport {
        n_docs: p.docs.papers.len(),
        n_queries: ids.len(),
        exact: exact_result,
        usearch,
        postgres,
    })
}

/// Options of [`bench_protocol`].
#[derive(Debug, Clone, PartialEq)]
pub struct SweepOptions {
    /// Queries timed (the first test papers).
    pub queries: usize,
    /// efSearch values to sweep.
    pub ef: Vec<usize>,
    /// Recall@10 the reported operating point must reach.
    pub target_recall: f64,
    /// HNSW build settings.
    pub build: BuildOptions,
    /// Also sweep pgvector in this database (temporary tables, dropped on every path).
    pub database_url: Option<String>,
    /// Prefix of the temporary tables (default `benchsearch_<pid>`).
    pub temp_prefix: Option<String>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            queries: TIMED_QUERIES,
            ef: vec![16, 24, 32, 48, 64, 128],
            target_recall: 0.95,
            build: BuildOptions::default(),
            database_url: None,
            temp_prefix: None,
        }
    }
}

/// One point of an efSearch sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EfPoint {
    /// efSearch.
    pub ef: usize,
    /// Mean recall@10 against the exact index.
    pub recall_at_10: Option<f64>,
    /// Queries per second, one at a time on one thread.
    pub qps: f64,
    /// Queries per second of one batch call on all threads.
    pub batch_qps: f64,
    /// Median latency, milliseconds.
    pub latency_p50_ms: f64,
}

/// The pgvector part of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgSweep {
    /// Seconds to load and build.
    pub build_s: f64,
    /// HNSW m.
    pub m: usize,
    /// HNSW ef_construction.
    pub ef_construction: usize,
    /// The sweep, one client.
    pub sweep: Vec<EfPoint>,
}

/// What [`bench_protocol`] measured; the reported point is the fastest with recall@10 ≥ the target (else the
/// most accurate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Always `usearch`.
    pub backend: String,
    /// Documents indexed.
    pub n_base: usize,
    /// Queries timed.
    pub n_queries: usize,
    /// Vector width.
    pub dim: usize,
    /// HNSW M.
    pub m: usize,
    /// HNSW efConstruction.
    pub ef_construction: usize,
    /// Stored element type.
    pub scalar: Scalar,
    /// f16 rescoring on.
    pub rescore: bool,
    /// efSearch of the reported point.
    pub ef: usize,
    /// Its single-thread QPS.
    pub qps: f64,
    /// Its batch QPS.
    pub batch_qps: f64,
    /// Threads of the batch call.
    pub batch_threads: usize,
    /// Its recall@10.
    pub recall_at_10: Option<f64>,
    /// Its median latency, ms.
    pub latency_p50_ms: f64,
    /// Its 99th percentile latency, ms.
    pub latency_p99_ms: f64,
    /// Seconds to build the graph.
    pub build_s: f64,
    /// Threads the build used.
    pub build_threads: usize,
    /// Memory estimate of the index, MB.
    pub memory_mb: Option<f64>,
    /// The target recall.
    pub target_recall: f64,
    /// Whether the reported point reaches it.
    pub target_met: bool,
    /// Exact index, single-thread QPS.
    pub exact_qps: f64,
    /// Exact index, batch QPS.
    pub exact_batch_qps: f64,
    /// Every point.
    pub sweep: Vec<EfPoint>,
    /// pgvector, when a database was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PgSweep>,
}

fn point(ef: usize, b: &crate::SearchBench) -> EfPoint {
    EfPoint {
        ef,
        recall_at_10: b.recall_at_k,
        qps: b.qps_1t,
        batch_qps: b.batch_qps,
        latency_p50_ms: b.latency_p50_ms,
    }
}

/// Builds usearch over the documents and times it at every efSearch of `opts` against the exact index (and
/// pgvector when a database is given).
pub fn bench_protocol(p: &RetrievalProtocol, opts: &SweepOptions) -> Result<SweepReport, IndexError> {
    if opts.ef.is_empty() {
        return Err(IndexError::Invalid("the efSearch sweep needs at least one value".into()));
    }
    let queries = p.first_queries(opts.queries);
    let exact = p.exact()?;
    let exact_bench = bench_search(&exact, queries, &BenchOptions::default(), None)?;
    tracing::info!(
        "exact: {:.0} QPS (1 thread), {:.0} QPS (batch)",
        exact_bench.qps_1t,
        exact_bench.batch_qps
    );
    let params = hnsw_params(&opts.build)?;
    let (mut hnsw, build_s) = p.usearch(params.clone())?;
    tracing::info!(
        "usearch: built {} papers in {build_s:.1}s on {} threads",
        p.docs.papers.len(),
        rayon::current_num_threads()
    );
    let mut sweep = Vec::new();
    for &ef in &opts.ef {
        hnsw.set_expansion_search(ef);
        let b = bench_search(&hnsw, queries, &BenchOptions::default(), Some(&exact))?;
        tracing::info!(
            "usearch ef {ef:>4}: recall@10 {:.4}, {:.0} QPS (1 thread), {:.0} QPS (batch, {} threads), p50 {:.3} ms",
            b.recall_at_k.unwrap_or(0.0),
            b.qps_1t,
            b.batch_qps,
            b.batch_threads,
            b.latency_p50_ms
        );
        sweep.push((ef, b));
    }
    let recall = |b: &crate::SearchBench| b.recall_at_k.unwrap_or(0.0);
    let best = sweep
        .iter()
        .filter(|(_, b)| recall(b) >= opts.target_recall)
        .max_by(|x, y| x.1.qps_1t.total_cmp(&y.1.qps_1t))
        .or_else(|| sweep.iter().max_by(|x, y| recall(&x.1).total_cmp(&recall(&y.1))))
        .ok_or_else(|| IndexError::Invalid("empty sweep".into()))?;
    let postgres = match &opts.database_url {
        Some(url) => {
            let prefix =
                opts.temp_prefix.clone().unwrap_or_else(|| format!("benchsearch_{}", std::process::id()));
            let t = Instant::now();
            let (temp, params) = p.temp_pg(url, prefix, &opts.build)?;
            let pg_build_s = t.elapsed().as_secs_f64();
            let mut points = Vec::new();
            for &ef in &opts.ef {
                let pg = temp.reopen(&PgParams { ef_search: ef, ..params.clone() })?;
                let b = bench_search(&pg, queries, &BenchOptions::default(), Some(&exact))?;
                tracing::info!(
                    "pgvector ef {ef:>4}: recall@10 {:.4}, {:.0} QPS (1 client)",
                    recall(&b),
                    b.qps_1t
                );
                points.push(point(ef, &b));
            }
            Some(PgSweep {
                build_s: pg_build_s,
                m: params.m,
                ef_construction: params.ef_construction,
                sweep: points,
            })
        }
        None => None,
    };
    let (ef, b) = best;
    Ok(SweepReport {
        backend: "usearch".into(),
        n_base: p.docs.papers.len(),
        n_queries: queries.len() / p.space.dim,
        dim: p.space.dim,
        m: params.connectivity,
        ef_construction: params.expansion_add,
        scalar: params.scalar,
        rescore: params.rescore,
        ef: *ef,
        qps: b.qps_1t,
        batch_qps: b.batch_qps,
        batch_threads: b.batch_threads,
        recall_at_10: b.recall_at_k,
        latency_p50_ms: b.latency_p50_ms,
        latency_p99_ms: b.latency_p99_ms,
        build_s,
        build_threads: rayon::current_num_threads(),
        memory_mb: b.memory_bytes.map(|m| m as f64 / 1e6),
        target_recall: opts.target_recall,
        target_met: recall(b) >= opts.target_recall,
        exact_qps: exact_bench.qps_1t,
        exact_batch_qps: exact_bench.batch_qps,
        sweep: sweep.iter().map(|(ef, b)| point(*ef, b)).collect(),
        postgres,
    })
}
