//! Similar-paper search: one [`VectorIndex`] trait, several backends.
//!
//! Every index answers the same question — "which stored papers are closest (cosine) to this vector, among
//! those that pass a [`Filter`]?" — and carries the paper metadata it needs to answer without the dataset
//! ([`PaperMeta`]). The trait is object-safe so the binary and the HTTP server can hold any backend as
//! `Arc<dyn VectorIndex>`.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

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
}
