//! The arXiv category taxonomy (`taxonomy.tsv`): official names, archives, groups and the canonical code
//! arXiv folds retired or alias codes into.

use std::path::{Path, PathBuf};

use ahash::AHashMap;
use serde::{Deserialize, Serialize};

use crate::CorpusError;
use atlas_artifact::IoContext;

/// One category code of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// The code as arXiv records it (`cs.AI`, `alg-geom`).
    pub code: String,
    /// Official name (`Artificial Intelligence`).
    pub name: String,
    /// Archive the code belongs to (`cs`, `math`, `alg-geom`).
    pub archive: String,
    /// Group of archives (`Computer Science`, `Physics`).
    pub group: String,
    /// `false` for retired codes.
    pub active: bool,
    /// Where arXiv folds the code today (`alg-geom` → `math.AG`); the code itself when it is current.
    pub canonical: String,
}

/// The category taxonomy, loaded from a TSV with header `code name archive group active canonical`.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    source: PathBuf,
    categories: Vec<Category>,
    by_code: AHashMap<String, usize>,
}

const COLUMNS: [&str; 6] = ["code", "name", "archive", "group", "active", "canonical"];

impl Taxonomy {
    /// Reads and validates a taxonomy TSV file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CorpusError> {
        let path = path.as_ref();
        let text = match std::fs::read_to_string(path) {
            // The usual cause is a configuration naming the data kit's file on a machine without the kit: an
            // error that says what the file is and how to do without it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CorpusError::TaxonomyNotFound { path: path.to_path_buf() })
            }
            other => other.io_context("read taxonomy", path)?,
        };
        Self::parse(&text, path)
    }

    /// Parses taxonomy TSV text; `source` is only used in error messages and [`Taxonomy::source`].
    pub fn parse(text: &str, source: &Path) -> Result<Self, CorpusError> {
        let bad =
            |line: u64, what: String| CorpusError::BadTaxonomy { path: source.to_path_buf(), line, what };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i as u64 + 1, l.trim_end_matches('\r')));
        let (_, header) = lines.next().ok_or_else(|| bad(0, "empty file".into()))?;
        let header: Vec<&str> = header.split('\t').map(str::trim).collect();
        if header != COLUMNS {
            return Err(bad(1, format!("header is {header:?}, expected {COLUMNS:?} (tab-separated)")));
        }
        let mut categories = Vec::new();
        let mut by_code = AHashMap::new();
        for (no, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').map(str::trim).collect();
            if f.len() != COLUMNS.len() {
                return Err(bad(no, format!("{} fields, expected {}", f.len(), COLUMNS.len())));
            }
            if f[0].is_empty() {
                return Err(bad(no, "empty code".into()));
            }
            let active = match f[4] {
                "1" | "true" => true,
                "0" | "false" => false,
                other => return Err(bad(no, format!("`active` must be 0 or 1, found `{other}`"))),
            };
            let canonical = if f[5].is_empty() { f[0] } else { f[5] };
            if by_code.insert(f[0].to_string(), categories.len()).is_some() {
                return Err(bad(no, format!("code `{}` listed twice", f[0])));
            }
            categories.push(Category {
                code: f[0].to_string(),
                name: f[1].to_string(),
                archive: f[2].to_string(),
                group: f[3].to_string(),
                active,
                canonical: canonical.to_string(),
            });
        }
        Ok(Taxonomy { source: source.to_path_buf(), categories, by_code })
    }

    /// The file the taxonomy was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The full entry of a code.
    pub fn get(&self, code: &str) -> Option<&Category> {
        self.by_code.get(code).map(|&i| &self.categories[i])
    }

    /// Official name of a code.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.get(code).map(|c| c.name.as_str())
    }

    /// The code arXiv uses for `code` today (itself when current).
    pub fn canonical(&self, code: &str) -> Option<&str> {
        self.get(code).map(|c| c.canonical.as_str())
    }

    /// Whether the taxonomy knows `code`.
    pub fn contains(&self, code: &str) -> bool {
        self.by_code.contains_key(code)
    }

    /// Number of codes.
    pub fn len(&self) -> usize {
        self.categories.len()
    }

    /// `true` when the file listed no code.
    pub fn is_empty(&self) -> bool {
        self.categories.is_empty()
    }

    /// All entries in file order.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }
}

/// Where this repository's data kit keeps the taxonomy (`../shared/data/taxonomy.tsv`, relative to the working
/// directory); used when no taxonomy is configured.
pub const DEFAULT_TAXONOMY_PATH: &str = "../shared/data/taxonomy.tsv";

/// The configured taxonomy file, or [`DEFAULT_TAXONOMY_PATH`] when that file exists (names are optional:
/// without a taxonomy, categories are shown by code).
pub fn taxonomy_path(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_TAXONOMY_PATH)).filter(|p| p.is_file()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "code\tname\tarchive\tgroup\tactive\tcanonical\n\
        alg-geom\tAlgebraic Geometry\talg-geom\tMathematics\t0\tmath.AG\n\
        cs.AI\tArtificial Intelligence\tcs\tComputer Science\t1\tcs.AI\n";

    #[test]
    fn a_missing_taxonomy_names_the_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let err = Taxonomy::load(dir.path().join("taxonomy.tsv")).unwrap_err().to_string();
        for want in ["taxonomy.tsv: not found", "docs/data.md", "--taxonomy PATH", "data.taxonomy=null"] {
            assert!(err.contains(want), "{want:?} not in: {err}");
        }
    }

    #[test]
    fn parses_names_and_canonical_codes() {
        let t = Taxonomy::parse(SAMPLE, Path::new("t.tsv")).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.name("cs.AI"), Some("Artificial Intelligence"));
        assert_eq!(t.canonical("alg-geom"), Some("math.AG"));
        assert!(!t.get("alg-geom").unwrap().active);
        assert!(t.contains("cs.AI") && !t.contains("cs.XX"));
        assert_eq!(t.name("cs.XX"), None);
    }

    #[test]
    fn rejects_malformed_files_with_line_numbers() {
        let err = Taxonomy::parse("code\tname\n", Path::new("t.tsv")).unwrap_err().to_string();
        assert!(err.contains("t.tsv:1") && err.contains("header"), "{err}");
        let dup = format!("{SAMPLE}cs.AI\tX\tcs\tCS\t1\tcs.AI\n");
        let err = Taxonomy::parse(&dup, Path::new("t.tsv")).unwrap_err().to_string();
        assert!(err.contains("t.tsv:4") && err.contains("twice"), "{err}");
        let bad = format!("{SAMPLE}cs.XX\tX\tcs\tCS\tyes\tcs.XX\n");
        let err = Taxonomy::parse(&bad, Path::new("t.tsv")).unwrap_err().to_string();
        assert!(err.contains("t.tsv:4") && err.contains("active"), "{err}");
    }

    #[test]
    fn loads_the_kit_taxonomy() {
        let Some(path) = atlas_testkit::shared_file("loads_the_kit_taxonomy", "data/taxonomy.tsv") else {
            return;
        };
        let t = Taxonomy::load(&path).unwrap();
        assert_eq!(t.len(), 176);
        assert_eq!(t.canonical("stat.TH"), Some("math.ST"));
        assert_eq!(t.canonical("astro-ph"), Some("astro-ph"));
        assert_eq!(t.name("cs.CL"), Some("Computation and Language"));
    }
}
