//! The training data: rows of an embedding set (`arxiv-atlas embed`) joined with their papers' metadata, cut
//! by the id split rule, with each row's primary category as an integer label.

use std::collections::HashMap;
use std::path::Path;

use atlas_corpus::Split;
use atlas_embed::EmbeddingSet;
use atlas_index::{Corpus, PaperMeta};

use crate::FinetuneError;

/// One split: papers, their vectors and their primary-category labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelledSplit {
    /// Metadata, row order.
    pub papers: Vec<PaperMeta>,
    /// Row-major vectors.
    pub vectors: Vec<f32>,
    /// Index into [`SplitData::categories`] of each row's primary category.
    pub labels: Vec<u32>,
}

impl LabelledSplit {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// An embedding set split three ways.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    /// Vector width.
    pub dim: usize,
    /// Primary categories, sorted; labels index into this.
    pub categories: Vec<String>,
    /// Train split (what the adapter learns from).
    pub train: LabelledSplit,
    /// Validation split (early stopping).
    pub validation: LabelledSplit,
    /// Test split (reported only).
    pub test: LabelledSplit,
}

impl SplitData {
    /// Joins `set` with the papers in `papers_file` (any ingest format or dataset folder; see
    /// [`atlas_index::join_papers`]).
    pub fn load(set: &EmbeddingSet, papers_file: &Path) -> Result<Self, FinetuneError> {
        let bucket = |s: Split| {
            Some(match s {
                Split::Train => 0,
                Split::Validation => 1,
                Split::Test => 2,
            })
        };
        let corpora = atlas_index::join_papers(&set.ids, &set.vectors, set.meta.dim, papers_file, 3, bucket)?;
        Self::from_corpora(set.meta.dim, corpora)
    }

    /// Joins rows (`ids[i]` ↔ row `i` of `vectors`, `dim` wide) with the papers in `papers_file`.
    pub fn load_rows(
        ids: &[String],
        vectors: &[f32],
        dim: usize,
        papers_file: &Path,
    ) -> Result<Self, FinetuneError> {
        let bucket = |s: Split| {
            Some(match s {
                Split::Train => 0,
                Split::Validation => 1,
                Split::Test => 2,
            })
        };
        let corpora = atlas_index::join_papers(ids, vectors, dim, papers_file, 3, bucket)?;
        Self::from_corpora(dim, corpora)
    }

    /// Labels three corpora (train, validation, test).
    pub fn from_corpora(dim: usize, corpora: Vec<Corpus>) -> Result<Self, FinetuneError> {
        let [train, validation, test]: [Corpus; 3] = corpora
            .try_into()
            .map_err(|v: Vec<Corpus>| FinetuneError::Invalid(format!("{} corpora, expected 3", v.len())))?;
        let primary = |p: &PaperMeta| p.categories.first().cloned().unwrap_or_default();
        let mut categories: Vec<String> =
            [&train, &validation, &test].iter().flat_map(|c| c.papers.iter().map(primary)).collect();
        categories.sort();
        categories.dedup();
        let index: HashMap<&str, u32> =
            categories.iter().enumerate().map(|(i, c)| (c.as_str(), i as u32)).collect();
        let label = |c: Corpus| LabelledSplit {
            labels: c.papers.iter().map(|p| index[primary(p).as_str()]).collect(),
            papers: c.papers,
            vectors: c.vectors,
        };
        let (train, validation, test) = (label(train), label(validation), label(test));
        if train.len() < 2 || validation.is_empty() {
            return Err(FinetuneError::Invalid(format!(
                "{} train and {} validation papers: fine-tuning needs train pairs and validation queries",
                train.len(),
                validation.len()
            )));
        }
        Ok(SplitData { dim, categories, train, validation, test })
    }
}
