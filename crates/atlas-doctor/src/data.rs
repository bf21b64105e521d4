//! The data kit: the papers the default commands read, and the taxonomy that names their categories.

use std::path::Path;

use atlas_corpus::{Taxonomy, DEFAULT_TAXONOMY_PATH};

use crate::report::{Check, Status};
use crate::Machine;

/// The papers `quickstart` reads when no `--input` is given, which is also the default data group's input
/// (`conf/data/arxiv100k.yaml`), relative to the working directory.
pub const QUICKSTART_INPUT: &str = "../shared/data/arxiv-100k.jsonl.gz";

/// The 5k-paper subset `data=mini` reads.
pub const MINI_INPUT: &str = "../shared/data/arxiv-mini.jsonl.gz";

/// Where to get papers when the data kit is not there.
pub const KAGGLE_URL: &str = "https://www.kaggle.com/datasets/Cornell-University/arxiv";

/// `path (12 MB)`.
fn sized(path: &Path) -> String {
    let mb = std::fs::metadata(path).map(|md| md.len() as f64 / 1e6).unwrap_or(0.0);
    format!("{} ({mb:.0} MB)", path.display())
}

/// The `data-kit` check.
pub(crate) fn data_kit(m: &Machine) -> Check {
    let why =
        "quickstart reads it when no --input is given, and so does `train` with the default data group \
         (data=arxiv100k; data=mini reads arxiv-mini.jsonl.gz beside it)";
    let full = m.resolve(Path::new(QUICKSTART_INPUT));
    let mini = m.resolve(Path::new(MINI_INPUT));
    match (full.is_file(), mini.is_file()) {
        (true, true) => {
            Check::new("data-kit", Status::Ok, format!("{}; {}", sized(&full), sized(&mini)), why)
        }
        (true, false) => Check::new(
            "data-kit",
            Status::Warning,
            format!("{}; {} not found, so data=mini fails", sized(&full), mini.display()),
            why,
        )
        .fix("copy arxiv-mini.jsonl.gz from the data kit, or use data=arxiv100k / data.input=PATH"),
        (false, _) => Check::new(
            "data-kit",
            Status::Missing,
            format!("{QUICKSTART_INPUT} not found (from {})", m.cwd.display()),
            why,
        )
        .fix(format!(
            "download the Kaggle arXiv snapshot arxiv-metadata-oai-snapshot.json ({KAGGLE_URL}), then \
             `arxiv-atlas quickstart --input arxiv-metadata-oai-snapshot.json` (train: data.input=PATH); \
             docs/data.md lists the other sources \
             (Hugging Face parquet, CSV) and the ../shared layout"
        )),
    }
}

/// The `taxonomy` check.
pub(crate) fn taxonomy(m: &Machine) -> Check {
    let why =
        "names the categories; optional: without it every command still works and shows category codes \
         (cs.LG) where names (Machine Learning) would be";
    let path = m.resolve(Path::new(DEFAULT_TAXONOMY_PATH));
    if !path.is_file() {
        return Check::new(
            "taxonomy",
            // Since the shipped data groups say `taxonomy: null` (the kit's file when present), nothing stops
            // without it: a degraded default, not a missing one.
            Status::Warning,
            format!("{DEFAULT_TAXONOMY_PATH} not found (from {})", m.cwd.display()),
            why,
        )
        .fix(
            "it comes with the data kit (docs/data.md); or name one with data.taxonomy=PATH (ingest and serve: \
             --taxonomy PATH), or go on with category codes",
        );
    }
    match Taxonomy::load(&path) {
        Ok(t) => {
            Check::new("taxonomy", Status::Ok, format!("{}: {} category codes", path.display(), t.len()), why)
        }
        Err(e) => Check::new("taxonomy", Status::Missing, e.to_string(), why)
            .fix("replace it with the data kit's taxonomy.tsv (docs/data.md)"),
    }
}
