//! Flags of the commands that run a sentence encoder: `embed` and `bench embed`.

use std::path::PathBuf;

use atlas_corpus::Split;
use atlas_encoder::{BackendKind, DeviceSpec, EncoderSpec, Precision};
use clap::Args;

/// Which sentence-transformer to run, and how.
#[derive(Debug, Clone, Args)]
pub struct EncoderArgs {
    /// Model folder in the sentence-transformers layout, or a Hugging Face id (`owner/name[@revision]`,
    /// fetched into the HF cache; `HF_HUB_OFFLINE=1` reads the cache only). Default: `$ARXIV_ATLAS_MODEL_DIR`,
    /// else `../shared/models/all-MiniLM-L6-v2` (the data kit beside the repository) when present.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Engine: auto (ONNX Runtime on CPU when installed, else candle), candle, onnx.
    #[arg(long = "engine", alias = "backend", value_enum, default_value_t = BackendKind::Auto)]
    pub engine: BackendKind,
    /// Weight precision: fp32 (exact) or int8 (ONNX Runtime: the model's `onnx/model_qint8_avx2.onnx`, else a
    /// graph quantized from `model.safetensors`).
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub precision: Precision,
    /// Device for the candle engine: cpu, cuda or cuda:N (needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceSpec,
    /// Compute threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Texts per batch (texts are sorted by length first, so padding stays small).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Input text template (`{title}`, `{abstract}`, `{authors}`, `{id}`).
    #[arg(long, default_value = atlas_corpus::DEFAULT_TEMPLATE)]
    pub template: atlas_corpus::TextTemplate,
}

impl EncoderArgs {
    /// The encoder these flags describe.
    pub fn spec(&self) -> EncoderSpec {
        EncoderSpec {
            model_dir: self.model_dir.clone(),
            backend: self.engine,
            precision: self.precision,
            device: self.device,
            threads: self.threads,
            batch_size: self.batch_size as usize,
        }
    }
}

/// `arxiv-atlas embed`.
#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Papers: any ingest format or an ingested dataset folder.
    #[arg(long)]
    pub input: PathBuf,
    /// Output embedding set folder (re-running resumes an interrupted run).
    #[arg(long)]
    pub out: PathBuf,
    /// Only papers of these splits (comma-separated: train,validation,test); default all.
    #[arg(long, value_delimiter = ',')]
    pub split: Vec<Split>,
    /// Papers per chunk: the unit that is saved and resumed.
    #[arg(long, default_value_t = 2048)]
    pub chunk_size: usize,
    /// Stop after this many new chunks (a time-boxed run); the same command later resumes.
    #[arg(long)]
    pub max_chunks: Option<usize>,
    /// Embed only shard I of N (0-based, e.g. `0/4`): the selected papers are cut into N contiguous ranges in
    /// input order, sizes within one paper of each other, so N workers need no coordination and
    /// `merge-embeddings` (or `index build` with every shard) puts the single run back together.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<atlas_embed::Shard>,
    /// Do not read or fill the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Cache folder (default `$ARXIV_ATLAS_CACHE_DIR/embeddings` or `~/.cache/arxiv-atlas/embeddings`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}

/// `arxiv-atlas merge-embeddings`.
#[derive(Debug, Args)]
pub struct MergeEmbeddingsArgs {
    /// The shard sets, one folder per shard of an `embed --shard I/N` run (any order; all N required).
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Output embedding set folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `arxiv-atlas bench embed`.
#[derive(Debug, Args)]
pub struct BenchEmbedArgs {
    /// Papers to take texts from (default: the data kit's arxiv-mini beside the repository).
    #[arg(long, default_value = "../shared/data/arxiv-mini.jsonl.gz")]
    pub input: PathBuf,
    /// Use the first N papers.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Timed passes over all texts (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Texts timed one at a time for latency.
    #[arg(long, default_value_t = 200)]
    pub latency_texts: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub encoder: EncoderArgs,
}
