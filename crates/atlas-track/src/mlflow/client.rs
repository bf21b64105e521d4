//! A small blocking client for the parts of MLflow's REST API that arxiv-atlas uses: tracking
//! (`/api/2.0/mlflow/...`), the model registry, and proxied artifacts (`/api/2.0/mlflow-artifacts/...`, served by
//! `mlflow server --serve-artifacts`, the 3.x default).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use atlas_artifact::IoError;

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Default timeout of one request (connect, and each read/write of the body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why talking to the MLflow server failed.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// No connection (server down, wrong host or port, timeout).
    #[error("MLflow server {uri} is unreachable ({endpoint}): {reason}")]
    Unreachable {
        /// The tracking URI.
        uri: String,
        /// The endpoint called.
        endpoint: String,
        /// What the transport said.
        reason: String,
    },
    /// The server answered with an error; `message` is the server's own message.
    #[error("MLflow server {uri}: {endpoint} answered HTTP {status} {code}: {message}")]
    Server {
        /// The tracking URI.
        uri: String,
        /// The endpoint called.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// MLflow's `error_code` (`RESOURCE_DOES_NOT_EXIST` …), empty when the body had none.
        code: String,
        /// MLflow's `message`, or the body as text.
        message: String,
    },
    /// The server answered 2xx with a body this client does not understand.
    #[error("MLflow server {uri}: unexpected answer from {endpoint}: {reason}")]
    BadResponse {
        /// The tracking URI.
        uri: String,
        /// The endpoint called.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// A tracking URI or `models:/` URI that cannot be used.
    #[error("invalid {what} `{uri}`: {reason}")]
    InvalidUri {
        /// "tracking URI", "model URI" …
        what: &'static str,
        /// The URI as given.
        uri: String,
        /// Why.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// A downloaded model folder failed its checksum check, or could not be written.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
}

impl MlflowError {
    /// The MLflow `error_code` of a server error (`RESOURCE_ALREADY_EXISTS` …).
    pub fn server_code(&self) -> Option<&str> {
        match self {
            MlflowError::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server could not be reached at all (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, MlflowError::Unreachable { .. })
    }
}

/// A connection to one MLflow tracking server. Every request has a timeout.
#[derive(Debug, Clone)]
pub struct MlflowClient {
    base: String,
    agent: ureq::Agent,
}

impl MlflowClient {
    /// A client for the server at `uri` (`http://host:port`, optionally with a path prefix); every request gives
    /// up after `timeout` without progress.
    pub fn new(uri: &str, timeout: Duration) -> Result<Self, MlflowError> {
        let base = uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
            return Err(MlflowError::InvalidUri {
                what: "tracking URI",
                uri: uri.to_string(),
                reason:
                    "expected the HTTP address of an MLflow server, e.g. http://127.0.0.1:5000 (file stores \
                         and databricks URIs are not supported)"
                        .into(),
            });
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(timeout.min(Duration::from_secs(10)))
            .timeout_read(timeout)
            .timeout_write(timeout)
            .build();
        Ok(MlflowClient { base, agent })
    }

    /// The tracking URI this client talks to.
    pub fn uri(&self) -> &str {
        &self.base
    }

    /// `GET /api/2.0/mlflow/<endpoint>?<query>` → JSON.
    pub fn get<T: DeserializeOwned>(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<T, MlflowError> {
        let mut req = self.agent.get(&format!("{}/api/2.0/mlflow/{endpoint}", self.base));
        for (k, v) in query {
            req = req.query(k, v);
        }
        let resp = self.send(endpoint, req.call())?;
        self.parse(endpoint, resp)
    }

    /// `POST /api/2.0/mlflow/<endpoint>` with a JSON body → JSON.
    pub fn post<T: DeserializeOwned>(&self, endpoint: &str, body: &Value) -> Result<T, MlflowError> {
        let req = self.agent.post(&format!("{}/api/2.0/mlflow/{endpoint}", self.base));
        let resp = self.send(endpoint, req.send_json(body))?;
        self.parse(endpoint, resp)
    }

    /// `PUT` the bytes of one artifact file at `path` (relative to the server's artifact root).
    pub fn put_artifact(&self, path: &str, bytes: &[u8]) -> Result<(), MlflowError> {
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        let req = self.agent.put(&format!("{}/api/2.0/{endpoint}", self.base));
        self.send(&endpoint, req.send_bytes(bytes)).map(drop)
    }

    /// Lists the artifact folder `path`: (name, is folder, size).
    pub fn list_artifacts(&self, path: &str) -> Result<Vec<ArtifactEntry>, MlflowError> {
        let endpoint = "mlflow-artifacts/artifacts";
        let req = self.agent.get(&format!("{}/api/2.0/{endpoint}", self.base)).query("path", path);
        let resp = self.send(endpoint, req.call())?;
        let listing: Listing = self.parse(endpoint, resp)?;
        Ok(listing.files)
    }

    /// Downloads the artifact file at `path` into the file `dest` (streamed, not held in memory); returns its
    /// size in bytes.
    pub fn download_artifact(&self, path: &str, dest: &Path) -> Result<u64, MlflowError> {
        let endpoint = format!("mlflow-artifacts/artifacts/{path}");
        let req = self.agent.get(&format!("{}/api/2.0/{endpoint}", self.base));
        let resp = self.send(&endpoint, req.call())?;
        let mut file = std::fs::File::create(dest).map_err(|e| IoError::new("create", dest, e))?;
        // A read error is the connection's (a timeout, a reset), a write error the disk's: report each as such.
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| self.unreachable(&endpoint, e.to_string()))?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(|e| IoError::new("write", dest, e))?;
            total += n as u64;
        }
        file.flush().map_err(|e| IoError::new("write", dest, e))?;
        Ok(total)
    }

    fn send(
        &self,
        endpoint: &str,
        result: Result<ureq::Response, ureq::Error>,
    ) -> Result<ureq::Response, MlflowError> {
        match result {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(status, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                // MLflow answers errors as {"error_code": …, "message": …}; anything else is shown as it is.
                let parsed: Option<Value> = serde_json::from_str(&body).ok();
                let field = |k: &str| {
                    parsed.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string)
                };
                Err(MlflowError::Server {
                    uri: self.base.clone(),
                    endpoint: endpoint.to_string(),
                    status,
                    code: field("error_code").unwrap_or_default(),
                    message: field("message").unwrap_or_else(|| body.trim().chars().take(500).collect()),
                })
            }
            Err(ureq::Error::Transport(t)) => Err(self.unreachable(endpoint, t.to_string())),
        }
    }

    fn parse<T: DeserializeOwned>(&self, endpoint: &str, resp: ureq::Response) -> Result<T, MlflowError> {
        let text = resp.into_string().map_err(|e| self.unreachable(endpoint, e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| self.bad(endpoint, format!("{e}: {}", abbreviate(&text))))
    }

    fn unreachable(&self, endpoint: &str, reason: String) -> MlflowError {
        MlflowError::Unreachable { uri: self.base.clone(), endpoint: endpoint.to_string(), reason }
    }

    pub(crate) fn bad(&self, endpoint: &str, reason: String) -> MlflowError {
        MlflowError::BadResponse { uri: self.base.clone(), endpoint: endpoint.to_string(), reason }
    }
}

fn abbreviate(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

/// One entry of an artifact folder listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ArtifactEntry {
    /// Name inside the listed folder.
    pub path: String,
    /// Whether it is a folder.
    #[serde(default)]
    pub is_dir: bool,
    /// Size in bytes (files only).
    #[serde(default, deserialize_with = "size")]
    pub file_size: Option<u64>,
}

/// MLflow sends `file_size` as a number, some versions as a string.
fn size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::Deserialize;
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

#[derive(serde::Deserialize)]
struct Listing {
    #[serde(default)]
    files: Vec<ArtifactEntry>,
}

/// The path under the server's artifact root of a proxied artifact URI (`mlflow-artifacts:/1/<run>/artifacts`,
/// also `mlflow-artifacts://host:port/1/…`), or `None` for any other scheme (a run whose artifacts the server
/// does not proxy: S3, a local folder …).
pub fn proxied_artifact_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let rest = match rest.strip_prefix("//") {
        // `//host:port/path`: drop the authority.
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    Some(rest.trim_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_paths() {
        assert_eq!(
            proxied_artifact_path("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied_artifact_path("mlflow-artifacts://h:5000/1/abc/artifacts/model").as_deref(),
            Some("1/abc/artifacts/model")
        );
        assert_eq!(proxied_artifact_path("s3://bucket/1/abc"), None);
    }

    #[test]
    fn tracking_uri_must_be_http() {
        assert!(MlflowClient::new("http://127.0.0.1:5000/", DEFAULT_TIMEOUT).is_ok());
        assert_eq!(
            MlflowClient::new("http://127.0.0.1:5000/", DEFAULT_TIMEOUT).unwrap().uri(),
            "http://127.0.0.1:5000"
        );
        let err = MlflowClient::new("file:///tmp/mlruns", DEFAULT_TIMEOUT).unwrap_err().to_string();
        assert!(err.contains("file:///tmp/mlruns") && err.contains("http"), "{err}");
    }

    #[test]
    fn a_closed_port_is_unreachable_not_a_server_error() {
        // Port 1 on the loopback is closed on any machine these tests run on: the connection is refused at once.
        let c = MlflowClient::new("http://127.0.0.1:1", Duration::from_secs(2)).unwrap();
        let err = c.get::<Value>("experiments/search", &[]).unwrap_err();
        assert!(err.is_unreachable(), "{err}");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }
}
