//! `atlas-monitor`: drift monitoring for arxiv-atlas models.
//!
//! * A [`ReferenceProfile`] records what a model's inputs and outputs look like on held-out papers (the
//!   validation split): text lengths, out-of-vocabulary shares, the category prior, the predicted categories and
//!   confidences, a sample of texts, and — for models with an encoder — the embeddings' mean, a PCA basis and a
//!   projected sample. It is saved in the model folder ([`PROFILE_FILE`], checksummed in its manifest).
//! * [`drift`] compares a current [`Window`] (papers of a file, or a [`read_request_log`] window of what `serve`
//!   answered) with the profile: KS and Wasserstein per numeric feature, χ² and Jensen–Shannon per categorical
//!   feature, a TF-IDF domain classifier that names the words that moved, domain-classifier AUC and MMD on the
//!   embeddings, and accuracy when the papers have labels. Every test reports its method, score, threshold,
//!   sample sizes and verdict; verdicts are gated on effect sizes ([`MonitorParams`]) so a large window does
//!   not turn negligible differences into alarms.
//! * [`render_html`] turns a [`DriftReport`] into a self-contained page with inline SVG plots.
//!
//! The library has no opinion on where windows come from or where reports go, so the CLI, a scheduled job and
//! the server's background task (atlas-serve, over windows of the last [`Span`]) share it.

#![warn(missing_docs)]

mod domain;
mod drift;
mod error;
mod html;
mod observe;
mod pca;
mod profile;
mod reqlog;
mod span;
pub mod stats;
pub mod synthetic;

/// The thresholds live with the rest of the configuration schema (`atlas-config`), below this crate.
pub use atlas_config::MonitorParams;
pub use domain::WordShift;
pub use drift::{drift, CategoryShift, DriftReport, DriftTest, Histogram, PredictionSource, TestGroup};
pub use error::MonitorError;
pub use html::render_html;
pub use observe::{observe, observe_with, LoggedPrediction, Observed, Predict, Vocabulary, Window};
pub use pca::Pca;
pub use profile::{
    EmbeddingProfile, ReferenceProfile, CATEGORY, CONFIDENCE, OOV_SHARE, PREDICTED, PROFILE_FILE,
    PROFILE_VERSION, TEXT_WORDS,
};
pub use reqlog::{parse_time, read_request_log, read_request_log_tail};
pub use span::Span;
