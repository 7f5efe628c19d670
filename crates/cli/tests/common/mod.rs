//! Helpers shared by the binary's integration tests.

// Every test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `parcours ARGS` in `dir`; fails the test, with its stderr, unless it succeeds.
pub fn parcours(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// An empty directory for one test of this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory holding a `parcours demo` store of `customers` customers (`data`) and the
/// digital template (`journey.toml`).
pub fn demo_with_journey(name: &str, customers: u32) -> PathBuf {
    let dir = scratch(name);
    let customers = customers.to_string();
    parcours(
        &dir,
        &[
            "demo",
            "--customers",
            &customers,
            "--data",
            "data",
            "--no-report",
        ],
    );
    parcours(&dir, &["init", "--template", "digital", "."]);
    dir
}

/// The JSON report of `parcours analyze -j JOURNEY --data data EXTRA...` in `dir`.
pub fn analyze_json(dir: &Path, journey: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "analyze", "-j", journey, "--data", "data", "--format", "json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&parcours(dir, &args)).unwrap()
}
