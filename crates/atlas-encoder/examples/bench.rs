//! Embedding throughput and single-text latency on the first N papers of an arXiv JSONL(.gz) file, with the
//! protocol of `shared/bench/peer_embed.py` (see `atlas_encoder::bench`).
//!
//! ```text
//! cargo run --release -p atlas-encoder --example bench -- \
//!     --backend onnx --precision int8 --threads 2 --batch-size 32 --n 2000 --latency 200
//! ```
//! `--help` lists the options and their defaults: the model and how it runs (shared with the `parity`
//! example), --data (../shared/data/arxiv-mini.jsonl.gz), --n 2000, --repeats 3, --latency 200 and
//! --template "{title} [SEP] {abstract}" (a template naming an unknown field is refused).
//! Prints one JSON report on stdout.

use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atlas_corpus::Paper;
use atlas_encoder::{bench, BenchOptions, Encoder, EncoderOptions, TextTemplate};
use clap::Parser;

mod common;

// Binaries choose the allocator; candle allocates a tensor per op, and mimalloc measured ~25 % faster
// than glibc's malloc for it (shared/design/encoder-notes.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peer baseline (sentence-transformers 6.2 / PyTorch, 2 threads, batch 32), shared/bench/results.json.
const PEER_TEXTS_PER_S: f64 = 24.14;
const PEER_P50_MS: f64 = 38.91;

/// Embedding throughput and single-text latency on the first papers of an arXiv JSONL(.gz) file.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    encoder: common::EncoderArgs,
    /// Papers, one JSON record a line (gzip when the name ends in .gz).
    #[arg(long, default_value = "../shared/data/arxiv-mini.jsonl.gz")]
    data: PathBuf,
    /// How many of the first papers to embed.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Timed passes over the texts.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Texts embedded one at a time for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency: usize,
    /// How a paper becomes text.
    #[arg(long, default_value = atlas_encoder::PAPER_TEMPLATE)]
    template: TextTemplate,
}

fn main() -> ExitCode {
    common::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Box<dyn Error>> {
    let model = args.encoder.model_dir()?;
    let opts = EncoderOptions { template: args.template.clone(), ..args.encoder.options()? };
    let bench_opts = BenchOptions {
        batch_size: args.encoder.batch_size,
        repeats: args.repeats,
        latency_texts: args.latency,
        threads: args.encoder.threads,
        ..Default::default()
    };
    let data = &args.data;
    let texts = read_texts(data, args.n, &args.template)?;
    let t0 = std::time::Instant::now();
    let encoder = Encoder::load(&model, &opts)?;
    eprintln!(
        "loaded {} in {:.2} s; {} texts from {}",
        encoder.backend_name(),
        t0.elapsed().as_secs_f64(),
        texts.len(),
        data.display()
    );
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let report = bench(&encoder, &refs, &bench_opts)?;
    eprintln!(
        "{}: {:.2} texts/s ({:.2}x peer), {:.0} tokens/s, p50 {:.2} ms ({:.2}x peer), p95 {:.2} ms, \
         {:.1} GFLOP/s = {:.1} % of peak",
        report.backend,
        report.texts_per_s,
        report.texts_per_s / PEER_TEXTS_PER_S,
        report.tokens_per_s,
        report.latency_p50_ms,
        report.latency_p50_ms / PEER_P50_MS,
        report.latency_p95_ms,
        report.gflops,
        report.peak_fraction.unwrap_or(f64::NAN) * 100.0
    );
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The first `n` records of a JSONL file (gzip if the name ends in .gz) rendered with `template`. The fields
/// are taken as they are in the file (not normalised), so the texts are those of the peer protocol.
fn read_texts(path: &Path, n: usize, template: &TextTemplate) -> Result<Vec<String>, Box<dyn Error>> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let field =
        |rec: &serde_json::Value, name: &str| rec.get(name).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let mut texts = Vec::with_capacity(n);
    for line in BufReader::new(reader).lines().take(n) {
        let rec: serde_json::Value = serde_json::from_str(&line?)?;
        let paper = Paper {
            id: field(&rec, "id"),
            title: field(&rec, "title"),
            abstract_text: field(&rec, "abstract"),
            authors: field(&rec, "authors"),
            categories: Vec::new(),
            date: None,
        };
        texts.push(template.render(&paper));
    }
    Ok(texts)
}
