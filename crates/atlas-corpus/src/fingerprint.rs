//! Content fingerprints of input files, for run tracking and caching: two ingests of the same bytes in
//! the same order get the same fingerprint, whatever the files are called or where they live.

use std::path::{Path, PathBuf};

use atlas_artifact::{sha256_bytes, sha256_file, MANIFEST_FILE};

use crate::CorpusError;

/// Fingerprint of a list of inputs: the SHA-256 of the inputs' own SHA-256 hex digests, one per line,
/// in the given order. A dataset folder counts as its `manifest.json`, which already checksums every
/// file of the folder.
pub fn fingerprint_files(paths: &[PathBuf]) -> Result<String, CorpusError> {
    let digests = paths.iter().map(|p| input_sha256(p)).collect::<Result<Vec<_>, _>>()?;
    Ok(combine(&digests))
}

/// SHA-256 of one input (of its manifest for a dataset folder).
pub(crate) fn input_sha256(path: &Path) -> Result<String, CorpusError> {
    let file = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
    Ok(sha256_file(&file)?.0)
}

/// Combines per-input digests into the fingerprint.
pub(crate) fn combine(digests: &[String]) -> String {
    let mut text = String::with_capacity(digests.len() * 65);
    for d in digests {
        text.push_str(d);
        text.push('\n');
    }
    sha256_bytes(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_content_and_order_only() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let b = dir.path().join("b.jsonl");
        let a2 = dir.path().join("copy-of-a.jsonl");
        std::fs::write(&a, b"alpha").unwrap();
        std::fs::write(&b, b"beta").unwrap();
        std::fs::write(&a2, b"alpha").unwrap();
        let ab = fingerprint_files(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ab, fingerprint_files(&[a2, b.clone()]).unwrap());
        assert_ne!(ab, fingerprint_files(&[b, a.clone()]).unwrap());
        // One input: the digest of "sha256(alpha)\n".
        let single = fingerprint_files(&[a]).unwrap();
        assert_eq!(single, sha256_bytes(format!("{}\n", sha256_bytes(b"alpha")).as_bytes()));
        assert!(fingerprint_files(&[dir.path().join("missing")]).is_err());
    }
}
