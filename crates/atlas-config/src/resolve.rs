//! Loading: primary file → group files → command-line overrides → environment, then the schema check.

use std::collections::{BTreeMap, BTreeSet};

use figment::error::Kind;
use figment::providers::Serialized;
use figment::Figment;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use crate::args::{self, Change, Origin};
use crate::error::ConfigError;
use crate::schema::{self, AtlasConfig};
use crate::source::{ConfigSource, PRIMARY_FILE};
use crate::suggest;
use crate::tree::Tree;

/// A configuration together with how it was put together.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedConfig {
    /// The validated configuration.
    pub config: AtlasConfig,
    /// The option chosen for each config group (`data` → `mini`, `experiment` → `tfidf_linear`).
    pub groups: BTreeMap<String, String>,
    /// The command-line arguments as given, then the config environment variables as `NAME=value`.
    pub overrides: Vec<String>,
}

impl ResolvedConfig {
    /// The fully resolved configuration as YAML: what a run saves as `config.resolved.yaml`. Comment lines at
    /// the top record the group choices and overrides; the body parses back into the same [`AtlasConfig`]
    /// (see [`AtlasConfig::from_yaml`]), so a saved config re-runs the experiment exactly.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("# Complete configuration of this run, as resolved by arxiv-atlas.\n");
        let groups: Vec<String> = self.groups.iter().map(|(g, o)| format!("{g}={o}")).collect();
        out.push_str(&format!("# groups: {}\n", groups.join(" ")));
        for o in &self.overrides {
            // `{:?}` keeps a value with a newline on its comment line.
            out.push_str(&format!("# override: {o:?}\n"));
        }
        match serde_yaml::to_string(&self.config) {
            Ok(body) => out.push_str(&body),
            // Only a non-UTF-8 path could fail, and paths here come from UTF-8 YAML or arguments.
            Err(e) => out.push_str(&format!("# the configuration could not be written as YAML: {e}\n")),
        }
        out
    }
}

impl AtlasConfig {
    /// Parses a complete configuration (e.g. a run's `config.resolved.yaml`) with the same key-naming errors as
    /// [`load`]. `what` names the text in messages (usually its file path).
    pub fn from_yaml(text: &str, what: &str) -> Result<AtlasConfig, ConfigError> {
        let value = parse_yaml(text, what)?;
        let mut tree = Tree::default();
        tree.merge_at(&[], value, what)
            .map_err(|message| ConfigError::BadFile { file: what.into(), message })?;
        extract(&tree)
    }
}

/// Loads the configuration from `source`, applying `args` (command-line overrides) and `env` (the process
/// environment, or any list of variables: only `ARXIV_ATLAS_*` names that are not reserved are used).
///
/// Merge order, later wins: `config.yaml`, the selected group files, dotted overrides in argument order, then
/// environment variables (sorted by name). Group choices follow the same order: the `defaults:` list, then
/// `group=option` arguments, then `ARXIV_ATLAS_<GROUP>` variables.
pub fn load(
    source: &ConfigSource,
    args: &[String],
    env: &[(String, String)],
) -> Result<ResolvedConfig, ConfigError> {
    let primary_label = source.label(PRIMARY_FILE);
    let text = source.read(PRIMARY_FILE)?.ok_or_else(|| match source {
        ConfigSource::Dir(dir) => ConfigError::MissingPrimary { dir: dir.clone() },
        ConfigSource::Embedded => {
            ConfigError::BadFile { file: primary_label.clone(), message: "missing from this build".into() }
        }
    })?;
    let mut primary = match parse_yaml(&text, &primary_label)? {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => return Err(bad(&primary_label, "expected a mapping of keys at the top level")),
    };
    let defaults = take_defaults(&mut primary, &primary_label)?;

    let mut groups: BTreeSet<String> = source.groups()?.into_iter().collect();
    groups.extend(defaults.iter().map(|(g, _)| g.clone()));

    let cli: Vec<Change> = args.iter().map(|a| args::parse_arg(a, &groups)).collect::<Result<_, _>>()?;
    // Environment order is arbitrary, so sort for a deterministic result (a stable sort keeps the given
    // order of duplicate names, of which the last wins).
    let mut env_vars: Vec<&(String, String)> = env.iter().collect();
    env_vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut env_changes = Vec::new();
    let mut env_overrides = Vec::new();
    for (name, value) in env_vars {
        if let Some(change) = args::parse_env(name, value, &groups) {
            env_changes.push(change?);
            env_overrides.push(format!("{name}={value}"));
        }
    }

    // Group choices, in the order the defaults list gives (new groups after it, in order of appearance),
    // each with who chose it. A command-line choice needs no origin: the error quotes the argument itself.
    let mut choices: Vec<(String, String, Option<String>)> = defaults
        .into_iter()
        .map(|(g, o)| (g, o, Some(format!("the defaults list of {primary_label}"))))
        .collect();
    for change in cli.iter().chain(&env_changes) {
        if let Change::Select { group, option, origin } = change {
            let origin = matches!(origin, Origin::Env(_)).then(|| origin.to_string());
            match choices.iter_mut().find(|(g, _, _)| g == group) {
                Some(slot) => *slot = (group.clone(), option.clone(), origin),
                None => choices.push((group.clone(), option.clone(), origin)),
            }
        }
    }

    let mut tree = Tree::default();
    tree.merge_at(&[], Value::Mapping(primary), &primary_label).map_err(|m| bad(&primary_label, &m))?;
    for (group, option, origin) in &choices {
        let rel = format!("{group}/{option}.yaml");
        let label = source.label(&rel);
        let available = source.options(group)?;
        // Only names listed in the group folder are opened, which also keeps `data=../x` from reading
        // files outside the config folder.
        let text = if available.contains(option) { source.read(&rel)? } else { None };
        let Some(text) = text else {
            return Err(ConfigError::UnknownOption {
                group: group.clone(),
                option: option.clone(),
                looked_for: label,
                available,
                origin: origin.clone(),
            });
        };
        let value = parse_yaml(&text, &label)?;
        if !matches!(value, Value::Mapping(_) | Value::Null) {
            return Err(bad(&label, &format!("expected the keys of `{group}` as a mapping")));
        }
        tree.merge_at(std::slice::from_ref(group), value, &label).map_err(|m| bad(&label, &m))?;
    }
    for change in cli.iter().chain(&env_changes) {
        if let Change::Set { path, value, origin } = change {
            tree.merge_at(path, value.clone(), &origin.to_string()).map_err(|reason| {
                ConfigError::MalformedOverride { arg: origin.as_given().to_string(), reason }
            })?;
        }
    }

    let config = extract(&tree)?;
    let mut overrides = args.to_vec();
    overrides.extend(env_overrides);
    Ok(ResolvedConfig { config, groups: choices.into_iter().map(|(g, o, _)| (g, o)).collect(), overrides })
}

/// [`load`] as a command line does it: the folder `config_dir` (else [`crate::default_source`]), the
/// command-line `overrides`, and this process's `ARXIV_ATLAS_*` environment variables.
pub fn load_for_process(
    config_dir: Option<&std::path::Path>,
    overrides: &[String],
) -> Result<ResolvedConfig, ConfigError> {
    let source = match config_dir {
        Some(d) => ConfigSource::Dir(d.to_path_buf()),
        None => crate::default_source(),
    };
    let env: Vec<(String, String)> =
        std::env::vars().filter(|(k, _)| k.starts_with(args::ENV_PREFIX)).collect();
    load(&source, overrides, &env)
}

fn bad(file: &str, message: &str) -> ConfigError {
    ConfigError::BadFile { file: file.to_string(), message: message.to_string() }
}

fn parse_yaml(text: &str, label: &str) -> Result<Value, ConfigError> {
    serde_yaml::from_str(text).map_err(|source| ConfigError::Yaml { file: label.to_string(), source })
}

/// Removes the `defaults:` list from the primary file and returns its `(group, option)` pairs.
fn take_defaults(primary: &mut Mapping, label: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(list) = primary.remove("defaults") else {
        return Ok(Vec::new());
    };
    let shape = "`defaults:` must be a list of `- group: option` entries";
    let Value::Sequence(items) = list else {
        return Err(bad(label, shape));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for item in items {
        match item {
            // Hydra's `_self_` marks where the primary file merges; here it always merges first.
            Value::String(s) if s == "_self_" => {}
            Value::Mapping(m) if m.len() == 1 => {
                let (g, o) = m.into_iter().next().ok_or_else(|| bad(label, shape))?;
                let (Value::String(g), Value::String(o)) = (g, o) else {
                    return Err(bad(label, shape));
                };
                if out.iter().any(|(seen, _)| *seen == g) {
                    return Err(bad(label, &format!("`defaults:` lists group `{g}` twice")));
                }
                out.push((g, o));
            }
            _ => return Err(bad(label, shape)),
        }
    }
    Ok(out)
}

/// Checks the merged tree against the schema, turning the first problem into an error that names the key.
fn extract<T: DeserializeOwned>(tree: &Tree) -> Result<T, ConfigError> {
    Figment::from(Serialized::defaults(tree.root())).extract::<T>().map_err(|e| translate(e, tree))
}

fn translate(err: figment::Error, tree: &Tree) -> ConfigError {
    let key = err.path.join(".");
    match &err.kind {
        // figment's path already ends with the unknown field itself.
        Kind::UnknownField(field, expected) => {
            let parent = key.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
            let join =
                |name: &str| if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") };
            let suggestion = suggest::closest(field, expected.iter().copied())
                .map(join)
                .or_else(|| suggest_elsewhere(field));
            ConfigError::UnknownKey { origin: tree.origin_of(&key), key, suggestion }
        }
        Kind::MissingField(field) => ConfigError::MissingKey {
            key: if key.is_empty() { field.to_string() } else { format!("{key}.{field}") },
        },
        kind => ConfigError::InvalidValue {
            origin: tree.origin_of(&key),
            key: if key.is_empty() { "(top level)".to_string() } else { key },
            message: kind.to_string(),
        },
    }
}

/// A key or section that exists at another level with (nearly) the same last segment, e.g. `epochs` →
/// `experiment.linear.epochs`.
fn suggest_elsewhere(field: &str) -> Option<String> {
    // Sections count too, so `linear.epochs=5` suggests `experiment.linear`.
    let mut paths: Vec<String> = Vec::new();
    for leaf in schema::key_paths() {
        let mut prefix = String::new();
        for seg in leaf.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
            }
            prefix.push_str(seg);
            if !paths.contains(&prefix) {
                paths.push(prefix.clone());
            }
        }
    }
    let last = |p: &String| p.rsplit('.').next().unwrap_or(p).to_string();
    let lasts: Vec<String> = paths.iter().map(last).collect();
    let hit = suggest::closest(field, lasts.iter().map(String::as_str))?;
    paths.into_iter().find(|p| last(p) == hit)
}
