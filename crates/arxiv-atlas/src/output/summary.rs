//! The short tables long commands end with (`embed`, `index build`, `ingest --append-to`): what was done, from where, how fast.

use atlas_corpus::{AppendReport, Split};
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

/// What `ingest --append-to` did: the ingest table of the new inputs, then papers before, added, after.
pub fn print_append_summary(report: &AppendReport) {
    super::print_ingest_summary(&report.ingest);
    let mut t = table(&["split", "before", "added", "after"]);
    for split in Split::ALL {
        let (b, a) = (report.before.get(split), report.added.get(split));
        t.add_row(vec![Cell::new(split.to_string()), num(b as f64), num(a as f64), num((b + a) as f64)]);
    }
    println!("{t}");
    println!(
        "{} new papers appended to {}; {} already there (duplicates, not added)",
        report.added.train + report.added.validation + report.added.test,
        report.ingest.out_dir.display(),
        report.duplicates
    );
}
