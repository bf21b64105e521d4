//! Stacked models (`experiment=ensemble`): the folder format and prediction.
//!
//! An ensemble's model folder holds
//! - `parts/<name>/`: one complete model folder per part (`tfidf`, `embedding`), each with its own checksummed
//!   manifest, `pipeline.json` and `calibration.json` (the part's temperature);
//! - `combiner.json`: the fitted [`Stack`] (pooling rule and one weight per part);
//! - `manifest.json`: kind `arxiv-atlas/ensemble`, the SHA-256 of `combiner.json` and of every part's
//!   `manifest.json` (so a part cannot be swapped or re-sealed unnoticed), and in `meta` the labels and the
//!   part names in combiner order;
//! - `pipeline.json` and `calibration.json` of the ensemble itself (added by the pipeline, like any model).
//!
//! Prediction: every part predicts, its probabilities are scaled by the part's temperature, the combiner
//! pools them, and [`crate::LoadedModel`] applies the ensemble's own calibration on top.

use std::path::{Path, PathBuf};

use atlas_artifact::{write_atomic, Manifest, MANIFEST_FILE};
use atlas_calibrate::Stack;
use atlas_classify::{Labels, Probabilities};
use serde::{Deserialize, Serialize};

use crate::predictor::{LoadOptions, LoadedModel, Predictor};
use crate::PredictorError;

/// The manifest kind of an ensemble's model folder.
pub const ENSEMBLE_KIND: &str = "arxiv-atlas/ensemble";
/// The newest ensemble folder format this build writes and reads.
pub const ENSEMBLE_FORMAT_VERSION: u32 = 1;
/// The combiner's file inside an ensemble folder.
pub const COMBINER_FILE: &str = "combiner.json";
/// The folder of the parts inside an ensemble folder.
pub const PARTS_DIR: &str = "parts";

/// What an ensemble's `manifest.json` holds in `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EnsembleMeta {
    labels: Labels,
    /// Part folder names under `parts/`, in the combiner's order.
    parts: Vec<String>,
}

/// The folder of part `name` inside the ensemble folder `dir`.
pub fn ensemble_part_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(PARTS_DIR).join(name)
}

/// One part of a loaded ensemble.
#[derive(Debug)]
pub struct EnsemblePart {
    /// Its folder name under `parts/` (`tfidf`, `embedding`).
    pub name: String,
    /// Its model.
    pub predictor: Predictor,
    /// Its temperature (1 when the part has no calibration).
    pub temperature: f64,
}

/// A loaded ensemble: the parts and their combiner.
#[derive(Debug)]
pub struct Ensemble {
    /// The parts, in the combiner's order.
    pub parts: Vec<EnsemblePart>,
    /// The combiner.
    pub stack: Stack,
    /// The shared label set.
    pub labels: Labels,
}

impl Ensemble {
    /// Each part's calibrated probabilities of `texts` (rendered with the ensemble's template), in part order.
    ///
    /// Embedding parts on the same encoder (the MLP and the kNN part both read MiniLM vectors) share one pass
    /// through it: without that, a server with the embedding cache off would encode every text once per part.
    pub fn part_probabilities(&self, texts: &[String]) -> Result<Vec<Probabilities>, PredictorError> {
        // (embedding id, vectors) of the encoders run so far in this call.
        let mut embedded: Vec<(String, Vec<f32>)> = Vec::new();
        self.parts
            .iter()
            .map(|part| {
                let mut p = match &part.predictor {
                    Predictor::Embedding { encoder, head, .. } => {
                        let id = encoder.embedding_id()?.to_string();
                        let at = match embedded.iter().position(|(e, _)| *e == id) {
                            Some(at) => at,
                            None => {
                                let x = part.predictor.embed(texts)?.unwrap_or_default();
                                embedded.push((id, x));
                                embedded.len() - 1
                            }
                        };
                        head.predict_proba_dense(&embedded[at].1)
                    }
                    other => other.predict(texts)?,
                };
                atlas_calibrate::apply_temperature(&mut p.data, p.n_classes, part.temperature);
                Ok(p)
            })
            .collect()
    }

    /// The combined (not yet ensemble-calibrated) probabilities of the parts' calibrated `parts`.
    pub fn combine(&self, parts: &[Probabilities]) -> Probabilities {
        let k = self.labels.len();
        let refs: Vec<&[f32]> = parts.iter().map(|p| p.data.as_slice()).collect();
        Probabilities { n_classes: k, data: self.stack.combine(&refs, k) }
    }

    /// The combined probabilities of `texts`.
    pub fn predict(&self, texts: &[String]) -> Result<Probabilities, PredictorError> {
        Ok(self.combine(&self.part_probabilities(texts)?))
    }
}

/// Seals an ensemble folder `dir` whose parts (complete, calibrated model folders) are already written under
/// `parts/<name>/`: writes `combiner.json` atomically, then the manifest over it and the parts' manifests.
/// An old manifest is removed first, so an interrupted save leaves a folder that loading refuses.
pub fn save_ensemble(
    dir: &Path,
    labels: &Labels,
    parts: &[&str],
    stack: &Stack,
) -> Result<(), PredictorError> {
    if stack.weights.len() != parts.len() {
        return Err(PredictorError::Ensemble {
            dir: dir.to_path_buf(),
            message: format!("{} parts but {} combiner weights", parts.len(), stack.weights.len()),
        });
    }
    Manifest::begin_write(dir)?;
    let json = serde_json::to_vec_pretty(stack)
        .map_err(|source| PredictorError::Json { path: dir.join(COMBINER_FILE), source })?;
    write_atomic(&dir.join(COMBINER_FILE), &json)?;
    let part_manifests: Vec<String> =
        parts.iter().map(|p| format!("{PARTS_DIR}/{p}/{MANIFEST_FILE}")).collect();
    let mut files = vec![COMBINER_FILE];
    files.extend(part_manifests.iter().map(String::as_str));
    let meta = EnsembleMeta { labels: labels.clone(), parts: parts.iter().map(|p| p.to_string()).collect() };
    Manifest::seal(dir, ENSEMBLE_KIND, ENSEMBLE_FORMAT_VERSION, &files, &meta)?;
    Ok(())
}

/// Opens the ensemble folder `dir`: verifies its manifest (which covers the combiner and each part's
/// manifest), then opens every part as a model of its own (verifying its files) and checks that the parts
/// share the ensemble's labels.
pub(crate) fn load_ensemble(dir: &Path, opts: &LoadOptions) -> Result<Ensemble, PredictorError> {
    let manifest = Manifest::open(dir, ENSEMBLE_KIND, ENSEMBLE_FORMAT_VERSION)?;
    manifest.require_files(dir, &[COMBINER_FILE])?;
    let meta: EnsembleMeta = manifest.meta_as(dir)?;
    let mismatch = |message: String| PredictorError::Ensemble { dir: dir.to_path_buf(), message };
    let path = dir.join(COMBINER_FILE);
    let raw = std::fs::read(&path).map_err(|e| atlas_artifact::IoError::new("read", path.clone(), e))?;
    let stack: Stack =
        serde_json::from_slice(&raw).map_err(|source| PredictorError::Json { path, source })?;
    if stack.weights.len() != meta.parts.len() {
        return Err(mismatch(format!(
            "{} parts but {} combiner weights",
            meta.parts.len(),
            stack.weights.len()
        )));
    }
    let mut parts = Vec::with_capacity(meta.parts.len());
    for name in &meta.parts {
        let rel = format!("{PARTS_DIR}/{name}/{MANIFEST_FILE}");
        manifest.require_files(dir, &[rel.as_str()])?;
        let part = LoadedModel::open(&ensemble_part_dir(dir, name), opts)?;
        if part.predictor.labels() != &meta.labels {
            return Err(mismatch(format!("part `{name}` has other labels than the ensemble")));
        }
        let temperature = part.temperature();
        parts.push(EnsemblePart { name: name.clone(), predictor: part.predictor, temperature });
    }
    Ok(Ensemble { parts, stack, labels: meta.labels })
}
