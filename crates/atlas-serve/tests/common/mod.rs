//! Shared fixtures: a real TF-IDF model trained on arxiv-mini, the real MiniLM encoder, and a tiny exact
//! in-memory [`VectorIndex`] over real MiniLM vectors of real papers (until the atlas-index backends land).
//! Tests that need the data or the model print "skipping" and pass when `../shared` is absent.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use atlas_classify::{Labels, LinearParams, TfidfLinearModel, TfidfParams};
use atlas_corpus::{Paper, Taxonomy};
use atlas_encoder::{Encoder, EncoderOptions};
use atlas_index::{Filter, Hit, IndexError, IndexInfo, PaperMeta, VectorIndex};
use atlas_serve::{AppState, Embedder, EncoderEmbedder, Model, ModelInfo, ServerConfig, TextClassifierModel};

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// Everything the tests serve.
pub struct Fixture {
    pub model: Arc<dyn Model>,
    pub embedder: Option<Arc<dyn Embedder>>,
    pub index: Option<Arc<dyn VectorIndex>>,
    pub taxonomy: Arc<Taxonomy>,
    pub papers: Vec<Paper>,
}

/// Papers put in the in-memory index.
const INDEXED: usize = 120;

/// The fixture, built once per test binary; `None` (after a skip message) without `../shared/data`.
pub fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let data = shared().join("data/arxiv-mini.jsonl.gz");
        if !data.is_file() {
            eprintln!("skipping: {} not found", data.display());
            return None;
        }
        let taxonomy = Arc::new(Taxonomy::load(shared().join("data/taxonomy.tsv")).expect("taxonomy"));
        let (papers, _) = atlas_corpus::load_papers(&data, None).expect("reading arxiv-mini");
        let model = train_tfidf(&papers, &taxonomy);
        let (embedder, index) = match load_encoder() {
            Some(enc) => {
                let e = EncoderEmbedder::new(enc).expect("encoder id");
                let index = MemIndex::build(&e, &papers[..INDEXED.min(papers.len())]);
                (Some(Arc::new(e) as Arc<dyn Embedder>), Some(Arc::new(index) as Arc<dyn VectorIndex>))
            }
            None => (None, None),
        };
        Some(Fixture { model: Arc::new(model), embedder, index, taxonomy, papers })
    })
    .as_ref()
}

/// A TF-IDF + softmax model over the primary categories with at least 20 papers: seconds.
fn train_tfidf(papers: &[Paper], taxonomy: &Taxonomy) -> TextClassifierModel {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for p in papers {
        *counts.entry(p.primary()).or_default() += 1;
    }
    let codes: Vec<String> = counts.iter().filter(|(_, n)| **n >= 20).map(|(c, _)| c.to_string()).collect();
    let names = codes.iter().map(|c| taxonomy.name(c).unwrap_or(c).to_string()).collect();
    let labels = Labels { codes: codes.clone(), names };
    let template = atlas_corpus::TextTemplate::default();
    let (texts, ys): (Vec<String>, Vec<u32>) = papers
        .iter()
        .filter_map(|p| codes.iter().position(|c| c == p.primary()).map(|y| (p.text(&template), y as u32)))
        .unzip();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let linear = LinearParams::default();
    let (model, _) =
        TfidfLinearModel::train(&refs, &ys, None, labels, &TfidfParams::default(), &linear, &mut |_| {})
            .expect("training");
    TextClassifierModel::new(
        Box::new(model),
        ModelInfo {
            version: "tfidf_linear@test".into(),
            kind: String::new(),
            template,
            dir: "(in memory)".into(),
        },
    )
}

/// The real MiniLM, when the shared model folder is there.
pub fn load_encoder() -> Option<Encoder> {
    let dir = shared().join("models/all-MiniLM-L6-v2");
    if !dir.is_dir() {
        eprintln!("skipping the encoder parts: {} not found", dir.display());
        return None;
    }
    Some(Encoder::load(&dir, &EncoderOptions::default()).expect("loading MiniLM"))
}

/// Exact cosine search over a few real vectors.
pub struct MemIndex {
    info: IndexInfo,
    papers: Vec<PaperMeta>,
    vectors: Vec<Vec<f32>>,
}

impl MemIndex {
    pub fn build(e: &EncoderEmbedder, papers: &[Paper]) -> MemIndex {
        let texts: Vec<String> = papers.iter().map(|p| e.render_paper(&p.title, &p.abstract_text)).collect();
        let v = e.embed(&texts).expect("embedding the index papers");
        let metas: Vec<PaperMeta> = papers
            .iter()
            .map(|p| PaperMeta {
                id: p.id.clone(),
                title: p.title.clone(),
                categories: p.categories.clone(),
                year: p.year(),
                authors: p
                    .authors
                    .split(", ")
                    .take(3)
                    .map(str::to_string)
                    .filter(|s| !s.is_empty())
                    .collect(),
            })
            .collect();
        MemIndex {
            info: IndexInfo {
                backend: "test-exact".into(),
                embedding_id: e.embedding_id().into(),
                model_hash: String::new(),
                model_dir: e.encoder().folder().dir().to_path_buf(),
                template: e.encoder().template().as_str().into(),
                dim: v.dim,
                metric: "cos".into(),
                count: metas.len(),
            },
            vectors: (0..v.len()).map(|i| v.row(i).to_vec()).collect(),
            papers: metas,
        }
    }
}

impl VectorIndex for MemIndex {
    fn info(&self) -> &IndexInfo {
        &self.info
    }
    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        if query.len() != self.info.dim {
            return Err(IndexError::Dimension { expected: self.info.dim, got: query.len() });
        }
        let mut hits: Vec<Hit> = self
            .papers
            .iter()
            .zip(&self.vectors)
            .filter(|(p, _)| filter.matches(p))
            .map(|(p, v)| Hit { score: v.iter().zip(query).map(|(a, b)| a * b).sum(), paper: p.clone() })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(k);
        Ok(hits)
    }
    fn paper(&self, id: &str) -> Result<Option<PaperMeta>, IndexError> {
        Ok(self.papers.iter().find(|p| p.id == id).cloned())
    }
    fn vector(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        Ok(self.papers.iter().position(|p| p.id == id).map(|i| self.vectors[i].clone()))
    }
}

/// A server state over the fixture.
pub fn state(f: &Fixture, config: ServerConfig) -> AppState {
    let mut b = AppState::builder(f.model.clone()).config(config).taxonomy(f.taxonomy.clone());
    if let Some(e) = &f.embedder {
        b = b.embedder(e.clone());
    }
    if let Some(i) = &f.index {
        b = b.index(i.clone());
    }
    b.build().expect("state")
}
