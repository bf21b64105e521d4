//! A self-contained demo server: a TF-IDF model trained on arxiv-mini at start-up, the real MiniLM encoder, and
//! an exact in-memory index over the first papers' real vectors (the test fixture). Useful to try search and
//! the web page before an index is built with the atlas-index backends.
//!
//! `cargo run --release -p atlas-serve --example demo_server -- 127.0.0.1:8080` (needs `../shared`).

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8080".into());
    let Some(f) = common::fixture("demo_server") else {
        eprintln!("the demo needs ../shared/data/arxiv-mini.jsonl.gz");
        std::process::exit(1);
    };
    let state = common::state(f, atlas_serve::ServerConfig::default());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("binding the address");
    println!("listening on http://{}", listener.local_addr().unwrap());
    if let Err(e) = atlas_serve::serve(listener, state, atlas_serve::shutdown_signal()).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
