//! Operations: `GET /healthz`, `GET /metrics` (Prometheus text format) and the counters
//! behind them, and `GET /openapi.json`, the document of every route.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::log::EventLog;

/// Counters of a running server, since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Events acknowledged (tracking API and webhooks).
    pub events_accepted: AtomicU64,
    /// Events refused (bad messages).
    pub events_rejected: AtomicU64,
    /// Requests refused for a missing or wrong key or credentials.
    pub requests_unauthorized: AtomicU64,
    /// Requests refused for their size.
    pub requests_too_large: AtomicU64,
    /// Moves of the log into the store that committed.
    pub compactions: AtomicU64,
    /// Moves of the log into the store that failed (retried at the next round).
    pub compaction_failures: AtomicU64,
    /// Events the store took in those moves.
    pub events_stored: AtomicU64,
    /// Events those moves left out as already stored (the same message id sent again).
    pub duplicates: AtomicU64,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters in Prometheus's text format.
    pub fn render(&self, log: &EventLog) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            "parcours_events_accepted_total",
            "Events acknowledged, on disk in the event log.",
            read(&self.events_accepted),
        );
        counter(
            "parcours_events_rejected_total",
            "Events refused as bad messages.",
            read(&self.events_rejected),
        );
        counter(
            "parcours_requests_unauthorized_total",
            "Requests refused for a missing or wrong write key or credentials.",
            read(&self.requests_unauthorized),
        );
        counter(
            "parcours_requests_too_large_total",
            "Requests refused for their size.",
            read(&self.requests_too_large),
        );
        counter(
            "parcours_compactions_total",
            "Moves of the event log into the store.",
            read(&self.compactions),
        );
        counter(
            "parcours_compaction_failures_total",
            "Moves of the event log into the store that failed and wait for the next round.",
            read(&self.compaction_failures),
        );
        counter(
            "parcours_events_stored_total",
            "Events the store took from the event log.",
            read(&self.events_stored),
        );
        counter(
            "parcours_duplicates_total",
            "Events the store left out as already stored.",
            read(&self.duplicates),
        );
        counter(
            "parcours_log_records_total",
            "Records appended to the event log since the server started.",
            log.appended(),
        );
        out
    }
}

/// What the operation routes read.
pub struct Ops {
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The event log.
    pub log: Arc<EventLog>,
}

/// The OpenAPI document of every route.
pub const OPENAPI: &str = include_str!("openapi.json");

/// `/healthz`, `/metrics` and `/openapi.json`.
pub fn routes(ops: Arc<Ops>) -> Router {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    OPENAPI,
                )
                    .into_response()
            }),
        )
        .route(
            "/healthz",
            get(|| async {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"status":"ok"}"#,
                )
                    .into_response()
            }),
        )
        .route(
            "/metrics",
            get(|State(ops): State<Arc<Ops>>| async move {
                let text = ops.metrics.render(&ops.log);
                let response: Response = (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    text,
                )
                    .into_response();
                response
            }),
        )
        .with_state(ops)
}
