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
use axum::response::Response;
use axum::routing::get;
use parcours_engine::analyze::{Model, Options, analyze};
use parcours_journey::Journey;
use serde_json::{Value, json};

use crate::http::{KeySet, answer, basic_credentials, refusal};

/// The last analysis.
pub struct Latest {
    /// The report, as `parcours analyze --format json` writes it.
    pub report: Value,
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
        let report = analyze(&model, &self.data, &options).map_err(|e| e.to_string())?;
        let report = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        let latest = Latest {
            report,
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

/// `/api/report`, `/api/opportunities`, `/api/stats`.
pub fn routes(api: Arc<ReadApi>) -> Router {
    Router::new()
        .route("/api/report", get(report))
        .route("/api/opportunities", get(opportunities))
        .route("/api/stats", get(stats))
        .with_state(api)
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
