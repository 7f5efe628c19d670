//! The read API, for teammates' tools and the web UI: the journey's results and
//! opportunities as `parcours analyze --format json` gives them, and the store's figures,
//! behind a view key (`parcours keys create --kind view`, sent as a Bearer token or as the
//! HTTP Basic user).
//!
//! Analyses never run in a request: one runs in the background when the server starts and
//! again, at most every few seconds, after new events have reached the store, on one thread
//! so that ingestion keeps the other cores; requests read the last result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parcours_engine::analyze::{Model, Options, analyze_each, place_customer};
use parcours_events::IdKind;
use parcours_journey::Journey;
use serde_json::{Value, json};

use crate::http::{KeySet, answer, basic_credentials, refusal};

/// The last analysis.
pub struct Latest {
    /// The report, as `parcours analyze --format json` writes it.
    pub report: Value,
    /// Per segment id, its members (customer ids, in the order the analysis met them).
    pub members: std::collections::HashMap<String, Vec<u64>>,
    /// When it was computed (RFC 3339).
    pub computed_at: String,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// The journey analysed in the background, and its last result.
pub struct Analyses {
    journey: Option<Arc<Journey>>,
    data: PathBuf,
    latest: RwLock<Option<Arc<Latest>>>,
    /// The store's event count the last analysis saw, as the server counts what it stored.
    seen: AtomicU64,
}

impl Analyses {
    /// Analyses of `journey` (none without one) on the store in `data`.
    pub fn new(journey: Option<Arc<Journey>>, data: PathBuf) -> Analyses {
        Analyses {
            journey,
            data,
            latest: RwLock::new(None),
            seen: AtomicU64::new(u64::MAX),
        }
    }

    /// Whether the store has changed since the last analysis, `stored` being the events the
    /// server has stored so far.
    pub fn stale(&self, stored: u64) -> bool {
        self.journey.is_some() && self.seen.load(Ordering::Relaxed) != stored
    }

    /// Analyses the store now (blocking, one thread) and keeps the result; `stored` is
    /// recorded as what it saw.
    pub fn refresh(&self, stored: u64) -> Result<(), String> {
        let Some(journey) = &self.journey else {
            return Ok(());
        };
        self.seen.store(stored, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let model = Model::new(journey, &self.data).map_err(|e| e.to_string())?;
        let options = Options {
            threads: Some(1),
            ..Options::default()
        };
        let mut members: std::collections::HashMap<String, Vec<u64>> = journey
            .segments
            .iter()
            .map(|s| (s.id.clone(), Vec::new()))
            .collect();
        let report = analyze_each(&model, &self.data, &options, |place| {
            for segment in &place.segments {
                if let Some(list) = members.get_mut(segment) {
                    list.push(place.customer);
                }
            }
        })
        .map_err(|e| e.to_string())?;
        let report = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        let latest = Latest {
            report,
            members,
            computed_at: jiff::Timestamp::now().to_string(),
            took_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(ms = latest.took_ms, "analysed the journey");
        if let Ok(mut slot) = self.latest.write() {
            *slot = Some(Arc::new(latest));
        }
        Ok(())
    }

    fn latest(&self) -> Option<Arc<Latest>> {
        self.latest.read().ok().and_then(|l| l.clone())
    }
}

/// What the read routes share.
pub struct ReadApi {
    /// The analyses.
    pub analyses: Arc<Analyses>,
    /// View keys accepted, read again every few seconds.
    pub view_keys: KeySet,
    /// The store.
    pub data: PathBuf,
}

impl ReadApi {
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|k| k.trim().to_string());
        let presented = bearer.or_else(|| basic_credentials(headers).map(|(user, _)| user));
        presented.is_some_and(|key| self.view_keys.contains(&key))
    }
}

/// `/api/report`, `/api/opportunities`, `/api/stats`, `/api/customer`,
/// `/api/segments/{id}/members`.
pub fn routes(api: Arc<ReadApi>) -> Router {
    Router::new()
        .route("/api/report", get(report))
        .route("/api/opportunities", get(opportunities))
        .route("/api/stats", get(stats))
        .route("/api/customer", get(customer))
        .route("/api/segments/{id}/members", get(members))
        .with_state(api)
}

/// The query's `name=value` pairs, percent-decoded (`+` is a space).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    fn hex(byte: u8) -> Option<u8> {
        (byte as char).to_digit(16).map(|d| d as u8)
    }
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let escaped = (bytes[i] == b'%')
                .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
                .flatten();
            match (bytes[i], escaped) {
                (_, Some(byte)) => {
                    out.push(byte);
                    i += 3;
                }
                (b'+', None) => {
                    out.push(b' ');
                    i += 1;
                }
                (byte, None) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// `GET /api/customer?user_id=…` (or `email`, `anonymous_id`): the customer's identifiers,
/// traits, place in the journey (stage, level, persona, segments; placed on request, alone)
/// and events in time order.
async fn customer(
    State(api): State<Arc<ReadApi>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    let pairs = query_pairs(uri.query().unwrap_or(""));
    let wanted = pairs.iter().find_map(|(name, value)| {
        let kind = match name.as_str() {
            "user_id" => IdKind::User,
            "email" => IdKind::Email,
            "anonymous_id" => IdKind::Anonymous,
            _ => return None,
        };
        Some((kind, value.clone()))
    });
    let Some((kind, value)) = wanted else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "say which customer: ?user_id=…, ?email=… or ?anonymous_id=…",
            None,
        );
    };
    let (data, journey) = (api.data.clone(), api.analyses.journey.clone());
    let found =
        tokio::task::spawn_blocking(move || timeline(&data, journey.as_deref(), kind, &value))
            .await;
    match found {
        Ok(Ok(Some(body))) => answer(StatusCode::OK, body),
        Ok(Ok(None)) => refusal(
            StatusCode::NOT_FOUND,
            "no customer with that identifier",
            None,
        ),
        Ok(Err(error)) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error, None),
        Err(error) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    }
}

/// One customer's record, place and events, as the read API answers it.
fn timeline(
    data: &std::path::Path,
    journey: Option<&Journey>,
    kind: IdKind,
    value: &str,
) -> Result<Option<Value>, String> {
    let value = match kind {
        IdKind::Email => {
            parcours_events::normalize_email(value).unwrap_or_else(|| value.to_string())
        }
        _ => value.to_string(),
    };
    let Some(customer) =
        parcours_store::customer_by_identifier(data, kind, &value).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let place = match journey {
        Some(journey) => {
            let model = Model::new(journey, data).map_err(|e| e.to_string())?;
            place_customer(&model, data, &Options::default(), customer.id)
                .map_err(|e| e.to_string())?
        }
        None => None,
    };
    let names: std::collections::HashMap<i32, (String, String)> =
        parcours_store::scan::event_codes(data)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(code, kind, name)| (code, (kind.as_str().to_string(), name)))
            .collect();
    let parts =
        parcours_store::scan::customer_parts(data, customer.id).map_err(|e| e.to_string())?;
    let columns = parcours_store::scan::ScanColumns {
        properties: true,
        ..Default::default()
    };
    let mut events = Vec::new();
    parcours_store::scan::scan_parts(data, columns, &parts, |view| {
        if view.customer != customer.id {
            return Ok(());
        }
        for (i, (&at, code)) in view.at.iter().zip(view.code).enumerate() {
            let (kind, name) = names.get(code).cloned().unwrap_or_default();
            let properties = view
                .properties
                .get(i)
                .and_then(|text| serde_json::from_str::<Value>(text).ok());
            events.push(json!({
                "at": parcours_events::format_timestamp(at),
                "type": kind,
                "name": name,
                "properties": properties,
            }));
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(Some(
        json!({ "customer": customer, "place": place, "events": events }),
    ))
}

fn unauthorized() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "unknown or missing view key: create one with `parcours keys create --kind view` and send it as a Bearer token",
        None,
    )
}

/// The last analysis, or the reason there is none yet.
#[allow(clippy::result_large_err)]
fn latest(api: &ReadApi) -> Result<Arc<Latest>, Response> {
    if api.analyses.journey.is_none() {
        return Err(refusal(
            StatusCode::NOT_FOUND,
            "the server was started without a journey: give it one with --journey",
            None,
        ));
    }
    api.analyses.latest().ok_or_else(|| {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the first analysis is still running; try again in a few seconds",
            None,
        )
    })
}

async fn report(State(api): State<Arc<ReadApi>>, headers: HeaderMap) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    match latest(&api) {
        Ok(latest) => answer(
            StatusCode::OK,
            json!({ "computed_at": latest.computed_at, "took_ms": latest.took_ms, "report": latest.report }),
        ),
        Err(response) => response,
    }
}

async fn opportunities(State(api): State<Arc<ReadApi>>, headers: HeaderMap) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    match latest(&api) {
        Ok(latest) => answer(
            StatusCode::OK,
            json!({
                "computed_at": latest.computed_at,
                "opportunities": latest.report.get("opportunities").cloned().unwrap_or(Value::Null),
            }),
        ),
        Err(response) => response,
    }
}

async fn stats(State(api): State<Arc<ReadApi>>, headers: HeaderMap) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    let data = api.data.clone();
    match tokio::task::spawn_blocking(move || parcours_store::stats(&data)).await {
        Ok(Ok(stats)) => answer(StatusCode::OK, json!({ "stats": stats })),
        Ok(Err(error)) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
        Err(error) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    }
}

/// `GET /api/segments/{id}/members` (`?format=csv` for a CRM import): the segment's members
/// at the last analysis, each with the user id and email a CRM joins on.
async fn members(
    State(api): State<Arc<ReadApi>>,
    headers: HeaderMap,
    axum::extract::Path(segment): axum::extract::Path<String>,
    uri: axum::http::Uri,
) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    let latest = match latest(&api) {
        Ok(latest) => latest,
        Err(response) => return response,
    };
    let Some(ids) = latest.members.get(&segment).cloned() else {
        let mut known: Vec<&str> = latest.members.keys().map(String::as_str).collect();
        known.sort_unstable();
        return refusal(
            StatusCode::NOT_FOUND,
            &format!(
                "the journey has no segment `{segment}`; its segments: {}",
                known.join(", ")
            ),
            None,
        );
    };
    let csv = query_pairs(uri.query().unwrap_or(""))
        .iter()
        .any(|(name, value)| name == "format" && value == "csv");
    let data = api.data.clone();
    let contacts =
        tokio::task::spawn_blocking(move || parcours_store::scan::contact_ids(&data)).await;
    let contacts = match contacts {
        Ok(Ok(contacts)) => contacts,
        Ok(Err(error)) => {
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None);
        }
        Err(error) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    };
    let contact = |id: &u64| contacts.get(id).cloned().unwrap_or_default();
    if csv {
        let mut out = String::from("customer,user_id,email\n");
        for id in &ids {
            let c = contact(id);
            out.push_str(&format!(
                "{id},{},{}\n",
                csv_cell(c.user_id.as_deref().unwrap_or("")),
                csv_cell(c.email.as_deref().unwrap_or(""))
            ));
        }
        return (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}.csv\"",
                        segment.replace(['"', '\\', '/'], "_")
                    ),
                ),
            ],
            out,
        )
            .into_response();
    }
    let listed: Vec<Value> = ids
        .iter()
        .map(|id| {
            let c = contact(id);
            json!({ "customer": id, "user_id": c.user_id, "email": c.email })
        })
        .collect();
    answer(
        StatusCode::OK,
        json!({ "segment": segment, "computed_at": latest.computed_at, "customers": listed }),
    )
}

/// A CSV cell, quoted when it must be.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
