//! Human-readable tables and JSON shapes printed by the CLI.

use std::collections::BTreeMap;

use atlas_corpus::{IngestReport, ReadReport};
use atlas_eval::EvalReport;
use atlas_index::{Hit, RetrievalMetrics, RetrievalReport};
use atlas_pipeline::Classification;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};

mod drift;
mod finetune;
mod map;
mod summary;
pub mod sweep;

pub use drift::{print_drift, print_drift_profile};
pub use finetune::print_finetune;
pub use map::print_map;
pub use summary::{print_append_summary, print_embed_summary, print_index_build};

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
    let s = atlas_pipeline::summary_numbers(rep);
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

/// Table of a paper's ranked categories; with a category set, a column marks its members and a line below
/// lists the whole set (which may reach beyond the ranked rows); a multi-label model's label set follows.
pub fn print_classification(c: &Classification) {
    let set: Option<Vec<&str>> =
        c.category_set.as_ref().map(|s| s.iter().map(|e| e.category.as_str()).collect());
    let mut header = vec!["#", "category", "name", "probability"];
    if set.is_some() {
        header.push("in set");
    }
    let mut t = table(&header);
    for (i, r) in c.probabilities.iter().enumerate() {
        let mut row =
            vec![num((i + 1) as f64), Cell::new(&r.category), Cell::new(&r.name), num(r.probability as f64)];
        if let Some(s) = &set {
            row.push(Cell::new(if s.contains(&r.category.as_str()) { "yes" } else { "" }));
        }
        t.add_row(row);
    }
    println!("{t}");
    if let (Some(s), Some(cov)) = (&set, c.coverage) {
        println!("category set at {:.0}% coverage ({} categories): {}", cov * 100.0, s.len(), s.join(" "));
    }
    if let Some(labels) = &c.label_set {
        let shown: Vec<String> =
            labels.iter().map(|e| format!("{} ({:.3})", e.category, e.probability)).collect();
        println!("label set ({} categories, per-category thresholds): {}", labels.len(), shown.join(" "));
    }
    let embedding_explained = c.nearest.is_some() || c.explanation_note.is_some();
    for e in c.explanations.iter().flatten() {
        let terms: Vec<String> =
            e.terms.iter().map(|t| format!("{} (+{:.3})", t.term, t.contribution)).collect();
        // An embedding model has no terms to show: its categories are explained by papers alone.
        if !terms.is_empty() || !embedding_explained {
            let shown = if terms.is_empty() { "no supporting terms".to_string() } else { terms.join(", ") };
            println!("{}: {shown}", e.category);
        }
        if !e.neighbours.is_empty() {
            println!("{}: nearest training papers of the category", e.category);
            for n in &e.neighbours {
                println!("  {} {} (cosine {:.3})", n.id, n.title, n.cosine);
            }
        }
    }
    if let Some(n) = &c.nearest {
        let majority = n.majority.as_deref().unwrap_or("-");
        let count = n.papers.iter().filter(|p| p.category == majority).count();
        let verdict = if n.agrees { "agrees with" } else { "differs from" };
        println!(
            "nearest {} training papers: {count} of {majority}, the most common category, which {verdict} the \
             prediction {}",
            n.papers.len(),
            c.category
        );
    }
    if let Some(note) = &c.explanation_note {
        println!("note: {note}");
    }
}

/// Calibration of an evaluation: ECE and log loss before and after temperature scaling.
pub fn print_calibration(c: &atlas_pipeline::CalibrationReport) {
    let mut t = table(&["calibration", "before", "after"]);
    t.add_row(vec![Cell::new("ECE (15 bins)"), num(c.ece_before), num(c.ece_after)]);
    t.add_row(vec![Cell::new("log loss"), num(c.log_loss_before), num(c.log_loss_after)]);
    println!("temperature {:.4} on {} papers\n{t}", c.temperature, c.n);
}

/// Coverage of conformal sets, beside top-k, and the categories covered least.
pub fn print_coverage(c: &atlas_pipeline::CoverageReport) {
    println!(
        "conformal sets ({}, {} calibration papers) at target {:.3}: coverage {:.4}, mean set size {:.2}; plain \
         top-{} sets reach {:.4}",
        c.method, c.n_calibration, c.target, c.coverage, c.mean_set_size, c.topk_k, c.topk_coverage
    );
    let mut classes: Vec<_> = c.per_class.iter().collect();
    classes.sort_by(|a, b| a.coverage.total_cmp(&b.coverage).then(b.support.cmp(&a.support)));
    let mut t = table(&["class", "name", "coverage", "mean set size", "support"]);
    for r in classes.iter().take(10) {
        t.add_row(vec![
            Cell::new(&r.code),
            Cell::new(&r.name),
            num(r.coverage),
            num(r.mean_set_size),
            num(r.support as f64),
        ]);
    }
    println!("least-covered categories (all in coverage_per_class.csv)\n{t}");
}

/// Search hits as a plain table: score, id, year, categories, title.
pub fn print_hits(hits: &[Hit]) {
    print_papers(hits.iter().map(|h| (h.score, &h.paper)));
}

/// The recommendations of `recommend`, best first (score = the list model's decision value).
pub fn print_recommendations(recs: &[atlas_recommend::Recommendation]) {
    print_papers(recs.iter().map(|r| (r.score, &r.paper)));
}

/// Scored papers as a table: score, id, year, categories, title.
fn print_papers<'a>(rows: impl Iterator<Item = (f32, &'a atlas_index::PaperMeta)>) {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["score", "id", "year", "categories", "title"]);
    for (score, p) in rows {
        let title: String = p.title.chars().take(90).collect();
        t.add_row([
            format!("{score:.3}"),
            p.id.clone(),
            p.year.map(|y| y.to_string()).unwrap_or_default(),
            p.categories.join(" "),
            title,
        ]);
    }
    println!("{t}");
}

/// The retrieval-quality table of `evaluate-retrieval`.
pub fn print_retrieval(r: &RetrievalReport) {
    println!(
        "queries: {} test papers; documents: {} train+validation papers; hit = same primary category",
        r.n_queries, r.n_docs
    );
    let mut t = table(&["index", "P@1", "P@10", "MRR@10", "nDCG@10", "recall@10", "QPS (1 thread)"]);
    let row = |name: &str, m: &RetrievalMetrics, recall: Option<f64>, qps: Option<f64>| {
        vec![
            Cell::new(name),
            num(m.p_at_1),
            num(m.p_at_10),
            num(m.mrr_at_10),
            num(m.ndcg_at_10),
            recall.map_or_else(|| Cell::new("1 (reference)"), num),
            qps.map_or_else(|| Cell::new(""), |q| num(q.round())),
        ]
    };
    t.add_row(row("exact", &r.exact.metrics, None, None));
    for (name, ann) in [("usearch", Some(&r.usearch)), ("postgres", r.postgres.as_ref())] {
        if let Some(a) = ann {
            t.add_row(row(name, &a.metrics, Some(a.recall_at_10), Some(a.qps_1t)));
        }
    }
    println!("{t}");
}

/// The `doctor` report: one row per check (what was found; why it matters and the fix), then the verdict.
pub fn print_doctor(report: &atlas_doctor::Report) {
    use atlas_doctor::Status;
    let mut t = table(&["check", "status", "found", "why it matters / fix"]);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    // Piped output has no terminal width to wrap to; without one the long cells would make one line each.
    if t.width().is_none() {
        t.set_width(160);
    }
    for c in report.checks() {
        let status = match c.status {
            Status::Missing => "MISSING".to_owned(),
            other => other.to_string(),
        };
        let advice = match &c.fix {
            Some(fix) => format!("{}\nfix: {fix}", c.why),
            None => c.why.clone(),
        };
        t.add_row(vec![Cell::new(&c.name), Cell::new(status), Cell::new(&c.found), Cell::new(advice)]);
    }
    println!("{t}");
    let missing: Vec<&str> = report.missing().map(|c| c.name.as_str()).collect();
    if missing.is_empty() {
        println!("everything the defaults need is here");
    } else {
        println!(
            "missing: {} (see the fix lines above; docs/data.md for data and models)",
            missing.join(", ")
        );
    }
}
