//! Models named by a Hugging Face id (`sentence-transformers/all-MiniLM-L6-v2`), fetched into — or, offline,
//! found in — the standard Hugging Face cache (`$HF_HOME/hub`, default `~/.cache/huggingface/hub`), so a
//! model downloaded by Python's `huggingface_hub` is reused as is and vice versa.
//!
//! Only the files a sentence-transformers folder needs are fetched (never the whole repo: many model repos
//! also carry PyTorch, TensorFlow and several ONNX copies of the weights). With `HF_HUB_OFFLINE=1`, or when the
//! network fails, the cache alone answers, and a missing file is reported with the id and the cache folder.

use std::path::{Path, PathBuf};

use crate::error::EncoderError;

/// Files every sentence-transformers model needs.
const REQUIRED: &[&str] = &["config.json", "tokenizer.json", "model.safetensors"];
/// Files used when present (their absence changes behaviour in a defined way; see [`crate::ModelFolder`]).
const OPTIONAL: &[&str] =
    &["modules.json", "sentence_bert_config.json", "tokenizer_config.json", "special_tokens_map.json"];
/// The quantized graph `--precision int8` uses.
const INT8_GRAPH: &str = "onnx/model_qint8_avx2.onnx";

/// A model reference: a local folder, or a Hugging Face repo id with an optional `@revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A folder on disk.
    Local(PathBuf),
    /// A Hugging Face model repo.
    Hub {
        /// `owner/name`.
        repo: String,
        /// Branch, tag or commit (`main` when not given).
        revision: String,
    },
}

impl ModelRef {
    /// Reads what a user typed: an existing path wins; `owner/name[@rev]` that is not a path is a hub id.
    pub fn parse(spec: &str) -> Self {
        let path = Path::new(spec);
        if path.exists() || spec.starts_with('.') || spec.starts_with('/') || spec.matches('/').count() != 1 {
            return Self::Local(path.to_path_buf());
        }
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev),
            _ => (spec.trim_end_matches('@'), "main"),
        };
        Self::Hub { repo: repo.to_owned(), revision: revision.to_owned() }
    }
}

/// Whether `HF_HUB_OFFLINE` asks for cache-only operation (the same rule as `huggingface_hub`).
pub fn offline_requested() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| offline_value(&v))
}

/// Whether a value of `HF_HUB_OFFLINE` means "offline" (`1`, `true`, `yes`, `ON`, as `huggingface_hub` reads it).
pub fn offline_value(value: &str) -> bool {
    matches!(value.trim(), "1" | "true" | "TRUE" | "True" | "yes" | "ON")
}

/// The Hugging Face cache in use: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
pub fn hub_cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    cache_dir_from(var("HF_HUB_CACHE"), var("HF_HOME"), var("HOME"))
}

/// [`hub_cache_dir`] for given values of `HF_HUB_CACHE`, `HF_HOME` and `HOME` (empty values count as unset).
pub fn cache_dir_from(
    hf_hub_cache: Option<PathBuf>,
    hf_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    let set = |v: Option<PathBuf>| v.filter(|p| !p.as_os_str().is_empty());
    if let Some(d) = set(hf_hub_cache) {
        return d;
    }
    if let Some(d) = set(hf_home) {
        return d.join("hub");
    }
    set(home).unwrap_or_default().join(".cache").join("huggingface").join("hub")
}

/// The snapshot folder of `repo` at `revision` in the Hugging Face cache `cache_dir` when every file a
/// sentence-transformers folder needs is cached there (what an offline [`resolve_model`] would find), else
/// `None`. Nothing is downloaded.
pub fn cached_model(cache_dir: &Path, repo: &str, revision: &str) -> Option<PathBuf> {
    let cached = hf_hub::Cache::new(cache_dir.to_path_buf()).repo(hf_hub::Repo::with_revision(
        repo.to_owned(),
        hf_hub::RepoType::Model,
        revision.to_owned(),
    ));
    let mut snapshot = None;
    for name in REQUIRED {
        let file = cached.get(name)?;
        snapshot.get_or_insert_with(|| file.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    snapshot
}

/// Turns a model reference into a local folder: local paths are returned unchanged; hub ids are fetched
/// (or, offline, looked up) and the snapshot folder is returned. `with_int8` also fetches the int8 ONNX graph.
pub fn resolve_model(spec: &ModelRef, with_int8: bool) -> Result<PathBuf, EncoderError> {
    match spec {
        ModelRef::Local(p) => Ok(p.clone()),
        ModelRef::Hub { repo, revision } => fetch(repo, revision, with_int8),
    }
}

fn hub_error(repo: &str, message: String) -> EncoderError {
    EncoderError::Hub { repo: repo.to_owned(), message }
}

fn fetch(repo: &str, revision: &str, with_int8: bool) -> Result<PathBuf, EncoderError> {
    let cache = hf_hub::Cache::new(hub_cache_dir());
    let cached = cache.repo(hf_hub::Repo::with_revision(
        repo.to_owned(),
        hf_hub::RepoType::Model,
        revision.to_owned(),
    ));
    let offline = offline_requested();
    let api = if offline {
        None
    } else {
        match hf_hub::api::sync::ApiBuilder::from_cache(cache.clone()).with_progress(true).build() {
            Ok(api) => Some(api.repo(hf_hub::Repo::with_revision(
                repo.to_owned(),
                hf_hub::RepoType::Model,
                revision.to_owned(),
            ))),
            Err(e) => {
                tracing::warn!("Hugging Face client unavailable ({e}); using the local cache only");
                None
            }
        }
    };
    // One file: from the network when allowed (the client itself skips files already cached), else the cache.
    let get = |name: &str, required: bool| -> Result<Option<PathBuf>, EncoderError> {
        if let Some(api) = &api {
            match api.get(name) {
                Ok(p) => return Ok(Some(p)),
                Err(e) => {
                    if let Some(p) = cached.get(name) {
                        tracing::warn!("{repo}/{name}: download failed ({e}); using the cached copy");
                        return Ok(Some(p));
                    }
                    if required {
                        return Err(hub_error(repo, format!("{name}: {e}")));
                    }
                    return Ok(None);
                }
            }
        }
        match cached.get(name) {
            Some(p) => Ok(Some(p)),
            None if required => Err(hub_error(
                repo,
                format!(
                    "{name} is not in the Hugging Face cache {} (revision {revision}) and downloads are {}; \
                     fetch it once where there is a network (the same command without HF_HUB_OFFLINE) and copy \
                     that cache folder here (docs/data.md)",
                    hub_cache_dir().display(),
                    if offline { "off (HF_HUB_OFFLINE)" } else { "unavailable" }
                ),
            )),
            None => Ok(None),
        }
    };
    let mut snapshot = None;
    for name in REQUIRED {
        let p = get(name, true)?.ok_or_else(|| hub_error(repo, format!("{name}: not found")))?;
        snapshot.get_or_insert_with(|| p.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    let modules = get("modules.json", false)?;
    for name in &OPTIONAL[1..] {
        get(name, false)?;
    }
    // The Pooling module's folder is named in modules.json (usually `1_Pooling`).
    if let Some(modules) = modules {
        let raw =
            std::fs::read(&modules).map_err(|source| EncoderError::Io { path: modules.clone(), source })?;
        let list: Vec<serde_json::Value> = serde_json::from_slice(&raw)
            .map_err(|source| EncoderError::Json { path: modules.clone(), source })?;
        for m in list {
            let ty = m.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let path = m.get("path").and_then(|t| t.as_str()).unwrap_or_default();
            if ty.ends_with("Pooling") && !path.is_empty() {
                get(&format!("{path}/config.json"), true)?;
            }
        }
    }
    if with_int8 {
        get(INT8_GRAPH, false)?;
    }
    snapshot.ok_or_else(|| hub_error(repo, "no files resolved".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_folder_rule_and_cached_lookup() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(cache_dir_from(p("/c"), p("/h"), p("/home")), PathBuf::from("/c"));
        assert_eq!(cache_dir_from(p(""), p("/h"), p("/home")), PathBuf::from("/h/hub"));
        assert_eq!(cache_dir_from(None, None, p("/home")), PathBuf::from("/home/.cache/huggingface/hub"));
        assert!(offline_value(" 1") && offline_value("ON") && !offline_value("0") && !offline_value(""));

        // The layout huggingface_hub writes: refs/<revision> names the commit, snapshots/<commit>/ the files.
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--owner--name");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
        let snap = repo.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        for f in &REQUIRED[..2] {
            std::fs::write(snap.join(f), "{}").unwrap();
        }
        assert_eq!(cached_model(cache.path(), "owner/name", "main"), None, "model.safetensors is missing");
        std::fs::write(snap.join(REQUIRED[2]), "").unwrap();
        assert_eq!(cached_model(cache.path(), "owner/name", "main"), Some(snap));
        assert_eq!(cached_model(cache.path(), "owner/other", "main"), None);
    }

    #[test]
    fn parse_tells_paths_from_hub_ids() {
        assert_eq!(
            ModelRef::parse("sentence-transformers/all-MiniLM-L6-v2"),
            ModelRef::Hub { repo: "sentence-transformers/all-MiniLM-L6-v2".into(), revision: "main".into() }
        );
        assert_eq!(
            ModelRef::parse("allenai/scibert_scivocab_uncased@abc123"),
            ModelRef::Hub { repo: "allenai/scibert_scivocab_uncased".into(), revision: "abc123".into() }
        );
        assert_eq!(ModelRef::parse("./models/x"), ModelRef::Local("./models/x".into()));
        assert_eq!(ModelRef::parse("/abs/models"), ModelRef::Local("/abs/models".into()));
        assert_eq!(ModelRef::parse("models/a/b"), ModelRef::Local("models/a/b".into()));
    }
}
