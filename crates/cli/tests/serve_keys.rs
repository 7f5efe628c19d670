//! `parcours keys` with a running `parcours serve`: a key created or revoked from the command
//! line is taken or refused within seconds, without a restart.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{free_port, parcours, start_server, stop_server};

fn track_status(addr: SocketAddr, key: &str) -> u16 {
    let body = r#"{"userId":"u1","event":"Signed Up","timestamp":"2026-11-20T10:00:00Z"}"#;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/track HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Waits until a request with `key` gets `status`.
fn eventually(addr: SocketAddr, key: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while track_status(addr, key) != status {
        assert!(Instant::now() < deadline, "{key} never got {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn keys_created_and_revoked_while_the_server_runs() {
    let dir = common::scratch("serve-keys");
    let data = dir.join("data");
    let data_arg = data.to_str().unwrap();

    // No key at all: the server says how to make one.
    let refused = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data", data_arg])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("parcours keys create"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let created: serde_json::Value = serde_json::from_slice(&parcours(
        &dir,
        &[
            "keys", "create", "--name", "web", "--data", data_arg, "--format", "json",
        ],
    ))
    .unwrap();
    let web = created["key"].as_str().unwrap().to_string();
    let addr = free_port();
    let server = start_server(&data, addr, "");
    assert_eq!(track_status(addr, &web), 200);
    assert_eq!(track_status(addr, "wk_unknown"), 401);

    // A key made while the server runs works within seconds; a revoked one stops working.
    let app = String::from_utf8(parcours(
        &dir,
        &["keys", "create", "--name", "ios app", "--data", data_arg],
    ))
    .unwrap()
    .trim()
    .to_string();
    eventually(addr, &app, 200);
    let id = created["id"].as_i64().unwrap().to_string();
    parcours(&dir, &["keys", "revoke", &id, "--data", data_arg]);
    eventually(addr, &web, 401);
    assert_eq!(track_status(addr, &app), 200);

    let listed = String::from_utf8(parcours(&dir, &["keys", "list", "--data", data_arg])).unwrap();
    assert!(
        listed.contains("web") && listed.contains("revoked"),
        "{listed}"
    );
    assert!(
        listed.contains("ios app") && listed.contains("active"),
        "{listed}"
    );
    assert!(
        !listed.contains(&web),
        "a listing shows only the start of a key: {listed}"
    );
    let again = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(["keys", "revoke", &id, "--data", data_arg])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("revoked already"));
    stop_server(server);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn settings_come_from_parcours_toml_under_flags_and_variables() {
    let dir = common::scratch("serve-settings");
    let addr = free_port();
    std::fs::write(
        dir.join("parcours.toml"),
        format!(
            "[serve]\nlisten = \"{addr}\"\ndata = \"from-file\"\nwrite_keys = [\"wk_file\"]\ncompact_every = 0.3\nlog_format = \"json\"\n"
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .current_dir(&dir)
        .arg("serve")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut logs = server.stderr.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(track_status(addr, "wk_file"), 200);
    stop_server(server);
    assert!(dir.join("from-file").join("parcours.sqlite").exists());
    // Logs as JSON lines, one of them saying where the server listened.
    let mut text = String::new();
    logs.read_to_string(&mut text).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["address"] == addr.to_string()),
        "{text}"
    );
    assert!(lines.iter().any(|l| {
        l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("moved the event log into the store"))
    }));

    // A flag wins over the file.
    let other = free_port();
    let server = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .current_dir(&dir)
        .args(["serve", "--listen", &other.to_string()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while TcpStream::connect(other).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not start on the flag's address"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop_server(server);

    // A misspelt setting is an error naming the file, line and column.
    std::fs::write(dir.join("bad.toml"), "[serve]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_parcours"))
        .current_dir(&dir)
        .args(["serve", "--config", "bad.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("bad.toml:2:1") && stderr.contains("lisen"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
