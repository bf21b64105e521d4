//! What `map` prints.

use std::path::Path;

use anyhow::Result;
use atlas_map::{MapData, ProjectionReport};

/// The files written and how the projection went, as text or one JSON object.
pub fn print_map(
    map: &MapData,
    report: &ProjectionReport,
    html: &Path,
    png: Option<&Path>,
    json: bool,
) -> Result<()> {
    let html_bytes = std::fs::metadata(html).map(|m| m.len()).unwrap_or(0);
    if json {
        let v = serde_json::json!({
            "html": html,
            "html_bytes": html_bytes,
            "png": png,
            "papers": map.papers.len(),
            "archives": map.archives.len(),
            "labels": map.labels.iter().map(|l| &l.name).collect::<Vec<_>>(),
            "projection": report,
        });
        println!("{v}");
        return Ok(());
    }
    println!(
        "mapped {} papers: PCA {} → {} dims ({:.0} % of the variance) {:.1} s, {} {} neighbours {:.1} s, \
         UMAP {} epochs {:.1} s",
        report.points,
        report.input_dims,
        report.pca_dims,
        100.0 * report.pca_variance_explained,
        report.pca_seconds,
        report.neighbour_search,
        report.neighbours,
        report.neighbour_seconds,
        report.epochs,
        report.layout_seconds,
    );
    let names: Vec<&str> = map.labels.iter().take(8).map(|l| l.name.as_str()).collect();
    if !names.is_empty() {
        println!("largest regions: {}", names.join(", "));
    }
    println!("page: {} ({:.1} MB)", html.display(), html_bytes as f64 / 1e6);
    if let Some(p) = png {
        println!("picture: {}", p.display());
    }
    Ok(())
}
