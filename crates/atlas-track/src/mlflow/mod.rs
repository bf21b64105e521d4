//! MLflow over its REST API (no Python in arxiv-atlas): a [`Tracker`](crate::Tracker) that uploads runs
//! ([`MlflowTracker`], [`push_run`]), the model registry ([`register_model`]) and `models:/` URIs
//! ([`resolve_model_path`]).

mod client;
mod push;
mod registry;
mod tracker;

pub use client::{proxied_artifact_path, ArtifactEntry, MlflowClient, MlflowError, DEFAULT_TIMEOUT};
pub use push::{
    configured_experiment, experiment_id, push_run, PushedRun, MLFLOW_FILE, RECORDS_ARTIFACT_DIR,
};
pub use registry::{
    fetch_model, model_cache_dir, register_model, register_run, resolve_model_path, resolve_version,
    ModelUri, Registered, MODEL_ARTIFACT, TRACKING_URI_ENV,
};
pub use tracker::{MlflowSettings, MlflowTracker};
