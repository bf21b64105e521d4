//! The short tables long commands end with (`embed`, `index build`): what was done, from where, how fast.

use atlas_embed::EmbedFileReport;
use atlas_index::BuildReport;
use comfy_table::Cell;

use super::{num, table};

/// What `embed` did: papers, where their vectors came from, time and rate.
pub fn print_embed_summary(report: &EmbedFileReport) {
    let mut t =
        table(&["papers", "from the cache", "by the encoder", "resumed chunks", "seconds", "papers/s"]);
    t.add_row(vec![
        num(report.count as f64),
        num(report.counts.from_cache as f64),
        num(report.counts.embedded as f64),
        num(report.resumed_chunks as f64),
        Cell::new(format!("{:.1}", report.seconds)),
        Cell::new(format!("{:.1}", report.papers_per_s)),
    ]);
    println!("{t}\nembedding set: {}", report.out.display());
}

/// What `index build` made: backend, size, time to build and to write.
pub fn print_index_build(report: &BuildReport, location: &str) {
    let mut t = table(&["backend", "papers", "dim", "build s", "write s", "memory MB", "disk MB"]);
    t.add_row(vec![
        Cell::new(&report.info.backend),
        num(report.info.count as f64),
        num(report.info.dim as f64),
        Cell::new(format!("{:.1}", report.build_seconds)),
        Cell::new(format!("{:.1}", report.write_seconds)),
        Cell::new(format!("{:.1}", report.memory_bytes as f64 / 1e6)),
        Cell::new(format!("{:.1}", report.disk_bytes as f64 / 1e6)),
    ]);
    println!("{t}\nindex: {location}");
}
