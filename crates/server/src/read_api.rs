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
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parcours_engine::analyze::{Model, Options, analyze_each};
use parcours_engine::breakdown::Breakdown;
use parcours_engine::report::Report;
use parcours_events::IdKind;
use parcours_journey::Journey;
use serde_json::json;

use crate::customers;
use crate::http::{KeySet, answer, basic_credentials, refusal};
use crate::ops::Metrics;

/// The last analysis.
pub struct Latest {
    /// The report, as `parcours analyze` computes it.
    pub report: Arc<Report>,
    /// Per segment id, its members (customer ids, in the order the analysis met them).
    pub members: std::collections::HashMap<String, Vec<u64>>,
    /// Per stage id, the customers whose furthest stage it is (the report's `current`).
    pub at_stage: std::collections::HashMap<String, Vec<u64>>,
    /// When it was computed (RFC 3339).
    pub computed_at: String,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
}

/// A group of customers the last analysis lists: a segment's members, or those whose
/// furthest stage is a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// A segment of the journey.
    Segment,
    /// The customers a stage holds now.
    Stage,
}

impl Group {
    /// The group's customers in `latest`, if the journey has a group `id` of this kind.
    pub fn customers<'l>(self, latest: &'l Latest, id: &str) -> Option<&'l Vec<u64>> {
        match self {
            Group::Segment => latest.members.get(id),
            Group::Stage => latest.at_stage.get(id),
        }
    }

    /// What the journey calls this kind of group.
    pub fn noun(self) -> &'static str {
        match self {
            Group::Segment => "segment",
            Group::Stage => "stage",
        }
    }
}

/// What a report covers: a period and a breakdown, as `parcours analyze --from --to --by`
/// take them. The default (everything, no breakdown) is the one analysed in the background.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Only events at or after this time (ms since 1970 UTC).
    pub from: Option<i64>,
    /// Only events before this time.
    pub to: Option<i64>,
    /// Results split by this attribute.
    pub by: Option<Breakdown>,
}

impl Scope {
    /// The scope a query asks for with `from`, `to` (dates or RFC 3339 times; empty is
    /// none) and `by`; an error names the parameter that is wrong.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Scope, String> {
        let mut scope = Scope::default();
        for (name, value) in pairs {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let time = || {
                parcours_events::parse_timestamp(value, None)
                    .map_err(|e| format!("{name} {value:?}: {e}; write a date such as 2026-03-01"))
            };
            match name.as_str() {
                "from" => scope.from = Some(time()?),
                "to" => scope.to = Some(time()?),
                "by" => scope.by = Some(value.parse().map_err(|e| format!("by: {e}"))?),
                _ => {}
            }
        }
        if let (Some(from), Some(to)) = (scope.from, scope.to)
            && from >= to
        {
            return Err("from must come before to".to_string());
        }
        Ok(scope)
    }

    fn options(&self) -> Options {
        Options {
            from: self.from,
            to: self.to,
            by: self.by.clone(),
            threads: Some(1),
        }
    }
}

/// Reports of other scopes kept, most recently used last.
const KEPT_SCOPES: usize = 8;

/// The journey analysed in the background, its last result, and the reports of other
/// scopes asked for since.
pub struct Analyses {
    journey: Option<Arc<Journey>>,
    data: PathBuf,
    metrics: Arc<Metrics>,
    latest: RwLock<Option<Arc<Latest>>>,
    /// The store's event count the last analysis saw, as the server counts what it stored.
    seen: AtomicU64,
    /// (scope, events stored when computed, report).
    scoped: Mutex<Vec<(Scope, u64, Arc<Latest>)>>,
    /// Taken by each analysis while it runs: one at a time, on one core, whatever the
    /// number of people asking, so that ingestion always keeps the other cores.
    running: Mutex<()>,
}

impl Analyses {
    /// Analyses of `journey` (none without one) on the store in `data`; `metrics` counts
    /// the events stored, which tells when results are out of date.
    pub fn new(journey: Option<Arc<Journey>>, data: PathBuf, metrics: Arc<Metrics>) -> Analyses {
        Analyses {
            journey,
            data,
            metrics,
            latest: RwLock::new(None),
            seen: AtomicU64::new(u64::MAX),
            scoped: Mutex::new(Vec::new()),
            running: Mutex::new(()),
        }
    }

    /// The journey analysed, if any.
    pub fn journey(&self) -> Option<&Arc<Journey>> {
        self.journey.as_ref()
    }

    fn stored(&self) -> u64 {
        self.metrics.events_stored.load(Ordering::Relaxed)
    }

    /// The report of `scope`: the background one for the default scope; for another, the
    /// one kept if no event was stored since, else one computed now (blocking, one thread).
    /// `None` while the first background analysis runs.
    pub fn report_for(&self, scope: &Scope) -> Result<Option<Arc<Latest>>, String> {
        if *scope == Scope::default() {
            return Ok(self.latest());
        }
        let Some(journey) = &self.journey else {
            return Ok(None);
        };
        let stored = self.stored();
        let kept = || {
            let mut kept = self.scoped.lock().ok()?;
            let at = kept
                .iter()
                .position(|(s, n, _)| s == scope && *n == stored)?;
            let entry = kept.remove(at);
            let latest = entry.2.clone();
            kept.push(entry);
            Some(latest)
        };
        if let Some(latest) = kept() {
            return Ok(Some(latest));
        }
        let _turn = self.running.lock().map_err(|e| e.to_string())?;
        // Someone may have asked for the same while this request waited its turn.
        if let Some(latest) = kept() {
            return Ok(Some(latest));
        }
        let started = std::time::Instant::now();
        let model = Model::new(journey, &self.data).map_err(|e| e.to_string())?;
        let report = analyze_each(&model, &self.data, &scope.options(), |_| {})
            .map_err(|e| e.to_string())?;
        let latest = Arc::new(Latest {
            report: Arc::new(report),
            members: Default::default(),
            at_stage: Default::default(),
            computed_at: jiff::Timestamp::now().to_string(),
            took_ms: started.elapsed().as_millis() as u64,
        });
        if let Ok(mut kept) = self.scoped.lock() {
            kept.retain(|(s, _, _)| s != scope);
            if kept.len() == KEPT_SCOPES {
                kept.remove(0);
            }
            kept.push((scope.clone(), stored, latest.clone()));
        }
        Ok(Some(latest))
    }

    /// Whether the store has changed since the last analysis, `stored` being the events the
    /// server has stored so far.
    pub fn stale(&self) -> bool {
        self.journey.is_some() && self.seen.load(Ordering::Relaxed) != self.stored()
    }

    /// Analyses the store now (blocking, one thread) and keeps the result.
    pub fn refresh(&self) -> Result<(), String> {
        let Some(journey) = &self.journey else {
            return Ok(());
        };
        let _turn = self.running.lock().map_err(|e| e.to_string())?;
        self.seen.store(self.stored(), Ordering::Relaxed);
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
        let mut at_stage: std::collections::HashMap<String, Vec<u64>> = journey
            .stages
            .iter()
            .map(|s| (s.id.clone(), Vec::new()))
            .collect();
        let report = analyze_each(&model, &self.data, &options, |place| {
            for segment in &place.segments {
                if let Some(list) = members.get_mut(segment) {
                    list.push(place.customer);
                }
            }
            if let Some(list) = place.stage.as_ref().and_then(|s| at_stage.get_mut(s)) {
                list.push(place.customer);
            }
        })
        .map_err(|e| e.to_string())?;
        let latest = Latest {
            report: Arc::new(report),
            members,
            at_stage,
            computed_at: jiff::Timestamp::now().to_string(),
            took_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(ms = latest.took_ms, "analysed the journey");
        if let Ok(mut slot) = self.latest.write() {
            *slot = Some(Arc::new(latest));
        }
        Ok(())
    }

    /// The last background analysis, if one has finished.
    pub fn latest(&self) -> Option<Arc<Latest>> {
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
/// `/api/segments/{id}/members`, `/api/stages/{id}/customers`.
pub fn routes(api: Arc<ReadApi>) -> Router {
    Router::new()
        .route(
            "/api/report",
            get(|state, headers, uri| {
                scoped(state, headers, uri, |l| ("report", json!(&*l.report)))
            }),
        )
        .route(
            "/api/opportunities",
            get(|state, headers, uri| {
                scoped(state, headers, uri, |l| {
                    ("opportunities", json!(l.report.opportunities))
                })
            }),
        )
        .route("/api/stats", get(stats))
        .route("/api/customer", get(customer))
        .route(
            "/api/segments/{id}/members",
            get(|state, headers, path, uri| members(state, headers, path, uri, Group::Segment)),
        )
        .route(
            "/api/stages/{id}/customers",
            get(|state, headers, path, uri| members(state, headers, path, uri, Group::Stage)),
        )
        .with_state(api)
}

/// The query's `name=value` pairs, percent-decoded (`+` is a space).
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
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
    let found = tokio::task::spawn_blocking(move || {
        customers::find(&data, kind, &value)?
            .map(|customer| customers::timeline(&data, journey.as_deref(), customer))
            .transpose()
    })
    .await;
    match found {
        Ok(Ok(Some(timeline))) => answer(StatusCode::OK, json!(timeline)),
        Ok(Ok(None)) => refusal(
            StatusCode::NOT_FOUND,
            "no customer with that identifier",
            None,
        ),
        Ok(Err(error)) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error, None),
        Err(error) => refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    }
}

fn unauthorized() -> Response {
    refusal(
        StatusCode::UNAUTHORIZED,
        "unknown or missing view key: create one with `parcours keys create --kind view` and send it as a Bearer token",
        None,
    )
}

/// Why there is no report to give.
#[derive(Debug)]
pub enum Unavailable {
    /// The server was started without a journey.
    NoJourney,
    /// The first analysis has not finished.
    FirstRunning,
    /// The scope asked for is wrong (a 400).
    BadScope(String),
    /// The analysis failed.
    Failed(String),
}

impl Unavailable {
    /// The HTTP status and the sentence saying why.
    pub fn explain(&self) -> (StatusCode, String) {
        match self {
            Unavailable::NoJourney => (
                StatusCode::NOT_FOUND,
                "the server was started without a journey: give it one with --journey".into(),
            ),
            Unavailable::FirstRunning => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the first analysis is still running; try again in a few seconds".into(),
            ),
            Unavailable::BadScope(why) => (StatusCode::BAD_REQUEST, why.clone()),
            Unavailable::Failed(why) => (StatusCode::INTERNAL_SERVER_ERROR, why.clone()),
        }
    }
}

impl Analyses {
    /// The report a query's `from`, `to` and `by` ask for (see [`Analyses::report_for`]),
    /// computed off the async threads.
    pub async fn report_for_query(
        self: &Arc<Self>,
        pairs: &[(String, String)],
    ) -> Result<Arc<Latest>, Unavailable> {
        if self.journey.is_none() {
            return Err(Unavailable::NoJourney);
        }
        let scope = Scope::from_query(pairs).map_err(Unavailable::BadScope)?;
        let analyses = self.clone();
        match tokio::task::spawn_blocking(move || analyses.report_for(&scope)).await {
            Ok(Ok(Some(latest))) => Ok(latest),
            Ok(Ok(None)) => Err(Unavailable::FirstRunning),
            Ok(Err(why)) => Err(Unavailable::Failed(why)),
            Err(error) => Err(Unavailable::Failed(error.to_string())),
        }
    }
}

/// The report a request asks for, or the refusal saying why there is none.
async fn scoped_report(api: &ReadApi, uri: &axum::http::Uri) -> Result<Arc<Latest>, Response> {
    api.analyses
        .report_for_query(&query_pairs(uri.query().unwrap_or("")))
        .await
        .map_err(refuse)
}

fn refuse(why: Unavailable) -> Response {
    let (status, text) = why.explain();
    refusal(status, &text, None)
}

/// `GET /api/report` and `/api/opportunities` (`?from=…&to=…&by=…`): the report of that
/// scope, or what `part` keeps of it, with when it was computed.
async fn scoped(
    State(api): State<Arc<ReadApi>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    part: fn(&Latest) -> (&'static str, serde_json::Value),
) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    match scoped_report(&api, &uri).await {
        Ok(latest) => {
            let (name, value) = part(&latest);
            answer(
                StatusCode::OK,
                json!({ "computed_at": latest.computed_at, "took_ms": latest.took_ms, name: value }),
            )
        }
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

/// `GET /api/segments/{id}/members` and `/api/stages/{id}/customers` (`?format=csv` for a
/// CRM import): the group's customers at the last analysis, each with the user id and email
/// a CRM joins on.
async fn members(
    State(api): State<Arc<ReadApi>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    uri: axum::http::Uri,
    group: Group,
) -> Response {
    if !api.authorized(&headers) {
        return unauthorized();
    }
    let latest = match api.analyses.report_for_query(&[]).await {
        Ok(latest) => latest,
        Err(why) => return refuse(why),
    };
    let Some(ids) = group.customers(&latest, &id).cloned() else {
        let mut known: Vec<&str> = match group {
            Group::Segment => latest.members.keys().map(String::as_str).collect(),
            Group::Stage => latest.at_stage.keys().map(String::as_str).collect(),
        };
        known.sort_unstable();
        let noun = group.noun();
        return refusal(
            StatusCode::NOT_FOUND,
            &format!(
                "the journey has no {noun} `{id}`; its {noun}s: {}",
                known.join(", ")
            ),
            None,
        );
    };
    let csv = query_pairs(uri.query().unwrap_or(""))
        .iter()
        .any(|(name, value)| name == "format" && value == "csv");
    let data = api.data.clone();
    let members = match tokio::task::spawn_blocking(move || customers::members(&data, &ids)).await {
        Ok(Ok(members)) => members,
        Ok(Err(error)) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error, None),
        Err(error) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string(), None),
    };
    if csv {
        return csv_download(&id, customers::members_csv(&members));
    }
    answer(
        StatusCode::OK,
        json!({ group.noun(): id, "computed_at": latest.computed_at, "customers": members }),
    )
}

/// A CSV file to download, named after the group.
pub(crate) fn csv_download(group: &str, csv: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}.csv\"",
                    group.replace(['"', '\\', '/'], "_")
                ),
            ),
        ],
        csv,
    )
        .into_response()
}
