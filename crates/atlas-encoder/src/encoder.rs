//! The encoder: tokenizer + backend + pooling head, with length-sorted batching.

use std::path::Path;
use std::sync::OnceLock;

use crate::backend::candle::CandleBackend;
use crate::backend::{Backend, BackendKind, DeviceSpec, Precision};
use crate::batch::{plan_batches, BatchLimits, TokenBatch};
use crate::dense::{apply_steps, load_steps, LoadedStep};
use crate::error::EncoderError;
use crate::folder::{hash_files, ModelFolder};
use crate::pooling::{Pooling, PoolingHead};
use crate::template::TextTemplate;
use crate::tokenize::TextTokenizer;

/// How to load an [`Encoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderOptions {
    /// Engine. Default: [`BackendKind::Auto`] (ONNX Runtime on CPU when installed, else candle).
    pub backend: BackendKind,
    /// Weight precision. Default fp32; int8 needs the ONNX backend.
    pub precision: Precision,
    /// Compute threads; 0 lets the engine use one per core.
    pub threads: usize,
    /// ONNX backend only: independent sessions that run model calls side by side, the threads split between
    /// them (1 = one session using every thread). A server with two callers on a 2-core CPU does more work
    /// with two 1-thread sessions than with one 2-thread session, which waits for its threads at every
    /// operator; each session holds its own copy of the weights.
    pub sessions: usize,
    /// Batch size limits used by [`Encoder::embed`].
    pub limits: BatchLimits,
    /// Where the model runs. Default: CPU.
    pub device: DeviceSpec,
    /// ONNX backend only: a graph file inside `onnx/` other than the default for the precision.
    pub onnx_file: Option<String>,
    /// How records become text (see [`Encoder::template`]); part of [`Encoder::embedding_id`].
    pub template: TextTemplate,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            backend: BackendKind::Auto,
            precision: Precision::Fp32,
            threads: 0,
            sessions: 1,
            limits: BatchLimits::default(),
            device: DeviceSpec::Cpu,
            onnx_file: None,
            template: TextTemplate::default(),
        }
    }
}

/// Row-major `n × dim` embeddings, one row per input text, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    data: Vec<f32>,
    dim: usize,
}

impl Embeddings {
    /// Wraps a row-major buffer whose length is a multiple of `dim`.
    pub fn new(data: Vec<f32>, dim: usize) -> Result<Self, EncoderError> {
        if dim == 0 || !data.len().is_multiple_of(dim) {
            return Err(EncoderError::InvalidOption(format!(
                "{} floats do not form rows of dimension {dim}",
                data.len()
            )));
        }
        Ok(Self { data, dim })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Width of a row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`, or `None` past the end.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        self.data.get(i * self.dim..(i + 1) * self.dim)
    }

    /// All rows in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }

    /// The row-major buffer.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The row-major buffer, by value.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

/// A sentence-transformer encoder.
///
/// `Encoder` is `Send + Sync`; concurrent [`Encoder::embed`] calls are safe (the ONNX backend serialises them,
/// candle runs them side by side).
pub struct Encoder {
    folder: ModelFolder,
    tokenizer: TextTokenizer,
    backend: Box<dyn Backend>,
    head: PoolingHead,
    /// The modules after pooling that the head does not run (Dense layers and what follows them), applied to
    /// the pooled rows; empty for the usual Pooling [-> Normalize] folders.
    tail: Vec<LoadedStep>,
    limits: BatchLimits,
    template: TextTemplate,
    /// Weight file used by the backend when it is not the folder's safetensors (the ONNX graph), relative to
    /// the folder; folded into the embedding id.
    graph_file: Option<String>,
    precision: Precision,
    embedding_id: OnceLock<String>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.folder.dir())
            .field("backend", &self.backend.name())
            .field("head", &self.head)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Opens the model folder `dir` and loads it on the backend `opts` names.
    pub fn load(dir: &Path, opts: &EncoderOptions) -> Result<Self, EncoderError> {
        opts.limits.validate()?;
        let folder = ModelFolder::open(dir)?;
        let tokenizer = TextTokenizer::from_folder(&folder)?;
        let kind = resolve_backend(opts);
        if opts.backend == BackendKind::Auto && kind == BackendKind::Candle && opts.device == DeviceSpec::Cpu
        {
            warn_candle_on_cpu();
        }
        let (backend, graph_file): (Box<dyn Backend>, Option<String>) = match kind {
            BackendKind::Candle | BackendKind::Auto => {
                if opts.onnx_file.is_some() {
                    return Err(EncoderError::InvalidOption(
                        "onnx_file is set but the backend is candle".into(),
                    ));
                }
                (Box::new(CandleBackend::load(&folder, opts.precision, opts.device, opts.threads)?), None)
            }
            BackendKind::Onnx => load_onnx(&folder, opts)?,
        };
        tracing::info!(dir = %dir.display(), backend = backend.name(), "encoder loaded");
        Self::from_parts(
            folder,
            tokenizer,
            backend,
            opts.limits,
            opts.template.clone(),
            graph_file,
            opts.precision,
        )
    }

    /// Assembles an encoder from parts, e.g. with a custom [`Backend`]. `graph_file` names the weight file the
    /// backend runs when it is not the folder's `model.safetensors` (relative to the folder).
    pub fn from_parts(
        folder: ModelFolder,
        tokenizer: TextTokenizer,
        backend: Box<dyn Backend>,
        limits: BatchLimits,
        template: TextTemplate,
        graph_file: Option<String>,
        precision: Precision,
    ) -> Result<Self, EncoderError> {
        limits.validate()?;
        // The backends pool (and normalise, when that comes first) the transformer's states; any Dense module
        // runs here on the pooled rows, the same code for every engine.
        let mut tail = load_steps(&folder)?;
        let normalize = tail.first() == Some(&LoadedStep::Normalize);
        if normalize {
            tail.remove(0);
        }
        let head = PoolingHead { pooling: folder.pooling(), normalize, dim: folder.config().hidden_size };
        Ok(Self {
            folder,
            tokenizer,
            backend,
            head,
            tail,
            limits,
            template,
            graph_file,
            precision,
            embedding_id: OnceLock::new(),
        })
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.folder.dim()
    }

    /// Longest input in tokens; longer texts are truncated.
    pub fn max_seq_length(&self) -> usize {
        self.tokenizer.max_seq_length()
    }

    /// Pooling mode.
    pub fn pooling(&self) -> Pooling {
        self.head.pooling
    }

    /// Whether embeddings are unit vectors (so cosine similarity is a dot product).
    pub fn normalize(&self) -> bool {
        self.folder.normalize()
    }

    /// The backend's description, e.g. `onnx int8 cpu (model_qint8_avx2.onnx)`.
    pub fn backend_name(&self) -> &str {
        self.backend.name()
    }

    /// The parsed model folder.
    pub fn folder(&self) -> &ModelFolder {
        &self.folder
    }

    /// Where the model runs.
    pub fn device(&self) -> DeviceSpec {
        self.backend.device()
    }

    /// Batch limits used by [`Encoder::embed`].
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// Replaces the batch limits used by [`Encoder::embed`] (a server bounds its model calls tighter than a
    /// corpus run; see [`BatchLimits`]). The vector space does not change: results do not depend on batching.
    pub fn set_limits(&mut self, limits: BatchLimits) -> Result<(), EncoderError> {
        limits.validate()?;
        self.limits = limits;
        Ok(())
    }

    /// How records become text for this encoder.
    pub fn template(&self) -> &TextTemplate {
        &self.template
    }

    /// See [`ModelFolder::model_hash`].
    pub fn model_hash(&self) -> Result<&str, EncoderError> {
        self.folder.model_hash()
    }

    /// Identifies the vector space this encoder produces, for caches and indexes: the model hash, plus the
    /// ONNX graph's hash and the precision when the backend does not run the safetensors weights (an int8
    /// graph gives different vectors), plus the text template.
    pub fn embedding_id(&self) -> Result<&str, EncoderError> {
        if let Some(id) = self.embedding_id.get() {
            return Ok(id);
        }
        let id = embedding_id_of(
            &self.folder,
            self.graph_file.as_deref(),
            self.precision,
            self.template.as_str(),
        )?;
        Ok(self.embedding_id.get_or_init(|| id))
    }

    /// Token ids of each text exactly as sentence-transformers produces them (`[CLS]`/`[SEP]` included,
    /// truncated to [`Encoder::max_seq_length`]).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EncoderError> {
        self.tokenizer.encode(texts)
    }

    /// Embeds `texts` with the encoder's batch limits. Texts are sorted by token count and batched with minimal
    /// padding; rows come back in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Embeddings, EncoderError> {
        self.embed_with(texts, self.limits)
    }

    /// Like [`Encoder::embed`] with other batch limits.
    pub fn embed_with(&self, texts: &[&str], limits: BatchLimits) -> Result<Embeddings, EncoderError> {
        let ids = self.tokenize(texts)?;
        self.embed_tokens(&ids, limits)
    }

    /// Embeds already tokenized sequences (as returned by [`Encoder::tokenize`]).
    pub fn embed_tokens(&self, ids: &[Vec<u32>], limits: BatchLimits) -> Result<Embeddings, EncoderError> {
        limits.validate()?;
        let (pooled_dim, dim) = (self.head.dim, self.dim());
        let mut out = vec![0.0f32; ids.len() * dim];
        let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
        for members in plan_batches(&lengths, limits) {
            let seqs: Vec<&[u32]> = members.iter().map(|&i| ids[i].as_slice()).collect();
            let batch = TokenBatch::new(&seqs, self.tokenizer.pad_id())?;
            let pooled = self.backend.embed_batch(&batch, &self.head)?;
            if pooled.len() != members.len() * pooled_dim {
                return Err(EncoderError::InvalidOption(format!(
                    "backend `{}` returned {} floats for {} rows of {pooled_dim}",
                    self.backend.name(),
                    pooled.len(),
                    members.len()
                )));
            }
            let pooled = apply_steps(&self.tail, pooled, pooled_dim);
            for (&i, row) in members.iter().zip(pooled.chunks_exact(dim)) {
                out[i * dim..(i + 1) * dim].copy_from_slice(row);
            }
        }
        Embeddings::new(out, dim)
    }
}

/// The [`Encoder::embedding_id`] an encoder of `folder` has when its backend runs `graph_file` (an ONNX graph
/// inside the folder, relative to it; `None` for the folder's safetensors weights) at `precision` and renders
/// papers with the template `template` — computed without loading a backend, e.g. to label vectors derived
/// from another space by a known map (a fine-tuned adapter applied to cached embeddings).
pub fn embedding_id_of(
    folder: &ModelFolder,
    graph_file: Option<&str>,
    precision: Precision,
    template: &str,
) -> Result<String, EncoderError> {
    let files: Vec<String> = graph_file.iter().map(|f| f.to_string()).collect();
    hash_files(
        folder.dir(),
        &files,
        &[("model", folder.model_hash()?), ("precision", precision.as_str()), ("template", template)],
    )
}

/// What [`BackendKind::Auto`] means for these options.
pub fn resolve_backend(opts: &EncoderOptions) -> BackendKind {
    match opts.backend {
        BackendKind::Auto if opts.precision == Precision::Int8 || opts.onnx_file.is_some() => {
            BackendKind::Onnx
        }
        BackendKind::Auto if opts.device == DeviceSpec::Cpu && onnx_runtime_available() => BackendKind::Onnx,
        BackendKind::Auto => BackendKind::Candle,
        other => other,
    }
}

/// `auto` settled on candle on the CPU, several times slower than ONNX Runtime there (docs/benchmarks.md: 9–14
/// texts/s against 42 for ONNX Runtime fp32 on the same 2-vCPU machine), so a corpus run takes hours instead of
/// minutes: say so loudly, with the fix, instead of only naming the backend in an info line.
fn warn_candle_on_cpu() {
    // The error names where the library was looked for and the setup script.
    #[cfg(feature = "onnx")]
    let why = crate::backend::onnx::find_ort_library()
        .err()
        .map_or_else(|| "ONNX Runtime appeared after the engine was chosen".to_owned(), |e| e.to_string());
    #[cfg(not(feature = "onnx"))]
    let why = "this build has no `onnx` feature (rebuild with the default features, then run \
               `bash scripts/setup-onnxruntime.sh`)"
        .to_owned();
    tracing::warn!(
        "the `auto` engine falls back to candle on the CPU, about 3-4x slower than ONNX Runtime: {why}. \
         `arxiv-atlas doctor` shows what this machine will use and why"
    );
}

/// Whether this build has the ONNX backend and its shared library can be found.
pub fn onnx_runtime_available() -> bool {
    #[cfg(feature = "onnx")]
    {
        crate::backend::onnx::find_ort_library().is_ok()
    }
    #[cfg(not(feature = "onnx"))]
    {
        false
    }
}

#[cfg(feature = "onnx")]
fn load_onnx(
    folder: &ModelFolder,
    opts: &EncoderOptions,
) -> Result<(Box<dyn Backend>, Option<String>), EncoderError> {
    use crate::backend::onnx::{GraphSource, OnnxBackend};
    if opts.device != DeviceSpec::Cpu {
        return Err(EncoderError::InvalidOption(format!(
            "the onnx backend runs on the CPU only (asked for {}); use the candle backend for GPUs",
            opts.device
        )));
    }
    let source = OnnxBackend::graph_source(folder, opts.precision, opts.onnx_file.as_deref())?;
    // A graph file defines its own weights and joins the embedding id; a graph written from model.safetensors
    // computes the same function as candle on the same weights, already covered by the model hash.
    let graph_file = match &source {
        GraphSource::File(path) => {
            Some(path.strip_prefix(folder.dir()).unwrap_or(path).to_string_lossy().replace('\\', "/"))
        }
        // Precision is part of the embedding id, so the quantized graph's vectors never mix with fp32 ones.
        GraphSource::FromSafetensors | GraphSource::QuantizedFromSafetensors => None,
    };
    let backend = OnnxBackend::load_sessions(folder, &source, opts.precision, opts.threads, opts.sessions)?;
    Ok((Box::new(backend), graph_file))
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(
    _folder: &ModelFolder,
    _opts: &EncoderOptions,
) -> Result<(Box<dyn Backend>, Option<String>), EncoderError> {
    Err(EncoderError::InvalidOption("atlas-encoder was built without the `onnx` feature".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_rows_and_shape_checks() {
        let e = Embeddings::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3).unwrap();
        assert_eq!((e.len(), e.dim(), e.is_empty()), (2, 3, false));
        assert_eq!(e.row(1), Some(&[4.0, 5.0, 6.0][..]));
        assert_eq!(e.row(2), None);
        assert_eq!(e.rows().count(), 2);
        assert!(Embeddings::new(vec![1.0; 4], 3).is_err());
        assert!(Embeddings::new(vec![], 0).is_err());
        assert!(Embeddings::new(vec![], 3).unwrap().is_empty());
    }

    #[test]
    fn auto_backend_resolution() {
        let opts =
            |backend, precision, device| EncoderOptions { backend, precision, device, ..Default::default() };
        let gpu = DeviceSpec::Cuda(0);
        assert_eq!(
            resolve_backend(&opts(BackendKind::Auto, Precision::Int8, DeviceSpec::Cpu)),
            BackendKind::Onnx
        );
        assert_eq!(resolve_backend(&opts(BackendKind::Auto, Precision::Fp32, gpu)), BackendKind::Candle);
        let cpu = resolve_backend(&opts(BackendKind::Auto, Precision::Fp32, DeviceSpec::Cpu));
        let want = if onnx_runtime_available() { BackendKind::Onnx } else { BackendKind::Candle };
        assert_eq!(cpu, want);
        // Explicit choices are kept, even the impossible ones (they fail with a clear error at load).
        assert_eq!(resolve_backend(&opts(BackendKind::Candle, Precision::Int8, gpu)), BackendKind::Candle);
        assert_eq!(resolve_backend(&opts(BackendKind::Onnx, Precision::Fp32, gpu)), BackendKind::Onnx);
    }
}
