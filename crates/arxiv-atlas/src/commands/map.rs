//! `map`: the 2-D map of an embedding set; the work is in `atlas-map`.

use anyhow::{Context, Result};
use atlas_corpus::Taxonomy;
use atlas_embed::EmbeddingSet;
use atlas_map::MapOptions;

use crate::cli::MapArgs;
use crate::output;

pub fn map(a: MapArgs) -> Result<()> {
    let set = EmbeddingSet::open(&a.embeddings)
        .with_context(|| format!("opening the embedding set {}", a.embeddings.display()))?;
    let papers_file = a.papers.as_deref().unwrap_or(&set.meta.input);
    let papers = atlas_map::read_papers(&set.ids, papers_file)
        .with_context(|| format!("reading titles and categories from {}", papers_file.display()))?;
    let taxonomy = atlas_corpus::taxonomy_path(a.taxonomy.as_deref()).map(Taxonomy::load).transpose()?;
    let title = a.title.clone().unwrap_or_else(|| {
        let name = a.embeddings.file_name().unwrap_or(a.embeddings.as_os_str());
        format!("arXiv map of {}", name.to_string_lossy())
    });
    let opts = MapOptions { projection: a.projection(), clusters: a.clusters };
    let (map, report) =
        atlas_map::build_map(&title, papers, &set.vectors, set.meta.dim, taxonomy.as_ref(), &opts)?;
    atlas_map::write_html(&a.out, &map)?;
    if let Some(png) = &a.png {
        atlas_map::write_png(png, &map, a.png_width, a.png_height)?;
    }
    output::print_map(&map, &report, &a.out, a.png.as_deref(), a.json)
}
