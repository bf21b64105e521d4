//! Recommendations from a reading list: rank every paper of an index for a list of paper ids.
//!
//! For each request a linear model is fitted to the list, as arxiv-sanity-lite does per tag: positives are
//! the list's papers, negatives a seeded sample of the corpus ([`RecommendParams::negatives`]), and the two
//! classes weigh the same however few the positives are. Unlike arxiv-sanity-lite, which uses TF-IDF alone,
//! a paper's features are its sentence embedding (as stored in the index) beside its TF-IDF row ([`features`]):
//! the embedding carries the topic even when words differ, TF-IDF the exact terms a list shares. Every paper
//! is then scored by the model's decision value; the list's own papers are never returned, and the
//! category/year [`Filter`] of search applies.
//!
//! [`Recommender::open`] reads the vectors and metadata from any index location `search` takes, and the
//! TF-IDF rows from the features folder kept beside it (built once from the papers' text, see [`features`]).

#![warn(missing_docs)]

pub mod features;
mod svm;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use atlas_classify::CsrMatrix;
use atlas_index::{Filter, IndexError, IndexLocation, PaperMeta, VectorIndex};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use features::{paper_text, TextFeatures, FEATURES_DIR};

/// Errors of recommending.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    /// The reading list holds no id.
    #[error("the reading list is empty: give at least one paper id")]
    EmptyList,
    /// Ids of the list that the index does not hold.
    #[error("not in the index: {}", .0.join(", "))]
    UnknownIds(Vec<String>),
    /// The index has no TF-IDF features yet and no papers were given to build them from.
    #[error(
        "{}: no reading-list features yet; an index stores vectors but not the papers' text, so build them \
         once from the papers the index was built from (`arxiv-atlas recommend --papers DATASET …`)",
        dir.display()
    )]
    NoFeatures {
        /// Where the features were looked for.
        dir: PathBuf,
    },
    /// Papers of the index have no TF-IDF row (added after the features were built) and no papers were given.
    #[error(
        "{}: {count} papers of the index have no reading-list features (e.g. {}); they were added after the \
         features were built: run `arxiv-atlas recommend --papers DATASET …` with the papers they came from",
        dir.display(),
        example.join(", ")
    )]
    StaleFeatures {
        /// The features folder.
        dir: PathBuf,
        /// How many papers lack a row.
        count: usize,
        /// A few of them.
        example: Vec<String>,
    },
    /// The papers file lacks the text of papers the index holds.
    #[error("{}: {count} papers of the index are not in it (e.g. {})", papers.display(), example.join(", "))]
    MissingText {
        /// The papers file.
        papers: PathBuf,
        /// How many are missing.
        count: usize,
        /// A few of them.
        example: Vec<String>,
    },
    /// A PostgreSQL index has no folder to keep the features in.
    #[error(
        "{0}: an index in PostgreSQL keeps its reading-list features in a folder: name one (--features DIR)"
    )]
    NeedsFeaturesDir(String),
    /// The features folder passed its checksums but its contents are inconsistent.
    #[error("{path}: {message}")]
    BadFeatures {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Inputs that cannot work (bad parameters, duplicate ids …).
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A features file failed verification or I/O.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// TF-IDF failed.
    #[error(transparent)]
    Classify(#[from] atlas_classify::ClassifyError),
    /// Reading the papers failed.
    #[error("reading papers: {0}")]
    Corpus(#[from] atlas_corpus::CorpusError),
}

/// Settings of the per-list model. The defaults were chosen on lists from the train split ranked among
/// validation papers (see `docs/recommend.md`), never on the test split the benchmark reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendParams {
    /// Negatives sampled from the corpus for each list (fewer when the corpus is smaller).
    pub negatives: usize,
    /// The SVM's `C` before class balancing.
    pub c: f64,
    /// Scale of the embedding block relative to the TF-IDF block (both rows are unit length).
    pub embedding_weight: f32,
    /// Seed of the negative sample and of the solver's row order: the same list gets the same answer.
    pub seed: u64,
    /// Maximum solver passes.
    pub max_epochs: usize,
}

impl Default for RecommendParams {
    fn default() -> Self {
        RecommendParams { negatives: 2000, c: 0.01, embedding_weight: 1.0, seed: 0, max_epochs: 50 }
    }
}

/// One recommended paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// The list model's decision value: higher is more like the list (not a probability; comparable within
    /// one answer only).
    pub score: f32,
    /// The paper.
    pub paper: PaperMeta,
}

/// What [`Recommender::open`] did to the features folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesReport {
    /// The features folder.
    pub dir: PathBuf,
    /// True when the features were fitted now (none existed).
    pub built: bool,
    /// Papers whose rows were added to existing features (papers added to the index since).
    pub added: usize,
}

/// Where [`Recommender::open`] finds, or builds, the TF-IDF features.
#[derive(Debug, Clone, Default)]
pub struct FeatureOptions {
    /// The features folder; default `<index folder>/recommend-features` (required for a PostgreSQL index).
    pub dir: Option<PathBuf>,
    /// Papers (any ingest format or dataset folder) holding the text of the index's papers: builds the
    /// features when there are none, and adds rows for papers added to the index since.
    pub papers: Option<PathBuf>,
}

/// The features folder of an index: `explicit`, else `<folder>/recommend-features`.
pub fn features_dir(location: &IndexLocation, explicit: Option<&Path>) -> Result<PathBuf, RecommendError> {
    match (explicit, location) {
        (Some(d), _) => Ok(d.to_path_buf()),
        (None, IndexLocation::Folder(dir)) => Ok(dir.join(FEATURES_DIR)),
        (None, IndexLocation::Postgres { .. }) => Err(RecommendError::NeedsFeaturesDir(location.to_string())),
    }
}

/// A corpus ready to rank for reading lists: metadata, unit vectors and TF-IDF rows, row-aligned.
pub struct Recommender {
    papers: Vec<PaperMeta>,
    vectors: Vec<f32>,
    dim: usize,
    tfidf: CsrMatrix,
    row_of: HashMap<String, usize>,
    params: RecommendParams,
}

impl std::fmt::Debug for Recommender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recommender")
            .field("papers", &self.papers.len())
            .field("dim", &self.dim)
            .field("tfidf_features", &self.tfidf.n_cols)
            .field("params", &self.params)
            .finish()
    }
}

impl Recommender {
    /// Opens the index at `location` (every paper and vector, see [`atlas_index::VectorIndex::export`]) and
    /// its TF-IDF features: opened from the features folder; built there when missing (from
    /// `opts.papers`), and extended with the papers added to the index since (from `opts.papers`).
    pub fn open(
        location: &IndexLocation,
        opts: &FeatureOptions,
        params: RecommendParams,
    ) -> Result<(Self, FeaturesReport), RecommendError> {
        let dir = features_dir(location, opts.dir.as_deref())?;
        Self::over(&*location.open(None)?, &dir, opts.papers.as_deref(), params)
    }

    /// [`Recommender::open`] over an index already open (a server's), with its features folder `dir`.
    pub fn over(
        index: &dyn VectorIndex,
        dir: &Path,
        papers: Option<&Path>,
        params: RecommendParams,
    ) -> Result<(Self, FeaturesReport), RecommendError> {
        let dir = dir.to_path_buf();
        let corpus = index.export()?;
        let mut report = FeaturesReport { dir: dir.clone(), ..FeaturesReport::default() };
        let existing = match TextFeatures::open(&dir) {
            Ok(f) => Some(f),
            Err(RecommendError::Artifact(atlas_artifact::ArtifactError::MissingManifest { .. })) => None,
            Err(e) => return Err(e),
        };
        let lacking = |f: Option<&TextFeatures>| -> Vec<&str> {
            corpus
                .papers
                .iter()
                .map(|p| p.id.as_str())
                .filter(|id| f.is_none_or(|f| !f.contains(id)))
                .collect()
        };
        let missing = lacking(existing.as_ref());
        let features = match (existing, papers) {
            (Some(f), _) if missing.is_empty() => f,
            (existing, Some(papers)) => {
                let texts = read_texts(papers, &missing)?;
                let f = match existing {
                    Some(mut f) => {
                        report.added = f.extend(&texts);
                        f
                    }
                    None => {
                        report.built = true;
                        TextFeatures::fit(&texts)?
                    }
                };
                f.save(&dir)?;
                f
            }
            (None, None) => return Err(RecommendError::NoFeatures { dir }),
            (Some(_), None) => {
                return Err(RecommendError::StaleFeatures {
                    dir,
                    count: missing.len(),
                    example: missing.iter().take(3).map(|s| s.to_string()).collect(),
                })
            }
        };
        let dim = location_dim(&corpus)?;
        Ok((Self::new(corpus.papers, corpus.vectors, dim, &features, params)?, report))
    }

    /// A recommender over `papers` (row `i` of `vectors`, `dim` wide, belongs to `papers[i]`), taking each
    /// paper's TF-IDF row from `features` by id. Vectors are normalised to unit length.
    pub fn new(
        papers: Vec<PaperMeta>,
        mut vectors: Vec<f32>,
        dim: usize,
        features: &TextFeatures,
        params: RecommendParams,
    ) -> Result<Self, RecommendError> {
        if dim == 0 || vectors.len() != papers.len() * dim {
            return Err(RecommendError::Invalid(format!(
                "{} papers need {} floats of width {dim}, got {}",
                papers.len(),
                papers.len() * dim,
                vectors.len()
            )));
        }
        for row in vectors.chunks_exact_mut(dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        let tfidf = features.select(papers.iter().map(|p| &p.id)).map_err(|id| {
            RecommendError::Invalid(format!("paper `{id}` has no TF-IDF row in the features"))
        })?;
        let mut row_of = HashMap::with_capacity(papers.len());
        for (i, p) in papers.iter().enumerate() {
            if row_of.insert(p.id.clone(), i).is_some() {
                return Err(RecommendError::Invalid(format!("paper `{}` occurs twice", p.id)));
            }
        }
        Ok(Recommender { papers, vectors, dim, tfidf, row_of, params })
    }

    /// Number of papers that can be recommended.
    pub fn len(&self) -> usize {
        self.papers.len()
    }

    /// True when the corpus is empty.
    pub fn is_empty(&self) -> bool {
        self.papers.is_empty()
    }

    /// The model settings.
    pub fn params(&self) -> &RecommendParams {
        &self.params
    }

    /// The `k` papers most like the reading list `ids` among those passing `filter`, best first; never a
    /// paper of the list. Duplicate ids count once; an id the index lacks is an error naming every such id.
    pub fn recommend(
        &self,
        ids: &[String],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<Recommendation>, RecommendError> {
        if filter.is_empty() {
            self.recommend_where(ids, k, |_| true)
        } else {
            self.recommend_where(ids, k, |p| filter.matches(p))
        }
    }

    /// [`Recommender::recommend`] with any predicate on the candidates (e.g. a benchmark's held-out papers).
    pub fn recommend_where(
        &self,
        ids: &[String],
        k: usize,
        keep: impl Fn(&PaperMeta) -> bool + Sync,
    ) -> Result<Vec<Recommendation>, RecommendError> {
        let list = self.list_rows(ids)?;
        let model = self.fit(&list);
        let in_list: HashSet<usize> = list.iter().copied().collect();
        let scored: Vec<(f32, usize)> = (0..self.papers.len())
            .into_par_iter()
            .with_min_len(1024)
            .filter(|r| !in_list.contains(r) && keep(&self.papers[*r]))
            .map(|r| (model.score(self.vector(r), self.tfidf.row(r)), r))
            .collect();
        Ok(top_k(scored, k)
            .into_iter()
            .map(|(score, r)| Recommendation { score, paper: self.papers[r].clone() })
            .collect())
    }

    /// Rows of the list's ids (deduplicated, in order), or the error naming the unknown ones.
    fn list_rows(&self, ids: &[String]) -> Result<Vec<usize>, RecommendError> {
        let mut seen = HashSet::new();
        let ids: Vec<&str> =
            ids.iter().map(|s| s.trim()).filter(|s| !s.is_empty() && seen.insert(*s)).collect();
        if ids.is_empty() {
            return Err(RecommendError::EmptyList);
        }
        let unknown: Vec<String> =
            ids.iter().filter(|id| !self.row_of.contains_key(**id)).map(|s| s.to_string()).collect();
        if !unknown.is_empty() {
            return Err(RecommendError::UnknownIds(unknown));
        }
        Ok(ids.iter().map(|id| self.row_of[*id]).collect())
    }

    fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }

    /// Fits the list's SVM: the list as positives, a seeded sample of the other papers as negatives.
    fn fit(&self, list: &[usize]) -> svm::LinearModel {
        let in_list: HashSet<usize> = list.iter().copied().collect();
        let others = self.papers.len() - in_list.len();
        let mut rng = StdRng::seed_from_u64(self.params.seed);
        // Sample rows of the whole corpus, then drop the list's: the sample does not depend on the list's
        // size, and a list paper is never its own negative.
        let amount = self.params.negatives.min(self.papers.len());
        let negatives: Vec<usize> = sample(&mut rng, self.papers.len(), amount)
            .into_iter()
            .filter(|r| !in_list.contains(r))
            .take(others)
            .collect();
        let row = |r: usize, positive: bool| svm::Row {
            dense: self.vector(r),
            sparse: self.tfidf.row(r),
            positive,
        };
        let rows: Vec<svm::Row<'_>> =
            list.iter().map(|&r| row(r, true)).chain(negatives.iter().map(|&r| row(r, false))).collect();
        let p = svm::SvmParams {
            c: self.params.c,
            dense_weight: self.params.embedding_weight,
            max_epochs: self.params.max_epochs,
            tol: 1e-3,
            seed: self.params.seed,
        };
        svm::fit(&rows, self.dim, self.tfidf.n_cols, &p)
    }
}

fn location_dim(corpus: &atlas_index::Corpus) -> Result<usize, RecommendError> {
    if corpus.papers.is_empty() {
        return Err(RecommendError::Invalid("the index holds no papers".into()));
    }
    Ok(corpus.vectors.len() / corpus.papers.len())
}

/// The `k` best `(score, row)`, best first (ties: lower row first, so answers are stable).
fn top_k(mut scored: Vec<(f32, usize)>, k: usize) -> Vec<(f32, usize)> {
    let cmp = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k && k > 0 {
        scored.select_nth_unstable_by(k - 1, cmp);
    }
    scored.truncate(k);
    scored.sort_by(cmp);
    scored
}

/// `(id, text)` of the papers `wanted` from the papers file, in the file's order; every wanted id must be
/// there.
fn read_texts(papers: &Path, wanted: &[&str]) -> Result<Vec<(String, String)>, RecommendError> {
    let want: HashSet<&str> = wanted.iter().copied().collect();
    let mut texts = Vec::with_capacity(wanted.len());
    atlas_corpus::read_papers(papers, &atlas_corpus::ReadOptions::default(), |p| {
        if want.contains(p.id.as_str()) {
            texts.push((p.id.clone(), paper_text(&p)));
        }
    })?;
    if texts.len() < want.len() {
        let found: HashSet<&str> = texts.iter().map(|(id, _)| id.as_str()).collect();
        let missing: Vec<String> =
            wanted.iter().filter(|id| !found.contains(**id)).map(|s| s.to_string()).collect();
        return Err(RecommendError::MissingText {
            papers: papers.to_path_buf(),
            count: missing.len(),
            example: missing.into_iter().take(3).collect(),
        });
    }
    Ok(texts)
}

#[cfg(test)]
mod tests;
