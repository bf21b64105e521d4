//! The MLflow model registry: registering a run's model as a new version (with an alias such as `champion`),
//! and turning a `models:/NAME/VERSION` or `models:/NAME@ALIAS` URI back into a verified local model folder.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::{proxied_artifact_path, MlflowClient, MlflowError};
use super::push::{encode_path, PushedRun};
use crate::error::TrackError;
use crate::record::ARTIFACTS_DIR;
use atlas_artifact::{IoError, Manifest, MANIFEST_FILE};

/// Where a training run keeps its model, relative to the run's artifacts.
pub const MODEL_ARTIFACT: &str = "model";

/// The environment variable that names the tracking server for `models:/` URIs (MLflow's own name for it).
pub const TRACKING_URI_ENV: &str = "MLFLOW_TRACKING_URI";

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The registered model's name.
    pub name: String,
    /// The new version (MLflow numbers them 1, 2, …).
    pub version: String,
    /// Where the version's files are (`mlflow-artifacts:/…/artifacts/model`).
    pub source: String,
}

/// Registers the model of the pushed run in `run_dir` (`artifacts/model/`) as a new version of `name` (the
/// registered model is created when missing), and points `alias` at it.
pub fn register_model(
    client: &MlflowClient,
    pushed: &PushedRun,
    run_dir: &Path,
    name: &str,
    alias: Option<&str>,
) -> Result<Registered, TrackError> {
    if !run_dir.join(ARTIFACTS_DIR).join(MODEL_ARTIFACT).join(MANIFEST_FILE).is_file() {
        return Err(TrackError::Invalid {
            what: "run to register",
            reason: format!(
                "{} has no model ({ARTIFACTS_DIR}/{MODEL_ARTIFACT}/{MANIFEST_FILE})",
                run_dir.display()
            ),
        });
    }
    match client.post::<Value>("registered-models/create", &json!({ "name": name })) {
        Ok(_) => {}
        Err(e) if e.server_code() == Some("RESOURCE_ALREADY_EXISTS") => {}
        Err(e) => return Err(e.into()),
    }
    let source = format!("{}/{MODEL_ARTIFACT}", pushed.artifact_uri.trim_end_matches('/'));
    let created: Value = client
        .post("model-versions/create", &json!({ "name": name, "source": source, "run_id": pushed.run_id }))?;
    let version = version_field(client, "model-versions/create", &created)?;
    if let Some(alias) = alias {
        client.post::<Value>(
            "registered-models/alias",
            &json!({ "name": name, "alias": alias, "version": version }),
        )?;
    }
    Ok(Registered { name: name.to_string(), version, source })
}

/// `arxiv-atlas runs register`: registers the model of the run in `run_dir`, uploading the run to `experiment`
/// first when it is not on this server yet.
pub fn register_run(
    client: &MlflowClient,
    experiment: &str,
    run_dir: &Path,
    name: &str,
    alias: Option<&str>,
) -> Result<Registered, TrackError> {
    let pushed = match PushedRun::read(run_dir)? {
        Some(p) if p.tracking_uri == client.uri() => p,
        _ => super::push::push_run(client, experiment, run_dir)?,
    };
    register_model(client, &pushed, run_dir, name, alias)
}

fn version_field(client: &MlflowClient, endpoint: &str, v: &Value) -> Result<String, MlflowError> {
    v["model_version"]["version"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| client.bad(endpoint, format!("no model_version.version in {v}")))
}

/// A parsed `models:/` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    /// `models:/NAME/VERSION`.
    Version {
        /// Registered model name.
        name: String,
        /// Version number.
        version: String,
    },
    /// `models:/NAME@ALIAS`.
    Alias {
        /// Registered model name.
        name: String,
        /// Alias, e.g. `champion`.
        alias: String,
    },
}

impl ModelUri {
    /// Parses `models:/NAME/VERSION` or `models:/NAME@ALIAS`; `None` when `text` does not start with
    /// `models:/` (it is then a path); an error when it does but is malformed.
    pub fn parse(text: &str) -> Option<Result<ModelUri, MlflowError>> {
        let rest = text.strip_prefix("models:/")?;
        let bad = |reason: &str| MlflowError::InvalidUri {
            what: "model URI",
            uri: text.to_string(),
            reason: format!("{reason}; expected models:/NAME/VERSION or models:/NAME@ALIAS"),
        };
        let ok_name = |n: &str| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
        Some(if let Some((name, alias)) = rest.split_once('@') {
            if ok_name(name) && !alias.is_empty() && !alias.contains('/') {
                Ok(ModelUri::Alias { name: name.to_string(), alias: alias.to_string() })
            } else {
                Err(bad("a name and an alias are needed"))
            }
        } else {
            match rest.split_once('/') {
                Some((name, version)) if ok_name(name) && !version.is_empty() => {
                    if version.chars().all(|c| c.is_ascii_digit()) {
                        Ok(ModelUri::Version { name: name.to_string(), version: version.to_string() })
                    } else {
                        Err(bad(&format!("the version `{version}` is not a number")))
                    }
                }
                _ => Err(bad("a name and a version are needed")),
            }
        })
    }

    /// The registered model's name.
    pub fn name(&self) -> &str {
        match self {
            ModelUri::Version { name, .. } | ModelUri::Alias { name, .. } => name,
        }
    }
}

/// The model version a URI names now (an alias is looked up on the server): (version, source).
pub fn resolve_version(client: &MlflowClient, uri: &ModelUri) -> Result<(String, String), MlflowError> {
    let (endpoint, answer): (&str, Value) = match uri {
        ModelUri::Version { name, version } => {
            ("model-versions/get", client.get("model-versions/get", &[("name", name), ("version", version)])?)
        }
        ModelUri::Alias { name, alias } => (
            "registered-models/alias",
            client.get("registered-models/alias", &[("name", name), ("alias", alias)])?,
        ),
    };
    let version = version_field(client, endpoint, &answer)?;
    let source = answer["model_version"]["source"]
        .as_str()
        .ok_or_else(|| client.bad(endpoint, format!("no model_version.source in {answer}")))?;
    Ok((version, source.to_string()))
}

/// The local folder of the model `text` names: `text` itself for a path, or for a `models:/` URI the model
/// version downloaded from the registry into `<cache>/<name>/<version>/` and checked against the checksums of its
/// `manifest.json` (a cached copy that still passes is used without downloading it again). The server is
/// `$MLFLOW_TRACKING_URI`; the cache is `$ARXIV_ATLAS_CACHE_DIR/models`, else `~/.cache/arxiv-atlas/models`.
pub fn resolve_model_path(text: &Path) -> Result<PathBuf, MlflowError> {
    let Some(uri) = text.to_str().and_then(ModelUri::parse) else { return Ok(text.to_path_buf()) };
    let uri = uri?;
    let tracking = std::env::var(TRACKING_URI_ENV).unwrap_or_default();
    if tracking.trim().is_empty() {
        return Err(MlflowError::InvalidUri {
            what: "model URI",
            uri: text.display().to_string(),
            reason: format!("set {TRACKING_URI_ENV} to the MLflow server that holds the registry"),
        });
    }
    let client = MlflowClient::new(&tracking, super::client::DEFAULT_TIMEOUT)?;
    fetch_model(&client, &uri, &model_cache_dir())
}

/// `$ARXIV_ATLAS_CACHE_DIR/models`, else `~/.cache/arxiv-atlas/models` (else `.cache/arxiv-atlas/models`).
pub fn model_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ARXIV_ATLAS_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("models");
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).unwrap_or_default();
    home.join(".cache/arxiv-atlas/models")
}

/// Downloads the model version `uri` names into `<cache>/<name>/<version>/` (see [`resolve_model_path`]).
pub fn fetch_model(client: &MlflowClient, uri: &ModelUri, cache: &Path) -> Result<PathBuf, MlflowError> {
    let (version, source) = resolve_version(client, uri)?;
    let target = cache.join(uri.name()).join(&version);
    if verified(&target).is_ok() {
        tracing::info!("{} version {version}: using the cached copy in {}", uri.name(), target.display());
        return Ok(target);
    }
    let remote = proxied_artifact_path(&source).ok_or_else(|| MlflowError::InvalidUri {
        what: "model version source",
        uri: source.clone(),
        reason: "not an artifact the tracking server serves (mlflow-artifacts:/…)".into(),
    })?;
    let parent = cache.join(uri.name());
    fs::create_dir_all(&parent).map_err(|e| IoError::new("create folder", &parent, e))?;
    // Downloaded beside the target and renamed into place once verified: a reader never sees half a model.
    let partial = parent.join(format!(".{version}.partial-{}", std::process::id()));
    remove_dir(&partial)?;
    let result = download_dir(client, &remote, &partial).and_then(|()| verified(&partial));
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&partial);
        return Err(e);
    }
    // Another process may have put a good copy there meanwhile (two servers starting at once): keep that one
    // rather than pull it from under its reader.
    if verified(&target).is_ok() {
        remove_dir(&partial)?;
        return Ok(target);
    }
    remove_dir(&target)?;
    fs::rename(&partial, &target).map_err(|e| IoError::new("rename into place", &target, e))?;
    tracing::info!("{} version {version} downloaded to {}", uri.name(), target.display());
    Ok(target)
}

/// Checks a model folder against its own manifest (every file's size and SHA-256).
fn verified(dir: &Path) -> Result<(), MlflowError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = fs::read(&path).map_err(|e| IoError::new("read", &path, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|source| atlas_artifact::ArtifactError::BadManifest { path: path.clone(), source })?;
    manifest.verify(dir)?;
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), MlflowError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new("remove", dir, e).into()),
    }
}

/// Downloads the artifact folder `remote` into `local`, checking each file's size against the listing.
fn download_dir(client: &MlflowClient, remote: &str, local: &Path) -> Result<(), MlflowError> {
    fs::create_dir_all(local).map_err(|e| IoError::new("create folder", local, e))?;
    let entries = client.list_artifacts(remote)?;
    if entries.is_empty() {
        return Err(client
            .bad("mlflow-artifacts/artifacts", format!("the artifact folder {remote} is empty or missing")));
    }
    for entry in entries {
        // The listing names entries relative to the listed folder; never let one climb out of it.
        let name = entry.path.rsplit('/').next().unwrap_or_default();
        if name.is_empty() || name == "." || name == ".." {
            return Err(
                client.bad("mlflow-artifacts/artifacts", format!("bad entry `{}` in {remote}", entry.path))
            );
        }
        let (remote_child, local_child) = (format!("{remote}/{name}"), local.join(name));
        if entry.is_dir {
            download_dir(client, &remote_child, &local_child)?;
            continue;
        }
        let got = client.download_artifact(&encode_path(&remote_child), &local_child)?;
        if let Some(size) = entry.file_size.filter(|&s| s != got) {
            return Err(client.bad(
                "mlflow-artifacts/artifacts",
                format!("{remote_child}: got {got} bytes, the listing says {size}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris_parse() {
        assert_eq!(
            ModelUri::parse("models:/arxiv@champion").unwrap().unwrap(),
            ModelUri::Alias { name: "arxiv".into(), alias: "champion".into() }
        );
        assert_eq!(
            ModelUri::parse("models:/arxiv/3").unwrap().unwrap(),
            ModelUri::Version { name: "arxiv".into(), version: "3".into() }
        );
        assert!(ModelUri::parse("runs/x").is_none());
        for bad in ["models:/arxiv", "models:/arxiv/latest", "models:/@a", "models:/x@", "models://3"] {
            let err = ModelUri::parse(bad).unwrap().unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("models:/NAME/VERSION"), "{err}");
        }
    }

    #[test]
    fn a_path_resolves_to_itself() {
        assert_eq!(resolve_model_path(Path::new("runs/r1")).unwrap(), PathBuf::from("runs/r1"));
    }
}
