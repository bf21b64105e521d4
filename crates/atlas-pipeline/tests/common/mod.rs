//! What the tests on the data kit share.

use std::path::Path;

use atlas_config::{load, ConfigSource, ResolvedConfig};

/// The config of `arxiv-atlas train data=mini experiment=EXPERIMENT` on the data kit's arxiv-mini and MiniLM,
/// with its dataset cache and runs under `tmp` (the run in `tmp/runs/train`); `None` after `test` was
/// reported skipped (no data kit).
#[track_caller]
#[allow(dead_code)] // not every test file uses it
pub fn mini_config(test: &str, experiment: &str, tmp: &Path) -> Option<ResolvedConfig> {
    mini_config_with(test, experiment, tmp, &[])
}

/// [`mini_config`] with more `key=value` overrides after the shared ones.
#[track_caller]
#[allow(dead_code)] // not every test file uses it
pub fn mini_config_with(
    test: &str,
    experiment: &str,
    tmp: &Path,
    extra: &[String],
) -> Option<ResolvedConfig> {
    let input = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz")?;
    let encoder = atlas_testkit::shared_dir(test, "models/all-MiniLM-L6-v2")?;
    let runs = tmp.join("runs");
    let mut args = vec![
        format!("experiment={experiment}"),
        "data=mini".to_string(),
        format!("data.input={}", input.display()),
        format!("data.cache_dir={}", tmp.join("cache").display()),
        format!("experiment.encoder.model_dir={}", encoder.display()),
        format!("run.root={}", runs.display()),
        format!("run.dir={}", runs.join("train").display()),
    ];
    args.extend(extra.iter().cloned());
    Some(load(&ConfigSource::Embedded, &args, &[]).expect("the test's config"))
}
