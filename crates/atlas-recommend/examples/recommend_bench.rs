//! The reading-list benchmark (docs/recommend.md, "Benchmark"): P@10 of this crate's recommender and of the
//! embedding centroid on seeded lists, with the lists and papers written out for arxiv-sanity-lite's method
//! (`bench/sanity_recommend.py`), and the per-request latency over the whole dataset.
//!
//! Protocol: a list is `--size` train-split papers of one primary category (a seed paper drawn uniformly
//! from the train split, so categories come as often as they occur, then the others drawn from its category);
//! candidates are the papers of `--candidates` (the test split for the reported numbers, validation for
//! tuning); a recommendation is a hit when its primary category is the list's; P@10 is averaged over lists.
//! Both methods (and the peer) see the same papers: the candidates plus the lists' papers, TF-IDF fitted on
//! their text.
//!
//! `bash bench/recommend-vs-sanity.sh` runs it together with the peer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use atlas_corpus::{split_of, Paper, Split};
use atlas_index::PaperMeta;
use atlas_recommend::{paper_text, RecommendParams, Recommender, TextFeatures};
use clap::Parser;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde_json::json;

#[derive(Parser)]
struct Args {
    /// Embedding set of the dataset (arxiv-atlas embed).
    #[arg(long)]
    embeddings: PathBuf,
    /// The dataset (ingested folder or any ingest format) with the papers' text.
    #[arg(long)]
    papers: PathBuf,
    /// Folder for lists.json, papers.jsonl (the peer's input) and rust.json (this run's results).
    #[arg(long)]
    out: PathBuf,
    /// Number of lists.
    #[arg(long, default_value_t = 500)]
    lists: usize,
    /// Papers per list.
    #[arg(long, default_value_t = 5)]
    size: usize,
    /// Seed of the lists.
    #[arg(long, default_value_t = 20)]
    seed: u64,
    /// Split the candidates come from: test (reported) or validation (tuning).
    #[arg(long, default_value = "test")]
    candidates: Split,
    /// Requests timed over the whole dataset (0: skip the latency run).
    #[arg(long, default_value_t = 100)]
    latency_requests: usize,
    /// Override RecommendParams::c.
    #[arg(long)]
    c: Option<f64>,
    /// Override RecommendParams::negatives.
    #[arg(long)]
    negatives: Option<usize>,
    /// Override RecommendParams::embedding_weight.
    #[arg(long)]
    embedding_weight: Option<f32>,
}

const K: usize = 10;

fn main() -> Result<()> {
    let a = Args::parse();
    let mut params = RecommendParams::default();
    params.c = a.c.unwrap_or(params.c);
    params.negatives = a.negatives.unwrap_or(params.negatives);
    params.embedding_weight = a.embedding_weight.unwrap_or(params.embedding_weight);
    std::fs::create_dir_all(&a.out)?;

    let t = Instant::now();
    let set = atlas_embed::EmbeddingSet::open(&a.embeddings)?;
    let dim = set.meta.dim;
    let row_of: HashMap<&str, usize> = set.ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let (papers, _) = atlas_corpus::load_papers(&a.papers, None)?;
    let papers: Vec<Paper> = papers.into_iter().filter(|p| row_of.contains_key(p.id.as_str())).collect();
    eprintln!("{} papers with vectors ({:.1}s)", papers.len(), t.elapsed().as_secs_f64());

    // Lists: seed paper uniform over the train split, the rest from its primary category.
    let mut by_cat: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut candidates_per_cat: HashMap<&str, usize> = HashMap::new();
    for (i, p) in papers.iter().enumerate() {
        match split_of(&p.id) {
            Split::Train => by_cat.entry(&p.categories[0]).or_default().push(i),
            s if s == a.candidates => *candidates_per_cat.entry(&p.categories[0]).or_default() += 1,
            _ => {}
        }
    }
    // A category can make a list when it has enough train papers and at least K candidates (so a perfect
    // ranking can score 1).
    let train: Vec<usize> = by_cat
        .iter()
        .filter(|(c, v)| v.len() >= a.size && candidates_per_cat.get(*c).copied().unwrap_or(0) >= K)
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut lists: Vec<Vec<usize>> = Vec::with_capacity(a.lists);
    for _ in 0..a.lists {
        let first = *train.choose(&mut rng).context("no category has enough papers")?;
        let pool: Vec<usize> =
            by_cat[papers[first].categories[0].as_str()].iter().copied().filter(|&i| i != first).collect();
        let mut list = vec![first];
        list.extend(pool.choose_multiple(&mut rng, a.size - 1).copied());
        lists.push(list);
    }

    // The benchmark's papers: candidates + the lists' papers.
    let in_lists: HashSet<usize> = lists.iter().flatten().copied().collect();
    let chosen: Vec<usize> = (0..papers.len())
        .filter(|&i| split_of(&papers[i].id) == a.candidates || in_lists.contains(&i))
        .collect();
    let n_candidates = chosen.iter().filter(|&&i| split_of(&papers[i].id) == a.candidates).count();
    eprintln!("{} lists; {} papers of which {n_candidates} candidates", lists.len(), chosen.len());
    write_peer_input(&a, &papers, &chosen, &lists)?;

    let meta = |i: usize| PaperMeta::from_paper(&papers[i]);
    let vectors = |idx: &[usize]| -> Vec<f32> {
        idx.iter()
            .flat_map(|&i| set.vectors[row_of[papers[i].id.as_str()] * dim..][..dim].iter().copied())
            .collect()
    };
    let texts: Vec<(String, String)> =
        chosen.iter().map(|&i| (papers[i].id.clone(), paper_text(&papers[i]))).collect();
    let t = Instant::now();
    let features = TextFeatures::fit(&texts)?;
    eprintln!("TF-IDF: {} features ({:.1}s)", features.n_features(), t.elapsed().as_secs_f64());
    let rec = Recommender::new(
        chosen.iter().map(|&i| meta(i)).collect(),
        vectors(&chosen),
        dim,
        &features,
        params.clone(),
    )?;
    let is_candidate = |p: &PaperMeta| split_of(&p.id) == a.candidates;

    let (mut ours, mut centroid) = (Vec::new(), Vec::new());
    let cand_rows: Vec<usize> =
        chosen.iter().copied().filter(|&i| split_of(&papers[i].id) == a.candidates).collect();
    let cand_vectors = unit_rows(vectors(&cand_rows), dim);
    let t = Instant::now();
    for list in &lists {
        let ids: Vec<String> = list.iter().map(|&i| papers[i].id.clone()).collect();
        let cat = &papers[list[0]].categories[0];
        let recs = rec.recommend_where(&ids, K, is_candidate)?;
        ours.push(recs.iter().filter(|r| &r.paper.categories[0] == cat).count() as f64 / K as f64);
        // Centroid: cosine to the mean of the list's unit vectors.
        let mut c = vec![0f32; dim];
        for v in unit_rows(vectors(list), dim).chunks_exact(dim) {
            c.iter_mut().zip(v).for_each(|(a, b)| *a += b);
        }
        let mut scored: Vec<(f32, usize)> = cand_vectors
            .chunks_exact(dim)
            .enumerate()
            .map(|(j, v)| (v.iter().zip(&c).map(|(a, b)| a * b).sum::<f32>(), j))
            .collect();
        scored.sort_by(|x, y| y.0.total_cmp(&x.0));
        let hits = scored[..K].iter().filter(|(_, j)| &papers[cand_rows[*j]].categories[0] == cat).count();
        centroid.push(hits as f64 / K as f64);
    }
    let eval_s = t.elapsed().as_secs_f64();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (p_ours, p_centroid) = (mean(&ours), mean(&centroid));
    eprintln!("P@10 ours {p_ours:.4}  centroid {p_centroid:.4}  ({eval_s:.1}s for both)");

    let latency = if a.latency_requests > 0 {
        Some(latency_run(&a, &papers, &set, &row_of, &lists, params.clone())?)
    } else {
        None
    };
    let report = json!({
        "protocol": {"lists": lists.len(), "size": a.size, "seed": a.seed, "candidates": a.candidates.to_string(),
                     "n_candidates": n_candidates, "n_papers": chosen.len(), "k": K},
        "params": params,
        "p_at_10": {"ours": p_ours, "centroid": p_centroid},
        "latency_100k": latency,
    });
    std::fs::write(a.out.join("rust.json"), serde_json::to_string_pretty(&report)?)?;
    println!("{report}");
    Ok(())
}

fn unit_rows(mut v: Vec<f32>, dim: usize) -> Vec<f32> {
    for r in v.chunks_exact_mut(dim) {
        let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// papers.jsonl (id, arxiv-sanity-lite's text: title, abstract and authors, primary category, candidate
/// flag) and lists.json (ids of each list) for the peer.
fn write_peer_input(a: &Args, papers: &[Paper], chosen: &[usize], lists: &[Vec<usize>]) -> Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(a.out.join("papers.jsonl"))?);
    for &i in chosen {
        let p = &papers[i];
        let row = json!({"id": p.id, "text": format!("{} {} {}", p.title, p.abstract_text, p.authors),
                         "category": p.categories[0], "candidate": split_of(&p.id) == a.candidates});
        writeln!(f, "{row}")?;
    }
    let ids: Vec<Vec<&str>> =
        lists.iter().map(|l| l.iter().map(|&i| papers[i].id.as_str()).collect()).collect();
    std::fs::write(a.out.join("lists.json"), serde_json::to_string(&ids)?)?;
    Ok(())
}

/// Serving cost over the whole dataset: build the recommender of every paper (TF-IDF fitted on all), then
/// time `latency_requests` recommendations (k = 20, no filter) one after another.
fn latency_run(
    a: &Args,
    papers: &[Paper],
    set: &atlas_embed::EmbeddingSet,
    row_of: &HashMap<&str, usize>,
    lists: &[Vec<usize>],
    params: RecommendParams,
) -> Result<serde_json::Value> {
    let dim = set.meta.dim;
    let t = Instant::now();
    let texts: Vec<(String, String)> = papers.iter().map(|p| (p.id.clone(), paper_text(p))).collect();
    let features = TextFeatures::fit(&texts)?;
    let fit_s = t.elapsed().as_secs_f64();
    let vectors: Vec<f32> = papers
        .iter()
        .flat_map(|p| set.vectors[row_of[p.id.as_str()] * dim..][..dim].iter().copied())
        .collect();
    let rec = Recommender::new(
        papers.iter().map(PaperMeta::from_paper).collect(),
        vectors,
        dim,
        &features,
        params,
    )?;
    let mut ms: Vec<f64> = Vec::new();
    for list in lists.iter().cycle().take(a.latency_requests) {
        let ids: Vec<String> = list.iter().map(|&i| papers[i].id.clone()).collect();
        let t = Instant::now();
        let recs = rec.recommend(&ids, 20, &atlas_index::Filter::default())?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(recs.len() == 20);
    }
    ms.sort_by(f64::total_cmp);
    let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    let out = json!({"papers": papers.len(), "tfidf_features": features.n_features(), "tfidf_fit_s": fit_s,
                     "requests": ms.len(), "p50_ms": q(0.5), "p95_ms": q(0.95), "mean_ms": ms.iter().sum::<f64>() / ms.len() as f64,
                     "threads": rayon::current_num_threads()});
    eprintln!("latency over {} papers: {out}", papers.len());
    Ok(out)
}
