//! `ingest`, `train`, `evaluate`, `classify`, `calibrate`, `runs` and `quickstart`.

use anyhow::{bail, Context, Result};
use atlas_corpus::{IngestOptions, Paper, Split};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_pipeline::EvaluateRequest;
use serde_json::json;

use crate::cli::{
    CalibrateArgs, ClassifyArgs, ConformalScore, EvaluateArgs, IngestArgs, QuickstartArgs, RunsArgs,
    RunsCommand, TrainArgs,
};
use crate::output;

pub fn ingest(a: IngestArgs) -> Result<()> {
    let opts = IngestOptions {
        max_samples: a.limit.and_then(|l| l.0),
        max_per_category: a.max_per_category,
        taxonomy: atlas_corpus::taxonomy_path(a.taxonomy.as_deref()),
        progress: !a.json,
    };
    if let Some(dataset) = &a.append_to {
        let report = atlas_corpus::append(&a.inputs, dataset, &opts)?;
        if a.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            output::print_append_summary(&report);
        }
        return Ok(());
    }
    // clap requires --out unless --append-to is given.
    let out = a.out.as_deref().context("--out or --append-to is required")?;
    let report = atlas_corpus::ingest(&a.inputs, out, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        output::print_ingest_summary(&report);
        println!("dataset written to {}", out.display());
    }
    Ok(())
}

pub fn train(a: TrainArgs) -> Result<()> {
    let resolved = atlas_config::load_for_process(a.config_dir.as_deref(), &a.overrides)?;
    if a.print_config {
        print!("{}", resolved.to_yaml());
        return Ok(());
    }
    let outcome = atlas_pipeline::train(&resolved)?;
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

pub fn evaluate(a: EvaluateArgs) -> Result<()> {
    let outcome = atlas_pipeline::evaluate(&EvaluateRequest {
        model: a.model,
        input: a.input,
        splits: a.split,
        run_dir: a.run_dir,
        runs_root: a.runs_root,
        multilabel_threshold: a.multilabel_threshold,
        coverage: a.coverage,
    })?;
    if a.json {
        let mut summary = outcome.summary();
        if let Some(o) = summary.as_object_mut() {
            o.insert("run_dir".into(), json!(outcome.run_dir));
        }
        println!("{summary}");
    } else {
        output::print_report(&outcome.report);
        if let Some(c) = &outcome.calibration {
            output::print_calibration(c);
        }
        if let Some(c) = &outcome.coverage {
            output::print_coverage(c);
        }
        println!(
            "reports, confusion matrix and reliability diagram in {}",
            outcome.run_dir.join("artifacts").display()
        );
    }
    Ok(())
}

pub fn calibrate(a: CalibrateArgs) -> Result<()> {
    let score = match a.score {
        ConformalScore::Raps => None,
        ConformalScore::Aps => Some(atlas_pipeline::ScoreKind::Aps),
    };
    let outcome = atlas_pipeline::calibrate_model(&a.model, &a.input, score)?;
    if a.json {
        let mut obj = serde_json::Map::new();
        obj.insert("model_dir".into(), json!(outcome.model_dir));
        obj.insert("n_validation".into(), json!(outcome.n_validation));
        for (k, v) in atlas_pipeline::calibration_numbers(&outcome.calibration) {
            obj.insert(k, json!(v));
        }
        println!("{}", serde_json::Value::Object(obj));
    } else {
        output::print_metrics("calibration", &atlas_pipeline::calibration_numbers(&outcome.calibration));
        println!(
            "calibration written to {}",
            outcome.model_dir.join(atlas_model::CALIBRATION_FILE).display()
        );
    }
    Ok(())
}

pub fn classify(a: ClassifyArgs) -> Result<()> {
    let model = LoadedModel::open(&a.model, &LoadOptions::default())?;
    let top_k = a.top_k as usize;
    match (&a.title, &a.abstract_text, &a.input, &a.out) {
        (Some(title), Some(abs), None, _) => {
            let paper = Paper::from_text(title, abs);
            if paper.title.is_empty() && paper.abstract_text.is_empty() {
                bail!("--title and --abstract are both empty");
            }
            let paper = std::slice::from_ref(&paper);
            let mut result = atlas_pipeline::classify_papers(&model, paper, top_k, a.coverage, false)?;
            if a.explain {
                atlas_pipeline::explain_classifications(&model, paper, &mut result)?;
            }
            let first = result.first().context("the model returned no classification")?;
            if a.json {
                println!("{}", serde_json::to_string(first)?);
            } else {
                output::print_classification(first);
            }
        }
        (None, None, Some(input), Some(out)) => {
            let report = atlas_pipeline::classify_file(&model, input, out, top_k, a.coverage)?;
            output::print_read_report(&report.read);
            println!("{} papers classified into {}", report.papers, out.display());
        }
        _ => bail!("give either --title and --abstract, or --input and --out"),
    }
    Ok(())
}

pub fn runs(a: RunsArgs) -> Result<()> {
    match a.command {
        RunsCommand::List => {
            let runs = atlas_track::list_runs(&a.runs_root)?;
            if runs.is_empty() {
                println!("no runs under {}", a.runs_root.display());
            } else {
                println!("{}", atlas_track::render_runs_table(&runs));
            }
        }
        RunsCommand::Compare { a: ra, b: rb } => {
            let ra = atlas_track::open_run(&ra, &a.runs_root)?;
            let rb = atlas_track::open_run(&rb, &a.runs_root)?;
            println!("{}", atlas_track::compare_runs(&ra, &rb));
        }
        RunsCommand::Push { run, mlflow } => {
            let run = atlas_track::open_run(&run, &a.runs_root)?;
            let client =
                atlas_track::MlflowClient::new(&mlflow.tracking_uri, atlas_track::mlflow::DEFAULT_TIMEOUT)?;
            let pushed = atlas_track::push_run(&client, &mlflow.experiment_for(&run.dir), &run.dir)?;
            println!(
                "run {} is on {} as MLflow run {} (experiment {})",
                run.id, pushed.tracking_uri, pushed.run_id, pushed.experiment
            );
        }
        RunsCommand::Register { run, name, alias, mlflow } => {
            let run = atlas_track::open_run(&run, &a.runs_root)?;
            let client =
                atlas_track::MlflowClient::new(&mlflow.tracking_uri, atlas_track::mlflow::DEFAULT_TIMEOUT)?;
            let reg = atlas_track::mlflow::register_run(
                &client,
                &mlflow.experiment_for(&run.dir),
                &run.dir,
                &name,
                alias.as_deref(),
            )?;
            println!("registered run {} as {} version {}", run.id, reg.name, reg.version);
            match &alias {
                Some(alias) => println!("serve it with: arxiv-atlas serve --model models:/{name}@{alias}"),
                None => println!("serve it with: arxiv-atlas serve --model models:/{name}/{}", reg.version),
            }
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

pub fn quickstart(a: QuickstartArgs) -> Result<()> {
    if !a.input.exists() {
        bail!(
            "{} not found (the default input is the data kit in ../shared/data, beside the repository). Download \
             the Kaggle arXiv snapshot, arxiv-metadata-oai-snapshot.json from {}, and pass --input PATH (Kaggle \
             JSON-lines, HF parquet or CSV, plain or gzip); docs/data.md has the other sources, and \
             `arxiv-atlas doctor` lists whatever else is missing",
            a.input.display(),
            atlas_doctor::KAGGLE_URL
        );
    }
    let mut overrides = vec![
        "experiment=tfidf_linear".to_string(),
        format!("data.input={}", a.input.display()),
        format!("run.dir={}", a.run_dir.display()),
    ];
    overrides.extend(a.overrides.iter().cloned());
    let resolved = atlas_config::load_for_process(None, &overrides)?;
    println!("== 1/3 ingest + train ({})", a.input.display());
    let trained = atlas_pipeline::train(&resolved)?;
    output::print_metrics("training", &trained.metrics);

    println!("\n== 2/3 evaluate on the test split");
    let dataset = atlas_pipeline::prepare_dataset(&resolved.config.data)?;
    let name = a.run_dir.file_name().and_then(|s| s.to_str()).unwrap_or("quickstart");
    let outcome = atlas_pipeline::evaluate(&EvaluateRequest {
        model: trained.run_dir.clone(),
        input: dataset.dir().to_path_buf(),
        splits: vec![Split::Test],
        run_dir: Some(a.run_dir.with_file_name(format!("{name}-eval"))),
        runs_root: resolved.config.run.root.clone(),
        multilabel_threshold: 0.2,
        coverage: None,
    })?;
    output::print_report(&outcome.report);

    println!("\n== 3/3 classify a sample paper: \"{SAMPLE_TITLE}\"");
    let model = LoadedModel::open(&trained.run_dir, &LoadOptions::default())?;
    let sample = Paper::from_text(SAMPLE_TITLE, SAMPLE_ABSTRACT);
    let result = atlas_pipeline::classify_papers(&model, std::slice::from_ref(&sample), 5, None, false)?;
    if let Some(first) = result.first() {
        output::print_classification(first);
    }
    let (ds, run) = (dataset.dir().display(), trained.run_dir.display());
    let name = dataset.dir().file_name().and_then(|n| n.to_str()).unwrap_or("papers");
    let name = name.rsplit_once('-').map_or(name, |(stem, _key)| stem);
    println!("\nmade:");
    println!("  dataset     {ds}  (train/validation/test.parquet, ingest-report.json)");
    println!("  model       {run}  (the training run; the model is in artifacts/model)");
    println!("  evaluation  {}  (report.json, per_class.csv, confusion.png)", outcome.run_dir.display());
    println!("next:");
    println!("  arxiv-atlas classify --model {run} --title \"...\" --abstract \"...\"");
    println!("  arxiv-atlas embed --input {ds} --out data/embeddings/{name}-minilm --precision int8");
    println!(
        "  arxiv-atlas index build --embeddings data/embeddings/{name}-minilm --index data/indexes/{name}"
    );
    println!("  arxiv-atlas serve --model {run} --index data/indexes/{name}");
    println!("  (or `arxiv-atlas demo` for a served page with search over the 5,000 papers of arxiv-mini in minutes)");
    Ok(())
}
