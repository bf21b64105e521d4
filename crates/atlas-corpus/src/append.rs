//! Daily updates: [`append`] adds the unseen papers of new inputs (a day's Atom feed or OAI-PMH harvest, or any
//! other format) to an existing dataset folder.
//!
//! The dataset is rewritten, not patched: the old folder is read back as the first input, so its papers keep
//! their place and a new paper with an id it already holds is a counted duplicate; every paper goes to the
//! split its id gives ([`split_of`](crate::split_of)), exactly as a fresh ingest of all inputs would. The new
//! folder is built beside the old one and swapped in at once (on Linux with one `renameat2(RENAME_EXCHANGE)`),
//! so a reader opens either the old dataset or the new one, never a mix, and a failed append leaves the old
//! one untouched. Rewriting costs about a second per 100,000 papers, which a daily job can afford.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ingest::ingest_staged;
use crate::{CorpusError, Dataset, IngestOptions, IngestReport, SkipReason, SplitCounts};
use atlas_artifact::IoContext;

/// What [`append`] did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendReport {
    /// Papers per split before.
    pub before: SplitCounts,
    /// Papers per split added (after minus before).
    pub added: SplitCounts,
    /// Papers of the new inputs whose id the dataset (or an earlier new paper) already had: not added.
    pub duplicates: u64,
    /// The ingest that wrote the new folder; `inputs[0]` is the old dataset, the rest are the new inputs.
    pub ingest: IngestReport,
}

/// Adds the papers of `new_inputs` whose ids `dataset` does not hold yet, and replaces `dataset` by the result
/// atomically. `opts.max_samples` and `opts.max_per_category` must be unset: a cap would silently drop old
/// papers.
pub fn append(
    new_inputs: &[PathBuf],
    dataset: &Path,
    opts: &IngestOptions,
) -> Result<AppendReport, CorpusError> {
    if opts.max_samples.is_some() || opts.max_per_category.is_some() {
        return Err(CorpusError::InvalidOption(
            "appending keeps every paper of the dataset: --limit and --max-per-category do not apply".into(),
        ));
    }
    if new_inputs.is_empty() {
        return Err(CorpusError::InvalidOption("nothing to append: name at least one input".into()));
    }
    let before = Dataset::open(dataset)?.counts();
    let parent = dataset.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        dataset.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dataset".into());
    let staging = parent.join(format!(".{name}.append-{}", std::process::id()));
    let _cleanup = RemoveOnDrop(staging.clone());

    let mut inputs = vec![dataset.to_path_buf()];
    inputs.extend(new_inputs.iter().cloned());
    let report = ingest_staged(&inputs, &staging, dataset, opts)?;
    Dataset::open(&staging)?; // verified before it replaces anything
    swap_dirs(&staging, dataset)?;

    let after = report.written;
    let duplicates = report.inputs[1..]
        .iter()
        .filter_map(|i| i.report.skipped.get(&SkipReason::DuplicateId))
        .map(|s| s.count)
        .sum();
    let added = SplitCounts {
        train: after.train.saturating_sub(before.train),
        validation: after.validation.saturating_sub(before.validation),
        test: after.test.saturating_sub(before.test),
    };
    Ok(AppendReport { before, added, duplicates, ingest: report })
}

/// Removes a staging folder on every way out: after a successful swap it holds the old dataset.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Exchanges two folders: afterwards `target` holds what `staging` held and `staging` the old `target`.
#[cfg(target_os = "linux")]
fn swap_dirs(staging: &Path, target: &Path) -> Result<(), CorpusError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, staging, CWD, target, RenameFlags::EXCHANGE)
        .map_err(std::io::Error::from)
        .io_context("swap the appended dataset into", target)?;
    Ok(())
}

/// Exchanges two folders with two renames (no atomic exchange outside Linux): a crash between them leaves the
/// old dataset under the staging name, which the next append removes.
#[cfg(not(target_os = "linux"))]
fn swap_dirs(staging: &Path, target: &Path) -> Result<(), CorpusError> {
    let old = staging.with_extension("old");
    std::fs::rename(target, &old).io_context("move aside", target)?;
    std::fs::rename(staging, target).io_context("move into place", target)?;
    std::fs::rename(&old, staging).io_context("move back", &old)?;
    Ok(())
}
