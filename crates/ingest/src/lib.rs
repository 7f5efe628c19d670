//! Bulk import of event files into the store.
//!
//! This crate owns reading files: detecting their format (Segment NDJSON or JSON, the batch
//! envelope, Mailjet Event API payloads, CSV, Parquet, any of them gzipped), cutting them
//! into records without loading them whole, parsing records in parallel while keeping their
//! order (identity stitching depends on it), writing every rejected record to a quarantine
//! file with its line and reason, and reporting progress. Each file is one import: it lands
//! in the store entirely or not at all.

mod csv_blocks;
mod detect;
mod progress;
mod quarantine;
pub mod split;
mod table;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use detect::{Format, detect_format};
use jiff::tz::TimeZone;
use parcours_events::tabular::{Cell, ColumnError, Columns, Role, row_to_event};
use parcours_events::{Event, MAX_EVENT_BYTES, Rejection, from_mailjet_json, from_segment_json};
use parcours_store::{ImportOptions, ImportSummary, Store, StoreError};
pub use progress::Progress;
pub use quarantine::{Location, Quarantine};
use serde::Serialize;
use split::{JsonRecords, Lines, RawRecord};
use table::OwnedCell;

/// How to read the files.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Column roles forced for CSV and Parquet: (role, column name).
    pub columns: Vec<(Role, String)>,
    /// CSV field delimiter (default `,`, or tab for `.tsv`).
    pub delimiter: Option<u8>,
    /// Time zone of timestamps written without an offset (default UTC).
    pub timezone: Option<TimeZone>,
    /// Fail, importing nothing, if any record is rejected.
    pub strict: bool,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Parsing threads.
    pub threads: usize,
    /// Where quarantine files go.
    pub quarantine_dir: PathBuf,
    /// Events per segment written.
    pub segment_rows: usize,
}

impl IngestOptions {
    /// Defaults: detected format, UTC, quarantine under the data directory.
    pub fn new(data_dir: &Path) -> IngestOptions {
        IngestOptions {
            format: None,
            columns: Vec::new(),
            delimiter: None,
            timezone: None,
            strict: false,
            progress: false,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            quarantine_dir: data_dir.join("quarantine"),
            segment_rows: parcours_store::DEFAULT_RUN_ROWS,
        }
    }
}

/// Why a file could not be imported. Nothing of it is in the store.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The format could not be told.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is unclear.
        message: String,
    },
    /// The header of a table does not say where the customer, event or time is.
    #[error("{}: {source}", path.display())]
    Columns {
        /// The file.
        path: PathBuf,
        /// What is missing.
        source: ColumnError,
    },
    /// The JSON structure is broken, so the records after that point cannot be found.
    #[error("{}: {message}; nothing was imported from this file", path.display())]
    Structure {
        /// The file.
        path: PathBuf,
        /// Where and what.
        message: String,
    },
    /// `--strict` and some records were rejected.
    #[error("{}: {rejected} record(s) rejected, first at {first}; nothing was imported (--strict). Rejected records are in {}", path.display(), quarantine.display())]
    Strict {
        /// The file.
        path: PathBuf,
        /// How many.
        rejected: u64,
        /// The first, with its reason.
        first: String,
        /// The quarantine file.
        quarantine: PathBuf,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Format read.
    pub format: Format,
    /// What the store did.
    #[serde(flatten)]
    pub summary: ImportSummary,
    /// Quarantine file, when records were rejected.
    pub quarantine: Option<PathBuf>,
    /// Records read (accepted, duplicate or rejected).
    pub records: u64,
    /// Seconds taken.
    pub seconds: f64,
}

impl FileReport {
    /// Records read per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.records as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A record that could not become an event.
struct Bad {
    location: Location,
    reason: String,
    raw: String,
}

type Outcome = Result<Event, Bad>;

/// Work for the parser threads.
enum Chunk {
    Json {
        mailjet: bool,
        records: Vec<RawRecord>,
    },
    CsvBlock {
        columns: Arc<Columns>,
        bytes: Vec<u8>,
        first_line: u64,
        delimiter: u8,
    },
    Parquet {
        columns: Arc<Columns>,
        rows: Vec<(u64, Vec<OwnedCell>)>,
    },
}

fn parse_parquet(
    columns: &Columns,
    row: u64,
    owned: &[OwnedCell],
    zone: Option<&TimeZone>,
) -> Outcome {
    let cells: Vec<Cell<'_>> = owned.iter().map(OwnedCell::as_cell).collect();
    let bad = |reason: String| Bad {
        location: Location::Row(row),
        reason,
        raw: owned
            .iter()
            .map(OwnedCell::text)
            .collect::<Vec<_>>()
            .join(","),
    };
    let size: usize = owned
        .iter()
        .map(|c| {
            if let OwnedCell::Text(t) = c {
                t.len()
            } else {
                8
            }
        })
        .sum();
    if size > MAX_EVENT_BYTES {
        return Err(bad(format!(
            "the row is {size} bytes; events are limited to {} KB",
            MAX_EVENT_BYTES / 1024
        )));
    }
    row_to_event(columns, &cells, zone).map_err(|r| bad(r.reason))
}

fn parse_json(mailjet: bool, record: RawRecord, zone: Option<&TimeZone>) -> Outcome {
    let result = if mailjet {
        from_mailjet_json(&record.bytes)
    } else {
        from_segment_json(&record.bytes, zone)
    };
    result.map_err(|rejection| Bad {
        location: match record.index {
            Some(index) => Location::Record {
                index,
                line: record.line,
            },
            None => Location::Line(record.line),
        },
        reason: rejection.reason,
        raw: String::from_utf8_lossy(&record.bytes).into_owned(),
    })
}

fn parse_csv(
    columns: &Columns,
    line: u64,
    record: &csv::ByteRecord,
    delimiter: u8,
    zone: Option<&TimeZone>,
) -> Outcome {
    let raw = || {
        let fields: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        fields.join(&(delimiter as char).to_string())
    };
    let bad = |reason: String| Bad {
        location: Location::Line(line),
        reason,
        raw: raw(),
    };
    if record.as_slice().len() > MAX_EVENT_BYTES {
        return Err(bad(format!(
            "the row is {} bytes; events are limited to {} KB",
            record.as_slice().len(),
            MAX_EVENT_BYTES / 1024
        )));
    }
    let mut cells = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        match std::str::from_utf8(field) {
            Ok(text) => cells.push(Cell::Text(text)),
            Err(_) => {
                let name = columns.names.get(i).map_or("?", String::as_str);
                return Err(bad(format!("column `{name}` is not UTF-8 text")));
            }
        }
    }
    row_to_event(columns, &cells, zone).map_err(|r: Rejection| bad(r.reason))
}

/// Parses a block of whole CSV records; lines are numbered from `first_line`.
fn parse_csv_block(
    columns: &Columns,
    block: &[u8],
    first_line: u64,
    delimiter: u8,
    zone: Option<&TimeZone>,
) -> Vec<Outcome> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(block);
    let mut record = csv::ByteRecord::new();
    let mut outcomes = Vec::with_capacity(block.len() / 64);
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = first_line + record.position().map_or(1, |p| p.line()) - 1;
                outcomes.push(parse_csv(columns, line, &record, delimiter, zone));
            }
            Err(e) => {
                // An unreadable row (invalid quoting): quarantine it and go on.
                let line = first_line + e.position().map_or(1, |p| p.line()) - 1;
                outcomes.push(Err(Bad {
                    location: Location::Line(line),
                    reason: format!("unreadable CSV row: {e}"),
                    raw: String::new(),
                }));
            }
        }
    }
    outcomes
}

fn parse_chunk(chunk: Chunk, zone: Option<&TimeZone>) -> Vec<Outcome> {
    match chunk {
        Chunk::Json { mailjet, records } => records
            .into_iter()
            .map(|r| parse_json(mailjet, r, zone))
            .collect(),
        Chunk::CsvBlock {
            columns,
            bytes,
            first_line,
            delimiter,
        } => parse_csv_block(&columns, &bytes, first_line, delimiter, zone),
        Chunk::Parquet { columns, rows } => rows
            .iter()
            .map(|(row, cells)| parse_parquet(&columns, *row, cells, zone))
            .collect(),
    }
}

const CHUNK_RECORDS: usize = 4096;

/// Imports one file. On any error nothing of the file is in the store.
pub fn ingest_file(
    store: &mut Store,
    path: &Path,
    options: &IngestOptions,
) -> Result<FileReport, IngestError> {
    let started = Instant::now();
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    let progress = Progress::new(path, size, options.progress);
    let counted = progress.reader(File::open(path).map_err(io)?);
    let (format, reader) = detect::open(path, counted, options.format).map_err(|e| match e {
        detect::DetectError::Io(source) => io(source),
        detect::DetectError::Unknown(message) => IngestError::Format {
            path: path.to_path_buf(),
            message,
        },
    })?;
    let mut quarantine = Quarantine::new(&options.quarantine_dir, path);
    let mut import_options = ImportOptions::new(path.display().to_string(), format.as_str());
    import_options.run_rows = options.segment_rows;
    let mut import = store.begin_import(import_options)?;
    let mut records = 0u64;

    let zone = options.timezone.clone();
    let threads = options.threads.max(1);
    let result: Result<(), IngestError> = std::thread::scope(|scope| {
        let (work_tx, work_rx) = sync_channel::<(u64, Chunk)>(threads * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<(u64, Vec<Outcome>)>(threads * 2);
        // Consumed outcomes go back to the parsers to be freed there, off the importer's
        // thread, which is the one that bounds the pace.
        let (trash_tx, trash_rx) = std::sync::mpsc::channel::<Vec<Outcome>>();
        let trash_rx = Arc::new(Mutex::new(trash_rx));
        for _ in 0..threads {
            let work_rx = Arc::clone(&work_rx);
            let trash_rx = Arc::clone(&trash_rx);
            let done_tx = done_tx.clone();
            let zone = zone.clone();
            let parser = std::thread::Builder::new().name("parcours-parse".into());
            parser
                .spawn_scoped(scope, move || {
                    loop {
                        let next = work_rx
                            .lock()
                            .expect("no parser panics holding the lock")
                            .recv();
                        let Ok((seq, chunk)) = next else { break };
                        if let Ok(trash) = trash_rx.try_lock() {
                            while trash.try_recv().is_ok() {}
                        }
                        if done_tx
                            .send((seq, parse_chunk(chunk, zone.as_ref())))
                            .is_err()
                        {
                            break;
                        }
                    }
                })
                .map_err(io)?;
        }
        drop(done_tx);
        let reader_thread = std::thread::Builder::new()
            .name("parcours-read".into())
            .spawn_scoped(scope, move || {
                read_chunks(path, format, reader, options, work_tx)
            })
            .map_err(io)?;

        // Outcomes in file order, whatever thread parsed them.
        let mut waiting: BTreeMap<u64, Vec<Outcome>> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure: Option<IngestError> = None;
        for (seq, outcomes) in done_rx.iter() {
            waiting.insert(seq, outcomes);
            while let Some(outcomes) = waiting.remove(&next) {
                next += 1;
                if failure.is_some() {
                    continue;
                }
                for outcome in &outcomes {
                    records += 1;
                    progress.record();
                    let step = match outcome {
                        Ok(event) => import.push(event).map_err(IngestError::from),
                        Err(bad) => quarantine
                            .add(&bad.location, &bad.reason, &bad.raw)
                            .map_err(|source| IngestError::Io {
                                path: quarantine.path().to_path_buf(),
                                source,
                            }),
                    };
                    if let Err(e) = step {
                        failure = Some(e);
                        break;
                    }
                }
                let _ = trash_tx.send(outcomes);
            }
        }
        let read = reader_thread
            .join()
            .expect("the reader thread does not panic");
        match failure {
            Some(e) => Err(e),
            None => read,
        }
    });
    progress.finish();
    result?;
    let rejected = quarantine.count();
    let quarantine_path = quarantine.close().map_err(|source| IngestError::Io {
        path: options.quarantine_dir.clone(),
        source,
    })?;
    if options.strict && rejected > 0 {
        return Err(IngestError::Strict {
            path: path.to_path_buf(),
            rejected,
            first: quarantine.first().unwrap_or_default().to_string(),
            quarantine: quarantine_path.unwrap_or_default(),
        });
    }
    let summary = import.finish(rejected, quarantine_path.as_deref())?;
    Ok(FileReport {
        file: path.to_path_buf(),
        format,
        summary,
        quarantine: quarantine_path,
        records,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Reads the file into chunks of records for the parsers, in order.
fn read_chunks(
    path: &Path,
    format: Format,
    reader: Box<dyn Read + Send>,
    options: &IngestOptions,
    work: SyncSender<(u64, Chunk)>,
) -> Result<(), IngestError> {
    let mut seq = 0u64;
    let mut send = |chunk: Chunk| -> bool {
        let ok = work.send((seq, chunk)).is_ok();
        seq += 1;
        ok
    };
    let io = |source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    };
    match format {
        Format::Ndjson | Format::Mailjet | Format::Json => {
            let mut lines;
            let mut json;
            let mut next: Box<dyn FnMut() -> Result<Option<RawRecord>, IngestError>> =
                if format == Format::Ndjson {
                    lines = Lines::new(reader);
                    Box::new(move || lines.next_record().map_err(io))
                } else {
                    json = JsonRecords::new(reader);
                    Box::new(move || {
                        json.next_record().map_err(|e| match e {
                            split::SplitError::Io(source) => io(source),
                            structure => IngestError::Structure {
                                path: path.to_path_buf(),
                                message: structure.to_string(),
                            },
                        })
                    })
                };
            let mut batch = Vec::with_capacity(CHUNK_RECORDS);
            let mailjet = format == Format::Mailjet;
            while let Some(record) = next()? {
                batch.push(record);
                if batch.len() == CHUNK_RECORDS
                    && !send(Chunk::Json {
                        mailjet,
                        records: std::mem::take(&mut batch),
                    })
                {
                    return Ok(());
                }
            }
            if !batch.is_empty() {
                send(Chunk::Json {
                    mailjet,
                    records: batch,
                });
            }
        }
        Format::Csv | Format::Tsv => {
            let delimiter =
                options
                    .delimiter
                    .unwrap_or(if format == Format::Tsv { b'\t' } else { b',' });
            let mut reader = reader;
            let header = csv_blocks::read_header(&mut reader, delimiter)
                .map_err(|e| IngestError::Format {
                    path: path.to_path_buf(),
                    message: format!("cannot read the CSV header: {e}"),
                })?
                .ok_or_else(|| IngestError::Format {
                    path: path.to_path_buf(),
                    message: "the file is empty: a CSV file needs a header line".into(),
                })?;
            let columns = Arc::new(Columns::detect(&header.names, &options.columns).map_err(
                |source| IngestError::Columns {
                    path: path.to_path_buf(),
                    source,
                },
            )?);
            let mut blocks = csv_blocks::Blocks::new(reader, header.rest, header.lines + 1);
            while let Some((first_line, bytes)) = blocks.next_block().map_err(io)? {
                let chunk = Chunk::CsvBlock {
                    columns: Arc::clone(&columns),
                    bytes,
                    first_line,
                    delimiter,
                };
                if !send(chunk) {
                    return Ok(());
                }
            }
        }
        Format::Parquet => {
            drop(reader);
            let unreadable = |message: String| IngestError::Format {
                path: path.to_path_buf(),
                message,
            };
            let header = table::parquet_header(path).map_err(unreadable)?;
            let columns = Arc::new(Columns::detect(&header, &options.columns).map_err(
                |source| IngestError::Columns {
                    path: path.to_path_buf(),
                    source,
                },
            )?);
            table::parquet_rows(path, CHUNK_RECORDS, &mut |rows| {
                send(Chunk::Parquet {
                    columns: Arc::clone(&columns),
                    rows,
                })
            })
            .map_err(unreadable)?;
        }
    }
    Ok(())
}
