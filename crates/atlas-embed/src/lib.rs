//! Embedding papers at scale: the `embed` command's engine and the embedding cache.
//!
//! - [`cache`]: vectors keyed by (vector space, text hash) in SQLite, so nothing is embedded twice;
//! - [`job`]: chunked, resumable embedding of a whole input into an embedding set;
//! - [`set`]: the embedding-set folder format (safetensors matrix + ids + checksummed manifest);
//! - [`shard`]: `embed --shard I/N` (the shard rule) and merging shard sets back into one.

#![warn(missing_docs)]

pub mod cache;
pub mod job;
pub mod set;
pub mod shard;

use std::path::PathBuf;

pub use cache::{default_cache_dir, text_key, EmbeddingCache};
pub use job::{embed_file, embed_texts_cached, paper_text, EmbedCounts, EmbedFileOptions, EmbedFileReport};
pub use set::{write_set, EmbeddingSet, SetMeta};
pub use shard::{merge_sets, plan_sets, MergeReport, Shard, ShardError, ShardMeta};

/// Errors of embedding runs, sets and the cache.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// File-system error.
    #[error(transparent)]
    Io(#[from] atlas_artifact::IoError),
    /// The encoder failed.
    #[error(transparent)]
    Encoder(#[from] atlas_encoder::EncoderError),
    /// Reading the input failed.
    #[error(transparent)]
    Corpus(#[from] atlas_corpus::CorpusError),
    /// Writing or verifying an artifact failed.
    #[error(transparent)]
    Artifact(#[from] atlas_artifact::ArtifactError),
    /// The embedding cache failed.
    #[error("embedding cache {path}: {message}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An embedding set (or its resume state) is malformed.
    #[error("{path}: {message}")]
    BadSet {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A malformed shard.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The output folder belongs to another run.
    #[error("{0}")]
    Conflict(String),
}
