//! Finding and opening a trained model from what the user passes to `--model`.
//!
//! A training run keeps its model in `<run>/artifacts/model/`; users may pass either the run folder or the
//! model folder. Besides the classifier's own files the model folder holds `pipeline.json`: what turns a
//! paper into the classifier's input text (the template), recorded in the folder's checksummed manifest so a
//! model never depends on the config that trained it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use atlas_artifact::{write_atomic, Manifest, MANIFEST_FILE};
use atlas_classify::Classifier;
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

/// A loaded model: the classifier and the pipeline that feeds it.
pub struct LoadedModel {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// The classifier (checksums verified on load).
    pub classifier: Box<dyn Classifier>,
    /// Template and provenance.
    pub pipeline: PipelineMeta,
}

impl LoadedModel {
    /// Opens `--model` (run folder or model folder), verifying every checksum.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = resolve(path)?;
        let classifier = atlas_classify::load_classifier(&dir)
            .with_context(|| format!("loading the model in {}", dir.display()))?;
        let pipeline: PipelineMeta = match std::fs::read(dir.join(PIPELINE_FILE)) {
            Ok(raw) => serde_json::from_slice(&raw)
                .with_context(|| format!("parsing {}", dir.join(PIPELINE_FILE).display()))?,
            // A model folder written by the library alone (no pipeline.json) uses the default template.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PipelineMeta {
                template: atlas_corpus::DEFAULT_TEMPLATE.to_string(),
                experiment: classifier.kind().to_string(),
                run_id: String::new(),
            },
            Err(e) => {
                return Err(e).with_context(|| format!("reading {}", dir.join(PIPELINE_FILE).display()))
            }
        };
        Ok(LoadedModel { dir, classifier, pipeline })
    }

    /// Class probabilities for papers given as (title, abstract) text.
    pub fn texts_for<'a>(&self, papers: impl Iterator<Item = &'a atlas_corpus::Paper>) -> Vec<String> {
        papers.map(|p| p.text(&self.pipeline.template)).collect()
    }
}
