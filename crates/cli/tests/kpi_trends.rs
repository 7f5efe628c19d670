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
