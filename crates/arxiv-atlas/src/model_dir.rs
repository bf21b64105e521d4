//! Finding and opening a trained model from what the user passes to `--model`.
//!
//! A training run keeps its model in `<run>/artifacts/model/`; users may pass either the run folder or the
//! model folder. Besides the classifier's own files the model folder holds `pipeline.json`: what turns a
//! paper into the classifier's input text (the template), recorded in the folder's checksummed manifest so a
//! model never depends on the config that trained it.

use std::path::{Path, PathBuf};

use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use atlas_artifact::{write_atomic, Manifest, MANIFEST_FILE};
use atlas_classify::{Classifier, DenseHead, Labels, Probabilities};
use atlas_embed::EmbeddingCache;
use atlas_encoder::Encoder;
use serde::{Deserialize, Serialize};

/// Name of the inference-pipeline description inside a model folder.
pub const PIPELINE_FILE: &str = "pipeline.json";

/// How a paper becomes classifier input; stored next to the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PipelineMeta {
    /// Text template with `{title}` and `{abstract}`.
    pub template: String,
    /// Experiment name that produced the model (e.g. `tfidf_linear`).
    pub experiment: String,
    /// Training run id, for provenance.
    pub run_id: String,
}

/// Resolves `--model`: a model folder itself, or a run folder whose `artifacts/model` is one.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(MANIFEST_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let nested = path.join("artifacts").join("model");
    if nested.join(MANIFEST_FILE).is_file() {
        return Ok(nested);
    }
    if !path.exists() {
        bail!("--model {}: no such folder", path.display());
    }
    bail!(
        "--model {}: neither a model folder (no {MANIFEST_FILE}) nor a training run folder (no artifacts/model/{MANIFEST_FILE})",
        path.display()
    )
}

/// Adds `pipeline.json` to a freshly saved model folder and re-seals its manifest with the new file's checksum.
pub fn write_pipeline_meta(model_dir: &Path, meta: &PipelineMeta) -> Result<()> {
    let (kind, version) = {
        let raw = std::fs::read(model_dir.join(MANIFEST_FILE))
            .with_context(|| format!("reading {}", model_dir.join(MANIFEST_FILE).display()))?;
        let m: Manifest = serde_json::from_slice(&raw).context("parsing the model manifest")?;
        (m.kind, m.format_version)
    };
    let mut manifest = Manifest::open(model_dir, &kind, version)?;
    write_atomic(&model_dir.join(PIPELINE_FILE), &serde_json::to_vec_pretty(meta)?)?;
    manifest.add_file(model_dir, PIPELINE_FILE)?;
    manifest.write(model_dir)?;
    Ok(())
}

/// Turns texts into class probabilities, whatever the model family.
pub enum Predictor {
    /// A classifier that reads text itself (TF-IDF).
    Text(Box<dyn Classifier>),
    /// A head on frozen sentence embeddings; texts go through the encoder (and its cache) first.
    Embedding {
        /// The encoder the head was trained on (checked by embedding id at load).
        encoder: Box<Encoder>,
        /// The classifier head.
        head: Box<DenseHead>,
        /// Vectors of texts seen before.
        cache: Option<Mutex<EmbeddingCache>>,
    },
}

impl Predictor {
    /// The label set.
    pub fn labels(&self) -> &Labels {
        match self {
            Predictor::Text(c) => c.labels(),
            Predictor::Embedding { head, .. } => head.labels(),
        }
    }

    /// Model kind (`arxiv-atlas/tfidf-linear`, `arxiv-atlas/embedding-lr` …).
    pub fn kind(&self) -> &str {
        match self {
            Predictor::Text(c) => c.kind(),
            Predictor::Embedding { head, .. } => head.kind(),
        }
    }

    /// The sentence encoder inside an embedding classifier (`None` for TF-IDF models).
    pub fn encoder_mut(&mut self) -> Option<&mut atlas_encoder::Encoder> {
        match self {
            Predictor::Embedding { encoder, .. } => Some(encoder),
            Predictor::Text(_) => None,
        }
    }

    /// Probabilities of every class for each text.
    pub fn predict(&self, texts: &[String]) -> Result<Probabilities> {
        match self {
            Predictor::Text(c) => {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Ok(c.predict_proba(&refs))
            }
            Predictor::Embedding { encoder, head, cache } => {
                let mut guard = match cache {
                    Some(m) => Some(m.lock().map_err(|_| anyhow::anyhow!("embedding cache lock poisoned"))?),
                    None => None,
                };
                let pb = (texts.len() > 1000)
                    .then(|| atlas_embed::job::progress_bar(texts.len() as u64, "embedding"));
                let (x, _) =
                    atlas_embed::embed_texts_cached(encoder, guard.as_deref_mut(), texts, 1024, pb.as_ref())?;
                if let Some(pb) = pb {
                    pb.finish_and_clear();
                }
                Ok(head.predict_proba_dense(&x))
            }
        }
    }
}

/// A loaded model: the predictor and the pipeline that feeds it.
pub struct LoadedModel {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// The model (checksums verified on load).
    pub predictor: Predictor,
    /// Template and provenance.
    pub pipeline: PipelineMeta,
}

/// Rebuilds the encoder an embedding head was trained with, and checks it produces the same vector space.
fn load_embedding_predictor(dir: &Path, sessions: usize) -> Result<Predictor> {
    let (head, meta) =
        DenseHead::load(dir).with_context(|| format!("loading the model in {}", dir.display()))?;
    let s = |k: &str| meta.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let cfg = atlas_config::EncoderConfig {
        // ARXIV_ATLAS_MODEL_DIR / --model-dir style relocation: the recorded folder is used when it exists.
        model_dir: s("model_dir").map(PathBuf::from).filter(|p| p.exists()),
        backend: s("backend").unwrap_or_else(|| "auto".into()),
        precision: s("precision").unwrap_or_else(|| "fp32".into()),
        device: s("device").unwrap_or_else(|| "cpu".into()),
        threads: meta.get("threads").and_then(|v| v.as_u64()).unwrap_or(0) as usize,
        batch_size: meta.get("batch_size").and_then(|v| v.as_u64()).unwrap_or(32) as usize,
        cache_dir: None,
    };
    let template = s("template").unwrap_or_else(|| atlas_corpus::DEFAULT_TEMPLATE.to_string());
    let encoder = crate::encoding::encoder_with_sessions(&cfg, &template, sessions)?;
    let want = s("embedding_id").unwrap_or_default();
    let got = encoder.embedding_id()?.to_string();
    if want != got {
        bail!(
            "{}: the model was trained on embeddings {want}, but the encoder in {} produces {got} \
             (another model, precision or template); set ARXIV_ATLAS_MODEL_DIR to the original model folder",
            dir.display(),
            encoder.folder().dir().display()
        );
    }
    // ARXIV_ATLAS_EMBED_CACHE=off serves every text through the encoder (benchmarks that cycle a few bodies
    // would otherwise measure the cache, not the model).
    let cache_off =
        std::env::var("ARXIV_ATLAS_EMBED_CACHE").is_ok_and(|v| matches!(v.as_str(), "off" | "0" | "false"));
    let cache = match crate::encoding::open_cache(&encoder, None) {
        _ if cache_off => None,
        Ok(c) => Some(Mutex::new(c)),
        Err(e) => {
            tracing::warn!("embedding cache unavailable, embedding without it: {e:#}");
            None
        }
    };
    Ok(Predictor::Embedding { encoder: Box::new(encoder), head: Box::new(head), cache })
}

impl LoadedModel {
    /// Opens `--model` (run folder or model folder), verifying every checksum.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_sessions(path, 1)
    }

    /// Like [`LoadedModel::open`], an embedding classifier's encoder with `sessions` ONNX Runtime sessions
    /// that run calls side by side (one per inference worker of a server).
    pub fn open_with_sessions(path: &Path, sessions: usize) -> Result<Self> {
        let dir = resolve(path)?;
        let kind = atlas_classify::model_kind(&dir)?;
        let predictor = if kind.starts_with("arxiv-atlas/embedding-") {
            load_embedding_predictor(&dir, sessions)?
        } else {
            Predictor::Text(
                atlas_classify::load_classifier(&dir)
                    .with_context(|| format!("loading the model in {}", dir.display()))?,
            )
        };
        let pipeline: PipelineMeta = match std::fs::read(dir.join(PIPELINE_FILE)) {
            Ok(raw) => serde_json::from_slice(&raw)
                .with_context(|| format!("parsing {}", dir.join(PIPELINE_FILE).display()))?,
            // A model folder written by the library alone (no pipeline.json) uses the default template.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PipelineMeta {
                template: atlas_corpus::DEFAULT_TEMPLATE.to_string(),
                experiment: predictor.kind().to_string(),
                run_id: String::new(),
            },
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", dir.join(PIPELINE_FILE).display()))
            }
        };
        Ok(LoadedModel { dir, predictor, pipeline })
    }

    /// Class probabilities for papers given as (title, abstract) text.
    pub fn texts_for<'a>(&self, papers: impl Iterator<Item = &'a atlas_corpus::Paper>) -> Vec<String> {
        papers.map(|p| p.text(&self.pipeline.template)).collect()
    }
}
