//! The numbers of docs/monitoring.md: a trained model's drift verdicts on real and synthetic shifts, with
//! wall times, as a Markdown table.
//!
//! ```text
//! cargo run --release -p atlas-monitor --example measure -- RUN DATASET RECENT [WINDOWS]
//! ```
//! `RUN`: a training run (its model folder must hold a drift profile); `DATASET`: the ingested dataset it was
//! trained on (its test split is the "same data"); `RECENT`: papers of a later period
//! (`../shared/data/recent-2025.jsonl.gz`); `WINDOWS`: random 1,000-paper windows of the test split (20).

use std::path::PathBuf;
use std::time::Instant;

use atlas_corpus::{Dataset, Paper, Split};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_monitor::synthetic::{cut_abstracts, one_archive, random_window};
use atlas_monitor::{drift, DriftReport, MonitorParams, ReferenceProfile, Window};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, dataset, recent, rest @ ..] = args.as_slice() else {
        return Err("usage: measure RUN DATASET RECENT [WINDOWS]".into());
    };
    let windows: u64 = rest.first().map(|w| w.parse()).transpose()?.unwrap_or(20);
    let model = LoadedModel::open(&PathBuf::from(run), &LoadOptions::default())?;
    let profile = ReferenceProfile::load(&model.dir)?.ok_or("the model has no drift profile")?;
    let params = MonitorParams::default();
    let test = Dataset::open(dataset)?.read(Split::Test)?;
    let (recent, _) = atlas_corpus::load_papers(&PathBuf::from(recent), None)?;
    println!("| case | papers | verdict | tests that report drift | text AUC | predicted JS | confidence KS | seconds |");
    println!("|---|---:|---|---|---:|---:|---:|---:|");
    let run_case = |name: &str, papers: &[Paper]| -> Result<DriftReport, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let window = Window::from_papers(&model, papers, name);
        let r = drift(&model, &profile, &window, &params)?;
        let score = |f: &str, m: &str| {
            r.tests.iter().find(|x| x.feature == f && x.method == m).map(|x| format!("{:.3}", x.score))
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.2} |",
            papers.len(),
            if r.drift { "**drift**" } else { "no drift" },
            if r.drifted.is_empty() { "–".to_string() } else { r.drifted.join(", ") },
            score("text", "domain_classifier_auc").unwrap_or_default(),
            score("predicted_category", "jensen_shannon").unwrap_or_default(),
            score("confidence", "ks").unwrap_or_default(),
            t.elapsed().as_secs_f64()
        );
        Ok(r)
    };
    run_case("validation vs test", &test)?;
    let mut alarms = 0;
    for seed in 0..windows {
        let r = run_case(&format!("test window {seed}"), &random_window(&test, 1000, seed))?;
        alarms += usize::from(r.drift);
    }
    println!("\nfalse alarms: {alarms} of {windows} random 1,000-paper windows of the test split\n");
    run_case("recent-2025 (all)", &recent)?;
    run_case("recent-2025 window", &random_window(&recent, 1000, 1))?;
    run_case("one archive only (math)", &random_window(&one_archive(&test, "math"), 1000, 2))?;
    run_case("abstracts cut to 20 words", &cut_abstracts(&random_window(&test, 1000, 3), 20))?;
    Ok(())
}
