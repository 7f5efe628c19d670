//! The read API of `parcours serve`: the journey's results as `parcours analyze --format
//! json` gives them, behind a view key, and kept current as events arrive.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::{free_port, http, parcours, start_server_with, stop_server};
use serde_json::Value;

#[test]
fn the_read_api_serves_the_analysis_of_the_store_to_view_keys() {
    let dir = common::scratch("serve-read-api");
    parcours(&dir, &["init", "--template", "digital", "."]);
    parcours(
        &dir,
        &[
            "demo",
            "--customers",
            "400",
            "--data",
            "data",
            "--no-report",
        ],
    );
    let view = String::from_utf8(parcours(
        &dir,
        &[
            "keys", "create", "--kind", "view", "--name", "bob", "--data", "data",
        ],
    ))
    .unwrap()
    .trim()
    .to_string();
    assert!(view.starts_with("vk_"));
    // `parcours analyze --format json` on the store as it is now, with `extra` flags.
    let analyze = |extra: &[&str]| -> Value {
        let mut args = vec![
            "analyze",
            "-j",
            "journey.toml",
            "--data",
            "data",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_slice(&parcours(&dir, &args)).unwrap()
    };
    let expected = analyze(&[]);

    let addr = free_port();
    let journey = dir.join("journey.toml");
    let server = start_server_with(
        &dir.join("data"),
        addr,
        "wk_test",
        &["--journey", journey.to_str().unwrap()],
    );
    let bearer = format!("Bearer {view}");
    let get = |path: &str, auth: &str| http(addr, "GET", path, &[("Authorization", auth)], "");

    // Without a view key, or with a write key: refused.
    assert_eq!(http(addr, "GET", "/api/report", &[], "").0, 401);
    let write_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("wk_test:")
    );
    assert_eq!(get("/api/report", &write_basic).0, 401);
    let post_batch = |body: &str| {
        let headers = [
            ("Authorization", write_basic.as_str()),
            ("Content-Type", "application/json"),
        ];
        http(addr, "POST", "/v1/batch", &headers, body).0
    };

    // The first analysis runs in the background; then the report is the CLI's.
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = loop {
        let (status, body) = get("/api/report", &bearer);
        if status == 200 {
            break serde_json::from_str::<Value>(&body).unwrap()["report"].clone();
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "no analysis in time");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(report["customers"], expected["customers"]);
    assert_eq!(report["events"], expected["events"]);
    assert_eq!(report["stages"], expected["stages"]);
    assert_eq!(report["opportunities"], expected["opportunities"]);
    // Another period and a breakdown, as `parcours analyze --from --to --by` gives them.
    let from = expected["period"]["from"].as_str().unwrap()[..10].to_string();
    let scoped = analyze(&["--from", &from, "--to", "2100-01-01", "--by", "channel"]);
    let (status, body) = get(
        &format!("/api/report?from={from}&to=2100-01-01&by=channel"),
        &bearer,
    );
    assert_eq!(status, 200, "{body}");
    let served = &serde_json::from_str::<Value>(&body).unwrap()["report"];
    assert_eq!(served["stages"], scoped["stages"]);
    assert_eq!(served["breakdown"], scoped["breakdown"]);
    assert!(scoped["breakdown"]["groups"].as_array().unwrap().len() > 1);
    let (status, body) = get("/api/report?by=shoe_size", &bearer);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown breakdown `shoe_size`"), "{body}");
    let (status, body) = get("/api/opportunities?from=yesterday", &bearer);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("from \\\"yesterday\\\""), "{body}");
    // Segment members, as `parcours customers --segment` lists them.
    let journey_segments: Vec<String> = expected["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!journey_segments.is_empty());
    // `parcours customers` on the store as it is now.
    let customers = |extra: &[&str]| {
        let mut args = vec!["customers", "-j", "journey.toml", "--data", "data"];
        args.extend_from_slice(extra);
        String::from_utf8(parcours(&dir, &args)).unwrap()
    };
    // Each segment's members and each stage's customers now, as `parcours customers
    // --segment` and `--stage` list them.
    let stages: Vec<String> = expected["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let groups = journey_segments
        .iter()
        .map(|id| ("--segment", format!("/api/segments/{id}/members")))
        .chain(
            stages
                .iter()
                .map(|id| ("--stage", format!("/api/stages/{id}/customers"))),
        );
    let mut members = 0;
    for (flag, route) in groups {
        let id = route.split('/').nth(3).unwrap();
        let cli = customers(&[flag, id, "--format", "csv"]);
        let mut want: Vec<&str> = cli
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        want.sort_unstable();
        let (status, csv) = get(&format!("{route}?format=csv"), &bearer);
        assert_eq!(status, 200, "{csv}");
        assert!(csv.starts_with("customer,user_id,email\n"), "{csv}");
        let mut got: Vec<&str> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, want, "{route}");
        members += got.len();
        let (status, body) = get(&route, &bearer);
        assert_eq!(status, 200);
        let listed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(listed["customers"].as_array().unwrap().len(), want.len());
        if flag == "--stage" {
            let stage = expected["stages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == id);
            assert_eq!(
                want.len() as u64,
                stage.unwrap()["current"].as_u64().unwrap(),
                "{id}"
            );
        }
    }
    assert!(members > 0, "the demo's segments and stages have customers");
    let (status, body) = get("/api/stages/nope/customers", &bearer);
    assert_eq!(status, 404);
    assert!(body.contains(&stages[0]), "{body}");
    let (status, body) = get("/api/segments/nope/members", &bearer);
    assert_eq!(status, 404);
    assert!(body.contains(&journey_segments[0]), "{body}");
    let (status, body) = get("/api/opportunities", &bearer);
    assert_eq!(status, 200);
    let opportunities: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(opportunities["opportunities"], expected["opportunities"]);
    let (status, body) = get("/api/stats", &bearer);
    assert_eq!(status, 200);
    let stats: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["stats"]["events"], expected["events"]);

    // New events reach the results within seconds.
    let track = r#"{"batch":[{"type":"track","event":"ad_clicked","userId":"new-1","timestamp":"2026-11-20T10:00:00Z"},{"type":"track","event":"product_view","userId":"new-1","timestamp":"2026-11-20T10:05:00Z"}]}"#;
    assert_eq!(post_batch(track), 200);
    let events = expected["events"].as_u64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = get("/api/report", &bearer);
        let now: Value = serde_json::from_str(&body).unwrap();
        if now["report"]["events"].as_u64() == Some(events + 2) {
            assert_eq!(
                now["report"]["customers"].as_u64(),
                Some(expected["customers"].as_u64().unwrap() + 1)
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new events never reached the report"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // One customer's timeline: a visitor whose anonymous history an identify merges.
    let visit = r#"{"batch":[
        {"type":"page","name":"Home","anonymousId":"v-1","timestamp":"2026-11-21T09:00:00Z","properties":{"path":"/"}},
        {"type":"track","event":"ad_clicked","anonymousId":"v-1","timestamp":"2026-11-21T09:01:00Z"},
        {"type":"identify","userId":"merged-1","anonymousId":"v-1","traits":{"email":"Merged@Example.com","plan":"pro"},"timestamp":"2026-11-21T09:02:00Z"},
        {"type":"track","event":"product_view","userId":"merged-1","timestamp":"2026-11-21T09:03:00Z","properties":{"sku":"é-42"}}
    ]}"#;
    assert_eq!(post_batch(visit), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let timeline = loop {
        let (status, body) = get("/api/customer?user_id=merged-1", &bearer);
        if status == 200 {
            let timeline: Value = serde_json::from_str(&body).unwrap();
            if timeline["events"].as_array().map(Vec::len) == Some(4) {
                break timeline;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the visit never reached the store: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let names: Vec<&str> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Home", "ad_clicked", "", "product_view"]);
    assert_eq!(timeline["events"][3]["properties"]["sku"], "é-42");
    assert_eq!(timeline["customer"]["traits"]["plan"], "pro");
    let id = timeline["customer"]["id"].clone();
    let (status, body) = get("/api/customer?email=MERGED%40example.com", &bearer);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["customer"]["id"],
        id
    );
    let (status, body) = get("/api/customer?anonymous_id=v-1", &bearer);
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["customer"]["id"].clone()
        ),
        (200, id.clone())
    );
    assert_eq!(get("/api/customer?user_id=nobody", &bearer).0, 404);
    assert_eq!(get("/api/customer", &bearer).0, 400);
    assert_eq!(get("/api/customer?user_id=merged-1", &write_basic).0, 401);
    // Its place is the one `parcours customers` gives it.
    let (_, body) = get("/api/customer?user_id=merged-1", &bearer);
    let merged_place = serde_json::from_str::<Value>(&body).unwrap()["place"].clone();
    stop_server(server);
    let rows: Vec<Value> = customers(&["--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let row_of = |id: &Value| {
        let mut row = rows.iter().find(|r| r["customer"] == *id).unwrap().clone();
        let row = row.as_object_mut().unwrap();
        row.remove("user_id");
        row.remove("email");
        Value::Object(row.clone())
    };
    assert_eq!(merged_place, row_of(&id));
    assert!(
        merged_place["level"].as_u64().unwrap() >= 2,
        "{merged_place}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
