//! The reference profile: what "no drift" looks like for a model, saved in its folder.

use std::collections::BTreeMap;
use std::path::Path;

use atlas_artifact::{write_atomic, ArtifactError, Manifest, MANIFEST_FILE};
use atlas_model::LoadedModel;
use rand::seq::index::sample;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::observe::{observe, Vocabulary, Window};
use crate::pca::Pca;
use crate::{MonitorError, MonitorParams};

/// Name of the profile inside a model folder (listed, with its checksum, in the folder's manifest).
pub const PROFILE_FILE: &str = "drift-profile.json";

/// Newest profile format this build writes and reads. Format 2 holds calibrated confidences (the
/// probabilities the API answers with and the request log stores); format 1 held the predictor's own.
pub const PROFILE_VERSION: u32 = 2;

/// Numeric feature: tokens per text.
pub const TEXT_WORDS: &str = "text_words";
/// Numeric feature: share of a text's tokens outside the TF-IDF vocabulary.
pub const OOV_SHARE: &str = "oov_share";
/// Numeric feature: probability of the predicted category.
pub const CONFIDENCE: &str = "confidence";
/// Categorical feature: the papers' true primary category (the category prior).
pub const CATEGORY: &str = "category";
/// Categorical feature: the predicted category.
pub const PREDICTED: &str = "predicted_category";

/// Embedding statistics of the reference: mean, a PCA basis and the projected reference sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingProfile {
    /// The basis (mean, components, explained variance).
    pub pca: Pca,
    /// Projected reference embeddings, `pca.k()` values per row.
    pub projected: Vec<f32>,
}

/// What a model's inputs and outputs looked like on held-out reference papers (the validation split).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    /// Format version ([`PROFILE_VERSION`]).
    pub format_version: u32,
    /// Model kind (`arxiv-atlas/tfidf-linear` …).
    pub model_kind: String,
    /// Model version (`experiment@run`).
    pub model_version: String,
    /// Where the reference papers came from.
    pub source: String,
    /// Number of reference texts measured.
    pub n: usize,
    /// Numeric features → reference values (a random sample of at most `reference_values`).
    pub numeric: BTreeMap<String, Vec<f64>>,
    /// Categorical features → counts per category code.
    pub categorical: BTreeMap<String, BTreeMap<String, u64>>,
    /// Accuracy of the model on the reference papers (when they had labels).
    pub accuracy: Option<f64>,
    /// The TF-IDF model's word vocabulary (out-of-vocabulary shares), `None` for other kinds.
    pub vocabulary: Option<Vocabulary>,
    /// A random sample of reference texts, for the TF-IDF domain classifier.
    pub texts: Vec<String>,
    /// Embedding statistics, when the model has an encoder.
    pub embeddings: Option<EmbeddingProfile>,
    /// Whether the `confidence` values are calibrated (the model's temperature applied, as the API answers):
    /// true from format 2 on; profiles of format 1 lack the field and held the predictor's own probabilities.
    #[serde(default)]
    pub calibrated_confidence: bool,
}

impl ReferenceProfile {
    /// Measures `reference` (held-out papers: the validation split) with `model`.
    pub fn build(
        model: &LoadedModel,
        reference: &Window,
        params: &MonitorParams,
    ) -> Result<Self, MonitorError> {
        if reference.texts.is_empty() {
            return Err(MonitorError::Invalid(format!("{}: no reference texts", reference.source)));
        }
        let vocabulary = Vocabulary::of_model(model)?;
        let obs = observe(model, &reference.texts, vocabulary.as_ref())?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(params.seed);
        let n = reference.texts.len();
        let keep = |rng: &mut rand::rngs::StdRng, limit: usize| -> Vec<usize> {
            let mut idx = if n <= limit { (0..n).collect() } else { sample(rng, n, limit).into_vec() };
            idx.sort_unstable();
            idx
        };
        let values = keep(&mut rng, params.reference_values);
        let pick = |v: &[f64]| values.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        let mut numeric = BTreeMap::from([
            (TEXT_WORDS.to_string(), pick(&obs.words)),
            (CONFIDENCE.to_string(), pick(&obs.confidence)),
        ]);
        if !obs.oov.is_empty() {
            numeric.insert(OOV_SHARE.to_string(), pick(&obs.oov));
        }
        let mut categorical = BTreeMap::from([(PREDICTED.to_string(), counts(&obs.predicted))]);
        let accuracy = reference.labels.as_ref().map(|labels| {
            categorical.insert(CATEGORY.to_string(), counts(labels));
            accuracy(&obs.predicted, labels)
        });
        let texts =
            keep(&mut rng, params.reference_texts).into_iter().map(|i| reference.texts[i].clone()).collect();
        let embeddings = match &obs.embeddings {
            Some((x, dim)) => {
                // The basis is fitted on one half and the kept sample drawn from the other: directions chosen
                // to maximise a sample's variance overstate that sample's spread, and a new window would then
                // look narrower than the reference even when nothing changed.
                let mut rows: Vec<usize> = (0..n).collect();
                rows.shuffle(&mut rng);
                let (fit, rest) = rows.split_at(n / 2);
                let gather = |idx: &[usize]| -> Vec<f32> {
                    idx.iter().flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied()).collect()
                };
                let pca = Pca::fit(&gather(fit), *dim, params.pca_components, params.seed);
                let mut kept = rest[..rest.len().min(params.reference_embeddings)].to_vec();
                kept.sort_unstable();
                Some(EmbeddingProfile { projected: pca.project(&gather(&kept)), pca })
            }
            None => None,
        };
        Ok(ReferenceProfile {
            format_version: PROFILE_VERSION,
            model_kind: model.predictor.kind().to_string(),
            model_version: model.version(),
            source: reference.source.clone(),
            n,
            numeric,
            categorical,
            accuracy,
            vocabulary,
            texts,
            embeddings,
            calibrated_confidence: true,
        })
    }

    /// Writes the profile into the model folder `model_dir` atomically and records its checksum in the
    /// folder's manifest (replacing an older profile).
    pub fn save(&self, model_dir: &Path) -> Result<(), MonitorError> {
        let path = model_dir.join(PROFILE_FILE);
        let json =
            serde_json::to_vec(self).map_err(|source| MonitorError::Json { path: path.clone(), source })?;
        // Whatever kind the folder holds, this build wrote or verified it: reseal it with one more file.
        let kind = Manifest::peek_kind(model_dir, "a model folder")?;
        let mut manifest = Manifest::read(model_dir, &kind, u32::MAX)?;
        write_atomic(&path, &json)?;
        manifest.add_file(model_dir, PROFILE_FILE)?;
        manifest.write(model_dir)?;
        Ok(())
    }

    /// Reads the profile of the model folder `model_dir`, checking it against the manifest's checksum;
    /// `Ok(None)` when the folder has none.
    pub fn load(model_dir: &Path) -> Result<Option<Self>, MonitorError> {
        let kind = Manifest::peek_kind(model_dir, "a model folder")?;
        let manifest = Manifest::read(model_dir, &kind, u32::MAX)?;
        let Some(entry) = manifest.files.get(PROFILE_FILE) else {
            return Ok(None);
        };
        let path = model_dir.join(PROFILE_FILE);
        let bytes =
            std::fs::read(&path).map_err(|e| atlas_artifact::IoError::new("read", path.clone(), e))?;
        if atlas_artifact::sha256_bytes(&bytes) != entry.sha256 {
            return Err(ArtifactError::Corrupted {
                path,
                what: format!("its SHA-256 differs from the one in {MANIFEST_FILE}"),
            }
            .into());
        }
        let profile: ReferenceProfile = serde_json::from_slice(&bytes)
            .map_err(|source| MonitorError::Json { path: path.clone(), source })?;
        if profile.format_version > PROFILE_VERSION {
            return Err(MonitorError::Invalid(format!(
                "{}: profile format {} is newer than this build reads ({PROFILE_VERSION})",
                path.display(),
                profile.format_version
            )));
        }
        Ok(Some(profile))
    }
}

/// Counts per value.
pub(crate) fn counts(values: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for v in values {
        *out.entry(v.clone()).or_insert(0) += 1;
    }
    out
}

/// Share of predictions equal to the label.
pub(crate) fn accuracy(predicted: &[String], labels: &[String]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}
