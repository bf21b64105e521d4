//! `arxiv-atlas`: the command-line entry point.
//!
//! This crate only parses arguments, calls the library crates and prints: the workflows live in
//! `atlas-pipeline` (train, evaluate, classify), models open through `atlas-model`, indexes through
//! `atlas-index` (`IndexLocation`, the retrieval protocol), the server through `atlas-serve`
//! (`build_state`). `anyhow` is used here, at the edge, and nowhere else.

mod cli;
mod commands;
#[cfg(test)]
mod docs;
mod output;

use clap::Parser;

// Training and batch inference allocate many short-lived buffers from several threads; mimalloc is measurably
// faster than glibc malloc for that pattern and costs nothing in the rest of the program.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// When `main` began: `serve` reports its cold start from here (the time before `main` — exec and the dynamic
/// loader — is a few milliseconds and is not counted).
pub(crate) static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn main() -> std::process::ExitCode {
    PROCESS_START.get_or_init(std::time::Instant::now);
    let cli = cli::Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    // Long work shows a bar on a terminal and plain log lines elsewhere; --quiet shows neither.
    if cli.quiet {
        atlas_progress::Display::configure(atlas_progress::Display::Hidden);
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr so that `--json` output on stdout stays machine-readable. `ARXIV_ATLAS_LOG` takes an
/// `EnvFilter` directive (e.g. `debug` or `atlas_classify=trace`) and wins over `-v`/`-q`.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // umap-rs logs every step of its graph construction at info; `map` prints its own progress instead.
    let filter = EnvFilter::try_from_env("ARXIV_ATLAS_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},umap_rs=warn")));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
