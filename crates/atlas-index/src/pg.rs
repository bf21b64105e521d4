//! PostgreSQL + pgvector behind the same [`VectorIndex`] trait.
//!
//! ```text
//! atlas_migrations      (prefix, version, applied_at)     which migrations ran, per table prefix
//! <prefix>_meta         (key, value)                      `info` = IndexInfo JSON, `params` = PgParams JSON
//! <prefix>_papers       (id PK, title, categories text[], year smallint, authors text[], embedding vector(dim))
//!                       + HNSW index (vector_cosine_ops, m, ef_construction), GIN on categories, btree on year
//! ```
//!
//! * The schema is made by numbered migrations that the code runs ([`MIGRATIONS`]) under an advisory lock, so
//!   concurrent openers do not race; the HNSW index is the last migration, run after the bulk load (building
//!   the graph once over all rows is much faster than growing it row by row).
//! * Bulk loads use binary `COPY` (no text formatting of 384 floats per row).
//! * Searches run with `hnsw.ef_search` and `hnsw.iterative_scan = relaxed_order` (pgvector 0.8), set once per
//!   pooled connection: with a filter, pgvector keeps walking the graph until `k` rows pass it. Relaxed order
//!   can return rows slightly out of order, so hits are re-sorted here. If a very selective filter still ends
//!   the scan short (`hnsw.max_scan_tuples`), the matching rows are counted and, when more exist, the query
//!   is re-run without index scans (exact), so a search never silently returns fewer than `min(k, #matching)`.
//! * The driver is the synchronous `postgres` crate; the server calls it from `spawn_blocking`. A small pool
//!   (idle connections in a mutex, a semaphore capping open ones at `pool_size`) lets searches run
//!   concurrently.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use pgvector::Vector;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use crate::hnsw::Slots;
use crate::params::PgParams;
use crate::rows::{check_rows, check_unique, info_for, normalized_rows, prepare_query, split_new, NewRows};
use crate::table::PaperTable;
use crate::{AddReport, Filter, Hit, IndexError, IndexInfo, PaperMeta, VectorIndex, VectorSpace};

/// Backend name of [`PgIndex`].
pub const BACKEND: &str = "postgres";

/// The schema, in order. `{p}` is the table prefix, `{dim}`, `{m}`, `{efc}` come from the build.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, "CREATE EXTENSION IF NOT EXISTS vector"),
    (2, "CREATE TABLE {p}_meta (key text PRIMARY KEY, value text NOT NULL)"),
    (
        3,
        "CREATE TABLE {p}_papers (id text PRIMARY KEY, title text NOT NULL, categories text[] NOT NULL, \
         year smallint, authors text[] NOT NULL, embedding vector({dim}) NOT NULL); \
         CREATE INDEX {p}_papers_categories ON {p}_papers USING gin (categories); \
         CREATE INDEX {p}_papers_year ON {p}_papers (year)",
    ),
    (
        4,
        "CREATE INDEX {p}_papers_embedding ON {p}_papers USING hnsw (embedding vector_cosine_ops) \
         WITH (m = {m}, ef_construction = {efc})",
    ),
];

fn pg_err(op: impl Into<String>) -> impl FnOnce(postgres::Error) -> IndexError {
    move |source| IndexError::Postgres { op: op.into(), source }
}

/// A connection that keeps the server's NOTICEs (`… already exists, skipping` from idempotent migrations, one per
/// open) out of the log; warnings and errors still come through.
fn connect(url: &str) -> Result<Client, IndexError> {
    let mut c = Client::connect(url, NoTls).map_err(pg_err("connect"))?;
    c.batch_execute("SET client_min_messages = warning").map_err(pg_err("configure session"))?;
    Ok(c)
}

/// `maintenance_work_mem` in MB that holds the HNSW graph of `n` vectors while `CREATE INDEX` builds it:
/// pgvector builds in memory while the graph fits and falls back to a much slower on-disk insert after
/// (measured at 90k × 384 with the server default of 64 MB: it overflowed after 28,360 rows).
fn build_memory_mb(n: usize, dim: usize, m: usize) -> usize {
    // A vector (4 bytes a dimension), 2m neighbour slots of 8 bytes on level 0, ~100 bytes of element header.
    let bytes = n as f64 * (dim as f64 * 4.0 + m as f64 * 16.0 + 100.0) * 1.25;
    ((bytes / 1e6) as usize).max(64)
}

fn check_prefix(prefix: &str) -> Result<(), IndexError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(IndexError::Invalid(format!(
            "table prefix `{prefix}`: use 1-40 lowercase letters, digits and `_`, not starting with a digit"
        )))
    }
}

/// Runs the migrations of `prefix` not yet applied, up to `upto`, in one transaction under an advisory lock.
fn migrate(client: &mut Client, prefix: &str, upto: i32, vars: &[(&str, String)]) -> Result<(), IndexError> {
    let mut tx = client.transaction().map_err(pg_err("begin migration"))?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('arxiv-atlas migrations')); \
         CREATE TABLE IF NOT EXISTS atlas_migrations (prefix text NOT NULL, version int NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (prefix, version))",
    )
    .map_err(pg_err("create atlas_migrations"))?;
    let done: HashSet<i32> = tx
        .query("SELECT version FROM atlas_migrations WHERE prefix = $1", &[&prefix])
        .map_err(pg_err("read atlas_migrations"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= upto && !done.contains(v)) {
        let mut sql = sql.replace("{p}", prefix);
        for (k, v) in vars {
            sql = sql.replace(&format!("{{{k}}}"), v);
        }
        if sql.contains('{') {
            return Err(IndexError::Invalid(format!(
                "migration {version} of `{prefix}` needs build parameters (the index does not exist yet?)"
            )));
        }
        tx.batch_execute(&sql).map_err(pg_err(format!("migration {version} of `{prefix}`")))?;
        tx.execute("INSERT INTO atlas_migrations (prefix, version) VALUES ($1, $2)", &[&prefix, version])
            .map_err(pg_err("record migration"))?;
    }
    tx.commit().map_err(pg_err("commit migration"))
}

/// Idle connections plus a cap on open ones.
struct Pool {
    url: String,
    session_sql: String,
    idle: Mutex<Vec<Client>>,
    slots: Slots,
}

impl Pool {
    fn connect(&self) -> Result<Client, IndexError> {
        let mut c = connect(&self.url)?;
        c.batch_execute(&self.session_sql).map_err(pg_err("configure session"))?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection; broken connections are dropped instead of returned.
    fn with<R>(&self, f: impl FnOnce(&mut Client) -> Result<R, IndexError>) -> Result<R, IndexError> {
        self.slots.run(|| {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let mut client = match idle {
                Some(c) => c,
                None => self.connect()?,
            };
            let r = f(&mut client);
            if !client.is_closed() {
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(client);
            }
            r
        })
    }
}

/// One part of a build in parts: papers, and their rows (row `i` belongs to paper `i`), owned or borrowed.
pub type BuildPart<'a> = (Cow<'a, [PaperMeta]>, Cow<'a, [f32]>);

/// An index stored in PostgreSQL tables (see the module docs).
pub struct PgIndex {
    info: IndexInfo,
    params: PgParams,
    pool: Pool,
    relation_bytes: u64,
}

impl std::fmt::Debug for PgIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgIndex").field("info", &self.info).field("params", &self.params).finish()
    }
}

fn papers_sql(prefix: &str) -> String {
    format!("{prefix}_papers")
}

/// Writes rows with binary COPY inside `client`'s current transaction or session.
fn copy_rows(
    client: &mut postgres::Transaction<'_>,
    prefix: &str,
    papers: &[PaperMeta],
    unit_vectors: &[f32],
    dim: usize,
) -> Result<u64, IndexError> {
    // pgvector's type has a per-database OID; ask the server for it.
    let vector_type =
        client.prepare("SELECT NULL::vector").map_err(pg_err("look up the vector type"))?.columns()[0]
            .type_()
            .clone();
    let sink = client
        .copy_in(&format!(
            "COPY {} (id, title, categories, year, authors, embedding) FROM STDIN (FORMAT BINARY)",
            papers_sql(prefix)
        ))
        .map_err(pg_err("start COPY"))?;
    let types = [Type::TEXT, Type::TEXT, Type::TEXT_ARRAY, Type::INT2, Type::TEXT_ARRAY, vector_type];
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for (p, v) in papers.iter().zip(unit_vectors.chunks_exact(dim)) {
        let year: Option<i16> = p.year.and_then(|y| i16::try_from(y).ok());
        let emb = Vector::from(v.to_vec());
        w.write(&[&p.id, &p.title, &p.categories, &year, &p.authors, &emb]).map_err(pg_err("COPY row"))?;
    }
    w.finish().map_err(pg_err("finish COPY"))
}

impl PgIndex {
    /// Creates the tables of `params.prefix` in the database at `url`, bulk-loads `papers` (row `i` of
    /// `vectors` belongs to `papers[i]`) with binary COPY, builds the HNSW index and opens it. Refuses a prefix
    /// that already holds an index (add to it with [`PgIndex::add`], or [`PgIndex::drop_tables`] first).
    pub fn build(
        url: &str,
        space: &VectorSpace,
        papers: &[PaperMeta],
        vectors: &[f32],
        params: &PgParams,
    ) -> Result<Self, IndexError> {
        let part = Ok::<_, IndexError>((Cow::Borrowed(papers), Cow::Borrowed(vectors)));
        Self::build_in_parts(url, space, std::iter::once(part), params)
    }

    /// [`PgIndex::build`] from rows that arrive in parts (the shards of a sharded embedding run): each part is
    /// COPYed into the table as it comes, so only one part is in memory at a time; all parts load in one
    /// transaction (a failing part leaves no half-built index behind), and the HNSW graph is built once over
    /// all rows at the end (the same statement as a one-part build, far faster than growing it row by row).
    /// An id in two parts fails the load (the table's primary key).
    pub fn build_in_parts<'a, E: From<IndexError>>(
        url: &str,
        space: &VectorSpace,
        parts: impl IntoIterator<Item = Result<BuildPart<'a>, E>>,
        params: &PgParams,
    ) -> Result<Self, E> {
        check_prefix(&params.prefix)?;
        let mut client = connect(url)?;
        let p = &params.prefix;
        let vars = [
            ("dim", space.dim.to_string()),
            ("m", params.m.to_string()),
            ("efc", params.ef_construction.to_string()),
        ];
        migrate(&mut client, p, 3, &vars)?;
        let mut tx = client.transaction().map_err(pg_err("begin load"))?;
        let existing = tx
            .query_opt(&format!("SELECT value FROM {p}_meta WHERE key = 'info'"), &[])
            .map_err(pg_err("read index meta"))?;
        if existing.is_some() {
            return Err(IndexError::Invalid(format!(
                "tables `{p}_*` already hold an index; add to it, or drop it first (PgIndex::drop_tables)"
            ))
            .into());
        }
        let mut count = 0usize;
        for part in parts {
            let (papers, vectors) = part?;
            check_rows(space.dim, &papers, &vectors)?;
            check_unique(&papers)?;
            copy_rows(&mut tx, p, &papers, &normalized_rows(space.dim, &vectors), space.dim)?;
            count += papers.len();
        }
        let info = info_for(space, BACKEND, count);
        write_meta(&mut tx, p, &info, params)?;
        tx.commit().map_err(pg_err("commit load"))?;
        let mb = build_memory_mb(count, space.dim, params.m);
        client
            .batch_execute(&format!("SET maintenance_work_mem = '{mb}MB'"))
            .map_err(pg_err("raise maintenance_work_mem for the HNSW build"))?;
        migrate(&mut client, p, 4, &vars)?;
        client.batch_execute(&format!("ANALYZE {p}_papers")).map_err(pg_err("analyze"))?;
        Ok(Self::open(url, params)?)
    }

    /// Opens the index of `params.prefix` (`ef_search` and `pool_size` are taken from `params`; the rest from
    /// the stored meta). Runs any migration this build knows and the database lacks.
    pub fn open(url: &str, params: &PgParams) -> Result<Self, IndexError> {
        check_prefix(&params.prefix)?;
        let p = &params.prefix;
        let mut client = connect(url)?;
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&format!("{p}_meta")])
            .map_err(pg_err("look for the index"))?
            .get(0);
        if !exists {
            return Err(IndexError::Invalid(format!(
                "no arxiv-atlas index with table prefix `{p}` in this database"
            )));
        }
        migrate(&mut client, p, i32::MAX, &[])?;
        let meta: HashMap<String, String> = client
            .query(&format!("SELECT key, value FROM {p}_meta"), &[])
            .map_err(pg_err("read index meta"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let bad = |m: String| IndexError::BadIndex { path: format!("{p}_meta").into(), message: m };
        let mut info: IndexInfo =
            serde_json::from_str(meta.get("info").ok_or_else(|| bad("no `info` row".into()))?)
                .map_err(|e| bad(format!("malformed info: {e}")))?;
        let stored: PgParams =
            serde_json::from_str(meta.get("params").ok_or_else(|| bad("no `params` row".into()))?)
                .map_err(|e| bad(format!("malformed params: {e}")))?;
        let count: i64 = client
            .query_one(&format!("SELECT count(*) FROM {p}_papers"), &[])
            .map_err(pg_err("count papers"))?
            .get(0);
        info.count = count as usize;
        let relation_bytes: i64 = client
            .query_one("SELECT pg_total_relation_size($1::text::regclass)", &[&format!("{p}_papers")])
            .map_err(pg_err("measure table"))?
            .get(0);
        let params = PgParams { m: stored.m, ef_construction: stored.ef_construction, ..params.clone() };
        let pool = Pool {
            url: url.to_string(),
            session_sql: format!(
                "SET hnsw.ef_search = {}; SET hnsw.iterative_scan = relaxed_order",
                params.ef_search.clamp(1, 1000)
            ),
            idle: Mutex::new(vec![client]),
            slots: Slots::new(params.pool_size.max(1)),
        };
        // The first connection was opened before the session settings existed.
        pool.with(|c| c.batch_execute(&pool.session_sql).map_err(pg_err("configure session")))?;
        Ok(PgIndex { info, params, pool, relation_bytes: relation_bytes.max(0) as u64 })
    }

    /// Drops the tables of `prefix` and forgets its migrations (tests, rebuilds).
    pub fn drop_tables(url: &str, prefix: &str) -> Result<(), IndexError> {
        check_prefix(prefix)?;
        let mut client = connect(url)?;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {prefix}_papers, {prefix}_meta; \
                 CREATE TABLE IF NOT EXISTS atlas_migrations (prefix text NOT NULL, version int NOT NULL, \
                 applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (prefix, version)); \
                 DELETE FROM atlas_migrations WHERE prefix = '{prefix}'"
            ))
            .map_err(pg_err("drop tables"))
    }

    /// The parameters in use.
    pub fn params(&self) -> &PgParams {
        &self.params
    }

    /// Inserts the papers whose ids are not stored yet (COPY; the HNSW index grows in place, no rebuild).
    pub fn add(&mut self, papers: &[PaperMeta], vectors: &[f32]) -> Result<AddReport, IndexError> {
        let dim = self.info.dim;
        let p = self.params.prefix.clone();
        let ids: Vec<&str> = papers.iter().map(|x| x.id.as_str()).collect();
        let info = self.info.clone();
        let params = self.params.clone();
        let report = self.pool.with(|c| {
            let mut tx = c.transaction().map_err(pg_err("begin add"))?;
            let stored: Vec<PaperMeta> = tx
                .query(&format!("SELECT id FROM {p}_papers WHERE id = ANY($1)"), &[&ids])
                .map_err(pg_err("look up ids"))?
                .iter()
                .map(|r| PaperMeta {
                    id: r.get(0),
                    title: String::new(),
                    categories: vec![],
                    year: None,
                    authors: vec![],
                })
                .collect();
            let table = PaperTable::new(stored)?;
            let NewRows { papers: new_papers, vectors: new_vectors, skipped } =
                split_new(&table, dim, papers, vectors)?;
            copy_rows(&mut tx, &p, &new_papers, &new_vectors, dim)?;
            let count: i64 = tx
                .query_one(&format!("SELECT count(*) FROM {p}_papers"), &[])
                .map_err(pg_err("count"))?
                .get(0);
            write_meta(&mut tx, &p, &IndexInfo { count: count as usize, ..info }, &params)?;
            tx.commit().map_err(pg_err("commit add"))?;
            Ok(AddReport { added: new_papers.len(), skipped, count: count as usize })
        })?;
        self.info.count = report.count;
        Ok(report)
    }

    /// Runs one search statement; `exact` disables index scans so PostgreSQL scores every matching row.
    fn query(&self, q: &[f32], k: usize, filter: &Filter, exact: bool) -> Result<Vec<Hit>, IndexError> {
        let (where_sql, cats, years) = filter_sql(filter, 3);
        let sql = format!(
            "SELECT id, title, categories, year, authors, (embedding <=> $1)::real FROM {}{where_sql} \
             ORDER BY embedding <=> $1 LIMIT $2",
            papers_sql(&self.params.prefix)
        );
        let emb = Vector::from(q.to_vec());
        let limit = k as i64;
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&emb, &limit];
        if let Some(c) = &cats {
            args.push(c);
        }
        if let Some((lo, hi)) = &years {
            args.push(lo);
            args.push(hi);
        }
        let rows = self.pool.with(|c| {
            if exact {
                let mut tx = c.transaction().map_err(pg_err("begin"))?;
                tx.batch_execute("SET LOCAL enable_indexscan = off").map_err(pg_err("disable index scan"))?;
                let rows = tx.query(&sql, &args).map_err(pg_err("exact search"))?;
                tx.commit().map_err(pg_err("commit"))?;
                Ok(rows)
            } else {
                c.query(&sql, &args).map_err(pg_err("search"))
            }
        })?;
        let mut hits: Vec<Hit> = rows
            .iter()
            .map(|r| {
                let year: Option<i16> = r.get(3);
                let d: f32 = r.get(5);
                Hit {
                    score: 1.0 - d,
                    paper: PaperMeta {
                        id: r.get(0),
                        title: r.get(1),
                        categories: r.get(2),
                        year: year.and_then(|y| u16::try_from(y).ok()),
                        authors: r.get(4),
                    },
                }
            })
            .collect();
        // relaxed_order may hand rows back slightly out of order.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.paper.id.cmp(&b.paper.id)));
        Ok(hits)
    }

    fn count_matching(&self, filter: &Filter) -> Result<usize, IndexError> {
        let (where_sql, cats, years) = filter_sql(filter, 1);
        let sql = format!("SELECT count(*) FROM {}{where_sql}", papers_sql(&self.params.prefix));
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(c) = &cats {
            args.push(c);
        }
        if let Some((lo, hi)) = &years {
            args.push(lo);
            args.push(hi);
        }
        let n: i64 = self.pool.with(|c| c.query_one(&sql, &args).map_err(pg_err("count matching")))?.get(0);
        Ok(n as usize)
    }
}

/// The WHERE clause of a filter; its parameters are numbered from `$first` (categories first, then the year
/// bounds), and are returned in that order.
fn filter_sql(filter: &Filter, first: usize) -> (String, Option<Vec<String>>, Option<(i16, i16)>) {
    let mut clauses = Vec::new();
    let mut next = first;
    let cats = filter.categories.clone();
    if cats.is_some() {
        clauses.push(format!("categories && ${next}::text[]"));
        next += 1;
    }
    let years = filter.years.as_ref().map(|r| {
        let clamp = |y: u16| i16::try_from(y).unwrap_or(i16::MAX);
        (clamp(*r.start()), clamp(*r.end()))
    });
    if years.is_some() {
        clauses.push(format!("year BETWEEN ${next} AND ${}", next + 1));
    }
    let sql = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    (sql, cats, years)
}

fn write_meta(
    tx: &mut postgres::Transaction<'_>,
    prefix: &str,
    info: &IndexInfo,
    params: &PgParams,
) -> Result<(), IndexError> {
    let sql = format!(
        "INSERT INTO {prefix}_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    );
    for (key, value) in [("info", to_json(info)?), ("params", to_json(params)?)] {
        tx.execute(&sql, &[&key, &value]).map_err(pg_err("write index meta"))?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, IndexError> {
    serde_json::to_string(v).map_err(|e| IndexError::Invalid(format!("index meta does not serialise: {e}")))
}

impl VectorIndex for PgIndex {
    fn info(&self) -> &IndexInfo {
        &self.info
    }

    fn search(&self, query: &[f32], k: usize, filter: &Filter) -> Result<Vec<Hit>, IndexError> {
        let q = prepare_query(&self.info, query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let hits = self.query(&q, k, filter, false)?;
        if hits.len() < k && self.count_matching(filter)? > hits.len() {
            return self.query(&q, k, filter, true);
        }
        Ok(hits)
    }

    fn paper(&self, id: &str) -> Result<Option<PaperMeta>, IndexError> {
        let sql = format!(
            "SELECT id, title, categories, year, authors FROM {} WHERE id = $1",
            papers_sql(&self.params.prefix)
        );
        let row = self.pool.with(|c| c.query_opt(&sql, &[&id]).map_err(pg_err("read paper")))?;
        Ok(row.map(|r| {
            let year: Option<i16> = r.get(3);
            PaperMeta {
                id: r.get(0),
                title: r.get(1),
                categories: r.get(2),
                year: year.and_then(|y| u16::try_from(y).ok()),
                authors: r.get(4),
            }
        }))
    }

    fn vector(&self, id: &str) -> Result<Option<Vec<f32>>, IndexError> {
        let sql = format!("SELECT embedding FROM {} WHERE id = $1", papers_sql(&self.params.prefix));
        let row = self.pool.with(|c| c.query_opt(&sql, &[&id]).map_err(pg_err("read vector")))?;
        Ok(row.map(|r| r.get::<_, Vector>(0).to_vec()))
    }

    fn primary_counts(&self) -> Result<HashMap<String, usize>, IndexError> {
        let sql =
            format!("SELECT categories[1], count(*) FROM {} GROUP BY 1", papers_sql(&self.params.prefix));
        let rows = self.pool.with(|c| c.query(&sql, &[]).map_err(pg_err("count categories")))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, Option<String>>(0).unwrap_or_default(), r.get::<_, i64>(1) as usize))
            .collect())
    }

    /// The table's size in PostgreSQL (heap + indexes) when opened: memory the server needs to serve it from
    /// cache, not this process's.
    fn memory_bytes(&self) -> Option<u64> {
        Some(self.relation_bytes)
    }

    fn export(&self) -> Result<crate::Corpus, IndexError> {
        let sql = format!(
            "SELECT id, title, categories, year, authors, embedding FROM {} ORDER BY id",
            papers_sql(&self.params.prefix)
        );
        let rows = self.pool.with(|c| c.query(&sql, &[]).map_err(pg_err("export papers")))?;
        let mut corpus = crate::Corpus {
            papers: Vec::with_capacity(rows.len()),
            vectors: Vec::with_capacity(rows.len() * self.info.dim),
        };
        for r in &rows {
            let year: Option<i16> = r.get(3);
            corpus.papers.push(PaperMeta {
                id: r.get(0),
                title: r.get(1),
                categories: r.get(2),
                year: year.and_then(|y| u16::try_from(y).ok()),
                authors: r.get(4),
            });
            corpus.vectors.extend(r.get::<_, Vector>(5).to_vec());
        }
        Ok(corpus)
    }
}
