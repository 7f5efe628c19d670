//! A progress line on the terminal: how far into the file, and records per second.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Files smaller than this import too fast to need a progress bar.
const MIN_BYTES: u64 = 4 << 20;

#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    records: AtomicU64,
    done: AtomicBool,
}

/// Progress of one file, drawn on standard error by a background thread.
pub struct Progress {
    counters: Arc<Counters>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

/// A reader that counts the bytes read through it.
pub struct Counted<R> {
    inner: R,
    counters: Arc<Counters>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.0} MB", b as f64 / f64::from(1u32 << 20)),
        b => format!("{} KB", b.div_ceil(1024)),
    }
}

impl Progress {
    /// Progress for `path` of `size` bytes; drawn only when `enabled`, standard error is a
    /// terminal and the file is big enough to wait for.
    pub fn new(path: &Path, size: u64, enabled: bool) -> Progress {
        let counters = Arc::new(Counters::default());
        let draw = enabled && size >= MIN_BYTES && std::io::stderr().is_terminal();
        let ticker = draw.then(|| {
            let counters = Arc::clone(&counters);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::thread::spawn(move || {
                let start = Instant::now();
                while !counters.done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let bytes = counters.bytes.load(Ordering::Relaxed).min(size);
                    let records = counters.records.load(Ordering::Relaxed);
                    let elapsed = start.elapsed().as_secs_f64().max(0.001);
                    let fraction = bytes as f64 / size as f64;
                    let filled = (fraction * 30.0) as usize;
                    let eta = if fraction > 0.01 {
                        format!("{:.0}s left", elapsed / fraction - elapsed)
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r  {name} [{}{}] {:>3.0}% {}/{} {:>9.0} rows/s {eta}   ",
                        "#".repeat(filled),
                        ".".repeat(30 - filled),
                        fraction * 100.0,
                        human_bytes(bytes),
                        human_bytes(size),
                        records as f64 / elapsed,
                    );
                    let _ = std::io::stderr().flush();
                }
                eprint!("\r{}\r", " ".repeat(100));
            })
        });
        Progress { counters, ticker }
    }

    /// Wraps the file's reader so that bytes read count as progress.
    pub fn reader<R: Read>(&self, inner: R) -> Counted<R> {
        Counted {
            inner,
            counters: Arc::clone(&self.counters),
        }
    }

    /// Counts records handled.
    pub fn records(&self, count: u64) {
        self.counters.records.fetch_add(count, Ordering::Relaxed);
    }

    /// Stops drawing and clears the line.
    pub fn finish(&self) {
        self.counters.done.store(true, Ordering::Relaxed);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}
