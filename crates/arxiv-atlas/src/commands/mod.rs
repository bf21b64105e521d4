//! One function per subcommand: turn what clap parsed into a library call, then print the answer.

mod data;
mod demo;
mod doctor;
mod drift;
mod embed;
mod finetune;
mod map;
mod search;
mod serve;
mod sweep;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{BenchCommand, Cli, Command, IndexCommand};

/// Dispatches a parsed command line. A command that returns normally exits 0, except `doctor` and `drift`,
/// whose exit code is their verdict.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let done = match cli.command {
        Command::Doctor(a) => return doctor::doctor(a),
        Command::Drift(a) => return drift::drift(a),
        Command::Ingest(a) => data::ingest(a),
        Command::Train(a) => data::train(a),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Evaluate(a) => data::evaluate(a),
        Command::Classify(a) => data::classify(a),
        Command::Calibrate(a) => data::calibrate(a),
        Command::Runs(a) => data::runs(a),
        Command::Quickstart(a) => data::quickstart(a),
        Command::Demo(a) => demo::demo(a),
        Command::Embed(a) => embed::embed(a),
        Command::MergeEmbeddings(a) => embed::merge(a),
        Command::Finetune(a) => finetune::finetune(a),
        Command::Bench(BenchCommand::Embed(a)) => embed::bench_embed(a),
        Command::Bench(BenchCommand::Search(a)) => search::bench_search(a),
        Command::Index(IndexCommand::Build(a)) => search::build(a),
        Command::Index(IndexCommand::Add(a)) => search::add(a),
        Command::Search(a) => search::search(a),
        Command::Recommend(a) => search::recommend(a),
        Command::EvaluateRetrieval(a) => search::evaluate_retrieval(a),
        Command::Serve(a) => serve::serve(a),
        Command::Map(a) => map::map(a),
    };
    done.map(|()| ExitCode::SUCCESS)
}
