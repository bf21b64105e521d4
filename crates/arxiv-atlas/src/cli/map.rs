//! Flags of `map`.

use std::path::PathBuf;

use atlas_map::ProjectionOptions;
use clap::Args;

/// `arxiv-atlas map`.
#[derive(Debug, Args)]
pub struct MapArgs {
    /// Embedding set folder written by `arxiv-atlas embed` (its vectors are projected).
    #[arg(long)]
    pub embeddings: PathBuf,
    /// The interactive page to write: one self-contained HTML file (no network needed to open it).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a still picture here (PNG).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Papers (any ingest format or dataset folder) to take titles and categories from; default: the
    /// embedding set's own input, as its manifest names it.
    #[arg(long)]
    pub papers: Option<PathBuf>,
    /// Category names (`taxonomy.tsv`) for the region labels and tooltips; default
    /// `../shared/data/taxonomy.tsv` when it exists (without one, categories show by code).
    #[arg(long)]
    pub taxonomy: Option<PathBuf>,
    /// Title of the page and picture (default: "arXiv map of <embedding set folder>").
    #[arg(long)]
    pub title: Option<String>,
    /// Regions to name on the map (k-means clusters of the picture, each named after its main category);
    /// 0 for none.
    #[arg(long, default_value_t = 24)]
    pub clusters: usize,
    /// Dimensions the PCA keeps before the neighbour search.
    #[arg(long, default_value_t = ProjectionOptions::default().pca_dims)]
    pub pca_dims: usize,
    /// Neighbours of each paper in the UMAP graph.
    #[arg(long, default_value_t = ProjectionOptions::default().neighbours)]
    pub neighbours: usize,
    /// UMAP min_dist: how tightly points may pack.
    #[arg(long, default_value_t = ProjectionOptions::default().min_dist)]
    pub min_dist: f32,
    /// UMAP epochs (default: 500 up to 10,000 papers, 200 above, as umap-learn).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Width of the PNG in pixels.
    #[arg(long, default_value_t = 1800, requires = "png")]
    pub png_width: u32,
    /// Height of the PNG in pixels.
    #[arg(long, default_value_t = 1200, requires = "png")]
    pub png_height: u32,
    /// Print the report (files, projection settings and timings) as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl MapArgs {
    /// The projection these flags ask for.
    pub fn projection(&self) -> ProjectionOptions {
        ProjectionOptions {
            pca_dims: self.pca_dims,
            neighbours: self.neighbours,
            min_dist: self.min_dist,
            epochs: self.epochs,
            progress: !self.json,
            ..ProjectionOptions::default()
        }
    }
}
