//! The web page at `/`: one HTML file with its CSS and JS inlined at compile time (no CDN, no build step).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};

const HTML: &str = include_str!("../static/index.html");
const CSS: &str = include_str!("../static/style.css");
const JS: &str = include_str!("../static/app.js");

fn page() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| HTML.replace("/*STYLE*/", CSS).replace("/*SCRIPT*/", JS))
}

/// `GET /`: paste a paper or an arXiv id, see the category probabilities and the nearest papers.
#[utoipa::path(get, path = "/", tag = "ops", responses((status = 200, description = "The web page", content_type = "text/html")))]
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Everything is inline; forbid any other origin so a pasted abstract can never load remote content.
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:"),
        ],
        page(),
    )
        .into_response()
}
