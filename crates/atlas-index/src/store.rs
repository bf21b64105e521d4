//! The index folder on disk.
//!
//! ```text
//! <dir>/manifest.json          kind arxiv-atlas/index; checksums; meta = StoredMeta (IndexInfo + params + file names)
//! <dir>/papers-<gen>.jsonl     one PaperMeta per line; line i = row i = usearch key i
//! <dir>/vectors-<gen>.f32      exact backend: row-major little-endian f32 (or .f16: IEEE half), count × dim
//! <dir>/graph-<gen>.usearch    usearch backend: usearch's own file (graph + vectors in its scalar kind)
//! ```
//!
//! **Generations make updates atomic.** A folder is a set of files that must agree with each other, and
//! renaming several files is not atomic. So every (re)write — a build over an old index, or [`crate::add_to_index`]
//! — writes its data files under a new generation number next to the old ones, and only then replaces
//! `manifest.json` (one atomic rename). Until that rename, readers see the old manifest naming the old, intact
//! files; after it, the new ones. Old generations are deleted last; a crash before that leaves unreferenced
//! files, never a broken index.
//!
//! **Papers as JSON lines, not Parquet**: the metadata is ~150 bytes a paper beside 1.5 kB of vector, is read
//! whole once at open, and is readable by `jq`/pandas as it is; JSON lines also let an update copy the old
//! rows and append the new ones without a columnar rewrite. **Vectors as raw little-endian rows** (shape in
//! the manifest): `numpy.fromfile(path, "<f4").reshape(-1, dim)` reads them, and they load with one read.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use atlas_artifact::{write_atomic_with, Manifest, MANIFEST_FILE};
use serde::{Deserialize, Serialize};

use crate::{IndexError, IndexInfo, IndexParams, PaperMeta};

/// Manifest kind of an index folder.
pub const INDEX_KIND: &str = "arxiv-atlas/index";
/// Format version this build writes and reads.
pub const INDEX_FORMAT_VERSION: u32 = 1;

/// What an index manifest's `meta` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMeta {
    /// What the index holds.
    pub info: IndexInfo,
    /// How it was built.
    pub params: IndexParams,
    /// Incremented by every rewrite; part of the data file names.
    pub generation: u64,
    /// Role (`papers`, `vectors`, `graph`) → file name in the folder.
    pub files: BTreeMap<String, String>,
}

impl StoredMeta {
    /// The file playing `role`, or an error naming the folder.
    pub fn file(&self, dir: &Path, role: &str) -> Result<PathBuf, IndexError> {
        self.files
            .get(role)
            .map(|n| dir.join(n))
            .ok_or_else(|| IndexError::bad(&dir.join(MANIFEST_FILE), format!("no `{role}` file listed")))
    }
}

/// Reads and verifies (kind, version, every checksum) an index folder's manifest.
pub fn open_manifest(dir: &Path) -> Result<StoredMeta, IndexError> {
    let manifest = Manifest::open(dir, INDEX_KIND, INDEX_FORMAT_VERSION)?;
    let meta: StoredMeta = serde_json::from_value(manifest.meta.clone())
        .map_err(|e| IndexError::bad(&dir.join(MANIFEST_FILE), format!("malformed index meta: {e}")))?;
    for name in meta.files.values() {
        if !manifest.files.contains_key(name) {
            return Err(IndexError::bad(
                &dir.join(MANIFEST_FILE),
                format!("`{name}` is used but has no checksum"),
            ));
        }
    }
    Ok(meta)
}

/// The generation a new write into `dir` should use: one past the current index there, 1 for a fresh folder.
/// Refuses a folder that holds another kind of artifact, so a build never overwrites a model or dataset.
pub fn next_generation(dir: &Path) -> Result<u64, IndexError> {
    if !dir.join(MANIFEST_FILE).exists() {
        return Ok(1);
    }
    // Only kind and version matter here: rewriting a damaged index is allowed.
    let m = Manifest::read(dir, INDEX_KIND, INDEX_FORMAT_VERSION)?;
    let generation = m.meta.get("generation").and_then(|g| g.as_u64()).unwrap_or(0);
    Ok(generation + 1)
}

/// Writes the manifest naming `meta.files` (already written), then removes the files of older generations
/// that the new manifest no longer names.
pub fn seal(dir: &Path, meta: &StoredMeta) -> Result<(), IndexError> {
    let old: Vec<String> = match Manifest::read(dir, INDEX_KIND, INDEX_FORMAT_VERSION) {
        Ok(m) => m.files.keys().cloned().collect(),
        Err(_) => Vec::new(),
    };
    let mut manifest = Manifest::new(INDEX_KIND, INDEX_FORMAT_VERSION);
    for name in meta.files.values() {
        manifest.add_file(dir, name)?;
    }
    manifest.meta = serde_json::to_value(meta)
        .map_err(|e| IndexError::Invalid(format!("index meta does not serialise: {e}")))?;
    manifest.write(dir)?;
    for name in old {
        if !meta.files.values().any(|n| *n == name) {
            // Best effort: a leftover old generation wastes disk but harms nothing.
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    Ok(())
}

/// Writes papers as JSON lines, atomically.
pub fn write_papers<'a>(path: &Path, papers: impl Iterator<Item = &'a PaperMeta>) -> Result<(), IndexError> {
    write_atomic_with(path, |w| {
        for p in papers {
            serde_json::to_writer(&mut *w, p)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads a papers file.
pub fn read_papers(path: &Path) -> Result<Vec<PaperMeta>, IndexError> {
    let f = std::fs::File::open(path).map_err(|e| IndexError::io("open", path, e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::with_capacity(1 << 20, f).lines().enumerate() {
        let line = line.map_err(|e| IndexError::io("read", path, e))?;
        let p: PaperMeta =
            serde_json::from_str(&line).map_err(|e| IndexError::bad(path, format!("line {}: {e}", i + 1)))?;
        out.push(p);
    }
    Ok(out)
}

/// Writes raw little-endian elements (each `W` bytes wide), atomically.
pub fn write_raw<const W: usize, T: Copy>(
    path: &Path,
    data: &[T],
    to_le: impl Fn(T) -> [u8; W],
) -> Result<(), IndexError> {
    write_atomic_with(path, |w| {
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in data.chunks(1 << 14) {
            buf.clear();
            for &x in chunk {
                buf.extend_from_slice(&to_le(x));
            }
            w.write_all(&buf)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads a raw little-endian file of `expected` elements.
pub fn read_raw<const W: usize, T>(
    path: &Path,
    expected: usize,
    from_le: impl Fn([u8; W]) -> T,
) -> Result<Vec<T>, IndexError> {
    let bytes = std::fs::read(path).map_err(|e| IndexError::io("read", path, e))?;
    if bytes.len() != expected * W {
        return Err(IndexError::bad(
            path,
            format!("{} bytes, expected {} ({expected} elements of {W} bytes)", bytes.len(), expected * W),
        ));
    }
    Ok(bytes
        .chunks_exact(W)
        .map(|c| {
            let mut a = [0u8; W];
            a.copy_from_slice(c);
            from_le(a)
        })
        .collect())
}
