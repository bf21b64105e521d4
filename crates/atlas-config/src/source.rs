//! Where configuration files come from: a folder on disk or the copy compiled into the binary.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// Environment variable naming the config folder (takes precedence over `./conf`).
pub const CONFIG_DIR_ENV: &str = "ARXIV_ATLAS_CONFIG_DIR";

/// Name of the primary config file inside a config folder.
pub const PRIMARY_FILE: &str = "config.yaml";

/// The repository's `conf/` folder, compiled in so the installed binary works from any directory.
/// A test checks that this list and the folder on disk hold exactly the same files.
const EMBEDDED: &[(&str, &str)] = &[
    ("config.yaml", include_str!("../../../conf/config.yaml")),
    ("data/arxiv100k.yaml", include_str!("../../../conf/data/arxiv100k.yaml")),
    ("data/mini.yaml", include_str!("../../../conf/data/mini.yaml")),
    ("experiment/contrastive.yaml", include_str!("../../../conf/experiment/contrastive.yaml")),
    ("experiment/embedding_lr.yaml", include_str!("../../../conf/experiment/embedding_lr.yaml")),
    ("experiment/embedding_mlp.yaml", include_str!("../../../conf/experiment/embedding_mlp.yaml")),
    ("experiment/ensemble.yaml", include_str!("../../../conf/experiment/ensemble.yaml")),
    (
        "experiment/finetune_classifier.yaml",
        include_str!("../../../conf/experiment/finetune_classifier.yaml"),
    ),
    ("experiment/tfidf_linear.yaml", include_str!("../../../conf/experiment/tfidf_linear.yaml")),
    ("experiment/tfidf_multilabel.yaml", include_str!("../../../conf/experiment/tfidf_multilabel.yaml")),
    ("finetune/adapter.yaml", include_str!("../../../conf/finetune/adapter.yaml")),
    ("finetune/cpu_60min.yaml", include_str!("../../../conf/finetune/cpu_60min.yaml")),
    ("tracker/local.yaml", include_str!("../../../conf/tracker/local.yaml")),
    ("tracker/mlflow.yaml", include_str!("../../../conf/tracker/mlflow.yaml")),
];

/// Where [`load`](crate::load) reads `config.yaml` and the group files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// A folder laid out like the repository's `conf/`.
    Dir(PathBuf),
    /// The repository's `conf/` as it was when the binary was built.
    Embedded,
}

impl ConfigSource {
    /// How a file of this source is named in messages: its path on disk, or `conf/<rel> (built in)`.
    pub(crate) fn label(&self, rel: &str) -> String {
        match self {
            ConfigSource::Dir(dir) => dir.join(rel).display().to_string(),
            ConfigSource::Embedded => format!("conf/{rel} (built in)"),
        }
    }

    /// The text of `rel` (a `/`-separated path inside the source), or `None` if there is no such file.
    pub(crate) fn read(&self, rel: &str) -> Result<Option<String>, ConfigError> {
        match self {
            ConfigSource::Dir(dir) => {
                let path = dir.join(rel);
                match fs::read_to_string(&path) {
                    Ok(text) => Ok(Some(text)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(ConfigError::Io { path, source }),
                }
            }
            ConfigSource::Embedded => {
                Ok(EMBEDDED.iter().find(|(name, _)| *name == rel).map(|(_, t)| t.to_string()))
            }
        }
    }

    /// Config groups: the sub-folders of the source, sorted.
    pub(crate) fn groups(&self) -> Result<Vec<String>, ConfigError> {
        let mut out: Vec<String> = match self {
            ConfigSource::Dir(dir) => {
                let entries = match fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(source) => return Err(ConfigError::Io { path: dir.clone(), source }),
                };
                let mut groups = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|source| ConfigError::Io { path: dir.clone(), source })?;
                    if entry.path().is_dir() {
                        if let Some(name) = entry.file_name().to_str() {
                            groups.push(name.to_string());
                        }
                    }
                }
                groups
            }
            ConfigSource::Embedded => EMBEDDED
                .iter()
                .filter_map(|(name, _)| name.split_once('/').map(|(g, _)| g.to_string()))
                .collect(),
        };
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The options of `group`: names of its `*.yaml` files without the extension, sorted.
    pub(crate) fn options(&self, group: &str) -> Result<Vec<String>, ConfigError> {
        let mut out: Vec<String> = match self {
            ConfigSource::Dir(dir) => {
                let gdir = dir.join(group);
                let entries = match fs::read_dir(&gdir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(source) => return Err(ConfigError::Io { path: gdir, source }),
                };
                let mut options = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(|source| ConfigError::Io { path: gdir.clone(), source })?;
                    let name = entry.file_name();
                    if let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".yaml")) {
                        if entry.path().is_file() {
                            options.push(stem.to_string());
                        }
                    }
                }
                options
            }
            ConfigSource::Embedded => EMBEDDED
                .iter()
                .filter_map(|(name, _)| name.strip_prefix(group)?.strip_prefix('/')?.strip_suffix(".yaml"))
                .filter(|stem| !stem.contains('/'))
                .map(str::to_string)
                .collect(),
        };
        out.sort();
        Ok(out)
    }
}

/// The config source a command uses when none is given: the folder named by `ARXIV_ATLAS_CONFIG_DIR` if set,
/// else `./conf` if it has a `config.yaml`, else the copy built into the binary.
pub fn default_source() -> ConfigSource {
    source_for(std::env::var_os(CONFIG_DIR_ENV), Path::new("conf"))
}

/// [`default_source`] with its inputs made explicit (testable without touching the process environment).
fn source_for(env_dir: Option<OsString>, local: &Path) -> ConfigSource {
    match env_dir {
        // An empty value is treated as unset, the usual shell convention for "no override".
        Some(dir) if !dir.is_empty() => ConfigSource::Dir(PathBuf::from(dir)),
        _ if local.join(PRIMARY_FILE).is_file() => ConfigSource::Dir(local.to_path_buf()),
        _ => ConfigSource::Embedded,
    }
}

/// The embedded files (`/`-separated path inside `conf/`, content), for tests comparing them with the folder.
#[cfg(test)]
pub(crate) fn embedded_files() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_conf() -> PathBuf {
        atlas_testkit::repo_root().join("conf")
    }

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            if entry.path().is_dir() {
                files_under(&entry.path(), &rel, out);
            } else if name.ends_with(".yaml") {
                out.push(rel);
            }
        }
    }

    #[test]
    fn embedded_copy_equals_conf_folder() {
        let mut on_disk = Vec::new();
        files_under(&repo_conf(), "", &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = embedded_files().iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "add new conf/ files to EMBEDDED in source.rs");
        for (name, text) in embedded_files() {
            let disk = fs::read_to_string(repo_conf().join(name)).unwrap();
            assert_eq!(*text, disk, "{name} differs from the embedded copy");
        }
    }

    #[test]
    fn both_sources_list_the_same_groups_and_options() {
        let dir = ConfigSource::Dir(repo_conf());
        let emb = ConfigSource::Embedded;
        assert_eq!(dir.groups().unwrap(), emb.groups().unwrap());
        assert_eq!(emb.groups().unwrap(), ["data", "experiment", "finetune", "tracker"]);
        for g in emb.groups().unwrap() {
            assert_eq!(dir.options(&g).unwrap(), emb.options(&g).unwrap(), "group {g}");
        }
        assert_eq!(emb.options("data").unwrap(), ["arxiv100k", "mini"]);
        assert!(emb.options("nope").unwrap().is_empty());
        assert_eq!(
            emb.read("experiment/tfidf_linear.yaml").unwrap(),
            dir.read("experiment/tfidf_linear.yaml").unwrap()
        );
        assert_eq!(emb.read("experiment/missing.yaml").unwrap(), None);
    }

    #[test]
    fn default_source_precedence() {
        let tmp = tempfile::tempdir().unwrap();
        let local = tmp.path().join("conf");
        // Nothing on disk, no variable: the built-in copy.
        assert_eq!(source_for(None, &local), ConfigSource::Embedded);
        assert_eq!(source_for(Some(OsString::new()), &local), ConfigSource::Embedded);
        // ./conf only counts when it has a config.yaml.
        fs::create_dir_all(&local).unwrap();
        assert_eq!(source_for(None, &local), ConfigSource::Embedded);
        fs::write(local.join(PRIMARY_FILE), "seed: 1\n").unwrap();
        assert_eq!(source_for(None, &local), ConfigSource::Dir(local.clone()));
        // The variable wins over ./conf.
        assert_eq!(source_for(Some("/elsewhere".into()), &local), ConfigSource::Dir("/elsewhere".into()));
    }
}
