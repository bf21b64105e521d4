//! Windows of the request log that `serve` writes (see atlas-serve's `reqlog`): the texts of classify
//! requests between two times, with what the server answered, from SQLite or PostgreSQL.
//!
//! The table names and columns are atlas-serve's (`request_log` in SQLite, `atlas_request_log` in
//! PostgreSQL; `ts`, `endpoint`, `text`, and for classify rows `prediction` = the top category code, `score` =
//! its calibrated probability, `model_version` = `LoadedModel::version` of the model that answered). This crate reads them without depending on the server, so the
//! server can later run drift reports itself.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use crate::observe::{LoggedPrediction, Window};
use crate::MonitorError;

/// A time bound as the log stores it: RFC 3339, UTC, milliseconds (SQLite compares these as strings).
pub fn parse_time(value: &str) -> Result<String, MonitorError> {
    let bad = || MonitorError::BadTime { value: value.to_string() };
    let t: DateTime<Utc> = match DateTime::parse_from_rfc3339(value.trim()) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => {
            let d = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| bad())?;
            d.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc()
        }
    };
    Ok(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The texts of the classify requests logged in `[since, until)` (either bound optional) in `target`: a
/// `postgres://` / `postgresql://` URL or a SQLite file, with the server's answer to each
/// ([`Window::predictions`]).
pub fn read_request_log(
    target: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Window, MonitorError> {
    read_request_log_tail(target, since, until, None)
}

/// [`read_request_log`], keeping only the `limit` most recent requests of the window (all when `None`), in
/// the order they were logged. The server's background task reads its windows this way, so that a burst of
/// traffic cannot make one drift run arbitrarily slow.
///
/// The PostgreSQL client is synchronous (it runs a runtime of its own): call this from a blocking thread, never
/// from an async task.
pub fn read_request_log_tail(
    target: &str,
    since: Option<&str>,
    until: Option<&str>,
    limit: Option<usize>,
) -> Result<Window, MonitorError> {
    let since = since.map(parse_time).transpose()?;
    let until = until.map(parse_time).transpose()?;
    // Open bounds as times both databases accept (PostgreSQL has no year 0).
    let lo = since.clone().unwrap_or_else(|| "0001-01-01T00:00:00.000Z".to_string());
    let hi = until.clone().unwrap_or_else(|| "9999-12-31T23:59:59.999Z".to_string());
    // Both databases take a 64-bit LIMIT; "no limit" is the largest one.
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let mut rows = if target.starts_with("postgres://") || target.starts_with("postgresql://") {
        read_postgres(target, &lo, &hi, limit)?
    } else {
        read_sqlite(&PathBuf::from(target), &lo, &hi, limit)?
    };
    // Read newest first (so LIMIT keeps the latest), reported in logged order.
    rows.reverse();
    let (texts, predictions): (Vec<String>, Vec<LoggedPrediction>) = rows.into_iter().unzip();
    // Never the URL itself in a report: it may hold a password.
    let name = if target.contains("://") { "postgres".to_string() } else { format!("sqlite:{target}") };
    let range = match (&since, &until) {
        (None, None) => String::new(),
        _ => format!(" [{} .. {})", since.as_deref().unwrap_or("start"), until.as_deref().unwrap_or("now")),
    };
    Ok(Window {
        texts,
        labels: None,
        source: format!("request log {name}{range}"),
        predictions: Some(predictions),
    })
}

/// A logged text and the server's answer to it.
type Row = (String, LoggedPrediction);

fn read_sqlite(path: &PathBuf, lo: &str, hi: &str, limit: i64) -> Result<Vec<Row>, MonitorError> {
    let err = |source| MonitorError::Sqlite { path: path.clone(), source };
    if !path.is_file() {
        return Err(MonitorError::Invalid(format!("{}: no such request-log file", path.display())));
    }
    // Read-only: a running server keeps writing (WAL mode lets both proceed).
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    let mut stmt = conn
        .prepare(
            "SELECT text, prediction, score, model_version FROM request_log WHERE endpoint = 'classify' AND ts >= ?1 AND ts < ?2 \
             ORDER BY id DESC LIMIT ?3",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map(rusqlite::params![lo, hi, limit], |r| {
            let prediction =
                LoggedPrediction { category: r.get(1)?, confidence: r.get(2)?, model_version: r.get(3)? };
            Ok((r.get(0)?, prediction))
        })
        .map_err(err)?;
    rows.collect::<Result<Vec<Row>, _>>().map_err(err)
}

fn read_postgres(url: &str, lo: &str, hi: &str, limit: i64) -> Result<Vec<Row>, MonitorError> {
    // The synchronous client runs its own runtime; callers inside an async runtime should call this from a
    // blocking thread.
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let rows = client.query(
        "SELECT text, prediction, score, model_version FROM atlas_request_log WHERE endpoint = 'classify' \
         AND ts >= $1::text::timestamptz AND ts < $2::text::timestamptz ORDER BY id DESC LIMIT $3",
        &[&lo, &hi, &limit],
    )?;
    // `score` is a REAL (f32) column.
    let row = |r: &postgres::Row| -> Result<Row, postgres::Error> {
        let confidence: f32 = r.try_get(2)?;
        let prediction = LoggedPrediction {
            category: r.try_get(1)?,
            confidence: f64::from(confidence),
            model_version: r.try_get(3)?,
        };
        Ok((r.try_get(0)?, prediction))
    };
    Ok(rows.iter().map(row).collect::<Result<Vec<Row>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_normalised_to_the_logs_format() {
        assert_eq!(parse_time("2026-01-31").unwrap(), "2026-01-31T00:00:00.000Z");
        assert_eq!(parse_time("2026-01-31T12:00:00+02:00").unwrap(), "2026-01-31T10:00:00.000Z");
        assert!(parse_time("yesterday").unwrap_err().to_string().contains("RFC 3339"));
    }

    #[test]
    fn reads_classify_texts_of_a_time_window_from_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE request_log (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, endpoint TEXT NOT NULL,
             text TEXT NOT NULL, text_hash TEXT NOT NULL, prediction TEXT NOT NULL, score REAL NOT NULL,
             result TEXT NOT NULL, latency_ms REAL NOT NULL, model_version TEXT NOT NULL);
             INSERT INTO request_log VALUES (1, '2026-01-01T10:00:00.000Z', 'classify', 'a', '', 'cs.LG', 0.75, '[]', 1, 'v');
             INSERT INTO request_log VALUES (2, '2026-01-02T10:00:00.000Z', 'classify', 'b', '', '', 0, '[]', 1, 'v');
             INSERT INTO request_log VALUES (3, '2026-01-02T11:00:00.000Z', 'search', 'c', '', '', 0, '[]', 1, 'v');
             INSERT INTO request_log VALUES (4, '2026-01-03T10:00:00.000Z', 'classify', 'd', '', '', 0, '[]', 1, 'v');",
        )
        .unwrap();
        let target = path.to_str().unwrap();
        let all = read_request_log(target, None, None).unwrap();
        assert_eq!(all.texts, ["a", "b", "d"]);
        // The server's answers come along, row by row.
        let logged = all.predictions.unwrap();
        assert_eq!(logged.len(), 3);
        let first =
            LoggedPrediction { category: "cs.LG".into(), confidence: 0.75, model_version: "v".into() };
        assert_eq!(logged[0], first);
        let w = read_request_log(target, Some("2026-01-02"), Some("2026-01-03")).unwrap();
        assert_eq!(w.texts, ["b"]);
        assert!(w.source.contains("2026-01-02T00:00:00.000Z"), "{}", w.source);
        // The tail keeps the latest requests, in logged order.
        assert_eq!(read_request_log_tail(target, None, None, Some(2)).unwrap().texts, ["b", "d"]);
        assert_eq!(read_request_log_tail(target, Some("2026-01-02"), None, Some(0)).unwrap().texts.len(), 0);
        assert!(read_request_log("/nonexistent/log.sqlite", None, None).is_err());
    }

    #[test]
    fn reads_classify_texts_of_a_time_window_from_postgres() {
        let Some(url) = atlas_testkit::database_url("reads_classify_texts_of_a_time_window_from_postgres")
        else {
            return;
        };
        // A schema of its own (through the URL's search_path), so servers' logs in the same database neither
        // disturb this test nor see its rows.
        let schema = format!("drift_test_{}", std::process::id());
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
        let mut client = postgres::Client::connect(&scoped, postgres::NoTls).unwrap();
        // atlas-serve's migration 1.
        client
            .batch_execute(
                "CREATE TABLE atlas_request_log (id BIGSERIAL PRIMARY KEY, ts TIMESTAMPTZ NOT NULL,
                 endpoint TEXT NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL, prediction TEXT NOT NULL,
                 score REAL NOT NULL, result JSONB NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
                 model_version TEXT NOT NULL);
                 INSERT INTO atlas_request_log (ts, endpoint, text, text_hash, prediction, score, result, latency_ms,
                   model_version) VALUES
                   ('2026-01-01T10:00:00Z', 'classify', 'a', '', 'cs.LG', 0.75, '[]', 1, 'v'),
                   ('2026-01-02T10:00:00Z', 'classify', 'b', '', '', 0, '[]', 1, 'v'),
                   ('2026-01-02T11:00:00Z', 'search', 'c', '', '', 0, '[]', 1, 'v'),
                   ('2026-01-03T10:00:00Z', 'classify', 'd', '', '', 0, '[]', 1, 'v');",
            )
            .unwrap();
        let all = read_request_log(&scoped, None, None);
        let day = read_request_log(&scoped, Some("2026-01-02"), Some("2026-01-03"));
        let tail = read_request_log_tail(&scoped, None, None, Some(2));
        admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
        let all = all.unwrap();
        assert_eq!(all.texts, ["a", "b", "d"]);
        let first =
            LoggedPrediction { category: "cs.LG".into(), confidence: 0.75, model_version: "v".into() };
        assert_eq!(all.predictions.unwrap()[0], first);
        assert_eq!(tail.unwrap().texts, ["b", "d"]);
        let day = day.unwrap();
        assert_eq!(day.texts, ["b"]);
        assert!(!day.source.contains("://"), "the URL (maybe with a password) leaked: {}", day.source);
    }
}
