//! One function per subcommand: parse what clap gave, call the pipeline, print.

use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use atlas_config::ConfigSource;
use atlas_corpus::{IngestOptions, Paper, Split};
use serde_json::json;

use crate::cli::{
    ClassifyArgs, Cli, Command, EvaluateArgs, IngestArgs, QuickstartArgs, RunsArgs, RunsCommand, TrainArgs,
};
use crate::model_dir::LoadedModel;
use crate::{output, pipeline};

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest(a) => ingest(a),
        Command::Train(a) => train(a),
        Command::Evaluate(a) => evaluate(a),
        Command::Classify(a) => classify(a),
        Command::Runs(a) => runs(a),
        Command::Quickstart(a) => quickstart(a),
        Command::Embed(a) => crate::encoding::embed(a),
        Command::Bench(crate::cli::BenchCommand::Embed(a)) => crate::encoding::bench_embed(a),
        Command::Bench(crate::cli::BenchCommand::Search(a)) => crate::search_cmd::bench_search(a),
        Command::Index(crate::search_cmd::IndexCommand::Build(a)) => crate::search_cmd::build(a),
        Command::Index(crate::search_cmd::IndexCommand::Add(a)) => crate::search_cmd::add(a),
        Command::Search(a) => crate::search_cmd::search(a),
        Command::EvaluateRetrieval(a) => crate::search_cmd::evaluate_retrieval(a),
        Command::Serve(a) => crate::serve_cmd::serve(a),
    }
}

fn ingest(a: IngestArgs) -> Result<()> {
    let opts = IngestOptions {
        max_samples: a.max_samples,
        max_per_category: a.max_per_category,
        taxonomy: pipeline::taxonomy_path(a.taxonomy.as_deref()),
        progress: !a.json,
    };
    let report = atlas_corpus::ingest(&a.inputs, &a.out, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        output::print_ingest_summary(&report);
        println!("dataset written to {}", a.out.display());
    }
    Ok(())
}

fn process_env() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("ARXIV_ATLAS_")).collect()
}

fn resolve_config(config_dir: Option<&Path>, overrides: &[String]) -> Result<atlas_config::ResolvedConfig> {
    let source = match config_dir {
        Some(d) => ConfigSource::Dir(d.to_path_buf()),
        None => atlas_config::default_source(),
    };
    Ok(atlas_config::load(&source, overrides, &process_env())?)
}

fn train(a: TrainArgs) -> Result<()> {
    let resolved = resolve_config(a.config_dir.as_deref(), &a.overrides)?;
    if a.print_config {
        print!("{}", resolved.to_yaml());
        return Ok(());
    }
    let outcome = pipeline::train(&resolved)?;
    if a.json {
        let mut obj = serde_json::Map::new();
        obj.insert("run_dir".into(), json!(outcome.run_dir));
        for (k, v) in &outcome.metrics {
            obj.insert(k.clone(), json!(v));
        }
        println!("{}", serde_json::Value::Object(obj));
    } else {
        output::print_metrics("training finished", &outcome.metrics);
        println!("run folder: {}", outcome.run_dir.display());
    }
    Ok(())
}

fn parse_split(s: Option<&str>) -> Result<Option<Split>> {
    s.map(|s| Split::from_str(s).map_err(|e| anyhow::anyhow!("--split {s}: {e}"))).transpose()
}

fn evaluate(a: EvaluateArgs) -> Result<()> {
    let req = pipeline::EvaluateRequest {
        model: &a.model,
        input: &a.input,
        split: parse_split(a.split.as_deref())?,
        run_dir: a.run_dir.clone(),
        runs_root: a.runs_root.clone(),
        multilabel_threshold: a.multilabel_threshold,
    };
    let outcome = pipeline::evaluate(&req)?;
    if a.json {
        let mut summary = outcome.report.summary();
        if let Some(o) = summary.as_object_mut() {
            o.insert("run_dir".into(), json!(outcome.run_dir));
        }
        println!("{summary}");
    } else {
        output::print_report(&outcome.report);
        println!("reports and confusion matrix in {}", outcome.run_dir.join("artifacts").display());
    }
    Ok(())
}

fn classify(a: ClassifyArgs) -> Result<()> {
    if a.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let model = LoadedModel::open(&a.model)?;
    match (&a.title, &a.abstract_text, &a.input) {
        (Some(title), Some(abs), None) => {
            let paper = Paper::from_text(title, abs);
            if paper.title.is_empty() && paper.abstract_text.is_empty() {
                bail!("--title and --abstract are both empty");
            }
            let texts = model.texts_for(std::iter::once(&paper));
            let probs = model.predictor.predict(&texts)?;
            let ranked = output::ranked(model.predictor.labels(), probs.row(0), a.top_k);
            if a.json {
                println!("{}", output::classification_json(None, &ranked));
            } else {
                output::print_ranked(&ranked);
            }
        }
        (None, None, Some(input)) => {
            let out = a.out.as_ref().context("--input needs --out")?;
            let (papers, report) = atlas_corpus::load_papers(input, None)?;
            if report.skipped_total() > 0 {
                output::print_read_report(&report);
            }
            let texts = model.texts_for(papers.iter());
            let probs = model.predictor.predict(&texts)?;
            atlas_artifact::write_atomic_with(out, |w| {
                for (i, p) in papers.iter().enumerate() {
                    let ranked = output::ranked(model.predictor.labels(), probs.row(i), a.top_k);
                    writeln!(w, "{}", output::classification_json(Some(&p.id), &ranked))?;
                }
                Ok(())
            })?;
            println!("{} papers classified into {}", papers.len(), out.display());
        }
        _ => bail!("give either --title and --abstract, or --input and --out"),
    }
    Ok(())
}

fn runs(a: RunsArgs) -> Result<()> {
    match a.command {
        RunsCommand::List => {
            let runs = atlas_track::list_runs(&a.root)?;
            if runs.is_empty() {
                println!("no runs under {}", a.root.display());
            } else {
                println!("{}", atlas_track::render_runs_table(&runs));
            }
        }
        RunsCommand::Compare { a: ra, b: rb } => {
            let ra = atlas_track::open_run(&ra, &a.root)?;
            let rb = atlas_track::open_run(&rb, &a.root)?;
            println!("{}", atlas_track::compare_runs(&ra, &rb));
        }
    }
    Ok(())
}

/// A sample paper for the quickstart's closing classification (arXiv:1706.03762).
const SAMPLE_TITLE: &str = "Attention Is All You Need";
const SAMPLE_ABSTRACT: &str = "The dominant sequence transduction models are based on complex recurrent or \
convolutional neural networks in an encoder-decoder configuration. The best performing models also connect the \
encoder and decoder through an attention mechanism. We propose a new simple network architecture, the \
Transformer, based solely on attention mechanisms, dispensing with recurrence and convolutions entirely. \
Experiments on two machine translation tasks show these models to be superior in quality while being more \
parallelizable and requiring significantly less time to train.";

fn quickstart(a: QuickstartArgs) -> Result<()> {
    if !a.input.exists() {
        bail!(
            "{} not found: pass --input PATH with arXiv papers (Kaggle JSON-lines, HF parquet or CSV)",
            a.input.display()
        );
    }
    let mut overrides = vec![
        "experiment=tfidf_linear".to_string(),
        format!("data.input={}", a.input.display()),
        format!("run.dir={}", a.run_dir.display()),
    ];
    overrides.extend(a.overrides.iter().cloned());
    let resolved = resolve_config(None, &overrides)?;
    println!("== 1/3 ingest + train ({})", a.input.display());
    let trained = pipeline::train(&resolved)?;
    output::print_metrics("training", &trained.metrics);

    println!("\n== 2/3 evaluate on the test split");
    let dataset = pipeline::prepare_dataset(&resolved.config.data)?;
    let eval_dir = a.run_dir.with_file_name(format!(
        "{}-eval",
        a.run_dir.file_name().and_then(|s| s.to_str()).unwrap_or("quickstart")
    ));
    let outcome = pipeline::evaluate(&pipeline::EvaluateRequest {
        model: &trained.run_dir,
        input: dataset.dir(),
        split: Some(Split::Test),
        run_dir: Some(eval_dir),
        runs_root: resolved.config.run.root.clone(),
        multilabel_threshold: 0.2,
    })?;
    output::print_report(&outcome.report);

    println!("\n== 3/3 classify a sample paper: \"{SAMPLE_TITLE}\"");
    let model = LoadedModel::open(&trained.run_dir)?;
    let paper = Paper::from_text(SAMPLE_TITLE, SAMPLE_ABSTRACT);
    let texts = model.texts_for(std::iter::once(&paper));
    let probs = model.predictor.predict(&texts)?;
    output::print_ranked(&output::ranked(model.predictor.labels(), probs.row(0), 5));
    println!(
        "\nmodel: {}\nevaluation: {}\nnext: arxiv-atlas classify --model {} --title ... --abstract ...",
        trained.run_dir.display(),
        outcome.run_dir.display(),
        trained.run_dir.display()
    );
    Ok(())
}
