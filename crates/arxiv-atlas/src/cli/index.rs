//! Flags of the similar-paper commands: `index build|add`, `search`, `recommend`, `evaluate-retrieval`,
//! `bench search`.
//!
//! An index is always named the same way: `--index` takes a folder or a `postgres://` URL, and `--index-name`
//! picks the table prefix inside a database (several indexes can share one).
//!
//! `--ef-search` is always efSearch, the HNSW candidate list while searching: the default stored with an
//! index (`index build`), an override of it (`search`, `serve`), the one value measured
//! (`evaluate-retrieval`) or the values swept, comma-separated, over one graph (`bench search`). The graph's
//! own parameters (`--m`, `--ef-construction`, `--scalar`, `--no-rescore`) are [`GraphArgs`].

use std::path::PathBuf;

use atlas_corpus::Split;
use atlas_index::{BuildOptions, Filter, IndexBackend, IndexLocation, Scalar, DEFAULT_INDEX_NAME};
use clap::Args;

/// Where an index lives.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// The index: a folder (exact or usearch) or a PostgreSQL URL (`postgres://user@host:port/db`, pgvector).
    #[arg(long, env = "ARXIV_ATLAS_INDEX", hide_env_values = true)]
    pub index: String,
    /// Table-name prefix of a PostgreSQL index (`<name>_papers`, `<name>_meta`).
    #[arg(long, default_value = DEFAULT_INDEX_NAME, alias = "prefix", alias = "pg-index")]
    pub index_name: String,
}

impl IndexArgs {
    /// The location these flags name.
    pub fn location(&self) -> IndexLocation {
        IndexLocation::parse(&self.index, &self.index_name)
    }
}

/// HNSW graph and storage parameters of a build. efSearch is not among them: each command that searches
/// says what its `--ef-search` means (stored with a built index, the one value measured, or the list swept).
#[derive(Debug, Clone, Args)]
pub struct GraphArgs {
    /// Stored element type: f32, f16 or i8 (i8: usearch only). Default: i8 for usearch (rescored, see
    /// --no-rescore), f32 for exact and pgvector.
    #[arg(long, value_enum)]
    pub scalar: Option<Scalar>,
    /// HNSW graph degree (M).
    #[arg(long, default_value_t = BuildOptions::default().m)]
    pub m: usize,
    /// HNSW candidate list while inserting (efConstruction).
    #[arg(long, default_value_t = BuildOptions::default().ef_construction)]
    pub ef_construction: usize,
    /// usearch with i8: do not keep f16 copies of the vectors to re-rank the graph's max(k, efSearch)
    /// candidates with (saves 2 × dim bytes a paper; costs recall and score accuracy).
    #[arg(long)]
    pub no_rescore: bool,
}

impl GraphArgs {
    /// The build options these flags give, with `ef_search` as the efSearch of the built index.
    pub fn options(&self, ef_search: usize) -> BuildOptions {
        BuildOptions {
            scalar: self.scalar,
            m: self.m,
            ef_construction: self.ef_construction,
            ef_search,
            rescore: !self.no_rescore,
        }
    }
}

/// `index build`.
#[derive(Debug, Args)]
pub struct IndexBuildArgs {
    /// Embedding set folder written by `arxiv-atlas embed`. Repeat it (or separate by commas) for the shards of
    /// an `embed --shard I/N` run: all N are required, and a PostgreSQL index loads them shard by shard.
    #[arg(long, required = true, value_delimiter = ',')]
    pub embeddings: Vec<PathBuf>,
    /// Where to build: an index folder, or a PostgreSQL URL for pgvector. (Never taken from
    /// `ARXIV_ATLAS_INDEX`: a build replaces what is there, so it is always named.)
    #[arg(long, alias = "out")]
    pub index: String,
    /// Table-name prefix of a PostgreSQL index.
    #[arg(long, default_value = DEFAULT_INDEX_NAME, alias = "prefix")]
    pub index_name: String,
    /// Index type. Default: usearch for a folder, postgres for a PostgreSQL URL.
    #[arg(long, value_enum)]
    pub backend: Option<IndexBackend>,
    /// Papers (any ingest format or dataset folder) to take titles/categories/years from; default: the
    /// embedding set's own input.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// Only index papers of these splits (comma-separated: train,validation,test); default all.
    #[arg(long, value_delimiter = ',', alias = "splits")]
    pub split: Vec<Split>,
    #[command(flatten)]
    pub graph: GraphArgs,
    /// HNSW candidate list while searching (efSearch), stored with the index as its default.
    #[arg(long, default_value_t = BuildOptions::default().ef_search)]
    pub ef_search: usize,
    /// Print the build report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `index add`.
#[derive(Debug, Args)]
pub struct IndexAddArgs {
    #[command(flatten)]
    pub location: IndexArgs,
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
    pub location: IndexArgs,
    /// HNSW search breadth (usearch `expansion_search`, pgvector `hnsw.ef_search`); default: the index's own.
    #[arg(long, alias = "ef")]
    pub ef_search: Option<usize>,
    /// Number of hits.
    #[arg(
        short = 'k',
        long,
        alias = "k",
        default_value_t = super::DEFAULT_TOP_K,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub top_k: u32,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Model folder of the query encoder when the one recorded in the index has moved.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Print the hits as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The category and year filters of `search` and `recommend`.
#[derive(Debug, Clone, Args)]
pub struct FilterArgs {
    /// Only papers listing this category (repeatable; any of them matches).
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// Only papers from these years, with Rust's range meaning: `2015..2019` = 2015 to 2018 (end excluded),
    /// `2015..=2019` = 2015 to 2019, `2015..`, `..=2019`, or one year `2017`.
    #[arg(long)]
    pub years: Option<String>,
}

impl FilterArgs {
    /// The filter these flags name (a malformed year range is an error that says why).
    pub fn filter(&self) -> Result<Filter, atlas_index::IndexError> {
        Ok(Filter {
            categories: (!self.categories.is_empty()).then(|| self.categories.clone()),
            years: self.years.as_deref().map(atlas_index::parse_year_range).transpose()?,
        })
    }
}

/// `recommend`.
#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// The reading list: arXiv ids of papers in the index, comma-separated (or the flag repeated).
    #[arg(long, required = true, value_delimiter = ',')]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub location: IndexArgs,
    /// Number of recommendations.
    #[arg(
        short = 'k',
        long,
        alias = "k",
        default_value_t = super::DEFAULT_TOP_K,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub top_k: u32,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Papers the index was built from (dataset folder or any ingest format): their text builds the TF-IDF
    /// features the first time (kept in `<index>/recommend-features`) and adds those of papers added to the
    /// index since. Not needed once the features are there.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// Folder of the TF-IDF features; default `<index>/recommend-features` (required for a PostgreSQL index).
    #[arg(long)]
    pub features: Option<PathBuf>,
    /// Print the recommendations as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The embedded dataset the retrieval protocol reads, and an optional pgvector to measure beside usearch.
#[derive(Debug, Args)]
pub struct ProtocolArgs {
    /// Embedding set of the whole dataset (queries = its test papers, documents = train + validation).
    #[arg(long, default_value = super::DEFAULT_EMBEDDINGS)]
    pub embeddings: PathBuf,
    /// Also measure a pgvector index on this database (built into temporary tables, dropped afterwards).
    #[arg(long, env = "ARXIV_ATLAS_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub graph: GraphArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `evaluate-retrieval`.
#[derive(Debug, Args)]
pub struct EvalRetrievalArgs {
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Papers for the labels; default: the embedding set's own input.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// HNSW candidate list while searching (efSearch) of the ANN index measured.
    #[arg(long, default_value_t = BuildOptions::default().ef_search)]
    pub ef_search: usize,
}

/// `bench search`.
#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    /// Number of queries: the first N test papers (the FAISS comparison in docs/benchmarks.md timed 1,000).
    #[arg(long, alias = "queries", default_value_t = 1000)]
    pub limit: usize,
    /// efSearch values to measure (comma-separated), each against the same graph; the reported point is the
    /// fastest with recall@10 ≥ --target.
    #[arg(long, alias = "ef", value_delimiter = ',', default_value = "16,24,32,48,64,128")]
    pub ef_search: Vec<usize>,
    /// Recall@10 the reported operating point must reach.
    #[arg(long, default_value_t = 0.95)]
    pub target: f64,
}
