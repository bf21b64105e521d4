//! The 2-D map of arXiv: every paper of an embedding set as a point, coloured by archive, with the dense
//! regions named after their main category.
//!
//! * [`project`]: sentence vectors → 2-D (PCA, a neighbour graph, UMAP; see [`project`](mod@project)).
//! * [`cluster_labels`]: k-means regions of the picture named by their most common category.
//! * [`MapData`]: the papers, their points, the archives' colours and the labels, as [`build_map`] makes them.
//! * [`render_html`]: a self-contained interactive page (canvas, no network) with hover, click-through to
//!   arxiv.org and an archive filter; [`render_png`]: a still picture.
//!
//! `arxiv-atlas map` is the command; `docs/map.md` explains the choices and the measured times.

#![warn(missing_docs)]

mod error;
mod html;
mod labels;
mod png;
pub mod project;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use atlas_corpus::Taxonomy;

pub use error::MapError;
pub use html::render_html;
pub use labels::{cluster_labels, ClusterLabel};
pub use png::render_png;
pub use project::{project, Projection, ProjectionOptions, ProjectionReport};

/// What the map shows of one paper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPaper {
    /// arXiv id (`2101.00001`, `hep-th/9901001`).
    pub id: String,
    /// Title.
    pub title: String,
    /// Primary category (`cs.LG`).
    pub category: String,
}

/// An archive (`cs`, `math`, `hep-th`) and how it is drawn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Archive {
    /// The archive code.
    pub code: String,
    /// The taxonomy's group of the archive (`Computer Science`, `Physics`), or the code without a taxonomy.
    pub group: String,
    /// Colour as `#rrggbb`.
    pub colour: String,
    /// Papers of the map in it.
    pub papers: usize,
}

/// Everything a picture of the map needs.
#[derive(Debug, Clone, Serialize)]
pub struct MapData {
    /// A title for the picture (e.g. the embedding set's name).
    pub title: String,
    /// The papers, in the order of `xy`.
    pub papers: Vec<MapPaper>,
    /// Point of each paper.
    pub xy: Vec<[f32; 2]>,
    /// Index into `archives` of each paper.
    pub archive_of: Vec<u16>,
    /// Archives, most papers first (the largest get the most distinct colours).
    pub archives: Vec<Archive>,
    /// Region labels, largest first.
    pub labels: Vec<ClusterLabel>,
    /// Taxonomy name of each category code on the map (empty without a taxonomy).
    pub category_names: HashMap<String, String>,
}

/// Options of [`build_map`].
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// The projection.
    pub projection: ProjectionOptions,
    /// Regions to name (k of the k-means); 0 for no labels.
    pub clusters: usize,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self { projection: ProjectionOptions::default(), clusters: 24 }
    }
}

/// Projects `vectors` (row `i` is `papers[i]`, `dim` wide), names the regions and colours the archives.
pub fn build_map(
    title: &str,
    papers: Vec<MapPaper>,
    vectors: &[f32],
    dim: usize,
    taxonomy: Option<&Taxonomy>,
    opts: &MapOptions,
) -> Result<(MapData, ProjectionReport), MapError> {
    if dim == 0 || vectors.len() != papers.len() * dim {
        return Err(MapError::Shape {
            what: "vectors",
            message: format!("{} floats for {} papers of width {dim}", vectors.len(), papers.len()),
        });
    }
    let projection = project(vectors, dim, &opts.projection)?;
    let categories: Vec<&str> = papers.iter().map(|p| p.category.as_str()).collect();
    let labels = cluster_labels(&projection.xy, &categories, taxonomy, opts.clusters);
    let (archives, archive_of) = archives_of(&papers, taxonomy);
    let category_names = match taxonomy {
        Some(t) => categories.iter().filter_map(|&c| Some((c.to_string(), t.name(c)?.to_string()))).collect(),
        None => HashMap::new(),
    };
    let map = MapData {
        title: title.to_string(),
        papers,
        xy: projection.xy,
        archive_of,
        archives,
        labels,
        category_names,
    };
    Ok((map, projection.report))
}

/// The archive of a category: the taxonomy's (which also folds retired codes such as `alg-geom` into
/// today's archive), else the part before the dot.
pub fn archive_of(category: &str, taxonomy: Option<&Taxonomy>) -> String {
    let known = taxonomy.and_then(|t| {
        let canonical = t.canonical(category).unwrap_or(category);
        t.get(canonical).map(|c| c.archive.clone())
    });
    known.unwrap_or_else(|| category.split('.').next().unwrap_or(category).to_string())
}

/// Colours for the archives, largest first: distinct hues (Tableau 20 order, strong colours before their
/// light partners), then grey for any archive past the twentieth.
const PALETTE: [&str; 20] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5",
    "#dbdb8d", "#393b79",
];

fn archives_of(papers: &[MapPaper], taxonomy: Option<&Taxonomy>) -> (Vec<Archive>, Vec<u16>) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let codes: Vec<String> = papers.iter().map(|p| archive_of(&p.category, taxonomy)).collect();
    for c in &codes {
        *counts.entry(c.clone()).or_default() += 1;
    }
    let mut order: Vec<(String, usize)> = counts.into_iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let group_of = |code: &str| {
        taxonomy
            .and_then(|t| t.categories().iter().find(|c| c.archive == code).map(|c| c.group.clone()))
            .unwrap_or_else(|| code.to_string())
    };
    let archives: Vec<Archive> = order
        .iter()
        .enumerate()
        .map(|(i, (code, n))| Archive {
            code: code.clone(),
            group: group_of(code),
            colour: PALETTE.get(i).copied().unwrap_or("#b0b0b0").to_string(),
            papers: *n,
        })
        .collect();
    let index: HashMap<&str, u16> = archives
        .iter()
        .enumerate()
        .map(|(i, a)| (a.code.as_str(), i.min(u16::MAX as usize) as u16))
        .collect();
    let archive_of = codes.iter().map(|c| index.get(c.as_str()).copied().unwrap_or(0)).collect();
    (archives, archive_of)
}

/// The map's papers for the rows `ids` of an embedding set, from a papers file (any ingest format or an
/// ingested dataset folder). A row whose paper is not in the file is an error: the vectors and the papers
/// disagree.
pub fn read_papers(ids: &[String], papers_file: &Path) -> Result<Vec<MapPaper>, MapError> {
    let wanted: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let mut found: Vec<Option<MapPaper>> = vec![None; ids.len()];
    atlas_corpus::read_papers(papers_file, &atlas_corpus::ReadOptions::default(), |p| {
        if let Some(&i) = wanted.get(p.id.as_str()) {
            found[i] = Some(MapPaper {
                id: p.id.clone(),
                title: p.title.clone(),
                category: p.primary().to_string(),
            });
        }
    })?;
    found
        .into_iter()
        .zip(ids)
        .map(|(p, id)| {
            p.ok_or_else(|| MapError::MissingPaper { id: id.clone(), papers: papers_file.to_path_buf() })
        })
        .collect()
}

/// Writes the interactive page to `path` atomically (temporary file, then rename).
pub fn write_html(path: &Path, map: &MapData) -> Result<(), MapError> {
    let html = render_html(map)?;
    atlas_artifact::write_atomic(path, html.as_bytes())?;
    Ok(())
}

/// Writes the PNG picture (`width × height` pixels) to `path` atomically.
pub fn write_png(path: &Path, map: &MapData, width: u32, height: u32) -> Result<(), MapError> {
    let png = render_png(map, width, height)?;
    atlas_artifact::write_atomic(path, &png)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A small map with two archives and a label, for the rendering tests.
    pub fn small_map() -> MapData {
        let papers = vec![
            MapPaper {
                id: "2101.00001".into(),
                title: "Deep nets <b>&</b> \"quotes\"".into(),
                category: "cs.LG".into(),
            },
            MapPaper {
                id: "hep-th/9901001".into(),
                title: "Strings </script> at large".into(),
                category: "hep-th".into(),
            },
            MapPaper { id: "2101.00003".into(), title: "More learning".into(), category: "cs.LG".into() },
        ];
        let (archives, archive_of) = archives_of(&papers, None);
        MapData {
            title: "test map".into(),
            papers,
            xy: vec![[0.0, 0.0], [10.0, 5.0], [0.5, 0.2]],
            archive_of,
            archives,
            labels: vec![ClusterLabel {
                x: 0.0,
                y: 0.0,
                category: "cs.LG".into(),
                name: "Machine Learning".into(),
                papers: 2,
                share: 1.0,
            }],
            category_names: HashMap::from([("cs.LG".to_string(), "Machine Learning".to_string())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_ordered_by_size_and_coloured_in_that_order() {
        let map = fixtures::small_map();
        assert_eq!(map.archives[0].code, "cs");
        assert_eq!(map.archives[0].papers, 2);
        assert_eq!(map.archives[0].colour, PALETTE[0]);
        assert_eq!(map.archives[1].code, "hep-th");
        assert_eq!(map.archive_of, vec![0, 1, 0]);
    }

    #[test]
    fn retired_codes_fold_into_todays_archive() {
        let tax = Taxonomy::parse(
            "code\tname\tarchive\tgroup\tactive\tcanonical\n\
             alg-geom\tAlgebraic Geometry\talg-geom\tMathematics\t0\tmath.AG\n\
             math.AG\tAlgebraic Geometry\tmath\tMathematics\t1\tmath.AG\n",
            Path::new("t.tsv"),
        )
        .unwrap();
        assert_eq!(archive_of("alg-geom", Some(&tax)), "math");
        assert_eq!(archive_of("astro-ph.CO", None), "astro-ph");
    }

    #[test]
    fn build_map_checks_the_shapes() {
        let papers = fixtures::small_map().papers;
        let err = build_map("t", papers, &[0.0; 5], 2, None, &MapOptions::default()).unwrap_err();
        assert!(matches!(err, MapError::Shape { .. }), "{err}");
    }
}
