//! The request log: records written off the request path to SQLite (always tested) and PostgreSQL (when
//! `ARXIV_ATLAS_TEST_DATABASE_URL` names a server; `scripts/postgres.sh` starts one; without it the test skips,
//! or fails where `ATLAS_REQUIRE_POSTGRES` is set). The traffic runs on the tiny in-test fixture.

mod common;

use std::sync::Arc;

use atlas_serve::{LogTarget, RequestLog, ServerConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn post(app: &Router, path: &str, body: Value) -> Value {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    serde_json::from_slice(&axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap()).unwrap()
}

/// Serves a few classify requests and a search with a request log on `target`; returns the answers.
async fn traffic(target: &LogTarget) -> Vec<(String, Value)> {
    let f = common::tiny();
    let log = Arc::new(RequestLog::open(target, 64).expect("opening the request log"));
    let (e, i) = (f.embedder.clone().unwrap(), f.index.clone().unwrap());
    let b = atlas_serve::AppState::builder(f.model.clone())
        .taxonomy(f.taxonomy.clone())
        .request_log(log.clone())
        .embedder(e)
        .index(i);
    let state = b.config(ServerConfig::default()).build().unwrap();
    let app = atlas_serve::router(state.clone());
    let mut answers = Vec::new();
    for p in &f.papers[10..13] {
        let text = atlas_corpus::Paper::from_text(&p.title, &p.abstract_text)
            .text(&atlas_corpus::TextTemplate::default());
        let v = post(&app, "/v1/classify", json!({"title": p.title, "abstract": p.abstract_text})).await;
        answers.push((text, v));
    }
    let v = post(&app, "/v1/search", json!({"text": "quantum error correction", "k": 3})).await;
    answers.push(("quantum error correction".into(), v));
    // Shutting down flushes the writer: every record is in the database afterwards.
    tokio::task::spawn_blocking(move || state.shutdown()).await.unwrap();
    assert_eq!(log.stats().dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
    answers
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// ts, endpoint, text, text_hash, prediction, score, result, latency_ms, model_version.
type SqliteRow = (String, String, String, String, String, f64, String, f64, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_log_records_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs/requests.sqlite");
    let answers = traffic(&LogTarget::Sqlite(path.clone())).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT ts, endpoint, text, text_hash, prediction, score, result, latency_ms, model_version FROM request_log ORDER BY id")
        .unwrap();
    let rows: Vec<SqliteRow> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), answers.len());
    for (row, (text, answer)) in rows.iter().zip(&answers) {
        let (ts, endpoint, logged_text, hash, prediction, score, result, latency, version) = row;
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");
        assert_eq!(logged_text, text);
        assert_eq!(hash, &sha256_hex(text));
        assert!(*latency > 0.0);
        assert_eq!(version, "tfidf_linear@test");
        let result: Value = serde_json::from_str(result).unwrap();
        if endpoint == "classify" {
            assert_eq!(prediction, answer["category"].as_str().unwrap());
            assert!((score - answer["probability"].as_f64().unwrap()).abs() < 1e-6);
            assert_eq!(result[0]["category"], answer["category"]);
            assert!(result.as_array().unwrap().len() <= 5);
        } else {
            assert_eq!(endpoint, "search");
            assert_eq!(prediction, answer["results"][0]["id"].as_str().unwrap());
            assert_eq!(result.as_array().unwrap().len(), 3);
        }
    }
    assert_eq!(rows.iter().filter(|r| r.1 == "search").count(), 1);
}

/// endpoint, text, text_hash, prediction, score, result, epoch seconds.
type PgRow = (String, String, String, String, f32, String, f64);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_records_every_request() {
    let Some(url) = atlas_testkit::database_url("postgres_log_records_every_request") else { return };
    // A fresh schema per run, so the test neither sees nor leaves other runs' rows.
    let schema = format!("atlas_test_{}", std::process::id());
    let admin_url = url.clone();
    let s = schema.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s};")).unwrap();
    })
    .await
    .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let answers = traffic(&LogTarget::Postgres(scoped.clone())).await;
    let rows = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&scoped, postgres::NoTls).unwrap();
        // The migration ran once and is recorded; running it again is a no-op.
        assert_eq!(atlas_serve::reqlog::migrate_postgres(&mut c).unwrap(), 0);
        let versions: Vec<i32> = c.query("SELECT version FROM atlas_schema_migrations", &[]).unwrap().iter().map(|r| r.get(0)).collect();
        assert_eq!(versions, vec![1]);
        let rows: Vec<PgRow> = c
            .query(
                "SELECT endpoint, text, text_hash, prediction, score, result::text, extract(epoch from ts)::float8 FROM atlas_request_log ORDER BY id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
            .collect();
        c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
        rows
    })
    .await
    .unwrap();
    assert_eq!(rows.len(), answers.len());
    for ((endpoint, text, hash, prediction, _, result, epoch), (want_text, answer)) in
        rows.iter().zip(&answers)
    {
        assert_eq!(text, want_text);
        assert_eq!(hash, &sha256_hex(text));
        assert!(*epoch > 1.7e9);
        let result: Value = serde_json::from_str(result).unwrap();
        assert!(result.is_array());
        if endpoint == "classify" {
            assert_eq!(prediction, answer["category"].as_str().unwrap());
        }
    }
}
