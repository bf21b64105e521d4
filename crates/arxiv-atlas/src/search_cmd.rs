//! Similar-paper search from the command line: `index build|add`, `search`, `evaluate-retrieval` and
//! `bench search`. The work lives in `atlas-index`; this module turns embedding sets and datasets into its
//! inputs and prints its answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use atlas_corpus::{split_of, Split};
use atlas_embed::EmbeddingSet;
use atlas_encoder::Encoder;
use atlas_index::{
    BenchOptions, ExactIndex, ExactParams, Filter, HnswParams, IndexParams, PaperMeta, PgIndex, PgParams,
    Scalar, Storage, UsearchIndex, VectorIndex, VectorSpace,
};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

/// `index …` subcommands.
#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Build a search index from an embedding set (`arxiv-atlas embed`) and the papers' metadata.
    Build(IndexBuildArgs),
    /// Add the papers of an embedding set to an existing index (papers already stored are skipped).
    Add(IndexAddArgs),
}

/// Which index backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Brute force over every vector: exact, no build time, O(n) per query.
    Exact,
    /// HNSW graph (usearch): the embedded default.
    Usearch,
    /// PostgreSQL + pgvector (HNSW, cosine) for shared and scale-out deployments.
    Postgres,
}

/// Where an index lives: a folder, or PostgreSQL tables.
#[derive(Debug, Clone, Args)]
pub struct IndexLocation {
    /// Index folder (exact or usearch backend).
    #[arg(long, conflicts_with = "database_url")]
    pub index: Option<PathBuf>,
    /// PostgreSQL URL of a pgvector index (e.g. `postgres://postgres@127.0.0.1:54329/postgres`).
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Table-name prefix of the pgvector index (several indexes can share a database).
    #[arg(long, default_value = "atlas")]
    pub prefix: String,
    /// HNSW search breadth (usearch `expansion_search`, pgvector `hnsw.ef_search`); default: the index's own.
    #[arg(long)]
    pub ef: Option<usize>,
}

/// HNSW and storage parameters shared by `index build` and the benchmarks.
#[derive(Debug, Clone, Args)]
pub struct BuildParamsArgs {
    /// Stored element type: f32, f16 or i8 (i8: usearch only). Default: i8 for usearch (rescored, see
    /// --no-rescore), f32 for exact.
    #[arg(long)]
    pub scalar: Option<String>,
    /// HNSW graph degree (M).
    #[arg(long, default_value_t = 32)]
    pub m: usize,
    /// HNSW candidate list while inserting (efConstruction).
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// HNSW candidate list while searching (efSearch), stored with the index.
    #[arg(long = "ef-search", default_value_t = 64)]
    pub ef_search: usize,
    /// usearch with i8: do not keep f16 copies of the vectors to re-rank the graph's max(k, efSearch)
    /// candidates with (saves 2 × dim bytes a paper; costs recall and score accuracy).
    #[arg(long)]
    pub no_rescore: bool,
}

/// `index build`.
#[derive(Debug, Args)]
pub struct IndexBuildArgs {
    /// Embedding set folder written by `arxiv-atlas embed`.
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Output index folder (exact/usearch).
    #[arg(long, required_unless_present = "database_url")]
    pub out: Option<PathBuf>,
    /// Backend (postgres needs --database-url).
    #[arg(long, value_enum, default_value = "usearch")]
    pub backend: BackendArg,
    /// PostgreSQL URL (backend postgres).
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Table-name prefix (backend postgres).
    #[arg(long, default_value = "atlas")]
    pub prefix: String,
    /// Papers (any ingest format or dataset folder) to take titles/categories/years from; default: the
    /// embedding set's own input.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// Only index papers of these splits (comma-separated: train,validation,test); default all.
    #[arg(long, value_delimiter = ',')]
    pub splits: Vec<String>,
    #[command(flatten)]
    pub params: BuildParamsArgs,
    /// Print the build report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `index add`.
#[derive(Debug, Args)]
pub struct IndexAddArgs {
    #[command(flatten)]
    pub location: IndexLocation,
    /// Embedding set with the papers to add.
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Papers to take metadata from; default: the embedding set's own input.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Free text (a title, an abstract, a question). Omit it with --id.
    #[arg(required_unless_present = "id")]
    pub text: Option<String>,
    /// Find papers like this stored paper (arXiv id) instead of a text.
    #[arg(long, conflicts_with = "text")]
    pub id: Option<String>,
    #[command(flatten)]
    pub location: IndexLocation,
    /// Number of hits.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Only papers listing this category (repeatable; any of them matches).
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// Only papers from these years: `2015..2019`, `2015..`, `..2019` or `2017`.
    #[arg(long)]
    pub years: Option<String>,
    /// Model folder of the query encoder when the one recorded in the index has moved.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Print the hits as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `evaluate-retrieval`.
#[derive(Debug, Args)]
pub struct EvalRetrievalArgs {
    /// Embedding set of the whole dataset (queries = its test papers, documents = train + validation).
    #[arg(long, default_value = "data/embeddings/arxiv-100k-minilm")]
    pub embeddings: PathBuf,
    /// Papers for the labels; default: the embedding set's own input.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    #[command(flatten)]
    pub params: BuildParamsArgs,
    /// Also measure a pgvector index on this database (built into temporary tables, dropped afterwards).
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `bench search`.
#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Embedding set of the dataset (base = train + validation papers, queries = the first test papers).
    #[arg(long, default_value = "data/embeddings/arxiv-100k-minilm")]
    pub embeddings: PathBuf,
    /// Number of queries (the peer's protocol: the first 1,000 test papers).
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    /// efSearch values to sweep (comma-separated); the reported point is the fastest with recall@10 ≥ --target.
    #[arg(long, value_delimiter = ',', default_value = "16,24,32,48,64,128")]
    pub ef: Vec<usize>,
    /// Recall@10 the reported operating point must reach.
    #[arg(long, default_value_t = 0.95)]
    pub target: f64,
    #[command(flatten)]
    pub params: BuildParamsArgs,
    /// Also measure pgvector on this database (temporary tables, dropped afterwards).
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Print one JSON object (`qps`, `recall_at_10`, `build_s`, …).
    #[arg(long)]
    pub json: bool,
}

fn scalar(s: &str) -> Result<Scalar> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "f32" => Scalar::F32,
        "f16" => Scalar::F16,
        "i8" => Scalar::I8,
        other => bail!("--scalar {other}: expected f32, f16 or i8"),
    })
}

fn index_params(backend: BackendArg, p: &BuildParamsArgs) -> Result<IndexParams> {
    Ok(match backend {
        BackendArg::Exact => IndexParams::Exact(ExactParams {
            storage: match scalar(p.scalar.as_deref().unwrap_or("f32"))? {
                Scalar::F32 => Storage::F32,
                Scalar::F16 => Storage::F16,
                Scalar::I8 => bail!("--scalar i8 is for the usearch backend; exact stores f32 or f16"),
            },
        }),
        BackendArg::Usearch | BackendArg::Postgres => IndexParams::Usearch(hnsw_params(p)?),
    })
}

fn hnsw_params(p: &BuildParamsArgs) -> Result<HnswParams> {
    Ok(HnswParams {
        scalar: scalar(p.scalar.as_deref().unwrap_or("i8"))?,
        connectivity: p.m,
        expansion_add: p.ef_construction,
        expansion_search: p.ef_search,
        // f16 copies only sharpen an i8 graph; beside f32 or f16 rows they would add memory and no accuracy.
        rescore: p.scalar.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("i8")) && !p.no_rescore,
    })
}

fn pg_params(prefix: &str, p: &BuildParamsArgs) -> PgParams {
    PgParams {
        prefix: prefix.to_owned(),
        m: p.m,
        ef_construction: p.ef_construction,
        ef_search: p.ef_search,
        ..PgParams::default()
    }
}

/// The vector space of an embedding set.
fn space_of(set: &EmbeddingSet) -> VectorSpace {
    VectorSpace {
        embedding_id: set.meta.embedding_id.clone(),
        model_hash: set.meta.model_hash.clone(),
        model_dir: set.meta.model_dir.clone(),
        template: set.meta.template.clone(),
        dim: set.meta.dim,
    }
}

/// Rows of an embedding set joined with their papers' metadata (rows without a paper are an error: the set and
/// the papers disagree).
struct Corpus {
    papers: Vec<PaperMeta>,
    vectors: Vec<f32>,
}

fn open_set(dir: &Path) -> Result<EmbeddingSet> {
    EmbeddingSet::open(dir).with_context(|| format!("opening the embedding set {}", dir.display()))
}

/// Joins `set` with the papers in `papers` (default: the set's input), reading them once: each row goes to the
/// corpus `bucket` names for its split (`None` drops it); `n` corpora are returned.
fn join(
    set: &EmbeddingSet,
    papers: Option<&Path>,
    n: usize,
    bucket: impl Fn(Split) -> Option<usize>,
) -> Result<Vec<Corpus>> {
    let source = papers.map(Path::to_path_buf).unwrap_or_else(|| set.meta.input.clone());
    let mut meta: HashMap<String, PaperMeta> = HashMap::with_capacity(set.ids.len());
    let t = Instant::now();
    atlas_corpus::read_papers(&source, &atlas_corpus::ReadOptions::default(), |p| {
        meta.insert(p.id.clone(), PaperMeta::from_paper(&p));
    })
    .with_context(|| format!("reading paper metadata from {}", source.display()))?;
    tracing::info!(
        "read metadata of {} papers from {} ({:.1}s)",
        meta.len(),
        source.display(),
        t.elapsed().as_secs_f64()
    );
    let dim = set.meta.dim;
    let mut out: Vec<Corpus> = (0..n).map(|_| Corpus { papers: Vec::new(), vectors: Vec::new() }).collect();
    for (i, id) in set.ids.iter().enumerate() {
        let Some(b) = bucket(split_of(id)) else { continue };
        let Some(p) = meta.remove(id) else {
            bail!("paper {id} (row {i} of {}) is not in {}", set.dir.display(), source.display());
        };
        out[b].papers.push(p);
        out[b].vectors.extend_from_slice(&set.vectors[i * dim..(i + 1) * dim]);
    }
    Ok(out)
}

fn parse_splits(names: &[String]) -> Result<Vec<Split>> {
    names.iter().map(|s| s.parse::<Split>().map_err(|e| anyhow::anyhow!("--splits {s}: {e}"))).collect()
}

/// `index build`.
pub fn build(a: IndexBuildArgs) -> Result<()> {
    let set = open_set(&a.embeddings)?;
    let splits = parse_splits(&a.splits)?;
    let corpus =
        join(&set, a.papers.as_deref(), 1, |s| (splits.is_empty() || splits.contains(&s)).then_some(0))?
            .remove(0);
    let space = space_of(&set);
    let report = match a.backend {
        BackendArg::Postgres => {
            let url = a.database_url.as_deref().context("--backend postgres needs --database-url")?;
            let params = pg_params(&a.prefix, &a.params);
            let t = Instant::now();
            let index = PgIndex::build(url, &space, &corpus.papers, &corpus.vectors, &params)?;
            // The shape of the folder backends' BuildReport, so scripts read one format.
            json!({"info": index.info(), "build_seconds": t.elapsed().as_secs_f64(), "prefix": a.prefix})
        }
        backend => {
            let out = a.out.as_deref().context("--out DIR is needed for the exact and usearch backends")?;
            let params = index_params(backend, &a.params)?;
            let r = atlas_index::build_index(&space, &corpus.papers, &corpus.vectors, &params, out)?;
            let mut v = serde_json::to_value(&r)?;
            v["out"] = json!(out);
            v
        }
    };
    if a.json {
        println!("{report}");
    } else {
        eprintln!(
            "indexed {} papers ({}) in {:.1}s",
            report["info"]["count"].as_u64().unwrap_or(0),
            a.backend.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default(),
            report["build_seconds"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}

/// `index add`.
pub fn add(a: IndexAddArgs) -> Result<()> {
    let set = open_set(&a.embeddings)?;
    let corpus = join(&set, a.papers.as_deref(), 1, |_| Some(0))?.remove(0);
    let report = match (&a.location.index, &a.location.database_url) {
        (Some(dir), _) => {
            let index = atlas_index::open_index(dir)?;
            atlas_index::check_embedding_id(index.info(), &set.meta.embedding_id)?;
            drop(index);
            atlas_index::add_to_index(dir, &corpus.papers, &corpus.vectors)?
        }
        (None, Some(url)) => {
            let mut index =
                PgIndex::open(url, &PgParams { prefix: a.location.prefix.clone(), ..PgParams::default() })?;
            atlas_index::check_embedding_id(index.info(), &set.meta.embedding_id)?;
            index.add(&corpus.papers, &corpus.vectors)?
        }
        (None, None) => bail!("name the index: --index DIR or --database-url URL"),
    };
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

/// Opens the index a command names.
pub fn open_location(loc: &IndexLocation) -> Result<Box<dyn VectorIndex>> {
    match (&loc.index, &loc.database_url) {
        (Some(dir), _) => {
            let mut index = atlas_index::OnDiskIndex::open(dir)
                .with_context(|| format!("opening the index {}", dir.display()))?;
            if let (Some(ef), atlas_index::OnDiskIndex::Usearch(u)) = (loc.ef, &mut index) {
                u.set_expansion_search(ef);
            }
            Ok(index.into_dyn())
        }
        (None, Some(url)) => {
            let mut params = PgParams { prefix: loc.prefix.clone(), ..PgParams::default() };
            if let Some(ef) = loc.ef {
                params.ef_search = ef;
            }
            Ok(Box::new(PgIndex::open(url, &params)?))
        }
        (None, None) => bail!("name the index: --index DIR or --database-url URL"),
    }
}

/// Loads the encoder whose vectors the index holds: the recorded model folder (or `model_dir`), fp32 first, then
/// int8, whichever reproduces the index's embedding id.
pub fn query_encoder(index: &dyn VectorIndex, model_dir: Option<&Path>) -> Result<Encoder> {
    query_encoder_sessions(index, model_dir, 1)
}

/// Like [`query_encoder`] with `sessions` ONNX Runtime sessions (a server's inference workers).
pub fn query_encoder_sessions(
    index: &dyn VectorIndex,
    model_dir: Option<&Path>,
    sessions: usize,
) -> Result<Encoder> {
    let info = index.info();
    let dir = match model_dir {
        Some(d) => d.to_path_buf(),
        None if info.model_dir.is_dir() => info.model_dir.clone(),
        None => atlas_encoder::default_model_dir().with_context(|| {
            format!("the index's model folder {} is gone; pass --model-dir", info.model_dir.display())
        })?,
    };
    let mut last = None;
    for precision in ["fp32", "int8"] {
        let cfg = atlas_config::EncoderConfig {
            model_dir: Some(dir.clone()),
            backend: "auto".into(),
            precision: precision.into(),
            device: "cpu".into(),
            threads: 0,
            batch_size: 32,
            cache_dir: None,
        };
        let encoder = match crate::encoding::encoder_with_sessions(&cfg, &info.template, sessions) {
            Ok(e) => e,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let id = encoder.embedding_id()?.to_owned();
        match atlas_index::check_embedding_id(info, &id) {
            Ok(()) => return Ok(encoder),
            Err(e) => last = Some(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("no encoder")))
        .with_context(|| format!("no encoder in {} produces the index's vectors", dir.display()))
}

/// Parses `2015..2019`, `2015..`, `..2019`, `2017`.
pub fn parse_years(s: &str) -> Result<std::ops::RangeInclusive<u16>> {
    let year = |t: &str, default: u16| -> Result<u16> {
        let t = t.trim();
        if t.is_empty() {
            return Ok(default);
        }
        t.parse::<u16>().map_err(|_| anyhow::anyhow!("--years {s}: `{t}` is not a year"))
    };
    let r = match s.split_once("..") {
        Some((a, b)) => year(a, 0)?..=year(b.trim_start_matches('='), u16::MAX)?,
        None => {
            let y = year(s, 0)?;
            y..=y
        }
    };
    if r.start() > r.end() {
        bail!("--years {s}: the range is empty");
    }
    Ok(r)
}

/// `search`.
pub fn search(a: SearchArgs) -> Result<()> {
    if a.k == 0 {
        bail!("-k must be at least 1");
    }
    let index = open_location(&a.location)?;
    let filter = Filter {
        categories: (!a.categories.is_empty()).then(|| a.categories.clone()),
        years: a.years.as_deref().map(parse_years).transpose()?,
    };
    let t = Instant::now();
    let (query, hits) = match (&a.id, &a.text) {
        (Some(id), _) => {
            let v = index.vector(id)?.with_context(|| format!("paper {id} is not in the index"))?;
            let mut hits = index.search(&v, a.k + 1, &filter)?;
            hits.retain(|h| &h.paper.id != id);
            hits.truncate(a.k);
            (json!({"id": id}), hits)
        }
        (None, Some(text)) => {
            if text.trim().is_empty() {
                bail!("the query text is empty");
            }
            let encoder = query_encoder(index.as_ref(), a.model_dir.as_deref())?;
            let e = encoder.embed(&[text.as_str()])?;
            let v = e.row(0).context("the encoder returned no vector")?.to_vec();
            (json!({"text": text}), index.search(&v, a.k, &filter)?)
        }
        (None, None) => bail!("give a query text or --id"),
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if a.json {
        println!(
            "{}",
            json!({"query": query, "k": a.k, "backend": index.info().backend, "took_ms": ms, "hits": hits})
        );
        return Ok(());
    }
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["score", "id", "year", "categories", "title"]);
    for h in &hits {
        let title: String = h.paper.title.chars().take(90).collect();
        table.add_row([
            format!("{:.3}", h.score),
            h.paper.id.clone(),
            h.paper.year.map(|y| y.to_string()).unwrap_or_default(),
            h.paper.categories.join(" "),
            title,
        ]);
    }
    println!("{table}");
    eprintln!(
        "{} hits from {} papers ({}) in {ms:.1} ms",
        hits.len(),
        index.info().count,
        index.info().backend
    );
    Ok(())
}

/// Splits an embedding set into documents (train + validation) and queries (test), the peer's protocol.
struct Protocol {
    space: VectorSpace,
    docs: Corpus,
    queries: Corpus,
}

fn protocol(embeddings: &Path, papers: Option<&Path>) -> Result<Protocol> {
    let set = open_set(embeddings)?;
    // One read of the papers for both sides: bucket 0 = documents, 1 = queries.
    let mut sides = join(&set, papers, 2, |s| Some(usize::from(s == Split::Test)))?;
    let queries = sides.pop().context("two corpora")?;
    let docs = sides.pop().context("two corpora")?;
    if docs.papers.is_empty() || queries.papers.is_empty() {
        bail!(
            "{}: needs papers of the test split (queries) and of train/validation (documents)",
            embeddings.display()
        );
    }
    Ok(Protocol { space: space_of(&set), docs, queries })
}

fn primary(p: &PaperMeta) -> String {
    p.categories.first().cloned().unwrap_or_default()
}

/// `evaluate-retrieval`.
pub fn evaluate_retrieval(a: EvalRetrievalArgs) -> Result<()> {
    let pr = protocol(&a.embeddings, a.papers.as_deref())?;
    let ids: Vec<String> = pr.queries.papers.iter().map(|p| p.id.clone()).collect();
    let labels: Vec<String> = pr.queries.papers.iter().map(primary).collect();
    let dim = pr.space.dim;
    let mut out = serde_json::Map::new();
    out.insert("n_docs".into(), json!(pr.docs.papers.len()));
    out.insert("n_queries".into(), json!(ids.len()));

    let exact = ExactIndex::build(&pr.space, &pr.docs.papers, &pr.docs.vectors, ExactParams::default())?;
    let t = Instant::now();
    let m = atlas_index::evaluate_retrieval(&exact, &pr.queries.vectors, &ids, &labels)?;
    out.insert("exact".into(), json!({"metrics": m, "seconds": t.elapsed().as_secs_f64()}));
    let exact_hits = exact.search_batch(&pr.queries.vectors, 10, &Filter::default())?;

    /// An approximate index under evaluation: name, index, build seconds, and the pgvector tables to drop.
    struct Ann {
        name: &'static str,
        index: Box<dyn VectorIndex>,
        build_s: f64,
        pg: Option<(String, PgParams)>,
    }
    let mut ann: Vec<Ann> = Vec::new();
    let t = Instant::now();
    let hnsw = UsearchIndex::build(&pr.space, &pr.docs.papers, &pr.docs.vectors, hnsw_params(&a.params)?)?;
    ann.push(Ann { name: "usearch", index: Box::new(hnsw), build_s: t.elapsed().as_secs_f64(), pg: None });
    if let Some(url) = &a.database_url {
        let params = pg_params(&format!("evalret_{}", std::process::id()), &a.params);
        let t = Instant::now();
        let pg = PgIndex::build(url, &pr.space, &pr.docs.papers, &pr.docs.vectors, &params)?;
        let build_s = t.elapsed().as_secs_f64();
        ann.push(Ann { name: "postgres", index: Box::new(pg), build_s, pg: Some((url.clone(), params)) });
    }
    for Ann { name, index, build_s, pg } in ann {
        let t = Instant::now();
        let m = atlas_index::evaluate_retrieval(index.as_ref(), &pr.queries.vectors, &ids, &labels)?;
        let hits = index.search_batch(&pr.queries.vectors, 10, &Filter::default())?;
        let recall = atlas_index::recall_at_k(&hits, &exact_hits, 10);
        let n = ids.len().min(1000);
        let b = atlas_index::bench_search(
            index.as_ref(),
            &pr.queries.vectors[..n * dim],
            &BenchOptions::default(),
            None,
        )?;
        out.insert(
            name.to_owned(),
            json!({"metrics": m, "recall_at_10": recall, "qps_1t": b.qps_1t, "build_s": build_s,
                   "seconds": t.elapsed().as_secs_f64()}),
        );
        drop(index);
        if let Some((url, params)) = pg {
            PgIndex::drop_tables(&url, &params.prefix)?;
        }
    }
    let out = serde_json::Value::Object(out);
    if a.json {
        println!("{out}");
        return Ok(());
    }
    println!(
        "queries: {} test papers; documents: {} train+validation papers; hit = same primary category",
        ids.len(),
        pr.docs.papers.len()
    );
    println!(
        "{:<10} {:>6} {:>6} {:>8} {:>8} {:>10} {:>10}",
        "index", "P@1", "P@10", "MRR@10", "nDCG@10", "recall@10", "QPS (1t)"
    );
    for name in ["exact", "usearch", "postgres"] {
        let Some(v) = out.get(name) else { continue };
        let m = &v["metrics"];
        println!(
            "{name:<10} {:>6.4} {:>6.4} {:>8.4} {:>8.4} {:>10} {:>10}",
            m["p_at_1"].as_f64().unwrap_or(0.0),
            m["p_at_10"].as_f64().unwrap_or(0.0),
            m["mrr_at_10"].as_f64().unwrap_or(0.0),
            m["ndcg_at_10"].as_f64().unwrap_or(0.0),
            v["recall_at_10"].as_f64().map(|r| format!("{r:.4}")).unwrap_or_else(|| "1 (ref)".into()),
            v["qps_1t"].as_f64().map(|r| format!("{r:.0}")).unwrap_or_default(),
        );
    }
    Ok(())
}

/// `bench search`.
pub fn bench_search(a: BenchSearchArgs) -> Result<()> {
    let pr = protocol(&a.embeddings, None)?;
    let dim = pr.space.dim;
    let n = a.queries.min(pr.queries.papers.len());
    let queries = &pr.queries.vectors[..n * dim];
    let exact = ExactIndex::build(&pr.space, &pr.docs.papers, &pr.docs.vectors, ExactParams::default())?;
    let exact_bench = atlas_index::bench_search(&exact, queries, &BenchOptions::default(), None)?;
    eprintln!("exact: {:.0} QPS (1 thread), {:.0} QPS (batch)", exact_bench.qps_1t, exact_bench.batch_qps);

    let t = Instant::now();
    let params = hnsw_params(&a.params)?;
    let mut hnsw = UsearchIndex::build(&pr.space, &pr.docs.papers, &pr.docs.vectors, params.clone())?;
    let build_s = t.elapsed().as_secs_f64();
    eprintln!(
        "usearch: built {} papers in {build_s:.1}s on {} threads",
        pr.docs.papers.len(),
        rayon::current_num_threads()
    );
    let mut sweep = Vec::new();
    for &ef in &a.ef {
        hnsw.set_expansion_search(ef);
        let b = atlas_index::bench_search(&hnsw, queries, &BenchOptions::default(), Some(&exact))?;
        eprintln!(
            "usearch ef {ef:>4}: recall@10 {:.4}, {:.0} QPS (1 thread), {:.0} QPS (batch, {} threads), p50 {:.3} ms",
            b.recall_at_k.unwrap_or(0.0),
            b.qps_1t,
            b.batch_qps,
            b.batch_threads,
            b.latency_p50_ms
        );
        sweep.push((ef, b));
    }
    let best = sweep
        .iter()
        .filter(|(_, b)| b.recall_at_k.unwrap_or(0.0) >= a.target)
        .max_by(|x, y| x.1.qps_1t.total_cmp(&y.1.qps_1t))
        .or_else(|| {
            sweep
                .iter()
                .max_by(|x, y| x.1.recall_at_k.unwrap_or(0.0).total_cmp(&y.1.recall_at_k.unwrap_or(0.0)))
        })
        .context("--ef needs at least one value")?;
    let mut out = json!({
        "backend": "usearch",
        "n_base": pr.docs.papers.len(),
        "n_queries": n,
        "dim": dim,
        "m": a.params.m,
        "ef_construction": a.params.ef_construction,
        "scalar": params.scalar,
        "rescore": params.rescore,
        "ef": best.0,
        "qps": best.1.qps_1t,
        "batch_qps": best.1.batch_qps,
        "batch_threads": best.1.batch_threads,
        "recall_at_10": best.1.recall_at_k,
        "latency_p50_ms": best.1.latency_p50_ms,
        "latency_p99_ms": best.1.latency_p99_ms,
        "build_s": build_s,
        "build_threads": rayon::current_num_threads(),
        "memory_mb": best.1.memory_bytes.map(|b| b as f64 / 1e6),
        "target_recall": a.target,
        "target_met": best.1.recall_at_k.unwrap_or(0.0) >= a.target,
        "exact_qps": exact_bench.qps_1t,
        "exact_batch_qps": exact_bench.batch_qps,
        "sweep": sweep.iter().map(|(ef, b)| json!({"ef": ef, "recall_at_10": b.recall_at_k, "qps": b.qps_1t,
            "batch_qps": b.batch_qps, "latency_p50_ms": b.latency_p50_ms})).collect::<Vec<_>>(),
    });
    if let Some(url) = &a.database_url {
        let params = pg_params(&format!("benchsearch_{}", std::process::id()), &a.params);
        let t = Instant::now();
        let built = PgIndex::build(url, &pr.space, &pr.docs.papers, &pr.docs.vectors, &params);
        let result = built.map_err(anyhow::Error::from).and_then(|pg| {
            let pg_build_s = t.elapsed().as_secs_f64();
            drop(pg);
            let mut points = Vec::new();
            for &ef in &a.ef {
                let pg = PgIndex::open(url, &PgParams { ef_search: ef, ..params.clone() })?;
                let b = atlas_index::bench_search(&pg, queries, &BenchOptions::default(), Some(&exact))?;
                eprintln!("pgvector ef {ef:>4}: recall@10 {:.4}, {:.0} QPS (1 client)", b.recall_at_k.unwrap_or(0.0), b.qps_1t);
                points.push(json!({"ef": ef, "recall_at_10": b.recall_at_k, "qps": b.qps_1t, "batch_qps": b.batch_qps,
                    "latency_p50_ms": b.latency_p50_ms}));
            }
            Ok(json!({"build_s": pg_build_s, "m": params.m, "ef_construction": params.ef_construction, "sweep": points}))
        });
        PgIndex::drop_tables(url, &params.prefix)?;
        out["postgres"] = result?;
    }
    if a.json {
        println!("{out}");
    } else {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}
