//! Funnel levels agree with ClickHouse: every customer's `level` from `parcours customers`
//! equals `windowFunnel` computed by chDB on the same events, for several windows, and the
//! customers who met each stage equal a DuckDB count. The events are built to hit the edge
//! cases: repeated stage events, later stages before earlier ones, gaps of exactly the
//! window and one second over, events at the same millisecond, unsorted input, non-ASCII
//! customer ids, customers with no stage event at all.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const STAGES: usize = 4;
const HOUR: i64 = 3_600_000;

fn parcours() -> Command {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-parity-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Events as (user, event, milliseconds).
fn events() -> Vec<(String, String, i64)> {
    let mut rng = Rng(0x5eed_cafe);
    let base = 1_772_323_200_000; // 2026-03-01T00:00:00Z
    let names = ["client", "clïent-é", "用户", "ünïcødé", "o'brien"];
    let mut events = Vec::new();
    for customer in 0..400 {
        let user = format!("{}-{customer}", names[customer % names.len()]);
        let start = base + rng.below(20 * 24) as i64 * HOUR + rng.below(1000) as i64;
        match customer % 5 {
            // Chains with gaps of exactly an hour, and an hour and a second.
            0 => {
                let gap = if customer % 10 == 0 {
                    HOUR
                } else {
                    HOUR + 1000
                };
                for stage in 0..STAGES {
                    events.push((
                        user.clone(),
                        format!("s{}", stage + 1),
                        start + gap * stage as i64,
                    ));
                }
            }
            // Same millisecond for several stages, in reverse order of stages.
            1 => {
                for stage in (0..1 + rng.below(STAGES as u64) as usize).rev() {
                    events.push((user.clone(), format!("s{}", stage + 1), start));
                }
            }
            // No stage event at all.
            2 if customer % 20 == 2 => {
                events.push((user.clone(), "noise".into(), start));
            }
            // Random: repeats, later stages first, noise, gaps from seconds to days.
            _ => {
                for _ in 0..1 + rng.below(14) {
                    let name = match rng.below(6) {
                        0 => "noise".to_string(),
                        n => format!("s{}", 1 + (n - 1).min(STAGES as u64 - 1)),
                    };
                    let offset = match rng.below(3) {
                        0 => rng.below(120_000) as i64,
                        1 => rng.below(3 * HOUR as u64) as i64,
                        _ => rng.below(3 * 24 * HOUR as u64) as i64,
                    };
                    events.push((user.clone(), name, start + offset));
                }
            }
        }
    }
    // Unsorted input: shuffled.
    for i in (1..events.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        events.swap(i, j);
    }
    events
}

fn iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

fn write_journey(dir: &Path, window: Option<&str>) -> PathBuf {
    let mut text = String::from("[journey]\nid = \"parity\"\nname = \"Parity\"\n");
    if let Some(w) = window {
        let _ = writeln!(text, "window = \"{w}\"");
    }
    text.push_str(
        "\n[[touchpoint]]\nid = \"site\"\nchannel = \"web\"\nmatch = 'type == \"track\"'\n",
    );
    for stage in 1..=STAGES {
        let _ = write!(
            text,
            "\n[[stage]]\nid = \"s{stage}\"\nenter = 'event == \"s{stage}\"'\ntouchpoints = [\"site\"]\n"
        );
    }
    let path = dir.join(format!("journey-{}.toml", window.unwrap_or("none")));
    std::fs::write(&path, text).unwrap();
    path
}

/// user_id → (level, stages met in any order) from `parcours customers`.
fn ours(journey: &Path, data: &Path) -> HashMap<String, (u64, Vec<bool>)> {
    let out = parcours()
        .args(["customers", "--format", "csv", "--journey"])
        .arg(journey)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut reader = csv_rows(&text);
    let header = reader.remove(0);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (user, level) = (col("user_id"), col("level"));
    let met: Vec<usize> = (1..=STAGES)
        .map(|s| col(&format!("first_met_s{s}")))
        .collect();
    reader
        .into_iter()
        .map(|row| {
            (
                row[user].clone(),
                (
                    row[level].parse().unwrap(),
                    met.iter().map(|&c| !row[c].is_empty()).collect(),
                ),
            )
        })
        .collect()
}

/// Rows of a CSV text (quoted cells with doubled quotes; no newline inside cells here).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        cell.push('"');
                        chars.next();
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(std::mem::take(&mut cell)),
                    (c, _) => cell.push(c),
                }
            }
            cells.push(cell);
            cells
        })
        .collect()
}

#[test]
fn levels_equal_clickhouse_window_funnel_and_reach_equals_duckdb() {
    let dir = scratch("funnel");
    let events = events();
    let mut ndjson = String::new();
    for (i, (user, event, at)) in events.iter().enumerate() {
        let line = serde_json::json!({
            "type": "track", "userId": user, "event": event, "timestamp": iso(*at),
            "messageId": format!("m-{i}"),
        });
        let _ = writeln!(ndjson, "{line}");
    }
    let file = dir.join("events.ndjson");
    std::fs::write(&file, ndjson).unwrap();
    let data = dir.join("data");
    let status = parcours()
        .arg("ingest")
        .arg(&file)
        .arg("--data")
        .arg(&data)
        .arg("--strict")
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let windows: [(Option<&str>, i64); 4] = [
        (Some("1h"), HOUR),
        (Some("90s"), 90_000),
        (Some("1d"), 24 * HOUR),
        (None, 0),
    ];
    let reference = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/window_funnel.py"))
        .arg(&file)
        .arg(STAGES.to_string())
        .args(windows.iter().map(|(_, ms)| ms.to_string()))
        .output()
        .expect("python3 runs");
    assert!(
        reference.status.success(),
        "the reference failed (run scripts/setup-test-deps to install chdb and duckdb): {}",
        String::from_utf8_lossy(&reference.stderr)
    );
    let reference: serde_json::Value = serde_json::from_slice(&reference.stdout).unwrap();
    let users: std::collections::BTreeSet<&String> = events.iter().map(|e| &e.0).collect();
    let mut distinct_levels = std::collections::BTreeSet::new();
    for (window, ms) in windows {
        let journey = write_journey(&dir, window);
        let ours = ours(&journey, &data);
        assert_eq!(
            ours.len(),
            users.len(),
            "one row per customer, level 0 included"
        );
        let theirs = &reference["levels"][ms.to_string()];
        let mut differences = Vec::new();
        for user in &users {
            let level = ours[*user].0;
            distinct_levels.insert(level);
            let expected = theirs[user.as_str()].as_u64().unwrap();
            if level != expected {
                differences.push(format!("{user}: ours {level}, ClickHouse {expected}"));
            }
        }
        assert!(
            differences.is_empty(),
            "window {window:?}: {} customers differ:\n{}",
            differences.len(),
            differences.join("\n")
        );
        for stage in 0..STAGES {
            let met = ours.values().filter(|(_, met)| met[stage]).count() as u64;
            assert_eq!(
                met,
                reference["reach"][stage].as_u64().unwrap(),
                "stage s{}",
                stage + 1
            );
        }
    }
    // The data exercises every level.
    assert_eq!(distinct_levels.len(), STAGES + 1, "{distinct_levels:?}");
}
