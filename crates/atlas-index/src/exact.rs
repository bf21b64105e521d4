//! Exact (brute-force) cosine search: every stored vector is scored against the query.
//!
//! Filters are applied inside the scan (a failing row is skipped before its dot product), so a filtered
//! search always returns `min(k, #matching)` hits and costs less than an unfiltered one.
//!
//! A batch of queries is scanned in blocks of [`QUERY_BLOCK`] queries per rayon task: each stored row is
//! loaded from memory once per block and scored against all its queries while it sits in L1, which turns a
//! memory-bound scan (one query reads every row) into a compute-bound one.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;

use crate::kernel::Element;
use crate::params::{ExactParams, Storage};
use crate::rows::{check_rows, info_for, normalized_rows, prepare_query, split_new, to_hits, NewRows};
use crate::store::{self, StoredMeta};
use crate::table::{CompiledFilter, PaperTable, Scored, TopK};
use crate::{
    AddReport, Filter, Hit, IndexError, IndexInfo, IndexParams, PaperMeta, VectorIndex, VectorSpace,
};

/// Backend name of [`ExactIndex`].
pub const BACKEND: &str = "exact";

/// Queries scored together against each row in [`VectorIndex::search_batch`].
pub const QUERY_BLOCK: usize = 16;

#[derive(Debug, Clone)]
enum Rows {
    F32(Vec<f32>),
    F16(Vec<numkong::f16>),
}

impl Rows {
    fn from_f32(storage: Storage, v: Vec<f32>) -> Rows {
        match storage {
            Storage::F32 => Rows::F32(v),
            Storage::F16 => Rows::F16(v.iter().map(|&x| numkong::f16::from_f32(x)).collect()),
        }
    }

    fn extend(&mut self, v: &[f32]) {
        match self {
            Rows::F32(d) => d.extend_from_slice(v),
            Rows::F16(d) => d.extend(v.iter().map(|&x| numkong::f16::from_f32(x))),
        }
    }

    fn bytes(&self) -> u64 {
        match self {
            Rows::F32(d) => d.len() as u64 * 4,
            Rows::F16(d) => d.len() as u64 * 2,
        }
    }
}

/// Brute-force cosine index over f32 or f16 rows, with the paper metadata. See the module docs.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    info: IndexInfo,
    params: ExactParams,
    table: PaperTable,
    rows: Rows,
}

impl ExactIndex {
    /// Builds an index in memory: row `i` of `vectors` (row-major, `space.dim` wide) belongs to `papers[i]`.
    /// Vectors are normalised to unit length; ids must be unique.
    pub fn build(
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: ExactParams,
    ) -> Result<Self, IndexError> {
        check_rows(space.dim, papers, vectors)?;
        let table = PaperTable::new(papers.to_vec())?;
        let rows = Rows::from_f32(params.storage, normalized_rows(space.dim, vectors));
        Ok(ExactIndex { info: info_for(space, BACKEND, papers.len()), params, table, rows })
    }

    /// The build parameters.
    pub fn params(&self) -> &ExactParams {
        &self.params
    }

    /// Writes the index into `dir` (a new generation; see [`crate::store`]) and seals its manifest.
    pub fn save(&self, dir: &Path) -> Result<(), IndexError> {
        let generation = store::next_generation(dir)?;
        let papers = format!("papers-{generation}.jsonl");
        store::write_papers(&dir.join(&papers), self.table.papers.iter())?;
        let vectors = match &self.rows {
            Rows::F32(d) => {
                let name = format!("vectors-{generation}.f32");
                store::write_raw(&dir.join(&name), d, f32::to_le_bytes)?;
                name
            }
            Rows::F16(d) => {
                let name = format!("vectors-{generation}.f16");
                store::write_raw(&dir.join(&name), d, |h: numkong::f16| h.0.to_le_bytes())?;
                name
            }
        };
        let files = BTreeMap::from([("papers".to_string(), papers), ("vectors".to_string(), vectors)]);
        let meta = StoredMeta {
            info: self.info.clone(),
            params: IndexParams::Exact(self.params.clone()),
            generation,
            files,
        };
        store::seal(dir, &meta)
    }

    /// Opens an index folder written by [`ExactIndex::save`], verifying every checksum.
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let meta = store::open_manifest(dir)?;
        Self::from_meta(dir, meta)
    }

    pub(crate) fn from_meta(dir: &Path, meta: StoredMeta) -> Result<Self, IndexError> {
        let IndexParams::Exact(params) = meta.params.clone() else {
            return Err(IndexError::bad(
                dir,
                format!("holds a `{}` index, not `{BACKEND}`", meta.info.backend),
            ));
        };
        let papers = store::read_papers(&meta.file(dir, "papers")?)?;
        let (count, dim) = (meta.info.count, meta.info.dim);
        if papers.len() != count {
            return Err(IndexError::bad(dir, format!("{} papers, manifest says {count}", papers.len())));
        }
        let path = meta.file(dir, "vectors")?;
        let rows = match params.storage {
            Storage::F32 => Rows::F32(store::read_raw(&path, count * dim, f32::from_le_bytes)?),
            Storage::F16 => {
                Rows::F16(store::read_raw(&path, count * dim, |b| numkong::f16(u16::from_le_bytes(b)))?)
            }
        };
        let table = PaperTable::new(papers)?;
        Ok(ExactIndex { info: meta.info, params, table, rows })
    }

    /// Appends the papers whose ids are not stored yet (no rebuild: rows are appended). Call
    /// [`ExactIndex::save`] to persist.
    pub fn add(&mut self, papers: &[PaperMeta], vectors: &[f32]) -> Result<AddReport, IndexError> {
        let NewRows { papers: new_papers, vectors: new_vectors, skipped } =
            split_new(&self.table, self.info.dim, papers, vectors)?;
        let added = new_papers.len();
        for p in new_papers {
            self.table.push(p)?;
        }
        self.rows.extend(&new_vectors);
        self.info.count = self.table.len();
        Ok(AddReport { added, skipped, count: self.info.count })
    }

    fn scan(&self, queries: &[Vec<f32>], k: usize, filter: Option<&CompiledFilter<'_>>) -> Vec<Vec<Scored>> {
        let dim = self.info.dim;
        match &self.rows {
            Rows::F32(d) => scan(d, dim, queries, k, filter),
            Rows::F16(d) => {
                let qs: Vec<Vec<numkong::f16>> =
                    queries.iter().map(|q| q.iter().map(|&x| numkong::f16::from_f32(x)).collect()).collect();
                scan(d, dim, &qs, k, filter)
            }
        }
    }
}

/// Scores every row (passing `filter`) against every query; `k` best per query, best first.
fn scan<T: Element>(
    data: &[T],
    dim: usize,
    queries: &[Vec<T>],
    k: usize,
    filter: Option<&CompiledFilter<'_>>,
) -> Vec<Vec<Scored>> {
    let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
    if k > 0 {
        for (row, r) in data.chunks_exact(dim).enumerate() {
            if let Some(f) = filter {
                if !f.matches(row) {
                    continue;
                }
            }
            for (q, top) in queries.iter().zip(&mut tops) {
                top.push(T::dot(r, q), row as u32);
            }
        }
    }
    tops.into_iter().map(TopK::into_sorted).collect()
}

impl VectorIndex for ExactIndex {
    fn info(&self) -> &IndexInfo {
        &self.info
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        let q = prepare_query(&self.info, query)?;
        let compiled = self.table.compile(filter);
        let scored = self.scan(std::slice::from_ref(&q), k, compiled.as_ref());
        Ok(to_hits(&self.table, &scored[0]))
    }

    fn search_batch(&self, queries: &[f32], k: usize, filter: &Filter) -> Result<Vec<Vec<Hit>>, IndexError> {
        crate::check_batch(queries, self.info.dim)?;
        let qs: Vec<Vec<f32>> = queries
            .chunks_exact(self.info.dim)
            .map(|q| prepare_query(&self.info, q))
            .collect::<Result<_, _>>()?;
        let compiled = self.table.compile(filter);
        let out: Vec<Vec<Hit>> = qs
            .par_chunks(QUERY_BLOCK)
            .flat_map_iter(|block| {
                self.scan(block, k, compiled.as_ref()).into_iter().map(|s| to_hits(&self.table, &s))
            })
            .collect();
        Ok(out)
    }

    fn paper(&self, id: &str) -> Result<Option<PaperMeta>, IndexError> {
        Ok(self.table.row_of(id).map(|r| self.table.papers[r].clone()))
    }

    fn vector(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        let dim = self.info.dim;
        Ok(self.table.row_of(id).map(|r| match &self.rows {
            Rows::F32(d) => d[r * dim..(r + 1) * dim].to_vec(),
            Rows::F16(d) => d[r * dim..(r + 1) * dim].iter().map(|h| h.to_f32()).collect(),
        }))
    }

    fn primary_counts(&self) -> Result<std::collections::HashMap<String, usize>, IndexError> {
        Ok(self.table.primary_counts())
    }

    fn memory_bytes(&self) -> Option<u64> {
        Some(self.rows.bytes() + self.table.memory_bytes())
    }

    fn export(&self) -> Result<crate::Corpus, IndexError> {
        let vectors = match &self.rows {
            Rows::F32(d) => d.clone(),
            Rows::F16(d) => d.iter().map(|h| h.to_f32()).collect(),
        };
        Ok(crate::Corpus { papers: self.table.papers.clone(), vectors })
    }
}
