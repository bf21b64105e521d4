//! The OpenAPI document (utoipa) and the Swagger UI (bundled assets, no network).
//!
//! The published document is a contract: it states every rule the handlers enforce, and the handlers enforce
//! every rule it states (a property test generates requests from it and checks both directions). utoipa
//! derives the shapes from the types in [`crate::types`]; [`document`] adds at run time what depends on the
//! server's settings and data (text and list limits, the largest `k`, the known category codes) and what
//! the derive cannot state (non-blank texts, fields that exclude each other).

use std::sync::OnceLock;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::api::{default_k, MAX_ID_CHARS};
use crate::state::{AppState, ServerConfig};

/// The API description, as derived from the types (see [`document`] for the published one).
#[derive(OpenApi)]
#[openapi(
    info(title = "arxiv-atlas", description = "Classify arXiv papers, embed texts, and find similar papers."),
    paths(
        crate::api::classify,
        crate::api::classify_batch,
        crate::api::embed,
        crate::api::embeddings,
        crate::api::search,
        crate::recommend::recommend,
        crate::api::paper,
        crate::drift::drift,
        crate::admin::reload,
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
        (name = "monitor", description = "Drift of the requests against the model's reference"),
        (name = "ops", description = "Health, readiness, metrics, documentation"),
        (name = "admin", description = "Operator actions, behind the admin bearer token"),
    ),
    modifiers(&AdminSecurity)
)]
pub struct ApiDoc;

/// The `admin_token` security scheme of the admin routes: `Authorization: Bearer <token>`.
struct AdminSecurity;

impl utoipa::Modify for AdminSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The server's admin token (`ARXIV_ATLAS_ADMIN_TOKEN` or `serve --admin-token-file`). Without \
                 one, admin routes answer 404 `admin_disabled`.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("admin_token", SecurityScheme::Http(scheme));
    }
}

/// "Not blank" as a JSON Schema (ECMA-262) pattern: the text holds a character that `str::trim` keeps, i.e.
/// one outside Unicode's White_Space set, listed here in full. (ECMA's `\s` is a different set: it has U+FEFF
/// and lacks U+0085, so it cannot be used.) A test checks this class against `char::is_whitespace` for every
/// character.
pub const NOT_BLANK: &str =
    "[^\\u0009-\\u000D\\u0020\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// The document derived from the types, built once.
fn derived() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({})))
}

/// The published OpenAPI document for a server with `config` whose search filters accept `categories`:
/// the derived document with the rules added that depend on them or that the derive cannot state.
pub fn document(config: &ServerConfig, categories: &[String]) -> Value {
    let mut doc = derived().clone();
    let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else {
        return doc;
    };
    let text = json!({"type": "string", "pattern": NOT_BLANK, "maxLength": config.max_text_chars});
    let texts = |description: &str| {
        json!({"type": "array", "items": text, "minItems": 1, "maxItems": config.max_items,
               "description": description})
    };
    let blank_ok = json!({"maxLength": config.max_text_chars});
    let not_blank = json!({"pattern": NOT_BLANK, "maxLength": config.max_text_chars});
    for name in ["PaperInput", "ClassifyRequest"] {
        merge(schemas, name, "title", &not_blank);
        merge(schemas, name, "abstract", &blank_ok);
    }
    merge(schemas, "ClassifyBatchRequest", "papers", &json!({"maxItems": config.max_items}));

    merge(schemas, "EmbedRequest", "texts", &json!({"items": text, "maxItems": config.max_items}));
    merge(schemas, "EmbedRequest", "papers", &json!({"maxItems": config.max_items}));
    exactly_one_of(schemas, "EmbedRequest", &["texts", "papers"], &[]);

    merge(
        schemas,
        "OpenAiEmbeddingsRequest",
        "input",
        &json!({"oneOf": [text, texts("Several texts.")], "$ref": Value::Null}),
    );

    merge(schemas, "SearchRequest", "text", &not_blank);
    merge(schemas, "SearchRequest", "title", &not_blank);
    merge(schemas, "SearchRequest", "abstract", &blank_ok);
    merge(schemas, "SearchRequest", "id", &json!({"pattern": NOT_BLANK, "maxLength": MAX_ID_CHARS}));
    merge(schemas, "SearchRequest", "k", &json!({"maximum": config.max_k, "default": default_k(config)}));
    let code = json!({"type": "string", "enum": categories});
    merge(
        schemas,
        "SearchRequest",
        "category",
        &json!({
            "description": "Keep only papers listing this category code (or any of these), primary or cross-list.",
            "oneOf": [
                {"type": "null"},
                code,
                {"type": "array", "items": code, "minItems": 1, "maxItems": config.max_items},
            ],
        }),
    );
    merge(
        schemas,
        "SearchRequest",
        "years",
        &json!({"items": {"type": "integer", "format": "int32", "minimum": 0, "maximum": u16::MAX}}),
    );
    exactly_one_of(schemas, "SearchRequest", &["text", "title", "id"], &[("abstract", "title")]);
    // A recommendation takes the filters and `k` of a search.
    for field in ["k", "category", "years"] {
        if let Some(rule) =
            schemas.get("SearchRequest").and_then(|s| s.pointer(&format!("/properties/{field}")))
        {
            let rule = rule.clone();
            merge(schemas, "RecommendRequest", field, &rule);
        }
    }
    merge(
        schemas,
        "RecommendRequest",
        "ids",
        &json!({"items": {"type": "string", "pattern": NOT_BLANK, "maxLength": MAX_ID_CHARS},
                "minItems": 1, "maxItems": config.max_items}),
    );
    doc
}

/// Sets `rule`'s keys on property `prop` of schema `name` (a `null` value removes the key). Does nothing
/// when the property is not there; a unit test checks every call finds its property.
fn merge(schemas: &mut Map<String, Value>, name: &str, prop: &str, rule: &Value) {
    let Some(p) = schemas
        .get_mut(name)
        .and_then(|s| s.pointer_mut(&format!("/properties/{prop}")))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (k, v) in rule.as_object().into_iter().flatten() {
        if v.is_null() {
            p.remove(k);
        } else {
            p.insert(k.clone(), v.clone());
        }
    }
}

/// States that exactly one of `fields` is given (present and not `null`), as one `oneOf` branch per field
/// that requires it and leaves the others absent or `null`. A `(dependent, owner)` pair is a field allowed
/// only beside `owner` (search's `abstract` goes with `title`).
fn exactly_one_of(schemas: &mut Map<String, Value>, name: &str, fields: &[&str], only_with: &[(&str, &str)]) {
    let branches: Vec<Value> = fields
        .iter()
        .map(|&given| {
            let mut props = Map::new();
            props.insert(given.into(), json!({"not": {"type": "null"}}));
            for &other in fields.iter().filter(|&&f| f != given) {
                props.insert(other.into(), json!({"type": "null"}));
            }
            for &(dependent, _) in only_with.iter().filter(|(_, owner)| *owner != given) {
                props.insert(dependent.into(), json!({"type": "null"}));
            }
            json!({"required": [given], "properties": props})
        })
        .collect();
    if let Some(s) = schemas.get_mut(name).and_then(Value::as_object_mut) {
        s.insert("oneOf".into(), Value::Array(branches));
    }
}

/// `GET /openapi.json`: this document, with this server's limits and category codes.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, description = "This OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    let mut categories: Vec<String> = state.0.known_categories.iter().cloned().collect();
    categories.sort();
    Json(document(state.config(), &categories))
}

/// Swagger UI at `/docs`, reading `/openapi.json`.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs").config(Config::new(["/openapi.json"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule [`document`] adds lands on a property that exists: a renamed field cannot silently drop a
    /// rule from the contract.
    #[test]
    fn every_rule_finds_its_property() {
        let before = derived().clone();
        let config = ServerConfig { max_text_chars: 11, max_items: 3, max_k: 7, ..ServerConfig::default() };
        let after = document(&config, &["cs.LG".into()]);
        let s = |doc: &Value, p: &str| doc.pointer(&format!("/components/schemas/{p}")).cloned();
        for (p, want) in [
            ("PaperInput/properties/title/maxLength", json!(11)),
            ("PaperInput/properties/abstract/maxLength", json!(11)),
            ("ClassifyRequest/properties/title/pattern", json!(NOT_BLANK)),
            ("ClassifyRequest/properties/abstract/maxLength", json!(11)),
            ("ClassifyBatchRequest/properties/papers/maxItems", json!(3)),
            ("EmbedRequest/properties/texts/items/maxLength", json!(11)),
            ("EmbedRequest/properties/papers/maxItems", json!(3)),
            ("OpenAiEmbeddingsRequest/properties/input/oneOf/1/maxItems", json!(3)),
            ("SearchRequest/properties/text/maxLength", json!(11)),
            ("SearchRequest/properties/title/pattern", json!(NOT_BLANK)),
            ("SearchRequest/properties/abstract/maxLength", json!(11)),
            ("SearchRequest/properties/id/maxLength", json!(MAX_ID_CHARS)),
            ("SearchRequest/properties/k/maximum", json!(7)),
            ("SearchRequest/properties/category/oneOf/1/enum", json!(["cs.LG"])),
            ("SearchRequest/properties/years/items/maximum", json!(65535)),
        ] {
            assert_eq!(s(&after, p), Some(want), "{p}");
        }
        assert!(s(&after, "OpenAiEmbeddingsRequest/properties/input/$ref").is_none());
        assert_eq!(s(&after, "EmbedRequest/oneOf").and_then(|b| b.as_array().map(Vec::len)), Some(2));
        assert_eq!(s(&after, "SearchRequest/oneOf").and_then(|b| b.as_array().map(Vec::len)), Some(3));
        assert_ne!(before, after);
    }

    /// `explain` and the explanations it adds are part of the published contract.
    #[test]
    fn explanations_are_in_the_schema() {
        let doc = document(&ServerConfig::default(), &[]);
        let s = |p: &str| doc.pointer(&format!("/components/schemas/{p}")).cloned();
        assert_eq!(s("ClassifyRequest/properties/explain/type"), Some(json!("boolean")));
        assert_eq!(s("ClassifyBatchRequest/properties/explain/type"), Some(json!("boolean")));
        assert!(s("ClassifyResponse/properties/explanations").is_some());
        assert_eq!(s("CategoryExplanation/required"), Some(json!(["category", "terms"])));
        assert_eq!(s("TermContribution/properties/contribution/type"), Some(json!("number")));
        // The neighbour explanations of embedding models.
        assert_eq!(s("CategoryExplanation/properties/neighbours/type"), Some(json!("array")));
        assert!(s("ClassifyResponse/properties/nearest").is_some());
        assert_eq!(s("ClassifyResponse/properties/explanation_note/type"), Some(json!(["string", "null"])));
        assert_eq!(s("SupportingPaper/required"), Some(json!(["id", "title", "category", "cosine", "url"])));
        assert_eq!(s("NearestPapers/properties/agrees/type"), Some(json!("boolean")));
    }

    /// The pattern's class is exactly the characters `str::trim` removes.
    #[test]
    fn not_blank_lists_exactly_the_white_space_characters() {
        let inner = NOT_BLANK.trim_start_matches("[^").trim_end_matches(']');
        let mut listed = Vec::new();
        let mut parts = inner.split("\\u").filter(|p| !p.is_empty()).peekable();
        while let Some(p) = parts.next() {
            let lo = u32::from_str_radix(&p[..4], 16).unwrap();
            if p.ends_with('-') {
                let hi = u32::from_str_radix(&parts.next().unwrap()[..4], 16).unwrap();
                listed.extend(lo..=hi);
            } else {
                listed.push(lo);
            }
        }
        let white: Vec<u32> =
            (0..=0x10FFFF).filter_map(char::from_u32).filter(|c| c.is_whitespace()).map(u32::from).collect();
        assert_eq!(listed, white);
    }
}
