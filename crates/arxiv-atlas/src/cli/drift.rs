//! Flags of `drift`.

use std::path::PathBuf;

use atlas_corpus::Split;
use clap::{Args, Subcommand};

/// `arxiv-atlas drift`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct DriftArgs {
    #[command(subcommand)]
    pub command: Option<DriftCommand>,
    #[command(flatten)]
    pub report: DriftReportArgs,
}

/// `drift …` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriftCommand {
    /// Build (or rebuild) a model's reference profile from the validation split of `--input`, or of the data
    /// it was trained on. `train` saves one with every model; this is for older models or another reference.
    Profile(DriftProfileArgs),
}

/// The report: `drift --model RUN (--current FILE | --request-log PATH_OR_URL)`.
#[derive(Debug, Args)]
pub struct DriftReportArgs {
    /// A run folder from `train` (or the model folder inside it). Without a saved profile, one is built from
    /// the validation split of its training data first.
    #[arg(long, required = true)]
    pub model: Option<PathBuf>,
    /// Current papers: any ingest format or an ingested dataset folder.
    #[arg(long, required_unless_present = "request_log", conflicts_with = "request_log")]
    pub current: Option<PathBuf>,
    /// Use only these splits of `--current` (train, validation, test; comma-separated).
    #[arg(long, value_delimiter = ',', requires = "current")]
    pub split: Vec<Split>,
    /// The request log `serve` writes: a SQLite file or a PostgreSQL URL (classify requests are compared).
    #[arg(long, env = "ARXIV_ATLAS_REQUEST_LOG", hide_env_values = true)]
    pub request_log: Option<String>,
    /// Only requests logged at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, requires = "request_log")]
    pub since: Option<String>,
    /// Only requests logged before this time (RFC 3339 or YYYY-MM-DD, UTC).
    #[arg(long, requires = "request_log")]
    pub until: Option<String>,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write a self-contained HTML report (inline SVG plots) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub config: MonitorConfigArgs,
}

/// `arxiv-atlas drift profile`.
#[derive(Debug, Args)]
pub struct DriftProfileArgs {
    /// A run folder from `train` (or the model folder inside it).
    #[arg(long)]
    pub model: PathBuf,
    /// Reference papers (their validation split is used): any ingest format or an ingested dataset folder.
    /// Default: the data the model was trained on, from its run folder's configuration.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub config: MonitorConfigArgs,
}

/// Where the `monitor` section (thresholds, sample sizes) comes from.
#[derive(Debug, Args)]
pub struct MonitorConfigArgs {
    /// Config overrides of the `monitor` section, e.g. `--set monitor.text_auc=0.65` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Folder with `config.yaml` (default: `$ARXIV_ATLAS_CONFIG_DIR`, `./conf`, or built in).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
}
