//! [`IndexLocation`]: where an index lives — a folder, or tables in a PostgreSQL database — and the one way
//! every command and the server open, build and extend it.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use atlas_progress::Progress;

use crate::{
    add_to_index, build_index_with_progress, check_embedding_id, AddReport, BuildPart, BuildReport,
    IndexError, IndexParams, OnDiskIndex, PaperMeta, PgIndex, PgParams, VectorIndex, VectorSpace,
};

/// Table-name prefix of a PostgreSQL index when none is given.
pub const DEFAULT_INDEX_NAME: &str = "atlas";

/// Where an index lives.
#[derive(Clone, PartialEq, Eq)]
pub enum IndexLocation {
    /// An index folder (exact or usearch backend).
    Folder(PathBuf),
    /// pgvector tables `<name>_papers` / `<name>_meta` in the database at `url`.
    Postgres {
        /// `postgres://…` or `postgresql://…` connection URL.
        url: String,
        /// Table-name prefix, so several indexes can share a database.
        name: String,
    },
}

impl IndexLocation {
    /// Reads what a user names as the index: a `postgres://` / `postgresql://` URL is a database (with tables
    /// prefixed `name`), anything else a folder.
    pub fn parse(index: &str, name: &str) -> Self {
        if index.starts_with("postgres://") || index.starts_with("postgresql://") {
            IndexLocation::Postgres { url: index.to_string(), name: name.to_string() }
        } else {
            IndexLocation::Folder(PathBuf::from(index))
        }
    }

    /// The backend a build uses when none is named: usearch for a folder, pgvector for a database.
    pub fn default_backend(&self) -> crate::IndexBackend {
        match self {
            IndexLocation::Folder(_) => crate::IndexBackend::Usearch,
            IndexLocation::Postgres { .. } => crate::IndexBackend::Postgres,
        }
    }

    /// Opens the index (checksums verified for a folder). `ef_search` overrides the HNSW search breadth stored
    /// with the index (usearch `expansion_search`, pgvector `hnsw.ef_search`).
    pub fn open(&self, ef_search: Option<usize>) -> Result<Box<dyn VectorIndex>, IndexError> {
        match self {
            IndexLocation::Folder(dir) => {
                let mut index = OnDiskIndex::open(dir)?;
                if let (Some(ef), OnDiskIndex::Usearch(u)) = (ef_search, &mut index) {
                    u.set_expansion_search(ef);
                }
                Ok(index.into_dyn())
            }
            IndexLocation::Postgres { url, name } => {
                let mut params = PgParams { prefix: name.clone(), ..PgParams::default() };
                if let Some(ef) = ef_search {
                    params.ef_search = ef;
                }
                Ok(Box::new(PgIndex::open(url, &params)?))
            }
        }
    }

    /// Builds an index of `papers` (row `i` of `vectors` belongs to `papers[i]`) here. A folder takes the
    /// exact and usearch backends (rebuilding replaces the folder's index atomically); a database takes
    /// pgvector (refused when the tables already hold an index).
    pub fn build(
        &self,
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: &IndexParams,
    ) -> Result<BuildReport, IndexError> {
        let part = Ok::<_, IndexError>((Cow::Borrowed(papers), Cow::Borrowed(vectors)));
        self.build_in_parts(space, std::iter::once(part), params, &Progress::hidden())
    }

    /// [`IndexLocation::build`] from rows that come in parts, e.g. the shards of `embed --shard I/N`, in order.
    /// A database takes them part by part into one load ([`PgIndex::build_in_parts`]: one part in memory at a
    /// time, one HNSW build at the end); a folder's index is built in memory, so its parts are joined first.
    /// `progress` counts the vectors put into a folder's graph (its total is set once the parts are joined);
    /// pgvector builds inside the database, where `COPY` and `CREATE INDEX` report nothing until done.
    pub fn build_in_parts<'a, E: From<IndexError>>(
        &self,
        space: &VectorSpace,
        parts: impl IntoIterator<Item = Result<BuildPart<'a>, E>>,
        params: &IndexParams,
        progress: &Progress,
    ) -> Result<BuildReport, E> {
        match (self, params) {
            (IndexLocation::Folder(dir), IndexParams::Exact(_) | IndexParams::Usearch(_)) => {
                let mut parts = parts.into_iter();
                let (mut papers, mut vectors) = match parts.next().transpose()? {
                    Some(first) => first,
                    None => (Cow::Borrowed(&[][..]), Cow::Borrowed(&[][..])),
                };
                for part in parts {
                    let (p, v) = part?;
                    papers.to_mut().extend_from_slice(&p);
                    vectors.to_mut().extend_from_slice(&v);
                }
                progress.set_total(papers.len() as u64);
                Ok(build_index_with_progress(space, &papers, &vectors, params, dir, progress)?)
            }
            (IndexLocation::Postgres { url, name }, IndexParams::Postgres(p)) => {
                params.validate()?;
                let p = PgParams { prefix: name.clone(), ..p.clone() };
                let t = Instant::now();
                let index = PgIndex::build_in_parts(url, space, parts, &p)?;
                let build_seconds = t.elapsed().as_secs_f64();
                let size = index.memory_bytes().unwrap_or(0);
                Ok(BuildReport {
                    info: index.info().clone(),
                    params: IndexParams::Postgres(p),
                    build_seconds,
                    // COPY and CREATE INDEX commit inside the database: there is no separate write step.
                    write_seconds: 0.0,
                    memory_bytes: size,
                    disk_bytes: size,
                })
            }
            (IndexLocation::Folder(dir), IndexParams::Postgres(_)) => Err(IndexError::Invalid(format!(
                "{}: the postgres backend builds into a database; name the index by its postgres:// URL",
                dir.display()
            ))
            .into()),
            (IndexLocation::Postgres { .. }, _) => Err(IndexError::Invalid(format!(
                "{self}: a database holds pgvector indexes only; the {} backend writes a folder",
                params.backend()
            ))
            .into()),
        }
    }

    /// Adds the papers not stored yet, after checking that they come from the index's vector space
    /// (`embedding_id`). A folder is re-sealed atomically; a database grows its HNSW index in place.
    pub fn add(
        &self,
        papers: &[PaperMeta],
        vectors: &[f32],
        embedding_id: &str,
    ) -> Result<AddReport, IndexError> {
        match self {
            IndexLocation::Folder(dir) => {
                let index = OnDiskIndex::open(dir)?;
                check_embedding_id(index.as_dyn().info(), embedding_id)?;
                drop(index);
                add_to_index(dir, papers, vectors)
            }
            IndexLocation::Postgres { url, name } => {
                let mut index =
                    PgIndex::open(url, &PgParams { prefix: name.clone(), ..PgParams::default() })?;
                check_embedding_id(index.info(), embedding_id)?;
                index.add(papers, vectors)
            }
        }
    }
}

/// Shows a folder as its path and a database as `URL (index NAME)`, with any password in the URL hidden.
impl fmt::Display for IndexLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IndexLocation::Folder(dir) => write!(f, "{}", dir.display()),
            IndexLocation::Postgres { url, name } => write!(f, "{} (index {name})", redact(url)),
        }
    }
}

impl fmt::Debug for IndexLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IndexLocation({self})")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// A pgvector index in temporary tables, dropped when this guard goes out of scope — on success, on error and
/// on panic — so a measurement that fails half-way leaves nothing behind in the database.
pub struct TempPgIndex {
    index: Option<PgIndex>,
    url: String,
    prefix: String,
}

impl TempPgIndex {
    /// Builds the index into tables of `params.prefix`, which must not hold an index yet (tables this guard
    /// did not create are never dropped). If the build itself fails, whatever it created is dropped before the
    /// error is returned.
    pub fn build(
        url: &str,
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: &PgParams,
    ) -> Result<Self, IndexError> {
        if PgIndex::open(url, params).is_ok() {
            return Err(IndexError::Invalid(format!(
                "tables `{}_*` already hold an index; a temporary index needs a prefix of its own",
                params.prefix
            )));
        }
        let mut guard = TempPgIndex { index: None, url: url.to_string(), prefix: params.prefix.clone() };
        guard.index = Some(PgIndex::build(url, space, papers, vectors, params)?);
        Ok(guard)
    }

    /// The index.
    pub fn index(&self) -> Option<&PgIndex> {
        self.index.as_ref()
    }

    /// The tables' prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Reopens the same tables with other search parameters (e.g. another `ef_search`).
    pub fn reopen(&self, params: &PgParams) -> Result<PgIndex, IndexError> {
        PgIndex::open(&self.url, &PgParams { prefix: self.prefix.clone(), ..params.clone() })
    }
}

impl Drop for TempPgIndex {
    fn drop(&mut self) {
        // Close our connections first so DROP TABLE does not wait for them.
        self.index = None;
        if let Err(e) = PgIndex::drop_tables(&self.url, &self.prefix) {
            tracing::warn!("could not drop the temporary pgvector tables `{}_*`: {e}", self.prefix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_a_database_anything_else_a_folder() {
        assert_eq!(
            IndexLocation::parse("postgres://u@h:1/db", "arxiv"),
            IndexLocation::Postgres { url: "postgres://u@h:1/db".into(), name: "arxiv".into() }
        );
        assert!(matches!(IndexLocation::parse("postgresql://h/db", "x"), IndexLocation::Postgres { .. }));
        assert_eq!(IndexLocation::parse("indexes/a", "x"), IndexLocation::Folder("indexes/a".into()));
        let shown = IndexLocation::parse("postgres://u:hunter2@h/db", "x").to_string();
        assert_eq!(shown, "postgres://u:***@h/db (index x)");
    }

    fn tables_exist(url: &str, prefix: &str) -> bool {
        PgIndex::open(url, &PgParams { prefix: prefix.into(), ..PgParams::default() }).is_ok()
    }

    /// `evaluate-retrieval` and `bench search` once left their temporary pgvector tables behind when a step
    /// between the build and the drop failed. The guard drops them on every path: a failed build half-way
    /// (pgvector refuses `CREATE INDEX` after the rows were copied in) and a failure after a good build.
    #[test]
    fn temporary_pgvector_tables_are_dropped_on_every_path() {
        let Some(url) = atlas_testkit::database_url("temporary_pgvector_tables_are_dropped_on_every_path")
        else {
            return;
        };
        let (papers, vectors) = crate::tests::corpus(200, 8, 3);
        let space = crate::tests::space(8);
        let prefix = format!("tmpguard_{}", std::process::id());
        // pgvector needs ef_construction >= 2 * m: the build fails in CREATE INDEX, after COPY.
        let bad = PgParams { prefix: prefix.clone(), m: 16, ef_construction: 8, ..PgParams::default() };
        let err = TempPgIndex::build(&url, &space, &papers, &vectors, &bad).err().expect("a failed build");
        assert!(err.to_string().contains("ef_construction"), "{err}");
        assert!(!tables_exist(&url, &prefix), "a half-built index was left behind");

        let good = PgParams { prefix: prefix.clone(), m: 4, ef_construction: 16, ..PgParams::default() };
        let later_step = || -> Result<usize, IndexError> {
            let temp = TempPgIndex::build(&url, &space, &papers, &vectors, &good)?;
            assert!(tables_exist(&url, temp.prefix()));
            Err(IndexError::Invalid("a later step failed".into()))
        };
        assert!(later_step().is_err());
        assert!(!tables_exist(&url, &prefix), "the tables outlived the failed measurement");

        // Tables it did not create are never dropped.
        let own = PgIndex::build(&url, &space, &papers, &vectors, &good).unwrap();
        drop(own);
        assert!(TempPgIndex::build(&url, &space, &papers, &vectors, &good).is_err());
        assert!(tables_exist(&url, &prefix), "someone else's index was dropped");
        PgIndex::drop_tables(&url, &prefix).unwrap();
    }
}
