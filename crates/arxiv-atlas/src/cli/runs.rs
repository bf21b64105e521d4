//! Flags of `runs` (list, compare, push, register).

use std::path::PathBuf;

use clap::{Args, Subcommand};

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
