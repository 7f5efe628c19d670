//! The tracking API over real HTTP: a server on a loopback port, requests written on a TCP
//! socket as any client would, and the store read afterwards.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use serde_json::{Value, json};

const KEY: &str = "wk_test";

mod common;
use common::{Server, temp_dir};

trait Requests {
    fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value);
    fn get(&self, path: &str) -> (u16, String);
    fn post_json(&self, path: &str, key: &str, body: &Value) -> (u16, Value);
}

fn start(data: &Path) -> Server {
    let mut options = common::options(data, &[KEY, "second"]);
    options.mailjet_auth = Some(("mj".to_string(), "s3cret".to_string()));
    Server::start(options)
}

impl Requests for Server {
    /// Sends one request; returns the status and the JSON body.
    fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
        let mut headers = headers.to_vec();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type", "application/json".to_string()));
        }
        let (status, _, body) = self.request("POST", path, &headers, body);
        (
            status,
            serde_json::from_str(body.trim()).unwrap_or(Value::Null),
        )
    }

    /// Sends a GET; returns the status and the body as text.
    fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.request("GET", path, &[], b"");
        (status, body)
    }

    fn post_json(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.post(path, &[auth(key)], body.to_string().as_bytes())
    }
}

fn auth(key: &str) -> (&'static str, String) {
    basic(key, "")
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    ("Authorization", format!("Basic {encoded}"))
}

/// Every customer's event names, by customer id.
fn events_by_customer(data: &Path) -> std::collections::HashMap<u64, Vec<String>> {
    let names: std::collections::HashMap<i32, String> = parcours_store::scan::event_codes(data)
        .unwrap()
        .into_iter()
        // Identify and the other nameless types by their type.
        .map(|(code, kind, name)| {
            (
                code,
                if name.is_empty() {
                    kind.as_str().to_string()
                } else {
                    name
                },
            )
        })
        .collect();
    let mut out = std::collections::HashMap::new();
    parcours_store::scan::scan_customers(data, Default::default(), |view| {
        let list: &mut Vec<String> = out.entry(view.customer).or_default();
        list.extend(view.code.iter().map(|c| names[c].clone()));
        Ok(())
    })
    .unwrap();
    out
}

fn track(user: &str, event: &str, message_id: &str) -> Value {
    json!({
        "userId": user,
        "event": event,
        "messageId": message_id,
        "timestamp": "2026-11-20T10:00:00Z",
        "properties": {"plan": "pro"}
    })
}

#[test]
fn the_tracking_api_acknowledges_what_it_keeps_and_says_what_it_refuses() {
    let data = temp_dir("api");
    let server = start(&data);

    // One message, its type from the route.
    let (status, body) = server.post_json("/v1/track", KEY, &track("u1", "Signed Up", "m1"));
    assert_eq!((status, &body), (200, &json!({"success": true})));
    let (status, _) = server.post_json(
        "/v1/identify",
        "second",
        &json!({"userId": "u1", "traits": {"email": "Ana@Example.com"}, "timestamp": "2026-11-20T09:00:00Z", "messageId": "m2"}),
    );
    assert_eq!(status, 200);

    // No key, a wrong key: 401.
    let (status, body) = server.post(
        "/v1/track",
        &[],
        track("u1", "x", "m3").to_string().as_bytes(),
    );
    assert_eq!(status, 401, "{body}");
    let (status, _) = server.post_json("/v1/track", "nope", &track("u1", "x", "m3"));
    assert_eq!(status, 401);

    // A bad message: 400, naming the field.
    let (status, body) = server.post_json(
        "/v1/track",
        KEY,
        &json!({"userId": "u1", "timestamp": "2026-11-20T10:00:00Z"}),
    );
    assert_eq!(status, 400);
    assert_eq!(body["field"], "event", "{body}");
    let (status, body) = server.post("/v1/page", &[auth(KEY)], b"{\"userId\": ");
    assert_eq!(status, 400, "{body}");

    // A batch with one bad message keeps the others and says which failed.
    let batch = json!({
        "batch": [
            track("u2", "Viewed", "b1").as_object().unwrap().clone().into_iter().chain([("type".to_string(), json!("track"))]).collect::<serde_json::Map<_, _>>(),
            {"type": "track", "event": "Viewed", "timestamp": "2026-11-20T10:00:00Z"},
            {"type": "page", "name": "Home", "anonymousId": "anon-é", "timestamp": "2026-11-20T10:01:00Z", "messageId": "b3"},
        ],
        "context": {"library": {"name": "test"}}
    });
    let (status, body) = server.post_json("/v1/batch", KEY, &batch);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 2);
    assert_eq!(
        body["rejected"],
        json!([{"index": 1, "field": "userId", "error": "neither `userId` nor `anonymousId` is set"}])
    );

    // Gzip bodies, as SDKs send them.
    let gz_batch = json!({"batch": [
        {"type": "track", "userId": "u3", "event": "Purchased", "timestamp": "2026-11-20T11:00:00Z", "messageId": "g1"}
    ]});
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(gz_batch.to_string().as_bytes()).unwrap();
    let (status, body) = server.post(
        "/v1/batch",
        &[auth(KEY), ("Content-Encoding", "gzip".to_string())],
        &encoder.finish().unwrap(),
    );
    assert_eq!((status, &body["accepted"]), (200, &json!(1)), "{body}");

    // Over the size limit: 413, and nothing of it kept.
    let big: Vec<Value> = (0..6000)
        .map(|i| track("u4", "Big", &format!("big{i}")))
        .collect();
    let (status, body) = server.post_json("/v1/batch", KEY, &json!({ "batch": big }));
    assert_eq!(status, 413, "{body}");

    // The same message id twice is one event.
    let (status, _) = server.post_json("/v1/track", KEY, &track("u1", "Signed Up", "m1"));
    assert_eq!(status, 200);

    // Health and counters.
    let (status, body) = server.get("/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    for line in [
        "parcours_events_accepted_total 6",
        "parcours_events_rejected_total 2",
        "parcours_requests_unauthorized_total 2",
        "parcours_requests_too_large_total 1",
        "parcours_log_records_total 6",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    // The OpenAPI document names every route, and every route it names is served.
    let (status, document) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let document: Value = serde_json::from_str(&document).unwrap();
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in paths {
        // Path parameters filled with a sample value.
        let concrete: String = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "sample"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods.as_object().unwrap().keys() {
            let status = if method == "get" {
                server.get(&concrete).0
            } else {
                server.post(&concrete, &[], b"{}").0
            };
            assert!(status != 404 && status != 405, "{method} {path}: {status}");
        }
    }
    let mut named: Vec<&str> = paths.keys().map(String::as_str).collect();
    named.sort();
    assert_eq!(
        named,
        [
            "/api/customer",
            "/api/opportunities",
            "/api/report",
            "/api/segments/{id}/members",
            "/api/stages/{id}/customers",
            "/api/stats",
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/v1/alias",
            "/v1/batch",
            "/v1/group",
            "/v1/identify",
            "/v1/import",
            "/v1/page",
            "/v1/screen",
            "/v1/track",
            "/webhooks/mailjet",
        ]
    );
    server.stop();
    // Stopped, the server has moved every acknowledged message into the store:
    // m1, m2, b1, b3, g1.
    let stats = parcours_store::stats(&data).unwrap();
    assert_eq!(stats.events, 5);
    assert_eq!(
        stats.customers, 4,
        "u1, u2, u3 and the anonymous page visitor: {stats:?}"
    );
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn mailjet_events_land_on_the_customers_of_their_addresses() {
    let data = temp_dir("mailjet");
    let server = start(&data);
    // Ana is known to the tracking API by her user id and address.
    let (status, _) = server.post_json(
        "/v1/identify",
        KEY,
        &json!({"userId": "ana", "traits": {"email": "ana@example.com"}, "timestamp": "2026-11-20T09:00:00Z"}),
    );
    assert_eq!(status, 200);
    let grouped = json!([
        {"event": "open", "time": 1763640000, "MessageID": 19421777835146490u64, "email": "Ana@Example.com", "mj_campaign_id": 7, "ip": "127.0.0.1"},
        {"event": "click", "time": 1763640060, "MessageID": 19421777835146490u64, "email": "ana@example.com", "url": "https://shop.example/promo"},
        {"event": "bounce", "time": 1763640100, "email": "bo@example.org", "blocked": false, "hard_bounce": true, "error": "user unknown"},
        {"event": "unsub", "time": 1763640200, "email": "bo@example.org", "mj_list_id": 3},
        {"event": "open", "time": 1763640300, "email": "not an address"},
    ]);
    let body = grouped.to_string();
    // Without the webhook's credentials: refused, nothing kept.
    let (status, _) = server.post("/webhooks/mailjet", &[], body.as_bytes());
    assert_eq!(status, 401);
    let (status, _) = server.post(
        "/webhooks/mailjet",
        &[basic("mj", "wrong")],
        body.as_bytes(),
    );
    assert_eq!(status, 401);
    let (status, answer) = server.post(
        "/webhooks/mailjet",
        &[basic("mj", "s3cret")],
        body.as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 4);
    assert_eq!(answer["rejected"][0]["index"], 4);
    assert_eq!(answer["rejected"][0]["field"], "email");
    // A single event, not grouped.
    let single = json!({"event": "sent", "time": 1763639000, "email": "bo@example.org"});
    let (status, answer) = server.post(
        "/webhooks/mailjet",
        &[basic("mj", "s3cret")],
        single.to_string().as_bytes(),
    );
    assert_eq!((status, &answer["accepted"]), (200, &json!(1)), "{answer}");
    server.stop();

    let events = events_by_customer(&data);
    let customer_of = |email: &str| {
        parcours_store::customer_by_identifier(&data, parcours_events::IdKind::Email, email)
            .unwrap()
            .unwrap_or_else(|| panic!("no customer for {email}"))
            .id
    };
    let mut ana = events[&customer_of("ana@example.com")].clone();
    ana.sort();
    assert_eq!(ana, ["email_clicked", "email_opened", "identify"]);
    let ana_by_user =
        parcours_store::customer_by_identifier(&data, parcours_events::IdKind::User, "ana")
            .unwrap()
            .unwrap()
            .id;
    assert_eq!(ana_by_user, customer_of("ana@example.com"));
    let mut bo = events[&customer_of("bo@example.org")].clone();
    bo.sort();
    assert_eq!(bo, ["email_bounced", "email_sent", "email_unsubscribed"]);
    assert_eq!(events.len(), 2);
    std::fs::remove_dir_all(&data).ok();
}
