//! What the server's routes share: JSON answers, bodies read within a limit (gzip or not),
//! and the answer to a request carrying many messages.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parcours_events::Rejection;
use serde_json::{Value, json};

/// A JSON answer.
pub(crate) fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub(crate) fn refusal(status: StatusCode, error: &str, field: Option<&str>) -> Response {
    answer(
        status,
        json!({ "success": false, "error": error, "field": field }),
    )
}

/// Reads the body whole, gunzipping it when it says so; 413 past `limit` bytes, before or
/// after decompression.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Vec<u8>, Response> {
    let too_large = || {
        refusal(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the body is over {} KB; send fewer messages per batch",
                limit >> 10
            ),
            None,
        )
    };
    let raw = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzipped {
        return Ok(raw.to_vec());
    }
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            refusal(
                StatusCode::BAD_REQUEST,
                &format!("the body says gzip but does not decompress: {e}"),
                None,
            )
        })?;
    if out.len() > limit {
        return Err(too_large());
    }
    Ok(out)
}

/// The answer to a request of many messages, `accepted` of them kept and `refused` not (by
/// position): 200 when any was kept, listing the refused ones, so that a sender does not
/// send the kept ones again; 400 when none was.
pub(crate) fn many_answer(accepted: usize, refused: &[(usize, Rejection)]) -> Response {
    let listed: Vec<Value> = refused
        .iter()
        .map(|(index, r)| json!({ "index": index, "error": r.reason, "field": r.field }))
        .collect();
    if refused.is_empty() {
        answer(
            StatusCode::OK,
            json!({ "success": true, "accepted": accepted }),
        )
    } else if accepted == 0 {
        answer(
            StatusCode::BAD_REQUEST,
            json!({ "success": false, "accepted": 0, "rejected": listed }),
        )
    } else {
        answer(
            StatusCode::OK,
            json!({ "success": true, "accepted": accepted, "rejected": listed }),
        )
    }
}

/// The user name and password of an HTTP Basic `Authorization` header.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Some((user.to_string(), password.to_string()))
}

/// The body as JSON; a 400 saying where it is not.
#[allow(clippy::result_large_err)]
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(bytes).map_err(|e| {
        refusal(
            StatusCode::BAD_REQUEST,
            &format!("the body is not JSON: {e}"),
            None,
        )
    })
}

/// Keys a route accepts, replaced every few seconds as `parcours keys` changes them.
#[derive(Debug, Default)]
pub struct KeySet(std::sync::RwLock<Vec<String>>);

impl KeySet {
    /// A set of these keys.
    pub fn new(keys: Vec<String>) -> KeySet {
        KeySet(std::sync::RwLock::new(keys))
    }

    /// Replaces the keys.
    pub fn set(&self, keys: Vec<String>) {
        if let Ok(mut current) = self.0.write() {
            *current = keys;
        }
    }

    /// Whether `key` is one of them (an empty key never is).
    pub fn contains(&self, key: &str) -> bool {
        !key.is_empty()
            && self
                .0
                .read()
                .is_ok_and(|keys| keys.iter().any(|k| k == key))
    }
}
