//! ONNX Runtime backend: runs a graph of the model folder on the CPU, either an `onnx/model*.onnx` file or the
//! fp32 graph [`crate::backend::onnx_graph`] writes from `model.safetensors` (see [`GraphSource`]).
//!
//! The graphs Hugging Face ships (and `shared/bench/export_onnx.py` writes) take `input_ids`, `attention_mask`
//! and usually `token_type_ids` (int64, `[batch, seq]`) and return `last_hidden_state` `[batch, seq, hidden]`;
//! pooling and normalisation stay in the shared [`PoolingHead`], exactly as for candle.
//!
//! ONNX Runtime is a C++ library loaded at run time (`ort`'s `load-dynamic`), so building this crate needs no
//! download and no C++ toolchain. The library is found through `ORT_DYLIB_PATH`, else the link that
//! `scripts/setup-onnxruntime.sh` leaves in `~/.cache/arxiv-atlas/ort/`.

use std::borrow::Cow;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::TensorRef;

use super::onnx_graph::{self, GraphPart};
use super::{Backend, Precision};
use crate::batch::TokenBatch;
use crate::error::EncoderError;
use crate::folder::ModelFolder;
use crate::pooling::{HiddenStates, PoolingHead};

/// Environment variable naming the ONNX Runtime shared library (the variable `ort` itself reads).
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Overrides the folder `scripts/setup-onnxruntime.sh` installs into (default `~/.cache/arxiv-atlas/ort`).
pub const ORT_HOME_ENV: &str = "ARXIV_ATLAS_ORT_HOME";

/// File name of the int8 graph Hugging Face ships for x86 CPUs (per-channel, reduced-range weights, which
/// avoid the u8×s8 saturation of AVX2 kernels).
pub const INT8_GRAPH: &str = "model_qint8_avx2.onnx";

/// File name of the fp32 graph.
pub const FP32_GRAPH: &str = "model.onnx";

/// Where the ONNX Runtime library is looked for, in order: `$ORT_DYLIB_PATH` when set (and then only there),
/// else `libonnxruntime.so` in `$ARXIV_ATLAS_ORT_HOME` or `~/.cache/arxiv-atlas/ort` (the setup script's link).
pub fn ort_library_candidates() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    library_candidates(var(ORT_DYLIB_ENV), var(ORT_HOME_ENV), var("HOME"))
}

/// [`ort_library_candidates`] for given values of `ORT_DYLIB_PATH`, `ARXIV_ATLAS_ORT_HOME` and `HOME` (empty
/// values count as unset), so a caller that inspects another environment than this process's gets the same
/// rule.
pub fn library_candidates(
    dylib: Option<PathBuf>,
    ort_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Vec<PathBuf> {
    if let Some(p) = dylib {
        return vec![p];
    }
    let lib = format!("{}onnxruntime{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    ort_home
        .or_else(|| home.map(|h| h.join(".cache/arxiv-atlas/ort")))
        .map(|d| vec![d.join(lib)])
        .unwrap_or_default()
}

/// The ONNX Runtime library to load, or [`EncoderError::OrtLibraryNotFound`] naming where it looked and the
/// setup script.
pub fn find_ort_library() -> Result<PathBuf, EncoderError> {
    first_existing(&ort_library_candidates())
}

/// The first existing file of `candidates` (as [`library_candidates`] lists them), or
/// [`EncoderError::OrtLibraryNotFound`] naming them all and the setup script.
pub fn first_existing(candidates: &[PathBuf]) -> Result<PathBuf, EncoderError> {
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| EncoderError::OrtLibraryNotFound {
        tried: if candidates.is_empty() {
            "nowhere: neither ORT_DYLIB_PATH nor HOME is set".to_owned()
        } else {
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        },
    })
}

static ENV: OnceLock<Environment> = OnceLock::new();

/// The process-wide ONNX Runtime environment. The shared library can be loaded only once per process, so this
/// is a global; a failure to *find* the library is not cached (running the setup script then retrying works).
fn environment() -> Result<&'static Environment, EncoderError> {
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    environment_from(&find_ort_library()?)
}

/// [`environment`] with the library at `lib` (unless one is loaded already).
fn environment_from(lib: &Path) -> Result<&'static Environment, EncoderError> {
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    // Serialise initialisation: two threads loading the library at once would race inside `ort`.
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(env) = ENV.get() {
        return Ok(env);
    }
    let env = ort::init_from(lib)
        .map_err(|e| onnx_err(format!("loading {}", lib.display()), e))?
        .with_name("atlas-encoder")
        .build()
        .map_err(|e| onnx_err("creating the environment", e))?;
    tracing::debug!(library = %lib.display(), "ONNX Runtime loaded");
    Ok(ENV.get_or_init(|| env))
}

/// An ONNX Runtime library that loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrtLibrary {
    /// Its version (`1.32.0`) as its file name or build information gives it (the `ort` crate keeps the
    /// library's own version call to itself); `None` when neither names one.
    pub version: Option<String>,
    /// ONNX Runtime's own build information line (`ORT Build Info: git-branch=…, git-commit-id=…, …`).
    pub build_info: String,
}

/// Loads the ONNX Runtime library at `lib` the way the backend does (the API version `ort` needs included),
/// and says which version it is. The library is loaded once per process: when one is loaded already, that one
/// is reported.
pub fn load_ort_library(lib: &Path) -> Result<OrtLibrary, EncoderError> {
    environment_from(lib)?;
    let build_info = ort::info().to_owned();
    // The wheel's file is `libonnxruntime.so.1.32.0` behind the setup script's link; release builds also say
    // `git-branch=rel-1.32.0`.
    let real = std::fs::canonicalize(lib).unwrap_or_else(|_| lib.to_path_buf());
    let version = real.file_name().and_then(|n| version_in_file_name(&n.to_string_lossy())).or_else(|| {
        build_info
            .split(|c: char| c == ',' || c.is_whitespace())
            .find_map(|part| part.strip_prefix("git-branch=rel-"))
            .map(str::to_owned)
    });
    Ok(OrtLibrary { version, build_info })
}

/// `1.32.0` from `libonnxruntime.so.1.32.0` or `libonnxruntime.1.32.0.dylib`: the first run of digits and dots
/// with at least two dots.
fn version_in_file_name(name: &str) -> Option<String> {
    name.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|run| run.trim_matches('.'))
        .find(|run| run.matches('.').count() >= 2)
        .map(str::to_owned)
}

fn onnx_err(context: impl Into<String>, e: impl Display) -> EncoderError {
    EncoderError::Onnx { context: context.into(), message: e.to_string() }
}

/// Where the ONNX graph comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphSource {
    /// A graph file of the model folder.
    File(PathBuf),
    /// An fp32 graph written in memory from the folder's `model.safetensors`.
    FromSafetensors,
    /// An int8 graph written in memory from the folder's `model.safetensors` and quantized by arxiv-atlas
    /// ([`crate::backend::onnx_graph::INT8_WRITTEN`]): int8 for models that ship no int8 graph, e.g. fine-tuned
    /// ones.
    QuantizedFromSafetensors,
}

/// ONNX Runtime sessions over one graph of the model folder.
pub struct OnnxBackend {
    /// `Session::run` takes `&mut self` (ONNX Runtime allocators are not thread-safe), so each session serves
    /// one call at a time; with several sessions, concurrent calls each take a free one.
    sessions: Vec<Mutex<Session>>,
    /// Where the next call starts looking for a free session (spreads calls across sessions).
    next: std::sync::atomic::AtomicUsize,
    has_token_type_ids: bool,
    output: String,
    name: String,
}

impl std::fmt::Debug for OnnxBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxBackend")
            .field("name", &self.name)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl OnnxBackend {
    /// Which graph runs for `precision`: `file_override` (a file inside `onnx/`) if given; for int8
    /// `onnx/model_qint8_avx2.onnx` if the folder ships one, else an int8 graph quantized here from
    /// `model.safetensors`; for fp32 `onnx/model.onnx` if the folder ships one, else a graph written
    /// from `model.safetensors` (see [`crate::backend::onnx_graph`]).
    pub fn graph_source(
        folder: &ModelFolder,
        precision: Precision,
        file_override: Option<&str>,
    ) -> Result<GraphSource, EncoderError> {
        match (precision, file_override) {
            (_, Some(file)) => folder.onnx_path(file).map(GraphSource::File),
            (Precision::Int8, None) => match folder.onnx_path(INT8_GRAPH) {
                Ok(path) => Ok(GraphSource::File(path)),
                Err(_) => folder.safetensors_path().map(|_| GraphSource::QuantizedFromSafetensors),
            },
            (Precision::Fp32, None) => match folder.onnx_path(FP32_GRAPH) {
                Ok(path) => Ok(GraphSource::File(path)),
                Err(_) => folder.safetensors_path().map(|_| GraphSource::FromSafetensors),
            },
        }
    }

    /// Opens `source` with `threads` intra-op threads (0 = ONNX Runtime's default, one per physical core).
    /// `precision` is the one the graph was chosen for (it only names the backend).
    pub fn load(
        folder: &ModelFolder,
        source: &GraphSource,
        precision: Precision,
        threads: usize,
    ) -> Result<Self, EncoderError> {
        Self::load_sessions(folder, source, precision, threads, 1)
    }

    /// Like [`OnnxBackend::load`] with `sessions` independent sessions that run calls side by side, `threads`
    /// (0 = one per available core) split evenly between them, at least one each.
    pub fn load_sessions(
        folder: &ModelFolder,
        source: &GraphSource,
        precision: Precision,
        threads: usize,
        sessions: usize,
    ) -> Result<Self, EncoderError> {
        let sessions = sessions.max(1);
        let threads = match (threads, sessions) {
            (t, 1) => t,
            (0, n) => (std::thread::available_parallelism().map_or(1, |c| c.get()) / n).max(1),
            (t, n) => (t / n).max(1),
        };
        // Written once, loaded by every session.
        let graph = match source {
            GraphSource::File(_) => None,
            GraphSource::FromSafetensors => Some(crate::backend::onnx_graph::transformer_graph(folder)?),
            GraphSource::QuantizedFromSafetensors => {
                Some(onnx_graph::transformer_graph_with(folder, GraphPart::Full, onnx_graph::INT8_WRITTEN)?)
            }
        };
        let mut opened = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            opened.push(Self::session(source, graph.as_deref(), threads)?);
        }
        let session = &opened[0];
        let origin = source_origin(source);
        let ctx = |what: &str| format!("{what} ({origin})");
        let label = match source {
            GraphSource::File(path) => {
                path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
            }
            GraphSource::FromSafetensors => "from model.safetensors".to_owned(),
            GraphSource::QuantizedFromSafetensors => "quantized from model.safetensors".to_owned(),
        };
        let name = if sessions > 1 {
            format!("onnx {precision} cpu ({label}, {sessions} sessions × {threads} threads)")
        } else {
            format!("onnx {precision} cpu ({label})")
        };
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !inputs.contains(&required) {
                return Err(onnx_err(
                    ctx("checking the graph"),
                    format!("input `{required}` missing (graph inputs: {inputs:?})"),
                ));
            }
        }
        if let Some(extra) =
            inputs.iter().find(|n| !matches!(**n, "input_ids" | "attention_mask" | "token_type_ids"))
        {
            return Err(onnx_err(ctx("checking the graph"), format!("unexpected input `{extra}`")));
        }
        let has_token_type_ids = inputs.contains(&"token_type_ids");
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let output = ["last_hidden_state", "token_embeddings"]
            .into_iter()
            .find(|n| outputs.contains(n))
            .or(outputs.first().copied())
            .ok_or_else(|| onnx_err(ctx("checking the graph"), "the graph has no output"))?
            .to_owned();
        Ok(Self {
            sessions: opened.into_iter().map(Mutex::new).collect(),
            next: std::sync::atomic::AtomicUsize::new(0),
            has_token_type_ids,
            output,
            name,
        })
    }

    /// One session over `source` (or the in-memory `graph` written for it) with `threads` intra-op threads.
    fn session(source: &GraphSource, graph: Option<&[u8]>, threads: usize) -> Result<Session, EncoderError> {
        let env = environment()?;
        let origin = source_origin(source);
        let ctx = |what: &str| format!("{what} ({origin})");
        let mut builder = Session::builder(env)
            .map_err(|e| onnx_err(ctx("creating a session"), e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| onnx_err(ctx("setting the optimisation level"), e))?
            // One graph at a time: the parallelism is inside the matmuls.
            .with_inter_threads(1)
            .map_err(|e| onnx_err(ctx("setting inter-op threads"), e))?;
        if threads > 0 {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| onnx_err(ctx(&format!("setting {threads} intra-op threads")), e))?;
        }
        match (source, graph) {
            (GraphSource::File(path), _) => {
                builder.commit_from_file(path).map_err(|e| onnx_err(ctx("loading the graph"), e))
            }
            (GraphSource::FromSafetensors | GraphSource::QuantizedFromSafetensors, Some(graph)) => {
                builder.commit_from_memory(graph).map_err(|e| onnx_err(ctx("loading the graph"), e))
            }
            (GraphSource::FromSafetensors | GraphSource::QuantizedFromSafetensors, None) => {
                Err(onnx_err(ctx("loading the graph"), "no graph was written from model.safetensors"))
            }
        }
    }

    /// Runs `f` on a free session: the first unlocked one from a rotating start, else waits for one.
    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        use std::sync::atomic::Ordering;
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Ok(mut s) = self.sessions[(start + i) % n].try_lock() {
                return f(&mut s);
            }
        }
        let mut s = self.sessions[start].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut s)
    }
}

/// A token batch widened to the int64 inputs the graphs take (a few KB per batch, nothing next to the forward
/// pass), owned so that the session inputs can borrow it.
struct TokenInputs {
    shape: [i64; 2],
    ids: Vec<i64>,
    mask: Vec<i64>,
    types: Vec<i64>,
}

impl TokenInputs {
    fn new(batch: &TokenBatch, with_types: bool) -> Self {
        let widen = |v: &[u32]| v.iter().map(|&x| i64::from(x)).collect::<Vec<i64>>();
        TokenInputs {
            shape: [batch.rows() as i64, batch.seq_len() as i64],
            ids: widen(batch.input_ids()),
            mask: widen(batch.attention_mask()),
            types: if with_types { widen(batch.token_type_ids()) } else { Vec::new() },
        }
    }

    /// `input_ids`, `attention_mask` and, when widened, `token_type_ids`.
    fn values(&self) -> Result<Vec<(Cow<'_, str>, SessionInputValue<'_>)>, EncoderError> {
        fn tensor(shape: [i64; 2], data: &[i64]) -> Result<SessionInputValue<'_>, EncoderError> {
            TensorRef::from_array_view((shape, data))
                .map(Into::into)
                .map_err(|e| onnx_err("building inputs", e))
        }
        let mut inputs = vec![
            ("input_ids".into(), tensor(self.shape, &self.ids)?),
            ("attention_mask".into(), tensor(self.shape, &self.mask)?),
        ];
        if !self.types.is_empty() {
            inputs.push(("token_type_ids".into(), tensor(self.shape, &self.types)?));
        }
        Ok(inputs)
    }
}

/// One ONNX Runtime session over a part of a model's fp32 graph ([`GraphPart`]): fine-tuning the top layers
/// runs the frozen bottom once per paper ([`PartSession::hidden_states`]) and the (tuned) top over the kept
/// states ([`PartSession::top`]); together they compute what the full graph computes.
pub struct PartSession {
    session: Mutex<Session>,
    part: GraphPart,
    hidden: usize,
    has_token_type_ids: bool,
}

impl std::fmt::Debug for PartSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartSession").field("part", &self.part).finish_non_exhaustive()
    }
}

impl PartSession {
    /// Writes `part` of `folder`'s graph from its `model.safetensors` and opens it with `threads` intra-op
    /// threads (0 = ONNX Runtime's default).
    pub fn open(folder: &ModelFolder, part: GraphPart, threads: usize) -> Result<Self, EncoderError> {
        let graph = crate::backend::onnx_graph::transformer_graph_part(folder, part)?;
        let session = OnnxBackend::session(&GraphSource::FromSafetensors, Some(&graph), threads)?;
        let has_token_type_ids = session.inputs().iter().any(|i| i.name() == "token_type_ids");
        Ok(Self {
            session: Mutex::new(session),
            part,
            hidden: folder.config().hidden_size,
            has_token_type_ids,
        })
    }

    /// Which layers the session runs.
    pub fn part(&self) -> GraphPart {
        self.part
    }

    /// Runs a [`GraphPart::Bottom`] or [`GraphPart::Full`] graph on `batch`: `[rows, seq, hidden]` row-major.
    pub fn hidden_states(&self, batch: &TokenBatch) -> Result<Vec<f32>, EncoderError> {
        if matches!(self.part, GraphPart::Top { .. }) {
            return Err(EncoderError::InvalidOption("a top graph takes hidden states, not tokens".into()));
        }
        let tokens = TokenInputs::new(batch, self.has_token_type_ids);
        let inputs = tokens.values()?;
        let shape = tokens.shape;
        let output = if matches!(self.part, GraphPart::Full) { "last_hidden_state" } else { "hidden_states" };
        self.run(inputs, output, shape)
    }

    /// Runs a [`GraphPart::Top`] graph on `hidden` (`[rows, seq, hidden]`, the states of the bottom layers) with
    /// `mask` (`[rows, seq]`, 1 = real token): `last_hidden_state`, `[rows, seq, hidden]` row-major.
    pub fn top(
        &self,
        hidden: &[f32],
        mask: &[u32],
        rows: usize,
        seq: usize,
    ) -> Result<Vec<f32>, EncoderError> {
        if !matches!(self.part, GraphPart::Top { .. }) {
            return Err(EncoderError::InvalidOption("only a top graph takes hidden states".into()));
        }
        if hidden.len() != rows * seq * self.hidden || mask.len() != rows * seq {
            return Err(EncoderError::InvalidOption(format!(
                "{} states and {} mask values for {rows} × {seq} × {}",
                hidden.len(),
                mask.len(),
                self.hidden
            )));
        }
        let mask: Vec<i64> = mask.iter().map(|&m| i64::from(m)).collect();
        let states = TensorRef::from_array_view(([rows as i64, seq as i64, self.hidden as i64], hidden))
            .map_err(|e| onnx_err("building inputs", e))?;
        let mask_t = TensorRef::from_array_view(([rows as i64, seq as i64], &mask[..]))
            .map_err(|e| onnx_err("building inputs", e))?;
        let inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
            vec![("hidden_states".into(), states.into()), ("attention_mask".into(), mask_t.into())];
        self.run(inputs, "last_hidden_state", [rows as i64, seq as i64])
    }

    fn run(
        &self,
        inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)>,
        output: &str,
        [rows, seq]: [i64; 2],
    ) -> Result<Vec<f32>, EncoderError> {
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(inputs).map_err(|e| onnx_err("running the graph", e))?;
        let value = outputs
            .get(output)
            .ok_or_else(|| onnx_err("reading outputs", format!("no output `{output}`")))?;
        let (shape, data) =
            value.try_extract_tensor::<f32>().map_err(|e| onnx_err(format!("reading `{output}`"), e))?;
        if **shape != [rows, seq, self.hidden as i64] {
            return Err(onnx_err(
                format!("reading `{output}`"),
                format!("shape {shape:?}, expected [{rows}, {seq}, {}]", self.hidden),
            ));
        }
        Ok(data.to_vec())
    }
}

fn source_origin(source: &GraphSource) -> String {
    match source {
        GraphSource::File(path) => path.display().to_string(),
        GraphSource::FromSafetensors => "graph written from model.safetensors".to_owned(),
        GraphSource::QuantizedFromSafetensors => "int8 graph quantized from model.safetensors".to_owned(),
    }
}

impl Backend for OnnxBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn embed_batch(&self, batch: &TokenBatch, head: &PoolingHead) -> Result<Vec<f32>, EncoderError> {
        let (rows, seq) = (batch.rows(), batch.seq_len());
        let tokens = TokenInputs::new(batch, self.has_token_type_ids);
        let inputs = tokens.values()?;
        self.with_session(|session| {
            let outputs = session.run(inputs).map_err(|e| onnx_err("running the graph", e))?;
            let value = outputs
                .get(&self.output)
                .ok_or_else(|| onnx_err("reading outputs", format!("no output `{}`", self.output)))?;
            let (out_shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| onnx_err(format!("reading `{}`", self.output), e))?;
            if **out_shape != [rows as i64, seq as i64, head.dim as i64] {
                return Err(onnx_err(
                    format!("reading `{}`", self.output),
                    format!("shape {out_shape:?}, expected [{rows}, {seq}, {}]", head.dim),
                ));
            }
            head.apply(HiddenStates { data, seq_len: seq, lengths: batch.lengths() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_from_library_file_names() {
        assert_eq!(version_in_file_name("libonnxruntime.so.1.32.0").as_deref(), Some("1.32.0"));
        assert_eq!(version_in_file_name("libonnxruntime.1.22.1.dylib").as_deref(), Some("1.22.1"));
        assert_eq!(version_in_file_name("libonnxruntime.so"), None);
        assert_eq!(version_in_file_name("libonnxruntime.so.1"), None);
    }

    #[test]
    fn library_lookup_order_and_error() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(library_candidates(p("/x/lib.so"), p("/o"), p("/h")), vec![PathBuf::from("/x/lib.so")]);
        assert_eq!(library_candidates(None, p("/o"), p("/h")), vec![PathBuf::from("/o/libonnxruntime.so")]);
        assert_eq!(
            library_candidates(None, None, p("/h")),
            vec![PathBuf::from("/h/.cache/arxiv-atlas/ort/libonnxruntime.so")]
        );
        assert!(library_candidates(None, None, None).is_empty());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("libonnxruntime.so");
        let err = first_existing(std::slice::from_ref(&missing)).unwrap_err().to_string();
        assert!(
            err.contains("scripts/setup-onnxruntime.sh") && err.contains(&*missing.to_string_lossy()),
            "{err}"
        );
        std::fs::write(&missing, b"").unwrap();
        assert_eq!(first_existing(std::slice::from_ref(&missing)).unwrap(), missing);
        assert!(first_existing(&[]).unwrap_err().to_string().contains("neither ORT_DYLIB_PATH nor HOME"));
    }
}
