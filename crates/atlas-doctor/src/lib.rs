//! `atlas-doctor`: inspect a machine and say what arxiv-atlas will use there, and why.
//!
//! One job: [`diagnose`] looks at a [`Machine`] (working directory, environment variables, CPU, build features,
//! GPUs) and returns a typed [`Report`]: one [`Check`] per dependency — the ONNX Runtime library, the engine
//! `auto` picks, the CPU's vector extensions and the int8 kernels they enable, CUDA, the default model and its
//! int8 graph, the Hugging Face cache, the data kit, the taxonomy, and PostgreSQL where a URL is set — each with
//! a [`Status`], what was found, why it matters and the command that fixes it. The `arxiv-atlas doctor` command
//! prints it as a table (or JSON) and exits 1 when something a default needs is [`Status::Missing`]; the
//! server or a script can call [`diagnose`] the same way.
//!
//! Every rule is the one the rest of arxiv-atlas follows (the encoder's library lookup, its default model
//! folder, the Hugging Face cache layout), read from the crates that own it, so the doctor cannot drift from
//! what a command does. [`Machine::current`] describes this process's machine; a test builds its own
//! [`Machine`] (with [`Machine::live`] off, nothing is loaded, opened or connected to).
//!
//! ```no_run
//! let report = atlas_doctor::diagnose(&atlas_doctor::Machine::current());
//! for c in report.missing() {
//!     eprintln!("{}: {} (fix: {})", c.name, c.found, c.fix.as_deref().unwrap_or("-"));
//! }
//! ```

#![warn(missing_docs)]

mod cpu;
mod data;
mod encoder;
mod machine;
mod postgres;
mod report;

pub use cpu::CpuFeatures;
pub use data::{KAGGLE_URL, MINI_INPUT, QUICKSTART_INPUT};
pub use encoder::ORT_SETUP;
pub use machine::{Machine, VARS};
pub use postgres::POSTGRES_VARS;
pub use report::{Check, Report, Status};

/// Runs every check on `machine`, in the order they are printed.
pub fn diagnose(machine: &Machine) -> Report {
    let (ort, ort_state) = encoder::onnx_runtime(machine);
    let cache = encoder::HubCache::of(machine);
    let (model, model_state) = encoder::model(machine, &cache);
    let mut checks = vec![
        ort,
        encoder::engine(&ort_state),
        cpu::check(&machine.cpu),
        encoder::cuda(machine),
        model,
        encoder::int8_graph(&model_state),
        encoder::hf_cache(machine, &cache),
        data::data_kit(machine),
        data::taxonomy(machine),
    ];
    checks.extend(postgres::checks(machine));
    Report::new(checks)
}

#[cfg(test)]
mod tests;
