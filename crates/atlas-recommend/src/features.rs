//! The TF-IDF half of a paper's features, kept beside the index as a sidecar folder.
//!
//! An index stores vectors and metadata but not the papers' text, and fitting TF-IDF over 100k abstracts
//! takes seconds — too slow for a request. So the features are computed once, from the papers the index was
//! built from, and kept:
//!
//! ```text
//! <dir>/manifest.json   kind arxiv-atlas/recommend-features; checksums; meta = FeaturesMeta
//! <dir>/ids.txt         paper id of row i, one a line
//! <dir>/vocab.txt       feature j's term (one or two words), one a line
//! <dir>/idf.f32         idf weight of feature j (little-endian f32)
//! <dir>/indptr.u64      CSR row offsets (n + 1, little-endian u64)
//! <dir>/indices.u32     CSR feature indices (little-endian u32)
//! <dir>/values.f32      CSR values: sublinear tf × idf, each row of unit length (little-endian f32)
//! ```
//!
//! Every file is written atomically and the manifest (with every checksum) last, as for every other artifact.
//! Papers added to the index later are appended with [`TextFeatures::extend`], which transforms their text
//! with the stored vocabulary (no refit: the rows already stored keep their meaning).

use std::collections::HashMap;
use std::path::Path;

use atlas_artifact::{ArtifactError, IoError, Manifest};
use atlas_classify::{CsrMatrix, TfidfParams, TfidfVectorizer};
use atlas_index::store::{read_raw, write_raw};
use serde::{Deserialize, Serialize};

use crate::RecommendError;

/// Manifest kind of a features folder.
pub const FEATURES_KIND: &str = "arxiv-atlas/recommend-features";
/// Format version this build writes and reads.
pub const FEATURES_FORMAT_VERSION: u32 = 1;
/// Name of the features folder inside an index folder.
pub const FEATURES_DIR: &str = "recommend-features";

const IDS: &str = "ids.txt";
const VOCAB: &str = "vocab.txt";
const IDF: &str = "idf.f32";
const INDPTR: &str = "indptr.u64";
const INDICES: &str = "indices.u32";
const VALUES: &str = "values.f32";
const FILES: [&str; 6] = [IDS, VOCAB, IDF, INDPTR, INDICES, VALUES];

/// The TF-IDF settings of the features for a corpus of `n` papers: arxiv-sanity-lite's (uni- and bigrams,
/// sublinear tf, a term must occur in at least 5 papers) with a larger vocabulary, as an index may hold every
/// field of arXiv, and terms in more than half the papers dropped rather than arxiv-sanity-lite's tenth (its
/// corpus is a few fields of computer science; in a small index of few fields a topic's own words occur in more
/// than a tenth of the papers). Small corpora (under 10,000 papers) lower the 5 to one paper in 2,000, at
/// least 1, so that a few hundred papers still have a vocabulary.
pub fn tfidf_params(n: usize) -> TfidfParams {
    TfidfParams {
        ngram_max: 2,
        min_df: (n / 2000).clamp(1, 5),
        max_df: 0.5,
        max_features: Some(50_000),
        sublinear_tf: true,
        lowercase: true,
    }
}

/// The text TF-IDF is computed from: title and abstract.
pub fn paper_text(p: &atlas_corpus::Paper) -> String {
    format!("{} {}", p.title, p.abstract_text)
}

/// What a features manifest's `meta` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturesMeta {
    /// Papers (rows).
    pub rows: usize,
    /// TF-IDF features (columns).
    pub features: usize,
    /// Stored values.
    pub nnz: usize,
    /// The vectoriser's settings.
    pub tfidf: TfidfParams,
}

/// TF-IDF rows of papers, by id, with the fitted vectoriser that made them.
#[derive(Debug, Clone)]
pub struct TextFeatures {
    ids: Vec<String>,
    row_of: HashMap<String, usize>,
    vectorizer: TfidfVectorizer,
    rows: CsrMatrix,
}

impl TextFeatures {
    /// Fits TF-IDF on `texts` (`(id, text)`, ids unique) and keeps the rows of all of them.
    pub fn fit(texts: &[(String, String)]) -> Result<Self, RecommendError> {
        let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
        let (vectorizer, rows) = TfidfVectorizer::fit_transform(&refs, &tfidf_params(refs.len()))?;
        let ids: Vec<String> = texts.iter().map(|(id, _)| id.clone()).collect();
        Self::from_parts(ids, vectorizer, rows)
    }

    fn from_parts(
        ids: Vec<String>,
        vectorizer: TfidfVectorizer,
        rows: CsrMatrix,
    ) -> Result<Self, RecommendError> {
        let mut row_of = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if row_of.insert(id.clone(), i).is_some() {
                return Err(RecommendError::Invalid(format!("paper `{id}` occurs twice in the features")));
            }
        }
        if rows.n_rows() != ids.len() {
            return Err(RecommendError::Invalid(format!(
                "{} ids for {} feature rows",
                ids.len(),
                rows.n_rows()
            )));
        }
        Ok(TextFeatures { ids, row_of, vectorizer, rows })
    }

    /// Appends rows for the papers of `texts` not held yet, transformed with the stored vocabulary; returns how
    /// many were added.
    pub fn extend(&mut self, texts: &[(String, String)]) -> usize {
        let new: Vec<&(String, String)> =
            texts.iter().filter(|(id, _)| !self.row_of.contains_key(id)).collect();
        let refs: Vec<&str> = new.iter().map(|(_, t)| t.as_str()).collect();
        let rows = self.vectorizer.transform(&refs);
        self.rows.append(&rows);
        for (id, _) in &new {
            self.row_of.insert(id.clone(), self.ids.len());
            self.ids.push(id.clone());
        }
        new.len()
    }

    /// Number of papers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when no paper is held.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of TF-IDF features.
    pub fn n_features(&self) -> usize {
        self.vectorizer.n_features()
    }

    /// The TF-IDF row of paper `id` (feature indices increasing, values), if held.
    pub fn row(&self, id: &str) -> Option<(&[u32], &[f32])> {
        self.row_of.get(id).map(|&r| self.rows.row(r))
    }

    /// Whether paper `id` has a row.
    pub fn contains(&self, id: &str) -> bool {
        self.row_of.contains_key(id)
    }

    /// The rows of `ids`, in that order, as one matrix; the error is an id without a row.
    pub(crate) fn select(&self, ids: impl Iterator<Item = impl AsRef<str>>) -> Result<CsrMatrix, String> {
        let mut m = CsrMatrix::empty(self.n_features());
        for id in ids {
            let (i, v) = self.row(id.as_ref()).ok_or_else(|| id.as_ref().to_string())?;
            m.push_row(i, v);
        }
        Ok(m)
    }

    /// Writes the features into `dir` (created if needed; an old features folder there is replaced: its
    /// manifest goes first, so an interrupted write leaves a folder [`TextFeatures::open`] refuses, never a
    /// mix of old and new files).
    pub fn save(&self, dir: &Path) -> Result<(), RecommendError> {
        Manifest::begin_write(dir)?;
        let lines = |items: &[String]| {
            let mut s = String::with_capacity(items.iter().map(|x| x.len() + 1).sum());
            for x in items {
                s.push_str(x);
                s.push('\n');
            }
            s
        };
        atlas_artifact::write_atomic(&dir.join(IDS), lines(&self.ids).as_bytes())?;
        atlas_artifact::write_atomic(&dir.join(VOCAB), lines(self.vectorizer.terms()).as_bytes())?;
        write_raw(&dir.join(IDF), self.vectorizer.idf(), f32::to_le_bytes)?;
        write_raw(&dir.join(INDPTR), &self.rows.indptr, |x| (x as u64).to_le_bytes())?;
        write_raw(&dir.join(INDICES), &self.rows.indices, u32::to_le_bytes)?;
        write_raw(&dir.join(VALUES), &self.rows.values, f32::to_le_bytes)?;
        let meta = FeaturesMeta {
            rows: self.len(),
            features: self.n_features(),
            nnz: self.rows.nnz(),
            tfidf: self.vectorizer.params().clone(),
        };
        Manifest::seal(dir, FEATURES_KIND, FEATURES_FORMAT_VERSION, &FILES, &meta)?;
        Ok(())
    }

    /// Opens a features folder written by [`TextFeatures::save`], verifying every checksum and shape.
    pub fn open(dir: &Path) -> Result<Self, RecommendError> {
        let manifest = Manifest::open(dir, FEATURES_KIND, FEATURES_FORMAT_VERSION)?;
        manifest.require_files(dir, &FILES)?;
        let meta: FeaturesMeta = manifest.meta_as(dir)?;
        let bad = |file: &str, m: String| RecommendError::BadFeatures { path: dir.join(file), message: m };
        let text = |file: &str| -> Result<Vec<String>, RecommendError> {
            let path = dir.join(file);
            let s = std::fs::read_to_string(&path)
                .map_err(|e| ArtifactError::from(IoError::new("read", &path, e)))?;
            Ok(s.lines().map(str::to_string).collect())
        };
        let ids = text(IDS)?;
        let terms = text(VOCAB)?;
        if ids.len() != meta.rows || terms.len() != meta.features {
            let (n, t) = (ids.len(), terms.len());
            let m = format!("{n} ids and {t} terms, the manifest says {} and {}", meta.rows, meta.features);
            return Err(bad(IDS, m));
        }
        // Lengths are checked against the manifest as the files are read.
        let idf: Vec<f32> = read_raw(&dir.join(IDF), meta.features, f32::from_le_bytes)?;
        let indptr: Vec<usize> =
            read_raw(&dir.join(INDPTR), meta.rows + 1, |b| u64::from_le_bytes(b) as usize)?;
        let indices: Vec<u32> = read_raw(&dir.join(INDICES), meta.nnz, u32::from_le_bytes)?;
        let values: Vec<f32> = read_raw(&dir.join(VALUES), meta.nnz, f32::from_le_bytes)?;
        let bounds = indptr.first() == Some(&0) && indptr.last() == Some(&meta.nnz);
        if !bounds
            || indptr.windows(2).any(|w| w[0] > w[1])
            || indices.iter().any(|&j| j as usize >= terms.len())
        {
            return Err(bad(
                INDPTR,
                "offsets do not run from 0 to the values' count in order, or a feature index is out of range"
                    .into(),
            ));
        }
        let vectorizer =
            TfidfVectorizer::from_parts(terms, idf, &meta.tfidf).map_err(|e| bad(VOCAB, e.to_string()))?;
        let rows = CsrMatrix { n_cols: vectorizer.n_features(), indptr, indices, values };
        Self::from_parts(ids, vectorizer, rows)
    }
}
