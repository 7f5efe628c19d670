//! The tie, duplicate and order semantics of docs/report-schema.md, through the binary: the
//! same events imported in reverse order, split over two files and imported twice give the
//! very same report (every figure, KPI, week, path and opportunity) and the same customers
//! export as one clean import; and whatever the number of threads analysing it.

mod common;

use std::path::{Path, PathBuf};

fn parcours(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(common::parcours(dir, args)).unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-order-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn reversed_split_and_repeated_imports_give_the_same_report() {
    let dir = scratch();
    parcours(
        &dir,
        &[
            "demo",
            "--customers",
            "1500",
            "--seed",
            "5",
            "--export",
            "events.ndjson",
        ],
    );
    parcours(&dir, &["init", "--template", "digital", "journey"]);
    let lines: Vec<String> = std::fs::read_to_string(dir.join("events.ndjson"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() > 20_000, "{} events", lines.len());
    // Reverse the whole file (every customer's events now arrive latest first), split it in
    // two files that overlap by a thousand events.
    let reversed: Vec<&String> = lines.iter().rev().collect();
    let half = reversed.len() / 2;
    let join = |part: &[&String]| part.iter().map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(dir.join("second.ndjson"), join(&reversed[..half + 1000])).unwrap();
    std::fs::write(dir.join("first.ndjson"), join(&reversed[half..])).unwrap();

    parcours(&dir, &["ingest", "--data", "clean", "events.ndjson"]);
    parcours(
        &dir,
        &["ingest", "--data", "messy", "second.ndjson", "first.ndjson"],
    );
    parcours(
        &dir,
        &["ingest", "--data", "messy", "first.ndjson", "events.ndjson"],
    );

    let report = |data: &str| {
        parcours(
            &dir,
            &[
                "analyze",
                "-j",
                "journey/journey.toml",
                "--data",
                data,
                "--format",
                "json",
            ],
        )
    };
    let clean = report("clean");
    let messy = report("messy");
    // The messy store (overlapping segments, merged customers) split over several threads:
    // parts of the customers counted apart then merged give the very same report.
    for threads in ["1", "3", "7"] {
        let split = parcours(
            &dir,
            &[
                "analyze",
                "-j",
                "journey/journey.toml",
                "--data",
                "messy",
                "--format",
                "json",
                "--threads",
                threads,
            ],
        );
        assert_eq!(split, messy, "{threads} threads");
    }
    let parsed: serde_json::Value = serde_json::from_str(&clean).unwrap();
    assert!(parsed["stages"][2]["reached"].as_u64().unwrap() > 100);
    assert_eq!(
        clean, messy,
        "the report depends on import order or repetition"
    );

    let export = |data: &str| {
        let text = parcours(
            &dir,
            &["customers", "-j", "journey/journey.toml", "--data", data],
        );
        // Store customer ids are assigned in arrival order: compare rows by user, not id.
        let mut rows: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .filter(|r| !r.starts_with(','))
            .collect();
        rows.sort();
        rows
    };
    let (a, b) = (export("clean"), export("messy"));
    assert!(a.len() > 100);
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}
