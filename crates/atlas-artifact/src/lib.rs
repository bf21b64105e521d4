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
//!
//! A writer calls [`Manifest::begin_write`], writes its files, then [`Manifest::seal`]; a reader calls
//! [`Manifest::open`], then [`Manifest::require_files`] and [`Manifest::meta_as`] for its kind's metadata.
//! [`IoError`] is the one "operation, path, cause" error that the library crates wrap their I/O failures in.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest file inside every artifact folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Errors raised while writing or verifying artifacts.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// An I/O operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
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
    /// The manifest passed its checks but its `meta` does not have the shape the kind's reader expects, or
    /// it does not list a file the kind needs.
    #[error("{path}: {message}")]
    BadMeta {
        /// The manifest path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// An I/O operation on a file or folder failed: what was being done, to which path, and why.
///
/// The library crates wrap every `std::io::Error` they return in this type (usually through
/// [`IoContext::io_context`]), so a message read in a log names the operation and the path on its own.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct IoError {
    /// What was being done ("read", "create folder", "rename into" …).
    pub op: &'static str,
    /// The file or folder concerned.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl IoError {
    /// An error of operation `op` on `path`.
    pub fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError { op, path: path.into(), source }
    }

    /// A closure that wraps an [`io::Error`] with `op` and `path`, for `map_err`.
    pub fn with<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> IoError + 'a {
        move |source| IoError::new(op, path, source)
    }
}

/// Adds the operation and path to the error of an I/O result: `fs::read(&p).io_context("read", &p)?`.
pub trait IoContext<T> {
    /// `Err(e)` becomes `Err(IoError { op, path, source: e })`.
    fn io_context(self, op: &'static str, path: &Path) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn io_context(self, op: &'static str, path: &Path) -> Result<T, IoError> {
        self.map_err(IoError::with(op, path))
    }
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
    fs::create_dir_all(&dir).io_context("create folder", &dir)?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .io_context("create temporary file in", &dir)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        fill(&mut w).io_context("write", path)?;
        w.flush().io_context("write", path)?;
    }
    // Temporary files are created 0600; artifacts are ordinary data files others on the machine may read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644)).io_context("chmod", path)?;
    }
    tmp.as_file().sync_all().io_context("sync", path)?;
    tmp.persist(path).map_err(|e| IoError::new("rename into", path, e.error))?;
    Ok(())
}

/// Hex SHA-256 and byte length of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64), ArtifactError> {
    let f = File::open(path).io_context("open", path)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).io_context("read", path)?;
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

    /// Prepares `dir` for writing an artifact into it: creates the folder and removes an old manifest, so
    /// that a folder being overwritten never pairs the old manifest with new files (an interrupted write
    /// then leaves a folder that [`Manifest::open`] refuses). Other files are left alone.
    pub fn begin_write(dir: &Path) -> Result<(), ArtifactError> {
        fs::create_dir_all(dir).io_context("create folder", dir)?;
        let path = dir.join(MANIFEST_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(IoError::new("remove", path, e).into()),
        }
    }

    /// Seals an artifact folder whose `files` are written: records their checksums and `meta`, and writes
    /// the manifest last. Returns the manifest written.
    pub fn seal<M: Serialize + ?Sized>(
        dir: &Path,
        kind: &str,
        format_version: u32,
        files: &[&str],
        meta: &M,
    ) -> Result<Manifest, ArtifactError> {
        let mut manifest = Manifest::new(kind, format_version);
        for name in files {
            manifest.add_file(dir, name)?;
        }
        manifest.meta = serde_json::to_value(meta)
            .map_err(|source| ArtifactError::BadManifest { path: dir.join(MANIFEST_FILE), source })?;
        manifest.write(dir)?;
        Ok(manifest)
    }

    /// Checks that the manifest of the folder `dir` lists every one of `files` (the files a kind cannot do
    /// without; the checksums themselves are verified by [`Manifest::open`]).
    pub fn require_files(&self, dir: &Path, files: &[&str]) -> Result<(), ArtifactError> {
        match files.iter().find(|name| !self.files.contains_key(**name)) {
            Some(name) => Err(ArtifactError::BadMeta {
                path: dir.join(MANIFEST_FILE),
                message: format!("the manifest does not list {name}"),
            }),
            None => Ok(()),
        }
    }

    /// The `meta` of the manifest of the folder `dir`, as the kind's metadata type `M`.
    pub fn meta_as<M: DeserializeOwned>(&self, dir: &Path) -> Result<M, ArtifactError> {
        M::deserialize(&self.meta).map_err(|e| ArtifactError::BadMeta {
            path: dir.join(MANIFEST_FILE),
            message: format!("malformed `{}` metadata: {e}", self.kind),
        })
    }

    /// The kind named by the manifest of `dir`, without checking its version or any checksum: for
    /// choosing how to open a folder that may hold one of several kinds. `expected` describes what the
    /// caller looks for, for the error when there is no manifest.
    pub fn peek_kind(dir: &Path, expected: &str) -> Result<String, ArtifactError> {
        #[derive(Deserialize)]
        struct KindOnly {
            kind: String,
        }
        let (path, bytes) = Self::read_bytes(dir, expected)?;
        Ok(serde_json::from_slice::<KindOnly>(&bytes)
            .map_err(|source| ArtifactError::BadManifest { path, source })?
            .kind)
    }

    /// The path and bytes of `dir/manifest.json`; [`ArtifactError::MissingManifest`] when there is none.
    fn read_bytes(dir: &Path, expected: &str) -> Result<(PathBuf, Vec<u8>), ArtifactError> {
        let path = dir.join(MANIFEST_FILE);
        match fs::read(&path) {
            Ok(b) => Ok((path, b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ArtifactError::MissingManifest { dir: dir.to_path_buf(), expected: expected.to_string() })
            }
            Err(e) => Err(IoError::new("read", path, e).into()),
        }
    }

    /// Reads `dir/manifest.json` and checks kind and version, without verifying file checksums.
    pub fn read(dir: &Path, expected_kind: &str, supported_version: u32) -> Result<Self, ArtifactError> {
        let (path, bytes) = Self::read_bytes(dir, expected_kind)?;
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
                Err(e) => return Err(IoError::new("stat", path, e).into()),
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

    #[test]
    fn seal_then_open_with_typed_meta_and_required_files() {
        #[derive(Deserialize)]
        struct Meta {
            n: u32,
        }
        #[derive(Debug, Deserialize)]
        struct Other {
            #[allow(dead_code)]
            missing: String,
        }
        let dir = tempfile::tempdir().unwrap();
        write_atomic(&dir.path().join("w.bin"), b"abc").unwrap();
        write_atomic(&dir.path().join("keep.txt"), b"not part of the artifact").unwrap();
        Manifest::seal(dir.path(), "arxiv-atlas/test", 1, &["w.bin"], &serde_json::json!({"n": 3})).unwrap();
        let m = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap();
        assert_eq!(m.files["w.bin"].bytes, 3);
        assert_eq!(m.meta_as::<Meta>(dir.path()).unwrap().n, 3);
        m.require_files(dir.path(), &["w.bin"]).unwrap();
        let err = m.require_files(dir.path(), &["w.bin", "x.bin"]).unwrap_err().to_string();
        assert!(err.contains(MANIFEST_FILE) && err.contains("does not list x.bin"), "{err}");
        let err = m.meta_as::<Other>(dir.path()).unwrap_err().to_string();
        assert!(err.contains("malformed `arxiv-atlas/test` metadata") && err.contains("missing"), "{err}");
        assert_eq!(Manifest::peek_kind(dir.path(), "anything").unwrap(), "arxiv-atlas/test");

        // Starting a rewrite drops the old manifest (the folder is refused until sealed again) and nothing else.
        Manifest::begin_write(dir.path()).unwrap();
        let err = Manifest::open(dir.path(), "arxiv-atlas/test", 1).unwrap_err();
        assert!(matches!(err, ArtifactError::MissingManifest { .. }), "{err}");
        let err = Manifest::peek_kind(dir.path(), "a test folder").unwrap_err().to_string();
        assert!(err.contains("a test folder"), "{err}");
        assert!(dir.path().join("keep.txt").exists() && dir.path().join("w.bin").exists());
        // A folder that does not exist yet is created.
        let fresh = dir.path().join("a/b");
        Manifest::begin_write(&fresh).unwrap();
        assert!(fresh.is_dir());
    }

    #[test]
    fn io_errors_name_the_operation_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent.bin");
        let err = fs::read(&p).io_context("read", &p).unwrap_err();
        assert_eq!(err.op, "read");
        assert_eq!(err.source.kind(), io::ErrorKind::NotFound);
        let text = err.to_string();
        assert!(text.starts_with(&format!("read {}: ", p.display())), "{text}");
        // Wrapped in the crate error, the message and the cause chain are unchanged.
        let wrapped = ArtifactError::from(err);
        assert_eq!(wrapped.to_string(), text);
        let cause = std::error::Error::source(&wrapped).and_then(|e| e.downcast_ref::<io::Error>());
        assert_eq!(cause.map(io::Error::kind), Some(io::ErrorKind::NotFound));
        let err = sha256_file(&p).unwrap_err();
        assert!(matches!(&err, ArtifactError::Io(e) if e.op == "open" && e.path == p), "{err}");
    }
}
