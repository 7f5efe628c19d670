//! `--by` on event fields the journey's conditions never read: the analysis must decode the
//! property or context of every event for the breakdown, whatever it skips otherwise.

mod common;

use std::path::Path;

use common::{analyze_json, demo_with_journey};

/// Group values and sizes of `analyze --by by`, checked to add up to every customer.
fn groups(dir: &Path, by: &str) -> Vec<(String, u64)> {
    let report = analyze_json(dir, "journey.toml", &["--by", by]);
    let groups: Vec<(String, u64)> = report["breakdown"]["groups"]
        .as_array()
        .unwrap_or_else(|| panic!("no breakdown for {by}: {report}"))
        .iter()
        .map(|g| {
            (
                g["value"].as_str().unwrap().to_string(),
                g["customers"].as_u64().unwrap(),
            )
        })
        .collect();
    let total: u64 = groups.iter().map(|g| g.1).sum();
    assert_eq!(total, report["customers"].as_u64().unwrap(), "{by}");
    groups
}

#[test]
fn breakdowns_by_event_fields_read_every_event() {
    let dir = demo_with_journey("breakdowns", 3000);

    // Every demo event carries its device's system in its context.
    let systems = groups(&dir, "context.os.name");
    let names: Vec<&str> = systems.iter().map(|g| g.0.as_str()).collect();
    assert!(
        names.iter().all(|n| ["web", "ios", "android"].contains(n)),
        "{systems:?}"
    );
    assert!(names.len() >= 2, "{systems:?}");

    // Survey answers carry their survey; customers who answered none have no value.
    let surveys = groups(&dir, "prop.survey");
    let answered: u64 = surveys
        .iter()
        .filter(|g| g.0 == "csat" || g.0 == "nps")
        .map(|g| g.1)
        .sum();
    let none = surveys.iter().find(|g| g.0 == "(none)").map_or(0, |g| g.1);
    assert!(answered > 0 && none > 0, "{surveys:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
