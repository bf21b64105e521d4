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
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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

/// The index backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum IndexBackend {
    /// Brute force over every vector: exact, no build time, O(n) per query.
    Exact,
    /// HNSW graph (usearch) in a folder: the embedded default.
    Usearch,
    /// PostgreSQL + pgvector (HNSW, cosine) for shared and scale-out deployments.
    Postgres,
}

/// The build settings a user gives, whatever the backend; [`IndexParams::for_backend`] turns them into one
/// backend's parameters and refuses the settings that backend cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// Stored element type; `None` = the backend's default (i8 rescored by f16 copies for usearch, f32 for the
    /// others).
    pub scalar: Option<Scalar>,
    /// HNSW graph degree (`M`).
    pub m: usize,
    /// HNSW candidate list while inserting (`efConstruction`).
    pub ef_construction: usize,
    /// HNSW candidate list while searching (`efSearch`), stored with the index.
    pub ef_search: usize,
    /// usearch with i8: keep f16 copies to re-rank candidates with (see [`HnswParams::rescore`]).
    pub rescore: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        let h = HnswParams::default();
        BuildOptions {
            scalar: None,
            m: h.connectivity,
            ef_construction: h.expansion_add,
            ef_search: h.expansion_search,
            rescore: true,
        }
    }
}

/// Which backend to build and its parameters (stored in a folder index's manifest; the PostgreSQL
/// backend keeps its own in its `_meta` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum IndexParams {
    /// Brute-force cosine over every stored vector.
    Exact(ExactParams),
    /// HNSW graph through usearch.
    Usearch(HnswParams),
    /// PostgreSQL + pgvector.
    Postgres(PgParams),
}

impl IndexParams {
    /// The parameters of `backend` from the user's `opts`; settings the backend cannot honour are errors
    /// (`i8` for exact, any scalar but f32 for pgvector), never silently dropped.
    pub fn for_backend(backend: IndexBackend, opts: &BuildOptions) -> Result<IndexParams, IndexError> {
        let params = match backend {
            IndexBackend::Exact => IndexParams::Exact(ExactParams {
                storage: match opts.scalar.unwrap_or(Scalar::F32) {
                    Scalar::F32 => Storage::F32,
                    Scalar::F16 => Storage::F16,
                    Scalar::I8 => {
                        return Err(IndexError::Invalid(
                            "scalar i8 is for the usearch backend; exact stores f32 or f16".into(),
                        ))
                    }
                },
            }),
            IndexBackend::Usearch => {
                let scalar = opts.scalar.unwrap_or(Scalar::I8);
                IndexParams::Usearch(HnswParams {
                    scalar,
                    connectivity: opts.m,
                    expansion_add: opts.ef_construction,
                    expansion_search: opts.ef_search,
                    // f16 copies only sharpen an i8 graph; beside f32 or f16 rows they would add memory and no
                    // accuracy.
                    rescore: scalar == Scalar::I8 && opts.rescore,
                })
            }
            IndexBackend::Postgres => {
                if opts.scalar.is_some_and(|s| s != Scalar::F32) {
                    return Err(IndexError::Invalid(
                        "pgvector stores f32 vectors; the scalar setting is for the folder backends".into(),
                    ));
                }
                IndexParams::Postgres(PgParams {
                    m: opts.m,
                    ef_construction: opts.ef_construction,
                    ef_search: opts.ef_search,
                    ..PgParams::default()
                })
            }
        };
        params.validate()?;
        Ok(params)
    }

    /// The backend name written into [`crate::IndexInfo::backend`].
    pub fn backend(&self) -> &'static str {
        match self {
            IndexParams::Exact(_) => crate::exact::BACKEND,
            IndexParams::Usearch(_) => crate::hnsw::BACKEND,
            IndexParams::Postgres(_) => crate::pg::BACKEND,
        }
    }

    /// Rejects parameters no index can be built with.
    pub fn validate(&self) -> Result<(), IndexError> {
        match self {
            IndexParams::Usearch(p)
                if p.connectivity < 2 || p.expansion_add == 0 || p.expansion_search == 0 =>
            {
                Err(IndexError::Invalid(format!(
                    "usearch needs connectivity >= 2 and positive expansions, got {p:?}"
                )))
            }
            IndexParams::Postgres(p) if p.m < 2 || p.ef_construction < 2 * p.m || p.ef_search == 0 => {
                // pgvector's own limits: m >= 2, ef_construction >= 2 * m.
                Err(IndexError::Invalid(format!(
                    "pgvector needs m >= 2, ef_construction >= 2 * m and a positive ef_search, got {p:?}"
                )))
            }
            _ => Ok(()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_gets_its_own_parameters() {
        let opts = BuildOptions { m: 24, ef_construction: 100, ef_search: 40, ..BuildOptions::default() };
        // The PostgreSQL backend once came back as usearch parameters.
        match IndexParams::for_backend(IndexBackend::Postgres, &opts).unwrap() {
            IndexParams::Postgres(p) => assert_eq!((p.m, p.ef_construction, p.ef_search), (24, 100, 40)),
            other => panic!("postgres got {other:?}"),
        }
        match IndexParams::for_backend(IndexBackend::Usearch, &opts).unwrap() {
            IndexParams::Usearch(p) => {
                assert_eq!((p.connectivity, p.expansion_add, p.expansion_search), (24, 100, 40));
                assert_eq!((p.scalar, p.rescore), (Scalar::I8, true));
            }
            other => panic!("usearch got {other:?}"),
        }
        let f32_graph = BuildOptions { scalar: Some(Scalar::F32), ..opts.clone() };
        let IndexParams::Usearch(p) = IndexParams::for_backend(IndexBackend::Usearch, &f32_graph).unwrap()
        else {
            panic!("usearch")
        };
        assert!(!p.rescore, "no f16 copies beside f32 rows");
        assert_eq!(
            IndexParams::for_backend(IndexBackend::Exact, &opts).unwrap(),
            IndexParams::Exact(ExactParams { storage: Storage::F32 })
        );
    }

    #[test]
    fn year_ranges_have_rust_range_meaning() {
        use crate::parse_year_range as y;
        assert_eq!(y("2015..2019").unwrap(), 2015..=2018, "the end of `..` is excluded");
        assert_eq!(y("2015..=2019").unwrap(), 2015..=2019);
        assert_eq!(y("2017").unwrap(), 2017..=2017);
        assert_eq!(y("2015..").unwrap(), 2015..=u16::MAX);
        assert_eq!(y("..2000").unwrap(), 0..=1999);
        assert_eq!(y("..=2000").unwrap(), 0..=2000);
        assert!(y("2019..2019").unwrap_err().to_string().contains("excludes"));
        assert!(y("20x5").unwrap_err().to_string().contains("`20x5` is not a year"));
        assert!(y("2019..2015").is_err());
    }

    #[test]
    fn settings_a_backend_cannot_honour_are_errors() {
        let i8 = BuildOptions { scalar: Some(Scalar::I8), ..BuildOptions::default() };
        assert!(IndexParams::for_backend(IndexBackend::Exact, &i8).is_err());
        assert!(IndexParams::for_backend(IndexBackend::Postgres, &i8).is_err());
        let tiny = BuildOptions { m: 16, ef_construction: 20, ..BuildOptions::default() };
        let err = IndexParams::for_backend(IndexBackend::Postgres, &tiny).unwrap_err().to_string();
        assert!(err.contains("ef_construction >= 2 * m"), "{err}");
    }
}
