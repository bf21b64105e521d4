//! The OpenAPI contract: `/openapi.json` states every rule the server enforces, and the server enforces every
//! rule it states, so that a client generated from the document never meets a surprise.
//!
//! A seeded generator writes request bodies from the schemas of the served document — values that aim to
//! be valid, and near-valid mutations of them (wrong types, missing required fields, unknown fields, empty
//! and overlong lists, boundary and integral-float numbers, blank and overlong texts, two exclusive fields
//! at once …). A real JSON Schema 2020-12 validator (the `jsonschema` crate, `$ref`s resolved against the
//! document) is the oracle: what it accepts must be answered 2xx, what it refuses a JSON 4xx, never a 5xx;
//! every answer's status must be documented for its route, and its body must match the documented schema.
//! Everything runs in-process on the tiny fixture (no `../shared`).

mod common;

use common::{send, Answer};

use std::collections::BTreeMap;
use std::time::Duration;

use atlas_serve::{AppState, BatchConfig, ServerConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use jsonschema::{Draft, Validator};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

/// Small limits, so that boundary values are cheap to reach, and so that the test shows the document states
/// the server's settings rather than the defaults.
fn config() -> ServerConfig {
    ServerConfig {
        max_text_chars: 40,
        max_items: 4,
        max_k: 7,
        // No waiting for batch company: thousands of sequential requests.
        batch: BatchConfig { max_wait: Duration::ZERO, ..BatchConfig::default() },
        ..ServerConfig::default()
    }
}

/// A server over the tiny fixture with every part loaded.
fn full_app() -> Router {
    atlas_serve::router(common::state(common::tiny(), config()))
}

/// A server of embeddings and search only: no classifier.
fn search_only_app() -> Router {
    let f = common::tiny();
    let b = AppState::builder_without_model().taxonomy(f.taxonomy.clone()).config(config());
    let b =
        b.embedder(f.embedder.clone().expect("tiny embedder")).index(f.index.clone().expect("tiny index"));
    atlas_serve::router(b.build().unwrap())
}

/// A server with the classifier only: no encoder, no index.
fn partial_app() -> Router {
    let f = common::tiny();
    let state =
        AppState::builder(f.model.clone()).taxonomy(f.taxonomy.clone()).config(config()).build().unwrap();
    atlas_serve::router(state)
}

async fn served_document(app: &Router) -> Value {
    let a = send(app, "GET", "/openapi.json", None).await;
    assert_eq!(a.status, StatusCode::OK);
    a.json().expect("/openapi.json is JSON")
}

/// `schema` with the document's components beside it, so that its `$ref`s (`#/components/schemas/…`) resolve.
fn validator(schema: &Value, doc: &Value) -> Validator {
    let mut root = schema.clone();
    root.as_object_mut().expect("a schema object").insert("components".into(), doc["components"].clone());
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}\n{schema}"))
}

/// One documented operation, read from the served document.
struct Operation {
    method: String,
    path: String,
    /// Schema of the JSON request body, when the operation takes one.
    body: Option<Value>,
    body_validator: Option<Validator>,
    /// Documented statuses, each with a validator of its JSON body (when it has one).
    responses: BTreeMap<u16, Option<Validator>>,
    /// Whether the operation requires credentials (`security`): the generator sends none, so such a route
    /// answers 401, or 404 `admin_disabled` on a server without an admin token.
    secured: bool,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, op) in methods.as_object().expect("operations") {
            let body = op.pointer("/requestBody/content/application~1json/schema").cloned();
            let body_validator = body.as_ref().map(|s| validator(s, doc));
            let responses = op["responses"]
                .as_object()
                .expect("responses")
                .iter()
                .map(|(status, r)| {
                    let schema = r.pointer("/content/application~1json/schema");
                    (status.parse::<u16>().expect("numeric status"), schema.map(|s| validator(s, doc)))
                })
                .collect();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            ops.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                body,
                body_validator,
                responses,
                secured,
            });
        }
    }
    ops
}

/// Values of other types, for mutations.
fn junk(rng: &mut StdRng) -> Value {
    let all = [
        json!(null),
        json!(true),
        json!(-1),
        json!(2.5),
        json!(""),
        json!("x"),
        json!([]),
        json!({}),
        json!([1, "a"]),
        json!({"a": 1}),
        json!(["cs.LG"]),
    ];
    all[rng.random_range(0..all.len())].clone()
}

/// Texts that are blank to `str::trim` (and to the schema's pattern), and some that only look blank.
const BLANKS: &[&str] =
    &["", " ", "\t\n\r ", "\u{85}", "\u{a0}\u{3000}", "\u{2028}\u{2029}", "\u{1680}\u{202f}"];
const NOT_QUITE_BLANK: &[&str] = &["\u{200b}", "\u{feff}", " \u{200b} ", "\u{180e}"];
/// Words of the tiny fixture's topics, so that valid requests find something.
const WORDS: &[&str] =
    &["neural", "galaxy", "prime", "neuron", "dark", "matter", "gradient", "zeta", "spike"];

/// Writes request bodies from schemas.
struct Gen<'a> {
    rng: StdRng,
    doc: &'a Value,
    /// Ids that are in the index, for `id` fields (any other id is valid too, and answered 404).
    ids: Vec<String>,
}

impl<'a> Gen<'a> {
    fn resolve(&self, mut s: &'a Value) -> &'a Value {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = self.doc.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("unresolved {r}"));
        }
        s
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())].clone()
    }

    fn types(s: &Value) -> Vec<String> {
        match &s["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ if s.get("properties").is_some() => vec!["object".into()],
            _ => Vec::new(),
        }
    }

    /// A value that aims to satisfy `schema` under the property `name` (the oracle decides whether it does).
    /// `non_null` keeps `null` out where a branch of the schema needs the field present.
    fn valid(&mut self, schema: &'a Value, name: &str, non_null: bool, depth: usize) -> Value {
        let s = self.resolve(schema);
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            return self.pick(e);
        }
        let mut types = Self::types(s);
        if types.is_empty() {
            if let Some(branches) = s.get("oneOf").or_else(|| s.get("anyOf")).and_then(Value::as_array) {
                let usable: Vec<&Value> = branches
                    .iter()
                    .filter(|b| !(non_null && Self::types(self.resolve(b)) == ["null"]))
                    .collect();
                let b = self.pick(&usable);
                return self.valid(b, name, non_null, depth);
            }
        }
        if non_null || self.chance(0.9) {
            types.retain(|t| t != "null");
        }
        if types.is_empty() {
            return Value::Null;
        }
        match self.pick(&types).as_str() {
            "object" => self.object(s, depth),
            "array" => {
                let min = s["minItems"].as_u64().unwrap_or(0) as usize;
                let max = s["maxItems"].as_u64().map_or(min + 3, |m| m as usize).min(min + 3);
                let n = self.rng.random_range(min..=max.max(min));
                let items = s.get("items").unwrap_or(&Value::Null);
                Value::Array((0..n).map(|_| self.valid(items, name, true, depth + 1)).collect())
            }
            "string" => Value::String(self.string(s, name)),
            "integer" => self.integer(s),
            "number" => json!(self.rng.random_range(-10.0..10.0)),
            "boolean" => json!(self.chance(0.5)),
            _ => Value::Null,
        }
    }

    fn object(&mut self, s: &'a Value, depth: usize) -> Value {
        let mut required: Vec<&str> = s["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Exclusive fields are `oneOf` branches that say which fields must be present (not null) and which
        // must be absent or null: pick one branch and follow it.
        let mut forbidden: Vec<&str> = Vec::new();
        let mut present: Vec<&str> = Vec::new();
        if let Some(branches) = s.get("oneOf").and_then(Value::as_array) {
            let b = &branches[self.rng.random_range(0..branches.len())];
            required.extend(b["required"].as_array().into_iter().flatten().filter_map(Value::as_str));
            for (name, rule) in b["properties"].as_object().into_iter().flatten() {
                if rule["type"] == "null" {
                    forbidden.push(name);
                } else {
                    present.push(name);
                }
            }
        }
        let mut out = Map::new();
        for (name, ps) in s["properties"].as_object().into_iter().flatten() {
            let name = name.as_str();
            if forbidden.contains(&name) {
                if self.chance(0.2) {
                    out.insert(name.into(), Value::Null);
                }
                continue;
            }
            if required.contains(&name) || present.contains(&name) || self.chance(0.5) {
                let non_null = present.contains(&name);
                out.insert(name.into(), self.valid(ps, name, non_null, depth + 1));
            }
        }
        if s["additionalProperties"] != false && self.chance(0.2) {
            // What OpenAI clients send beside the fields the server reads.
            out.insert("user".into(), json!("someone"));
        }
        Value::Object(out)
    }

    fn string(&mut self, s: &Value, name: &str) -> String {
        if name == "id" && self.chance(0.5) {
            return self.pick(&self.ids.clone());
        }
        let max = s["maxLength"].as_u64().map_or(60, |m| m as usize);
        if self.chance(0.15) {
            // Exactly at the limit, in multi-byte characters: the limit counts characters, not bytes.
            return "é".repeat(max);
        }
        let mut t = String::new();
        for _ in 0..self.rng.random_range(1..5) {
            if !t.is_empty() {
                t.push(' ');
            }
            t.push_str(self.pick(WORDS));
        }
        t.chars().take(max).collect()
    }

    fn integer(&mut self, s: &Value) -> Value {
        let min = s["minimum"].as_i64().unwrap_or(0);
        let max = s["maximum"].as_i64().unwrap_or(min + 100);
        let v = match self.rng.random_range(0..4) {
            0 => min,
            1 => max,
            _ => self.rng.random_range(min..=max.min(min + 20)),
        };
        // JSON Schema's `integer` holds integral floats: a client may well write 5.0.
        if self.chance(0.2) {
            json!(v as f64)
        } else {
            json!(v)
        }
    }

    /// Changes `v` (a value for `schema`) into a near-valid one, usually by one step.
    fn mutate(&mut self, v: &mut Value, schema: &'a Value, depth: usize) {
        let s = self.resolve(schema);
        match v {
            Value::Object(map) => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let props: Vec<String> =
                    s["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
                match self.rng.random_range(0..6) {
                    0 if !keys.is_empty() => {
                        let k = self.pick(&keys);
                        map.remove(&k);
                    }
                    1 => {
                        let j = junk(&mut self.rng);
                        map.insert("zz_unknown".into(), j);
                    }
                    2 if !keys.is_empty() => {
                        let k = self.pick(&keys);
                        map.insert(k, junk(&mut self.rng));
                    }
                    // A field that is absent now: for exclusive fields, the second one of a pair.
                    3 if !props.is_empty() => {
                        let k = self.pick(&props);
                        let value = self.valid(&s["properties"][&k], &k, true, depth + 1);
                        map.insert(k, value);
                    }
                    _ if !keys.is_empty() => {
                        let k = self.pick(&keys);
                        let child_schema = s["properties"].get(&k).unwrap_or(&Value::Null);
                        if let Some(child) = map.get_mut(&k) {
                            self.mutate(child, child_schema, depth + 1);
                        }
                    }
                    _ => *v = junk(&mut self.rng),
                }
            }
            Value::Array(items) => {
                // The schema of the items, also through a `oneOf` of a string and a list of strings.
                let item_schema = s.get("items").or_else(|| {
                    s.get("oneOf")?.as_array()?.iter().find_map(|b| self.resolve(b).get("items"))
                });
                let list_schema = s.get("maxItems").map(|_| s).or_else(|| {
                    s.get("oneOf")?
                        .as_array()?
                        .iter()
                        .map(|b| self.resolve(b))
                        .find(|b| b.get("maxItems").is_some())
                });
                match self.rng.random_range(0..5) {
                    0 => items.clear(),
                    1 => {
                        let max = list_schema.and_then(|l| l["maxItems"].as_u64()).unwrap_or(4) as usize;
                        while let Some(first) = items.first().cloned().filter(|_| items.len() <= max) {
                            items.push(first);
                        }
                        if items.is_empty() {
                            items.push(json!("x"));
                        }
                    }
                    2 => items.push(junk(&mut self.rng)),
                    _ if !items.is_empty() => {
                        let i = self.rng.random_range(0..items.len());
                        if let Some(item_schema) = item_schema {
                            self.mutate(&mut items[i], item_schema, depth + 1);
                        }
                    }
                    _ => *v = junk(&mut self.rng),
                }
            }
            Value::String(t) => {
                let max = s["maxLength"]
                    .as_u64()
                    .or_else(|| {
                        s.get("oneOf")?.as_array()?.iter().find_map(|b| self.resolve(b)["maxLength"].as_u64())
                    })
                    .unwrap_or(40) as usize;
                *t = match self.rng.random_range(0..6) {
                    0 | 1 => self.pick(BLANKS).to_string(),
                    2 => self.pick(NOT_QUITE_BLANK).to_string(),
                    3 => "日".repeat(max + 1),
                    4 => "日".repeat(max),
                    // Near an enum value: another case, or one letter more.
                    _ => {
                        if self.chance(0.5) {
                            t.to_uppercase()
                        } else {
                            format!("{t}s")
                        }
                    }
                };
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(0.0);
                let min = s["minimum"].as_f64().unwrap_or(0.0);
                let max = s["maximum"].as_f64().unwrap_or(100.0);
                let all = [
                    json!(min - 1.0),
                    json!(min),
                    json!(max),
                    json!(max + 1.0),
                    json!(max as i64 + 1),
                    json!(x + 0.5),
                    json!(-0.0),
                    json!(1e300),
                    json!(u64::MAX),
                    json!(i64::MIN),
                    json!(x.round()),
                ];
                *v = self.pick(&all);
            }
            _ => *v = junk(&mut self.rng),
        }
    }
}

/// Running counts for one route, so that the test cannot pass by sending nothing of one kind.
#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    invalid: usize,
    /// Whether the route reads a JSON body (only those get generated and mutated bodies).
    takes_body: bool,
}

/// Checks one answer against the oracle's verdict and the documented responses.
fn judge(op: &Operation, what: &str, valid: bool, a: &Answer, allowed_unavailable: bool) {
    if let Err(e) = verdict(op, what, valid, a, allowed_unavailable) {
        panic!("{e}");
    }
}

/// Whether answer `a` to a request the oracle judged `valid` (or not) keeps the contract; why not otherwise.
fn verdict(
    op: &Operation,
    what: &str,
    valid: bool,
    a: &Answer,
    allowed_unavailable: bool,
) -> Result<(), String> {
    let s = a.status.as_u16();
    let text = String::from_utf8_lossy(&a.body);
    let ctx = format!("{} {} with {what}: {s} {text}", op.method, op.path);
    let fail = |why: &str| Err(format!("{why}: {ctx}"));
    if a.status.is_server_error() && !(allowed_unavailable && valid && s == 503) {
        return fail("a 5xx");
    }
    let code = a.json().and_then(|v| v["error"]["code"].as_str().map(str::to_string));
    if valid {
        let expected_other = match s {
            404 => {
                code.as_deref() == Some("paper_not_found")
                    || op.secured && code.as_deref() == Some("admin_disabled")
            }
            401 => op.secured && code.as_deref() == Some("unauthorized"),
            503 => code.as_deref().is_some_and(|c| {
                allowed_unavailable
                    && [
                        "encoder_unavailable",
                        "index_unavailable",
                        "model_unavailable",
                        "recommendations_unavailable",
                    ]
                    .contains(&c)
            }),
            _ => false,
        };
        if !(a.status.is_success() || expected_other) {
            return fail("the schema accepts it, the server refused it");
        }
    } else {
        if !a.status.is_client_error() {
            return fail("the schema refuses it, the server did not");
        }
        if code.is_none() {
            return fail("a 4xx without a JSON error body");
        }
    }
    let Some(documented) = op.responses.get(&s) else {
        return fail(&format!("status {s} is not documented"));
    };
    if let Some(v) = documented {
        let Some(body) = a.json().filter(|_| a.content_type.starts_with("application/json")) else {
            return fail("not JSON");
        };
        let errors: Vec<String> = v.iter_errors(&body).map(|e| e.to_string()).collect();
        if !errors.is_empty() {
            return fail(&format!("the answer breaks its documented schema: {errors:?}"));
        }
    }
    Ok(())
}

/// Generates `cases` bodies for every operation with a JSON body and `ids` path parameters, sends them to
/// `app`, and checks each answer. Returns the counts per route.
async fn run_cases(
    app: &Router,
    seed: u64,
    cases: usize,
    allowed_unavailable: bool,
) -> BTreeMap<String, Tally> {
    let doc = served_document(app).await;
    let ops = operations(&doc);
    let f = common::tiny();
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        doc: &doc,
        ids: f.papers.iter().map(|p| p.id.clone()).collect(),
    };
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    for i in 0..cases {
        for op in &ops {
            let t = tally.entry(format!("{} {}", op.method, op.path)).or_default();
            t.takes_body = op.body.is_some();
            if let (Some(schema), Some(validator)) = (&op.body, &op.body_validator) {
                let mut body = g.valid(schema, "", true, 0);
                if g.chance(0.6) {
                    for _ in 0..g.rng.random_range(1..=2) {
                        g.mutate(&mut body, schema, 0);
                    }
                }
                let valid = validator.is_valid(&body);
                let a = send(app, &op.method, &op.path, Some(&body)).await;
                judge(op, &format!("case {i} (seed {seed}) {body}"), valid, &a, allowed_unavailable);
                *if valid { &mut t.valid } else { &mut t.invalid } += 1;
            } else if op.path.contains("{id}") {
                let id = if g.chance(0.5) {
                    g.pick(&g.ids.clone())
                } else {
                    let chars: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789.-/".chars().collect();
                    (0..g.rng.random_range(1..20)).map(|_| g.pick(&chars)).collect()
                };
                // Path parameters have no rule beyond "a string": every id is valid (unknown ones are 404).
                let a = send(app, &op.method, &op.path.replace("{id}", &id), None).await;
                judge(op, &format!("case {i} (seed {seed}) id {id:?}"), true, &a, allowed_unavailable);
                t.valid += 1;
            } else if i % 50 == 0 {
                // The operations without input: the documented answer, in the documented shape.
                let a = send(app, &op.method, &op.path, None).await;
                judge(op, "no input", true, &a, allowed_unavailable);
                t.valid += 1;
            }
        }
    }
    tally
}

/// A number from the environment (to explore other seeds or run longer: `ATLAS_CONTRACT_SEED=7
/// ATLAS_CONTRACT_CASES=20000 cargo test -p atlas-serve --release --test contract`), else `default`.
fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_are_answered_as_the_schema_says() {
    let seed = env_or("ATLAS_CONTRACT_SEED", 14);
    let cases = env_or("ATLAS_CONTRACT_CASES", 1000) as usize;
    let tally = run_cases(&full_app(), seed, cases, false).await;
    eprintln!("{tally:#?}");
    for (route, t) in &tally {
        if t.takes_body {
            assert!(t.valid >= 100 && t.invalid >= 100, "{route}: too few of one kind: {t:?}");
        }
    }
}

/// Without an encoder or an index (or without a classifier), a request the schema accepts may be a 503 naming
/// the missing part, but a request it refuses is still a 4xx: the fields are checked before the parts a route
/// needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_part_never_hides_a_bad_request() {
    let seed = env_or("ATLAS_CONTRACT_SEED", 14) + 1;
    for app in [partial_app(), search_only_app()] {
        let tally = run_cases(&app, seed, 200, true).await;
        for (route, t) in &tally {
            if t.takes_body {
                assert!(t.valid >= 20 && t.invalid >= 20, "{route}: too few of one kind: {t:?}");
            }
        }
    }
}

/// The six disagreements between the document and the server that a schemathesis run found (issue #14),
/// each with the answer decided for it, which the served schema must agree with. A seventh line covers
/// integral floats in `k` and `years`.
#[tokio::test]
async fn the_fuzzer_findings_agree_with_the_schema() {
    let config = ServerConfig {
        batch: BatchConfig { max_wait: Duration::ZERO, ..BatchConfig::default() },
        ..ServerConfig::default()
    };
    let app = atlas_serve::router(common::state(common::tiny(), config));
    let doc = served_document(&app).await;
    let ops = operations(&doc);
    // (route, body, accepted): `accepted` is the decision, the oracle must say the same.
    let cases = vec![
        // An empty list has nothing to classify, embed or filter by: the schema says minItems 1.
        ("/v1/classify/batch", json!({"papers": []}), false),
        ("/v1/search", json!({"text": "galaxy", "category": []}), false),
        // OpenAI's client libraries ask for base64 unless told otherwise: supported, not refused.
        ("/v1/embeddings", json!({"input": "galaxy", "encoding_format": "base64"}), true),
        // texts and papers exclude each other: the schema says oneOf.
        ("/v1/embed", json!({"texts": ["galaxy"], "papers": [{"title": "galaxy"}]}), false),
        // JSON Schema's integer holds 1685.0: accepted.
        ("/v1/classify", json!({"title": "galaxy", "top_k": 1685.0}), true),
        // Beyond the int32 the schema promises: refused, and the schema states the maximum.
        ("/v1/classify", json!({"title": "galaxy", "top_k": 2147483648u64}), false),
        ("/v1/search", json!({"text": "galaxy", "k": 5.0, "years": [2000.0, 2010]}), true),
    ];
    let (n, mut broken) = (cases.len(), Vec::new());
    for (path, body, accepted) in cases {
        let op = ops.iter().find(|o| o.path == path && o.method == "POST").unwrap();
        let valid = op.body_validator.as_ref().unwrap().is_valid(&body);
        let a = send(&app, "POST", path, Some(&body)).await;
        let what = body.to_string();
        if valid != accepted {
            broken.push(format!("the schema {} {path} {what}", if valid { "accepts" } else { "refuses" }));
        }
        if a.status.is_success() != accepted {
            broken.push(format!("{path} {what} answered {}", a.status));
        }
        if let Err(e) = verdict(op, &what, valid, &a, false) {
            broken.push(e);
        }
    }
    assert!(broken.is_empty(), "{} findings for {n} cases:\n{}", broken.len(), broken.join("\n"));
}

/// Bodies that are not JSON at all, or JSON far from the schema (random bytes, truncated and byte-flipped
/// JSON, numbers beyond f64, deep nesting, non-objects, fields replaced by values of other types): every
/// answer is a JSON 4xx. The oracle skips the rare mutation that is still valid.
#[tokio::test]
async fn malformed_bodies_always_get_json_4xx() {
    let app = full_app();
    let doc = served_document(&app).await;
    let ops = operations(&doc);
    let mut rng = StdRng::seed_from_u64(7);
    let good = [
        ("/v1/classify", json!({"title": "A title", "abstract": "An abstract.", "top_k": 3})),
        ("/v1/classify/batch", json!({"papers": [{"title": "A", "abstract": "B"}], "top_k": 2})),
        ("/v1/embed", json!({"texts": ["one", "two"]})),
        ("/v1/embeddings", json!({"input": ["one"], "model": "m"})),
        ("/v1/search", json!({"text": "graphs", "k": 3, "category": ["cs.LG"], "years": [2000, 2020]})),
    ];
    let mut n = 0;
    for round in 0..300 {
        for (route, good) in &good {
            let op = ops.iter().find(|o| o.path == *route).unwrap();
            let validator = op.body_validator.as_ref().unwrap();
            assert!(validator.is_valid(good), "{route}: the starting body is not valid: {good}");
            let text = good.to_string();
            let body: Vec<u8> = match round % 8 {
                0 => (0..rng.random_range(0..200)).map(|_| rng.random::<u8>()).collect(),
                1 => text.as_bytes()[..rng.random_range(0..text.len())].to_vec(),
                2 | 3 => {
                    let mut v = good.clone();
                    let keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
                    let k = &keys[rng.random_range(0..keys.len())];
                    v[k] = junk(&mut rng);
                    v.to_string().into_bytes()
                }
                4 => text.replace('3', "1e999999").replace('2', "99999999999999999999999999").into_bytes(),
                5 => format!(
                    "{}{}",
                    "[".repeat(rng.random_range(100..100_000)),
                    "]".repeat(rng.random_range(0..10))
                )
                .into_bytes(),
                6 => junk(&mut rng).to_string().into_bytes(),
                _ => {
                    let mut b = text.into_bytes();
                    let i = rng.random_range(0..b.len());
                    b[i] = [0xff, 0xc3, 0x00, 0x80][rng.random_range(0..4)];
                    b
                }
            };
            if serde_json::from_slice::<Value>(&body).is_ok_and(|v| validator.is_valid(&v)) {
                continue;
            }
            let req = Request::post(*route)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.clone()))
                .unwrap();
            let resp = app.clone().oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
            let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            assert!(status.is_client_error(), "{route} answered {status} to {shown:?}");
            let v: Value =
                serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{route}: not JSON: {shown:?}"));
            assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{route}: {v}");
            n += 1;
        }
    }
    assert!(n > 1000, "only {n} bodies were tried");
}

/// Under the default settings the document states the default limits, and the category codes the server
/// knows (the model's classes and the taxonomy's codes).
#[tokio::test]
async fn the_document_states_the_servers_limits() {
    let app = atlas_serve::router(common::state(common::tiny(), ServerConfig::default()));
    let doc = served_document(&app).await;
    let at = |p: &str| doc.pointer(&format!("/components/schemas/{p}")).cloned().unwrap_or(Value::Null);
    assert_eq!(at("ClassifyRequest/properties/title/maxLength"), json!(20_000));
    assert_eq!(at("PaperInput/properties/abstract/maxLength"), json!(20_000));
    assert_eq!(at("ClassifyBatchRequest/properties/papers/maxItems"), json!(128));
    assert_eq!(at("ClassifyBatchRequest/properties/papers/minItems"), json!(1));
    assert_eq!(at("ClassifyRequest/properties/top_k/maximum"), json!(i32::MAX));
    assert_eq!(
        (at("SearchRequest/properties/k/maximum"), at("SearchRequest/properties/k/default")),
        (json!(100), json!(10))
    );
    assert_eq!(
        at("SearchRequest/properties/category/oneOf/1/enum"),
        json!(["astro-ph.CO", "cs.AI", "cs.LG", "math.NT", "q-bio.NC"])
    );
    assert_eq!(
        at("OpenAiEmbeddingsRequest/properties/encoding_format/oneOf/1/$ref"),
        json!("#/components/schemas/EncodingFormat")
    );
    assert_eq!(at("EncodingFormat/enum"), json!(["float", "base64"]));
}

/// The schema's "not blank" pattern, as the oracle reads it, is what the server's `str::trim` means, for
/// every character.
#[tokio::test]
async fn not_blank_means_the_same_to_the_schema_and_the_server() {
    let doc = served_document(&full_app()).await;
    let title = doc.pointer("/components/schemas/ClassifyRequest/properties/title").unwrap();
    let v = validator(&json!({"type": "string", "pattern": title["pattern"]}), &doc);
    let disagree: Vec<String> = (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| v.is_valid(&json!(c.to_string())) == c.is_whitespace())
        .map(|c| format!("U+{:04X}", u32::from(c)))
        .collect();
    assert!(disagree.is_empty(), "the schema and str::trim disagree on {disagree:?}");
}
