//! Rejected records, kept with where they were and why, so nothing is silently lost.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where a record was in its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Location {
    /// A line (NDJSON, CSV).
    Line(u64),
    /// A row (Parquet).
    Row(u64),
    /// A record of a JSON array, and the line where it starts.
    Record {
        /// 1-based position in the array.
        index: u64,
        /// Line where it starts.
        line: u64,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
            Location::Record { index, line } => write!(f, "record {index} (line {line})"),
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    row: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<u64>,
    reason: &'a str,
    raw: &'a str,
}

/// The quarantine file of one import, created at the first rejected record.
pub struct Quarantine {
    path: PathBuf,
    source: String,
    writer: Option<BufWriter<File>>,
    count: u64,
    first: Option<String>,
}

impl Quarantine {
    /// Quarantine for records of `source`, written under `dir`.
    pub fn new(dir: &Path, source: &Path) -> Quarantine {
        let stem = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "input".into());
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S");
        Quarantine {
            path: dir.join(format!(
                "{stem}.{stamp}-{}.rejected.ndjson",
                std::process::id()
            )),
            source: source.display().to_string(),
            writer: None,
            count: 0,
            first: None,
        }
    }

    /// Where the records go.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one rejected record.
    pub fn add(&mut self, location: &Location, reason: &str, raw: &str) -> std::io::Result<()> {
        if self.writer.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            self.writer = Some(BufWriter::new(File::create(&self.path)?));
        }
        let (line, row, record) = match *location {
            Location::Line(n) => (Some(n), None, None),
            Location::Row(n) => (None, Some(n), None),
            Location::Record { index, line } => (Some(line), None, Some(index)),
        };
        let entry = Entry {
            source: &self.source,
            line,
            row,
            record,
            reason,
            raw,
        };
        let writer = self.writer.as_mut().expect("opened above");
        serde_json::to_writer(&mut *writer, &entry)?;
        writer.write_all(b"\n")?;
        self.count += 1;
        if self.first.is_none() {
            self.first = Some(format!("{location}: {reason}"));
        }
        Ok(())
    }

    /// Records rejected so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The first rejection, as `line 3: reason`.
    pub fn first(&self) -> Option<&str> {
        self.first.as_deref()
    }

    /// Flushes to disk; the file's path if anything was rejected.
    pub fn close(&mut self) -> std::io::Result<Option<PathBuf>> {
        match self.writer.take() {
            None => Ok(None),
            Some(writer) => {
                writer
                    .into_inner()
                    .map_err(|e| e.into_error())?
                    .sync_all()?;
                Ok(Some(self.path.clone()))
            }
        }
    }
}
