//! The documentation, checked against the code: the generated references `docs/cli.md` (every subcommand's
//! `--help`) and `docs/config-reference.md` (every config key), and every `arxiv-atlas` command line in the
//! README and `docs/*.md`, parsed by the real argument parser. A renamed flag or a new config key thus fails
//! the build instead of a user.
//!
//! Refresh the generated files after changing flags or the config schema:
//! `ARXIV_ATLAS_BLESS=1 cargo test --release -p arxiv-atlas --bin arxiv-atlas docs::`.

mod cli_reference;
mod config_reference;
mod examples;
mod links;

use std::path::PathBuf;

/// Set to `1` to rewrite the generated files instead of comparing them.
const BLESS_ENV: &str = "ARXIV_ATLAS_BLESS";

/// The command that rewrites the generated files, quoted in their headers and in failures.
const REFRESH: &str = "ARXIV_ATLAS_BLESS=1 cargo test --release -p arxiv-atlas --bin arxiv-atlas docs::";

/// The repository root (this crate lives in `crates/arxiv-atlas`).
fn repo_root() -> PathBuf {
    // Read at run time: a compile-time path goes stale when clones share a target dir.
    let manifest =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(manifest).join("../..")
}

/// Compares the checked-in `rel` (relative to the repository root) with `generated`; with
/// `ARXIV_ATLAS_BLESS=1` writes `generated` there instead.
fn check_generated(rel: &str, generated: &str) {
    let path = repo_root().join(rel);
    if std::env::var(BLESS_ENV).is_ok_and(|v| v == "1") {
        std::fs::write(&path, generated).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == generated {
        return;
    }
    let (line, old, new) = current
        .lines()
        .chain(std::iter::repeat(""))
        .zip(generated.lines().chain(std::iter::repeat("")))
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| (i + 1, a, b))
        .unwrap_or((0, "", ""));
    panic!(
        "{rel} is stale (first difference at line {line}):\n  checked in: {old}\n  generated:  {new}\n\
         Refresh it with `{REFRESH}` and commit the result."
    );
}
