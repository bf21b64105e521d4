//! Approximate search on an HNSW graph through [usearch](https://github.com/unum-cloud/usearch).
//!
//! Keys are row numbers: key `i` is line `i` of the papers file, so the graph needs no id table of its own.
//! Vectors are stored in the chosen [`Scalar`] kind (usearch quantises f32 input). Every stored vector and
//! query is unit length, so the graph ranks by inner product, which equals cosine here and skips the two
//! norms a cosine distance computes at every hop (measured +23 % QPS at 90k × 384 f32). The exception is i8
//! without rescoring, whose inner product is not on the cosine scale the hits report.
//!
//! **Rescoring** ([`HnswParams::rescore`]): an f16 copy of the rows sits beside the graph; a search asks the
//! graph for `max(k, efSearch)` candidates and ranks them by their f16 scores. With i8 in the graph this is
//! the fast configuration: the walk reads a quarter of the bytes of f32 and the rescoring restores the
//! recall the quantisation cost (see `docs/benchmarks.md`).
//!
//! **Filters never lose results.** A filtered search counts the matching rows first (integer checks on the
//! interned categories, ~1 ns a row). A selective filter (see `exact_filter_rows`) scores the matching rows
//! exactly with vectors read back from the graph; a broad one asks usearch's `filtered_search` (the
//! predicate is checked while the graph is walked) and, should the walk still come back with fewer than
//! `k` while more rows match, falls back to the exact pass. The answer always has `min(k, #matching)` hits.
//!
//! **Concurrency.** usearch keeps one search context per "thread slot" reserved up front and fails a search
//! that finds none free. Searches here take a slot from a counting semaphore first, so any number of callers
//! (a server's blocking pool included) queue briefly instead of failing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use atlas_progress::Progress;
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::kernel::{normalize, Element};
use crate::params::{HnswParams, Scalar};
use crate::rows::{check_rows, info_for, normalized_rows, prepare_query, split_new, to_hits, NewRows};
use crate::store::{self, StoredMeta};
use crate::table::{PaperTable, Scored, TopK};
use crate::{
    AddReport, Filter, Hit, IndexError, IndexInfo, IndexParams, PaperMeta, VectorIndex, VectorSpace,
};

/// Backend name of [`UsearchIndex`].
pub const BACKEND: &str = "usearch";

fn us_err<E: std::fmt::Display>(op: &'static str) -> impl FnOnce(E) -> IndexError {
    move |e| IndexError::Usearch { op, message: e.to_string() }
}

/// A counting semaphore over usearch's reserved thread slots.
#[derive(Debug)]
pub(crate) struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    pub(crate) fn new(n: usize) -> Self {
        Slots { free: Mutex::new(n), freed: Condvar::new() }
    }

    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        {
            // A poisoned lock only means another search panicked; the count itself is still right.
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            while *free == 0 {
                free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
            }
            *free -= 1;
        }
        struct Release<'a>(&'a Slots);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        f()
    }
}

/// How many concurrent searches usearch is prepared for.
fn thread_slots() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (cores.max(rayon::current_num_threads()) * 2).max(8)
}

/// Up to how many matching rows a filtered search scores them all instead of walking the graph.
///
/// Walking the graph for a filter that keeps a share `m / n` of the rows costs about `n / m` unfiltered
/// searches (0.6 ms each at 90k × 384, M 32, ef 64), scoring `m` rows read back from the graph about
/// 0.3 µs each, so the exact pass wins while `m² < 2000 n`. Measured at 90k rows: a filter keeping 1 % of
/// them took 106 ms through `filtered_search`, about 1 ms exactly.
fn exact_filter_rows(n: usize) -> usize {
    ((2000.0 * n as f64).sqrt() as usize).max(1024)
}

/// HNSW index (usearch) with the paper metadata. See the module docs.
pub struct UsearchIndex {
    info: IndexInfo,
    params: HnswParams,
    table: PaperTable,
    index: Index,
    slots: Slots,
    exact_filter_rows: Option<usize>,
    /// f16 rows (row-major, `info.dim` wide) when `params.rescore`.
    rescore: Option<Vec<numkong::f16>>,
}

impl std::fmt::Debug for UsearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsearchIndex").field("info", &self.info).field("params", &self.params).finish()
    }
}

/// The graph's metric: inner product (= cosine on unit vectors, cheaper), except for i8 rows that are not
/// rescored, whose hits take their scores straight from usearch's cosine distance.
fn metric_for(p: &HnswParams) -> MetricKind {
    match (p.scalar, p.rescore) {
        (Scalar::I8, false) => MetricKind::Cos,
        _ => MetricKind::IP,
    }
}

fn to_f16(v: &[f32]) -> impl Iterator<Item = numkong::f16> + '_ {
    v.iter().map(|&x| numkong::f16::from_f32(x))
}

fn scalar_kind(s: Scalar) -> ScalarKind {
    match s {
        Scalar::F32 => ScalarKind::F32,
        Scalar::F16 => ScalarKind::F16,
        Scalar::I8 => ScalarKind::I8,
    }
}

impl UsearchIndex {
    /// Builds the graph in memory on all rayon threads: row `i` of `vectors` (row-major, `space.dim` wide)
    /// belongs to `papers[i]`. Vectors are normalised to unit length; ids must be unique.
    pub fn build(
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: HnswParams,
    ) -> Result<Self, IndexError> {
        Self::build_with_progress(space, papers, vectors, params, &Progress::hidden())
    }

    /// [`UsearchIndex::build`], counting inserted vectors on `progress` (a graph of 100k vectors takes
    /// tens of seconds on two cores; millions take hours).
    pub fn build_with_progress(
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: HnswParams,
        progress: &Progress,
    ) -> Result<Self, IndexError> {
        IndexParams::Usearch(params.clone()).validate()?;
        check_rows(space.dim, papers, vectors)?;
        crate::rows::check_unique(papers)?;
        let options = IndexOptions {
            dimensions: space.dim,
            metric: metric_for(&params),
            quantization: scalar_kind(params.scalar),
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: params.expansion_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(us_err("create index"))?;
        let rescore = params.rescore.then(Vec::new);
        let mut me = UsearchIndex {
            info: info_for(space, BACKEND, 0),
            params,
            table: PaperTable::new(Vec::new())?,
            index,
            slots: Slots::new(thread_slots()),
            exact_filter_rows: None,
            rescore,
        };
        me.insert(papers.to_vec(), &normalized_rows(space.dim, vectors), progress)?;
        Ok(me)
    }

    /// Adds rows (already checked, unique among themselves and new to the table, normalised) after the
    /// current ones, in parallel. On failure the graph is put back as it was.
    fn insert(
        &mut self,
        papers: Vec<PaperMeta>,
        vectors: &[f32],
        progress: &Progress,
    ) -> Result<(), IndexError> {
        let dim = self.info.dim;
        let start = self.table.len();
        let total = start + papers.len();
        self.index.reserve_capacity_and_threads(total, thread_slots()).map_err(us_err("reserve"))?;
        let index = &self.index;
        let added = vectors.par_chunks_exact(dim).enumerate().try_for_each(|(i, v)| {
            index.add((start + i) as u64, v).map_err(us_err("add"))?;
            progress.inc(1);
            Ok(())
        });
        if let Err(e) = added {
            for key in start..total {
                let _ = index.remove(key as u64);
            }
            return Err(e);
        }
        for p in papers {
            self.table.push(p)?;
        }
        if let Some(rows) = &mut self.rescore {
            rows.extend(to_f16(vectors));
        }
        self.info.count = self.table.len();
        Ok(())
    }

    /// The build parameters (with the current `expansion_search`).
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// Changes `ef` (candidate list size) for later searches: higher = better recall, slower.
    pub fn set_expansion_search(&mut self, ef: usize) {
        let ef = ef.max(1);
        self.index.change_expansion_search(ef);
        self.params.expansion_search = ef;
    }

    /// Overrides how many matching rows a filter may keep for the search to score them exactly instead of
    /// walking the graph (`None`: the built-in estimate; `Some(0)`: always walk the graph).
    pub fn set_exact_filter_rows(&mut self, rows: Option<usize>) {
        self.exact_filter_rows = rows;
    }

    /// Writes the index into `dir` (a new generation; see [`crate::store`]) and seals its manifest. The graph
    /// goes to a temporary file first and is renamed into place once complete.
    pub fn save(&self, dir: &Path) -> Result<(), IndexError> {
        let generation = store::next_generation(dir)?;
        let papers = format!("papers-{generation}.jsonl");
        store::write_papers(&dir.join(&papers), self.table.papers.iter())?;
        let graph = format!("graph-{generation}.usearch");
        let tmp = dir.join(format!(".{graph}.partial"));
        let tmp_str =
            tmp.to_str().ok_or_else(|| IndexError::Invalid(format!("{} is not UTF-8", tmp.display())))?;
        self.index.save(tmp_str).map_err(us_err("save"))?;
        let synced = std::fs::File::open(&tmp).and_then(|f| f.sync_all());
        if let Err(e) = synced.and_then(|_| std::fs::rename(&tmp, dir.join(&graph))) {
            let _ = std::fs::remove_file(&tmp);
            return Err(IndexError::io("write", &dir.join(&graph), e));
        }
        let mut files = BTreeMap::from([("papers".to_string(), papers), ("graph".to_string(), graph)]);
        if let Some(rows) = &self.rescore {
            let name = format!("vectors-{generation}.f16");
            store::write_raw(&dir.join(&name), rows, |h: numkong::f16| h.0.to_le_bytes())?;
            files.insert("rescore".to_string(), name);
        }
        let meta = StoredMeta {
            info: self.info.clone(),
            params: IndexParams::Usearch(self.params.clone()),
            generation,
            files,
        };
        store::seal(dir, &meta)
    }

    /// Opens an index folder written by [`UsearchIndex::save`], verifying every checksum, and loads the graph
    /// into memory.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let meta = store::open_manifest(dir)?;
        Self::from_meta(dir, meta)
    }

    pub(crate) fn from_meta(dir: &Path, meta: StoredMeta) -> Result<Self, IndexError> {
        let IndexParams::Usearch(params) = meta.params.clone() else {
            return Err(IndexError::bad(
                dir,
                format!("holds a `{}` index, not `{BACKEND}`", meta.info.backend),
            ));
        };
        let papers = store::read_papers(&meta.file(dir, "papers")?)?;
        let graph = meta.file(dir, "graph")?;
        let graph_str =
            graph.to_str().ok_or_else(|| IndexError::Invalid(format!("{} is not UTF-8", graph.display())))?;
        let index = Index::restore(graph_str).map_err(us_err("load"))?;
        if index.size() != papers.len()
            || index.dimensions() != meta.info.dim
            || papers.len() != meta.info.count
        {
            return Err(IndexError::bad(
                &graph,
                format!(
                    "graph holds {} vectors of dim {}, papers file {} rows, manifest says {} of dim {}",
                    index.size(),
                    index.dimensions(),
                    papers.len(),
                    meta.info.count,
                    meta.info.dim
                ),
            ));
        }
        index.change_expansion_search(params.expansion_search);
        let slots = thread_slots();
        index.reserve_capacity_and_threads(papers.len(), slots).map_err(us_err("reserve"))?;
        let rescore = if params.rescore {
            let n = papers.len() * meta.info.dim;
            let path = meta.file(dir, "rescore")?;
            Some(store::read_raw(&path, n, |b| numkong::f16(u16::from_le_bytes(b)))?)
        } else {
            None
        };
        Ok(UsearchIndex {
            info: meta.info,
            params,
            table: PaperTable::new(papers)?,
            index,
            slots: Slots::new(slots),
            exact_filter_rows: None,
            rescore,
        })
    }

    /// Inserts the papers whose ids are not stored yet into the existing graph (no rebuild). Call
    /// [`UsearchIndex::save`] to persist.
    pub fn add(&mut self, papers: &[PaperMeta], vectors: &[f32]) -> Result<AddReport, IndexError> {
        let NewRows { papers: new_papers, vectors: new_vectors, skipped } =
            split_new(&self.table, self.info.dim, papers, vectors)?;
        let added = new_papers.len();
        self.insert(new_papers, &new_vectors, &Progress::hidden())?;
        Ok(AddReport { added, skipped, count: self.info.count })
    }

    /// The f16 copy of `row`, when the index keeps them.
    fn rescore_row(&self, row: usize) -> Option<&[numkong::f16]> {
        let dim = self.info.dim;
        self.rescore.as_ref().and_then(|rows| rows.get(row * dim..(row + 1) * dim))
    }

    fn stored_vector(&self, row: usize) -> Result<Vec<f32>, IndexError> {
        if let Some(r) = self.rescore_row(row) {
            return Ok(r.iter().map(|h| h.to_f32()).collect());
        }
        let mut v = vec![0f32; self.info.dim];
        let n = self.index.get(row as u64, &mut v).map_err(us_err("get"))?;
        if n == 0 {
            return Err(IndexError::Usearch {
                op: "get",
                message: format!("row {row} is missing from the graph"),
            });
        }
        Ok(v)
    }

    /// Exact cosine over `rows` (the fallback of a selective filter, and the rescoring of candidates): with
    /// the f16 copies when the index keeps them, else with the vectors read back from the graph.
    fn exact_over(&self, q: &[f32], k: usize, rows: &[u32]) -> Result<Vec<Scored>, IndexError> {
        let mut top = TopK::new(k);
        if self.rescore.is_some() {
            let qh: Vec<numkong::f16> = to_f16(q).collect();
            for &r in rows {
                if let Some(v) = self.rescore_row(r as usize) {
                    top.push(<numkong::f16 as Element>::dot(v, &qh), r);
                }
            }
            return Ok(top.into_sorted());
        }
        for &r in rows {
            let mut v = self.stored_vector(r as usize)?;
            // Quantised rows (f16, i8) come back only roughly unit-length.
            normalize(&mut v);
            let s: f32 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            top.push(s, r);
        }
        Ok(top.into_sorted())
    }
}

impl VectorIndex for UsearchIndex {
    fn info(&self) -> &IndexInfo {
        &self.info
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        let q = prepare_query(&self.info, query)?;
        if k == 0 || self.table.is_empty() {
            return Ok(Vec::new());
        }
        let compiled = self.table.compile(filter);
        // A selective filter: scoring the matching rows directly beats walking the graph for them.
        let matching = compiled.as_ref().map(|f| self.table.matching_rows(Some(f)));
        if let Some(rows) = &matching {
            let limit = self.exact_filter_rows.unwrap_or_else(|| exact_filter_rows(self.table.len()));
            if rows.len() <= limit {
                return Ok(to_hits(&self.table, &self.exact_over(&q, k, rows)?));
            }
        }
        // With rescoring, the walk's whole candidate list is worth re-ranking (it costs the graph nothing
        // extra: usearch keeps `max(k, ef)` candidates either way).
        let want = if self.rescore.is_some() { k.max(self.params.expansion_search) } else { k };
        let matches = self.slots.run(|| match &compiled {
            None => self.index.search(&q, want),
            Some(f) => self.index.filtered_search(&q, want, |key| f.matches(key as usize)),
        });
        let matches = matches.map_err(us_err("search"))?;
        let mut scored: Vec<Scored> = matches
            .keys
            .iter()
            .zip(&matches.distances)
            // Keys are row numbers; anything else would be a stale graph entry, never shown.
            .filter(|(&key, _)| (key as usize) < self.table.len())
            .map(|(&key, &d)| Scored { score: 1.0 - d, row: key as u32 })
            .collect();
        if self.rescore.is_some() {
            let rows: Vec<u32> = scored.iter().map(|s| s.row).collect();
            scored = self.exact_over(&q, k, &rows)?;
        }
        if scored.len() < k {
            let rows = matching.unwrap_or_else(|| self.table.matching_rows(None));
            if rows.len() > scored.len() {
                return Ok(to_hits(&self.table, &self.exact_over(&q, k, &rows)?));
            }
        }
        Ok(to_hits(&self.table, &scored))
    }

    fn paper(&self, id: &str) -> Result<Option<PaperMeta>, IndexError> {
        Ok(self.table.row_of(id).map(|r| self.table.papers[r].clone()))
    }

    fn vector(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        self.table.row_of(id).map(|r| self.stored_vector(r)).transpose()
    }

    fn primary_counts(&self) -> Result<std::collections::HashMap<String, usize>, IndexError> {
        Ok(self.table.primary_counts())
    }

    fn memory_bytes(&self) -> Option<u64> {
        let rescore = self.rescore.as_ref().map_or(0, |r| r.len() as u64 * 2);
        Some(self.index.memory_usage() as u64 + self.table.memory_bytes() + rescore)
    }

    fn export(&self) -> Result<crate::Corpus, IndexError> {
        let mut vectors = Vec::with_capacity(self.table.len() * self.info.dim);
        for row in 0..self.table.len() {
            vectors.extend(self.stored_vector(row)?);
        }
        Ok(crate::Corpus { papers: self.table.papers.clone(), vectors })
    }
}
