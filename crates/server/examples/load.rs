//! A load generator for `parcours serve`'s tracking API (the ingestion benchmark's client):
//! CONNECTIONS keep-alive connections each posting batches of BATCH track events to
//! `/v1/batch` for SECONDS, every message with its own id. Prints one JSON line: events
//! acknowledged per second, and request latencies (median, p99, max) in milliseconds.
//!
//!     cargo run --release -p parcours-server --example load -- ADDR KEY SECONDS CONNECTIONS BATCH

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: load ADDR KEY SECONDS CONNECTIONS BATCH");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[0].parse().expect("ADDR: host:port");
    let key = args[1].clone();
    let seconds: f64 = args[2].parse().expect("SECONDS");
    let connections: usize = args[3].parse().expect("CONNECTIONS");
    let batch: usize = args[4].parse().expect("BATCH");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    // Message ids unique to this run: a second run against the same store is new events,
    // not duplicates the store leaves out.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let results = runtime.block_on(async move {
        let tasks: Vec<_> = (0..connections)
            .map(|c| {
                tokio::spawn(client(
                    addr,
                    key.clone(),
                    format!("{run}-{c}"),
                    batch,
                    deadline,
                ))
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("a client task"));
        }
        results
    });
    let elapsed = started.elapsed().as_secs_f64();
    let events: u64 = results.iter().map(|r| r.events).sum();
    let failed: u64 = results.iter().map(|r| r.failed).sum();
    let mut latencies: Vec<f64> = results.into_iter().flat_map(|r| r.latencies_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{{\"events_per_s\": {:.0}, \"events\": {events}, \"requests\": {}, \"failed_requests\": {failed}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}, \"seconds\": {elapsed:.2}}}",
        events as f64 / elapsed,
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
}

/// What one connection did.
struct Outcome {
    events: u64,
    failed: u64,
    latencies_ms: Vec<f64>,
}

async fn client(
    addr: SocketAddr,
    key: String,
    connection: String,
    batch: usize,
    deadline: Instant,
) -> Outcome {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    let mut outcome = Outcome {
        events: 0,
        failed: 0,
        latencies_ms: Vec::new(),
    };
    let mut stream = connect(addr).await;
    let mut response = Vec::with_capacity(4096);
    let mut body = String::new();
    let mut request_number = 0u64;
    while Instant::now() < deadline {
        body.clear();
        body.push_str(r#"{"batch":["#);
        for i in 0..batch {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"type":"track","event":"Product Viewed","userId":"user-{}","messageId":"load-{connection}-{request_number}-{i}","timestamp":"2026-11-20T10:00:00Z","properties":{{"product":"sku-{i}","price":19.9}},"context":{{"library":{{"name":"load"}}}}}}"#,
                (request_number as usize * batch + i) % 10_000
            ));
        }
        body.push_str("]}");
        let request = format!(
            "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let sent = Instant::now();
        let ok = exchange(&mut stream, request.as_bytes(), &mut response).await;
        let latency = sent.elapsed().as_secs_f64() * 1000.0;
        match ok {
            Some(true) => {
                outcome.events += batch as u64;
                outcome.latencies_ms.push(latency);
            }
            Some(false) => outcome.failed += 1,
            None => {
                outcome.failed += 1;
                stream = connect(addr).await;
            }
        }
        request_number += 1;
    }
    outcome
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("the server is up");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// Sends a request and reads its response; `Some(status == 200)`, `None` when the
/// connection broke.
async fn exchange(stream: &mut TcpStream, request: &[u8], response: &mut Vec<u8>) -> Option<bool> {
    stream.write_all(request).await.ok()?;
    response.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let header_end = response.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = header_end {
            let head = std::str::from_utf8(&response[..end]).ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if response.len() >= end + 4 + length {
                return Some(head.starts_with("HTTP/1.1 200"));
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        response.extend_from_slice(&chunk[..n]);
    }
}
