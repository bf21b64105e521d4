//! `doctor`: the report of `atlas_doctor`, as a table or JSON, and its verdict as the exit code.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::DoctorArgs;
use crate::output;

pub fn doctor(a: DoctorArgs) -> Result<ExitCode> {
    let report = atlas_doctor::diagnose(&atlas_doctor::Machine::current());
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        output::print_doctor(&report);
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
