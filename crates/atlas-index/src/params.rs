//! How an index is built: the vector space it lives in and the backend's parameters.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::IndexError;

/// The vector space of the stored vectors: which encoder made them. Copied into [`crate::IndexInfo`] so a
/// query encoder can be checked against the index ([`crate::check_embedding_id`]).
///
/// The binary fills it from an embedding set's `SetMeta` (same field names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VectorSpace {
    /// The encoder's vector-space id (model + graph + precision + template).
    pub embedding_id: String,
    /// Hash of the model's weights, tokenizer and config.
    pub model_hash: String,
    /// Model folder (used to load the query encoder).
    pub model_dir: PathBuf,
    /// Text template of the encoder.
    pub template: String,
    /// Vector width.
    pub dim: usize,
}

/// Element type of the vectors an exact index keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// 32-bit floats: exact scores.
    #[default]
    F32,
    /// 16-bit IEEE half floats: half the memory and disk, scores within about 1e-3 of f32.
    F16,
}

/// Element type of the vectors a usearch (HNSW) index keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scalar {
    /// 32-bit floats.
    #[default]
    F32,
    /// 16-bit IEEE half floats.
    F16,
    /// 8-bit integers (usearch scales unit vectors by 127).
    I8,
}

/// Parameters of the exact (brute-force) backend.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExactParams {
    /// Element type of the stored vectors.
    #[serde(default)]
    pub storage: Storage,
}

/// Parameters of the usearch HNSW backend (names as in the HNSW paper / FAISS in brackets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Element type of the stored vectors.
    #[serde(default)]
    pub scalar: Scalar,
    /// Graph degree (`M`).
    pub connectivity: usize,
    /// Candidate list size while inserting (`efConstruction`).
    pub expansion_add: usize,
    /// Candidate list size while searching (`efSearch`); can be changed after loading.
    pub expansion_search: usize,
    /// Keep an f16 copy of every vector beside the graph and re-score the walk's `max(k, efSearch)`
    /// candidates with it (FAISS calls this a refine step, Qdrant rescoring). It lets the graph store coarse
    /// i8 vectors — a quarter of f32's bytes to pull through memory at every hop — without paying for it in
    /// recall or in score accuracy. Costs `2 × dim` bytes a paper.
    #[serde(default)]
    pub rescore: bool,
}

impl Default for HnswParams {
    /// The FAISS peer's graph settings: M 32, efConstruction 200, efSearch 64 (its sweep reaches recall@10
    /// 0.996 at 64 on arxiv-100k; 32 gave 0.981), with an i8 graph rescored by f16 copies — on arxiv-100k
    /// that is recall@10 0.995 at 1.3× FAISS's QPS and a quarter of f32's graph bytes.
    fn default() -> Self {
        HnswParams {
            scalar: Scalar::I8,
            connectivity: 32,
            expansion_add: 200,
            expansion_search: 64,
            rescore: true,
        }
    }
}

/// Which on-disk backend to build and its parameters (stored in the index manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum IndexParams {
    /// Brute-force cosine over every stored vector.
    Exact(ExactParams),
    /// HNSW graph through usearch.
    Usearch(HnswParams),
}

impl IndexParams {
    /// The backend name written into [`crate::IndexInfo::backend`].
    pub fn backend(&self) -> &'static str {
        match self {
            IndexParams::Exact(_) => crate::exact::BACKEND,
            IndexParams::Usearch(_) => crate::hnsw::BACKEND,
        }
    }

    /// Rejects parameters no index can be built with.
    pub fn validate(&self) -> Result<(), IndexError> {
        if let IndexParams::Usearch(p) = self {
            if p.connectivity < 2 || p.expansion_add == 0 || p.expansion_search == 0 {
                return Err(IndexError::Invalid(format!(
                    "usearch needs connectivity >= 2 and positive expansions, got {p:?}"
                )));
            }
        }
        Ok(())
    }
}

/// Parameters of the PostgreSQL + pgvector backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PgParams {
    /// Name prefix of the tables (`<prefix>_papers`, `<prefix>_meta`), so one database can hold several
    /// indexes. Letters, digits and `_` only.
    pub prefix: String,
    /// HNSW graph degree (`m`).
    pub m: usize,
    /// HNSW `ef_construction`.
    pub ef_construction: usize,
    /// `hnsw.ef_search` set for every search.
    pub ef_search: usize,
    /// Most connections kept open for concurrent searches.
    pub pool_size: usize,
}

impl Default for PgParams {
    fn default() -> Self {
        PgParams { prefix: "atlas".into(), m: 16, ef_construction: 64, ef_search: 64, pool_size: 8 }
    }
}
