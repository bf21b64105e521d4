//! The OpenAPI document (utoipa) and the Swagger UI (bundled assets, no network).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "arxiv-atlas", description = "Classify arXiv papers, embed texts, and find similar papers."),
    paths(
        crate::api::classify,
        crate::api::classify_batch,
        crate::api::embed,
        crate::api::embeddings,
        crate::api::search,
        crate::api::paper,
        crate::api::health,
        crate::api::ready,
        crate::api::info,
        crate::telemetry::metrics_handler,
        openapi_json,
        crate::web::index,
    ),
    tags(
        (name = "classify", description = "Category probabilities"),
        (name = "embed", description = "Sentence vectors"),
        (name = "search", description = "Similar papers"),
        (name = "ops", description = "Health, readiness, metrics, documentation"),
    )
)]
pub struct ApiDoc;

fn spec_json() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into()))
}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], spec_json()).into_response()
}

/// Swagger UI at `/docs`, reading `/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs").config(Config::new(["/openapi.json"]))
}
