//! Embedding throughput and single-text latency on the first N papers of an arXiv JSONL(.gz) file, with the
//! protocol of `shared/bench/peer_embed.py` (see `atlas_encoder::bench`).
//!
//! ```text
//! cargo run --release -p atlas-encoder --example bench -- \
//!     --backend onnx --precision int8 --threads 2 --batch-size 32 --n 2000 --latency 200
//! ```
//! Options (defaults): --model (ARXIV_ATLAS_MODEL_DIR or ../shared/models/all-MiniLM-L6-v2),
//! --data (../shared/data/arxiv-mini.jsonl.gz), --n 2000, --backend auto, --precision fp32, --threads 2,
//! --batch-size 32, --repeats 3, --latency 200, --template "{title} [SEP] {abstract}", --device cpu (cuda:N runs
//! the candle backend on a GPU; needs the `cuda` feature).
//! Prints one JSON report on stdout.

use std::collections::HashMap;
use std::error::Error;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

use atlas_encoder::{bench, BenchOptions, Encoder, EncoderOptions, TextTemplate};

// Binaries choose the allocator; candle allocates a tensor per op, and mimalloc measured ~25 % faster
// than glibc's malloc for it (shared/design/encoder-notes.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peer baseline (sentence-transformers 6.2 / PyTorch, 2 threads, batch 32), shared/bench/results.json.
const PEER_TEXTS_PER_S: f64 = 24.14;
const PEER_P50_MS: f64 = 38.91;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let key = k.strip_prefix("--").ok_or_else(|| format!("unexpected argument {k:?}"))?.to_owned();
        let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        args.insert(key, v);
    }
    let get = |k: &str, d: &str| args.get(k).cloned().unwrap_or_else(|| d.to_owned());
    let model = match args.get("model") {
        Some(m) => PathBuf::from(m),
        None => atlas_encoder::default_model_dir().ok_or("no model folder: pass --model")?,
    };
    let data = PathBuf::from(get("data", "../shared/data/arxiv-mini.jsonl.gz"));
    let n: usize = get("n", "2000").parse()?;
    let template = TextTemplate::parse(&get("template", atlas_encoder::PAPER_TEMPLATE))?;
    let threads: usize = get("threads", "2").parse()?;
    let opts = EncoderOptions {
        backend: get("backend", "auto").parse()?,
        precision: get("precision", "fp32").parse()?,
        threads,
        template: template.clone(),
        device: get("device", "cpu").parse()?,
        ..Default::default()
    };
    let bench_opts = BenchOptions {
        batch_size: get("batch-size", "32").parse()?,
        repeats: get("repeats", "3").parse()?,
        latency_texts: get("latency", "200").parse()?,
        threads,
        ..Default::default()
    };

    let texts = read_texts(&data, n, &template)?;
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

/// The first `n` records of a JSONL file (gzip if the name ends in .gz) rendered with `template`.
fn read_texts(path: &PathBuf, n: usize, template: &TextTemplate) -> Result<Vec<String>, Box<dyn Error>> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut texts = Vec::with_capacity(n);
    for line in BufReader::new(reader).lines().take(n) {
        let rec: serde_json::Value = serde_json::from_str(&line?)?;
        texts.push(template.render(|f| rec.get(f).and_then(|v| v.as_str()))?);
    }
    Ok(texts)
}
