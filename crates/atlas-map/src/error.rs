//! The error type of this crate.

use std::path::PathBuf;

use atlas_artifact::ArtifactError;

/// Everything that can go wrong while projecting, labelling or drawing a map.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Too few points for a map: the neighbour graph needs more papers than neighbours.
    #[error("a map needs at least {needed} papers, the embedding set has {found}")]
    TooFewPoints {
        /// The smallest number of papers that works with these options.
        needed: usize,
        /// The number given.
        found: usize,
    },
    /// The inputs disagree on a length.
    #[error("{what}: {message}")]
    Shape {
        /// The input with the wrong length.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An option is out of its range.
    #[error("invalid map option: {0}")]
    Options(String),
    /// The vectors contain NaN or infinite values.
    #[error("row {row} of the vectors is not finite")]
    NotFinite {
        /// The first bad row.
        row: usize,
    },
    /// An embedded paper is missing from the papers file, so it has no title or category.
    #[error("paper {id} of the embedding set is not in {}: the vectors and the papers disagree", papers.display())]
    MissingPaper {
        /// The paper id.
        id: String,
        /// The papers file read.
        papers: PathBuf,
    },
    /// The neighbour graph (usearch) failed.
    #[error("neighbour graph: {0}")]
    Neighbours(String),
    /// Drawing the PNG failed.
    #[error("drawing the map: {0}")]
    Plot(String),
    /// Reading the papers failed.
    #[error(transparent)]
    Corpus(#[from] atlas_corpus::CorpusError),
    /// Writing a file failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Serialising the points for the page failed.
    #[error("encoding the map data: {0}")]
    Json(#[from] serde_json::Error),
}
