//! Helpers shared by the binary's integration tests.

// Every test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

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

/// A loopback address with a port free a moment ago.
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Starts `parcours serve` on `data` at `addr` with write key `key` (besides those of
/// `parcours keys`, read every 0.3 s); returns once it accepts connections.
pub fn start_server(data: &Path, addr: SocketAddr, key: &str) -> Child {
    start_server_with(data, addr, key, &[])
}

/// [`start_server`] with more arguments.
pub fn start_server_with(data: &Path, addr: SocketAddr, key: &str, extra: &[&str]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parcours"));
    command
        .args(["serve", "--compact-every", "0.3"])
        .args(extra);
    if !key.is_empty() {
        command.args(["--write-key", key]);
    }
    let child = command
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Every `event_key` in the store's segments, with how many times it is there.
pub fn stored_keys(data: &Path) -> HashMap<u64, u32> {
    let mut keys = HashMap::new();
    for segment in parcours_store::segments(data).unwrap() {
        let reader =
            SerializedFileReader::new(std::fs::File::open(&segment.path).unwrap()).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let key = row
                .get_column_iter()
                .find(|(name, _)| name.as_str() == "event_key")
                .map(|(_, field)| match field {
                    Field::Long(v) => *v as u64,
                    Field::ULong(v) => *v,
                    other => panic!("event_key is {other:?}"),
                })
                .unwrap();
            *keys.entry(key).or_insert(0) += 1;
        }
    }
    keys
}

/// Stops a server with SIGTERM, as a service manager would; fails the test unless it exits
/// cleanly (after moving its log into the store).
pub fn stop_server(mut server: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
}

/// One HTTP/1.1 request on a new connection; the status and the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}
