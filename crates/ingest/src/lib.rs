//! Bulk import of event files into the store.
//!
//! This crate owns reading files: detecting their format (Segment NDJSON or JSON, the batch
//! envelope, Mailjet Event API payloads, CSV, Parquet, any of them gzipped), cutting them
//! into records without loading them whole, parsing records in parallel while keeping their
//! order (identity stitching depends on it), writing every rejected record to a quarantine
//! file with its line and reason, and reporting progress. Each file is one import: it lands
//! in the store entirely or not at all.

mod csv_blocks;
use csv_blocks::Block;
mod detect;
mod progress;
mod quarantine;
pub mod split;
mod table;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use detect::{Format, detect_format};
use jiff::tz::TimeZone;
use parcours_events::tabular::{
    Cell, ColumnError, Columns, Role, RowScratch, row_to_event, row_to_view,
};
use parcours_events::{Event, MAX_EVENT_BYTES, from_mailjet_json, from_segment_json};
use parcours_store::{EventBuffer, ImportOptions, ImportSummary, Store, StoreError};
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

/// What a parser made of a chunk: its events, in file order, and the records it rejected.
/// Batches travel back to the parsers once imported, so their buffers are reused.
#[derive(Default)]
struct Parsed {
    events: EventBuffer,
    rejected: Vec<Bad>,
}

impl Parsed {
    fn clear(&mut self) {
        self.events.clear();
        self.rejected.clear();
    }

    fn records(&self) -> u64 {
        (self.events.len() + self.rejected.len()) as u64
    }

    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Ok(event) => self.add_view(event.view()),
            Err(bad) => self.rejected.push(bad),
        }
    }

    /// The import sets customer, code, arrival time and source: zeros here.
    fn add_view(&mut self, event: parcours_events::EventRef<'_>) {
        self.events.push(0, 0, 0, "", event);
    }
}

/// Reuses an empty vector's allocation for cells borrowing something else.
fn recycle<'b>(mut cells: Vec<Cell<'_>>) -> Vec<Cell<'b>> {
    cells.clear();
    // Same size and alignment: the standard library collects in place, keeping the allocation.
    cells
        .into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Work for the parser threads.
enum Chunk {
    Json {
        mailjet: bool,
        records: Vec<RawRecord>,
    },
    CsvBlock {
        columns: Arc<Columns>,
        block: Block,
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

/// One CSV row, as its fields, becomes an event in `out`; `bad` makes the rejection of the
/// row for a reason.
fn parse_csv_row<'r>(
    columns: &Columns,
    fields: impl Iterator<Item = Result<&'r str, std::str::Utf8Error>>,
    bad: impl Fn(String) -> Bad,
    zone: Option<&TimeZone>,
    cells: &mut Vec<Cell<'r>>,
    scratch: &mut RowScratch,
    out: &mut Parsed,
) -> Result<(), Bad> {
    cells.clear();
    let mut result = Ok(());
    let mut size = 0;
    for (i, field) in fields.enumerate() {
        match field {
            Ok(text) => {
                size += text.len();
                cells.push(Cell::Text(text));
            }
            Err(_) => {
                let name = columns.names.get(i).map_or("?", String::as_str);
                result = Err(bad(format!("column `{name}` is not UTF-8 text")));
                break;
            }
        }
    }
    if result.is_ok() && size > MAX_EVENT_BYTES {
        result = Err(bad(format!(
            "the row is {size} bytes; events are limited to {} KB",
            MAX_EVENT_BYTES / 1024
        )));
    }
    if result.is_ok() {
        match row_to_view(columns, cells, zone, scratch) {
            Ok(event) => out.add_view(event),
            Err(r) => result = Err(bad(r.reason)),
        }
    }
    result
}

/// Parses a block of whole CSV records; lines are numbered from `first_line`.
fn parse_csv_block(
    columns: &Columns,
    block: &Block,
    delimiter: u8,
    zone: Option<&TimeZone>,
    scratch: &mut RowScratch,
    out: &mut Parsed,
) {
    if block.plain {
        return parse_plain_block(columns, block, delimiter, zone, scratch, out);
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(block.bytes.as_slice());
    let mut record = csv::ByteRecord::new();
    let mut lines = LineCursor::new(block);
    // Cells borrow the record, refilled for each row: their vector is recycled instead.
    let mut spare: Vec<Cell<'static>> = Vec::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.record_line(record.position());
                let bad = |reason| {
                    let fields: Vec<String> = record
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    Bad {
                        location: Location::Line(line),
                        reason,
                        raw: fields.join(&(delimiter as char).to_string()),
                    }
                };
                let mut cells = recycle(std::mem::take(&mut spare));
                let fields = record.iter().map(std::str::from_utf8);
                let parsed = parse_csv_row(columns, fields, bad, zone, &mut cells, scratch, out);
                spare = recycle(cells);
                if let Err(bad) = parsed {
                    out.rejected.push(bad);
                }
            }
            Err(e) => {
                // An unreadable row (invalid quoting): quarantine it and go on.
                let line = lines.record_line(e.position());
                out.rejected.push(Bad {
                    location: Location::Line(line),
                    reason: format!("unreadable CSV row: {e}"),
                    raw: String::new(),
                });
            }
        }
    }
}

/// Line numbers of a block's records. The CSV reader's position of a record counts the
/// blank lines before it as part of it, so the record starts after them.
struct LineCursor<'b> {
    bytes: &'b [u8],
    offset: usize,
    line: u64,
}

impl<'b> LineCursor<'b> {
    fn new(block: &'b Block) -> Self {
        LineCursor {
            bytes: &block.bytes,
            offset: 0,
            line: block.first_line,
        }
    }

    /// The line of the record the reader placed at `position`; records come in order.
    fn record_line(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let mut start = (position.byte() as usize).min(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.offset {
            let skipped = &self.bytes[self.offset..start];
            self.line += memchr::memchr_iter(b'\n', skipped).count() as u64;
            self.offset = start;
        }
        self.line
    }
}

/// Parses a block without quotes: records are its lines and fields are cut at every
/// delimiter, as the CSV reader would, without running its state machine byte by byte.
fn parse_plain_block(
    columns: &Columns,
    block: &Block,
    delimiter: u8,
    zone: Option<&TimeZone>,
    scratch: &mut RowScratch,
    out: &mut Parsed,
) {
    let bytes = block.bytes.as_slice();
    let mut cells = Vec::with_capacity(columns.names.len());
    let mut line = block.first_line;
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut text = &bytes[start..end];
        if let [rest @ .., b'\r'] = text {
            text = rest;
        }
        let bad = |reason| Bad {
            location: Location::Line(line),
            reason,
            raw: String::from_utf8_lossy(text).into_owned(),
        };
        let parsed = if text.is_empty() {
            // Like the CSV reader, blank lines hold no record.
            Ok(())
        } else if memchr::memchr(b'\r', text).is_some() {
            // A lone carriage return ends a record for the CSV reader: leave the line to it.
            let mut alone = text.to_vec();
            alone.push(b'\n');
            let alone = Block {
                first_line: line,
                bytes: alone,
                plain: false,
            };
            parse_csv_block(columns, &alone, delimiter, zone, scratch, out);
            Ok(())
        } else if let (Ok(text), true) = (std::str::from_utf8(text), delimiter.is_ascii()) {
            // Valid as a whole, so every field is: split without checking each again.
            let fields = text.split(delimiter as char).map(Ok);
            parse_csv_row(columns, fields, bad, zone, &mut cells, scratch, out)
        } else {
            let fields = text.split(|&b| b == delimiter).map(std::str::from_utf8);
            parse_csv_row(columns, fields, bad, zone, &mut cells, scratch, out)
        };
        if let Err(bad) = parsed {
            out.rejected.push(bad);
        }
        line += 1;
        start = end + 1;
    }
}

/// Parses a chunk into `out`; gives back the CSV block's buffer, to be read into again.
fn parse_chunk(
    chunk: Chunk,
    zone: Option<&TimeZone>,
    scratch: &mut RowScratch,
    out: &mut Parsed,
) -> Option<Vec<u8>> {
    match chunk {
        Chunk::Json { mailjet, records } => {
            for record in records {
                out.add(parse_json(mailjet, record, zone));
            }
        }
        Chunk::CsvBlock {
            columns,
            block,
            delimiter,
        } => {
            parse_csv_block(&columns, &block, delimiter, zone, scratch, out);
            return Some(block.bytes);
        }
        Chunk::Parquet { columns, rows } => {
            for (row, cells) in &rows {
                out.add(parse_parquet(&columns, *row, cells, zone));
            }
        }
    }
    None
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
        let (done_tx, done_rx) = sync_channel::<(u64, Parsed)>(threads * 2);
        // Imported batches go back to the parsers to be refilled: the importer's thread,
        // which bounds the pace, neither allocates nor frees them.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Parsed>();
        let spare_rx = Arc::new(Mutex::new(spare_rx));
        let (block_tx, block_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        for _ in 0..threads {
            let block_tx = block_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            let spare_rx = Arc::clone(&spare_rx);
            let done_tx = done_tx.clone();
            let zone = zone.clone();
            let parser = std::thread::Builder::new().name("parcours-parse".into());
            parser
                .spawn_scoped(scope, move || {
                    let mut scratch = RowScratch::default();
                    loop {
                        let next = work_rx
                            .lock()
                            .expect("no parser panics holding the lock")
                            .recv();
                        let Ok((seq, chunk)) = next else { break };
                        let spare = spare_rx.try_lock().ok().and_then(|rx| rx.try_recv().ok());
                        let mut parsed = spare.unwrap_or_default();
                        parsed.clear();
                        if let Some(bytes) =
                            parse_chunk(chunk, zone.as_ref(), &mut scratch, &mut parsed)
                        {
                            let _ = block_tx.send(bytes);
                        }
                        if done_tx.send((seq, parsed)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(io)?;
        }
        drop(done_tx);
        drop(block_tx);
        let reader_thread = std::thread::Builder::new()
            .name("parcours-read".into())
            .spawn_scoped(scope, move || {
                read_chunks(path, format, reader, options, work_tx, block_rx)
            })
            .map_err(io)?;

        // Outcomes in file order, whatever thread parsed them.
        let mut waiting: BTreeMap<u64, Parsed> = BTreeMap::new();
        let mut next = 0u64;
        let mut failure: Option<IngestError> = None;
        for (seq, parsed) in done_rx.iter() {
            waiting.insert(seq, parsed);
            while let Some(parsed) = waiting.remove(&next) {
                next += 1;
                if failure.is_none() {
                    records += parsed.records();
                    progress.records(parsed.records());
                    let step = import.push_batch(&parsed.events).map_err(IngestError::from);
                    let step = step.and_then(|()| {
                        parsed.rejected.iter().try_for_each(|bad| {
                            quarantine
                                .add(&bad.location, &bad.reason, &bad.raw)
                                .map_err(|source| IngestError::Io {
                                    path: quarantine.path().to_path_buf(),
                                    source,
                                })
                        })
                    });
                    failure = step.err();
                }
                let _ = spare_tx.send(parsed);
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
    parsed_blocks: Receiver<Vec<u8>>,
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
            let mut blocks =
                csv_blocks::Blocks::new(reader, delimiter, header.rest, header.lines + 1);
            loop {
                while let Ok(buffer) = parsed_blocks.try_recv() {
                    blocks.recycle(buffer);
                }
                let Some(block) = blocks.next_block().map_err(io)? else {
                    break;
                };
                let chunk = Chunk::CsvBlock {
                    columns: Arc::clone(&columns),
                    block,
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Events and rejections of a block, parsed by the fast path or by the CSV reader.
    fn parse(text: impl AsRef<[u8]>, plain: bool) -> (Vec<Event>, Vec<(String, String, String)>) {
        let header: Vec<String> = ["user_id", "event", "timestamp", "plan", "note"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let columns = Columns::detect(&header, &[]).unwrap();
        let block = Block {
            first_line: 2,
            bytes: text.as_ref().to_vec(),
            plain,
        };
        let mut out = Parsed::default();
        parse_csv_block(
            &columns,
            &block,
            b',',
            None,
            &mut RowScratch::default(),
            &mut out,
        );
        let events = (0..out.events.len())
            .map(|row| out.events.view(row).to_event())
            .collect();
        let rejected = out
            .rejected
            .iter()
            .map(|bad| {
                (
                    bad.location.to_string(),
                    bad.reason.clone(),
                    bad.raw.clone(),
                )
            })
            .collect();
        (events, rejected)
    }

    /// A quote-free CSV line: good rows, short and long rows, bad dates, blank lines.
    fn line() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            Just(String::new()),
            "[a-z0-9 éà_.-]{1,8}",
            Just("2026-03-01 10:00:00".to_string()),
            Just("1772361600".to_string()),
            Just("not a date".to_string()),
            Just("cr\rinside".to_string()),
        ];
        (proptest::collection::vec(field, 0..7), any::<bool>())
            .prop_map(|(fields, crlf)| fields.join(",") + if crlf { "\r\n" } else { "\n" })
    }

    proptest! {
        /// The fast path for blocks without quotes reads exactly what the CSV reader reads:
        /// same events, same rejections at the same lines.
        #[test]
        fn plain_blocks_read_as_the_csv_reader_reads(
            lines in proptest::collection::vec(line(), 1..30),
            cut_last_newline in any::<bool>(),
        ) {
            let mut text = lines.concat();
            if cut_last_newline {
                text.pop();
            }
            let fast = parse(&text, true);
            let reference = parse(&text, false);
            prop_assert_eq!(fast, reference);
        }
    }

    #[test]
    fn text_that_is_not_utf8_is_rejected_naming_its_column_on_both_paths() {
        let text = b"u1,signup,2026-03-01,\xff,x\nu2,signup,2026-03-01,,\n";
        let fast = parse(text, true);
        assert_eq!(fast, parse(text, false));
        assert_eq!(fast.0.len(), 1);
        assert_eq!(fast.1[0].0, "line 2");
        assert_eq!(fast.1[0].1, "column `plan` is not UTF-8 text");
    }

    #[test]
    fn plain_blocks_number_lines_past_blank_ones() {
        let (events, rejected) = parse("u1,signup,2026-03-01,,\n\nu2,,2026-03-01,,\r\n", true);
        assert_eq!(events.len(), 1);
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0, "line 4");
    }

    #[test]
    fn quoted_blocks_number_lines_past_blank_lines_and_quoted_newlines() {
        let text = "\nu1,signup,2026-03-01,,\"two\nlines\"\r\n\r\n\nu2,,2026-03-01,,\n";
        let (events, rejected) = parse(text, false);
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].properties.as_deref(),
            Some(r#"{"note":"two\nlines"}"#)
        );
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0, "line 7");
    }
}
