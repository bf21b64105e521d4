//! The numbers of docs/monitoring.md: a trained model's drift verdicts on real and synthetic shifts, with
//! wall times, as a Markdown table.
//!
//! ```text
//! cargo run --release -p atlas-monitor --example measure -- RUN DATASET RECENT [WINDOWS]
//! ```
//! `RUN`: a training run (its model folder must hold a drift profile); `DATASET`: the ingested dataset it was
//! trained on (its test split is the "same data"); `RECENT`: papers of a later period
//! (`../shared/data/recent-2025.jsonl.gz`); `WINDOWS`: random 1,000-paper windows of the test split (20).
//! `SKIP_RECENT_ALL=1` leaves out the whole of `RECENT` (slow for embedding models, which embed every text).
//!
//! Every case is reported twice: as a file of new papers (the report predicts every text) and as the live path
//! sees it (`serve`'s background task, `drift --request-log`): the same texts with the answers the server
//! logged for them, computed here beforehand, outside the timing, exactly as the server computed them.
//! A profile of format 1 (uncalibrated confidences) is rebuilt in memory from the dataset's validation split,
//! so that the logged (calibrated) answers can be used.

use std::path::PathBuf;
use std::time::Instant;

use atlas_corpus::{Dataset, Paper, Split};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_monitor::synthetic::measured_cases;
use atlas_monitor::{
    drift, observe, DriftReport, LoggedPrediction, MonitorParams, PredictionSource, ReferenceProfile, Window,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, dataset, recent, rest @ ..] = args.as_slice() else {
        return Err("usage: measure RUN DATASET RECENT [WINDOWS]".into());
    };
    let windows: u64 = rest.first().map(|w| w.parse()).transpose()?.unwrap_or(20);
    let model = LoadedModel::open(&PathBuf::from(run), &LoadOptions::default())?;
    let mut profile = ReferenceProfile::load(&model.dir)?.ok_or("the model has no drift profile")?;
    let params = MonitorParams::default();
    let dataset = Dataset::open(dataset)?;
    if !profile.calibrated_confidence {
        let valid = dataset.read(Split::Validation)?;
        let window = Window::from_papers(&model, &valid, profile.source.clone());
        profile = ReferenceProfile::build(&model, &window, &params)?;
        eprintln!("the saved profile holds uncalibrated confidences (format 1): rebuilt in memory");
    }
    let test = dataset.read(Split::Test)?;
    let (recent, _) = atlas_corpus::load_papers(&PathBuf::from(recent), None)?;
    println!(
        "| case | papers | verdict | tests that report drift | text AUC | predicted JS | confidence KS | embedding AUC | MMD² (p) | seconds | predicting | text classifier | other tests | seconds, logged predictions |"
    );
    println!("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let run_case = |name: &str, papers: &[Paper]| -> Result<DriftReport, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let mut window = Window::from_papers(&model, papers, name);
        let r = drift(&model, &profile, &window, &params)?;
        let seconds = t.elapsed().as_secs_f64();
        // The live path: what the server answered is in its log (computed here, untimed, as it computed it).
        let served = observe(&model, &window.texts, profile.vocabulary.as_ref())?;
        let version = model.version();
        window.predictions = Some(
            served
                .predicted
                .into_iter()
                .zip(served.confidence)
                .map(|(category, confidence)| LoggedPrediction {
                    category,
                    confidence,
                    model_version: version.clone(),
                })
                .collect(),
        );
        let t = Instant::now();
        let live = drift(&model, &profile, &window, &params)?;
        let live_seconds = t.elapsed().as_secs_f64();
        if live.predictions != PredictionSource::Logged || live.drifted != r.drifted {
            return Err(format!(
                "{name}: the logged path differs ({:?}: {:?}; drifted {:?} vs {:?})",
                live.predictions, live.predictions_reason, live.drifted, r.drifted
            )
            .into());
        }
        let phase = |p: &str| r.timings.get(p).copied().unwrap_or_default();
        let score = |f: &str, m: &str| {
            r.tests.iter().find(|x| x.feature == f && x.method == m).map(|x| format!("{:.3}", x.score))
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            papers.len(),
            if r.drift { "**drift**" } else { "no drift" },
            if r.drifted.is_empty() { "–".to_string() } else { r.drifted.join(", ") },
            score("text", "domain_classifier_auc").unwrap_or_default(),
            score("predicted_category", "jensen_shannon").unwrap_or_default(),
            score("confidence", "ks").unwrap_or_default(),
            score("embedding", "domain_classifier_auc").unwrap_or_else(|| "–".into()),
            r.tests
                .iter()
                .find(|x| x.feature == "embedding" && x.method == "mmd")
                .map_or("–".into(), |x| format!("{:.4} ({:.3})", x.score, x.p_value.unwrap_or(f64::NAN))),
            seconds,
            // Where the time goes: `observe` predicts every text (a peer given the predictions skips it), then
            // the TF-IDF domain classifier, then every other test (embedding ones included).
            phase("observe"),
            phase("text_domain"),
            phase("tests") + phase("embedding"),
            live_seconds
        );
        Ok(r)
    };
    // An embedding model embeds every new text (~1 min per 1,000 on 2 CPU cores): SKIP_RECENT_ALL=1 leaves out
    // the 30,000-paper case.
    let recent_all = std::env::var_os("SKIP_RECENT_ALL").is_none();
    let mut alarms = 0;
    for case in measured_cases(&test, &recent, windows, recent_all) {
        let r = run_case(&case.name, &case.papers)?;
        if case.name.starts_with("test window") {
            alarms += usize::from(r.drift);
            if case.name == format!("test window {}", windows - 1) {
                println!(
                    "\nfalse alarms: {alarms} of {windows} random 1,000-paper windows of the test split\n"
                );
            }
        }
    }
    Ok(())
}
