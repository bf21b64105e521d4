//! `atlas-model`: one place that turns what a user names as "the model" into something that predicts.
//!
//! * [`LoadedModel::open`] takes a training run folder (or the model folder inside it, `artifacts/model/`),
//!   verifies every checksum, and returns a [`Predictor`] — a TF-IDF classifier that reads text itself, or an
//!   embedding head together with the sentence encoder it was trained on, rebuilt from the typed
//!   [`SavedEncoder`] record and checked to produce the same vector space — plus the [`PipelineMeta`] that
//!   says how a paper becomes the model's input text, and the model's [`Calibration`] when it has one:
//!   [`LoadedModel::predict`] returns temperature-scaled probabilities and [`LoadedModel::category_sets`]
//!   conformal category sets. A multi-label model also has per-class thresholds
//!   ([`LoadedModel::label_sets`]). An ensemble folder (`experiment=ensemble`) loads as [`Predictor::Ensemble`]:
//!   its parts, each opened like a model of its own, and the combiner that stacks them ([`save_ensemble`]).
//! * [`query_encoder`] picks the encoder whose vectors an index holds, so a text query lands in the index's
//!   vector space.
//!
//! The CLI, the HTTP server and pipeline stages all load models through here, so the rules (which folder,
//! which encoder, when a mismatch is an error) exist once.

#![warn(missing_docs)]

mod ensemble;
mod error;
mod folder;
mod predictor;
mod query;

pub use atlas_calibrate::{Calibration, LabelThresholds};
pub use atlas_encoder::SavedEncoder;
pub use ensemble::{
    ensemble_part_dir, save_ensemble, Ensemble, EnsemblePart, COMBINER_FILE, ENSEMBLE_FORMAT_VERSION,
    ENSEMBLE_KIND, PARTS_DIR,
};
pub use error::PredictorError;
pub use folder::{
    resolve_model_folder, write_calibration, write_pipeline_meta, write_thresholds, PipelineMeta,
    CALIBRATION_FILE, PIPELINE_FILE, THRESHOLDS_FILE,
};
pub use predictor::{LoadOptions, LoadedModel, Predictor, EMBED_CACHE_ENV};
pub use query::query_encoder;
