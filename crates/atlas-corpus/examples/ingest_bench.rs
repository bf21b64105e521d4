//! Measures end-to-end ingest throughput (read + decompress + parse + normalise + split + write Parquet).
//!
//! ```text
//! cargo run --release -p atlas-corpus --example ingest_bench -- OUT_DIR INPUT... [--taxonomy TSV]
//! ```
//! Prints records, split counts, wall seconds and MB/s (uncompressed input bytes / wall seconds).

use std::path::PathBuf;
use std::process::ExitCode;

use atlas_corpus::{ingest, IngestOptions};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut opts = IngestOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--taxonomy" => opts.taxonomy = args.next().map(PathBuf::from),
            "--max-samples" => opts.max_samples = args.next().and_then(|n| n.parse().ok()),
            "--max-per-category" => opts.max_per_category = args.next().and_then(|n| n.parse().ok()),
            "--progress" => opts.progress = true,
            _ => positional.push(PathBuf::from(a)),
        }
    }
    if positional.len() < 2 {
        eprintln!("usage: ingest_bench OUT_DIR INPUT... [--taxonomy TSV] [--max-samples N] [--progress]");
        return ExitCode::FAILURE;
    }
    let out = positional.remove(0);
    match ingest(&positional, &out, &opts) {
        Ok(r) => {
            println!(
                "read {} kept {} skipped {} | train {} validation {} test {} | {:.1} MB uncompressed in {:.3} s = {:.1} MB/s",
                r.totals.records_read,
                r.totals.records_kept,
                r.totals.skipped_total(),
                r.written.train,
                r.written.validation,
                r.written.test,
                r.totals.bytes_read as f64 / 1e6,
                r.elapsed_secs,
                r.mb_per_sec
            );
            for (reason, s) in &r.totals.skipped {
                println!(
                    "  skipped {reason}: {} (first lines {:?}) {}",
                    s.count, s.first_lines, s.example_message
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
