//! Embedding sets on disk: the output of `arxiv-atlas embed`, the input of index building.
//!
//! ```text
//! <dir>/manifest.json            kind arxiv-atlas/embeddings; checksums; meta = SetMeta
//! <dir>/embeddings.safetensors   one tensor `embeddings`, f32 [count, dim], row i = ids.txt line i
//! <dir>/ids.txt                  one paper id per line
//! ```
//! safetensors is read directly by Python (`safetensors.numpy.load_file`), so the vectors are usable outside
//! arxiv-atlas too.

use std::path::{Path, PathBuf};

use atlas_artifact::{write_atomic_with, IoContext, Manifest};
use serde::{Deserialize, Serialize};

use crate::EmbedError;

/// Manifest kind of an embedding set.
pub const SET_KIND: &str = "arxiv-atlas/embeddings";
/// Format version this build writes and reads.
pub const SET_FORMAT_VERSION: u32 = 1;
/// Vector file name.
pub const VECTORS_FILE: &str = "embeddings.safetensors";
/// Id file name.
pub const IDS_FILE: &str = "ids.txt";
/// Name of the tensor inside [`VECTORS_FILE`].
pub const TENSOR_NAME: &str = "embeddings";

/// What produced an embedding set; stored in the manifest's `meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetMeta {
    /// The encoder's vector-space id (model + graph + precision + template).
    pub embedding_id: String,
    /// Model folder used.
    pub model_dir: PathBuf,
    /// Hash of the model's weights, tokenizer and config.
    pub model_hash: String,
    /// Backend description (engine, precision, device).
    pub backend: String,
    /// Text template.
    pub template: String,
    /// Vector width.
    pub dim: usize,
    /// Whether rows are unit vectors.
    pub normalized: bool,
    /// Pooling mode.
    pub pooling: String,
    /// Number of rows.
    pub count: usize,
    /// The input file or dataset.
    pub input: PathBuf,
    /// SHA-256 fingerprint of the input.
    pub input_fingerprint: String,
    /// The shard this set holds when it was made with `embed --shard I/N`; `None` for a whole run (and
    /// then absent from the manifest, so whole runs' manifests are as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardMeta>,
}

impl SetMeta {
    /// The provenance of the set in `dir`, its checksums verified, without loading the vectors.
    pub fn open(dir: &Path) -> Result<Self, EmbedError> {
        let manifest = Manifest::open(dir, SET_KIND, SET_FORMAT_VERSION)?;
        serde_json::from_value(manifest.meta)
            .map_err(|e| EmbedError::BadSet { path: dir.to_path_buf(), message: e.to_string() })
    }
}

/// The safetensors header of a `count × dim` f32 [`TENSOR_NAME`] tensor, padded with spaces to a multiple of
/// 8 bytes so the data is aligned. One function for every writer, so equal shapes give byte-identical files.
pub(crate) fn vectors_header(count: usize, dim: usize) -> Vec<u8> {
    let mut header = serde_json::json!({
        TENSOR_NAME: {"dtype": "F32", "shape": [count, dim], "data_offsets": [0, count * dim * 4]}
    })
    .to_string()
    .into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    header
}

/// Writes `rows` (count × dim, row-major) as a safetensors file with one f32 tensor, streaming (the header is
/// computed from the shape, so the rows can come from several chunks without being concatenated in memory).
pub fn write_vectors<'a>(
    path: &Path,
    count: usize,
    dim: usize,
    chunks: impl Iterator<Item = &'a [f32]>,
) -> Result<(), EmbedError> {
    let header = vectors_header(count, dim);
    let mut written = 0usize;
    write_atomic_with(path, |w| {
        w.write_all(&(header.len() as u64).to_le_bytes())?;
        w.write_all(&header)?;
        let mut buf = Vec::with_capacity(1 << 16);
        for chunk in chunks {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            w.write_all(&buf)?;
            written += chunk.len();
        }
        if written != count * dim {
            return Err(std::io::Error::other(format!(
                "{written} floats written, header says {}",
                count * dim
            )));
        }
        Ok(())
    })?;
    Ok(())
}

/// Reads a vector file written by [`write_vectors`] (or any safetensors file with an f32 `embeddings` tensor).
pub fn read_vectors(path: &Path) -> Result<(usize, usize, Vec<f32>), EmbedError> {
    let bytes = std::fs::read(path).io_context("read", path)?;
    let bad = |m: String| EmbedError::BadSet { path: path.to_path_buf(), message: m };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let t = st.tensor(TENSOR_NAME).map_err(|e| bad(e.to_string()))?;
    if t.dtype() != safetensors::Dtype::F32 || t.shape().len() != 2 {
        return Err(bad(format!(
            "`{TENSOR_NAME}` is {:?} {:?}, expected F32 [rows, dim]",
            t.dtype(),
            t.shape()
        )));
    }
    let (rows, dim) = (t.shape()[0], t.shape()[1]);
    let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((rows, dim, data))
}

/// Seals the set in `dir` whose [`VECTORS_FILE`] and [`IDS_FILE`] are written: checksums and `meta` go into
/// its manifest, which makes the folder a complete set.
pub(crate) fn write_manifest(dir: &Path, meta: &SetMeta) -> Result<(), EmbedError> {
    let mut manifest = Manifest::new(SET_KIND, SET_FORMAT_VERSION);
    manifest.add_file(dir, VECTORS_FILE)?;
    manifest.add_file(dir, IDS_FILE)?;
    manifest.meta = serde_json::to_value(meta).unwrap_or_default();
    manifest.write(dir)?;
    Ok(())
}

/// Writes a complete embedding set from memory: `vectors` (row-major, `meta.dim` wide) with `ids[i]` for
/// row `i`. Used for vectors computed rather than embedded (e.g. a fine-tuned adapter applied to a set).
pub fn write_set(dir: &Path, ids: &[String], vectors: &[f32], meta: &SetMeta) -> Result<(), EmbedError> {
    let bad = |m: String| EmbedError::BadSet { path: dir.to_path_buf(), message: m };
    if meta.dim == 0 || vectors.len() != ids.len() * meta.dim || meta.count != ids.len() {
        return Err(bad(format!(
            "{} ids, {} floats, dim {} and count {} do not agree",
            ids.len(),
            vectors.len(),
            meta.dim,
            meta.count
        )));
    }
    std::fs::create_dir_all(dir).io_context("create", dir)?;
    write_vectors(&dir.join(VECTORS_FILE), ids.len(), meta.dim, std::iter::once(vectors))?;
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    atlas_artifact::write_atomic(&dir.join(IDS_FILE), text.as_bytes())?;
    write_manifest(dir, meta)
}

/// A loaded embedding set.
#[derive(Debug, Clone)]
pub struct EmbeddingSet {
    /// Folder it was read from.
    pub dir: PathBuf,
    /// Provenance.
    pub meta: SetMeta,
    /// Paper ids, row order.
    pub ids: Vec<String>,
    /// Row-major vectors.
    pub vectors: Vec<f32>,
}

impl EmbeddingSet {
    /// Opens and verifies (checksums, shape, id count) an embedding set folder.
    pub fn open(dir: &Path) -> Result<Self, EmbedError> {
        let manifest = Manifest::open(dir, SET_KIND, SET_FORMAT_VERSION)?;
        let bad = |m: String| EmbedError::BadSet { path: dir.to_path_buf(), message: m };
        let meta: SetMeta = serde_json::from_value(manifest.meta.clone()).map_err(|e| bad(e.to_string()))?;
        let (rows, dim, vectors) = read_vectors(&dir.join(VECTORS_FILE))?;
        let ids_path = dir.join(IDS_FILE);
        let ids: Vec<String> = std::fs::read_to_string(&ids_path)
            .io_context("read", &ids_path)?
            .lines()
            .map(str::to_string)
            .collect();
        if rows != meta.count || dim != meta.dim || ids.len() != rows {
            return Err(bad(format!(
                "{rows} vectors of dim {dim} and {} ids, manifest says {} of dim {}",
                ids.len(),
                meta.count,
                meta.dim
            )));
        }
        Ok(Self { dir: dir.to_path_buf(), meta, ids, vectors })
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.meta.dim..(i + 1) * self.meta.dim]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_safetensors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.safetensors");
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [5.0f32, 6.0];
        write_vectors(&p, 3, 2, [&a[..], &b[..]].into_iter()).unwrap();
        let (rows, dim, data) = read_vectors(&p).unwrap();
        assert_eq!((rows, dim), (3, 2));
        assert_eq!(data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Readable by the reference implementation of the format.
        let bytes = std::fs::read(&p).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor(TENSOR_NAME).unwrap().shape(), &[3, 2]);
    }

    /// The provenance of a 2-wide test set of `count` rows (a whole run); tests of other modules adjust it.
    pub(crate) fn sample_meta(count: usize) -> SetMeta {
        SetMeta {
            embedding_id: "space".into(),
            model_dir: "model".into(),
            model_hash: "hash".into(),
            backend: "test".into(),
            template: "{title}".into(),
            dim: 2,
            normalized: true,
            pooling: "mean".into(),
            count,
            input: "papers.jsonl".into(),
            input_fingerprint: "fp".into(),
            shard: None,
        }
    }

    #[test]
    fn a_set_written_from_memory_opens_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let meta = sample_meta(2);
        let ids = vec!["a".to_string(), "b".to_string()];
        write_set(dir.path(), &ids, &[1.0, 0.0, 0.0, 1.0], &meta).unwrap();
        let set = EmbeddingSet::open(dir.path()).unwrap();
        assert_eq!((set.ids, set.vectors, set.meta), (ids.clone(), vec![1.0, 0.0, 0.0, 1.0], meta.clone()));
        let wrong = SetMeta { count: 3, ..meta };
        assert!(write_set(&dir.path().join("x"), &ids, &[1.0, 0.0, 0.0, 1.0], &wrong).is_err());
    }

    #[test]
    fn short_writes_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.safetensors");
        let a = [1.0f32, 2.0];
        assert!(write_vectors(&p, 3, 2, [&a[..]].into_iter()).is_err());
        assert!(!p.exists());
    }
}
