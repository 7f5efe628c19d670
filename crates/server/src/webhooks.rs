//! `POST /webhooks/mailjet`: Mailjet's Event API, one event per request or grouped in an
//! array, each kept as an `email_*` event of the customer known by the recipient's
//! address. Protected, when the server is given credentials, by HTTP Basic auth (Mailjet
//! sends the user and password written in the webhook's URL). As durable as the tracking
//! API: the answer comes once the log has synced the events.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use parcours_events::from_mailjet_json;
use serde_json::Value;

use crate::http::{basic_credentials, many_answer, parse_json, read_body, refusal};
use crate::log::EventLog;
use crate::ops::Metrics;
use crate::record::{Record, encode};

/// Mailjet groups many events in one request: a larger limit than the tracking API's.
pub const MAX_WEBHOOK_BYTES: usize = 8 << 20;

/// What the webhook routes share.
pub struct Webhooks {
    /// Where accepted events go.
    pub log: Arc<EventLog>,
    /// The (user, password) Mailjet must send, when set.
    pub mailjet_auth: Option<(String, String)>,
    /// The server's counters.
    pub metrics: Arc<Metrics>,
}

/// The webhook routes.
pub fn routes(webhooks: Arc<Webhooks>) -> Router {
    Router::new()
        .route("/webhooks/mailjet", post(mailjet))
        .with_state(webhooks)
}

async fn mailjet(
    State(webhooks): State<Arc<Webhooks>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(expected) = &webhooks.mailjet_auth
        && basic_credentials(&headers).as_ref() != Some(expected)
    {
        Metrics::add(&webhooks.metrics.requests_unauthorized, 1);
        return refusal(
            StatusCode::UNAUTHORIZED,
            "wrong or missing credentials: put the user and password given to parcours serve in the webhook's URL",
            None,
        );
    }
    let bytes = match read_body(&headers, body, MAX_WEBHOOK_BYTES).await {
        Ok(bytes) => bytes,
        Err(response) => {
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Metrics::add(&webhooks.metrics.requests_too_large, 1);
            }
            return response;
        }
    };
    let events = match parse_json(&bytes) {
        Ok(Value::Array(events)) => events,
        Ok(event @ Value::Object(_)) => vec![event],
        Ok(_) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "the body must be a Mailjet event or an array of them",
                None,
            );
        }
        Err(response) => return response,
    };
    let mut records = Vec::with_capacity(events.len());
    let mut refused = Vec::new();
    for (index, event) in events.into_iter().enumerate() {
        let text = event.to_string();
        match from_mailjet_json(text.as_bytes()) {
            Ok(_) => records.push(encode(Record::Mailjet, text.as_bytes())),
            Err(rejection) => refused.push((index, rejection)),
        }
    }
    let accepted = records.len();
    if !records.is_empty()
        && let Err(error) = webhooks.log.append(records).await
    {
        return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None);
    }
    Metrics::add(&webhooks.metrics.events_accepted, accepted as u64);
    Metrics::add(&webhooks.metrics.events_rejected, refused.len() as u64);
    many_answer(accepted, &refused)
}
