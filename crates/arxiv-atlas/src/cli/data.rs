//! Flags of the data and model commands: `ingest`, `train`, `evaluate`, `calibrate`, `classify`.

use std::path::PathBuf;

use atlas_corpus::Split;
use clap::Args;

use super::DEFAULT_TOP_K;

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
    /// Input files: `.jsonl`/`.json` (plain or gzip), `.parquet` (HF arxiv-papers layout), `.csv`, and the
    /// forms arXiv publishes new papers in: an arXiv API Atom feed or an OAI-PMH `arXiv`/`arXivRaw` page (`.xml`).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder for `train/validation/test.parquet`, `ingest-report.json` and `manifest.json`.
    #[arg(long, required_unless_present = "append_to", conflicts_with = "append_to")]
    pub out: Option<PathBuf>,
    /// Add the papers of the inputs whose ids this dataset does not hold yet (same split rule; duplicates are
    /// counted), replacing the dataset folder atomically: a day's new papers without a rebuild.
    #[arg(long, value_name = "DATASET", conflicts_with_all = ["limit", "max_per_category"])]
    pub append_to: Option<PathBuf>,
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
    /// Also list, under each category, what supports it: the paper's terms that raised its score most
    /// (TF-IDF value × weight; TF-IDF models and ensembles) and the nearest training papers of the category
    /// (embedding models and ensembles), with whether the nearest training papers agree.
    #[arg(long, conflicts_with = "input")]
    pub explain: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
