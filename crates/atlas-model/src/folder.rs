//! Where a model lives and what is stored beside its weights.
//!
//! A training run keeps its model in `<run>/artifacts/model/`; users may pass either the run folder or the
//! model folder. Besides the classifier's own files the model folder holds `pipeline.json`: what turns a
//! paper into the classifier's input text (the template), recorded in the folder's checksummed manifest so a
//! model never depends on the config that trained it, and `calibration.json` (temperature and conformal
//! scores, see `atlas-calibrate`) once the model is calibrated.

use std::path::{Path, PathBuf};

use atlas_artifact::{write_atomic, Manifest, MANIFEST_FILE};
use atlas_calibrate::{Calibration, LabelThresholds};
use serde::{Deserialize, Serialize};

use crate::PredictorError;

/// Name of the inference-pipeline description inside a model folder.
pub const PIPELINE_FILE: &str = "pipeline.json";

/// Name of the calibration (temperature, conformal scores) inside a model folder.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// Name of a multi-label model's per-class thresholds inside its model folder.
pub const THRESHOLDS_FILE: &str = "thresholds.json";

/// How a paper becomes classifier input; stored next to the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineMeta {
    /// How a paper becomes the model's input text (checked when read: a bad field is an error naming it).
    pub template: atlas_corpus::TextTemplate,
    /// Experiment name that produced the model (e.g. `tfidf_linear`).
    pub experiment: String,
    /// Training run id, for provenance.
    pub run_id: String,
}

/// The model folder `path` names: the folder itself when it has a manifest, else a run folder's
/// `artifacts/model`. A registry URI (`models:/NAME@ALIAS`, `models:/NAME/VERSION`) is first downloaded from the
/// MLflow server named by `$MLFLOW_TRACKING_URI` into the local model cache, checksums verified
/// ([`atlas_track::resolve_model_path`]).
pub fn resolve_model_folder(path: &Path) -> Result<PathBuf, PredictorError> {
    let path = &atlas_track::resolve_model_path(path)?;
    if path.join(MANIFEST_FILE).is_file() {
        return Ok(path.to_path_buf());
    }
    let nested = path.join("artifacts").join("model");
    if nested.join(MANIFEST_FILE).is_file() {
        return Ok(nested);
    }
    let message = if path.exists() {
        format!(
            "neither a model folder (no {MANIFEST_FILE}) nor a training run folder (no artifacts/model/{MANIFEST_FILE})"
        )
    } else {
        "no such folder".to_string()
    };
    Err(PredictorError::NotAModel { path: path.to_path_buf(), message })
}

/// Adds `pipeline.json` to a freshly saved model folder and re-seals its manifest with the new file's checksum.
pub fn write_pipeline_meta(model_dir: &Path, meta: &PipelineMeta) -> Result<(), PredictorError> {
    add_json_file(model_dir, PIPELINE_FILE, meta)
}

/// Adds (or replaces) `calibration.json` in a model folder and re-seals its manifest with the file's
/// checksum. The folder is verified first, so a calibration is never sealed into a damaged model.
pub fn write_calibration(model_dir: &Path, calibration: &Calibration) -> Result<(), PredictorError> {
    add_json_file(model_dir, CALIBRATION_FILE, calibration)
}

/// Adds (or replaces) `thresholds.json` (a multi-label model's per-class thresholds) in a model folder and
/// re-seals its manifest.
pub fn write_thresholds(model_dir: &Path, thresholds: &LabelThresholds) -> Result<(), PredictorError> {
    add_json_file(model_dir, THRESHOLDS_FILE, thresholds)
}

/// Writes `name` (JSON of `value`) atomically into a verified model folder and re-seals its manifest. Whatever
/// the folder's kind and version (it was written by a classifier of this build or an older one), the existing
/// files keep their checksums and one file is added.
fn add_json_file<T: Serialize>(model_dir: &Path, name: &str, value: &T) -> Result<(), PredictorError> {
    let kind = Manifest::peek_kind(model_dir, "a model folder")?;
    let mut manifest = Manifest::open(model_dir, &kind, u32::MAX)?;
    let json = serde_json::to_vec_pretty(value)
        .map_err(|source| PredictorError::Json { path: model_dir.join(name), source })?;
    write_atomic(&model_dir.join(name), &json)?;
    manifest.add_file(model_dir, name)?;
    manifest.write(model_dir)?;
    Ok(())
}

/// Reads `calibration.json` when the folder's manifest lists it (its checksum was verified with the rest of
/// the folder); a model trained before calibration existed has none: temperature 1, no category sets.
pub(crate) fn read_calibration(dir: &Path) -> Result<Option<Calibration>, PredictorError> {
    read_sealed_json(dir, CALIBRATION_FILE)
}

/// Reads `thresholds.json` when the folder's manifest lists it (only multi-label models have one).
pub(crate) fn read_thresholds(dir: &Path) -> Result<Option<LabelThresholds>, PredictorError> {
    read_sealed_json(dir, THRESHOLDS_FILE)
}

/// Reads the JSON file `name` of a verified model folder when its manifest lists it.
fn read_sealed_json<T: serde::de::DeserializeOwned>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, PredictorError> {
    let kind = Manifest::peek_kind(dir, "a model folder")?;
    let manifest = Manifest::read(dir, &kind, u32::MAX)?;
    if !manifest.files.contains_key(name) {
        return Ok(None);
    }
    let path = dir.join(name);
    let raw = std::fs::read(&path).map_err(|e| atlas_artifact::IoError::new("read", path.clone(), e))?;
    serde_json::from_slice(&raw).map(Some).map_err(|source| PredictorError::Json { path, source })
}

/// Reads `pipeline.json`; a model folder written by the library alone (no such file) gets the default
/// template.
pub(crate) fn read_pipeline_meta(dir: &Path, kind: &str) -> Result<PipelineMeta, PredictorError> {
    let path = dir.join(PIPELINE_FILE);
    match std::fs::read(&path) {
        Ok(raw) => serde_json::from_slice(&raw).map_err(|source| PredictorError::Json { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PipelineMeta {
            template: atlas_corpus::TextTemplate::default(),
            experiment: kind.to_string(),
            run_id: String::new(),
        }),
        Err(source) => Err(atlas_artifact::IoError::new("read", path, source).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_or_its_model_folder_resolve_to_the_model_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let model = tmp.path().join("run/artifacts/model");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join(MANIFEST_FILE), "{}").unwrap();
        assert_eq!(resolve_model_folder(&tmp.path().join("run")).unwrap(), model);
        assert_eq!(resolve_model_folder(&model).unwrap(), model);
        let err = resolve_model_folder(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("neither a model folder"), "{err}");
        let err = resolve_model_folder(&tmp.path().join("nope")).unwrap_err().to_string();
        assert!(err.contains("no such folder"), "{err}");
    }
}
