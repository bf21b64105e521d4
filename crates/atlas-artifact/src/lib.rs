//! Atomic, checksummed artifact files.
//!
//! Every model, index or dataset folder arxiv-atlas writes is *self-describing*: a `manifest.json` names the
//! artifact kind, its format version and the SHA-256 and size of every file in the folder. Readers call
//! [`Manifest::open`] before trusting a byte, so a truncated copy, a bit flip or a folder written by a
//! different tool fails loudly with an error that names the file instead of producing garbage predictions.
//!
//! Files are written with [`write_atomic`] / [`write_atomic_with`]: a temporary file in the same directory,
//! flushed and `fsync`ed, then renamed over the target. A crash mid-write therefore leaves either the old
//! file or the new one, never half of one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest file inside every artifact folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Errors raised while writing or verifying artifacts.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// An I/O operation on `path` failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("write", "read", "rename" …).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The folder has no `manifest.json`: it is not an arxiv-atlas artifact (or an incomplete one).
    #[error("{dir} is not an arxiv-atlas artifact: no {MANIFEST_FILE} (expected a `{expected}` folder)")]
    MissingManifest {
        /// The folder that was opened.
        dir: PathBuf,
        /// The kind the caller wanted.
        expected: String,
    },
    /// The manifest could not be parsed.
    #[error("{path}: malformed manifest: {source}")]
    BadManifest {
        /// The manifest path.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The folder holds a different kind of artifact.
    #[error("{dir} holds a `{found}` artifact, expected `{expected}`")]
    WrongKind {
        /// The folder.
        dir: PathBuf,
        /// The kind the caller wanted.
        expected: String,
        /// The kind the manifest names.
        found: String,
    },
    /// The artifact was written by a newer (or unknown) format version.
    #[error("{dir}: `{kind}` format version {found} is not supported (this build reads up to {supported})")]
    UnsupportedVersion {
        /// The folder.
        dir: PathBuf,
        /// The artifact kind.
        kind: String,
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A file listed in the manifest is missing, has another size, or another checksum.
    #[error("{path}: {what} (the artifact is damaged or was modified after it was written)")]
    Corrupted {
        /// The damaged file.
        path: PathBuf,
        /// What did not match.
        what: String,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io { op, path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` atomically (temp file in the same folder + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Streams into `path` atomically: `fill` writes into a buffered temporary file that replaces `path` only
/// once `fill` succeeded and the data reached the disk. On error the temporary file is removed.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<(), ArtifactError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(io_err("create folder", &dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(io_err("create temporary file in", &dir))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w).map_err(io_err("write", path))?;
        w.flush().map_err(io_err("write", path))?;
    }
    // Temporary files are created 0600; artifacts are ordinary data files others on the machine may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).map_err(io_err("chmod", path))?;
    }
    tmp.as_file().sync_all().map_err(io_err("sync", path))?;
    tmp.persist(path).map_err(|e| ArtifactError::Io {
        op: "rename into",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Hex SHA-256 and byte length of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64), ArtifactError> {
    let f = File::open(path).map_err(io_err("open", path))?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(io_err("read", path))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Hex SHA-256 of a byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checksum entry of one file in a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// The `manifest.json` of an artifact folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// What the folder holds, e.g. `arxiv-atlas/tfidf-linear`.
    pub kind: String,
    /// Format version of that kind; readers refuse newer versions than they know.
    pub format_version: u32,
    /// Version of arxiv-atlas that wrote it.
    #[serde(default)]
    pub writer: String,
    /// Every file of the folder (relative name → checksum).
    pub files: BTreeMap<String, FileEntry>,
    /// Kind-specific metadata (labels, encoder hash, counts …).
    #[serde(default)]
    pub meta: serde_json::Value,
}

impl Manifest {
    /// A new, empty manifest for an artifact of `kind` at `format_version`.
    pub fn new(kind: impl Into<String>, format_version: u32) -> Self {
        Manifest {
            kind: kind.into(),
            format_version,
            writer: format!("arxiv-atlas {}", env!("CARGO_PKG_VERSION")),
            files: BTreeMap::new(),
            meta: serde_json::Value::Null,
        }
    }

    /// Records the checksum of `dir/name` (the file must already be written).
    pub fn add_file(&mut self, dir: &Path, name: &str) -> Result<&FileEntry, ArtifactError> {
        let (sha256, bytes) = sha256_file(&dir.join(name))?;
        self.files.insert(name.to_string(), FileEntry { sha256, bytes });
        Ok(&self.files[name])
    }

    /// Writes `dir/manifest.json` atomically. Write it last: its presence marks the folder complete.
    pub fn write(&self, dir: &Path) -> Result<(), ArtifactError> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| ArtifactError::BadManifest { path: dir.join(MANIFEST_FILE), source: e })?;
        write_atomic(&dir.join(MANIFEST_FILE), &json)
    }

    /// Reads `dir/manifest.json` and checks kind and version, without verifying file checksums.
    pub fn read(dir: &Path, expected_kind: &str, supported_version: u32) -> Result<Self, ArtifactError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ArtifactError::MissingManifest {
                    dir: dir.to_path_buf(),
                    expected: expected_kind.to_string(),
                })
            }
            Err(e) => return Err(ArtifactError::Io { op: "read", path, source: e }),
        };
        let m: Manifest =
            serde_json::from_slice(&bytes).map_err(|source| ArtifactError::BadManifest { path, source })?;
        if m.kind != expected_kind {
            return Err(ArtifactError::WrongKind {
                dir: dir.to_path_buf(),
                expected: expected_kind.to_string(),
                found: m.kind,
            });
        }
        if m.format_version > supported_version {
            return Err(ArtifactError::UnsupportedVersion {
                dir: dir.to_path_buf(),
                kind: m.kind,
                found: m.format_version,
                supported: supported_version,
            });
        }
        Ok(m)
    }

    /// [`Manifest::read`] followed by [`Manifest::verify`]: the way to open an artifact.
    pub fn open(dir: &Path, expected_kind: &str, supported_version: u32) -> Result<Self, ArtifactError> {
        let m = Self::read(dir, expected_kind, supported_version)?;
        m.verify(dir)?;
        Ok(m)
    }

    /// Checks that every listed file exists with the recorded size and SHA-256.
    pub fn verify(&self, dir: &Path) -> Result<(), ArtifactError> {
        for (name, entry) in &self.files {
            let path = dir.join(name);
            let len = match fs::metadata(&path) {
                Ok(md) => md.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(ArtifactError::Corrupted { path, what: "file is missing".into() })
                }
                Err(e) => return Err(ArtifactError::Io { op: "stat", path, source: e }),
            };
            if len != entry.bytes {
                return Err(ArtifactError::Corrupted {
                    path,
                    what: format!("size {len} bytes, manifest says {}", entry.bytes),
                });
            }
            let (sha, _) = sha256_file(&path)?;
            if sha != entry.sha256 {
                return Err(ArtifactError::Corrupted {
                    path,
                    what: format!("sha256 {sha}, manifest says {}", entry.sha256),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
        }
    }

    #[test]
    fn failed_fill_keeps_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
    }

    #[test]
    fn manifest_round_trip_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("w.bin"), &[1, 2, 3, 4]).unwrap();
        let mut m = Manifest::new("arxiv-atlas/test", 1);
        m.add_file(dir.path(), "w.bin").unwrap();
        m.meta = serde_json::json!({"labels": ["a", "b"]});
        m.write(dir.path()).unwrap();
        let back = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap();
        assert_eq!(back.files, m.files);
        assert_eq!(back.meta["labels"][1], "b");

        // Same size, one byte flipped: checksum mismatch names the file.
        fs::write(dir.path().join("w.bin"), [1, 2, 3, 5]).unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err().to_string();
        assert!(err.contains("w.bin") && err.contains("sha256"), "{err}");
        // Truncated.
        fs::write(dir.path().join("w.bin"), [1, 2]).unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err().to_string();
        assert!(err.contains("size 2 bytes"), "{err}");
    }

    #[test]
    fn foreign_or_newer_artifacts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err();
        assert!(matches!(err, ArtifactError::MissingManifest { .. }));
        Manifest::new("arxiv-atlas/other", 1).write(dir.path()).unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err();
        assert!(matches!(err, ArtifactError::WrongKind { .. }), "{err}");
        Manifest::new("arxiv-atlas/test", 7).write(dir.path()).unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err();
        assert!(matches!(err, ArtifactError::UnsupportedVersion { found: 7, .. }), "{err}");
        fs::write(dir.path().join(MANIFEST_FILE), b"{not json").unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err();
        assert!(matches!(err, ArtifactError::BadManifest { .. }), "{err}");
    }
}
