//! The command line (clap derive): every flag here shows up in `--help`. Values are parsed into the library
//! crates' own types (enums, locations), so a misspelt option is refused before any work starts.

mod data;
mod drift;
mod encoder;
mod finetune;
mod index;
mod map;
mod runs;
mod serve;
mod sweep;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use data::{CalibrateArgs, ClassifyArgs, ConformalScore, EvaluateArgs, IngestArgs, TrainArgs};
pub use drift::{DriftArgs, DriftCommand, DriftProfileArgs, DriftReportArgs, MonitorConfigArgs};
pub use encoder::{BenchEmbedArgs, EmbedArgs, EncoderArgs, MergeEmbeddingsArgs};
pub use finetune::FinetuneArgs;
pub use index::{
    BenchSearchArgs, EvalRetrievalArgs, IndexAddArgs, IndexBuildArgs, RecommendArgs, SearchArgs,
};
pub use map::MapArgs;
pub use runs::{RunsArgs, RunsCommand};
pub use serve::ServeArgs;
pub use sweep::{GoalArg, StrategyArg, SweepArgs};

/// Default of `-k/--top-k` on `classify` and `search`: one number for both, so `-k` never means 5 in one
/// command and 10 in the other. 10 because retrieval is measured at 10 (P@10, nDCG@10, recall@10) and the
/// HTTP search answers 10 by default; for classify, ten rows of the ranking show the categories a paper is
/// cross-listed in at no cost.
pub const DEFAULT_TOP_K: u32 = 10;

/// Where embedding sets go by convention: `data/embeddings/<name>`. This one, MiniLM over arxiv-100k, is the
/// default of the commands that measure retrieval, and the name every doc example uses.
pub const DEFAULT_EMBEDDINGS: &str = "data/embeddings/arxiv-100k-minilm";

/// Classify arXiv papers, embed them, find similar papers, and keep every run reproducible.
#[derive(Debug, Parser)]
#[command(name = "arxiv-atlas", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). `ARXIV_ATLAS_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read raw papers (Kaggle JSON-lines, HF parquet, CSV) into a split Parquet dataset with a report.
    Ingest(IngestArgs),
    /// Train a classifier from the configuration (`conf/`), e.g. `train experiment=tfidf_linear data=mini`.
    Train(TrainArgs),
    /// Train one run per point of a search space and rank them by a validation metric, e.g. `sweep
    /// experiment=embedding_mlp 'experiment.mlp.hidden=choice(256,512)'`; rerunning resumes an interrupted sweep.
    Sweep(SweepArgs),
    /// Measure a trained model on papers of any ingest format or an ingested dataset.
    Evaluate(EvaluateArgs),
    /// Rank categories for one paper or a file of papers (with `--coverage`, also its conformal category set).
    Classify(ClassifyArgs),
    /// Fit temperature scaling and conformal category sets for a trained model on its validation split (train
    /// does this itself; for models trained before, or to recalibrate).
    Calibrate(CalibrateArgs),
    /// List and compare run folders.
    Runs(RunsArgs),
    /// Ingest → train → evaluate the TF-IDF baseline, then classify a sample paper.
    Quickstart(QuickstartArgs),
    /// From papers to a served web page with classification and similar-paper search, in one command:
    /// train, embed and index arxiv-mini (or `--input`), then serve. Reuses what an earlier run made.
    Demo(DemoArgs),
    /// Embed papers with a sentence-transformer into an embedding set (chunked, cached, resumable).
    Embed(EmbedArgs),
    /// Merge the shard sets of `embed --shard I/N` into one embedding set, rows in the single run's order.
    MergeEmbeddings(MergeEmbeddingsArgs),
    /// Fine-tune the encoder contrastively for same-category retrieval: an adapter (residual linear layer) on
    /// the cached embeddings of an embedding set, saved as a sentence-transformers folder for `--model-dir`.
    Finetune(FinetuneArgs),
    /// Measure speed: `bench embed` (the encoder) and `bench search` (the index).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Build or extend a similar-paper index (usearch HNSW, exact, or PostgreSQL + pgvector).
    #[command(subcommand)]
    Index(IndexCommand),
    /// Find papers similar to a text or to a stored paper (`--id`), with category and year filters.
    Search(SearchArgs),
    /// Recommend papers from a reading list (`--ids`): a linear model fitted to the list over embeddings and
    /// TF-IDF ranks the whole index; the list's papers are never recommended; category and year filters as in
    /// `search`.
    Recommend(RecommendArgs),
    /// Retrieval quality (P@1, P@10, MRR@10, nDCG@10: test papers against train+validation, hit = same primary
    /// category) of exact and ANN search, with ANN recall@10 and QPS.
    EvaluateRetrieval(EvalRetrievalArgs),
    /// Serve classification, embeddings and similar-paper search over HTTP, with a web page at `/`.
    Serve(ServeArgs),
    /// What this machine will use and why: ONNX Runtime, CPU features and int8 kernels, CUDA, the default model
    /// and data kit, PostgreSQL where a URL is set. Exits 1 when something a default needs is missing.
    Doctor(DoctorArgs),
    /// Has the input drifted from what the model was trained on? Compares papers (`--current`) or the server's
    /// request log with the model's reference profile: per-feature KS/Wasserstein and χ²/Jensen–Shannon,
    /// prediction drift, a TF-IDF domain classifier naming the words that moved, embedding AUC and MMD, and
    /// accuracy when the papers have labels. Exits 1 when drift is found, 2 when the check itself fails.
    /// `drift profile` (re)builds the profile.
    Drift(DriftArgs),
    /// The 2-D map of an embedding set: papers as points coloured by archive, dense regions named after their
    /// main category (PCA, then UMAP). Writes a self-contained interactive page (hover, click to arXiv, archive
    /// filter) and optionally a PNG.
    Map(MapArgs),
}

/// `arxiv-atlas doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as one JSON object on stdout (`ok`, and `checks`: name, status, found, why, fix).
    #[arg(long)]
    pub json: bool,
}

/// `arxiv-atlas bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Encoder throughput (texts/s, tokens/s), single-text latency and GFLOP/s against the CPU's peak.
    Embed(BenchEmbedArgs),
    /// Search speed: QPS at recall@10 ≥ a target over train+validation, with the first test papers as queries.
    Search(BenchSearchArgs),
}

/// `index …` subcommands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build a search index from an embedding set (`arxiv-atlas embed`), or from the sets of a sharded run
    /// (`--embeddings` once per shard), and the papers' metadata.
    Build(IndexBuildArgs),
    /// Add the papers of an embedding set to an existing index (papers already stored are skipped).
    Add(IndexAddArgs),
}

/// `arxiv-atlas quickstart`.
#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Raw papers to start from (default: the data kit's `arxiv-100k.jsonl.gz` beside the repository).
    #[arg(long, default_value = "../shared/data/arxiv-100k.jsonl.gz")]
    pub input: PathBuf,
    /// Run folder of the training run (the evaluation run goes next to it).
    #[arg(long, default_value = "runs/quickstart")]
    pub run_dir: PathBuf,
    /// Extra config overrides, as for `train`.
    pub overrides: Vec<String>,
}

/// `arxiv-atlas demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Papers to start from (default: the data kit's 5,000-paper `arxiv-mini.jsonl.gz` beside the repository).
    #[arg(long, default_value = "../shared/data/arxiv-mini.jsonl.gz")]
    pub input: PathBuf,
    /// Folder that receives the dataset, the run, the embeddings and the index.
    #[arg(long, default_value = "demo")]
    pub dir: PathBuf,
    /// Encoder precision. Default: int8 when ONNX Runtime is installed (about 1.5x fp32's speed on a CPU, no
    /// measurable accuracy cost), else fp32 on candle (slower; `arxiv-atlas doctor` says why).
    #[arg(long, value_enum)]
    pub precision: Option<atlas_encoder::Precision>,
    /// Sentence-transformer folder or Hugging Face id (default: `$ARXIV_ATLAS_MODEL_DIR`, else
    /// `../shared/models/all-MiniLM-L6-v2` when present).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Prepare everything and print the `serve` command instead of serving.
    #[arg(long)]
    pub no_serve: bool,
}

#[cfg(test)]
mod tests;
