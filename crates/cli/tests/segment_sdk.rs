//! Segment's official Python SDK (segment-analytics-python, installed by
//! `scripts/setup-test-deps`) as the client of `parcours serve`: an anonymous visitor,
//! `identify`, then 10,000 tracks. Every event arrives once, and the visitor's events before
//! `identify` belong to the identified customer.

mod common;

use std::process::Command;

use common::{free_port, start_server, stop_server, stored_keys};
use parcours_events::IdKind;

#[test]
fn the_segment_python_sdk_delivers_every_event_once_and_stitched() {
    let dir = common::scratch("segment-sdk");
    let data = dir.join("data");
    let addr = free_port();
    let server = start_server(&data, addr, "wk_sdk");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/segment_sdk.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .arg(format!("http://{addr}"))
        .arg("wk_sdk")
        .arg("10000")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sent["errors"], serde_json::json!([]), "{sent}");
    stop_server(server);

    // Every message the SDK sent is stored once (its message ids are its keys).
    let keys = stored_keys(&data);
    assert_eq!(keys.len(), 6 + 1 + 10_000);
    assert!(keys.values().all(|&n| n == 1));
    // The anonymous visitor and the user are one customer, with every event.
    let customer = |kind, value: &str| {
        parcours_store::customer_by_identifier(&data, kind, value)
            .unwrap()
            .unwrap_or_else(|| panic!("no customer for {value}"))
    };
    let user = customer(IdKind::User, "u-sdk");
    assert_eq!(customer(IdKind::Anonymous, "anon-sdk-1").id, user.id);
    assert_eq!(customer(IdKind::Email, "sdk.user@example.com").id, user.id);
    let stats = parcours_store::stats(&data).unwrap();
    assert_eq!((stats.events, stats.customers), (10_007, 1), "{stats:?}");
    assert_eq!(user.traits["plan"], "pro");
    std::fs::remove_dir_all(&dir).ok();
}
