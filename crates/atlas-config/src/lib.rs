//! Hydra-like configuration for arxiv-atlas: config groups, dotted overrides, environment variables, and a
//! typed schema that names the key at fault in every error.
//!
//! A config folder (the repository's `conf/`, or the copy built into the binary) holds `config.yaml`, whose
//! `defaults:` list picks one file per *group* (`conf/data/<option>.yaml`, `conf/experiment/<option>.yaml`);
//! a group file holds the contents of the key of the same name. On top of that, in this order (later wins):
//!
//! 1. `config.yaml` (without its `defaults:` list),
//! 2. the selected group files (`data=mini` on the command line picks another),
//! 3. dotted overrides `data.max_samples=20000` (values are YAML: numbers, bools, `null`, `[1, 2]`),
//! 4. environment variables `ARXIV_ATLAS_DATA__MAX_SAMPLES=100` (`__` between levels).
//!
//! The result is checked against [`AtlasConfig`]: unknown keys (with a "did you mean" suggestion), values of
//! the wrong type and missing keys are errors that say which key and who set it.
//!
//! ```
//! use atlas_config::{load, ConfigSource};
//! let args = vec!["data=mini".to_string(), "experiment.linear.epochs=5".to_string()];
//! let env = vec![("ARXIV_ATLAS_DATA__MAX_SAMPLES".to_string(), "100".to_string())];
//! let resolved = load(&ConfigSource::Embedded, &args, &env).unwrap();
//! assert_eq!(resolved.config.experiment.linear.epochs, 5);
//! assert_eq!(resolved.config.data.max_samples, Some(100));
//! assert_eq!(resolved.groups["data"], "mini");
//! ```

#![warn(missing_docs)]

mod args;
mod error;
mod monitor;
mod resolve;
mod schema;
mod source;
mod suggest;
mod tree;

pub use args::{ENV_PREFIX, RESERVED_ENV_VARS};
pub use error::ConfigError;
/// The `monitor` section's type (defined by the drift monitor).
pub use monitor::MonitorParams;
pub use resolve::{load, load_for_process, ResolvedConfig};
pub use schema::{
    key_paths, AtlasConfig, DataConfig, EncoderConfig, EnsembleParams, ExperimentConfig, ExperimentKind,
    FinetuneConfig, RunConfig, TrackerConfig, TrackerKind, DEFAULT_CACHE_DIR, DEFAULT_MLFLOW_EXPERIMENT,
    DEFAULT_TEMPLATE,
};
pub use source::{default_source, ConfigSource, CONFIG_DIR_ENV, PRIMARY_FILE};

#[cfg(test)]
mod tests;
