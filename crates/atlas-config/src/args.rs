//! Parsing of command-line overrides and `ARXIV_ATLAS_*` environment variables.
//!
//! Both become the same two kinds of change: picking a group option (`data=mini`) or setting a key
//! (`data.max_samples=20000`). Values are YAML: `5` is a number, `true` a bool, `null` nothing, `[1, 2]` a
//! list, and anything that is not valid YAML (such as `{title} [SEP] {abstract}`) is taken as a string.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::error::ConfigError;

/// Prefix of the environment variables that set config keys.
pub const ENV_PREFIX: &str = "ARXIV_ATLAS_";

/// `ARXIV_ATLAS_*` variables that are not config keys (they configure the program around the config: model and
/// cache folders, servers, scripts and tests), so setting them never trips the unknown-key check.
pub const RESERVED_ENV_VARS: &[&str] = &[
    "ARXIV_ATLAS_CONFIG_DIR",
    "ARXIV_ATLAS_MODEL_DIR",
    "ARXIV_ATLAS_LOG",
    "ARXIV_ATLAS_CACHE_DIR",
    "ARXIV_ATLAS_DATABASE_URL",
    "ARXIV_ATLAS_TEST_DATABASE_URL",
    "ARXIV_ATLAS_ORT_HOME",
    "ARXIV_ATLAS_PG_DATA",
    "ARXIV_ATLAS_PG_HOME",
    "ARXIV_ATLAS_PG_PORT",
    "ARXIV_ATLAS_TEST_MLFLOW_URI",
    "ARXIV_ATLAS_MLFLOW_PORT",
    "ARXIV_ATLAS_MLFLOW_DATA",
    "ARXIV_ATLAS_MLFLOW_HOME",
    "ARXIV_ATLAS_WEB_SCREENSHOT",
    "ARXIV_ATLAS_WEB_EMBEDDING_SCREENSHOT",
    "ARXIV_ATLAS_EMBED_CACHE",
    // Defaults of command-line flags (`--index`, `--request-log`): exported for `search` and `serve`, they
    // must not turn into config keys that make `train` fail.
    "ARXIV_ATLAS_INDEX",
    "ARXIV_ATLAS_REQUEST_LOG",
    // A secret read by `serve` (the admin routes' bearer token), never a config key.
    "ARXIV_ATLAS_ADMIN_TOKEN",
    // MLflow's own name, the default of `runs push/register --tracking-uri` (not under ENV_PREFIX, so never a
    // key; listed so the rule "every variable a flag reads is reserved" needs no exception).
    "MLFLOW_TRACKING_URI",
    // Scripts and tests.
    "ARXIV_ATLAS_PG_MAJOR",
    "ARXIV_ATLAS_PG_BINDIR",
    "ARXIV_ATLAS_CUDA_HOME",
    "ARXIV_ATLAS_BLESS",
    "ARXIV_ATLAS_DVC",
    "ARXIV_ATLAS_DVC_HOME",
    "ARXIV_ATLAS_DEPLOY_LINT",
    "ARXIV_ATLAS_DEPLOY_LINT_HOME",
    "ARXIV_ATLAS_TORCH_PYTHON",
    "ARXIV_ATLAS_TORCH_HOME",
    "ARXIV_ATLAS_TOOLS",
    "ARXIV_ATLAS_BIN",
    "ARXIV_ATLAS_DRIFT_SCREENSHOT",
    "ARXIV_ATLAS_MAP_PAGE",
    "ARXIV_ATLAS_MAP_SCREENSHOT",
];

/// Where a change came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A command-line argument, as given.
    Arg(String),
    /// An environment variable, by name.
    Env(String),
}

impl Origin {
    /// The argument or variable name as the user wrote it.
    pub fn as_given(&self) -> &str {
        match self {
            Origin::Arg(s) | Origin::Env(s) => s,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Arg(arg) => write!(f, "command line `{arg}`"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// One requested change to the configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// Select `option` for config group `group`.
    Select { group: String, option: String, origin: Origin },
    /// Set the key at `path` to `value`.
    Set { path: Vec<String>, value: Value, origin: Origin },
}

/// Parses one command-line argument: `group=option` when the key is a known group, else `dotted.key=value`.
/// Hydra's `+key=value` and `++key=value` are accepted and mean the same as `key=value`: here the schema,
/// not the file contents, decides which keys exist.
pub(crate) fn parse_arg(arg: &str, groups: &BTreeSet<String>) -> Result<Change, ConfigError> {
    let malformed =
        |reason: &str| ConfigError::MalformedOverride { arg: arg.to_string(), reason: reason.to_string() };
    let Some((key, raw)) = arg.split_once('=') else {
        return Err(malformed("expected `group=option` or `dotted.key=value`"));
    };
    let key = key.strip_prefix("++").or_else(|| key.strip_prefix('+')).unwrap_or(key);
    let path = parse_key(key).map_err(|reason| malformed(&reason))?;
    Ok(change(path, raw, groups, Origin::Arg(arg.to_string())))
}

/// Parses one environment variable, or returns `None` if it is not a config key (another prefix, or a
/// reserved name). `ARXIV_ATLAS_DATA__MAX_SAMPLES` is the key `data.max_samples`: the prefix is dropped, the
/// rest lower-cased and split at `__`.
pub(crate) fn parse_env(
    name: &str,
    raw: &str,
    groups: &BTreeSet<String>,
) -> Option<Result<Change, ConfigError>> {
    let rest = name.strip_prefix(ENV_PREFIX)?;
    if RESERVED_ENV_VARS.contains(&name) {
        return None;
    }
    let key = rest.to_lowercase().replace("__", ".");
    let result = parse_key(&key)
        .map_err(|reason| ConfigError::MalformedOverride {
            arg: format!("{name}={raw}"),
            reason: format!(
                "environment variable names `{ENV_PREFIX}<KEY>` with `__` between levels: {reason}"
            ),
        })
        .map(|path| change(path, raw, groups, Origin::Env(name.to_string())));
    Some(result)
}

fn change(path: Vec<String>, raw: &str, groups: &BTreeSet<String>, origin: Origin) -> Change {
    if let [group] = path.as_slice() {
        if groups.contains(group) {
            return Change::Select { group: group.clone(), option: raw.to_string(), origin };
        }
    }
    Change::Set { path, value: parse_value(raw), origin }
}

/// Splits `a.b.c` into segments, each a non-empty run of letters, digits, `_` or `-`.
fn parse_key(key: &str) -> Result<Vec<String>, String> {
    if key.is_empty() {
        return Err("the key before `=` is empty".into());
    }
    key.split('.')
        .map(|seg| {
            if seg.is_empty() {
                Err(format!("`{key}` has an empty segment"))
            } else if seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                Ok(seg.to_string())
            } else {
                Err(format!("`{key}` is not a dotted key (letters, digits, `_`, `-` and dots only)"))
            }
        })
        .collect()
}

/// A value as YAML (numbers, bools, null, flow lists and maps), or the raw text if it is not valid YAML.
pub(crate) fn parse_value(raw: &str) -> Value {
    match serde_yaml::from_str::<Value>(raw) {
        // Tags (`!foo`) have no meaning in the schema; the user most likely meant the text.
        Ok(Value::Tagged(_)) | Err(_) => Value::String(raw.to_string()),
        Ok(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> BTreeSet<String> {
        ["data".to_string(), "experiment".to_string()].into()
    }

    fn set(path: &[&str], value: Value, origin: Origin) -> Change {
        Change::Set { path: path.iter().map(|s| s.to_string()).collect(), value, origin }
    }

    fn arg(a: &str) -> Origin {
        Origin::Arg(a.to_string())
    }

    #[test]
    fn group_selection_and_dotted_keys() {
        let g = groups();
        assert_eq!(
            parse_arg("data=mini", &g).unwrap(),
            Change::Select { group: "data".into(), option: "mini".into(), origin: arg("data=mini") }
        );
        assert_eq!(
            parse_arg("data.max_samples=20000", &g).unwrap(),
            set(&["data", "max_samples"], Value::from(20000u64), arg("data.max_samples=20000"))
        );
        assert_eq!(parse_arg("seed=7", &g).unwrap(), set(&["seed"], Value::from(7u64), arg("seed=7")));
        assert_eq!(
            parse_arg("+run.name=x", &g).unwrap(),
            set(&["run", "name"], Value::from("x"), arg("+run.name=x"))
        );
    }

    #[test]
    fn values_are_yaml_scalars_or_text() {
        assert_eq!(parse_value("5"), Value::from(5u64));
        assert_eq!(parse_value("-2"), Value::from(-2i64));
        assert_eq!(parse_value("0.25"), Value::from(0.25));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("null"), Value::Null);
        assert_eq!(parse_value(""), Value::Null);
        assert_eq!(parse_value("abc"), Value::from("abc"));
        assert_eq!(parse_value("'5'"), Value::from("5"));
        assert_eq!(parse_value("[1,2]"), Value::Sequence(vec![Value::from(1u64), Value::from(2u64)]));
        assert_eq!(parse_value("{title} [SEP] {abstract}"), Value::from("{title} [SEP] {abstract}"));
        assert_eq!(parse_value("!tag x"), Value::from("!tag x"));
    }

    #[test]
    fn malformed_overrides_are_errors() {
        let g = groups();
        for (arg, needle) in [
            ("data", "expected `group=option`"),
            ("=5", "empty"),
            ("data..max_samples=5", "empty segment"),
            ("data max=5", "not a dotted key"),
        ] {
            let err = parse_arg(arg, &g).unwrap_err().to_string();
            assert!(err.contains(&format!("malformed override `{arg}`")) && err.contains(needle), "{err}");
        }
    }

    #[test]
    fn env_names_map_to_keys() {
        let g = groups();
        assert_eq!(
            parse_env("ARXIV_ATLAS_DATA__MAX_SAMPLES", "100", &g).unwrap().unwrap(),
            set(
                &["data", "max_samples"],
                Value::from(100u64),
                Origin::Env("ARXIV_ATLAS_DATA__MAX_SAMPLES".into())
            )
        );
        assert!(matches!(
            parse_env("ARXIV_ATLAS_EXPERIMENT", "tfidf_linear", &g).unwrap().unwrap(),
            Change::Select { ref group, .. } if group == "experiment"
        ));
        assert!(parse_env("HOME", "/root", &g).is_none());
        for reserved in RESERVED_ENV_VARS {
            assert!(parse_env(reserved, "x", &g).is_none(), "{reserved}");
        }
        let err = parse_env("ARXIV_ATLAS_DATA____X", "1", &g).unwrap().unwrap_err().to_string();
        assert!(err.contains("ARXIV_ATLAS_DATA____X=1"), "{err}");
    }
}
