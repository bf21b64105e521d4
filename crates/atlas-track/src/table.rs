//! Human-readable tables of runs: the list and a side-by-side comparison.

use std::collections::BTreeSet;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::record::RunRecord;

/// Metrics shown in the run list, most important first. A metric matches a name if it is the name or ends
/// with `_<name>`, `/<name>` or `.<name>` (so `validation_accuracy` counts as `accuracy`).
pub const KEY_METRICS: &[&str] =
    &["accuracy", "macro_f1", "weighted_f1", "top5_accuracy", "top3_accuracy", "log_loss"];

/// At most this many metric columns in the run list, so it stays readable in a terminal.
pub const MAX_METRIC_COLUMNS: usize = 6;

/// One row per run: id, kind, name, status, start (UTC), duration, and the key metrics any of the runs has.
pub fn render_runs_table(runs: &[RunRecord]) -> String {
    let metric_columns = key_metric_columns(runs);
    let mut table = new_table();
    let mut header: Vec<String> =
        ["id", "kind", "name", "status", "started (UTC)", "duration"].iter().map(|s| s.to_string()).collect();
    header.extend(metric_columns.iter().cloned());
    table.set_header(header);
    for run in runs {
        let mut row = vec![
            run.id.clone(),
            run.kind.clone(),
            run.name.clone().unwrap_or_default(),
            run.status.to_string(),
            run.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            run.duration_s().map(fmt_duration).unwrap_or_else(|| "-".into()),
        ];
        row.extend(
            metric_columns
                .iter()
                .map(|m| run.metrics.get(m).map(|&v| fmt_num(v)).unwrap_or_else(|| "-".into())),
        );
        table.add_row(row);
    }
    align_numbers(&mut table, 5..6 + metric_columns.len());
    table.to_string()
}

/// Which metric columns the run list shows: key metrics present in any run, by importance, then name.
fn key_metric_columns(runs: &[RunRecord]) -> Vec<String> {
    let names: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    let mut ranked: Vec<(usize, &String)> =
        names.into_iter().filter_map(|n| key_rank(n).map(|r| (r, n))).collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.len().cmp(&b.1.len())).then(a.1.cmp(b.1)));
    ranked.into_iter().take(MAX_METRIC_COLUMNS).map(|(_, n)| n.clone()).collect()
}

/// Position in [`KEY_METRICS`] of the longest key metric `name` matches.
fn key_rank(name: &str) -> Option<usize> {
    KEY_METRICS
        .iter()
        .enumerate()
        .filter(|(_, k)| name == **k || name.strip_suffix(**k).is_some_and(|p| p.ends_with(['_', '/', '.'])))
        .max_by_key(|(_, k)| k.len())
        .map(|(i, _)| i)
}

/// Options of [`compare_runs_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// Show parameters that are equal in both runs too (by default only differing ones are listed).
    pub all_params: bool,
}

/// Two runs side by side: summary, every metric, differing parameters, and timings, with `b − a` for numbers.
pub fn compare_runs(a: &RunRecord, b: &RunRecord) -> String {
    compare_runs_with(a, b, CompareOptions::default())
}

/// [`compare_runs`] with options.
pub fn compare_runs_with(a: &RunRecord, b: &RunRecord, opts: CompareOptions) -> String {
    let mut out = String::new();

    let mut summary = new_table();
    summary.set_header(vec!["run".to_string(), a.id.clone(), b.id.clone()]);
    type Field = fn(&RunRecord) -> String;
    let rows: [(&str, Field); 7] = [
        ("kind", |r| r.kind.clone()),
        ("name", |r| r.name.clone().unwrap_or_default()),
        ("status", |r| r.status.to_string()),
        ("started (UTC)", |r| r.started_at.format("%Y-%m-%d %H:%M:%S").to_string()),
        ("duration", |r| r.duration_s().map(fmt_duration).unwrap_or_else(|| "-".into())),
        ("git", |r| match &r.git {
            None => "-".into(),
            Some(g) => {
                let commit = g.commit.as_deref().map(|c| &c[..c.len().min(12)]).unwrap_or("(no commit)");
                format!("{commit}{}", if g.dirty { " (dirty)" } else { "" })
            }
        }),
        ("data fingerprint", |r| {
            r.data_fingerprint.as_deref().map(|f| f[..f.len().min(16)].to_string()).unwrap_or_default()
        }),
    ];
    for (label, get) in rows {
        summary.add_row(vec![label.to_string(), get(a), get(b)]);
    }
    out.push_str(&summary.to_string());

    let metric_names: BTreeSet<&String> = a.metrics.keys().chain(b.metrics.keys()).collect();
    out.push_str("\n\nmetrics\n");
    let mut metrics = side_by_side_table("metric", a, b);
    for name in metric_names {
        let (x, y) = (a.metrics.get(name).copied(), b.metrics.get(name).copied());
        metrics.add_row(vec![name.clone(), opt_num(x), opt_num(y), delta(x, y)]);
    }
    align_numbers(&mut metrics, 1..4);
    out.push_str(&metrics.to_string());

    let param_names: BTreeSet<&String> = a.params.keys().chain(b.params.keys()).collect();
    let total = param_names.len();
    let mut params = side_by_side_table("param", a, b);
    let mut shown = 0;
    for name in param_names {
        let (x, y) = (a.params.get(name), b.params.get(name));
        if x == y && !opts.all_params {
            continue;
        }
        shown += 1;
        let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_f64);
        params.add_row(vec![name.clone(), fmt_json(x), fmt_json(y), delta(num(x), num(y))]);
    }
    if opts.all_params {
        out.push_str(&format!("\n\nparams ({total})\n"));
    } else {
        out.push_str(&format!("\n\nparams ({shown} differ, {} equal not shown)\n", total - shown));
    }
    if shown > 0 {
        align_numbers(&mut params, 3..4);
        out.push_str(&params.to_string());
    }

    let phase_names: BTreeSet<&String> = a.timings.keys().chain(b.timings.keys()).collect();
    out.push_str("\n\ntimings (s)\n");
    let mut timings = side_by_side_table("phase", a, b);
    for name in phase_names {
        let (x, y) = (a.timings.get(name).copied(), b.timings.get(name).copied());
        timings.add_row(vec![name.clone(), opt_num(x), opt_num(y), delta(x, y)]);
    }
    align_numbers(&mut timings, 1..4);
    out.push_str(&timings.to_string());
    out
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t
}

fn side_by_side_table(what: &str, a: &RunRecord, b: &RunRecord) -> Table {
    let mut t = new_table();
    t.set_header(vec![what.to_string(), a.id.clone(), b.id.clone(), "b − a".to_string()]);
    t
}

fn align_numbers(table: &mut Table, columns: std::ops::Range<usize>) {
    for i in columns {
        if let Some(col) = table.column_mut(i) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Integers without decimals (counts, sizes), large values with one, the rest with four.
fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

fn opt_num(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "-".into())
}

fn delta(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => {
            let d = b - a;
            let s = fmt_num(d);
            if d > 0.0 {
                format!("+{s}")
            } else {
                s
            }
        }
        _ => String::new(),
    }
}

fn fmt_json(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "-".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn fmt_duration(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let s = s.round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = (s / 60.0).round() as u64;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_metric_matching() {
        assert_eq!(key_rank("accuracy"), Some(0));
        assert_eq!(key_rank("validation_accuracy"), Some(0));
        assert_eq!(key_rank("test/macro_f1"), Some(1));
        assert_eq!(key_rank("validation_top5_accuracy"), Some(3), "the longest key metric wins");
        assert_eq!(key_rank("train_loss"), None);
        assert_eq!(key_rank("inaccuracy"), None, "only whole name parts match");
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_num(300000.0), "300000");
        assert_eq!(fmt_num(0.81234), "0.8123");
        assert_eq!(fmt_num(1234.56), "1234.6");
        assert_eq!(delta(Some(0.5), Some(0.75)), "+0.2500");
        assert_eq!(delta(Some(3.0), Some(1.0)), "-2");
        assert_eq!(delta(None, Some(1.0)), "");
        assert_eq!(fmt_duration(12.34), "12.3s");
        assert_eq!(fmt_duration(125.0), "2m 05s");
        assert_eq!(fmt_duration(3.0 * 3600.0 + 60.0 * 7.0), "3h 07m");
    }
}
