//! Flags of `sweep`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// `arxiv-atlas sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Config overrides as for `train`, plus the search space: `KEY=choice(A,B,…)` for every key that varies
    /// (e.g. `experiment=embedding_mlp 'experiment.mlp.hidden=choice(256,512)'`; quote them for the shell).
    #[arg(required = true)]
    pub overrides: Vec<String>,
    /// `grid`: every combination in order; `random`: `--trials` distinct combinations drawn at random.
    #[arg(long, value_enum, default_value_t = StrategyArg::Grid)]
    pub strategy: StrategyArg,
    /// Most trials (default: every combination).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Seed of the random strategy.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The run metric trials are ranked by.
    #[arg(long, default_value = "validation_accuracy")]
    pub metric: String,
    /// Whether higher or lower is better (default: lower for metrics named `…loss…`, `…ece…`, `…error…`).
    #[arg(long, value_enum)]
    pub goal: Option<GoalArg>,
    /// Sweep folder (its `sweep.json` is the state a rerun resumes from); default:
    /// `<run.root>/sweeps/sweep-<hash of the plan>`, so the same command resumes the same sweep.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Folder with `config.yaml` and group folders (default: `$ARXIV_ATLAS_CONFIG_DIR`, `./conf`, or built in).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Print the final sweep state as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Every combination.
    Grid,
    /// Random distinct combinations.
    Random,
}

/// `--goal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GoalArg {
    /// Higher is better.
    Max,
    /// Lower is better.
    Min,
}
