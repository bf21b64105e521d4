//! [`EncoderSpec`]: which sentence-transformer to run and how, as one typed value.
//!
//! The same description comes from three places — `embed`/`bench embed` flags, an experiment's `encoder`
//! section, and the record an embedding classifier saves so it can rebuild its encoder — and all three parse
//! it with the same enums, so a misspelt backend is an error wherever it is written.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendKind, DeviceSpec, Precision};
use crate::batch::BatchLimits;
use crate::encoder::{Encoder, EncoderOptions};
use crate::error::EncoderError;
use crate::template::TextTemplate;

/// Which model to load and on what engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderSpec {
    /// Model folder in the sentence-transformers layout, or a Hugging Face id (`owner/name[@revision]`);
    /// `None` = `$ARXIV_ATLAS_MODEL_DIR`, else `../shared/models/all-MiniLM-L6-v2` when present.
    pub model_dir: Option<PathBuf>,
    /// Engine.
    pub backend: BackendKind,
    /// Weight precision.
    pub precision: Precision,
    /// Device of the candle backend.
    pub device: DeviceSpec,
    /// Compute threads (0 = all cores).
    pub threads: usize,
    /// Texts per model call.
    pub batch_size: usize,
}

impl Default for EncoderSpec {
    fn default() -> Self {
        EncoderSpec {
            model_dir: None,
            backend: BackendKind::Auto,
            precision: Precision::Fp32,
            device: DeviceSpec::Cpu,
            threads: 0,
            batch_size: 32,
        }
    }
}

impl EncoderSpec {
    /// The local model folder: [`EncoderSpec::model_dir`] (a Hugging Face id is fetched into, or offline read
    /// from, the Hugging Face cache; the int8 graph too when the precision asks for it), else the default
    /// folder. The error says how to name one.
    pub fn resolve_model_dir(&self) -> Result<PathBuf, EncoderError> {
        let Some(dir) = &self.model_dir else {
            return crate::folder::default_model_dir().ok_or(EncoderError::NoDefaultModel);
        };
        resolve(dir, self.precision == Precision::Int8)
    }

    /// The [`EncoderOptions`] of this spec with `template` and `sessions` ONNX Runtime sessions (a server's
    /// inference workers; see [`EncoderOptions::sessions`]).
    pub fn options(&self, template: TextTemplate, sessions: usize) -> EncoderOptions {
        EncoderOptions {
            backend: self.backend,
            precision: self.precision,
            threads: self.threads,
            sessions: sessions.max(1),
            limits: BatchLimits { max_batch_size: self.batch_size, ..BatchLimits::default() },
            device: self.device,
            onnx_file: None,
            template,
        }
    }

    /// Resolves the model folder and loads the encoder, rendering papers with `template`.
    pub fn load(&self, template: &TextTemplate, sessions: usize) -> Result<Encoder, EncoderError> {
        let dir = self.resolve_model_dir()?;
        Encoder::load(&dir, &self.options(template.clone(), sessions))
    }
}

#[cfg(feature = "hf-hub")]
fn resolve(dir: &Path, with_int8: bool) -> Result<PathBuf, EncoderError> {
    crate::hub::resolve_model(&crate::hub::ModelRef::parse(&dir.to_string_lossy()), with_int8)
}

#[cfg(not(feature = "hf-hub"))]
fn resolve(dir: &Path, _with_int8: bool) -> Result<PathBuf, EncoderError> {
    Ok(dir.to_path_buf())
}

/// What an embedding classifier records about its encoder, so it can rebuild it and check that the rebuilt
/// encoder produces the same vector space. Saved as JSON in the classifier's manifest; the field names are
/// those of the files written before this type existed, so older model folders load unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedEncoder {
    /// The model folder the encoder was loaded from (resolved: never a hub id).
    pub model_dir: PathBuf,
    /// Hash of the model's weights, tokenizer and config.
    pub model_hash: String,
    /// The vector-space id the classifier was trained in.
    pub embedding_id: String,
    /// Engine.
    #[serde(default)]
    pub backend: BackendKind,
    /// Weight precision.
    #[serde(default)]
    pub precision: Precision,
    /// Device.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Compute threads.
    #[serde(default)]
    pub threads: usize,
    /// Texts per model call.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Text template.
    pub template: TextTemplate,
    /// Vector width.
    pub dim: usize,
    /// The model folder relative to the folder holding this record, when it lies in the same run (a
    /// fine-tuned encoder beside the head trained on it, see [`SavedEncoder::relative_to`]): a run folder that
    /// was moved or downloaded elsewhere still finds its encoder. Tried before [`SavedEncoder::model_dir`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_model_dir: Option<PathBuf>,
}

/// Most `..` steps a [`SavedEncoder::relative_model_dir`] may take: enough to leave `<run>/artifacts/model`
/// for another folder of the same run, not enough to point out of the run (a shared base model stays absolute).
const MAX_UP_STEPS: usize = 2;

/// `path` made absolute with links resolved, when it or a folder above it exists (a head's folder may not be
/// written yet when its record is made).
fn resolved(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut p = path;
    loop {
        if let Ok(real) = p.canonicalize() {
            return Some(rest.iter().rev().fold(real, |acc, c| acc.join(c)));
        }
        rest.push(p.file_name()?);
        p = p.parent()?;
    }
}

/// `path` relative to `base` when the path climbs at most [`MAX_UP_STEPS`] folders.
fn relative_path(path: &Path, base: &Path) -> Option<PathBuf> {
    let (path, base) = (resolved(path)?, resolved(base)?);
    let common = path.components().zip(base.components()).take_while(|(a, b)| a == b).count();
    let up = base.components().count() - common;
    if up > MAX_UP_STEPS || common == 0 {
        return None;
    }
    let mut rel: PathBuf = std::iter::repeat_n(std::path::Component::ParentDir, up).collect();
    rel.extend(path.components().skip(common));
    Some(rel)
}

fn default_batch_size() -> usize {
    EncoderSpec::default().batch_size
}

impl SavedEncoder {
    /// The record of `encoder`, loaded from `spec`.
    pub fn new(spec: &EncoderSpec, encoder: &Encoder) -> Result<Self, EncoderError> {
        Ok(SavedEncoder {
            model_dir: encoder.folder().dir().to_path_buf(),
            model_hash: encoder.model_hash()?.to_string(),
            embedding_id: encoder.embedding_id()?.to_string(),
            backend: spec.backend,
            precision: spec.precision,
            device: spec.device,
            threads: spec.threads,
            batch_size: spec.batch_size,
            template: encoder.template().clone(),
            dim: encoder.dim(),
            relative_model_dir: None,
        })
    }

    /// This record as saved in the folder `dir`: with the model folder also recorded relative to `dir` when it
    /// lies in the same run (at most two folders up, e.g. `../../encoder/artifacts/model` from
    /// `<run>/artifacts/model`).
    pub fn relative_to(mut self, dir: &Path) -> Self {
        self.relative_model_dir = relative_path(&self.model_dir, dir);
        self
    }

    /// [`SavedEncoder::spec`] for the record read from the folder `dir`: the relative model folder is tried
    /// first (it moves with the run), then the absolute one.
    pub fn spec_in(&self, dir: &Path) -> EncoderSpec {
        match self.relative_model_dir.as_ref().map(|r| dir.join(r)).filter(|p| p.exists()) {
            Some(model_dir) => EncoderSpec { model_dir: Some(model_dir), ..self.spec() },
            None => self.spec(),
        }
    }

    /// The spec that rebuilds the encoder. The recorded folder is used when it still exists; otherwise the
    /// default model folder (`$ARXIV_ATLAS_MODEL_DIR`) stands in, and the embedding-id check decides whether
    /// it is the same model.
    pub fn spec(&self) -> EncoderSpec {
        EncoderSpec {
            model_dir: Some(self.model_dir.clone()).filter(|p| p.exists()),
            backend: self.backend,
            precision: self.precision,
            device: self.device,
            threads: self.threads,
            batch_size: self.batch_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_option_is_an_error_naming_the_valid_ones() {
        let err = serde_json::from_str::<EncoderSpec>(r#"{"backend": "onxx"}"#).unwrap_err().to_string();
        assert!(err.contains("unknown backend `onxx` (auto, candle, onnx)"), "{err}");
        let err = serde_json::from_str::<EncoderSpec>(r#"{"precison": "int8"}"#).unwrap_err().to_string();
        assert!(err.contains("unknown field `precison`"), "{err}");
        let spec: EncoderSpec = serde_json::from_str(r#"{"precision": "int8", "device": "cuda:1"}"#).unwrap();
        assert_eq!(
            (spec.precision, spec.device, spec.batch_size),
            (Precision::Int8, DeviceSpec::Cuda(1), 32)
        );
    }

    #[test]
    fn saved_records_of_earlier_versions_still_parse() {
        // The JSON an embedding head wrote before the record was typed.
        let old = r#"{"model_dir": "/m", "model_hash": "h", "embedding_id": "e", "backend": "auto",
            "precision": "int8", "device": "cpu", "threads": 0, "batch_size": 32,
            "template": "{title} [SEP] {abstract}", "dim": 384}"#;
        let rec: SavedEncoder = serde_json::from_str(old).unwrap();
        assert_eq!(rec.precision, Precision::Int8);
        assert_eq!(rec.spec().model_dir, None, "a folder that no longer exists is not used");
        let back = serde_json::to_value(&rec).unwrap();
        assert_eq!(back["precision"], "int8");
        assert_eq!(back["dim"], 384);
        assert!(back.get("relative_model_dir").is_none(), "{back}");
    }

    /// A run moved elsewhere finds the encoder that was tuned inside it; a model outside the run stays
    /// absolute.
    #[test]
    fn an_encoder_inside_the_run_is_found_after_the_run_moves() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("runs/a");
        let (head, model) = (run.join("artifacts/model"), run.join("encoder/artifacts/model"));
        let shared = tmp.path().join("shared/models/base");
        // The head's folder is not written yet when its record is made.
        for d in [&model, &shared] {
            std::fs::create_dir_all(d).unwrap();
        }
        let old =
            r#"{"model_dir": "/m", "model_hash": "h", "embedding_id": "e", "template": "{title}", "dim": 4}"#;
        let rec: SavedEncoder = serde_json::from_str(old).unwrap();
        let inside = SavedEncoder { model_dir: model.clone(), ..rec.clone() }.relative_to(&head);
        assert_eq!(inside.relative_model_dir, Some(PathBuf::from("../../encoder/artifacts/model")));
        let outside = SavedEncoder { model_dir: shared.clone(), ..rec }.relative_to(&head);
        assert_eq!(outside.relative_model_dir, None);

        let json = serde_json::to_string(&inside).unwrap();
        let moved = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&head).unwrap();
        std::fs::rename(&run, &moved).unwrap();
        let back: SavedEncoder = serde_json::from_str(&json).unwrap();
        let found = back.spec_in(&moved.join("artifacts/model")).model_dir.unwrap();
        assert_eq!(
            found.canonicalize().unwrap(),
            moved.join("encoder/artifacts/model").canonicalize().unwrap()
        );
        assert_eq!(back.spec().model_dir, None, "the absolute path is gone with the old place");
    }
}
