//! `drift`: a current window against a model's reference profile; the exit code is the verdict.

use std::process::ExitCode;

use anyhow::{Context, Result};
use atlas_model::{LoadOptions, LoadedModel};
use atlas_monitor::{MonitorParams, Window};

use crate::cli::{DriftArgs, DriftCommand, DriftProfileArgs, DriftReportArgs, MonitorConfigArgs};
use crate::output;

fn params(a: &MonitorConfigArgs) -> Result<MonitorParams> {
    Ok(atlas_config::load_for_process(a.config_dir.as_deref(), &a.overrides)?.config.monitor)
}

/// Exit code of a `drift` that failed: 1 means "drift found", so a scheduled job must be able to tell a
/// broken check (a missing log, a bad model path) from an alarm.
const FAILED: u8 = 2;

pub fn drift(a: DriftArgs) -> Result<ExitCode> {
    let done = match a.command {
        Some(DriftCommand::Profile(p)) => profile(p).map(|()| ExitCode::SUCCESS),
        None => report(a.report),
    };
    Ok(done.unwrap_or_else(|err| {
        eprintln!("error: {err:#}");
        ExitCode::from(FAILED)
    }))
}

fn profile(a: DriftProfileArgs) -> Result<()> {
    let params = params(&a.config)?;
    let model = LoadedModel::open(&a.model, &LoadOptions::default())?;
    let profile = atlas_pipeline::rebuild_reference_profile(&model, a.input.as_deref(), &params)?;
    output::print_drift_profile(&profile, &model.dir);
    Ok(())
}

fn report(a: DriftReportArgs) -> Result<ExitCode> {
    let params = params(&a.config)?;
    let model_path = a.model.context("--model is required")?;
    let model = LoadedModel::open(&model_path, &LoadOptions::default())?;
    let profile = atlas_pipeline::reference_profile(&model, &params)?;
    let window = match (&a.current, &a.request_log) {
        (Some(path), _) => {
            let papers = atlas_pipeline::read_splits(path, &a.split)?;
            let splits: Vec<String> = a.split.iter().map(ToString::to_string).collect();
            let source = if splits.is_empty() {
                path.display().to_string()
            } else {
                format!("{} ({})", path.display(), splits.join(", "))
            };
            Window::from_papers(&model, &papers, source)
        }
        (None, Some(log)) => atlas_monitor::read_request_log(log, a.since.as_deref(), a.until.as_deref())?,
        (None, None) => anyhow::bail!("give --current FILE or --request-log PATH_OR_URL"),
    };
    let report = atlas_monitor::drift(&model, &profile, &window, &params)?;
    if let Some(path) = &a.report {
        atlas_artifact::write_atomic(path, atlas_monitor::render_html(&report).as_bytes())?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        output::print_drift(&report);
        if let Some(path) = &a.report {
            println!("HTML report: {}", path.display());
        }
    }
    Ok(if report.drift { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
