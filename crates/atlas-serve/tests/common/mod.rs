//! Shared fixtures.
//!
//! - [`tiny`]: needs nothing from `../shared`: a TF-IDF model trained here on a few dozen synthetic papers, a
//!   deterministic word-hashing [`Embedder`] and an in-memory index over the synthetic papers. The contract,
//!   validation and batching tests run on it everywhere.
//! - [`fixture`]: the real thing: a TF-IDF model trained on arxiv-mini, the real MiniLM encoder, and an exact
//!   in-memory [`VectorIndex`] over real MiniLM vectors of real papers. Without `../shared` a test that needs
//!   it skips on a user's machine and fails where `ATLAS_REQUIRE_DATA` is set (`atlas-testkit`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use atlas_classify::{Labels, LinearParams, TfidfLinearModel, TfidfParams};
use atlas_corpus::{Paper, Taxonomy};
use atlas_encoder::{Encoder, EncoderOptions};
use atlas_index::{Filter, Hit, IndexError, IndexInfo, PaperMeta, VectorIndex};
use atlas_serve::{
    AppState, Embedded, Embedder, EncoderEmbedder, Model, ModelError, ModelInfo, ServerConfig,
    TextClassifierModel,
};

/// Everything the tests serve.
pub struct Fixture {
    pub model: Arc<dyn Model>,
    pub embedder: Option<Arc<dyn Embedder>>,
    pub index: Option<Arc<dyn VectorIndex>>,
    pub taxonomy: Arc<Taxonomy>,
    pub papers: Vec<Paper>,
}

/// Papers put in the in-memory index of the real fixture.
const INDEXED: usize = 120;

const MINI: &str = "data/arxiv-mini.jsonl.gz";
const TAXONOMY: &str = "data/taxonomy.tsv";
const MINILM: &str = "models/all-MiniLM-L6-v2";

/// The real fixture, built once per test binary; `None` after `atlas_testkit` reported `test` as skipped
/// because the data kit or the model folder is missing (a failure instead where `ATLAS_REQUIRE_DATA` is set,
/// reported at the calling test's line).
#[track_caller]
pub fn fixture(test: &str) -> Option<&'static Fixture> {
    // Checked on every call, so that each test that skips says so (and fails under ATLAS_REQUIRE_DATA).
    let data = atlas_testkit::shared_file(test, MINI)?;
    let taxonomy = atlas_testkit::shared_file(test, TAXONOMY)?;
    let minilm = atlas_testkit::shared_dir(test, MINILM)?;
    static F: OnceLock<Fixture> = OnceLock::new();
    Some(F.get_or_init(|| {
        let taxonomy = Arc::new(Taxonomy::load(taxonomy).expect("taxonomy"));
        let (papers, _) = atlas_corpus::load_papers(&data, None).expect("reading arxiv-mini");
        let model = train_tfidf(&papers, &taxonomy, 20, &TfidfParams::default());
        let encoder = Encoder::load(&minilm, &EncoderOptions::default()).expect("loading MiniLM");
        let e = EncoderEmbedder::new(encoder).expect("encoder id");
        let index = MemIndex::build(
            &e,
            &papers[..INDEXED.min(papers.len())],
            e.encoder().folder().dir(),
            e.encoder().template().as_str(),
        );
        Fixture {
            model: Arc::new(model),
            embedder: Some(Arc::new(e)),
            index: Some(Arc::new(index)),
            taxonomy,
            papers,
        }
    }))
}

/// The real MiniLM encoder of the fixture.
pub fn encoder(f: &Fixture) -> &Arc<dyn Embedder> {
    f.embedder.as_ref().expect("the real fixture always has its encoder")
}

/// A TF-IDF + softmax model over the primary categories with at least `min_papers` papers: seconds.
fn train_tfidf(
    papers: &[Paper],
    taxonomy: &Taxonomy,
    min_papers: usize,
    tfidf: &TfidfParams,
) -> TextClassifierModel {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for p in papers {
        *counts.entry(p.primary()).or_default() += 1;
    }
    let codes: Vec<String> =
        counts.iter().filter(|(_, n)| **n >= min_papers).map(|(c, _)| c.to_string()).collect();
    let names = codes.iter().map(|c| taxonomy.name(c).unwrap_or(c).to_string()).collect();
    let labels = Labels { codes: codes.clone(), names };
    let template = atlas_corpus::TextTemplate::default();
    let (texts, ys): (Vec<String>, Vec<u32>) = papers
        .iter()
        .filter_map(|p| codes.iter().position(|c| c == p.primary()).map(|y| (p.text(&template), y as u32)))
        .unzip();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let linear = LinearParams { threads: 1, ..LinearParams::default() };
    let (model, _) =
        TfidfLinearModel::train(&refs, &ys, None, labels, tfidf, &linear, &mut |_| {}).expect("training");
    // Conformal scores of the training papers: enough for a fixture to answer `coverage` (a real model is
    // calibrated on validation papers it never trained on).
    let probs = atlas_classify::Classifier::predict_proba(&model, &refs);
    let kind = atlas_calibrate::ScoreKind::Raps { lambda: 0.01, k_reg: 2 };
    let conformal =
        atlas_calibrate::Conformal::calibrate(&probs.data, probs.n_classes, &ys, kind).expect("conformal");
    TextClassifierModel::new(
        Box::new(model),
        ModelInfo {
            version: "tfidf_linear@test".into(),
            kind: String::new(),
            template,
            dir: "(in memory)".into(),
        },
    )
    .with_conformal(conformal)
}

/// Categories of the synthetic papers, each with words only its papers use.
const TINY_TOPICS: [(&str, &str, [&str; 8]); 4] = [
    (
        "cs.LG",
        "Machine Learning",
        ["neural", "gradient", "training", "network", "loss", "learning", "model", "layer"],
    ),
    (
        "astro-ph.CO",
        "Cosmology and Nongalactic Astrophysics",
        ["galaxy", "dark", "matter", "halo", "cosmic", "redshift", "lensing", "cluster"],
    ),
    (
        "math.NT",
        "Number Theory",
        ["prime", "modular", "zeta", "integer", "field", "arithmetic", "divisor", "lattice"],
    ),
    (
        "q-bio.NC",
        "Neurons and Cognition",
        ["neuron", "cortex", "spike", "synapse", "brain", "memory", "cognition", "firing"],
    ),
];

/// Papers of the tiny fixture: 8 per category.
const TINY_PER_TOPIC: usize = 8;

/// The tiny fixture (see the module docs): built in milliseconds, needs no files.
pub fn tiny() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut tsv = String::from("code\tname\tarchive\tgroup\tactive\tcanonical\n");
        for (code, name, _) in TINY_TOPICS {
            tsv.push_str(&format!("{code}\t{name}\t{}\tx\t1\t\n", code.split('.').next().unwrap_or(code)));
        }
        // A known code that no paper has: a valid filter that matches nothing.
        tsv.push_str("cs.AI\tArtificial Intelligence\tcs\tx\t1\t\n");
        let taxonomy = Arc::new(Taxonomy::parse(&tsv, Path::new("(tiny)")).expect("tiny taxonomy"));
        let papers = tiny_papers();
        let tfidf = TfidfParams { min_df: 1, ngram_max: 1, ..TfidfParams::default() };
        let model = train_tfidf(&papers, &taxonomy, 1, &tfidf);
        let embedder = Arc::new(HashEmbedder::new());
        let index =
            MemIndex::build(embedder.as_ref(), &papers, Path::new("(tiny)"), atlas_corpus::DEFAULT_TEMPLATE);
        Fixture {
            model: Arc::new(model),
            embedder: Some(embedder),
            index: Some(Arc::new(index)),
            taxonomy,
            papers,
        }
    })
}

fn tiny_papers() -> Vec<Paper> {
    let mut papers = Vec::new();
    for (t, (code, _, words)) in TINY_TOPICS.iter().enumerate() {
        for i in 0..TINY_PER_TOPIC {
            let w = |k: usize| words[(i + k) % words.len()];
            let n = t * TINY_PER_TOPIC + i;
            papers.push(Paper {
                id: format!("2101.{:05}", n + 1),
                title: format!("On {} {} and {}", w(0), w(1), w(2)),
                abstract_text: format!(
                    "We study {} {} with {} {}; the {} {} follows.",
                    w(3),
                    w(4),
                    w(5),
                    w(6),
                    w(7),
                    w(0)
                ),
                authors: format!("A. Author{n}, B. Writer"),
                categories: vec![code.to_string()],
                date: Some(format!("{}-01-15", 1995 + 3 * n % 30)),
            });
        }
    }
    papers
}

/// A deterministic sentence "encoder": words hashed into 16 buckets, the vector normalised. One token per
/// word plus [CLS] and [SEP], truncated at 64, as a real tokenizer counts them. Counts its calls.
pub struct HashEmbedder {
    pub calls: AtomicUsize,
}

impl HashEmbedder {
    pub const DIM: usize = 16;
    pub const MAX_TOKENS: usize = 64;

    pub fn new() -> HashEmbedder {
        HashEmbedder { calls: AtomicUsize::new(0) }
    }

    /// Tokens the embedder reads for `text`.
    pub fn tokens(text: &str) -> usize {
        (text.split_whitespace().count() + 2).min(Self::MAX_TOKENS)
    }

    fn vector(text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; Self::DIM];
        for word in text.split_whitespace().take(Self::MAX_TOKENS - 2) {
            // FNV-1a: stable across runs and platforms.
            let h = word
                .to_lowercase()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
            v[(h % Self::DIM as u64) as usize] += 1.0;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            v[0] = 1.0;
        } else {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

impl Embedder for HashEmbedder {
    fn name(&self) -> &str {
        "hash-16"
    }
    fn embedding_id(&self) -> &str {
        "test-hash-16"
    }
    fn dim(&self) -> usize {
        Self::DIM
    }
    fn max_tokens(&self) -> usize {
        Self::MAX_TOKENS
    }
    fn render_paper(&self, title: &str, abstract_text: &str) -> String {
        format!("{title} [SEP] {abstract_text}")
    }
    fn embed(&self, texts: &[String]) -> Result<Embedded, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Embedded {
            dim: Self::DIM,
            data: texts.iter().flat_map(|t| Self::vector(t)).collect(),
            tokens: texts.iter().map(|t| Self::tokens(t)).collect(),
        })
    }
}

/// Exact cosine search over a few vectors.
pub struct MemIndex {
    info: IndexInfo,
    papers: Vec<PaperMeta>,
    vectors: Vec<Vec<f32>>,
}

impl MemIndex {
    pub fn build(e: &dyn Embedder, papers: &[Paper], model_dir: &Path, template: &str) -> MemIndex {
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
                model_dir: PathBuf::from(model_dir),
                template: template.into(),
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
    fn export(&self) -> Result<atlas_index::Corpus, IndexError> {
        Ok(atlas_index::Corpus { papers: self.papers.clone(), vectors: self.vectors.concat() })
    }
}

/// The reading-list recommender over a fixture's index, its TF-IDF fitted on the indexed papers' text.
pub fn recommender(f: &Fixture) -> Option<Arc<atlas_recommend::Recommender>> {
    let index = f.index.as_ref()?;
    let corpus = index.export().expect("export");
    let texts: Vec<(String, String)> = f
        .papers
        .iter()
        .filter(|p| corpus.papers.iter().any(|m| m.id == p.id))
        .map(|p| (p.id.clone(), atlas_recommend::paper_text(p)))
        .collect();
    let features = atlas_recommend::TextFeatures::fit(&texts).expect("TF-IDF of the indexed papers");
    let params = atlas_recommend::RecommendParams { negatives: 100, ..Default::default() };
    let dim = index.info().dim;
    let r = atlas_recommend::Recommender::new(corpus.papers, corpus.vectors, dim, &features, params);
    Some(Arc::new(r.expect("recommender")))
}

/// A server state over a fixture (with its encoder and index).
pub fn state(f: &Fixture, config: ServerConfig) -> AppState {
    let mut b = AppState::builder(f.model.clone()).config(config).taxonomy(f.taxonomy.clone());
    if let Some(e) = &f.embedder {
        b = b.embedder(e.clone());
    }
    if let Some(i) = &f.index {
        b = b.index(i.clone());
    }
    if let Some(r) = recommender(f) {
        b = b.recommender(r);
    }
    b.build().expect("state")
}

/// An answer of the router: status, content type and body.
pub struct Answer {
    pub status: axum::http::StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, when it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Sends one request (a JSON body when given) to `app`.
pub async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<&serde_json::Value>) -> Answer {
    use axum::body::Body;
    use axum::http::{header, Request};
    use tower::ServiceExt;
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let content_type =
        resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    Answer { status, content_type, body }
}

/// An `embedding_lr` model trained by the real pipeline on arxiv-mini (as `arxiv-atlas train data=mini
/// experiment=embedding_lr` does), and a copy of it as a model folder from before calibration and training-
/// paper stores existed: no `calibration.json`, no `neighbours/`, neither in its manifest.
pub struct EmbeddingKit {
    _dir: tempfile::TempDir,
    /// The training run.
    pub run: PathBuf,
    /// The old-style model folder.
    pub legacy: PathBuf,
}

/// The [`EmbeddingKit`], trained once per test binary; `None` after `test` was reported skipped.
#[track_caller]
pub fn embedding_kit(test: &str) -> Option<&'static EmbeddingKit> {
    let mini = atlas_testkit::shared_file(test, MINI)?;
    let minilm = atlas_testkit::shared_dir(test, MINILM)?;
    static KIT: OnceLock<EmbeddingKit> = OnceLock::new();
    Some(KIT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = [
            "experiment=embedding_lr".to_string(),
            "data=mini".to_string(),
            format!("data.input={}", mini.display()),
            format!("data.cache_dir={}", dir.path().join("cache").display()),
            format!("experiment.encoder.model_dir={}", minilm.display()),
            format!("run.root={}", dir.path().join("runs").display()),
            format!("run.dir={}", dir.path().join("runs/train").display()),
        ];
        let resolved = atlas_config::load(&atlas_config::ConfigSource::Embedded, &args, &[]).expect("config");
        let run = atlas_pipeline::train(&resolved).expect("training").run_dir;
        let model = run.join("artifacts/model");
        let legacy = dir.path().join("legacy-model");
        copy_dir(&model, &legacy);
        let kind = atlas_artifact::Manifest::peek_kind(&legacy, "model").expect("kind");
        let mut manifest = atlas_artifact::Manifest::read(&legacy, &kind, u32::MAX).expect("manifest");
        for name in ["calibration.json", "neighbours/manifest.json"] {
            assert!(manifest.files.remove(name).is_some(), "{name} is not in the trained model's manifest");
        }
        manifest.write(&legacy).expect("manifest");
        std::fs::remove_dir_all(legacy.join("neighbours")).expect("removing neighbours/");
        std::fs::remove_file(legacy.join("calibration.json")).expect("removing calibration.json");
        EmbeddingKit { _dir: dir, run, legacy }
    }))
}

/// A server state of the model folder (or run) `model` with no index (and so no search), built as `serve
/// --model` builds it.
pub fn served(model: &Path) -> AppState {
    atlas_serve::build_state(&atlas_serve::ServeOptions {
        model: Some(model.to_path_buf()),
        index: None,
        ef_search: None,
        model_dir: None,
        taxonomy: None,
        request_log: None,
        server: ServerConfig::default(),
        max_batch_tokens: None,
        drift: None,
        admin_token: None,
    })
    .expect("serving the model")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
