//! `atlas-testkit`: one rule for tests whose prerequisites may be missing.
//!
//! Some tests need things a fresh clone does not have: the real arXiv data kit in `../shared`, the ONNX Runtime
//! library, a PostgreSQL server, Chromium, a CUDA device. On a user's machine such a test *skips* (prints why,
//! passes) so the suite stays green without them. Where the prerequisite is supposed to be there — CI and every
//! machine of this project, where `scripts/test.sh` provisions it and exports `ATLAS_REQUIRE_<NEED>=1` — a skip
//! would hide a broken data path or a server that did not start, so the same call *panics* with the reason
//! instead.
//!
//! Skips are also appended, one line each, to the file named by `ATLAS_SKIP_LOG` (set by `scripts/test.sh`),
//! which then ends the run with one loud line counting them.
//!
//! ```no_run
//! # fn demo() {
//! let Some(mini) = atlas_testkit::shared_file("my_test", "data/arxiv-mini.jsonl.gz") else { return };
//! # let _ = mini;
//! # }
//! ```

#![warn(missing_docs)]

pub mod tiny_bert;

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Something a test may need that a fresh clone may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The data kit and model folder under `../shared` (`ATLAS_REQUIRE_DATA`).
    Data,
    /// The ONNX Runtime shared library (`ATLAS_REQUIRE_ONNXRUNTIME`).
    OnnxRuntime,
    /// A PostgreSQL server with pgvector, named by `ARXIV_ATLAS_TEST_DATABASE_URL` (`ATLAS_REQUIRE_POSTGRES`).
    Postgres,
    /// Headless Chromium with playwright-core (`ATLAS_REQUIRE_CHROMIUM`).
    Chromium,
    /// A CUDA device (`ATLAS_REQUIRE_CUDA`).
    Cuda,
    /// The `dvc` command, named by `ARXIV_ATLAS_DVC` or found on `PATH` (`ATLAS_REQUIRE_DVC`).
    Dvc,
    /// An MLflow tracking server that serves artifacts, named by `ARXIV_ATLAS_TEST_MLFLOW_URI`
    /// (`ATLAS_REQUIRE_MLFLOW`).
    Mlflow,
    /// The deployment linters of `scripts/setup-deploy-lint.sh` (kubernetes-validate, hadolint, actionlint),
    /// their folder named by `ARXIV_ATLAS_DEPLOY_LINT` (`ATLAS_REQUIRE_DEPLOYLINT`).
    DeployLint,
    /// A Python with PyTorch, `transformers` and `sentence-transformers` (the pins of
    /// `../shared/bench/requirements.txt`), named by `ARXIV_ATLAS_TORCH_PYTHON` (`ATLAS_REQUIRE_TORCH`).
    Torch,
}

impl Need {
    /// The environment variable that turns a skip for this need into a failure.
    pub fn env_var(self) -> &'static str {
        match self {
            Need::Data => "ATLAS_REQUIRE_DATA",
            Need::OnnxRuntime => "ATLAS_REQUIRE_ONNXRUNTIME",
            Need::Postgres => "ATLAS_REQUIRE_POSTGRES",
            Need::Chromium => "ATLAS_REQUIRE_CHROMIUM",
            Need::Cuda => "ATLAS_REQUIRE_CUDA",
            Need::Dvc => "ATLAS_REQUIRE_DVC",
            Need::Mlflow => "ATLAS_REQUIRE_MLFLOW",
            Need::DeployLint => "ATLAS_REQUIRE_DEPLOYLINT",
            Need::Torch => "ATLAS_REQUIRE_TORCH",
        }
    }

    /// `true` when the environment says this need must be met (the variable is set to anything but `0`/empty).
    pub fn required(self) -> bool {
        std::env::var(self.env_var()).is_ok_and(|v| !v.is_empty() && v != "0")
    }
}

/// Reports that `test` cannot run because `need` is not met: panics with `reason` when the need is required,
/// else prints a skip line (and records it in `ATLAS_SKIP_LOG`). Returns only when the test should skip.
#[track_caller]
pub fn missing(need: Need, test: &str, reason: impl Display) {
    if need.required() {
        panic!("{test}: {reason} ({} is set, so this is a failure, not a skip)", need.env_var());
    }
    let line = format!("skipped {test}: {reason} (set {}=1 to make this a failure)", need.env_var());
    eprintln!("{line}");
    if let Some(log) = std::env::var_os("ATLAS_SKIP_LOG") {
        // Appends of one short line are atomic enough for test threads and binaries running side by side.
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The folder of the crate under test. `cargo test` sets `CARGO_MANIFEST_DIR` at run time to that crate's
/// folder; the compile-time `env!("CARGO_MANIFEST_DIR")` is the folder of whichever clone built the test
/// binary, which goes stale when clones share a target dir (cargo reuses a binary built under another path as
/// fresh), so tests ask here instead.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The repository root: every crate sits at `crates/<name>`, two levels below it.
pub fn repo_root() -> PathBuf {
    crate_dir().join("../..")
}

/// The `shared` folder beside the repository (`ATLAS_SHARED_DIR` overrides), whether or not it exists.
pub fn shared_root() -> PathBuf {
    match std::env::var_os("ATLAS_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo_root().join("../shared"),
    }
}

/// The readable file `rel` under the shared folder (e.g. `data/arxiv-mini.jsonl.gz`), or `None` after
/// [`missing`] said why (a missing or unreadable file fails instead where `ATLAS_REQUIRE_DATA` is set).
#[track_caller]
pub fn shared_file(test: &str, rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    match std::fs::File::open(&p) {
        Ok(_) if p.is_file() => Some(p),
        Ok(_) => {
            missing(Need::Data, test, format!("{} is not a file", p.display()));
            None
        }
        Err(e) => {
            missing(Need::Data, test, format!("cannot read {}: {e}", p.display()));
            None
        }
    }
}

/// The folder `rel` under the shared folder (e.g. `models/all-MiniLM-L6-v2`), or `None` after [`missing`].
#[track_caller]
pub fn shared_dir(test: &str, rel: &str) -> Option<PathBuf> {
    let p = shared_root().join(rel);
    match std::fs::read_dir(&p) {
        Ok(_) => Some(p),
        Err(e) => {
            missing(Need::Data, test, format!("cannot read the folder {}: {e}", p.display()));
            None
        }
    }
}

/// Writes the first `n` records of the gzipped JSON-lines file `src` (e.g. the kit's arxiv-mini) to `dst` as
/// plain JSON lines: a real-data slice small enough for a test. Panics on I/O errors, as a test should.
pub fn jsonl_gz_head(src: &Path, dst: &Path, n: usize) {
    use std::io::{BufRead, BufReader};
    let file = std::fs::File::open(src).unwrap_or_else(|e| panic!("open {}: {e}", src.display()));
    let reader = BufReader::new(flate2::read::MultiGzDecoder::new(file));
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display())),
    );
    for line in reader.lines().take(n) {
        let line = line.unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        writeln!(out, "{line}").unwrap_or_else(|e| panic!("write {}: {e}", dst.display()));
    }
    out.flush().unwrap_or_else(|e| panic!("write {}: {e}", dst.display()));
}

/// The test PostgreSQL URL (`ARXIV_ATLAS_TEST_DATABASE_URL`), or `None` after [`missing`].
#[track_caller]
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("ARXIV_ATLAS_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            missing(
                Need::Postgres,
                test,
                "ARXIV_ATLAS_TEST_DATABASE_URL is not set (bash scripts/postgres.sh start prints one)",
            );
            None
        }
    }
}

/// The `dvc` command to run (`ARXIV_ATLAS_DVC`, else `dvc` when it runs from `PATH`), or `None` after
/// [`missing`].
#[track_caller]
pub fn dvc(test: &str) -> Option<PathBuf> {
    let dvc = std::env::var_os("ARXIV_ATLAS_DVC").map_or_else(|| PathBuf::from("dvc"), PathBuf::from);
    match std::process::Command::new(&dvc).arg("--version").output() {
        Ok(out) if out.status.success() => Some(dvc),
        Ok(out) => {
            missing(Need::Dvc, test, format!("`{} --version` failed: {}", dvc.display(), out.status));
            None
        }
        Err(e) => {
            missing(
                Need::Dvc,
                test,
                format!("cannot run `{}`: {e} (bash scripts/setup-dvc.sh installs it)", dvc.display()),
            );
            None
        }
    }
}

/// The folder of the deployment linters (`ARXIV_ATLAS_DEPLOY_LINT`, made by `scripts/setup-deploy-lint.sh`), or
/// `None` after [`missing`].
#[track_caller]
pub fn deploy_lint(test: &str) -> Option<PathBuf> {
    let why = match std::env::var_os("ARXIV_ATLAS_DEPLOY_LINT") {
        Some(dir) if Path::new(&dir).join("venv/bin/hadolint").is_file() => return Some(PathBuf::from(dir)),
        Some(dir) => format!("{} holds no linters", Path::new(&dir).display()),
        None => "ARXIV_ATLAS_DEPLOY_LINT is not set".to_string(),
    };
    missing(Need::DeployLint, test, format!("{why} (bash scripts/setup-deploy-lint.sh installs them)"));
    None
}

/// The repository's web-test folder (`tests/web`, with `node_modules/playwright-core`) once node, Chromium
/// (`CHROMIUM_PATH`, default `/usr/bin/chromium`) and playwright-core are all there, for tests that drive a
/// page with a `tests/web/*.test.mjs` script; `None` after [`missing`] (`bash scripts/setup-web-test.sh`
/// installs them). `root` is the repository root.
#[track_caller]
pub fn web_test_dir(test: &str, root: &std::path::Path) -> Option<PathBuf> {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let have_node =
        std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let web = root.join("tests/web");
    let lacking = [
        (!have_node, "node"),
        (!PathBuf::from(&chromium).exists(), chromium.as_str()),
        (!web.join("node_modules/playwright-core").is_dir(), "tests/web/node_modules/playwright-core"),
    ];
    let lacking: Vec<&str> = lacking.iter().filter(|(l, _)| *l).map(|(_, what)| *what).collect();
    if lacking.is_empty() {
        return Some(web);
    }
    let reason = format!("{} not found; run `bash scripts/setup-web-test.sh`", lacking.join(", "));
    missing(Need::Chromium, test, reason);
    None
}

/// The Python named by `ARXIV_ATLAS_TORCH_PYTHON` (made by `scripts/setup-torch.sh`) once it imports torch,
/// transformers and sentence-transformers, or `None` after [`missing`]. For tests that compare against PyTorch.
#[track_caller]
pub fn torch_python(test: &str) -> Option<PathBuf> {
    let Some(python) = std::env::var_os("ARXIV_ATLAS_TORCH_PYTHON").filter(|p| !p.is_empty()) else {
        missing(
            Need::Torch,
            test,
            "ARXIV_ATLAS_TORCH_PYTHON is not set (export ARXIV_ATLAS_TORCH_PYTHON=\"$(bash scripts/setup-torch.sh)\")",
        );
        return None;
    };
    let python = PathBuf::from(python);
    let probe = std::process::Command::new(&python)
        .args(["-c", "import torch, transformers, sentence_transformers"])
        .output();
    let why = match probe {
        Ok(out) if out.status.success() => return Some(python),
        Ok(out) => format!(
            "{} cannot import torch, transformers and sentence_transformers: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        ),
        Err(e) => format!("cannot run {}: {e}", python.display()),
    };
    missing(Need::Torch, test, format!("{why} (bash scripts/setup-torch.sh installs them)"));
    None
}

/// The test MLflow server's URI (`ARXIV_ATLAS_TEST_MLFLOW_URI`), or `None` after [`missing`].
#[track_caller]
pub fn mlflow_uri(test: &str) -> Option<String> {
    match std::env::var("ARXIV_ATLAS_TEST_MLFLOW_URI") {
        Ok(uri) if !uri.trim().is_empty() => Some(uri.trim().to_string()),
        _ => {
            missing(
                Need::Mlflow,
                test,
                "ARXIV_ATLAS_TEST_MLFLOW_URI is not set (bash scripts/mlflow.sh start prints one)",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, so the environment changes cannot race with another test of this binary.
    #[test]
    fn a_missing_need_skips_unless_required() {
        let dir = std::env::temp_dir().join(format!("atlas-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("skips.log");
        std::env::set_var("ATLAS_SKIP_LOG", &log);
        std::env::set_var("ATLAS_SHARED_DIR", dir.join("nowhere"));
        std::env::remove_var("ATLAS_REQUIRE_DATA");
        assert!(shared_file("t1", "data/x.jsonl.gz").is_none());
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(logged.contains("skipped t1: cannot read"), "{logged}");

        std::env::set_var("ATLAS_REQUIRE_DATA", "1");
        let panicked = std::panic::catch_unwind(|| shared_file("t2", "data/x.jsonl.gz")).unwrap_err();
        let msg = panicked.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("t2: cannot read") && msg.contains("ATLAS_REQUIRE_DATA"), "{msg}");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap().lines().count(),
            1,
            "a failure is not logged as a skip"
        );

        std::env::set_var("ATLAS_REQUIRE_DATA", "0");
        assert!(!Need::Data.required());
        std::fs::write(dir.join("present"), b"x").unwrap();
        std::env::set_var("ATLAS_SHARED_DIR", &dir);
        assert_eq!(shared_file("t3", "present"), Some(dir.join("present")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
