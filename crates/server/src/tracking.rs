//! The tracking API, compatible with Segment's HTTP API: `POST /v1/track`, `/v1/identify`,
//! `/v1/page`, `/v1/screen`, `/v1/alias`, `/v1/group` (one message) and `/v1/batch` (many),
//! the write key as the HTTP Basic user as Segment's SDKs send it, bodies plain or gzip.
//!
//! Every message is checked as the store will read it ([`from_segment_json`]) before it is
//! written to the event log; the answer is sent once the log has synced it. A message that
//! fails is answered with the reason and the field; in a batch the good messages are kept
//! and the answer lists the ones refused, by position.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use parcours_events::{MessageType, Rejection, from_segment_json};
use serde_json::{Map, Value, json};

use crate::http::{KeySet, answer, basic_credentials, many_answer, parse_json, read_body, refusal};
use crate::log::EventLog;
use crate::ops::Metrics;
use crate::record::{Record, encode};

/// A request body over this, compressed or not, is refused with 413 (Segment's batch limit
/// is 500 KB).
pub const MAX_BODY_BYTES: usize = 512 << 10;

/// What the tracking routes share.
pub struct Tracking {
    /// Where acknowledged messages go.
    pub log: Arc<EventLog>,
    /// The write keys accepted: those given at start and those of the store, read again
    /// every few seconds.
    pub write_keys: KeySet,
    /// The server's counters.
    pub metrics: Arc<Metrics>,
}

/// The tracking routes.
pub fn routes(tracking: Arc<Tracking>) -> Router {
    let one = |kind: MessageType| {
        move |State(t): State<Arc<Tracking>>, headers: HeaderMap, body: Body| async move {
            receive(&t, &headers, body, Some(kind)).await
        }
    };
    Router::new()
        .route("/v1/track", post(one(MessageType::Track)))
        .route("/v1/identify", post(one(MessageType::Identify)))
        .route("/v1/page", post(one(MessageType::Page)))
        .route("/v1/screen", post(one(MessageType::Screen)))
        .route("/v1/alias", post(one(MessageType::Alias)))
        .route("/v1/group", post(one(MessageType::Group)))
        .route(
            "/v1/batch",
            post(
                |State(t): State<Arc<Tracking>>, headers: HeaderMap, body: Body| async move {
                    receive(&t, &headers, body, None).await
                },
            ),
        )
        .route(
            "/v1/import",
            post(
                |State(t): State<Arc<Tracking>>, headers: HeaderMap, body: Body| async move {
                    receive(&t, &headers, body, None).await
                },
            ),
        )
        .with_state(tracking)
}

/// One request: `kind` for the single-message routes, `None` for a batch.
async fn receive(
    tracking: &Tracking,
    headers: &HeaderMap,
    body: Body,
    kind: Option<MessageType>,
) -> Response {
    let metrics = &tracking.metrics;
    let bytes = match read_body(headers, body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(response) => {
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Metrics::add(&metrics.requests_too_large, 1);
            }
            return response;
        }
    };
    let parsed: Map<String, Value> = match parse_json(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON object",
                None,
            );
        }
        Err(response) => return response,
    };
    let body_key = parsed.get("writeKey").and_then(Value::as_str);
    if !authorized(tracking, headers, body_key) {
        Metrics::add(&metrics.requests_unauthorized, 1);
        return refusal(
            StatusCode::UNAUTHORIZED,
            "unknown or missing write key: send it as the HTTP Basic user name",
            None,
        );
    }
    let received_at = jiff::Timestamp::now();
    let (messages, shared_context) = match kind {
        Some(kind) => (vec![Value::Object(with_type(parsed, kind))], None),
        None => match split_batch(parsed) {
            Ok(split) => split,
            Err(response) => return response,
        },
    };
    let batch = kind.is_none();
    let mut records = Vec::with_capacity(messages.len());
    let mut refused = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        match prepare(message, shared_context.as_ref(), received_at) {
            Ok(record) => records.push(record),
            Err(rejection) => refused.push((index, rejection)),
        }
    }
    let accepted = records.len();
    if !records.is_empty()
        && let Err(error) = tracking.log.append(records).await
    {
        return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None);
    }
    Metrics::add(&metrics.events_accepted, accepted as u64);
    Metrics::add(&metrics.events_rejected, refused.len() as u64);
    if !batch {
        return match refused.first() {
            None => answer(StatusCode::OK, json!({ "success": true })),
            Some((_, rejection)) => refusal(
                StatusCode::BAD_REQUEST,
                &rejection.reason,
                rejection.field.as_deref(),
            ),
        };
    }
    many_answer(accepted, &refused)
}

/// Whether the request carries a known write key: as the Basic user name (Segment's SDKs),
/// or as `writeKey` in a batch body.
fn authorized(tracking: &Tracking, headers: &HeaderMap, body_key: Option<&str>) -> bool {
    let keys = &tracking.write_keys;
    basic_credentials(headers).is_some_and(|(user, _)| keys.contains(&user))
        || body_key.is_some_and(|key| keys.contains(key))
}

/// The message with the route's type when it has none.
fn with_type(mut message: Map<String, Value>, kind: MessageType) -> Map<String, Value> {
    message
        .entry("type")
        .or_insert_with(|| Value::String(kind.as_str().to_string()));
    message
}

/// A batch's messages and the `context` it gives them all.
#[allow(clippy::result_large_err)]
fn split_batch(mut body: Map<String, Value>) -> Result<(Vec<Value>, Option<Value>), Response> {
    match body.remove("batch") {
        Some(Value::Array(messages)) => Ok((messages, body.remove("context"))),
        _ => Err(refusal(
            StatusCode::BAD_REQUEST,
            "a batch body needs `batch`, a list of messages",
            Some("batch"),
        )),
    }
}

/// A message as the log keeps it, checked as the store will read it: the batch's context
/// when it has none of its own, the time received, and that time as its `timestamp` when
/// it gives no time at all (as Segment does).
fn prepare(
    message: Value,
    shared_context: Option<&Value>,
    received_at: jiff::Timestamp,
) -> Result<Vec<u8>, Rejection> {
    let Value::Object(mut message) = message else {
        return Err(Rejection::new("a message must be a JSON object"));
    };
    if let Some(context) = shared_context
        && !message.contains_key("context")
    {
        message.insert("context".into(), context.clone());
    }
    let received = received_at.to_string();
    if !message.contains_key("timestamp") && !message.contains_key("originalTimestamp") {
        message.insert("timestamp".into(), Value::String(received.clone()));
    }
    message.insert("receivedAt".into(), Value::String(received));
    let text = Value::Object(message).to_string();
    from_segment_json(text.as_bytes(), None)?;
    Ok(encode(Record::Segment, text.as_bytes()))
}
