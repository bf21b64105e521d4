//! What every classifier folder of this crate shares, whatever the model: the write order (old manifest
//! removed, data files written atomically, manifest sealed last), the checks on opening (kind, format
//! version, checksums, the files the kind needs, its metadata, its labels) and the `weights.safetensors`
//! file name.
//!
//! Each model keeps its own file list, metadata type and tensors; see [`crate::model`] and
//! [`crate::DenseHead`] for the folder formats.

use std::path::Path;

use atlas_artifact::{Manifest, MANIFEST_FILE};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ClassifyError;
use crate::labels::Labels;

/// The tensors of a classifier folder.
pub(crate) const WEIGHTS_FILE: &str = "weights.safetensors";

/// Writes a classifier folder `dir` (created if needed): drops an old manifest first so the folder never
/// pairs it with new files, lets `write_files` write the data files (each atomically), then seals the
/// manifest over `files` with `meta`. An interrupted save leaves a folder that [`open`] refuses; files of
/// the folder that are not the model's (e.g. the CLI's `pipeline.json`) are left alone.
pub(crate) fn save<M: Serialize>(
    dir: &Path,
    kind: &str,
    format_version: u32,
    files: &[&str],
    meta: &M,
    write_files: impl FnOnce() -> Result<(), ClassifyError>,
) -> Result<(), ClassifyError> {
    Manifest::begin_write(dir)?;
    write_files()?;
    Manifest::seal(dir, kind, format_version, files, meta)?;
    Ok(())
}

/// Opens the classifier folder `dir` of `kind`: verifies the manifest (kind, format version, every
/// checksum), checks that it lists `files`, and returns its metadata, whose labels (`labels_of`) must be
/// a usable label set.
pub(crate) fn open<M: DeserializeOwned>(
    dir: &Path,
    kind: &str,
    format_version: u32,
    files: &[&str],
    labels_of: impl FnOnce(&M) -> &Labels,
) -> Result<M, ClassifyError> {
    let manifest = Manifest::open(dir, kind, format_version)?;
    manifest.require_files(dir, files)?;
    let meta: M = manifest.meta_as(dir)?;
    check_labels(labels_of(&meta)).map_err(|e| ClassifyError::format(&dir.join(MANIFEST_FILE), e))?;
    Ok(meta)
}

/// Checks that `labels` can name the classes of a classifier: at least one, a name for every code.
pub(crate) fn check_labels(labels: &Labels) -> Result<(), ClassifyError> {
    if labels.codes.is_empty() {
        return Err(ClassifyError::InvalidData("the label set is empty".into()));
    }
    if labels.codes.len() != labels.names.len() {
        return Err(ClassifyError::InvalidData(format!(
            "{} label codes but {} label names",
            labels.codes.len(),
            labels.names.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Damages `weights.safetensors` of the saved folder `dir` (one flipped bit, then truncation) and
    /// checks that `load` refuses each with an error naming the file and what failed, then restores the
    /// file and checks that `load` accepts it again.
    pub(crate) fn assert_damaged_weights_are_refused(dir: &Path, load: impl Fn(&Path) -> Result<(), String>) {
        let weights = dir.join(WEIGHTS_FILE);
        let original = std::fs::read(&weights).unwrap();
        let mut flipped = original.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        for (damaged, what) in [(&flipped[..], "sha256"), (&original[..original.len() / 2], "size")] {
            std::fs::write(&weights, damaged).unwrap();
            let err = load(dir).unwrap_err();
            assert!(err.contains(WEIGHTS_FILE) && err.contains(what), "{err}");
        }
        std::fs::write(&weights, &original).unwrap();
        assert_eq!(load(dir), Ok(()));
    }
}
