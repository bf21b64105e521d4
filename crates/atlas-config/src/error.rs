//! Errors of configuration loading. Every message names the file, argument or key at fault.

use std::io;
use std::path::PathBuf;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file or folder could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The config folder has no `config.yaml`.
    #[error(
        "{dir} has no config.yaml (set ARXIV_ATLAS_CONFIG_DIR or --config-dir to a folder that has one)"
    )]
    MissingPrimary {
        /// The folder that was searched.
        dir: PathBuf,
    },
    /// A config file is not valid YAML.
    #[error("{file}: invalid YAML: {source}")]
    Yaml {
        /// The file, as shown to the user.
        file: String,
        /// The parser's error (with line and column).
        #[source]
        source: serde_yaml::Error,
    },
    /// A config file is valid YAML but not shaped like a config file (e.g. a malformed `defaults:` list).
    #[error("{file}: {message}")]
    BadFile {
        /// The file, as shown to the user.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A command-line argument or environment variable is not `group=option` or `dotted.key=value`.
    #[error("malformed override `{arg}`: {reason}")]
    MalformedOverride {
        /// The argument (or `NAME=value` of the environment variable) as given.
        arg: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `group=option` names an option that has no file.
    #[error("{group}={option}: no {looked_for}; available: {}{}", list_or_none(.available), set_by(.origin))]
    UnknownOption {
        /// The config group (`data`, `experiment` …).
        group: String,
        /// The option asked for.
        option: String,
        /// The file that would hold it.
        looked_for: String,
        /// The options that exist.
        available: Vec<String>,
        /// Who chose the option when it was not a command-line argument (the defaults list, a variable).
        origin: Option<String>,
    },
    /// A key the schema does not have.
    #[error("unknown key `{key}`{}{}", did_you_mean(.suggestion), set_by(.origin))]
    UnknownKey {
        /// Dotted key path, e.g. `data.max_sample`.
        key: String,
        /// The closest existing key, e.g. `data.max_samples`.
        suggestion: Option<String>,
        /// Where the key was set (file, override or environment variable).
        origin: Option<String>,
    },
    /// A required key has no value anywhere.
    #[error("missing key `{key}`: no config file, override or environment variable sets it")]
    MissingKey {
        /// Dotted key path.
        key: String,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("{key}: {message}{}", set_by(.origin))]
    InvalidValue {
        /// Dotted key path, e.g. `data.max_samples`.
        key: String,
        /// What is wrong, e.g. `invalid type: found string "abc", expected usize`.
        message: String,
        /// Where the value was set.
        origin: Option<String>,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
}

fn set_by(origin: &Option<String>) -> String {
    origin.as_ref().map(|o| format!(" [set by {o}]")).unwrap_or_default()
}
