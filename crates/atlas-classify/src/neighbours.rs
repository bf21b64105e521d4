//! Why an embedding model ranks a category high: the labelled training papers nearest to the text.
//!
//! An embedding head has no terms to show; what it learnt is where each category's training papers lie in
//! the encoder's vector space. So a [`NeighbourStore`] keeps every training paper's vector with its id, title
//! and primary category, and [`NeighbourStore::explain`] returns, for each asked category, the training
//! papers of that category closest to the text (cosine), plus the nearest training papers of any category
//! and whether their most common category agrees with the model's top one — when it does not, the head's
//! answer is not what the nearest examples say, which a reader should know.
//!
//! The store is an exact (brute-force) index of `atlas-index` in the sub-folder [`NEIGHBOURS_DIR`] of the
//! head's model folder, with its own checksummed manifest (itself listed in the model folder's manifest),
//! its files written atomically. Vectors are kept as
//! f16: half the bytes of f32 with cosines within about 1e-3 of f32, which cannot reorder neighbours that
//! matter to a reader, and the exact kernel reads f16 rows faster than f32 ones (less memory to stream).
//! i8 would halve the bytes again, but `atlas-index` has no i8 kernel and this store is only scanned when an
//! explanation is asked for, so f16 is where it stops (sizes measured on arxiv-100k: docs/calibration.md).
//! Every training paper is kept (no cap per category), so the nearest papers of any category are a faithful
//! k-nearest-neighbour vote rather than one biased towards small categories.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use atlas_artifact::{Manifest, MANIFEST_FILE};
use atlas_index::{ExactIndex, ExactParams, Filter, PaperMeta, Storage, VectorIndex, VectorSpace};
use serde::{Deserialize, Serialize};

use crate::error::ClassifyError;

/// The sub-folder of a model folder that holds its training papers' vectors.
pub const NEIGHBOURS_DIR: &str = "neighbours";

/// What an explanation says when an embedding model's folder has no [`NEIGHBOURS_DIR`]: it was trained
/// before training papers were stored with the model.
pub const NO_STORE_NOTE: &str = "this model was trained before training papers were stored with embedding \
                                 models, so no supporting papers can be shown; train it again to get them";

/// One training paper of a [`NeighbourStore`] as given to [`NeighbourStore::build`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingPaper<'a> {
    /// arXiv id.
    pub id: &'a str,
    /// Title.
    pub title: &'a str,
    /// Primary category (its label in training).
    pub category: &'a str,
}

/// A labelled training paper close to an explained text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportingPaper {
    /// arXiv id (`https://arxiv.org/abs/<id>`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Its primary category: the label it was trained with.
    pub category: String,
    /// Cosine similarity between its vector and the text's (1 = same direction).
    pub cosine: f32,
}

/// The nearest training papers of a text, whatever their category, and whether they agree with the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearestPapers {
    /// The nearest training papers, nearest first.
    pub papers: Vec<SupportingPaper>,
    /// The most common category among them (ties: the one of the nearer paper); `None` for an empty store.
    pub majority: Option<String>,
    /// Whether `majority` is the model's top category.
    pub agrees: bool,
}

/// What [`NeighbourStore::explain`] returns for one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeighbourExplanation {
    /// For each asked category, in the order asked: its at most `k` training papers nearest to the text,
    /// nearest first.
    pub by_category: Vec<Vec<SupportingPaper>>,
    /// The `k` nearest training papers of any category.
    pub nearest: NearestPapers,
}

/// The training papers of an embedding model with their vectors (see the module docs).
#[derive(Debug, Clone)]
pub struct NeighbourStore {
    index: ExactIndex,
}

impl NeighbourStore {
    /// A store of `papers`, row `i` of `vectors` (row-major, `space.dim` wide, any length: rows are
    /// normalised) being the vector of `papers[i]`. A paper id seen twice keeps its first row.
    pub fn build(
        space: &VectorSpace,
        papers: &[TrainingPaper<'_>],
        vectors: &[f32],
    ) -> Result<Self, ClassifyError> {
        let dim = space.dim;
        if dim == 0 || vectors.len() != papers.len() * dim {
            return Err(ClassifyError::InvalidData(format!(
                "{} vector values for {} training papers of width {dim}",
                vectors.len(),
                papers.len()
            )));
        }
        let mut seen = HashSet::with_capacity(papers.len());
        let mut metas = Vec::with_capacity(papers.len());
        let mut rows = Vec::with_capacity(vectors.len());
        for (p, row) in papers.iter().zip(vectors.chunks_exact(dim)) {
            if seen.insert(p.id) {
                metas.push(PaperMeta {
                    id: p.id.to_string(),
                    title: p.title.to_string(),
                    // Only the primary category: a category filter then selects the papers trained with it.
                    categories: vec![p.category.to_string()],
                    year: None,
                    authors: Vec::new(),
                });
                rows.extend_from_slice(row);
            }
        }
        let index = ExactIndex::build(space, &metas, &rows, ExactParams { storage: Storage::F16 })
            .map_err(|e| ClassifyError::InvalidData(format!("training papers for explanations: {e}")))?;
        Ok(NeighbourStore { index })
    }

    /// Training papers stored.
    pub fn len(&self) -> usize {
        self.index.info().count
    }

    /// `true` when no paper is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The vector space of the stored vectors (the head's encoder).
    pub fn embedding_id(&self) -> &str {
        &self.index.info().embedding_id
    }

    /// Writes the store into [`NEIGHBOURS_DIR`] of the sealed model folder `model_dir` (files atomically,
    /// the store's manifest last), then adds the store's manifest to the model folder's manifest, so the
    /// model's checksums cover the store as the ensemble's cover its parts: a damaged store makes the model
    /// folder fail its checks like any damaged file of it.
    pub fn save(&self, model_dir: &Path) -> Result<(), ClassifyError> {
        let dir = model_dir.join(NEIGHBOURS_DIR);
        self.index.save(&dir).map_err(|e| ClassifyError::format(&dir, e))?;
        let kind = Manifest::peek_kind(model_dir, "a model folder")?;
        let mut manifest = Manifest::open(model_dir, &kind, u32::MAX)?;
        manifest.add_file(model_dir, &format!("{NEIGHBOURS_DIR}/{MANIFEST_FILE}"))?;
        manifest.write(model_dir)?;
        Ok(())
    }

    /// Opens the store of the model folder `model_dir`, verifying its checksums; `Ok(None)` when the folder
    /// has none (a model trained before stores existed, or not an embedding model).
    pub fn open(model_dir: &Path) -> Result<Option<Self>, ClassifyError> {
        let dir = model_dir.join(NEIGHBOURS_DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let index = ExactIndex::open(&dir).map_err(|e| ClassifyError::format(&dir, e))?;
        Ok(Some(NeighbourStore { index }))
    }

    /// For each of `categories` (the model's top category first), the at most `k` stored papers of that
    /// primary category nearest to `query` (a vector of the store's space), and the `vote` nearest of any
    /// category with whether their majority is `categories[0]`.
    pub fn explain(
        &self,
        query: &[f32],
        categories: &[&str],
        k: usize,
        vote: usize,
    ) -> Result<NeighbourExplanation, ClassifyError> {
        let search = |k: usize, filter: &Filter| -> Result<Vec<SupportingPaper>, ClassifyError> {
            let hits = self
                .index
                .search(query, k, filter)
                .map_err(|e| ClassifyError::InvalidData(format!("neighbour search: {e}")))?;
            Ok(hits
                .into_iter()
                .map(|h| SupportingPaper {
                    category: h.paper.categories.into_iter().next().unwrap_or_default(),
                    id: h.paper.id,
                    title: h.paper.title,
                    cosine: h.score,
                })
                .collect())
        };
        let by_category = categories
            .iter()
            .map(|c| search(k, &Filter { categories: Some(vec![c.to_string()]), years: None }))
            .collect::<Result<Vec<_>, _>>()?;
        let papers = search(vote, &Filter::default())?;
        let majority = majority_category(&papers);
        let agrees = majority.is_some() && majority.as_deref() == categories.first().copied();
        Ok(NeighbourExplanation { by_category, nearest: NearestPapers { papers, majority, agrees } })
    }
}

/// What a model offers for explanations by neighbours: nothing (no embedding head), a note (an embedding
/// head saved without a store), or its store.
#[derive(Debug, Clone)]
pub enum NeighbourSource {
    /// The model has no embedding head (TF-IDF): it is explained by terms, not neighbours.
    NotApplicable,
    /// The model's embedding head has no store: [`NO_STORE_NOTE`].
    Missing,
    /// The store of the model's embedding head.
    Store(Box<NeighbourStore>),
}

impl NeighbourSource {
    /// The source of a model whose embedding head lives in `head_dir` (`None`: no embedding head).
    pub fn open(head_dir: Option<&Path>) -> Result<Self, ClassifyError> {
        Ok(match head_dir {
            None => NeighbourSource::NotApplicable,
            Some(dir) => NeighbourStore::open(dir)?
                .map_or(NeighbourSource::Missing, |s| NeighbourSource::Store(Box::new(s))),
        })
    }

    /// The store, when there is one: only then are the texts' vectors needed.
    pub fn store(&self) -> Option<&NeighbourStore> {
        match self {
            NeighbourSource::Store(s) => Some(s),
            _ => None,
        }
    }

    /// What an explanation should say about the missing neighbours, when they are missing.
    pub fn note(&self) -> Option<&'static str> {
        matches!(self, NeighbourSource::Missing).then_some(NO_STORE_NOTE)
    }
}

/// The most common category of `papers` (nearest first); a tie goes to the category met first.
fn majority_category(papers: &[SupportingPaper]) -> Option<String> {
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, p) in papers.iter().enumerate() {
        counts.entry(&p.category).or_insert((0, i)).0 += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(c, _)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const DIM: usize = 16;

    /// An empty, sealed model folder to save stores into.
    fn model_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        Manifest::new("arxiv-atlas/test-model", 1).write(dir.path()).unwrap();
        dir
    }

    fn space() -> VectorSpace {
        VectorSpace {
            embedding_id: "test-space".into(),
            model_hash: "h".into(),
            model_dir: "model".into(),
            template: "{title}".into(),
            dim: DIM,
        }
    }

    /// Three categories, each a cluster around its own axis; 30 papers each, with noise.
    fn store() -> (NeighbourStore, Vec<String>, Vec<f32>) {
        let mut rng = StdRng::seed_from_u64(3);
        let cats = ["astro-ph", "cs.LG", "quant-ph"];
        let (mut ids, mut titles, mut labels, mut vectors) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..90 {
            let c = i % 3;
            let mut v: Vec<f32> = (0..DIM).map(|_| rng.random_range(-0.2..0.2)).collect();
            v[c] += 1.0;
            vectors.extend(v);
            ids.push(format!("2401.{i:05}"));
            titles.push(format!("Paper {i} on {}", cats[c]));
            labels.push(cats[c]);
        }
        let papers: Vec<TrainingPaper<'_>> =
            (0..90).map(|i| TrainingPaper { id: &ids[i], title: &titles[i], category: labels[i] }).collect();
        let s = NeighbourStore::build(&space(), &papers, &vectors).unwrap();
        (s, ids, vectors)
    }

    #[test]
    fn a_training_paper_finds_itself_first_and_neighbours_are_of_the_asked_category() {
        let (s, ids, vectors) = store();
        assert_eq!(s.len(), 90);
        // Paper 4 is a cs.LG paper (4 % 3 = 1).
        let query = &vectors[4 * DIM..5 * DIM];
        let e = s.explain(query, &["cs.LG", "quant-ph"], 5, 7).unwrap();
        assert_eq!(e.by_category.len(), 2);
        assert_eq!(e.by_category[0][0].id, ids[4]);
        assert!((e.by_category[0][0].cosine - 1.0).abs() < 2e-3, "{}", e.by_category[0][0].cosine);
        for (papers, cat) in e.by_category.iter().zip(["cs.LG", "quant-ph"]) {
            assert_eq!(papers.len(), 5);
            assert!(papers.iter().all(|p| p.category == cat), "{papers:?}");
            assert!(papers.windows(2).all(|w| w[0].cosine >= w[1].cosine));
        }
        // The quant-ph papers are further from a cs.LG paper than its own category's.
        assert!(e.by_category[1][0].cosine < e.by_category[0][4].cosine);
        // The nearest papers overall are the cs.LG cluster: they agree with a cs.LG prediction.
        assert_eq!(e.nearest.papers.len(), 7);
        assert_eq!(e.nearest.papers[0].id, ids[4]);
        assert_eq!(e.nearest.majority.as_deref(), Some("cs.LG"));
        assert!(e.nearest.agrees);
        // ... and not with a quant-ph one.
        let e = s.explain(query, &["quant-ph"], 5, 7).unwrap();
        assert!(!e.nearest.agrees);
        // An unknown category has no supporting papers; a query of the wrong width is an error.
        assert!(s.explain(query, &["math.AG"], 5, 7).unwrap().by_category[0].is_empty());
        assert!(s.explain(&query[..4], &["cs.LG"], 5, 7).is_err());
    }

    #[test]
    fn save_then_open_gives_the_same_answers_and_a_folder_without_a_store_has_none() {
        let (s, _, vectors) = store();
        let dir = model_dir();
        assert!(NeighbourStore::open(dir.path()).unwrap().is_none());
        s.save(dir.path()).unwrap();
        let back = NeighbourStore::open(dir.path()).unwrap().expect("saved store");
        assert_eq!(back.len(), 90);
        assert_eq!(back.embedding_id(), "test-space");
        let query = &vectors[7 * DIM..8 * DIM];
        assert_eq!(
            back.explain(query, &["cs.LG"], 3, 3).unwrap(),
            s.explain(query, &["cs.LG"], 3, 3).unwrap()
        );
        // The model folder's manifest now covers the store's.
        let model = Manifest::open(dir.path(), "arxiv-atlas/test-model", 1).unwrap();
        assert!(model.files.contains_key(&format!("{NEIGHBOURS_DIR}/{MANIFEST_FILE}")));
        // A damaged vector file is refused, naming the folder.
        let vectors_file = std::fs::read_dir(dir.path().join(NEIGHBOURS_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "f16"))
            .unwrap();
        let mut bytes = std::fs::read(&vectors_file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&vectors_file, bytes).unwrap();
        let err = NeighbourStore::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains(NEIGHBOURS_DIR), "{err}");
    }

    #[test]
    fn a_source_without_a_store_carries_the_note_and_one_without_a_head_carries_nothing() {
        let dir = model_dir();
        let missing = NeighbourSource::open(Some(dir.path())).unwrap();
        assert!(matches!(missing, NeighbourSource::Missing));
        assert_eq!(missing.note(), Some(NO_STORE_NOTE));
        assert!(missing.store().is_none());
        let none = NeighbourSource::open(None).unwrap();
        assert!(matches!(none, NeighbourSource::NotApplicable) && none.note().is_none());
        store().0.save(dir.path()).unwrap();
        let found = NeighbourSource::open(Some(dir.path())).unwrap();
        assert_eq!(found.store().map(NeighbourStore::len), Some(90));
        assert!(found.note().is_none());
    }

    #[test]
    fn duplicate_ids_keep_their_first_row_and_bad_shapes_are_refused() {
        let papers = [
            TrainingPaper { id: "a", title: "A", category: "x" },
            TrainingPaper { id: "a", title: "A again", category: "y" },
        ];
        let mut v = vec![0.0; 2 * DIM];
        v[0] = 1.0;
        v[DIM + 1] = 1.0;
        let s = NeighbourStore::build(&space(), &papers, &v).unwrap();
        assert_eq!(s.len(), 1);
        let e = s.explain(&v[..DIM], &["x"], 3, 3).unwrap();
        assert_eq!(e.by_category[0][0].title, "A");
        assert!(NeighbourStore::build(&space(), &papers, &v[..DIM]).is_err());
    }

    #[test]
    fn majority_ties_go_to_the_nearer_category() {
        let p =
            |c: &str| SupportingPaper { id: c.into(), title: String::new(), category: c.into(), cosine: 0.5 };
        assert_eq!(majority_category(&[p("b"), p("a"), p("a"), p("b")]).as_deref(), Some("b"));
        assert_eq!(majority_category(&[p("b"), p("a"), p("a")]).as_deref(), Some("a"));
        assert_eq!(majority_category(&[]), None);
    }
}
