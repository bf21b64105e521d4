//! The typed answer: one [`Check`] per thing arxiv-atlas depends on, gathered in a [`Report`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Found and usable.
    Ok,
    /// Something a default needs is not there: a command run with its defaults fails or is badly degraded.
    Missing,
    /// Works, but slower or with less than it could (or something optional is broken).
    Warning,
    /// For the record: not needed by any default.
    Info,
}

impl Status {
    /// The name used in the table and in JSON (`ok`, `missing`, `warning`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Warning => "warning",
            Status::Info => "info",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing arxiv-atlas depends on: what was found, why it matters, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier (`onnx-runtime`, `model`, `data-kit`, `postgres:ARXIV_ATLAS_INDEX`, …).
    pub name: String,
    /// The verdict.
    pub status: Status,
    /// What was found, with the paths and versions concerned.
    pub found: String,
    /// Which commands or defaults depend on it, and what happens without it.
    pub why: String,
    /// A command or setting that fixes it (`None` when there is nothing to fix).
    pub fix: Option<String>,
}

impl Check {
    pub(crate) fn new(
        name: impl Into<String>,
        status: Status,
        found: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self { name: name.into(), status, found: found.into(), why: why.into(), fix: None }
    }

    pub(crate) fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check of one run, in a fixed order, and whether the defaults have all they need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// `false` when any check is [`Status::Missing`].
    ok: bool,
    /// The checks, in the order they are printed.
    checks: Vec<Check>,
}

impl Report {
    /// A report of `checks`.
    pub fn new(checks: Vec<Check>) -> Self {
        Self { ok: !checks.iter().any(|c| c.status == Status::Missing), checks }
    }

    /// Whether nothing a default needs is missing (the `doctor` command exits 1 otherwise).
    pub fn ok(&self) -> bool {
        self.ok
    }

    /// All checks, in order.
    pub fn checks(&self) -> &[Check] {
        &self.checks
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The checks whose status is [`Status::Missing`].
    pub fn missing(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Missing)
    }
}
