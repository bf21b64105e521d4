//! Router-level tests. Validation, errors, operations and batching run on the tiny in-test fixture (a TF-IDF
//! model trained here on synthetic papers, a word-hashing embedder, an in-memory index) and need nothing
//! from `../shared`; the tests of real answers use the real TF-IDF model, the real MiniLM encoder and real
//! paper vectors, and skip without the data kit (fail where `ATLAS_REQUIRE_DATA` is set).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atlas_classify::{Labels, Probabilities};
use atlas_serve::{AppState, BatchConfig, Model, ModelError, ModelInfo, ServerConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    body: impl Into<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, bytes.to_vec())
}

async fn call_json(app: &Router, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let (s, _, b) = call(app, method, path, body.to_string()).await;
    (s, serde_json::from_slice(&b).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&b))))
}

/// Asserts an error answer has the JSON error shape and returns (code, field).
fn error_of(status: StatusCode, body: &[u8]) -> (String, Option<String>) {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(body)));
    let code =
        v["error"]["code"].as_str().unwrap_or_else(|| panic!("{status}: no error.code in {v}")).to_string();
    assert!(v["error"]["message"].is_string(), "{status}: no error.message in {v}");
    (code, v["error"]["field"].as_str().map(str::to_string))
}

/// A router over the tiny fixture with the default settings.
fn tiny_app() -> Router {
    atlas_serve::router(common::state(common::tiny(), ServerConfig::default()))
}

/// A router over the real fixture, or `None` after `test` was reported skipped.
#[track_caller]
fn real_app(test: &str) -> Option<(Router, &'static common::Fixture)> {
    let f = common::fixture(test)?;
    Some((atlas_serve::router(common::state(f, ServerConfig::default())), f))
}

const TITLE: &str = "Dark matter halo density profiles in cosmological N-body simulations";
const ABSTRACT: &str =
    "We study the density profiles of dark matter halos formed in high-resolution cosmological \
    simulations of structure formation, and compare them with galaxy rotation curves.";

#[tokio::test]
async fn classify_one_paper() {
    let Some((app, f)) = real_app("classify_one_paper") else { return };
    let (s, v) =
        call_json(&app, "POST", "/v1/classify", json!({"title": TITLE, "abstract": ABSTRACT, "top_k": 3}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let probs = v["probabilities"].as_array().unwrap();
    assert_eq!(probs.len(), 3);
    assert_eq!(v["category"], probs[0]["category"]);
    // A real classifier: an astrophysics category is among the top 3 for a dark-matter abstract.
    assert!(probs.iter().any(|p| p["category"].as_str().unwrap().starts_with("astro-ph")), "{v}");
    assert!(!v["name"].as_str().unwrap().is_empty());
    assert_eq!(v["model"], "tfidf_linear@test");
    // Same numbers as the model called directly.
    let text = atlas_corpus::Paper::from_text(TITLE, ABSTRACT).text(&atlas_corpus::TextTemplate::default());
    let direct = f.model.predict(&[text]).unwrap();
    let (best, p) = direct.top_k(0, 1)[0];
    assert_eq!(v["category"], f.model.labels().codes[best]);
    assert!((v["probability"].as_f64().unwrap() - f64::from(p)).abs() < 1e-6);
    // All classes when top_k is large; they sum to 1.
    let (_, v) = call_json(&app, "POST", "/v1/classify", json!({"title": TITLE, "top_k": 100000})).await;
    let all = v["probabilities"].as_array().unwrap();
    assert_eq!(all.len(), f.model.labels().len());
    let sum: f64 = all.iter().map(|p| p["probability"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-3, "{sum}");
}

#[tokio::test]
async fn classify_batch_matches_single() {
    let (app, f) = (tiny_app(), common::tiny());
    let papers: Vec<Value> = [0, 9, 18, 27]
        .iter()
        .map(|&i| json!({"title": f.papers[i].title, "abstract": f.papers[i].abstract_text}))
        .collect();
    let (s, v) = call_json(&app, "POST", "/v1/classify/batch", json!({"papers": papers, "top_k": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (p, r) in papers.iter().zip(results) {
        let (_, one) = call_json(
            &app,
            "POST",
            "/v1/classify",
            json!({"title": p["title"], "abstract": p["abstract"], "top_k": 2}),
        )
        .await;
        assert_eq!(one["category"], r["category"]);
        let (a, b) = (one["probability"].as_f64().unwrap(), r["probability"].as_f64().unwrap());
        assert!((a - b).abs() < 1e-5);
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = tiny_app();
    let cases: Vec<(Value, u16, &str, Option<&str>)> = vec![
        (json!({"title": "   ", "abstract": "x"}), 422, "empty_text", Some("title")),
        (json!({"abstract": "x"}), 422, "missing_field", Some("title")),
        (json!({"title": 5}), 422, "invalid_field", Some("title")),
        (json!({"title": "a", "top_k": 0}), 422, "invalid_field", Some("top_k")),
        (json!({"title": "a", "top_k": -1}), 422, "invalid_field", Some("top_k")),
        (json!({"title": "a", "top_k": 1e300}), 422, "invalid_field", Some("top_k")),
        (json!({"title": "a", "top_k": 2147483648u64}), 422, "invalid_field", Some("top_k")),
        (json!({"title": "a", "top_k": 1.5}), 422, "invalid_field", Some("top_k")),
        (json!({"title": "a", "abstract": null}), 422, "invalid_field", Some("abstract")),
        (json!({"title": "a", "abstract": "x".repeat(20_001)}), 422, "too_long", Some("abstract")),
        (json!({"title": "a", "abstrct": "typo"}), 422, "unknown_field", Some("abstrct")),
        (json!(["title"]), 422, "invalid_body", None),
    ];
    for (body, status, code, field) in cases {
        let (s, _, b) = call(&app, "POST", "/v1/classify", body.to_string()).await;
        assert_eq!(s.as_u16(), status, "{body}: {}", String::from_utf8_lossy(&b));
        let (c, fld) = error_of(s, &b);
        assert_eq!((c.as_str(), fld.as_deref()), (code, field), "{body}");
    }
    let (s, _, b) = call(
        &app,
        "POST",
        "/v1/classify/batch",
        json!({"papers": [{"title": "a"}, {"title": ""}]}).to_string(),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(error_of(s, &b).1.as_deref(), Some("papers[1].title"));
    let (s, _, b) = call(&app, "POST", "/v1/classify/batch", json!({"papers": []}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "empty_list"));
    let (s, _, b) = call(&app, "POST", "/v1/classify", b"{\"title\": \"caf\xe9\"}".to_vec()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (400, "invalid_utf8"));
    let (s, _, b) = call(&app, "POST", "/v1/classify", "{\"title\": \"a\"").await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (400, "invalid_json"));
    let (s, _, b) = call(&app, "POST", "/v1/classify", "").await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (400, "empty_body"));
    let (s, _, b) =
        call(&app, "POST", "/v1/search", json!({"text": "x", "category": "cs.NOPE"}).to_string()).await;
    assert_eq!(s, 422);
    assert_eq!(error_of(s, &b), ("unknown_category".into(), Some("category".into())));
    let (s, _, b) =
        call(&app, "POST", "/v1/search", json!({"text": "x", "years": [2020, 70000]}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("years")));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "k": 101}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("k")));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "k": 2.5}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("k")));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "category": []}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "empty_list"));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "abstract": "y"}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("title")));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "id": "y"}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "conflicting_fields"));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"text": "x", "k": 0}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("k")));
    let (s, _, b) = call(&app, "POST", "/v1/search", json!({"k": 3}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "missing_field"));
    let (s, _, b) = call(&app, "POST", "/v1/embed", json!({"texts": ["ok", " "]}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("texts[1]")));
    let (s, _, b) =
        call(&app, "POST", "/v1/embed", json!({"texts": ["a"], "papers": [{"title": "b"}]}).to_string())
            .await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "conflicting_fields"));
    let (s, _, b) =
        call(&app, "POST", "/v1/embeddings", json!({"input": "x", "encoding_format": "int8"}).to_string())
            .await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("encoding_format")));
    // A paper is a JSON object, not a list of its field values.
    let (s, _, b) =
        call(&app, "POST", "/v1/classify/batch", json!({"papers": [["A title", "An abstract"]]}).to_string())
            .await;
    assert_eq!((s.as_u16(), error_of(s, &b).1.as_deref()), (422, Some("papers[0]")));
    let (s, _, b) =
        call(&app, "POST", "/v1/classify", json!(["A title", "An abstract", 3]).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (422, "invalid_body"));
    // Routing errors are JSON too.
    let (s, _, b) = call(&app, "GET", "/v2/nothing", Body::empty()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (404, "not_found"));
    let (s, h, b) = call(&app, "GET", "/v1/classify", Body::empty()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (405, "method_not_allowed"));
    assert!(h.get(header::ALLOW).is_some());
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let config = ServerConfig { body_limit: 1000, ..ServerConfig::default() };
    let app = atlas_serve::router(common::state(common::tiny(), config));
    let (s, _, b) = call(&app, "POST", "/v1/classify", json!({"title": "a".repeat(5000)}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (413, "payload_too_large"));
}

/// What JSON Schema calls an integer is one: 3.0 for `top_k` and `k`, years written as floats.
#[tokio::test]
async fn integral_floats_are_integers() {
    let app = tiny_app();
    let (s, v) =
        call_json(&app, "POST", "/v1/classify", json!({"title": "neural networks", "top_k": 3.0})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["probabilities"].as_array().unwrap().len(), 3);
    let (s, v) = call_json(
        &app,
        "POST",
        "/v1/search",
        json!({"text": "galaxy dark matter", "k": 2.0, "years": [1990.0, 2.03e3]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
}

/// `years: [from, to]` with `from` after `to` is an empty range: no results, not an error (the schema cannot
/// compare the two items, so it accepts the pair).
#[tokio::test]
async fn a_reversed_year_range_matches_nothing() {
    let app = tiny_app();
    let (s, v) =
        call_json(&app, "POST", "/v1/search", json!({"text": "galaxy", "years": [2020, 2010]})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"], json!([]));
    let (_, v) =
        call_json(&app, "POST", "/v1/search", json!({"text": "galaxy", "years": [2010, 2020]})).await;
    assert!(!v["results"].as_array().unwrap().is_empty(), "{v}");
}

/// `encoding_format: "base64"` (what the OpenAI client libraries ask for when the caller does not choose) is
/// the little-endian float32 bytes of the same vector.
#[tokio::test]
async fn openai_base64_vectors_are_the_float_vectors() {
    use base64::Engine;
    let app = tiny_app();
    let input = json!(["neural gradient", "dark matter halo"]);
    let (s, floats) = call_json(&app, "POST", "/v1/embeddings", json!({"input": input})).await;
    assert_eq!(s, StatusCode::OK, "{floats}");
    let (s, b64) =
        call_json(&app, "POST", "/v1/embeddings", json!({"input": input, "encoding_format": "base64"})).await;
    assert_eq!(s, StatusCode::OK, "{b64}");
    for (f, b) in floats["data"].as_array().unwrap().iter().zip(b64["data"].as_array().unwrap()) {
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(b["embedding"].as_str().unwrap()).unwrap();
        let decoded: Vec<f32> =
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        // JSON holds each f32 in its shortest decimal form, which reads back as the same f32.
        let want: Vec<f32> =
            f["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        assert_eq!(decoded, want);
    }
    assert_eq!(floats["usage"], b64["usage"]);
}

#[tokio::test]
async fn embed_and_openai_embeddings() {
    let Some((app, f)) = real_app("embed_and_openai_embeddings") else { return };
    let enc = common::encoder(f);
    let (s, v) =
        call_json(&app, "POST", "/v1/embed", json!({"texts": ["graph neural networks", "dark matter"]}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["dim"], 384);
    let rows = v["embeddings"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let direct = enc.embed(&["graph neural networks".to_string()]).unwrap();
    let got: Vec<f32> = rows[0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    assert!(atlas_encoder::cosine(&got, direct.row(0)) > 0.9999);
    let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3);

    let (s, v) =
        call_json(&app, "POST", "/v1/embed", json!({"papers": [{"title": TITLE, "abstract": ABSTRACT}]}))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 1);

    let (s, v) = call_json(
        &app,
        "POST",
        "/v1/embeddings",
        json!({"input": "graph neural networks", "model": "whatever"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["object"], "embedding");
    assert_eq!(v["data"][0]["index"], 0);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 384);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() >= 3);
    let (_, v) = call_json(&app, "POST", "/v1/embeddings", json!({"input": ["a", "b", "c"]})).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    // With the real tokenizer: a request of several texts is charged the sum of what each costs alone.
    let texts =
        ["graph neural networks", "dark matter", "a study of the cosmic microwave background anisotropies"];
    let (_, v) = call_json(&app, "POST", "/v1/embeddings", json!({"input": texts})).await;
    let mut alone = 0;
    for t in texts {
        let (_, one) = call_json(&app, "POST", "/v1/embeddings", json!({"input": t})).await;
        alone += one["usage"]["prompt_tokens"].as_u64().unwrap();
    }
    assert_eq!(v["usage"]["prompt_tokens"].as_u64(), Some(alone), "{}", v["usage"]);
}

/// `usage.prompt_tokens` is the sum of the request's own texts' tokens (5 + 3 + 3 with the test embedder's
/// words + [CLS] + [SEP]), not the batch's total spread evenly over its rows.
#[tokio::test]
async fn openai_usage_counts_each_requests_own_tokens() {
    let app = tiny_app();
    let input = ["one two three", "a", "b"];
    assert_eq!(input.map(common::HashEmbedder::tokens), [5, 3, 3]);
    let (s, v) = call_json(&app, "POST", "/v1/embeddings", json!({"input": input})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["usage"]["prompt_tokens"].as_u64(), v["usage"]["total_tokens"].as_u64()),
        (Some(11), Some(11))
    );
    let (_, v) = call_json(&app, "POST", "/v1/embed", json!({"texts": input})).await;
    assert_eq!(v["tokens"], 11);
}

#[tokio::test]
async fn search_by_text_paper_and_id() {
    let Some((app, f)) = real_app("search_by_text_paper_and_id") else { return };
    let target = &f.papers[5];
    // A paper's own text finds itself first.
    let (s, v) = call_json(
        &app,
        "POST",
        "/v1/search",
        json!({"title": target.title, "abstract": target.abstract_text, "k": 5}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["id"], target.id.as_str());
    assert!(results[0]["score"].as_f64().unwrap() > 0.99);
    assert_eq!(results[0]["url"], format!("https://arxiv.org/abs/{}", target.id));
    let scores: Vec<f64> = results.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // By id: the stored vector, the paper itself left out, the same neighbours otherwise.
    let (s, v) = call_json(&app, "POST", "/v1/search", json!({"id": target.id, "k": 4})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let by_id: Vec<&str> =
        v["results"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(by_id.len(), 4);
    assert!(!by_id.contains(&target.id.as_str()));
    let by_text: Vec<&str> = results[1..].iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(by_id[..3], by_text[..3]);
    // Filters.
    let cat = target.primary().to_string();
    let (_, v) =
        call_json(&app, "POST", "/v1/search", json!({"text": "a survey", "k": 10, "category": cat})).await;
    for r in v["results"].as_array().unwrap() {
        assert!(r["categories"].as_array().unwrap().iter().any(|c| c == cat.as_str()), "{r}");
    }
    let (_, v) =
        call_json(&app, "POST", "/v1/search", json!({"text": "a survey", "k": 10, "years": [2000, 2005]}))
            .await;
    for r in v["results"].as_array().unwrap() {
        let y = r["year"].as_u64().unwrap();
        assert!((2000..=2005).contains(&y), "{r}");
    }
    // Unknown id.
    let (s, v) = call_json(&app, "POST", "/v1/search", json!({"id": "9999.99999"})).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (404, Some("paper_not_found")));
}

#[tokio::test]
async fn papers_by_id() {
    let Some((app, f)) = real_app("papers_by_id") else { return };
    let p = &f.papers[3];
    let (s, v) = call_json(&app, "GET", &format!("/v1/papers/{}", p.id), json!(null)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["id"].as_str(), v["title"].as_str()), (Some(p.id.as_str()), Some(p.title.as_str())));
    assert!(v["category_name"].is_string());
    // Old-style ids hold a slash: still this route, answered "not in the index", not "no such route".
    let (s, v) = call_json(&app, "GET", "/v1/papers/hep-th/9901001", json!(null)).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (404, Some("paper_not_found")));
}

#[tokio::test]
async fn search_without_index_is_503() {
    let state = AppState::builder(common::tiny().model.clone()).build().unwrap();
    let app = atlas_serve::router(state);
    let (s, v) = call_json(&app, "POST", "/v1/search", json!({"text": "x"})).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (503, Some("index_unavailable")));
    let (s, v) = call_json(&app, "POST", "/v1/embed", json!({"texts": ["x"]})).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (503, Some("encoder_unavailable")));
    let (s, v) = call_json(&app, "GET", "/ready", json!(null)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["index"].as_bool(), v["encoder"].as_bool()), (Some(false), Some(false)));
}

/// `serve --index DIR` without `--model`: embeddings and search work, classify answers 503 `model_unavailable`
/// (after validating the body), and `/info` and `/ready` say no classifier is loaded.
#[tokio::test]
async fn a_server_without_a_classifier_serves_search_and_refuses_classify() {
    let f = common::tiny();
    let b = AppState::builder_without_model().taxonomy(f.taxonomy.clone());
    let b =
        b.embedder(f.embedder.clone().expect("tiny embedder")).index(f.index.clone().expect("tiny index"));
    let app = atlas_serve::router(b.build().unwrap());
    let paper = json!({"title": "Galaxy survey", "abstract": "We observe galaxies."});
    let (s, v) = call_json(&app, "POST", "/v1/classify", paper.clone()).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (503, Some("model_unavailable")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("--model"), "{v}");
    let (s, v) = call_json(&app, "POST", "/v1/classify/batch", json!({"papers": [paper]})).await;
    assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (503, Some("model_unavailable")), "{v}");
    // A bad body is still a 422: validation comes before the missing part.
    let (s, _) = call_json(&app, "POST", "/v1/classify", json!({"title": " "})).await;
    assert_eq!(s.as_u16(), 422);
    let (s, v) = call_json(&app, "POST", "/v1/search", json!({"text": "galaxy", "k": 2})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let (s, v) = call_json(&app, "POST", "/v1/embed", json!({"texts": ["galaxy"]})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, info) = call_json(&app, "GET", "/info", json!(null)).await;
    assert!(info["model"].is_null() && info["classes"] == 0, "{info}");
    let (s, ready) = call_json(&app, "GET", "/ready", json!(null)).await;
    assert_eq!(
        (s, ready["model"].as_bool(), ready["index"].as_bool()),
        (StatusCode::OK, Some(false), Some(true))
    );
}

#[test]
fn a_server_with_nothing_to_serve_is_refused() {
    let err = AppState::builder_without_model().build().err().expect("an error").to_string();
    assert!(err.contains("nothing to serve"), "{err}");
}

#[tokio::test]
async fn ops_endpoints() {
    let (app, f) = (tiny_app(), common::tiny());
    let (s, v) = call_json(&app, "GET", "/health", json!(null)).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = call_json(&app, "GET", "/ready", json!(null)).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, v) = call_json(&app, "GET", "/info", json!(null)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["model"]["version"], "tfidf_linear@test");
    assert_eq!(v["model"]["kind"], "arxiv-atlas/tfidf-linear");
    assert_eq!(v["classes"].as_u64().unwrap() as usize, f.model.labels().len());
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    call_json(&app, "POST", "/v1/classify", json!({"title": TITLE})).await;
    let (s, h, b) = call(&app, "GET", "/metrics", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let text = String::from_utf8(b).unwrap();
    for needle in [
        "http_requests_total{route=\"/v1/classify\",method=\"POST\",status=\"200\"}",
        "http_request_duration_seconds_bucket{route=\"/v1/classify\"",
        "atlas_batch_size_bucket",
        "atlas_inference_seconds_bucket",
        "atlas_queue_depth",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
    let (s, h, b) = call(&app, "GET", "/", Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(h[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    let page = String::from_utf8(b).unwrap();
    assert!(
        page.contains("id=\"classify-form\"") && page.contains("renderChart") && !page.contains("/*SCRIPT*/")
    );
    assert!(!page.contains("http://") && !page.contains("cdn"), "the page must not load anything remote");
    let (s, _, b) = call(&app, "GET", "/docs/", Body::empty()).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes() {
    let app = tiny_app();
    let (s, spec) = call_json(&app, "GET", "/openapi.json", json!(null)).await;
    assert_eq!(s, StatusCode::OK);
    let mut in_spec: Vec<(String, String)> = Vec::new();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            in_spec.push((method.to_uppercase(), path.clone()));
        }
    }
    in_spec.sort();
    let mut routed: Vec<(String, String)> =
        atlas_serve::route_list().into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    routed.sort();
    assert_eq!(routed, in_spec);
    // Each documented route answers something other than "no such route".
    for (m, p) in &routed {
        let (s, _, b) = call(&app, m, &p.replace("{id}", "x"), "{}").await;
        let not_routed = s == StatusCode::NOT_FOUND && error_of(s, &b).0 == "not_found";
        assert!(!not_routed, "{m} {p} is documented but not routed");
    }
}

/// A model that blocks until released, and counts its calls.
struct GatedModel {
    labels: Labels,
    info: ModelInfo,
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
    entered: AtomicUsize,
    panic: bool,
}

impl GatedModel {
    fn new(panic: bool) -> (Arc<GatedModel>, std::sync::mpsc::Sender<()>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let m = GatedModel {
            labels: Labels {
                codes: vec!["cs.LG".into(), "math.ST".into()],
                names: vec!["Machine Learning".into(), "Statistics Theory".into()],
            },
            info: ModelInfo {
                version: "gated".into(),
                kind: "test".into(),
                template: atlas_corpus::TextTemplate::default(),
                dir: String::new(),
            },
            gate: Mutex::new(rx),
            entered: AtomicUsize::new(0),
            panic,
        };
        (Arc::new(m), tx)
    }
}

impl Model for GatedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        if self.panic {
            panic!("model bug");
        }
        let _ = self.gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
        Ok(Probabilities { n_classes: 2, data: texts.iter().flat_map(|_| [0.75, 0.25]).collect() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_429_then_recovers() {
    let (model, release) = GatedModel::new(false);
    let config = ServerConfig {
        batch: BatchConfig { max_batch_size: 1, queue_capacity: 1, workers: 1, ..BatchConfig::default() },
        retry_after_s: 2,
        ..ServerConfig::default()
    };
    let state = AppState::builder(model.clone()).config(config).build().unwrap();
    let app = atlas_serve::router(state.clone());
    let body = json!({"title": "x"}).to_string();
    // 1st request: taken by the worker, which blocks in the model.
    let a1 = {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { call(&app, "POST", "/v1/classify", body).await })
    };
    while model.entered.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 2nd: waits in the queue (capacity 1).
    let a2 = {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { call(&app, "POST", "/v1/classify", body).await })
    };
    while state.queue_depth() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 3rd: refused at once.
    let (s, h, b) = call(&app, "POST", "/v1/classify", body.clone()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error_of(s, &b).0, "queue_full");
    assert_eq!(h[header::RETRY_AFTER], "2");
    release.send(()).unwrap();
    release.send(()).unwrap();
    assert_eq!(a1.await.unwrap().0, StatusCode::OK);
    assert_eq!(a2.await.unwrap().0, StatusCode::OK);
    release.send(()).unwrap();
    let (s, _, _) = call(&app, "POST", "/v1/classify", body).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_504() {
    let (model, release) = GatedModel::new(false);
    let config = ServerConfig { request_timeout: Duration::from_millis(200), ..ServerConfig::default() };
    let app = atlas_serve::router(AppState::builder(model).config(config).build().unwrap());
    let (s, _, b) = call(&app, "POST", "/v1/classify", json!({"title": "x"}).to_string()).await;
    assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (504, "timeout"));
    release.send(()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_model_is_a_json_500_and_the_worker_survives() {
    let (model, _release) = GatedModel::new(true);
    let state = AppState::builder(model.clone()).build().unwrap();
    let app = atlas_serve::router(state);
    for _ in 0..2 {
        let (s, _, b) = call(&app, "POST", "/v1/classify", json!({"title": "x"}).to_string()).await;
        assert_eq!((s.as_u16(), error_of(s, &b).0.as_str()), (500, "inference_failed"));
    }
    assert_eq!(model.entered.load(Ordering::SeqCst), 2);
}

/// Concurrent requests are merged into shared model calls: the test's own model counts its calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_batches() {
    const REQUESTS: usize = 16;
    let (model, release) = GatedModel::new(false);
    // Every call may go through at once: the gate only counts here.
    for _ in 0..REQUESTS {
        release.send(()).unwrap();
    }
    let config = ServerConfig {
        batch: BatchConfig {
            max_wait: Duration::from_millis(50),
            max_batch_size: 64,
            ..BatchConfig::default()
        },
        ..ServerConfig::default()
    };
    let app = atlas_serve::router(AppState::builder(model.clone()).config(config).build().unwrap());
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let app = app.clone();
            let body = json!({"title": format!("paper {i}")}).to_string();
            tokio::spawn(async move { call(&app, "POST", "/v1/classify", body).await.0 })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    let calls = model.entered.load(Ordering::SeqCst);
    assert!((1..REQUESTS).contains(&calls), "{REQUESTS} requests took {calls} model calls: none was shared");
}

/// A model with no conformal calibration: uniform probabilities over two classes.
struct UncalibratedModel {
    info: ModelInfo,
    labels: Labels,
}

impl Model for UncalibratedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        Ok(Probabilities { n_classes: 2, data: vec![0.5; 2 * texts.len()] })
    }
}

/// `coverage` returns a nonempty set led by the top category (single and batch); a coverage outside (0, 1) is
/// a 422 naming the field; a model without a conformal calibration answers 503 `calibration_unavailable`,
/// while the same request without `coverage` still works.
#[tokio::test]
async fn coverage_returns_a_category_set() {
    let app = tiny_app();
    let (s, v) =
        call_json(&app, "POST", "/v1/classify", json!({"title": "galaxy halo", "coverage": 0.9})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["coverage"], 0.9);
    let set = v["category_set"].as_array().unwrap();
    assert!(!set.is_empty());
    assert_eq!(set[0]["category"], v["category"]);
    let body = json!({"papers": [{"title": "galaxy"}, {"title": "neural network"}], "coverage": 0.5});
    let (s, v) = call_json(&app, "POST", "/v1/classify/batch", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| !r["category_set"].as_array().unwrap().is_empty()));
    // Without `coverage` the answer has no set fields at all.
    let (_, v) = call_json(&app, "POST", "/v1/classify", json!({"title": "galaxy halo"})).await;
    assert!(v.get("category_set").is_none() && v.get("coverage").is_none(), "{v}");
    for bad in [json!(0), json!(1.0), json!(-0.1), json!(1.5)] {
        let (s, _, b) =
            call(&app, "POST", "/v1/classify", json!({"title": "x", "coverage": bad}).to_string()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(error_of(s, &b).1.as_deref(), Some("coverage"));
    }

    let model = Arc::new(UncalibratedModel {
        info: ModelInfo {
            version: "uncalibrated".into(),
            kind: "test".into(),
            template: atlas_corpus::TextTemplate::default(),
            dir: "(in memory)".into(),
        },
        labels: Labels { codes: vec!["a".into(), "b".into()], names: vec!["A".into(), "B".into()] },
    });
    let app = atlas_serve::router(AppState::builder(model).build().unwrap());
    let (s, _, b) =
        call(&app, "POST", "/v1/classify", json!({"title": "x", "coverage": 0.9}).to_string()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_of(s, &b).0, "calibration_unavailable");
    let (s, _) = call_json(&app, "POST", "/v1/classify", json!({"title": "x"})).await;
    assert_eq!(s, StatusCode::OK);
}

/// `explain: true` lists, for every category of the answer (same order), terms of the paper that carry a
/// positive contribution to it; the top category of a TF-IDF model has some. Without it the field is absent.
#[tokio::test]
async fn explain_returns_supporting_terms_per_category() {
    let app = tiny_app();
    let title = "galaxy halo simulations";
    let (s, v) =
        call_json(&app, "POST", "/v1/classify", json!({"title": title, "top_k": 2, "explain": true})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let explanations = v["explanations"].as_array().unwrap();
    let codes: Vec<&Value> = v["probabilities"].as_array().unwrap().iter().map(|p| &p["category"]).collect();
    assert_eq!(explanations.iter().map(|e| &e["category"]).collect::<Vec<_>>(), codes);
    assert!(!explanations[0]["terms"].as_array().unwrap().is_empty(), "{v}");
    for term in explanations.iter().flat_map(|e| e["terms"].as_array().unwrap()) {
        assert!(term["contribution"].as_f64().unwrap() > 0.0, "{term}");
        let t = term["term"].as_str().unwrap();
        assert!(t.split(' ').all(|w| title.contains(w)), "{t} is not in the paper");
    }
    let body = json!({"papers": [{"title": "galaxy"}, {"title": "neural network"}], "explain": true});
    let (s, v) = call_json(&app, "POST", "/v1/classify/batch", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["explanations"].is_array()));
    let (_, v) = call_json(&app, "POST", "/v1/classify", json!({"title": title})).await;
    assert!(v.get("explanations").is_none(), "{v}");
}

/// An embedding model served as `serve --model` serves it: `explain: true` lists, for each category of the
/// answer, the nearest training papers of that category (links to arXiv), and the nearest papers of any
/// category with whether they agree; a model folder saved before training papers were stored answers with
/// a note instead (never an error). Trains `embedding_lr` on arxiv-mini (skips without the data kit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedding_model_explains_by_its_nearest_training_papers() {
    let Some(kit) = common::embedding_kit("an_embedding_model_explains_by_its_nearest_training_papers")
    else {
        return;
    };
    let app = atlas_serve::router(common::served(&kit.run));
    let paper = json!({"title": "Dark matter halo profiles in cosmological simulations",
        "abstract": "We measure the density profiles of dark matter haloes in N-body simulations.",
        "top_k": 3, "explain": true});
    let (s, v) = call_json(&app, "POST", "/v1/classify", paper.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let explanations = v["explanations"].as_array().unwrap();
    assert_eq!(explanations.len(), 3);
    for e in explanations {
        let neighbours = e["neighbours"].as_array().unwrap();
        assert_eq!(neighbours.len(), 3, "{e}");
        for n in neighbours {
            assert_eq!(n["category"], e["category"], "{e}");
            let id = n["id"].as_str().unwrap();
            assert_eq!(n["url"].as_str().unwrap(), format!("https://arxiv.org/abs/{id}"));
            assert!(n["cosine"].as_f64().unwrap() > 0.0, "{n}");
        }
    }
    let nearest = &v["nearest"];
    assert_eq!(nearest["papers"].as_array().unwrap().len(), 10, "{v}");
    assert_eq!(nearest["agrees"].as_bool().unwrap(), nearest["majority"] == v["category"], "{v}");
    assert!(v.get("explanation_note").is_none(), "{v}");
    // Batch answers carry the same per paper; without `explain` none of it.
    let body =
        json!({"papers": [{"title": paper["title"]}, {"title": "Graph neural networks"}], "explain": true});
    let (s, v) = call_json(&app, "POST", "/v1/classify/batch", body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["nearest"]["papers"].is_array()), "{v}");
    let (_, v) = call_json(&app, "POST", "/v1/classify", json!({"title": "x"})).await;
    assert!(v.get("nearest").is_none() && v.get("explanations").is_none(), "{v}");

    // The same model saved without its training papers: a note, no papers.
    let app = atlas_serve::router(common::served(&kit.legacy));
    let (s, v) = call_json(&app, "POST", "/v1/classify", paper).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["explanation_note"].as_str(), Some(atlas_classify::neighbours::NO_STORE_NOTE), "{v}");
    assert!(v.get("nearest").is_none(), "{v}");
    assert!(v["explanations"].as_array().unwrap().iter().all(|e| e.get("neighbours").is_none()), "{v}");
}

/// Admin routes: off (404 `admin_disabled`) without a token; with one, 401 and `WWW-Authenticate: Bearer`
/// unless the request carries it; a state assembled in-process has nothing to re-open (409). The spec states
/// the bearer scheme on the route.
#[tokio::test]
async fn admin_routes_need_the_token_and_are_off_without_one() {
    let (s, _, b) = call(&tiny_app(), "POST", "/v1/admin/reload", Body::empty()).await;
    assert_eq!((s, error_of(s, &b).0.as_str()), (StatusCode::NOT_FOUND, "admin_disabled"));

    let token = "in-process-admin-token-0123456789";
    let f = common::tiny();
    let state = AppState::builder(f.model.clone())
        .taxonomy(f.taxonomy.clone())
        .admin_token(Arc::new(atlas_serve::AdminToken::new(token).unwrap()))
        .build()
        .unwrap();
    let app = atlas_serve::router(state);
    let send = |auth: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::post("/v1/admin/reload");
            if let Some(a) = auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let (status, headers) = (resp.status(), resp.headers().clone());
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            (status, headers, bytes.to_vec())
        }
    };
    for auth in
        [None, Some(format!("Bearer {token}x")), Some(format!("Basic {token}")), Some("Bearer".into())]
    {
        let (s, h, b) = send(auth.clone()).await;
        assert_eq!((s, error_of(s, &b).0.as_str()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{auth:?}");
        assert_eq!(h.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()), Some("Bearer"), "{auth:?}");
    }
    // The scheme name is case-insensitive (RFC 7235); the token is right, but this state cannot be re-opened.
    let (s, _, b) = send(Some(format!("bearer {token}"))).await;
    assert_eq!((s, error_of(s, &b).0.as_str()), (StatusCode::CONFLICT, "reload_unavailable"));

    let (_, spec) = call_json(&app, "GET", "/openapi.json", json!(null)).await;
    assert_eq!(spec["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer", "{spec}");
    assert_eq!(spec["paths"]["/v1/admin/reload"]["post"]["security"], json!([{"admin_token": []}]));
}
