//! Retrieval quality, with exactly the peer definitions (`../shared/bench/peer_minilm.py`,
//! `retrieval_metrics`, and `peer_faiss.py` for recall):
//!
//! * a hit is relevant when its primary category equals the query's (binary gains);
//! * P@1 = relevance of the first hit; P@10 = relevant hits among the first 10, divided by 10;
//! * MRR@10 = 1 / rank of the first relevant hit within the first 10 (0 when none);
//! * nDCG@10 = Σ rel_i / log2(i + 1) over ranks i = 1..10, divided by the same sum for an ideal list with
//!   `min(10, #documents of the query's category)` relevant hits (0 when the category has no documents);
//! * recall@k of an approximate result = |approx top-k ∩ exact top-k| / k, averaged over queries.
//!
//! A result list shorter than 10 counts its missing ranks as not relevant (the peer's lists are always 10 long).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{Filter, Hit, IndexError, VectorIndex};

/// Cut-off of the ranked metrics.
pub const METRIC_DEPTH: usize = 10;

/// Retrieval quality over a query set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalMetrics {
    /// Precision at 1.
    pub p_at_1: f64,
    /// Precision at 10.
    pub p_at_10: f64,
    /// Mean reciprocal rank, first 10 hits.
    pub mrr_at_10: f64,
    /// Normalised discounted cumulative gain at 10, binary gains.
    pub ndcg_at_10: f64,
    /// Number of queries.
    pub n_queries: usize,
    /// Number of documents searched.
    pub n_docs: usize,
}

/// Computes the metrics from labels: `ranked[q]` holds the primary categories of query `q`'s hits, best
/// first; `doc_counts` the number of documents of each category in the searched collection.
pub fn retrieval_metrics<S: AsRef<str>>(
    query_labels: &[S],
    ranked: &[Vec<S>],
    doc_counts: &HashMap<String, usize>,
) -> RetrievalMetrics {
    let mut acc = Accumulator::default();
    for (label, hits) in query_labels.iter().zip(ranked) {
        let label = label.as_ref();
        acc.add(label, hits.iter().map(|h| h.as_ref()), doc_counts.get(label).copied().unwrap_or(0));
    }
    acc.finish(doc_counts.values().sum())
}

/// Sums of the per-query metrics.
#[derive(Debug, Default)]
struct Accumulator {
    p1: f64,
    p10: f64,
    mrr: f64,
    ndcg: f64,
    n: usize,
}

impl Accumulator {
    /// Scores one query whose category has `relevant_docs` documents in the collection.
    fn add<'a>(&mut self, label: &str, hits: impl Iterator<Item = &'a str>, relevant_docs: usize) {
        // disc(i) = 1 / log2(i + 2) for 0-based rank i.
        let disc = |i: usize| 1.0 / ((i + 2) as f64).log2();
        let rel: Vec<bool> = hits.take(METRIC_DEPTH).map(|h| h == label).collect();
        self.p1 += f64::from(u8::from(rel.first().copied().unwrap_or(false)));
        self.p10 += rel.iter().filter(|&&r| r).count() as f64 / METRIC_DEPTH as f64;
        if let Some(first) = rel.iter().position(|&r| r) {
            self.mrr += 1.0 / (first + 1) as f64;
        }
        let dcg: f64 = rel.iter().enumerate().filter(|(_, r)| **r).map(|(i, _)| disc(i)).sum();
        let idcg: f64 = (0..relevant_docs.min(METRIC_DEPTH)).map(disc).sum();
        if idcg > 0.0 {
            self.ndcg += dcg / idcg;
        }
        self.n += 1;
    }

    fn finish(self, n_docs: usize) -> RetrievalMetrics {
        let mean = |x: f64| if self.n == 0 { 0.0 } else { x / self.n as f64 };
        RetrievalMetrics {
            p_at_1: mean(self.p1),
            p_at_10: mean(self.p10),
            mrr_at_10: mean(self.mrr),
            ndcg_at_10: mean(self.ndcg),
            n_queries: self.n,
            n_docs,
        }
    }
}

/// Searches `index` with every query (row-major `queries`, one row per entry of `query_ids`/`query_labels`,
/// all threads) and scores the top 10 against the primary categories of the hits.
///
/// A query that is itself stored in the index (same id) never counts as its own hit, and is left out of its
/// category's document count: so an index over the whole corpus can be evaluated with its own papers. (The
/// peer protocol searches train+validation with test queries, where this never happens.)
pub fn evaluate_retrieval(
    index: &dyn VectorIndex,
    queries: &[f32],
    query_ids: &[String],
    query_labels: &[String],
) -> Result<RetrievalMetrics, IndexError> {
    let dim = index.info().dim;
    crate::check_batch(queries, dim)?;
    if queries.len() / dim != query_ids.len() || query_ids.len() != query_labels.len() {
        return Err(IndexError::Invalid(format!(
            "{} query vectors, {} ids, {} labels",
            queries.len() / dim,
            query_ids.len(),
            query_labels.len()
        )));
    }
    let counts = index.primary_counts()?;
    // One extra hit so that dropping the query itself still leaves 10.
    let results = index.search_batch(queries, METRIC_DEPTH + 1, &Filter::default())?;
    let mut acc = Accumulator::default();
    for ((id, label), hits) in query_ids.iter().zip(query_labels).zip(&results) {
        let stored = hits.iter().any(|h| &h.paper.id == id) || index.paper(id)?.is_some();
        let docs = counts.get(label).copied().unwrap_or(0).saturating_sub(usize::from(stored));
        let labels = hits
            .iter()
            .filter(|h| &h.paper.id != id)
            .map(|h| h.paper.categories.first().map(String::as_str).unwrap_or(""));
        acc.add(label, labels, docs);
    }
    Ok(acc.finish(counts.values().sum()))
}

/// Mean recall@k of `approx` against `exact` (same queries, same order): the share of the exact top-k ids
/// found in the approximate top-k. A query whose exact list is shorter than `k` is scored against that length.
pub fn recall_at_k(approx: &[Vec<Hit>], exact: &[Vec<Hit>], k: usize) -> f64 {
    let n = approx.len().min(exact.len());
    if n == 0 || k == 0 {
        return 0.0;
    }
    let mut sum = 0.0;
    for (a, e) in approx.iter().zip(exact) {
        let truth: HashSet<&str> = e.iter().take(k).map(|h| h.paper.id.as_str()).collect();
        if truth.is_empty() {
            sum += 1.0;
            continue;
        }
        let found = a.iter().take(k).filter(|h| truth.contains(h.paper.id.as_str())).count();
        sum += found as f64 / truth.len() as f64;
    }
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer's numpy code, transcribed for one fixed example and worked by hand.
    #[test]
    fn metrics_match_the_peer_definitions() {
        let counts: HashMap<String, usize> =
            [("a".to_string(), 3), ("b".to_string(), 20)].into_iter().collect();
        let q = vec!["a", "b", "c"];
        let ranked = vec![
            // a: relevant at ranks 2 and 3 (3 docs of `a` exist: ideal = 3 relevant hits)
            vec!["b", "a", "a", "b", "b", "b", "b", "b", "b", "b"],
            // b: relevant at rank 1 only
            vec!["b", "a", "a", "a", "a", "a", "a", "a", "a", "a"],
            // c: no docs of `c` at all: nDCG 0
            vec!["a"; 10],
        ];
        let m = retrieval_metrics(&q, &ranked, &counts);
        let d = |r: usize| 1.0 / ((r + 1) as f64).log2();
        let ndcg_a = (d(2) + d(3)) / (d(1) + d(2) + d(3));
        let ndcg_b = d(1) / (1..=10).map(d).sum::<f64>();
        assert!((m.p_at_1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.p_at_10 - (0.2 + 0.1 + 0.0) / 3.0).abs() < 1e-12);
        assert!((m.mrr_at_10 - (0.5 + 1.0 + 0.0) / 3.0).abs() < 1e-12);
        assert!((m.ndcg_at_10 - (ndcg_a + ndcg_b) / 3.0).abs() < 1e-12, "{m:?}");
        assert_eq!((m.n_queries, m.n_docs), (3, 23));
    }

    #[test]
    fn short_lists_count_missing_ranks_as_misses() {
        let counts: HashMap<String, usize> = [("a".to_string(), 1)].into_iter().collect();
        let m = retrieval_metrics(&["a"], &[vec!["a"]], &counts);
        assert_eq!((m.p_at_1, m.p_at_10, m.mrr_at_10, m.ndcg_at_10), (1.0, 0.1, 1.0, 1.0));
    }
}
