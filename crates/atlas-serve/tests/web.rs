//! The web page in a real headless Chromium: starts the server in-process (real TF-IDF model, real MiniLM
//! vectors), then runs `tests/web/page.test.mjs` with node. Needs `bash scripts/setup-web-test.sh` first;
//! without node, Chromium or playwright-core it skips (fails where `ATLAS_REQUIRE_CHROMIUM` is set), and
//! without the data kit likewise (`ATLAS_REQUIRE_DATA`). Set
//! `ARXIV_ATLAS_WEB_SCREENSHOT=docs/web-page.png` to keep a screenshot (and
//! `ARXIV_ATLAS_WEB_EMBEDDING_SCREENSHOT=docs/web-page-embedding.png` for the embedding model's page).

mod common;

use std::path::PathBuf;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_in_headless_chromium() {
    const TEST: &str = "web_page_in_headless_chromium";
    let root = atlas_testkit::repo_root();
    let script = root.join("tests/web/page.test.mjs");
    if atlas_testkit::web_test_dir(TEST, &root).is_none() {
        return;
    }
    let Some(f) = common::fixture(TEST) else { return };
    run_page(&root, &script, common::state(f, atlas_serve::ServerConfig::default()), f, false).await;
    // The same page on a server of embeddings and search only (no classifier).
    let mut b = atlas_serve::AppState::builder_without_model().taxonomy(f.taxonomy.clone());
    if let (Some(e), Some(i)) = (&f.embedder, &f.index) {
        b = b.embedder(e.clone()).index(i.clone());
    }
    if let Some(r) = common::recommender(f) {
        b = b.recommender(r);
    }
    run_page(&root, &script, b.build().unwrap(), f, true).await;
}

/// The same page serving an `embedding_lr` model trained by the pipeline on arxiv-mini: every category lists
/// its nearest training papers (links to arXiv) and the nearest papers' verdict; then the same model as a
/// folder from before calibration and stored training papers: the page falls back to no category set, says
/// why once, stops asking for sets, and shows the note about the missing papers — with no page error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_page_of_an_embedding_model_in_headless_chromium() {
    const TEST: &str = "web_page_of_an_embedding_model_in_headless_chromium";
    let root = atlas_testkit::repo_root();
    let script = root.join("tests/web/page.test.mjs");
    if atlas_testkit::web_test_dir(TEST, &root).is_none() {
        return;
    }
    let Some(f) = common::fixture(TEST) else { return };
    let Some(kit) = common::embedding_kit(TEST) else { return };
    let screenshot = std::env::var("ARXIV_ATLAS_WEB_EMBEDDING_SCREENSHOT").ok();
    let p = &f.papers[7];
    let query = serde_json::json!({"title": p.title, "abstract": p.abstract_text, "mode": "embedding"});
    run_script(&root, &script, common::served(&kit.run), query, screenshot.as_deref()).await;
    let query = serde_json::json!({"title": p.title, "abstract": p.abstract_text, "mode": "uncalibrated"});
    run_script(&root, &script, common::served(&kit.legacy), query, None).await;
}

/// Serves `state` on a free port and runs the page script against it.
async fn run_page(
    root: &std::path::Path,
    script: &std::path::Path,
    state: atlas_serve::AppState,
    f: &common::Fixture,
    search_only: bool,
) {
    let p = &f.papers[7];
    let query = serde_json::json!({"title": p.title, "abstract": p.abstract_text, "id": p.id,
        "search": "galaxy formation", "searchOnly": search_only});
    let screenshot = std::env::var("ARXIV_ATLAS_WEB_SCREENSHOT").ok().filter(|_| !search_only);
    run_script(root, script, state, query, screenshot.as_deref()).await;
}

/// Serves `state` on a free port and runs the page script with `query` against it, keeping a screenshot at
/// `screenshot` (relative to the repository root) when given.
async fn run_script(
    root: &std::path::Path,
    script: &std::path::Path,
    state: atlas_serve::AppState,
    query: serde_json::Value,
    screenshot: Option<&str>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(atlas_serve::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    let screenshot = screenshot.map(|s| {
        let p = PathBuf::from(s);
        if p.is_absolute() {
            p
        } else {
            root.join(p)
        }
    });
    let mut cmd = Command::new("node");
    cmd.arg(script).arg(&url).arg(query.to_string()).current_dir(root);
    if let Some(s) = &screenshot {
        cmd.arg(s);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert!(out.status.success(), "the web page test failed:\n{stdout}");
}
