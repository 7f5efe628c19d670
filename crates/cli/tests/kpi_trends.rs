//! Every KPI says whether it is improving; the stage conversion rate does so from the weekly
//! cohorts that had time to convert, the very ones the report's weekly trends show.

mod common;

use common::{analyze_json, demo_with_journey};

#[test]
fn conversion_rate_trend_comes_from_complete_weekly_cohorts() {
    let dir = demo_with_journey("kpi-trends", 4000);
    let report = analyze_json(&dir, "journey.toml", &[]);
    let stages = report["stages"].as_array().unwrap();
    let mut checked = 0;
    for (s, stage) in stages.iter().enumerate() {
        for kpi in stage["kpis"].as_array().unwrap() {
            assert!(
                kpi["improving"].is_boolean(),
                "{}: no trend in {kpi}",
                kpi["id"]
            );
            if kpi["builtin"] != "conversion_rate" {
                continue;
            }
            // The same cohorts, read from the weekly trends: converted = entered × conversion.
            let weeks: Vec<(f64, f64)> = report["weeks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| &w["stages"][s])
                .take_while(|w| w["complete"] == true)
                .map(|w| {
                    let entered = w["entered_previous"].as_f64().unwrap();
                    (entered * w["conversion"].as_f64().unwrap_or(0.0), entered)
                })
                .collect();
            let n = weeks.len();
            let span = 4.min(n / 2);
            assert!(span > 0, "too few complete weeks: {n}");
            let rate = |cells: &[(f64, f64)]| {
                let (num, den): (f64, f64) = cells
                    .iter()
                    .fold((0.0, 0.0), |acc, c| (acc.0 + c.0, acc.1 + c.1));
                num / den
            };
            let recent = rate(&weeks[n - span..]);
            let previous = rate(&weeks[n - 2 * span..n - span]);
            assert!(
                (kpi["recent"].as_f64().unwrap() - recent).abs() < 1e-9,
                "{kpi}"
            );
            assert!(
                (kpi["previous"].as_f64().unwrap() - previous).abs() < 1e-9,
                "{kpi}"
            );
            let target = kpi["target"].as_f64().unwrap();
            assert_eq!(
                kpi["improving"],
                (recent - target).abs() < (previous - target).abs(),
                "{kpi}"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the digital journey has a conversion rate KPI");
    let _ = std::fs::remove_dir_all(&dir);
}

/// KPI event conditions are matched while the stages are found when they are few enough
/// to be kept as bits per event code (64), and in a walk of their own otherwise: both ways
/// must count the same events.
#[test]
fn kpi_events_counted_by_bits_or_one_by_one_count_the_same() {
    let dir = demo_with_journey("kpi-bits", 3000);
    let journey = std::fs::read_to_string(dir.join("journey.toml")).unwrap();
    let kpi = |id: &str, events: &str| kpi_toml(id, "achat", "impressions", events);
    let carts = kpi("paniers", r#"event == "add_to_cart""#);
    let value = |file: &str, extra: &str| {
        std::fs::write(dir.join(file), format!("{journey}{carts}{extra}")).unwrap();
        kpi_named(&analyze_json(&dir, file, &[]), "paniers")["value"]
            .as_f64()
            .expect("a value")
    };
    let few = value("few.toml", "");
    let many: String = (0..64)
        .map(|i| kpi(&format!("autre_{i}"), r#"event == "purchase""#))
        .collect();
    let one_by_one = value("many.toml", &many);
    assert!(few > 0.0, "no carts counted");
    assert_eq!(few, one_by_one);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kpis_counted_by_event_code_equal_kpis_counted_customer_by_customer() {
    let dir = demo_with_journey("kpi-by-code", 3000);
    // Without a breakdown, counts and event ratios decided by the event code are summed
    // from each code's weekly events; a breakdown needs them customer by customer.
    let kpis = |extra: &[&str]| -> Vec<serde_json::Value> {
        let report = analyze_json(&dir, "journey.toml", extra);
        report["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["kpis"].as_array().unwrap().clone())
            .collect()
    };
    let by_code = kpis(&[]);
    let one_by_one = kpis(&["--by", "persona"]);
    let counted = by_code
        .iter()
        .filter(|k| ["click_through_rate", "impressions"].contains(&k["builtin"].as_str().unwrap()))
        .count();
    assert_eq!(
        counted, 2,
        "the digital journey counts clicks and impressions: {by_code:?}"
    );
    assert!(
        by_code.iter().all(|k| k["value"].is_number()),
        "{by_code:?}"
    );
    assert_eq!(by_code, one_by_one);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A KPI condition the event code decides for some events (pages) and leaves open for
/// others (product views, by their price): the first are matched in the walk that reads
/// the events, the others in a second one. Time spent depends on the order of the
/// matches, so both walks' matches must come out in time order, as when every event is
/// left open.
#[test]
fn kpi_events_decided_by_code_and_left_open_count_in_time_order() {
    let dir = demo_with_journey("kpi-order", 3000);
    let journey = std::fs::read_to_string(dir.join("journey.toml")).unwrap();
    let value = |file: &str, events: &str| {
        let kpi = kpi_toml("visites", "consideration", "time_spent", events);
        std::fs::write(dir.join(file), format!("{journey}{kpi}")).unwrap();
        kpi_named(&analyze_json(&dir, file, &[]), "visites")
    };
    let mixed = value(
        "mixed.toml",
        r#"type == "page" or (event == "product_view" and prop.price > 0)"#,
    );
    // Every page has a path: the same events, none decided by its code.
    let open = value(
        "open.toml",
        r#"(type == "page" and prop.path != "") or (event == "product_view" and prop.price > 0)"#,
    );
    assert!(mixed["value"].as_f64().is_some_and(|v| v > 0.0), "{mixed}");
    assert_eq!(mixed, open);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The KPI `id` of a JSON report.
fn kpi_named(report: &serde_json::Value, id: &str) -> serde_json::Value {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["kpis"].as_array().unwrap())
        .find(|k| k["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} KPI in {report}"))
}

/// A `[[kpi]]` table to append to a journey file.
fn kpi_toml(id: &str, stage: &str, builtin: &str, events: &str) -> String {
    format!(
        "\n[[kpi]]\nid = \"{id}\"\nstage = \"{stage}\"\nname = \"{id}\"\nbuiltin = \"{builtin}\"\nevents = '{events}'\ntarget = 1\n"
    )
}
