//! Daily updates end to end: a day of new arXiv papers, given in the two forms arXiv publishes them in (an API
//! Atom feed and an OAI-PMH `arXiv` page), flows into a running `serve` without a restart and without a failed
//! request: `ingest --append-to`, `embed` (the cache serves the old papers), `index add`, then
//! `POST /v1/admin/reload` while clients keep searching and classifying; then a new model version moved into the
//! folder `serve --model` names, switched to by the next reload.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atlas_corpus::Paper;
use common::{http, http_with, last_json, ok, repo_root, Server};

const MINI: &str = "data/arxiv-mini.jsonl.gz";
const RECENT: &str = "data/recent-2025.jsonl.gz";
const INT8_GRAPH: &str = "models/all-MiniLM-L6-v2/onnx/model_qint8_avx2.onnx";
/// Papers of arxiv-mini in the served index before the update.
const OLD_PAPERS: usize = 400;
/// Papers of the day, half in each XML form.
const DAY_PAPERS: usize = 20;
const TOKEN: &str = "e2e-admin-token-0123456789abcdef";

/// Runs the binary, fails the test on an error, and returns the last JSON line of its output.
fn ok_json(args: &[&str]) -> serde_json::Value {
    last_json(&ok(args))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The papers as an arXiv API answer (`export.arxiv.org/api/query`).
fn atom_feed(papers: &[Paper]) -> String {
    let entries: String = papers
        .iter()
        .map(|p| {
            format!(
                "<entry><id>http://arxiv.org/abs/{}v2</id><updated>2025-06-01T00:00:00Z</updated>\
                 <published>{}T17:59:59Z</published><title>{}</title><summary>{}</summary>{}\
                 <arxiv:primary_category term=\"{}\" scheme=\"http://arxiv.org/schemas/atom\"/>{}</entry>\n",
                p.id,
                p.date.as_deref().unwrap_or("2025-01-02"),
                esc(&p.title),
                esc(&p.abstract_text),
                p.authors
                    .split(", ")
                    .map(|a| format!("<author><name>{}</name></author>", esc(a)))
                    .collect::<String>(),
                p.primary(),
                p.categories.iter().map(|c| format!("<category term=\"{c}\"/>")).collect::<String>(),
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" \
         xmlns:arxiv=\"http://arxiv.org/schemas/atom\">\n<title>arXiv Query</title>\n{entries}</feed>\n"
    )
}

/// The papers as one OAI-PMH `ListRecords` page in the `arXiv` metadata format.
fn oai_page(papers: &[Paper]) -> String {
    let records: String = papers
        .iter()
        .map(|p| {
            let authors: String = p
                .authors
                .split(", ")
                .map(|a| match a.rsplit_once(' ') {
                    Some((first, last)) => format!(
                        "<author><keyname>{}</keyname><forenames>{}</forenames></author>",
                        esc(last),
                        esc(first)
                    ),
                    None => format!("<author><keyname>{}</keyname></author>", esc(a)),
                })
                .collect();
            format!(
                "<record><header><identifier>oai:arXiv.org:{id}</identifier><datestamp>2025-06-01</datestamp>\
                 </header><metadata><arXiv xmlns=\"http://arxiv.org/OAI/arXiv/\"><id>{id}</id>\
                 <created>{}</created><authors>{authors}</authors><title>{}</title><categories>{}</categories>\
                 <abstract>{}</abstract></arXiv></metadata></record>\n",
                p.date.as_deref().unwrap_or("2025-01-02"),
                esc(&p.title),
                p.categories.join(" "),
                esc(&p.abstract_text),
                id = p.id,
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
         <ListRecords>\n{records}</ListRecords></OAI-PMH>\n"
    )
}

/// Starts `serve` on a free port with `args`, the admin token in the environment when `token` is given.
fn start_serve(args: &[&str], token: Option<&str>) -> (Server, u16) {
    let port = common::free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arxiv-atlas"));
    cmd.arg("serve")
        .args(args)
        .args(["--no-request-log", "--addr", &format!("127.0.0.1:{port}")])
        .current_dir(repo_root())
        .env("ARXIV_ATLAS_LOG", "warn")
        .env_remove(atlas_serve::ADMIN_TOKEN_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(t) = token {
        cmd.env(atlas_serve::ADMIN_TOKEN_ENV, t);
    }
    let mut server = Server(cmd.spawn().unwrap());
    common::wait_ready(&mut server, port);
    (server, port)
}

/// One client's answers: (sent, answered, status) per request.
type Answers = Vec<(Instant, Instant, u16, String)>;

/// A client that keeps searching and classifying (one request outstanding at a time) until `stop`.
fn client(port: u16, stop: Arc<AtomicBool>, seed: usize) -> std::thread::JoinHandle<Answers> {
    std::thread::spawn(move || {
        let mut answers = Vec::new();
        let mut i = seed;
        while !stop.load(Ordering::SeqCst) {
            let (path, body) = match i % 2 {
                0 => ("/v1/search", r#"{"text":"graph neural networks for molecules","k":5}"#),
                _ => (
                    "/v1/classify",
                    r#"{"title":"Dark matter halos","abstract":"N-body simulations of halos."}"#,
                ),
            };
            let sent = Instant::now();
            let (status, v) = http(port, "POST", path, Some(body));
            answers.push((sent, Instant::now(), status, format!("{path}: {v}")));
            i += 1;
        }
        answers
    })
}

/// `POST /v1/admin/reload` while two clients keep searching and classifying: asserts the reload answered 200,
/// every client request succeeded and some were in flight during the reload; returns the reload's answer.
fn reload_under_load(port: u16, auth: &str) -> serde_json::Value {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2).map(|i| client(port, stop.clone(), i)).collect();
    std::thread::sleep(Duration::from_millis(500));
    let reload_sent = Instant::now();
    let (status, _, report) = http_with(port, "POST", "/v1/admin/reload", &[("Authorization", auth)], None);
    let reload_done = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let answers: Answers = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert_eq!(status, 200, "{report}");
    let failed: Vec<_> = answers.iter().filter(|a| a.2 != 200).map(|a| &a.3).collect();
    assert!(failed.is_empty(), "requests failed around the reload: {failed:?}");
    let during = answers.iter().filter(|(sent, done, ..)| *sent < reload_done && *done > reload_sent).count();
    eprintln!("{} requests, {during} of them in flight during the reload: {report}", answers.len());
    assert!(during > 0, "no request overlapped the reload");
    report
}

#[test]
fn a_day_of_papers_reaches_a_running_server_without_a_failed_request() {
    let test = "a_day_of_papers_reaches_a_running_server_without_a_failed_request";
    if [MINI, RECENT, INT8_GRAPH].iter().any(|f| atlas_testkit::shared_file(test, f).is_none()) {
        return;
    }
    if !atlas_encoder::encoder::onnx_runtime_available() {
        let why = "the ONNX Runtime library is not installed (bash scripts/setup-onnxruntime.sh)";
        atlas_testkit::missing(atlas_testkit::Need::OnnxRuntime, test, why);
        return;
    }
    let root = atlas_testkit::shared_root();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (ds, cache, idx, run) = (p("dataset"), p("cache"), p("idx"), p("run"));
    let mini = root.join(MINI);

    // Yesterday's state: a dataset, its vectors, an index, a classifier; `serve` running with an admin token.
    ok_json(&["ingest", mini.to_str().unwrap(), "--out", &ds, "--limit", &OLD_PAPERS.to_string(), "--json"]);
    let emb1 = p("emb1");
    ok_json(&[
        "embed",
        "--input",
        &ds,
        "--out",
        &emb1,
        "--precision",
        "int8",
        "--cache-dir",
        &cache,
        "--json",
    ]);
    ok_json(&["index", "build", "--embeddings", &emb1, "--index", &idx, "--json"]);
    ok_json(&[
        "train",
        "data=mini",
        "data.max_samples=1500",
        "experiment.linear.epochs=2",
        &format!("data.cache_dir={}", p("train-cache")),
        &format!("run.dir={run}"),
        "--json",
    ]);
    let (mut server, port) = start_serve(&["--model", &run, "--index", &idx, "--workers", "2"], Some(TOKEN));
    let (_, info) = http(port, "GET", "/info", None);
    assert_eq!(info["index"]["count"], OLD_PAPERS, "{info}");

    // Today's papers: 20 of 2025 that the dataset lacks, half as an Atom feed, half as an OAI-PMH page that
    // also repeats two of the feed's papers and one old paper (duplicates, not added twice).
    let (old, _) = atlas_corpus::load_papers(Path::new(&ds), None).unwrap();
    let (recent, _) = atlas_corpus::load_papers(&root.join(RECENT), None).unwrap();
    let day: Vec<Paper> =
        recent.into_iter().filter(|r| !old.iter().any(|o| o.id == r.id)).take(DAY_PAPERS).collect();
    assert_eq!(day.len(), DAY_PAPERS);
    let (atom_part, oai_part) = day.split_at(DAY_PAPERS / 2);
    let repeated: Vec<Paper> = oai_part.iter().chain(&atom_part[..2]).chain(&old[..1]).cloned().collect();
    let (atom, oai) = (p("day.atom.xml"), p("day.oai.xml"));
    std::fs::write(&atom, atom_feed(atom_part)).unwrap();
    std::fs::write(&oai, oai_page(&repeated)).unwrap();

    // The runbook of docs/operations.md, in order.
    let appended = ok_json(&["ingest", &atom, &oai, "--append-to", &ds, "--json"]);
    assert_eq!(appended["duplicates"], 3, "{appended}");
    let emb2 = p("emb2");
    ok_json(&[
        "embed",
        "--input",
        &ds,
        "--out",
        &emb2,
        "--precision",
        "int8",
        "--cache-dir",
        &cache,
        "--json",
    ]);
    let added = ok_json(&["index", "add", "--index", &idx, "--embeddings", &emb2, "--json"]);
    assert_eq!(added["added"], DAY_PAPERS, "{added}");

    // The running server does not know them yet.
    let probe = format!("/v1/papers/{}", day[0].id);
    assert_eq!(http(port, "GET", &probe, None).0, 404, "served before the reload");

    // Without the token, or with another: 401 and the scheme to use; nothing reloaded.
    for headers in [vec![], vec![("Authorization", "Bearer not-the-token-0123456789")]] {
        let (status, head, body) = http_with(port, "POST", "/v1/admin/reload", &headers, None);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert!(head.to_ascii_lowercase().contains("www-authenticate: bearer"), "{head}");
    }

    // The reload, while two clients keep searching and classifying.
    let auth = format!("Bearer {TOKEN}");
    let report = reload_under_load(port, &auth);
    assert_eq!(report["papers_before"], OLD_PAPERS, "{report}");
    assert_eq!(report["papers_after"], OLD_PAPERS + DAY_PAPERS, "{report}");
    assert_eq!(report["model_reloaded"], false, "the model folder did not change: {report}");
    assert!(report["model"].is_string() && report["took_ms"].is_number(), "{report}");

    // Every paper of the day is served now: by id, and as the best match of its own title and abstract.
    for paper in &day {
        let (status, got) = http(port, "GET", &format!("/v1/papers/{}", paper.id), None);
        assert_eq!((status, got["title"].as_str()), (200, Some(paper.title.as_str())), "{got}");
        let query = serde_json::json!({"title": paper.title, "abstract": paper.abstract_text, "k": 3});
        let (status, found) = http(port, "POST", "/v1/search", Some(&query.to_string()));
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["results"][0]["id"], paper.id.as_str(), "{found}");
    }
    let (_, metrics) = http(port, "GET", "/metrics", None);
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains("atlas_reloads_total{outcome=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains(&format!("atlas_index_papers {}", OLD_PAPERS + DAY_PAPERS)), "{metrics}");

    // A new model version in the folder `serve --model` names (a second training, moved into place): the next
    // reload loads it beside the old one and switches, again without a failed request.
    let run2 = p("run2");
    ok_json(&[
        "train",
        "data=mini",
        "data.max_samples=1200",
        "experiment.linear.epochs=1",
        &format!("data.cache_dir={}", p("train-cache")),
        &format!("run.dir={run2}"),
        "--json",
    ]);
    std::fs::rename(&run, p("run-old")).unwrap();
    std::fs::rename(&run2, &run).unwrap();
    let swapped = reload_under_load(port, &auth);
    assert_eq!(swapped["model_reloaded"], true, "{swapped}");
    assert_ne!(swapped["model"], report["model"], "{swapped}");
    assert_eq!(swapped["papers_after"], OLD_PAPERS + DAY_PAPERS, "{swapped}");
    let (_, info) = http(port, "GET", "/info", None);
    assert_eq!(info["model"]["version"], swapped["model"], "{info}");

    // A server started without a token has no admin routes.
    let (mut other, other_port) = start_serve(&["--index", &idx], None);
    let (status, _, body) =
        http_with(other_port, "POST", "/v1/admin/reload", &[("Authorization", &auth)], None);
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("admin_disabled")), "{body}");
    let _ = other.0.kill();
    let _ = other.0.wait();

    // A damaged index (one byte of its largest file flipped: a checksum mismatch) fails the reload; the server
    // keeps serving what it had. The damaged copy replaces the file by a rename, as a writer would, so the
    // served generation's open file is not changed under it.
    let largest = std::fs::read_dir(&idx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.is_file())
        .max_by_key(|f| f.metadata().unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&largest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    let damaged = largest.with_extension("damaged");
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::rename(&damaged, &largest).unwrap();
    let (status, _, body) = http_with(port, "POST", "/v1/admin/reload", &[("Authorization", &auth)], None);
    assert_eq!((status, body["error"]["code"].as_str()), (500, Some("reload_failed")), "{body}");
    assert_eq!(http(port, "GET", &probe, None).0, 200, "the previous state still serves");
    let (_, info) = http(port, "GET", "/info", None);
    assert_eq!(info["index"]["count"], OLD_PAPERS + DAY_PAPERS, "{info}");
    let (_, metrics) = http(port, "GET", "/metrics", None);
    assert!(metrics.as_str().unwrap_or_default().contains("atlas_reloads_total{outcome=\"failed\"} 1"));

    let killed = Command::new("kill").args(["-TERM", &server.0.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(server.0.wait().unwrap().success(), "serve stops cleanly after reloads");
}
