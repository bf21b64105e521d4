//! Tables of `drift` and `drift profile`.

use comfy_table::{Cell, CellAlignment};

use super::{num, table};

/// Prints a drift report: the verdict, every test, and what moved most.
pub fn print_drift(r: &atlas_monitor::DriftReport) {
    println!("model {}", r.model);
    println!("reference: {} ({} texts)", r.reference_source, r.n_reference);
    println!("current:   {} ({} texts)", r.current_source, r.n_current);
    // Whether the model's answers were the server's own (logged) or predicted again here, and why.
    match (&r.predictions, &r.predictions_reason) {
        (atlas_monitor::PredictionSource::Logged, _) => println!("predictions: logged by the server"),
        (_, Some(why)) => println!("predictions: recomputed ({why})"),
        (_, None) => println!("predictions: recomputed"),
    }
    let mut t = table(&["feature", "method", "score", "threshold", "p-value", "n ref", "n cur", "verdict"]);
    for x in &r.tests {
        t.add_row(vec![
            Cell::new(&x.feature),
            Cell::new(&x.method),
            Cell::new(format!("{:.4}", x.score)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", x.threshold)).set_alignment(CellAlignment::Right),
            Cell::new(x.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default())
                .set_alignment(CellAlignment::Right),
            num(x.n_reference as f64),
            num(x.n_current as f64),
            Cell::new(if x.drift { "DRIFT" } else { "ok" }),
        ]);
    }
    println!("{t}");
    let moved: Vec<String> = r
        .categories
        .iter()
        .take(5)
        .map(|c| {
            format!(
                "{} {} {:.1}% → {:.1}%",
                c.feature,
                c.category,
                c.reference_share * 100.0,
                c.current_share * 100.0
            )
        })
        .collect();
    if !moved.is_empty() {
        println!("categories that moved most: {}", moved.join("; "));
    }
    let words: Vec<String> =
        r.words.iter().take(10).map(|w| format!("{} ({:+.2})", w.word, w.weight)).collect();
    if !words.is_empty() {
        println!("words that moved most (+ current, − reference): {}", words.join(", "));
    }
    if r.drift {
        println!("DRIFT: {}", r.drifted.join(", "));
    } else {
        println!("no drift");
    }
}

/// Prints what a freshly built reference profile holds.
pub fn print_drift_profile(p: &atlas_monitor::ReferenceProfile, model_dir: &std::path::Path) {
    let mut t = table(&["profile", "value"]);
    t.add_row(vec![Cell::new("reference"), Cell::new(&p.source)]);
    t.add_row(vec![Cell::new("texts profiled"), num(p.n as f64)]);
    t.add_row(vec![Cell::new("texts kept for the domain classifier"), num(p.texts.len() as f64)]);
    if let Some(a) = p.accuracy {
        t.add_row(vec![Cell::new("reference accuracy"), num(a)]);
    }
    if let Some(v) = &p.vocabulary {
        t.add_row(vec![Cell::new("vocabulary words"), num(v.words.len() as f64)]);
    }
    if let Some(e) = &p.embeddings {
        t.add_row(vec![Cell::new("embedding PCA components"), num(e.pca.k() as f64)]);
    }
    println!("{t}");
    println!("saved in {}", model_dir.join(atlas_monitor::PROFILE_FILE).display());
}
