//! [`ApiJson`]: the JSON body extractor of every POST route, replacing axum's `Json` so that every bad body
//! gets a JSON error naming what is wrong — 400 for bodies that are not JSON at all (invalid UTF-8, syntax
//! errors, truncation), 413 for bodies over the limit, 422 for JSON of the wrong shape (missing field, wrong
//! type, number out of range, a list where an object belongs), with the field's path (`papers[2].title`).
//!
//! The `Content-Type` is not checked: clients that forget `application/json` (curl -d) are common and the
//! body is parsed strictly anyway.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::{code_for_status, ApiError};

/// A JSON request body: a JSON object, deserialised strictly (unknown fields are refused where the type says
/// so).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            let status = r.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is larger than the server's limit".to_string()
            } else {
                r.body_text()
            };
            ApiError::new(status, code_for_status(status), message)
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a body (a JSON object) into `T` with the error mapping described in the module docs.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty_body",
            "the request body is empty; send a JSON object",
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_utf8",
            format!("the request body is not valid UTF-8 (first bad byte at offset {})", e.valid_up_to()),
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize::<_, Object<T>>(&mut de) {
        Ok(v) => v.0,
        Err(e) => return Err(json_error(e)),
    };
    de.end().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("trailing data after the JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// A `T` read from a JSON object only. serde's derived struct deserializers also take a JSON array of the
/// field values in order (`["Title", "Abstract", 3]`), which the schema of every body and nested paper
/// refuses; this wrapper refuses it too.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let msg = inner.to_string();
            // serde reports a missing field at the parent's path; name the field itself.
            let field = match missing_field(&msg) {
                Some(f) if path == "." => f.to_string(),
                Some(f) => format!("{path}.{f}"),
                None if path == "." => String::new(),
                None => path,
            };
            let msg = strip_position(&msg);
            if field.is_empty() {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", msg)
            } else {
                let code = if missing_field(&msg).is_some() {
                    "missing_field"
                } else if msg.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_field"
                };
                ApiError::field(code, field, msg)
            }
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON: {inner}"),
        ),
    }
}

fn missing_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// serde_json appends " at line 1 column 42"; the field path says more to a client.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        title: String,
        k: Option<u32>,
        inner: Option<Vec<U>>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct U {
        x: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<T>(br#"{"k": 1}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code, e.field.as_deref()), (422, "missing_field", Some("title")));
        let e = parse_json::<T>(br#"{"title": 5}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("title")));
        let e = parse_json::<T>(br#"{"title": "a", "k": 1e99}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("k")));
        let e = parse_json::<T>(br#"{"title": "a", "inner": [{"x": "1"}, {}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("inner[1].x"));
        let e = parse_json::<T>(br#"{"title": "a""#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, "invalid_json"));
        let e = parse_json::<T>(b"{\"title\": \"\xff\"}").unwrap_err();
        assert_eq!(e.code, "invalid_utf8");
        let e = parse_json::<T>(b"  ").unwrap_err();
        assert_eq!(e.code, "empty_body");
        let e = parse_json::<T>(br#"{"title": "a"} x"#).unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = parse_json::<T>(br#"{"title": "a", "extra": 1}"#).unwrap_err();
        assert_eq!(e.status.as_u16(), 422);
    }
}
