//! `index build|add`, `search`, `evaluate-retrieval` and `bench search`: the work is in `atlas-index`; this
//! opens the embedding set and prints the answers.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use atlas_embed::{EmbeddingSet, SetMeta};
use atlas_index::{
    BuildOptions, IndexParams, RetrievalOptions, RetrievalProtocol, SweepOptions, VectorSpace,
};
use atlas_progress::{Display, Progress};
use serde_json::json;

use crate::cli::{
    BenchSearchArgs, EvalRetrievalArgs, IndexAddArgs, IndexBuildArgs, RecommendArgs, SearchArgs,
};
use crate::output;

fn open_set(dir: &Path) -> Result<EmbeddingSet> {
    EmbeddingSet::open(dir).with_context(|| format!("opening the embedding set {}", dir.display()))
}

/// The vector space of an embedding set.
fn space_of(meta: &SetMeta) -> VectorSpace {
    VectorSpace {
        embedding_id: meta.embedding_id.clone(),
        model_hash: meta.model_hash.clone(),
        model_dir: meta.model_dir.clone(),
        template: meta.template.clone(),
        dim: meta.dim,
    }
}

/// The papers file of a set: `papers`, else the input the set was embedded from.
fn papers_of<'a>(set: &'a EmbeddingSet, papers: Option<&'a Path>) -> &'a Path {
    papers.unwrap_or(&set.meta.input)
}

pub fn build(a: IndexBuildArgs) -> Result<()> {
    // Several folders are the shards of one run (checked: all N, one model and input), read in shard order.
    let sets = atlas_embed::plan_sets(&a.embeddings).context("checking the embedding sets")?;
    let space = space_of(&sets[0].1);
    let location = atlas_index::IndexLocation::parse(&a.index, &a.index_name);
    let backend = a.backend.unwrap_or_else(|| location.default_backend());
    let params = IndexParams::for_backend(backend, &a.graph.options(a.ef_search))?;
    let keep = |s| a.split.is_empty() || a.split.contains(&s);
    // One set in memory at a time: a database loads each before the next is opened.
    let parts = sets.iter().map(|(dir, _)| -> Result<atlas_index::BuildPart<'static>> {
        let set = open_set(dir)?;
        let papers = papers_of(&set, a.papers.as_deref());
        let corpus = atlas_index::join_papers(&set.ids, &set.vectors, set.meta.dim, papers, 1, |s| {
            keep(s).then_some(0)
        })?
        .remove(0);
        if sets.len() > 1 {
            eprintln!("loaded {} papers of {}", corpus.papers.len(), dir.display());
        }
        Ok((Cow::Owned(corpus.papers), Cow::Owned(corpus.vectors)))
    });
    let progress = Progress::new("index build", 0, "vectors", Display::configured());
    let report = location.build_in_parts(&space, parts, &params, &progress)?;
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["index"] = json!(location.to_string());
        println!("{v}");
    } else {
        crate::output::print_index_build(&report, &location.to_string());
    }
    Ok(())
}

pub fn add(a: IndexAddArgs) -> Result<()> {
    let set = open_set(&a.embeddings)?;
    let corpus = atlas_index::join_papers(
        &set.ids,
        &set.vectors,
        set.meta.dim,
        papers_of(&set, a.papers.as_deref()),
        1,
        |_| Some(0),
    )?
    .remove(0);
    let report = a.location.location().add(&corpus.papers, &corpus.vectors, &set.meta.embedding_id)?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "added {} papers, skipped {} already stored; the index now holds {}",
            report.added,
            report.skipped.len(),
            report.count
        );
    }
    Ok(())
}

pub fn search(a: SearchArgs) -> Result<()> {
    let location = a.location.location();
    let index = location.open(a.ef_search).with_context(|| format!("opening the index {location}"))?;
    let filter = a.filter.filter()?;
    let k = a.top_k as usize;
    let t = Instant::now();
    let (query, hits) = match (&a.id, &a.text) {
        (Some(id), _) => {
            let hits = index
                .search_like(id, k, &filter)?
                .with_context(|| format!("paper {id} is not in the index"))?;
            (json!({"id": id}), hits)
        }
        (None, Some(text)) => {
            anyhow::ensure!(!text.trim().is_empty(), "the query text is empty");
            let encoder = atlas_model::query_encoder(index.info(), a.model_dir.as_deref(), 1)?;
            let e = encoder.embed(&[text.as_str()])?;
            let v = e.row(0).context("the encoder returned no vector")?.to_vec();
            (json!({"text": text}), index.search(&v, k, &filter)?)
        }
        (None, None) => anyhow::bail!("give a query text or --id"),
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let info = index.info();
    if a.json {
        println!("{}", json!({"query": query, "k": k, "backend": info.backend, "took_ms": ms, "hits": hits}));
    } else {
        output::print_hits(&hits);
        eprintln!("{} hits from {} papers ({}) in {ms:.1} ms", hits.len(), info.count, info.backend);
    }
    Ok(())
}

pub fn recommend(a: RecommendArgs) -> Result<()> {
    let location = a.location.location();
    let filter = a.filter.filter()?;
    let opts = atlas_recommend::FeatureOptions { dir: a.features.clone(), papers: a.papers.clone() };
    let t = Instant::now();
    let (recommender, report) =
        atlas_recommend::Recommender::open(&location, &opts, atlas_recommend::RecommendParams::default())
            .with_context(|| format!("opening the index {location} for recommendations"))?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    if report.built || report.added > 0 {
        eprintln!(
            "reading-list features in {}: {}",
            report.dir.display(),
            if report.built { "built".to_string() } else { format!("added {} papers", report.added) }
        );
    }
    let t = Instant::now();
    let recs = recommender.recommend(&a.ids, a.top_k as usize, &filter)?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if a.json {
        println!(
            "{}",
            json!({"ids": a.ids, "k": a.top_k, "load_ms": load_ms, "took_ms": ms, "recommendations": recs})
        );
    } else {
        output::print_recommendations(&recs);
        eprintln!(
            "{} recommendations from {} papers in {ms:.0} ms (loading took {load_ms:.0} ms)",
            recs.len(),
            recommender.len()
        );
    }
    Ok(())
}

/// The retrieval protocol over an embedding set: documents = train + validation, queries = test.
fn protocol(embeddings: &Path, papers: Option<&Path>) -> Result<RetrievalProtocol> {
    let set = open_set(embeddings)?;
    let papers = papers_of(&set, papers);
    RetrievalProtocol::split(space_of(&set.meta), &set.ids, &set.vectors, papers)
        .with_context(|| format!("splitting {} into documents and queries", embeddings.display()))
}

pub fn evaluate_retrieval(a: EvalRetrievalArgs) -> Result<()> {
    let pa = a.protocol;
    let p = protocol(&pa.embeddings, a.papers.as_deref())?;
    let opts = RetrievalOptions {
        build: pa.graph.options(a.ef_search),
        database_url: pa.database_url,
        temp_prefix: None,
    };
    let report = atlas_index::evaluate_protocol(&p, &opts)?;
    if pa.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        output::print_retrieval(&report);
    }
    Ok(())
}

pub fn bench_search(a: BenchSearchArgs) -> Result<()> {
    let pa = a.protocol;
    let p = protocol(&pa.embeddings, None)?;
    let opts = SweepOptions {
        queries: a.limit,
        ef: a.ef_search,
        target_recall: a.target,
        // The sweep sets efSearch on the built graph before each point, so the stored one never counts.
        build: pa.graph.options(BuildOptions::default().ef_search),
        database_url: pa.database_url,
        temp_prefix: None,
    };
    let report = atlas_index::bench_protocol(&p, &opts)?;
    if pa.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
