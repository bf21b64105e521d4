//! A multi-label model's label set in `/v1/classify` and `/v1/classify/batch`, and in the OpenAPI document:
//! the served answer carries `label_set` (thresholds per category), the document describes it, and the
//! answer validates against the documented schema. Runs in-process; needs nothing from `../shared`.

use atlas_calibrate::LabelThresholds;
use atlas_classify::{Labels, Probabilities};
use atlas_serve::{AppState, Model, ModelError, ModelInfo};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use jsonschema::Draft;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Independent per-class probabilities (a one-vs-rest model): "galaxy" in a title means astro-ph and gr-qc,
/// anything else cs.LG alone.
struct OneVsRest {
    info: ModelInfo,
    labels: Labels,
    thresholds: LabelThresholds,
}

impl Model for OneVsRest {
    fn info(&self) -> &ModelInfo {
        &self.info
    }
    fn labels(&self) -> &Labels {
        &self.labels
    }
    fn predict(&self, texts: &[String]) -> Result<Probabilities, ModelError> {
        let data = texts
            .iter()
            .flat_map(|t| if t.contains("galaxy") { [0.05, 0.9, 0.35] } else { [0.8, 0.1, 0.05] })
            .collect();
        Ok(Probabilities { n_classes: 3, data })
    }
    fn label_set(&self, row: &[f32]) -> Option<Vec<usize>> {
        Some(self.thresholds.set_of(row))
    }
}

fn app() -> Router {
    let model = OneVsRest {
        info: ModelInfo {
            version: "tfidf_multilabel@test".into(),
            kind: "arxiv-atlas/tfidf-multilabel".into(),
            template: atlas_corpus::TextTemplate::default(),
            dir: "(in memory)".into(),
        },
        labels: Labels {
            codes: vec!["cs.LG".into(), "astro-ph.CO".into(), "gr-qc".into()],
            names: vec!["Machine Learning".into(), "Cosmology".into(), "General Relativity".into()],
        },
        // gr-qc is rarely cross-listed, so its threshold is low; the others' are high.
        thresholds: LabelThresholds { thresholds: vec![0.5, 0.5, 0.3], n_papers: 100, n_default: 0 },
    };
    atlas_serve::router(AppState::builder(std::sync::Arc::new(model)).build().unwrap())
}

async fn call(app: &Router, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn codes(set: &Value) -> Vec<&str> {
    set.as_array().unwrap().iter().map(|e| e["category"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn classify_returns_the_label_set_of_the_thresholds() {
    let app = app();
    let (s, v) = call(&app, "POST", "/v1/classify", Some(json!({"title": "A galaxy survey"}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // 0.9 >= 0.5 and 0.35 >= 0.3 (gr-qc's own threshold, though below 0.5); cs.LG's 0.05 is not.
    assert_eq!(codes(&v["label_set"]), ["astro-ph.CO", "gr-qc"]);
    assert_eq!(v["label_set"][1]["name"], "General Relativity");
    assert!((v["label_set"][1]["probability"].as_f64().unwrap() - 0.35).abs() < 1e-6);

    let body = json!({"papers": [{"title": "galaxy"}, {"title": "neural networks"}]});
    let (s, v) = call(&app, "POST", "/v1/classify/batch", Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(codes(&v["results"][0]["label_set"]), ["astro-ph.CO", "gr-qc"]);
    assert_eq!(codes(&v["results"][1]["label_set"]), ["cs.LG"]);
}

#[tokio::test]
async fn the_openapi_document_describes_the_label_set_and_the_answer_matches_it() {
    let app = app();
    let (s, doc) = call(&app, "GET", "/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let schema = &doc["components"]["schemas"]["ClassifyResponse"];
    let prop = &schema["properties"]["label_set"];
    assert!(prop.is_object(), "ClassifyResponse has no label_set: {schema}");
    assert!(prop.to_string().contains("CategoryProbability"), "{prop}");
    assert!(prop["description"].as_str().unwrap_or_default().contains("threshold"), "{prop}");
    let required: Vec<&str> =
        schema["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(!required.contains(&"label_set"), "single-label models answer without it: {required:?}");

    // The answer of the multi-label model validates against the documented response schema.
    let mut root = schema.clone();
    root.as_object_mut().unwrap().insert("components".into(), doc["components"].clone());
    let validator = jsonschema::options().with_draft(Draft::Draft202012).build(&root).unwrap();
    let (_, v) = call(&app, "POST", "/v1/classify", Some(json!({"title": "galaxy"}))).await;
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}\n{v}");
}
