//! Human-readable tables and JSON shapes printed by the CLI.

use std::collections::BTreeMap;

use atlas_classify::Labels;
use atlas_corpus::{IngestReport, ReadReport};
use atlas_eval::EvalReport;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde_json::json;

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.iter().map(Cell::new));
    t
}

fn num(v: f64) -> Cell {
    let s = if v.fract() == 0.0 && v.abs() < 1e12 { format!("{v:.0}") } else { format!("{v:.4}") };
    Cell::new(s).set_alignment(CellAlignment::Right)
}

/// Prints a key → number table under a title.
pub fn print_metrics(title: &str, metrics: &BTreeMap<String, f64>) {
    let mut t = table(&["metric", "value"]);
    for (k, v) in metrics {
        t.add_row(vec![Cell::new(k), num(*v)]);
    }
    println!("{title}\n{t}");
}

/// Prints skipped-record counts of a read, by reason, with the first line numbers.
pub fn print_read_report(report: &ReadReport) {
    if report.skipped.is_empty() {
        return;
    }
    let mut t = table(&["skipped", "count", "first lines", "example"]);
    for (reason, s) in &report.skipped {
        let lines: Vec<String> = s.first_lines.iter().map(u64::to_string).collect();
        t.add_row(vec![
            Cell::new(reason.to_string()),
            num(s.count as f64),
            Cell::new(lines.join(", ")),
            Cell::new(&s.example_message),
        ]);
    }
    println!("{t}");
}

/// Prints what ingest read, kept, skipped and wrote.
pub fn print_ingest_summary(report: &IngestReport) {
    let mut t = table(&["input", "format", "read", "kept", "skipped", "MB", "seconds"]);
    for i in &report.inputs {
        t.add_row(vec![
            Cell::new(i.path.display()),
            Cell::new(format!("{:?}", i.format)),
            num(i.report.records_read as f64),
            num(i.report.records_kept as f64),
            num(i.report.skipped_total() as f64),
            num((i.report.bytes_read as f64 / 1e6).round()),
            Cell::new(format!("{:.2}", i.elapsed_secs)).set_alignment(CellAlignment::Right),
        ]);
    }
    println!("{t}");
    print_read_report(&report.totals);
    if report.totals.unknown_category_records > 0 {
        println!(
            "warning: {} kept papers use category codes missing from the taxonomy ({} distinct)",
            report.totals.unknown_category_records,
            report.totals.unknown_categories.len()
        );
    }
    if report.dropped_by_category_cap > 0 {
        println!("{} papers left out by --max-per-category", report.dropped_by_category_cap);
    }
    let w = &report.written;
    println!(
        "written: {} train / {} validation / {} test papers in {} primary categories; {:.1} s, {:.0} MB/s",
        w.train,
        w.validation,
        w.test,
        report.categories.len(),
        report.elapsed_secs,
        report.mb_per_sec
    );
}

/// The headline metrics of an evaluation, then the worst and best classes.
pub fn print_report(rep: &EvalReport) {
    let s = crate::pipeline::summary_numbers(rep);
    print_metrics("evaluation", &s);
    let mut classes: Vec<_> = rep.per_class.iter().filter(|c| c.support > 0).collect();
    classes.sort_by(|a, b| b.f1.total_cmp(&a.f1));
    if classes.len() > 10 {
        let mut t = table(&["class", "name", "precision", "recall", "f1", "support"]);
        let shown: Vec<_> = classes.iter().take(5).chain(classes.iter().rev().take(5).rev()).collect();
        for (i, c) in shown.iter().enumerate() {
            if i == 5 {
                t.add_row(vec![
                    Cell::new("…"),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                    Cell::new(""),
                ]);
            }
            t.add_row(vec![
                Cell::new(&c.code),
                Cell::new(&c.name),
                num(c.precision),
                num(c.recall),
                num(c.f1),
                num(c.support as f64),
            ]);
        }
        println!("best and worst classes by F1 (all in per_class.csv)\n{t}");
    }
}

/// One ranked category.
pub struct Ranked {
    /// Category code.
    pub code: String,
    /// Category name.
    pub name: String,
    /// Probability.
    pub probability: f32,
}

/// The `k` most probable categories of one probability row.
pub fn ranked(labels: &Labels, row: &[f32], k: usize) -> Vec<Ranked> {
    let mut idx: Vec<usize> = (0..row.len()).collect();
    idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    idx.into_iter()
        .take(k)
        .map(|i| Ranked { code: labels.codes[i].clone(), name: labels.names[i].clone(), probability: row[i] })
        .collect()
}

/// `{id?, category, name, probabilities: [{category, name, probability}]}`.
pub fn classification_json(id: Option<&str>, ranked: &[Ranked]) -> serde_json::Value {
    let probs: Vec<_> = ranked
        .iter()
        .map(|r| json!({"category": r.code, "name": r.name, "probability": r.probability}))
        .collect();
    let mut v = json!({
        "category": ranked.first().map(|r| r.code.as_str()),
        "name": ranked.first().map(|r| r.name.as_str()),
        "probabilities": probs,
    });
    if let (Some(id), Some(o)) = (id, v.as_object_mut()) {
        o.insert("id".into(), json!(id));
    }
    v
}

/// Table of ranked categories.
pub fn print_ranked(ranked: &[Ranked]) {
    let mut t = table(&["#", "category", "name", "probability"]);
    for (i, r) in ranked.iter().enumerate() {
        t.add_row(vec![
            num((i + 1) as f64),
            Cell::new(&r.code),
            Cell::new(&r.name),
            num(r.probability as f64),
        ]);
    }
    println!("{t}");
}
