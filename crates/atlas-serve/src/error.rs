//! Errors: [`ApiError`] is what a client sees (always a JSON body `{"error": {"code", "message"}}`), and
//! [`ServeError`] is what starting or running the server can fail with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every 4xx/5xx answer.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for machines (`code`) and people (`message`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_field`, `queue_full`, `not_found`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The request field at fault (`title`, `papers[2].abstract`), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer: status, code, message and optionally the field at fault.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (429 and 503 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// 422: a field's value is unacceptable (empty, too long, out of range, unknown …).
    pub fn field(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        ApiError { field: Some(field), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message) }
    }

    /// 404 for a missing resource.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 503: a part of the server this request needs (index, encoder) is not loaded.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// 500: a model or index failed. The message is shown: it names the failing part, never secrets.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

/// A stable code for a bare HTTP status (answers produced outside the handlers: 404, 405, 413 …).
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_field",
        StatusCode::TOO_MANY_REQUESTS => "queue_full",
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => "timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// A model or encoder failed on a batch.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// What failed (the whole error chain, already formatted).
    pub message: String,
}

impl ModelError {
    /// Wraps any error's text.
    pub fn new(message: impl Into<String>) -> Self {
        ModelError { message: message.into() }
    }
}

impl From<atlas_encoder::EncoderError> for ModelError {
    fn from(e: atlas_encoder::EncoderError) -> Self {
        ModelError::new(e.to_string())
    }
}

/// What can go wrong starting, running or stopping the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or serving the socket failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The request log could not be opened.
    #[error("request log: {0}")]
    Log(#[from] crate::reqlog::LogError),
    /// The parts do not fit together (e.g. the encoder and the index live in different vector spaces).
    #[error("{0}")]
    Config(String),
    /// The model failed at start-up.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The trained model could not be loaded.
    #[error(transparent)]
    Load(#[from] atlas_model::PredictorError),
    /// The index could not be opened.
    #[error("index: {0}")]
    Index(#[from] atlas_index::IndexError),
    /// The encoder could not be loaded or configured.
    #[error("encoder: {0}")]
    Encoder(#[from] atlas_encoder::EncoderError),
    /// The model's drift profile could not be read.
    #[error("drift monitor: {0}")]
    Monitor(#[from] atlas_monitor::MonitorError),
    /// The taxonomy could not be read.
    #[error("taxonomy: {0}")]
    Taxonomy(#[from] atlas_corpus::CorpusError),
}
