//! `parcours customers --format parquet` as DuckDB reads it: the same rows as the CSV
//! export, column for column, with typed columns (levels as integers, first-met times as
//! UTC timestamps).

use std::path::{Path, PathBuf};
use std::process::Command;

fn parcours(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn duckdb_reads_the_parquet_export_as_the_csv_export() {
    let dir = scratch();
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(parcours(
        &dir,
        &["demo", "--customers", "800", "--no-report"],
    ));
    ok(parcours(&dir, &["init", "--template", "digital", "j"]));
    let csv = ok(parcours(&dir, &["customers", "-j", "j/journey.toml"]));
    ok(parcours(
        &dir,
        &[
            "customers",
            "-j",
            "j/journey.toml",
            "--format",
            "parquet",
            "-o",
            "c.parquet",
        ],
    ));
    // Without -o, a clear error and no file.
    let refused = parcours(
        &dir,
        &["customers", "-j", "j/journey.toml", "--format", "parquet"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("-o customers.parquet"));

    // DuckDB prints the Parquet rows in the CSV export's own format.
    let script = r#"
import duckdb
duckdb.sql("set TimeZone = 'UTC'")
rows = duckdb.sql("""
  select customer, coalesce(user_id, ''), coalesce(email, ''), coalesce(stage, ''), level,
         coalesce(persona, ''), segments,
         strftime(columns('first_met_.*'), '%Y-%m-%dT%H:%M:%S.%gZ')
  from read_parquet('c.parquet') order by customer""").fetchall()
types = duckdb.sql("select column_name, column_type from (describe select * from read_parquet('c.parquet'))").fetchall()
print(";".join(f"{n}:{t}" for n, t in types))
for r in rows:
    cells = [str(c) for c in r[:7]]
    cells += ["" if t is None else t for t in r[7:]]
    print(",".join(cells))
"#;
    let out = Command::new("python3")
        .current_dir(&dir)
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "DuckDB failed (run scripts/setup-test-deps): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck = String::from_utf8(out.stdout).unwrap();
    let mut lines = duck.lines();
    let types = lines.next().unwrap();
    assert!(types.contains("level:INTEGER"), "{types}");
    assert!(
        types.contains("first_met_achat:TIMESTAMP WITH TIME ZONE"),
        "{types}"
    );
    let mut from_duck: Vec<&str> = lines.collect();
    let mut from_csv: Vec<String> = csv
        .lines()
        .skip(1)
        // Quoted cells (names with commas) do not occur in the demo.
        .map(|l| l.to_string())
        .collect();
    from_duck.sort();
    from_csv.sort();
    assert!(from_csv.len() > 700, "{} customers", from_csv.len());
    assert_eq!(from_duck.len(), from_csv.len());
    for (d, c) in from_duck.iter().zip(&from_csv) {
        assert_eq!(d, c);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
