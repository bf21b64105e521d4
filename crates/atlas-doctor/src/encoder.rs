//! The sentence encoder: the ONNX Runtime library, the engine `auto` picks, CUDA, the default model, its int8
//! graph and the Hugging Face cache.

use std::path::{Path, PathBuf};

use atlas_encoder::backend::onnx::{self, INT8_GRAPH, ORT_DYLIB_ENV, ORT_HOME_ENV};
use atlas_encoder::folder::{FALLBACK_MODEL_DIR, MODEL_DIR_ENV};
use atlas_encoder::{hub, DeviceSpec, ModelFolder, DEFAULT_MODEL_ID};

use crate::report::{Check, Status};
use crate::Machine;

/// The command that installs ONNX Runtime where the encoder looks for it.
pub const ORT_SETUP: &str = "bash scripts/setup-onnxruntime.sh";

const ORT_WHY: &str = "the default engine (`auto`) runs the encoder on ONNX Runtime on the CPU, else on candle: \
    42.0 texts/s (fp32) and 50.5 (int8) against 9-14 for candle on the same 2-vCPU machine (docs/benchmarks.md), \
    so embedding arxiv-100k (45 minutes measured with ONNX Runtime) takes 2-3 hours on candle; --precision int8 \
    and `serve --workers N` need it";

/// What was learnt about ONNX Runtime, for the checks that depend on it.
pub(crate) struct OrtState {
    /// The library found and (when live) loaded.
    pub usable: bool,
}

/// The `onnx-runtime` check.
pub(crate) fn onnx_runtime(m: &Machine) -> (Check, OrtState) {
    let fix = format!(
        "{ORT_SETUP} (puts the onnxruntime 1.32.0 library from PyPI in ~/.cache/arxiv-atlas/ort, where arxiv-atlas \
         looks), or export {ORT_DYLIB_ENV}=/path/to/libonnxruntime.so (version 1.22 or later)"
    );
    if !m.onnx_built {
        let check = Check::new("onnx-runtime", Status::Missing, "this build has no `onnx` feature", ORT_WHY)
            .fix(format!("rebuild with the default features (cargo build --release), then {ORT_SETUP}"));
        return (check, OrtState { usable: false });
    }
    let candidates: Vec<PathBuf> =
        onnx::library_candidates(m.path_var(ORT_DYLIB_ENV), m.path_var(ORT_HOME_ENV), m.path_var("HOME"))
            .iter()
            .map(|p| m.resolve(p))
            .collect();
    let lib = match onnx::first_existing(&candidates) {
        Ok(lib) => lib,
        Err(_) => {
            let tried = if candidates.is_empty() {
                format!("nowhere to look: neither {ORT_DYLIB_ENV} nor HOME is set")
            } else {
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            };
            let check = Check::new(
                "onnx-runtime",
                Status::Missing,
                format!("not found (looked at {tried})"),
                ORT_WHY,
            )
            .fix(fix);
            return (check, OrtState { usable: false });
        }
    };
    if !m.live {
        let check =
            Check::new("onnx-runtime", Status::Ok, format!("{} (not loaded)", lib.display()), ORT_WHY);
        return (check, OrtState { usable: true });
    }
    match onnx::load_ort_library(&lib) {
        Ok(loaded) => {
            let version =
                loaded.version.map_or_else(|| "version unknown".to_owned(), |v| format!("version {v}"));
            let check =
                Check::new("onnx-runtime", Status::Ok, format!("{} ({version})", lib.display()), ORT_WHY);
            (check, OrtState { usable: true })
        }
        Err(e) => {
            let check = Check::new(
                "onnx-runtime",
                Status::Missing,
                format!("{} is there but does not load: {e}", lib.display()),
                ORT_WHY,
            )
            .fix(fix);
            (check, OrtState { usable: false })
        }
    }
}

/// The `engine` check: what `auto` resolves to on this machine.
pub(crate) fn engine(ort: &OrtState) -> Check {
    let why = "the engine is chosen per load: `auto` (the default) takes ONNX Runtime on the CPU when its library \
               loads, else candle; both fp32 paths give the same vectors (cosine 1.0000000), so only speed changes";
    if ort.usable {
        Check::new(
            "engine",
            Status::Ok,
            format!("auto → ONNX Runtime fp32 on the CPU; --precision int8 → onnx/{INT8_GRAPH}; --device cuda → candle"),
            why,
        )
    } else {
        Check::new(
            "engine",
            Status::Warning,
            "auto → candle fp32 on the CPU (about 3-4x slower; each load logs a warning); --precision int8 fails",
            why,
        )
        .fix(format!("install ONNX Runtime: {ORT_SETUP}"))
    }
}

/// The `cuda` check: the build feature, the driver's GPUs, and (live) whether device 0 opens.
pub(crate) fn cuda(m: &Machine) -> Check {
    let gpus = if m.nvidia_gpus.is_empty() {
        "no NVIDIA GPU listed by a driver".to_owned()
    } else {
        m.nvidia_gpus.join(", ")
    };
    let why =
        "the candle engine runs on a GPU with --device cuda[:N] in a build with the `cuda` feature; the CPU \
               is the default, so nothing needs it";
    let build =
        "eval \"$(bash scripts/setup-cuda-toolkit.sh)\" && cargo build --release -p arxiv-atlas --features \
                 atlas-encoder/cuda (docs/models.md, GPU build)";
    match (m.cuda_built, m.live) {
        (false, _) if m.nvidia_gpus.is_empty() => {
            Check::new("cuda", Status::Info, format!("this build has no `cuda` feature; {gpus}"), why)
        }
        (false, _) => Check::new(
            "cuda",
            Status::Warning,
            format!("GPU: {gpus}, but this build has no `cuda` feature, so candle runs on the CPU"),
            why,
        )
        .fix(build),
        (true, false) => {
            Check::new("cuda", Status::Info, format!("built with `cuda` (device not opened); {gpus}"), why)
        }
        (true, true) => match atlas_encoder::backend::probe_device(DeviceSpec::Cuda(0)) {
            Ok(()) => {
                Check::new("cuda", Status::Ok, format!("built with `cuda`; cuda:0 opens ({gpus})"), why)
            }
            Err(e) => Check::new(
                "cuda",
                Status::Warning,
                format!("built with `cuda`, but cuda:0 does not open: {e}"),
                why,
            )
            .fix("check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES"),
        },
    }
}

/// The default model folder: where it would come from, and the folder if it opens.
pub(crate) struct ModelState {
    /// The folder that opened.
    pub folder: Option<ModelFolder>,
}

/// The `model` check: `$ARXIV_ATLAS_MODEL_DIR`, else `../shared/models/all-MiniLM-L6-v2`, else the Hugging Face
/// cache as a way out.
pub(crate) fn model(m: &Machine, cache: &HubCache) -> (Check, ModelState) {
    let why = "used when no model is named: embed, bench embed, the embedding experiments \
               (experiment=embedding_lr / embedding_mlp) and the server's /v1/embed and text search";
    let hub_route = format!(
        "pass --model-dir {DEFAULT_MODEL_ID} (training: experiment.encoder.model_dir={DEFAULT_MODEL_ID}) to download it \
         once into the Hugging Face cache {} (add --precision int8 to fetch its int8 graph too); on a machine \
         without a network, copy that cache from one that has it and set HF_HUB_OFFLINE=1; or export \
         {MODEL_DIR_ENV}=/path/to/all-MiniLM-L6-v2 (docs/data.md)",
        cache.dir.display()
    );
    let env = m.path_var(MODEL_DIR_ENV);
    let from_env = env.is_some();
    match atlas_encoder::folder::default_model_dir_in(env, &m.cwd) {
        Some(dir) => {
            let origin = if from_env { format!(" (from {MODEL_DIR_ENV})") } else { String::new() };
            match ModelFolder::open(&dir) {
                Ok(folder) => {
                    let found = format!(
                        "{}{origin}: {}-dimensional, up to {} tokens",
                        dir.display(),
                        folder.dim(),
                        folder.max_seq_length()
                    );
                    (Check::new("model", Status::Ok, found, why), ModelState { folder: Some(folder) })
                }
                Err(e) => {
                    let check = Check::new("model", Status::Missing, format!("{}{origin}: {e}", dir.display()), why)
                        .fix(if from_env {
                            format!("point {MODEL_DIR_ENV} at a sentence-transformers folder, or unset it; or {hub_route}")
                        } else {
                            hub_route
                        });
                    (check, ModelState { folder: None })
                }
            }
        }
        None => {
            let mut found = format!(
                "{} not found (from {}) and {MODEL_DIR_ENV} is not set",
                FALLBACK_MODEL_DIR,
                m.cwd.display()
            );
            let fix = match &cache.default_model {
                Some(snapshot) => {
                    found.push_str(&format!(
                        "; the Hugging Face cache has {DEFAULT_MODEL_ID} at {}",
                        snapshot.display()
                    ));
                    format!(
                        "export {MODEL_DIR_ENV}={} (or pass --model-dir {DEFAULT_MODEL_ID})",
                        snapshot.display()
                    )
                }
                None => hub_route,
            };
            (Check::new("model", Status::Missing, found, why).fix(fix), ModelState { folder: None })
        }
    }
}

/// The `int8-graph` check: which ONNX graphs the default model folder ships.
pub(crate) fn int8_graph(model: &ModelState) -> Check {
    let why = format!(
        "--precision int8 runs onnx/{INT8_GRAPH} on ONNX Runtime (dynamic int8, per-channel, reduced range; cosine \
         to fp32 about 0.993, docs/models.md), or, in a folder without it (a fine-tuned model), an int8 graph of \
         the same scheme quantized from model.safetensors; fp32 needs no graph file either"
    );
    let Some(folder) = &model.folder else {
        return Check::new("int8-graph", Status::Info, "no default model folder (see `model`)", why);
    };
    let graphs = onnx_graphs(folder.dir());
    let others: Vec<&str> = graphs.iter().map(String::as_str).filter(|g| *g != INT8_GRAPH).collect();
    let others =
        if others.is_empty() { String::new() } else { format!("; also ships {}", others.join(", ")) };
    match folder.onnx_path(INT8_GRAPH) {
        Ok(path) => {
            let mb = std::fs::metadata(&path).map(|md| md.len() as f64 / 1e6).unwrap_or(0.0);
            Check::new("int8-graph", Status::Ok, format!("{} ({mb:.0} MB){others}", path.display()), why)
        }
        // Not a problem any more: int8 quantizes its own graph from the weights.
        Err(_) => Check::new(
            "int8-graph",
            Status::Info,
            format!(
                "{} has no onnx/{INT8_GRAPH}{others}; --precision int8 quantizes a graph from model.safetensors",
                folder.dir().display()
            ),
            why,
        ),
    }
}

/// File names under `<dir>/onnx/` ending in `.onnx`, sorted.
fn onnx_graphs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("onnx")) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    names.sort();
    names
}

/// The Hugging Face cache as the encoder would use it.
pub(crate) struct HubCache {
    /// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub dir: PathBuf,
    /// The snapshot of the default model, when fully cached.
    pub default_model: Option<PathBuf>,
}

impl HubCache {
    pub(crate) fn of(m: &Machine) -> Self {
        let dir = m.resolve(&hub::cache_dir_from(
            m.path_var("HF_HUB_CACHE"),
            m.path_var("HF_HOME"),
            m.path_var("HOME"),
        ));
        let default_model = hub::cached_model(&dir, DEFAULT_MODEL_ID, "main");
        Self { dir, default_model }
    }
}

/// The `hf-cache` check.
pub(crate) fn hf_cache(m: &Machine, cache: &HubCache) -> Check {
    let offline = m.var("HF_HUB_OFFLINE").is_some_and(hub::offline_value);
    let downloads =
        if offline { "downloads off (HF_HUB_OFFLINE)" } else { "downloads on (HF_HUB_OFFLINE unset)" };
    let model = match &cache.default_model {
        Some(snap) => {
            let int8 = if snap.join("onnx").join(INT8_GRAPH).is_file() { "with" } else { "without" };
            format!("{DEFAULT_MODEL_ID} cached at {} ({int8} its int8 graph)", snap.display())
        }
        None => format!("{DEFAULT_MODEL_ID} not cached"),
    };
    Check::new(
        "hf-cache",
        Status::Info,
        format!("{}: {model}; {downloads}", cache.dir.display()),
        "--model-dir OWNER/NAME[@REVISION] reads models from this cache and downloads what it lacks (the same cache \
         as Python's huggingface_hub); with HF_HUB_OFFLINE=1 only the cache is read",
    )
}
