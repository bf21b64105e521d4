//! Live drift monitoring against a server fed real requests: a TF-IDF model trained by the real pipeline on
//! arxiv-mini (with its drift profile), served with a request log; arxiv-mini test papers and then recent-2025
//! papers go through `/v1/classify/batch`. The background monitor must answer `GET /v1/drift` with a report of
//! the logged requests — quiet on the held-out papers, drift on the newer ones — and publish the gauges on
//! `/metrics` that the Prometheus alert rules and the Grafana dashboard in `deploy/` use (every metric name
//! they reference is checked against the scrape).
//!
//! Skips without the data kit (fails where `ATLAS_REQUIRE_DATA` is set); the PostgreSQL variant also needs
//! `ARXIV_ATLAS_TEST_DATABASE_URL`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use atlas_corpus::{Paper, Split};
use atlas_monitor::Span;
use atlas_serve::{AppState, DriftOptions, LogTarget, ServeOptions, ServerConfig};
use atlas_testkit::Need;
use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

/// A model trained as `arxiv-atlas train data=mini experiment=tfidf_linear` does it, and the papers to send.
struct Kit {
    _dir: tempfile::TempDir,
    run: PathBuf,
    held_out: Vec<Paper>,
    recent: Vec<Paper>,
}

fn kit(test: &str) -> Option<&'static Kit> {
    let mini = atlas_testkit::shared_file(test, "data/arxiv-mini.jsonl.gz")?;
    let recent = atlas_testkit::shared_file(test, "data/recent-2025.jsonl.gz")?;
    static KIT: OnceLock<Kit> = OnceLock::new();
    Some(KIT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = [
            "experiment=tfidf_linear".to_string(),
            "data=mini".to_string(),
            format!("data.input={}", mini.display()),
            format!("data.cache_dir={}", dir.path().join("cache").display()),
            format!("run.root={}", dir.path().join("runs").display()),
            format!("run.dir={}", dir.path().join("runs/train").display()),
        ];
        let resolved = atlas_config::load(&atlas_config::ConfigSource::Embedded, &args, &[]).expect("config");
        let run = atlas_pipeline::train(&resolved).expect("training").run_dir;
        let held_out = atlas_corpus::load_papers(&mini, Some(Split::Test)).expect("arxiv-mini").0;
        let (recent, _) = atlas_corpus::load_papers(&recent, None).expect("recent-2025");
        let recent = atlas_monitor::synthetic::random_window(&recent, 1000, 1);
        Kit { _dir: dir, run, held_out, recent }
    }))
}

/// A server of the kit's model logging to `log`, monitoring `windows` every 200 ms over the latest 1,000
/// requests (so that the recent papers, once sent, fill the window on their own).
fn serve(kit: &Kit, log: LogTarget, windows: &[&str], tmp: &Path) -> AppState {
    let opts = ServeOptions {
        model: Some(kit.run.clone()),
        index: None,
        ef_search: None,
        // No encoder: classification and drift need none (a folder that does not exist turns it off).
        model_dir: Some(tmp.join("no-encoder")),
        taxonomy: None,
        request_log: Some(log),
        server: ServerConfig::default(),
        max_batch_tokens: None,
        drift: Some(DriftOptions {
            interval: Duration::from_millis(200),
            windows: windows.iter().map(|w| w.parse::<Span>().unwrap()).collect(),
            max_requests: 1000,
            min_requests: 100,
            ..DriftOptions::default()
        }),
        admin_token: None,
    };
    atlas_serve::build_state(&opts).expect("building the server")
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, String) {
    let a = common::send(app, method, uri, body.as_ref()).await;
    (a.status, String::from_utf8_lossy(&a.body).into_owned())
}

async fn get_json(app: &Router, uri: &str) -> (StatusCode, Value) {
    let (s, body) = call(app, "GET", uri, None).await;
    (s, serde_json::from_str(&body).unwrap_or_else(|_| panic!("{uri}: not JSON: {body}")))
}

/// Classifies `papers` through the API, 100 per request.
async fn send(app: &Router, papers: &[Paper]) {
    for chunk in papers.chunks(100) {
        let batch: Vec<Value> =
            chunk.iter().map(|p| json!({"title": p.title, "abstract": p.abstract_text})).collect();
        let (s, body) = call(app, "POST", "/v1/classify/batch", Some(json!({"papers": batch}))).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
}

/// Polls `/v1/drift?window=` until a report of exactly `requests` logged requests is there (the log writer
/// and the monitor both run in the background).
async fn report_of(app: &Router, window: &str, requests: usize) -> Value {
    let started = Instant::now();
    loop {
        let (s, v) = get_json(app, &format!("/v1/drift?window={window}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_ne!(v["state"], "failed", "{v}");
        if v["state"] == "ready" && v["requests"] == requests {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no report of {requests} requests: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn drifted(v: &Value) -> BTreeSet<String> {
    v["report"]["drifted"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_drift_over_real_requests_with_a_sqlite_log() {
    let Some(kit) = kit("live_drift_over_real_requests_with_a_sqlite_log") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let state = serve(kit, LogTarget::Sqlite(tmp.path().join("log.sqlite")), &["1h", "1d"], tmp.path());
    let app = atlas_serve::router(state.clone());

    // Before any request: no verdict, and no report to show.
    let (s, v) = get_json(&app, "/v1/drift").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(["pending", "too_few_requests"].contains(&v["state"].as_str().unwrap()), "{v}");
    assert_eq!((v["window"].clone(), v["windows"].clone()), (json!("1h"), json!(["1h", "1d"])));
    assert!(v["report"].is_null() && v["drift"] == false, "{v}");

    // Held-out papers of the training corpus: a report over exactly them, and no drift.
    send(&app, &kit.held_out).await;
    let n = kit.held_out.len();
    let v = report_of(&app, "1h", n).await;
    assert_eq!(v["report"]["n_current"], n, "{v}");
    // The server's own log: its answers are the predictions the report tests, not predicted again.
    assert_eq!(v["report"]["predictions"], "logged", "{}", v["report"]["predictions_reason"]);
    assert_eq!(v["drift"], false, "held-out papers reported as drift: {:?}", drifted(&v));
    assert!(v["report"]["tests"].as_array().unwrap().len() >= 7, "{v}");
    let (_, day) = get_json(&app, "/v1/drift?window=24h").await;
    assert_eq!(day["window"], "1d", "24h and 1d are the same window: {day}");

    // Papers of 2025: the window's latest 1,000 requests are all new, and the text and prediction tests say so.
    send(&app, &kit.recent).await;
    let v = report_of(&app, "1h", 1000).await;
    assert_eq!(v["drift"], true, "{v}");
    let d = drifted(&v);
    for test in ["text/domain_classifier_auc", "predicted_category/jensen_shannon"] {
        assert!(d.contains(test), "{test} not among {d:?}");
    }
    report_in_chromium(&v["report"], tmp.path());

    // Bad windows are 4xx JSON errors.
    for (uri, status, code) in [
        ("/v1/drift?window=soon", StatusCode::BAD_REQUEST, "invalid_window"),
        ("/v1/drift?since=1h", StatusCode::BAD_REQUEST, "invalid_query"),
        ("/v1/drift?window=2h", StatusCode::NOT_FOUND, "window_not_monitored"),
    ] {
        let (s, v) = get_json(&app, uri).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{uri}: {v}");
    }

    // The gauges of every test, and every metric the deploy/ files use. The 1d window is computed after the 1h
    // one in each run: wait for its report over the new papers too (its gauges are set before the report is
    // published), else the metrics may still hold its previous run.
    let day = report_of(&app, "1d", 1000).await;
    assert_eq!(day["drift"], true, "{day}");
    let (s, metrics) = call(&app, "GET", "/metrics", None).await;
    assert_eq!(s, StatusCode::OK);
    let line = |name: &str, labels: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.split(',').all(|x| l.contains(x)))
    };
    let text = r#"window="1h",feature="text",method="domain_classifier_auc""#;
    assert!(line("atlas_drift_detected", text).is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    let score: f64 = line("atlas_drift_score", text).unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!(score >= 0.6, "text AUC {score}");
    assert!(line("atlas_drift_threshold", text).is_some_and(|l| l.ends_with(" 0.6")), "{metrics}");
    let current = format!("{text},side=\"current\"");
    assert!(line("atlas_drift_sample_size", &current).is_some(), "{metrics}");
    assert!(line("atlas_drift_window_detected", r#"window="1d""#).is_some_and(|l| l.ends_with(" 1")));
    check_deploy_metrics(&metrics);
    tokio::task::block_in_place(|| state.shutdown());
}

/// Renders `report` (the JSON of `/v1/drift`) as `arxiv-atlas drift --report` does and opens the page in
/// headless Chromium (`tests/web/drift-report.test.mjs`): verdict, one table row and one bar per test, every
/// plot drawn. Skips without node, Chromium or playwright-core (`bash scripts/setup-web-test.sh`), a failure
/// where `ATLAS_REQUIRE_CHROMIUM` is set. `ARXIV_ATLAS_DRIFT_SCREENSHOT=docs/drift-report.png` keeps a
/// screenshot.
fn report_in_chromium(report: &Value, tmp: &Path) {
    const TEST: &str = "live_drift_over_real_requests_with_a_sqlite_log (drift report in Chromium)";
    let root = atlas_testkit::repo_root();
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let have_node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    let playwright = root.join("tests/web/node_modules/playwright-core");
    if !have_node || !Path::new(&chromium).exists() || !playwright.is_dir() {
        let reason = "node, Chromium or playwright-core not found; run `bash scripts/setup-web-test.sh`";
        atlas_testkit::missing(Need::Chromium, TEST, reason.to_string());
        return;
    }
    let r: atlas_monitor::DriftReport = serde_json::from_value(report.clone()).expect("a drift report");
    let page = tmp.join("drift-report.html");
    std::fs::write(&page, atlas_monitor::render_html(&r)).unwrap();
    let mut features: Vec<&str> = r.categories.iter().map(|c| c.feature.as_str()).collect();
    features.dedup();
    let want = json!({
        "drift": r.drift,
        "tests": r.tests.len(),
        "drifted": r.drifted.len(),
        "histograms": r.histograms.len(),
        "categoryPlots": features.len(),
        "words": r.words.len(),
    });
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/web/drift-report.test.mjs"))
        .arg(format!("file://{}", page.display()))
        .arg(want.to_string())
        .current_dir(&root);
    if let Ok(shot) = std::env::var("ARXIV_ATLAS_DRIFT_SCREENSHOT") {
        let shot = PathBuf::from(shot);
        cmd.arg(if shot.is_absolute() { shot } else { root.join(shot) });
    }
    let out = cmd.output().expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the drift report failed in Chromium:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every metric name the alert rules and the dashboard reference is on a running server's `/metrics`.
fn check_deploy_metrics(scrape: &str) {
    let root = atlas_testkit::repo_root();
    let rules: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap())
            .expect("alerts.yml is YAML");
    let mut exprs = Vec::new();
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"].as_str().expect("every rule is an alert");
            assert!(rule["expr"].is_string() && rule["annotations"]["summary"].is_string(), "{name}");
            exprs.push(rule["expr"].as_str().unwrap().to_string());
            alerts += 1;
        }
    }
    assert!(alerts >= 4);
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/grafana/dashboards/arxiv-atlas.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().expect("a target has an expr").to_string());
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = v["definition"].as_str() {
            exprs.push(q.to_string());
        }
    }
    let names: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    assert!(names.contains("atlas_drift_detected") && names.contains("http_requests_total"), "{names:?}");
    for name in &names {
        let present = scrape.lines().any(|l| {
            l.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        });
        assert!(present, "{name} is used in deploy/ but not on /metrics");
    }
}

/// The metric names (`atlas_*`, `http_*`) of a PromQL expression: identifiers outside quoted strings.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in expr.chars().chain([' ']) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
            None if c.is_ascii_alphanumeric() || c == '_' || c == ':' => {
                word.push(c);
                continue;
            }
            None => {}
        }
        if word.starts_with("atlas_") || word.starts_with("http_") {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

#[test]
fn metric_names_skip_labels_and_strings() {
    let e = r#"sum by (route) (rate(http_requests_total{status=~"5..", route="/atlas_x"}[5m])) / atlas_queue_depth"#;
    assert_eq!(metric_names(e), ["http_requests_total", "atlas_queue_depth"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_drift_over_a_postgres_log() {
    let test = "live_drift_over_a_postgres_log";
    let Some(kit) = kit(test) else { return };
    let Some(url) = atlas_testkit::database_url(test) else { return };
    // A schema of its own (through the URL's search_path): other servers' logs in the database are not this
    // server's traffic.
    let schema = format!("drift_serve_{}", std::process::id());
    let admin_url = url.clone();
    let create = format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}");
    // The synchronous client must not run on the async runtime.
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(&admin_url, postgres::NoTls).unwrap().batch_execute(&create).unwrap()
    })
    .await
    .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let tmp = tempfile::tempdir().unwrap();
    let state = tokio::task::block_in_place(|| serve(kit, LogTarget::Postgres(scoped), &["2h"], tmp.path()));
    let app = atlas_serve::router(state.clone());
    send(&app, &kit.recent[..300]).await;
    let v = report_of(&app, "2h", 300).await;
    assert!(v["report"]["current_source"].as_str().unwrap().contains("300 classify requests"), "{v}");
    assert_eq!(v["report"]["predictions"], "logged", "{}", v["report"]["predictions_reason"]);
    assert!(!v.to_string().contains("postgres://"), "the URL (maybe with a password) leaked: {v}");
    tokio::task::block_in_place(|| state.shutdown());
    let drop = format!("DROP SCHEMA {schema} CASCADE");
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(&url, postgres::NoTls).unwrap().batch_execute(&drop).unwrap()
    })
    .await
    .unwrap();
}
