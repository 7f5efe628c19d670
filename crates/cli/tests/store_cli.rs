//! The store through the `parcours` binary: killed imports leave nothing behind and re-run
//! cleanly, and an independent reader (DuckDB) counts what `parcours store stats` counts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn parcours(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("parcours-store-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

fn stats(dir: &Path, data: &str) -> serde_json::Value {
    json(&parcours(
        dir,
        &["store", "stats", "--data", data, "--format", "json"],
    ))["stats"]
        .clone()
}

/// Waits until the import has written at least `runs` segments into its pending folder.
fn wait_for_runs(data: &Path, child: &mut Child, runs: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let written = std::fs::read_dir(data.join(".pending"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|import| {
                std::fs::read_dir(import.path())
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .filter(|f| f.file_name().to_string_lossy().starts_with("run-"))
            .count();
        if written >= runs {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the import ended before it could be interrupted; use a bigger file"
        );
        assert!(Instant::now() < deadline, "no segment written in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn interrupted_import_then_rerun(signal: &str) {
    let dir = scratch(&format!("kill-{signal}"));
    let export = parcours(
        &dir,
        &[
            "demo",
            "--customers",
            "40000",
            "--seed",
            "11",
            "--export",
            "events.ndjson",
        ],
    );
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let lines = std::fs::read_to_string(dir.join("events.ndjson"))
        .unwrap()
        .lines()
        .count() as u64;
    assert!(lines > 300_000, "{lines}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args([
            "ingest",
            "events.ndjson",
            "--data",
            "data",
            "--segment-rows",
            "20000",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_runs(&dir.join("data"), &mut child, 3);
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "the import was interrupted");

    // As if the file had never been imported.
    let after_kill = stats(&dir, "data");
    assert_eq!(
        (
            after_kill["events"].as_u64(),
            after_kill["customers"].as_u64()
        ),
        (Some(0), Some(0)),
        "{after_kill}"
    );

    // Re-run: exactly the file's events, none twice.
    let rerun = json(&parcours(
        &dir,
        &[
            "ingest",
            "events.ndjson",
            "--data",
            "data",
            "--segment-rows",
            "20000",
            "--report",
            "json",
        ],
    ));
    let file = &rerun["files"][0];
    assert_eq!(
        (
            file["accepted"].as_u64(),
            file["duplicates"].as_u64(),
            file["rejected"].as_u64()
        ),
        (Some(lines), Some(0), Some(0)),
        "{file}"
    );
    assert_eq!(stats(&dir, "data")["events"].as_u64(), Some(lines));
    let leftovers =
        std::fs::read_dir(dir.join("data/.pending")).map_or(0, |entries| entries.count());
    assert_eq!(leftovers, 0, "leftovers of the killed import are gone");

    // And once more: nothing added.
    let again = json(&parcours(
        &dir,
        &[
            "ingest",
            "events.ndjson",
            "--data",
            "data",
            "--report",
            "json",
        ],
    ));
    assert_eq!(
        (
            again["files"][0]["accepted"].as_u64(),
            again["files"][0]["duplicates"].as_u64()
        ),
        (Some(0), Some(lines))
    );
    assert_eq!(stats(&dir, "data")["events"].as_u64(), Some(lines));
}

#[test]
fn sigkill_mid_import_then_rerun_gives_exactly_the_file() {
    interrupted_import_then_rerun("KILL");
}

#[test]
fn ctrl_c_mid_import_then_rerun_gives_exactly_the_file() {
    interrupted_import_then_rerun("INT");
}

/// Runs a DuckDB query through Python's duckdb package and returns its single row.
fn duckdb(dir: &Path, sql: &str) -> Vec<serde_json::Value> {
    const SCRIPT: &str = "import duckdb, json, sys\nrow = duckdb.connect().execute(sys.argv[1]).fetchall()[0]\nprint(json.dumps([v if isinstance(v, (int, float, str)) or v is None else str(v) for v in row]))";
    let output = Command::new("python3")
        .args(["-c", SCRIPT, sql])
        .current_dir(dir)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "DuckDB failed (run scripts/setup-test-deps to install it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn duckdb_counts_what_store_stats_counts() {
    let dir = scratch("duckdb");
    assert!(
        parcours(
            &dir,
            &[
                "demo",
                "--customers",
                "5000",
                "--seed",
                "3",
                "--data",
                "data"
            ]
        )
        .status
        .success()
    );
    // A second import that stitches across imports: a newsletter contact who later signs up.
    std::fs::write(
        dir.join("more.ndjson"),
        [
            r#"{"type":"track","event":"email_opened","anonymousId":"late-1","timestamp":"2026-03-01T09:00:00Z"}"#,
            r#"{"type":"identify","userId":"client-0000001","anonymousId":"late-1","timestamp":"2026-03-01T09:05:00Z"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    assert!(
        parcours(&dir, &["ingest", "more.ndjson", "--data", "data"])
            .status
            .success()
    );

    let ours = stats(&dir, "data");
    assert!(
        ours["merged_ids"].as_u64().unwrap() > 0,
        "the data set exercises merges: {ours}"
    );
    let events = "read_parquet('data/events/*.parquet')";
    let merges = "read_parquet('data/customer_merges.parquet')";
    let counted = duckdb(
        &dir,
        &format!(
            "SELECT count(*), count(DISTINCT coalesce(m.customer_id, e.customer_id)), epoch_ms(min(e.timestamp)), epoch_ms(max(e.timestamp)) \
             FROM {events} e LEFT JOIN {merges} m ON e.customer_id = m.merged_id"
        ),
    );
    assert_eq!(counted[0], ours["events"], "events");
    assert_eq!(counted[1], ours["customers"], "customers");
    assert_eq!(counted[2], ours["first_event"], "first event");
    assert_eq!(counted[3], ours["last_event"], "last event");

    // After compaction every event carries its customer's current id: no join needed.
    assert!(
        parcours(&dir, &["store", "compact", "--data", "data"])
            .status
            .success()
    );
    let compacted = stats(&dir, "data");
    assert_eq!(compacted["events"], ours["events"]);
    let counted = duckdb(
        &dir,
        &format!("SELECT count(*), count(DISTINCT customer_id) FROM {events}"),
    );
    assert_eq!(counted[0], compacted["events"]);
    assert_eq!(counted[1], compacted["customers"]);
    // The documented columns are there with the documented types.
    let types = duckdb(
        &dir,
        &format!(
            "SELECT typeof(customer_id), typeof(timestamp), typeof(event_key), typeof(properties), typeof(event) FROM {events} LIMIT 1"
        ),
    );
    assert_eq!(
        types,
        [
            "BIGINT",
            "TIMESTAMP WITH TIME ZONE",
            "UBIGINT",
            "JSON",
            "VARCHAR"
        ]
        .map(serde_json::Value::from)
    );
}
