//! The `embed` and `bench embed` commands: loading an encoder from CLI flags and running it.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use atlas_embed::{EmbedFileOptions, EmbeddingCache};
use atlas_encoder::{BackendKind, BatchLimits, DeviceSpec, Encoder, EncoderOptions, Precision, TextTemplate};

use crate::cli::{BenchEmbedArgs, EmbedArgs, EncoderArgs};

/// The model folder: `--model-dir` (a folder, or a Hugging Face id such as
/// `sentence-transformers/all-MiniLM-L6-v2` fetched into / read from the HF cache), else
/// `$ARXIV_ATLAS_MODEL_DIR`, else the bundled MiniLM when present.
pub fn model_dir(arg: Option<&PathBuf>, with_int8: bool) -> Result<PathBuf> {
    let Some(d) = arg else {
        return atlas_encoder::default_model_dir().context(
            "no model folder: pass --model-dir DIR (a sentence-transformers folder such as all-MiniLM-L6-v2, \
             or a Hugging Face id) or set ARXIV_ATLAS_MODEL_DIR",
        );
    };
    let spec = atlas_encoder::ModelRef::parse(&d.to_string_lossy());
    let hub = matches!(spec, atlas_encoder::ModelRef::Hub { .. });
    atlas_encoder::resolve_model(&spec, with_int8).with_context(|| {
        if hub {
            format!(
                "--model-dir {}: not a local folder, and not available as a Hugging Face model",
                d.display()
            )
        } else {
            format!("--model-dir {}", d.display())
        }
    })
}

/// Loads the encoder the flags describe.
pub fn load_encoder(a: &EncoderArgs) -> Result<Encoder> {
    let cfg = atlas_config::EncoderConfig {
        model_dir: a.model_dir.clone(),
        backend: a.backend.clone(),
        precision: a.precision.clone(),
        device: a.device.clone(),
        threads: a.threads,
        batch_size: a.batch_size,
        cache_dir: None,
    };
    encoder_from_config(&cfg, &a.template)
}

/// Loads the encoder of an experiment's `encoder` section, rendering papers with `template`.
pub fn encoder_from_config(c: &atlas_config::EncoderConfig, template: &str) -> Result<Encoder> {
    encoder_with_sessions(c, template, 1)
}

/// Like [`encoder_from_config`] with `sessions` ONNX Runtime sessions running calls side by side (a server's
/// inference workers; see [`EncoderOptions::sessions`]).
pub fn encoder_with_sessions(
    c: &atlas_config::EncoderConfig,
    template: &str,
    sessions: usize,
) -> Result<Encoder> {
    let dir = model_dir(c.model_dir.as_ref(), c.precision.eq_ignore_ascii_case("int8"))?;
    let opts = EncoderOptions {
        backend: BackendKind::from_str(&c.backend)
            .map_err(|e| anyhow::anyhow!("backend {}: {e}", c.backend))?,
        precision: Precision::from_str(&c.precision)
            .map_err(|e| anyhow::anyhow!("precision {}: {e}", c.precision))?,
        threads: c.threads,
        sessions,
        limits: BatchLimits { max_batch_size: c.batch_size, ..BatchLimits::default() },
        device: DeviceSpec::from_str(&c.device).map_err(|e| anyhow::anyhow!("device {}: {e}", c.device))?,
        onnx_file: None,
        template: TextTemplate::parse(template)?,
    };
    Encoder::load(&dir, &opts).with_context(|| format!("loading the encoder from {}", dir.display()))
}

/// Opens the embedding cache of `encoder` (in `dir`, else the default cache folder).
pub fn open_cache(encoder: &Encoder, dir: Option<&PathBuf>) -> Result<EmbeddingCache> {
    let dir = dir.cloned().unwrap_or_else(atlas_embed::default_cache_dir);
    Ok(EmbeddingCache::open(&dir, encoder.embedding_id()?, encoder.dim())?)
}

/// What an embedding classifier records about its encoder, so it can be rebuilt (and checked) at load time.
pub fn encoder_meta(c: &atlas_config::EncoderConfig, encoder: &Encoder) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "model_dir": encoder.folder().dir(),
        "model_hash": encoder.model_hash()?,
        "embedding_id": encoder.embedding_id()?,
        "backend": c.backend,
        "precision": c.precision,
        "device": c.device,
        "threads": c.threads,
        "batch_size": c.batch_size,
        "template": encoder.template().as_str(),
        "dim": encoder.dim(),
    }))
}

/// `arxiv-atlas embed`.
pub fn embed(a: EmbedArgs) -> Result<()> {
    let encoder = load_encoder(&a.encoder)?;
    tracing::info!("encoder: {} (dim {})", encoder.backend_name(), encoder.dim());
    let split = a
        .split
        .as_deref()
        .map(|s| atlas_corpus::Split::from_str(s).map_err(|e| anyhow::anyhow!("--split {s}: {e}")))
        .transpose()?;
    let mut cache = if a.no_cache { None } else { Some(open_cache(&encoder, a.cache_dir.as_ref())?) };
    let opts =
        EmbedFileOptions { chunk_size: a.chunk_size, progress: !a.json, split, max_chunks: a.max_chunks };
    let report = atlas_embed::embed_file(&encoder, cache.as_mut(), &a.input, &a.out, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if !report.complete {
        println!(
            "stopped after --max-chunks: {} papers of the input are in {}; run the same command again to go on",
            report.count,
            a.out.display()
        );
    } else if report.up_to_date {
        println!("{} is up to date ({} papers, same model and input)", a.out.display(), report.count);
    } else {
        println!(
            "{} papers embedded into {} in {:.1} s ({:.1} papers/s; {} from the cache, {} by the encoder{})",
            report.count,
            a.out.display(),
            report.seconds,
            report.papers_per_s,
            report.counts.from_cache,
            report.counts.embedded,
            if report.resumed_chunks > 0 {
                format!("; resumed after {} finished chunks", report.resumed_chunks)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `arxiv-atlas bench embed`.
pub fn bench_embed(a: BenchEmbedArgs) -> Result<()> {
    if a.limit == 0 {
        bail!("--limit must be at least 1");
    }
    let encoder = load_encoder(&a.encoder)?;
    let mut papers = Vec::with_capacity(a.limit);
    atlas_corpus::read_papers(&a.input, &atlas_corpus::ReadOptions::default(), |p| {
        if papers.len() < a.limit {
            papers.push(p);
        }
    })?;
    let texts: Vec<String> =
        papers.iter().map(|p| atlas_embed::paper_text(&encoder, p)).collect::<Result<_, _>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let opts = atlas_encoder::BenchOptions {
        batch_size: a.encoder.batch_size,
        repeats: a.repeats,
        latency_texts: a.latency_texts,
        threads: a.encoder.threads,
        ..atlas_encoder::BenchOptions::default()
    };
    let report = atlas_encoder::bench(&encoder, &refs, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("backend           {}", report.backend);
        println!(
            "texts             {} ({} real tokens, batch {})",
            report.texts, report.tokens, report.batch_size
        );
        println!("throughput        {:.1} texts/s, {:.0} tokens/s", report.texts_per_s, report.tokens_per_s);
        println!(
            "latency (1 text)  p50 {:.1} ms, p95 {:.1} ms",
            report.latency_p50_ms, report.latency_p95_ms
        );
        match (report.peak_fraction, &report.peak) {
            (Some(f), Some(p)) => {
                println!(
                    "compute           {:.1} GFLOP/s = {:.1} % of {:.0} GFLOP/s fp32 peak",
                    report.gflops,
                    f * 100.0,
                    p.gflops()
                )
            }
            // No fraction off the CPU (the peak is the CPU's) or when the CPU's peak can't be read.
            _ => println!("compute           {:.1} GFLOP/s (no known peak for this device)", report.gflops),
        }
    }
    Ok(())
}
