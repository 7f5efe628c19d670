//! `parcours demo` plants three frictions (`parcours_demo::FRICTIONS`); the analysis that
//! ends the demo must surface each in `opportunities` at the right stage and period, and
//! flag nothing in the weeks where nothing was planted. Checked on two seeds, so that the
//! result does not hang on one draw.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("parcours-frictions-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The demo's opportunities, from its JSON output; the HTML report is checked to exist.
fn demo(seed: u64) -> Vec<Value> {
    let dir = scratch(&seed.to_string());
    let report = dir.join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["demo", "--customers", "20000", "--seed", &seed.to_string()])
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--report")
        .arg(&report)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!doctype html>") && html.contains("id=\"opportunities\""));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let found = json["opportunities"].as_array().unwrap().clone();
    let _ = std::fs::remove_dir_all(&dir);
    found
}

fn text<'a>(o: &'a Value, field: &str) -> &'a str {
    o[field].as_str().unwrap_or("")
}

fn period(o: &Value) -> (&str, &str) {
    (
        o["period"]["from"].as_str().unwrap_or(""),
        o["period"]["to"].as_str().unwrap_or(""),
    )
}

/// ISO dates compare as text. The demo starts on Monday 2026-01-05 (week 1).
fn within(o: &Value, from: &str, to: &str) -> bool {
    let (f, t) = period(o);
    !f.is_empty() && from <= f && t <= to
}

fn describe(found: &[Value]) -> String {
    found
        .iter()
        .map(|o| {
            format!(
                "{} {} {:?} {}\n",
                text(o, "kind"),
                text(o, "stage"),
                period(o),
                text(o, "summary")
            )
        })
        .collect()
}

fn check(seed: u64) {
    let found = demo(seed);
    let all = describe(&found);
    let any = |test: &dyn Fn(&Value) -> bool| found.iter().any(test);

    // 1. Android payment errors, weeks 7 to 9 (2026-02-16 to 2026-03-08), at Achat.
    assert!(
        any(&|o| text(o, "kind") == "error_spike"
            && text(o, "event") == "payment_error"
            && text(o, "stage") == "achat"
            && text(o, "touchpoint") == "paiement"
            && o["breakdown"]["value"] == "3DS_TIMEOUT"
            && period(o) == ("2026-02-16", "2026-03-08")),
        "seed {seed}: no payment error spike at achat in weeks 7-9:\n{all}"
    );
    assert!(
        any(&|o| text(o, "kind") == "conversion_drop"
            && text(o, "stage") == "achat"
            && within(o, "2026-02-16", "2026-03-08")),
        "seed {seed}: no conversion drop at achat in weeks 7-9:\n{all}"
    );
    assert!(
        any(&|o| text(o, "kind") == "breakdown_gap"
            && text(o, "stage") == "achat"
            && o["breakdown"]["property"] == "trait.platform"
            && o["breakdown"]["value"] == "android"
            && within(o, "2026-02-16", "2026-03-08")),
        "seed {seed}: Android not singled out at achat in weeks 7-9:\n{all}"
    );

    // 2. Late deliveries for orders of weeks 10 and 11 (2026-03-09 to 2026-03-22): at the
    // post-purchase stage, satisfaction and complaints worsen as the late parcels arrive
    // (weeks 11 to 13), and fewer of those buyers become loyal.
    for kpi in ["satisfaction", "reclamations"] {
        assert!(
            any(&|o| text(o, "kind") == "kpi_drop"
                && text(o, "kpi") == kpi
                && text(o, "stage") == "post_achat"
                && period(o).0 >= "2026-03-09"
                && period(o).0 <= "2026-03-29"),
            "seed {seed}: no {kpi} drop at post_achat after week 10:\n{all}"
        );
    }
    assert!(
        any(&|o| text(o, "kind") == "conversion_drop"
            && text(o, "stage") == "post_achat"
            && within(o, "2026-03-09", "2026-03-22")),
        "seed {seed}: no conversion drop after post_achat in weeks 10-11:\n{all}"
    );

    // 3. Newsletter fatigue from week 12 (2026-03-23): unsubscribes from nl-quotidienne, on
    // the emails touchpoint of the loyalty stage.
    assert!(
        any(&|o| text(o, "kind") == "error_spike"
            && text(o, "event") == "email_unsubscribed"
            && text(o, "stage") == "fidelisation"
            && o["breakdown"]["value"] == "nl-quotidienne"
            && period(o).0 == "2026-03-23"),
        "seed {seed}: no unsubscribe spike from week 12:\n{all}"
    );

    // Nothing was planted in weeks 1 to 6: nothing dated there may be reported.
    let early: Vec<&Value> = found
        .iter()
        .filter(|o| !period(o).0.is_empty() && period(o).1 < "2026-02-16")
        .collect();
    assert!(
        early.is_empty(),
        "seed {seed}: opportunities in clean weeks:\n{}",
        describe(&early.into_iter().cloned().collect::<Vec<_>>())
    );
    // Every opportunity is ranked by customers at stake and speaks in one sentence.
    for pair in found.windows(2) {
        assert!(pair[0]["lost_customers"].as_u64() >= pair[1]["lost_customers"].as_u64());
    }
    assert!(found.iter().all(|o| text(o, "summary").ends_with('.')));
}

#[test]
fn the_demo_report_finds_every_planted_friction_seed_42() {
    check(42);
}

#[test]
fn the_demo_report_finds_every_planted_friction_seed_7() {
    check(7);
}
