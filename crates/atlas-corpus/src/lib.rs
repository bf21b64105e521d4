//! The data layer of arxiv-atlas: paper records, input readers, normalisation, the split rule, the
//! category taxonomy and the processed Parquet dataset store.
//!
//! # Inputs
//!
//! [`read_papers`] / [`load_papers`] read any supported input ([`InputFormat`]):
//!
//! * Kaggle `arxiv-metadata-oai-snapshot` JSON lines, plain or gzip (detected by magic bytes), read by a
//!   streaming pipeline in bounded memory: one thread decompresses and cuts the stream into blocks of whole
//!   lines, rayon parses the lines of a block in parallel, results come back in file order;
//! * the Hugging Face `arxiv-papers` Parquet layout;
//! * CSV with `title`, `abstract` and `categories` columns;
//! * the formats arXiv publishes new papers in: the arXiv API's Atom feed and OAI-PMH `arXiv`/`arXivRaw`
//!   responses (XML, one response per file);
//! * a processed dataset folder written by [`ingest`].
//!
//! No record is ever dropped silently: every skipped record is counted in a [`ReadReport`] by
//! [`SkipReason`], with the first line (or row) numbers where it happened.
//!
//! # Processed dataset
//!
//! [`ingest`] normalises the inputs, removes duplicate ids, assigns each paper to its split with the fixed
//! rule of [`split_of`] and writes `train.parquet`, `validation.parquet`, `test.parquet`,
//! `ingest-report.json` and a checksummed `manifest.json` ([`Dataset`] opens and verifies it).
//!
//! # Paper text
//!
//! [`TextTemplate`] turns a paper into the one string a classifier or an encoder reads (e.g.
//! `{title} [SEP] {abstract}`); it is the only renderer of paper text in arxiv-atlas, and refuses a template
//! that names an unknown field when it is parsed.

#![warn(missing_docs)]

mod append;
mod columns;
mod csv_input;
mod dataset;
mod date;
mod error;
mod feeds;
mod fingerprint;
mod format;
mod hf_parquet;
mod ingest;
mod jsonl;
mod normalize;
mod paper;
mod rawfile;
mod read;
mod report;
mod split;
mod taxonomy;
mod template;

pub use append::{append, AppendReport};
pub use dataset::{
    split_file, CategoryCount, Dataset, SplitCounts, DATASET_FORMAT_VERSION, DATASET_KIND, INGEST_REPORT_FILE,
};
pub use error::CorpusError;
pub use fingerprint::fingerprint_files;
pub use format::{detect_format, InputFormat};
pub use ingest::{ingest, IngestOptions, IngestReport, InputSummary};
pub use normalize::normalize_text;
pub use paper::{Paper, DEFAULT_TEMPLATE};
pub use read::{load_papers, read_papers, ReadOptions};
pub use report::{ReadReport, SkipCount, SkipReason, FIRST_LINES_KEPT};
pub use split::{split_bucket, split_of, ParseSplitError, Split};
pub use taxonomy::{taxonomy_path, Category, Taxonomy, DEFAULT_TAXONOMY_PATH};
pub use template::{TemplateError, TextTemplate};
