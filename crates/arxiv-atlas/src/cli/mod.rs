//! The command line (clap derive): every flag here shows up in `--help`. Values are parsed into the library
//! crates' own types (enums, locations), so a misspelt option is refused before any work starts.

mod drift;
mod encoder;
mod finetune;
mod index;
mod serve;

use std::path::PathBuf;

use atlas_corpus::Split;
use clap::{Args, Parser, Subcommand};

pub use drift::{DriftArgs, DriftCommand, DriftProfileArgs, DriftReportArgs, MonitorConfigArgs};
pub use encoder::{BenchEmbedArgs, EmbedArgs, EncoderArgs};
pub use finetune::FinetuneArgs;
pub use index::{BenchSearchArgs, EvalRetrievalArgs, IndexAddArgs, IndexBuildArgs, SearchArgs};
pub use serve::ServeArgs;

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
    /// Build a search index from an embedding set (`arxiv-atlas embed`) and the papers' metadata.
    Build(IndexBuildArgs),
    /// Add the papers of an embedding set to an existing index (papers already stored are skipped).
    Add(IndexAddArgs),
}

/// A paper count or `all`. `all` exists so that a parameter file that always passes the flag (the DVC
/// pipeline's `params.yaml`: `limit: all`) can say "no limit" without a magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaperLimit(pub Option<usize>);

impl std::str::FromStr for PaperLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("all") {
            return Ok(Self(None));
        }
        s.parse::<usize>()
            .map(|n| Self(Some(n)))
            .map_err(|_| format!("`{s}` is neither a paper count nor `all`"))
    }
}

/// `arxiv-atlas ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Input files: `.jsonl`/`.json` (plain or gzip), `.parquet` (HF arxiv-papers layout), `.csv`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder for `train/validation/test.parquet`, `ingest-report.json` and `manifest.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many kept papers (the config's `data.max_samples`); `all` (the default) keeps every paper.
    #[arg(long, alias = "max-samples", value_name = "N|all")]
    pub limit: Option<PaperLimit>,
    /// Keep at most this many papers per primary category.
    #[arg(long)]
    pub max_per_category: Option<usize>,
    /// Category names (`taxonomy.tsv`); default `../shared/data/taxonomy.tsv` when it exists.
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `arxiv-atlas train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Config overrides: `group=option` (e.g. `experiment=tfidf_linear`) or `dotted.key=value`
    /// (e.g. `data.max_samples=20000`, `run.dir=runs/my-run`).
    pub overrides: Vec<String>,
    /// Folder with `config.yaml` and group folders (default: `$ARXIV_ATLAS_CONFIG_DIR`, `./conf`, or built in).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Print the resolved configuration and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Print the final metrics as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `arxiv-atlas evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A run folder from `train` (or the model folder inside it), or a registered model `models:/NAME@ALIAS`.
    #[arg(long)]
    pub model: PathBuf,
    /// Papers to evaluate on: any ingest format or an ingested dataset folder.
    #[arg(long)]
    pub input: PathBuf,
    /// Use only these splits (train, validation, test; comma-separated); without it every record is used.
    #[arg(long, value_delimiter = ',')]
    pub split: Vec<Split>,
    /// Print the metrics as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run folder to write (default: a new folder under `--runs-root`).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Where new run folders go (the config's `run.root`).
    #[arg(long, default_value = "runs")]
    pub runs_root: PathBuf,
    /// Probability threshold for the multi-label metrics (top-1 is always predicted).
    #[arg(long, default_value_t = 0.2)]
    pub multilabel_threshold: f32,
    /// Also measure conformal category sets at this coverage (e.g. 0.9): empirical coverage, mean set size,
    /// coverage per category and the top-k size of the same coverage.
    #[arg(long, value_parser = parse_coverage)]
    pub coverage: Option<f64>,
}

/// `arxiv-atlas calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// A run folder from `train` (or the model folder inside it); its model folder gets `calibration.json`.
    #[arg(long)]
    pub model: PathBuf,
    /// Papers whose validation split calibrates: the ingested dataset the model was trained on (or the raw
    /// file, split as ingest splits it). One half (by id hash) fits the temperature, the other the conformal
    /// sets; the test split is never read.
    #[arg(long)]
    pub input: PathBuf,
    /// Conformal score: `raps` (lambda and k_reg tuned on the temperature half; what train uses) or `aps`
    /// (larger sets, no tuning).
    #[arg(long, value_enum, default_value_t = ConformalScore::Raps)]
    pub score: ConformalScore,
    /// Print the calibration as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `calibrate --score`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConformalScore {
    /// Regularised adaptive prediction sets (Angelopoulos et al. 2021).
    Raps,
    /// Adaptive prediction sets (Romano et al. 2020).
    Aps,
}

/// A coverage: a number strictly between 0 and 1.
fn parse_coverage(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1 (exclusive), e.g. 0.9"))
    }
}

/// `arxiv-atlas classify`.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// A run folder from `train` (or the model folder inside it), or a registered model `models:/NAME@ALIAS`
    /// or `models:/NAME/VERSION` (downloaded from `$MLFLOW_TRACKING_URI`, checksums verified).
    #[arg(long)]
    pub model: PathBuf,
    /// Title of one paper.
    #[arg(long, requires = "abstract_text", conflicts_with = "input")]
    pub title: Option<String>,
    /// Abstract of one paper.
    #[arg(long = "abstract", requires = "title")]
    pub abstract_text: Option<String>,
    /// Classify every paper of this file (any ingest format) instead.
    #[arg(long, requires = "out")]
    pub input: Option<PathBuf>,
    /// JSON-lines output for `--input`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// How many categories to list.
    #[arg(
        short = 'k',
        long,
        default_value_t = DEFAULT_TOP_K,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub top_k: u32,
    /// Also return the conformal category set that holds the true category with this probability (e.g. 0.9).
    #[arg(long, value_parser = parse_coverage)]
    pub coverage: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `arxiv-atlas runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
    /// Folder that holds the run folders (the config's `run.root`).
    #[arg(long, alias = "root", default_value = "runs", global = true)]
    pub runs_root: PathBuf,
}

/// `arxiv-atlas runs …`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One line per run: id, kind, status, start, duration, key metrics.
    List,
    /// Params, metrics and timings of two runs side by side.
    Compare {
        /// Run id (under --runs-root) or run folder.
        a: String,
        /// Run id (under --runs-root) or run folder.
        b: String,
    },
    /// Upload a run to an MLflow server (e.g. one recorded while the server was unreachable): params,
    /// metrics, tags and artifacts. A run already on that server is not uploaded twice.
    Push {
        /// Run id (under --runs-root) or run folder.
        run: String,
        #[command(flatten)]
        mlflow: MlflowArgs,
    },
    /// Register a training run's model in the MLflow model registry as a new version (the run is pushed
    /// first when it is not on the server yet); serve it with `--model models:/NAME@ALIAS`.
    Register {
        /// Run id (under --runs-root) or run folder.
        run: String,
        /// Registered model name (created when missing).
        #[arg(long)]
        name: String,
        /// Point this alias (e.g. `champion`) at the new version.
        #[arg(long)]
        alias: Option<String>,
        #[command(flatten)]
        mlflow: MlflowArgs,
    },
}

/// Which MLflow server and experiment `runs push` and `runs register` talk to.
#[derive(Debug, Args)]
pub struct MlflowArgs {
    /// The MLflow tracking server, e.g. `http://127.0.0.1:5000`.
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    pub tracking_uri: String,
    /// MLflow experiment the run goes to (created when missing). Default: the `tracker.experiment` the run was
    /// trained with, else `arxiv-atlas`.
    #[arg(long)]
    pub experiment: Option<String>,
}

impl MlflowArgs {
    /// The experiment for the run in `run_dir`: the flag, else the run's configured one, else the default.
    pub fn experiment_for(&self, run_dir: &std::path::Path) -> String {
        self.experiment
            .clone()
            .or_else(|| atlas_track::mlflow::configured_experiment(run_dir))
            .unwrap_or_else(|| atlas_config::DEFAULT_MLFLOW_EXPERIMENT.to_string())
    }
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
