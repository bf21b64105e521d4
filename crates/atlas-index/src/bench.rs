//! Search speed measured the way the FAISS peer measures it (`../shared/bench/peer_faiss.py`): queries per
//! second one query at a time on one thread, and for one batch call over all queries (here on all rayon
//! threads), plus latency percentiles, recall@k against a reference index and the memory estimate.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::metrics::recall_at_k;
use crate::{Filter, IndexError, VectorIndex};

/// Options of [`bench_search`].
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Hits per query.
    pub k: usize,
    /// Applied to every query.
    pub filter: Filter,
    /// Queries run before timing starts (page faults, caches, connection set-up).
    pub warmup: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions { k: 10, filter: Filter::default(), warmup: 10 }
    }
}

/// Measured search speed of one index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchBench {
    /// Backend name.
    pub backend: String,
    /// Papers in the index.
    pub count: usize,
    /// Vector width.
    pub dim: usize,
    /// Hits per query.
    pub k: usize,
    /// Queries timed.
    pub n_queries: usize,
    /// Queries per second, one at a time on the calling thread.
    pub qps_1t: f64,
    /// Median latency of one query, milliseconds.
    pub latency_p50_ms: f64,
    /// 95th percentile latency, milliseconds.
    pub latency_p95_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub latency_p99_ms: f64,
    /// Queries per second of one `search_batch` call over all queries.
    pub batch_qps: f64,
    /// Threads the batch call could use (rayon's pool).
    pub batch_threads: usize,
    /// Mean recall@k against the reference index, when one was given.
    pub recall_at_k: Option<f64>,
    /// The index's memory estimate.
    pub memory_bytes: Option<u64>,
}

/// Times `index` on `queries` (row-major, `info().dim` wide). With `reference` (normally the exact index over
/// the same papers), also reports recall@k of the batch results against the reference's.
pub fn bench_search(
    index: &dyn VectorIndex,
    queries: &[f32],
    opts: &BenchOptions,
    reference: Option<&dyn VectorIndex>,
) -> Result<SearchBench, IndexError> {
    let dim = index.info().dim;
    crate::check_batch(queries, dim)?;
    let n = queries.len() / dim;
    if n == 0 {
        return Err(IndexError::Invalid("no queries to time".into()));
    }
    for q in queries.chunks_exact(dim).cycle().take(opts.warmup) {
        index.search(q, opts.k, &opts.filter)?;
    }
    let mut latencies = Vec::with_capacity(n);
    let t = Instant::now();
    for q in queries.chunks_exact(dim) {
        let t1 = Instant::now();
        std::hint::black_box(index.search(q, opts.k, &opts.filter)?);
        latencies.push(t1.elapsed().as_secs_f64() * 1e3);
    }
    let single = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let batch = index.search_batch(queries, opts.k, &opts.filter)?;
    let batch_s = t.elapsed().as_secs_f64();
    let recall = match reference {
        Some(r) => Some(recall_at_k(&batch, &r.search_batch(queries, opts.k, &opts.filter)?, opts.k)),
        None => None,
    };
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    Ok(SearchBench {
        backend: index.info().backend.clone(),
        count: index.info().count,
        dim,
        k: opts.k,
        n_queries: n,
        qps_1t: n as f64 / single,
        latency_p50_ms: pct(0.50),
        latency_p95_ms: pct(0.95),
        latency_p99_ms: pct(0.99),
        batch_qps: n as f64 / batch_s,
        batch_threads: rayon::current_num_threads(),
        recall_at_k: recall,
        memory_bytes: index.memory_bytes(),
    })
}
