//! Measures the 2-D projection candidates on an embedding set (the numbers in `docs/map.md`): the chosen
//! PCA → neighbours → UMAP pipeline, and t-SNE from the `bhtsne` crate (Barnes-Hut and FFT-accelerated
//! FIt-SNE) on the same PCA-50 coordinates. One method per run, so the peak memory printed is that method's.
//!
//! ```text
//! cargo run --release -p atlas-map --example projection_candidates -- DIR umap|tsne-bh|tsne-fft [SAMPLE] [EPOCHS]
//! ```
//!
//! `SAMPLE` takes every k-th row to get about that many papers (default: all).

use std::time::Instant;

use atlas_map::ProjectionOptions;

/// Peak resident memory of this process (Linux), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(method)) = (args.first(), args.get(1)) else {
        return Err("usage: projection_candidates DIR umap|tsne-bh|tsne-fft [SAMPLE] [EPOCHS]".into());
    };
    let set = atlas_embed::EmbeddingSet::open(std::path::Path::new(dir))?;
    let dim = set.meta.dim;
    let n_all = set.ids.len();
    let sample: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(n_all).min(n_all);
    let step = n_all / sample.max(1);
    let vectors: Vec<f32> =
        set.vectors.chunks_exact(dim).step_by(step.max(1)).take(sample).flatten().copied().collect();
    let n = vectors.len() / dim;
    drop(set);
    let epochs: Option<usize> = args.get(3).map(|s| s.parse()).transpose()?;
    println!("{n} papers of {dim} dims, method {method}, {} threads", rayon::current_num_threads());
    let t = Instant::now();
    match method.as_str() {
        "umap" => {
            let opts = ProjectionOptions { epochs, progress: true, ..ProjectionOptions::default() };
            let p = atlas_map::project(&vectors, dim, &opts)?;
            println!("{}", serde_json::to_string(&p.report)?);
        }
        "tsne-bh" | "tsne-fft" => {
            let t0 = Instant::now();
            let (reduced, _) = atlas_map::project::pca(&vectors, dim, 50);
            println!("PCA {:.1} s", t0.elapsed().as_secs_f64());
            let rows: Vec<&[f32]> = reduced.chunks_exact(50).collect();
            let mut tsne = bhtsne::tSNE::<f32, &[f32], 2>::new(&rows);
            tsne.perplexity(30.0).epochs(epochs.unwrap_or(1000));
            let euclid = |a: &&[f32], b: &&[f32]| {
                a.iter().zip(b.iter()).map(|(x, y)| (x - y).powi(2)).sum::<f32>().sqrt()
            };
            if method == "tsne-bh" {
                tsne.barnes_hut(0.5, euclid);
            } else {
                tsne.fit_sne(euclid);
            }
            println!("embedding of {} points", tsne.embedding().len() / 2);
        }
        other => return Err(format!("unknown method {other}").into()),
    }
    println!("total {:.1} s, peak memory {:.0} MiB", t.elapsed().as_secs_f64(), peak_mib());
    Ok(())
}
