//! `embed` and `bench embed`.

use anyhow::{Context, Result};
use atlas_embed::{EmbedFileOptions, EmbeddingCache};
use atlas_encoder::Encoder;

use crate::cli::{BenchEmbedArgs, EmbedArgs, EncoderArgs, MergeEmbeddingsArgs};

/// Loads the encoder the flags describe.
fn load_encoder(a: &EncoderArgs) -> Result<Encoder> {
    let spec = a.spec();
    let encoder = spec.load(&a.template, 1).with_context(|| match &spec.model_dir {
        Some(d) => format!("loading the encoder from {}", d.display()),
        None => "loading the default encoder".to_string(),
    })?;
    tracing::info!("encoder: {} (dim {})", encoder.backend_name(), encoder.dim());
    Ok(encoder)
}

pub fn embed(a: EmbedArgs) -> Result<()> {
    let encoder = load_encoder(&a.encoder)?;
    let mut cache =
        if a.no_cache { None } else { Some(EmbeddingCache::for_encoder(&encoder, a.cache_dir.as_deref())?) };
    let opts = EmbedFileOptions {
        chunk_size: a.chunk_size,
        progress: !a.json,
        splits: a.split,
        max_chunks: a.max_chunks,
        shard: a.shard,
    };
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
        crate::output::print_embed_summary(&report);
    }
    Ok(())
}

pub fn merge(a: MergeEmbeddingsArgs) -> Result<()> {
    let report = atlas_embed::merge_sets(&a.shards, &a.out)
        .with_context(|| format!("merging {} shard sets into {}", a.shards.len(), a.out.display()))?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("merged {} shards ({} papers) into {}", report.shards, report.count, report.out.display());
    }
    Ok(())
}

pub fn bench_embed(a: BenchEmbedArgs) -> Result<()> {
    let encoder = load_encoder(&a.encoder)?;
    let limit = a.limit as usize;
    let mut papers = Vec::with_capacity(limit);
    atlas_corpus::read_papers(&a.input, &atlas_corpus::ReadOptions::default(), |p| {
        if papers.len() < limit {
            papers.push(p);
        }
    })?;
    let texts: Vec<String> =
        papers.iter().map(|p| atlas_embed::paper_text(&encoder, p)).collect::<Result<_, _>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let opts = atlas_encoder::BenchOptions {
        batch_size: a.encoder.batch_size as usize,
        repeats: a.repeats,
        latency_texts: a.latency_texts,
        threads: a.encoder.threads,
        ..atlas_encoder::BenchOptions::default()
    };
    let report = atlas_encoder::bench(&encoder, &refs, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!("backend           {}", report.backend);
    println!(
        "texts             {} ({} real tokens, batch {})",
        report.texts, report.tokens, report.batch_size
    );
    println!("throughput        {:.1} texts/s, {:.0} tokens/s", report.texts_per_s, report.tokens_per_s);
    println!("latency (1 text)  p50 {:.1} ms, p95 {:.1} ms", report.latency_p50_ms, report.latency_p95_ms);
    match (report.peak_fraction, &report.peak) {
        (Some(f), Some(p)) => println!(
            "compute           {:.1} GFLOP/s = {:.1} % of {:.0} GFLOP/s fp32 peak",
            report.gflops,
            f * 100.0,
            p.gflops()
        ),
        // No fraction off the CPU (the peak is the CPU's) or when the CPU's peak can't be read.
        _ => println!("compute           {:.1} GFLOP/s (no known peak for this device)", report.gflops),
    }
    Ok(())
}
