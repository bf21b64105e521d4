//! [`Machine`]: everything the checks look at, gathered in one value so that a test can describe a machine that
//! is not this one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::cpu::CpuFeatures;

/// The environment variables the checks read (nothing else of the process environment is looked at).
pub const VARS: &[&str] = &[
    "ORT_DYLIB_PATH",
    "ARXIV_ATLAS_ORT_HOME",
    "HOME",
    "ARXIV_ATLAS_MODEL_DIR",
    "HF_HUB_OFFLINE",
    "HF_HUB_CACHE",
    "HF_HOME",
    "ARXIV_ATLAS_INDEX",
    "ARXIV_ATLAS_REQUEST_LOG",
    "ARXIV_ATLAS_DATABASE_URL",
];

/// The machine to inspect.
#[derive(Clone)]
pub struct Machine {
    /// The working directory: arxiv-atlas resolves its relative defaults (`../shared/...`) against it.
    pub cwd: PathBuf,
    /// Values of the variables in [`VARS`] that are set (others are ignored).
    pub vars: BTreeMap<String, String>,
    /// The CPU's vector extensions.
    pub cpu: CpuFeatures,
    /// Whether this build has the ONNX Runtime backend (atlas-encoder feature `onnx`).
    pub onnx_built: bool,
    /// Whether this build's candle backend runs on CUDA (atlas-encoder feature `cuda`).
    pub cuda_built: bool,
    /// NVIDIA GPUs the driver lists, by model name (empty without a driver).
    pub nvidia_gpus: Vec<String>,
    /// Also load the ONNX Runtime library, open the CUDA device and connect to PostgreSQL; `false` judges by
    /// files and settings only (what a test of a made-up machine wants).
    pub live: bool,
}

impl Machine {
    /// This process's machine: working directory, environment, CPU, build features and GPUs, with live checks.
    pub fn current() -> Self {
        let vars = VARS
            .iter()
            .filter_map(|&name| {
                std::env::var_os(name).map(|v| (name.to_owned(), v.to_string_lossy().into_owned()))
            })
            .collect();
        Self {
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            vars,
            cpu: CpuFeatures::detect(),
            onnx_built: atlas_encoder::backend::onnx_built(),
            cuda_built: atlas_encoder::backend::cuda_built(),
            nvidia_gpus: nvidia_gpus(Path::new("/proc/driver/nvidia/gpus")),
            live: true,
        }
    }

    /// The value of `name` when set and not empty.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// [`Machine::var`] as a path.
    pub(crate) fn path_var(&self, name: &str) -> Option<PathBuf> {
        self.var(name).map(PathBuf::from)
    }

    /// `path` as arxiv-atlas opens it from [`Machine::cwd`].
    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        self.cwd.join(path)
    }
}

// By hand: the variables may hold database URLs with passwords, which must not reach a log through `{:?}`.
impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("cwd", &self.cwd)
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("cpu", &self.cpu)
            .field("onnx_built", &self.onnx_built)
            .field("cuda_built", &self.cuda_built)
            .field("nvidia_gpus", &self.nvidia_gpus)
            .field("live", &self.live)
            .finish()
    }
}

/// Model names of the GPUs the NVIDIA driver lists under `dir` (`/proc/driver/nvidia/gpus/<bus id>/information`,
/// line `Model: …`).
fn nvidia_gpus(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut gpus: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("information")).ok())
        .map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("Model:").map(|m| m.trim().to_owned()))
                .unwrap_or_else(|| "NVIDIA GPU".to_owned())
        })
        .collect();
    gpus.sort();
    gpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_are_read_from_the_driver_listing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(nvidia_gpus(&dir.path().join("absent")).is_empty());
        let gpu = dir.path().join("0000:01:00.0");
        std::fs::create_dir_all(&gpu).unwrap();
        std::fs::write(gpu.join("information"), "Model: \t NVIDIA H100 80GB HBM3\nIRQ: 42\n").unwrap();
        assert_eq!(nvidia_gpus(dir.path()), vec!["NVIDIA H100 80GB HBM3".to_owned()]);
    }

    #[test]
    fn debug_never_shows_variable_values() {
        let mut m = Machine::current();
        m.vars.insert("ARXIV_ATLAS_INDEX".into(), "postgres://u:s3cret@db/x".into());
        let shown = format!("{m:?}");
        assert!(shown.contains("ARXIV_ATLAS_INDEX") && !shown.contains("s3cret"), "{shown}");
    }
}
