//! The Parcours embedded store.
//!
//! This crate owns everything under the data directory: events in immutable Parquet
//! segments sorted by (customer, timestamp, key) that DuckDB, pandas or Spark read directly;
//! identities, customers, the segment catalog and import history in SQLite; the key index
//! that makes imports idempotent. It owns identity stitching ([`identity`]), because who an
//! event belongs to is decided in the same transaction that stores it.
//!
//! An import ([`Store::begin_import`]) is all or nothing: its files are written under
//! `.pending/`, one SQLite transaction commits the catalog, identities and the list of
//! renames to perform, then the renames run. A crash before the commit leaves the store as
//! it was (pending files are removed at the next open); a crash after it is finished at the
//! next open. Only one process writes at a time (an exclusive lock on `store.lock`).
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("parcours-doc-{}", std::process::id()));
//! use parcours_store::{ImportOptions, Store};
//!
//! let mut store = Store::open(&dir)?;
//! let mut import = store.begin_import(ImportOptions::new("example", "segment"))?;
//! let event = parcours_events::from_segment_json(
//!     br#"{"type":"track","event":"purchase","userId":"u1","timestamp":"2026-03-01T09:30:00Z"}"#, None)?;
//! import.push(&event)?;
//! let summary = import.finish(0, None)?;
//! assert_eq!((summary.accepted, summary.new_customers), (1, 1));
//! assert_eq!(parcours_store::stats(&dir)?.events, 1);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod buffer;
mod catalog;
mod compact;
mod db;
pub mod identity;
mod keys;
mod rare_texts;
pub mod scan;
mod segment;
mod text_pages;
mod trait_files;
pub mod web_access;
pub mod write_keys;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use buffer::{EventBuffer, Text};
pub use compact::CompactSummary;
pub use segment::{
    COLUMNS, Column, ROW_GROUP_ROWS, SCHEMA_VERSION, SegmentCursor, SegmentInfo, read_segment,
};

use parcours_events::{Event, EventRef, MessageType};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::db::Db;
use crate::identity::Resolver;
use crate::keys::{KeySpill, SHARDS};

/// Name of the SQLite database in the data directory.
pub const DATABASE: &str = "parcours.sqlite";
/// Folder of the event segments.
pub const EVENTS_DIR: &str = "events";
/// File mapping merged customer ids to the customer they now belong to.
pub const MERGES_FILE: &str = "customer_merges.parquet";
const KEYS_DIR: &str = "keys";
const PENDING_DIR: &str = ".pending";
const LOCK_FILE: &str = "store.lock";
/// Key files per shard beyond which an import folds them into one.
const MAX_KEY_FILES: usize = 8;
/// Default events per segment written by an import.
pub const DEFAULT_RUN_ROWS: usize = 1 << 19;
const RUN_BYTES: usize = 768 << 20;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet library said.
        source: parquet::errors::ParquetError,
    },
    /// Another process holds the store.
    #[error("the store at {} is in use by another parcours process ({holder}); wait for it to finish", dir.display())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// Who holds it, as written in the lock file.
        holder: String,
    },
    /// The store's files do not make sense.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The data directory, opened for writing.
pub struct Store {
    root: PathBuf,
    db: Db,
    /// Event code of each (type, name), one map per type, looked up by `&str`.
    codes: HashMap<
        MessageType,
        HashMap<Box<str>, i32, foldhash::fast::RandomState>,
        foldhash::fast::RandomState,
    >,
    next_code: i32,
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `root`, takes the writer lock, and finishes
    /// or rolls back whatever an interrupted process left.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for dir in [
            root.to_path_buf(),
            root.join(EVENTS_DIR),
            root.join(KEYS_DIR),
        ] {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let lock_path = root.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        if lock.try_lock().is_err() {
            let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(StoreError::Locked {
                dir: root.to_path_buf(),
                holder: holder.trim().to_string(),
            });
        }
        lock.set_len(0).map_err(io(&lock_path))?;
        std::fs::write(&lock_path, format!("pid {}", std::process::id()))
            .map_err(io(&lock_path))?;
        let db = Db::open(&root.join(DATABASE))?;
        let mut store = Store {
            root: root.to_path_buf(),
            db,
            codes: HashMap::default(),
            next_code: 1,
            _lock: lock,
        };
        store.recover()?;
        for (code, kind, name) in store.db.event_codes()? {
            store.next_code = store.next_code.max(code + 1);
            store
                .codes
                .entry(kind)
                .or_default()
                .insert(name.into(), code);
        }
        Ok(store)
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Performs committed renames and deletes, then removes uncommitted pending files.
    fn recover(&mut self) -> Result<(), StoreError> {
        self.apply_pending()?;
        let pending = self.root.join(PENDING_DIR);
        if pending.exists() {
            std::fs::remove_dir_all(&pending).map_err(io(&pending))?;
        }
        let merges = self.db.merged_customers()?;
        if !merges.is_empty() && !self.root.join(MERGES_FILE).exists() {
            self.write_merges_file(&merges)?;
        }
        Ok(())
    }

    fn apply_pending(&mut self) -> Result<(), StoreError> {
        let renames: Vec<(String, String)> = {
            let mut statement = self
                .db
                .conn
                .prepare("SELECT src, dst FROM pending_renames")
                .map_err(self.db.error())?;
            let rows = statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(self.db.error())?;
            rows.collect::<Result<_, _>>().map_err(self.db.error())?
        };
        let mut dirs = Vec::new();
        for (src, dst) in &renames {
            let (src, dst) = (self.root.join(src), self.root.join(dst));
            if src.exists() {
                let parent = dst
                    .parent()
                    .expect("store paths have a parent")
                    .to_path_buf();
                std::fs::create_dir_all(&parent).map_err(io(&parent))?;
                std::fs::rename(&src, &dst).map_err(io(&src))?;
                dirs.push(parent);
            } else if !dst.exists() {
                return Err(StoreError::Corrupt(format!(
                    "{} was committed but is missing",
                    dst.display()
                )));
            }
        }
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            sync_dir(&dir)?;
        }
        let deletes: Vec<String> = {
            let mut statement = self
                .db
                .conn
                .prepare("SELECT path FROM pending_deletes")
                .map_err(self.db.error())?;
            let rows = statement
                .query_map([], |r| r.get(0))
                .map_err(self.db.error())?;
            rows.collect::<Result<_, _>>().map_err(self.db.error())?
        };
        for path in &deletes {
            if renames.iter().any(|(_, dst)| dst == path) {
                continue;
            }
            let path = self.root.join(path);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
                _ => {}
            }
        }
        self.db
            .conn
            .execute_batch("DELETE FROM pending_renames; DELETE FROM pending_deletes;")
            .map_err(self.db.error())?;
        Ok(())
    }

    /// Starts an import. Nothing is visible in the store until [`Import::finish`].
    pub fn begin_import(&mut self, options: ImportOptions) -> Result<Import<'_>, StoreError> {
        let pending =
            self.root
                .join(PENDING_DIR)
                .join(format!("import-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(&pending).map_err(io(&pending))?;
        let spill = KeySpill::create(&pending)?;
        let applier = apply::Applier::start(&self.root)?;
        let mut resolver = Resolver::new(self.db.next_customer_id()?);
        let known: bool = self
            .db
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM identifiers)", [], |r| {
                r.get(0)
            })
            .map_err(self.db.error())?;
        if !known {
            resolver = resolver.with_empty_storage();
        }
        Ok(Import {
            pending,
            started_at: now_ms(),
            resolver,
            buffer: EventBuffer::with_capacity(options.run_rows, RUN_BYTES),
            runs: Vec::new(),
            flushed: 0,
            spare: None,
            writer: RunWriter::start(spill)?,
            applier: Some(applier),
            new_codes: Vec::new(),
            pushed: 0,
            finished: false,
            options,
            store: self,
        })
    }

    fn code(
        &mut self,
        kind: MessageType,
        name: &str,
        new_codes: &mut Vec<(i32, MessageType, String)>,
    ) -> i32 {
        let names = self.codes.entry(kind).or_default();
        if let Some(&code) = names.get(name) {
            return code;
        }
        let code = self.next_code;
        self.next_code += 1;
        names.insert(name.into(), code);
        new_codes.push((code, kind, name.to_string()));
        code
    }

    fn key_files(&self) -> Result<Vec<Vec<(i64, PathBuf)>>, StoreError> {
        let mut shards = vec![Vec::new(); SHARDS];
        let mut statement = self
            .db
            .conn
            .prepare("SELECT id, shard, file FROM key_files ORDER BY id")
            .map_err(self.db.error())?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(self.db.error())?;
        for row in rows {
            let (id, shard, file) = row.map_err(self.db.error())?;
            shards[shard as usize].push((id, self.root.join(file)));
        }
        Ok(shards)
    }

    fn write_merges_file(&self, merges: &[(u64, u64)]) -> Result<(), StoreError> {
        let path = self.root.join(MERGES_FILE);
        let temporary = self.root.join(format!(".{MERGES_FILE}.partial"));
        segment::write_merges(&temporary, merges)?;
        std::fs::rename(&temporary, &path).map_err(io(&path))?;
        sync_dir(&self.root)
    }
}

/// What an import is and where it comes from.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Shown in history and stored in each event's `source` column (a file name, `demo`).
    pub source: String,
    /// Input format, for history.
    pub format: String,
    /// Events per segment.
    pub run_rows: usize,
}

impl ImportOptions {
    /// Options with the default segment size.
    pub fn new(source: impl Into<String>, format: impl Into<String>) -> ImportOptions {
        ImportOptions {
            source: source.into(),
            format: format.into(),
            run_rows: DEFAULT_RUN_ROWS,
        }
    }
}

/// The outcome of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Import number in the store's history.
    pub import_id: i64,
    /// Events stored.
    pub accepted: u64,
    /// Events left out because the store or the import already had them.
    pub duplicates: u64,
    /// Records rejected by the reader (counted by the caller).
    pub rejected: u64,
    /// Customers created (and not merged into an existing one).
    pub new_customers: u64,
    /// Customers merged into others.
    pub merges: u64,
    /// Segments written.
    pub segments: u64,
}

/// SQLite page cache otherwise.
const DEFAULT_CACHE_KIB: i64 = -8 * 1024;

/// Resolver logs handed to the applier when they reach this size.
const LOG_FLUSH_BYTES: usize = 4 << 20;

struct Run {
    path: PathBuf,
    info: SegmentInfo,
}

/// A shard's key files folded into one file.
struct KeyFold {
    shard: usize,
    path: PathBuf,
    keys: u64,
    /// The files it replaces: (catalogue id, path).
    replaced: Vec<(i64, PathBuf)>,
}

type WriteJob = (PathBuf, EventBuffer, u16);
type WriteDone = Result<(Run, EventBuffer), StoreError>;

/// Sorts and writes full runs on its own thread, spilling their keys, while the import goes
/// on filling the next buffer; hands each buffer back, emptied, for reuse.
struct RunWriter {
    jobs: Option<std::sync::mpsc::SyncSender<WriteJob>>,
    done: std::sync::mpsc::Receiver<WriteDone>,
    thread: Option<std::thread::JoinHandle<Result<KeySpill, StoreError>>>,
    in_flight: bool,
}

impl RunWriter {
    fn start(mut spill: KeySpill) -> Result<RunWriter, StoreError> {
        let (jobs, job_rx) = std::sync::mpsc::sync_channel::<WriteJob>(0);
        let (done_tx, done) = std::sync::mpsc::sync_channel::<WriteDone>(1);
        let thread = std::thread::Builder::new()
            .name("parcours-write".into())
            .spawn(move || {
                for (path, mut buffer, run) in job_rx {
                    let order = buffer.sorted_order();
                    let mut result = Ok(());
                    for (row, &i) in order.iter().enumerate() {
                        result = spill.push(buffer.key[i as usize], run, row as u32);
                        if result.is_err() {
                            break;
                        }
                    }
                    let result = result
                        .and_then(|()| segment::write_segment(&path, &mut buffer, &order))
                        .map(|info| (Run { path, info }, buffer));
                    if done_tx.send(result).is_err() {
                        break;
                    }
                }
                Ok(spill)
            })
            .map_err(io(Path::new("writer thread")))?;
        Ok(RunWriter {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// Waits for the run being written, if any.
    fn wait(&mut self) -> Result<Option<(Run, EventBuffer)>, StoreError> {
        if !self.in_flight {
            return Ok(None);
        }
        self.in_flight = false;
        match self.done.recv() {
            Ok(result) => result.map(Some),
            Err(_) => Err(StoreError::Corrupt("the segment writer stopped".into())),
        }
    }

    fn submit(&mut self, job: WriteJob) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().expect("submit before stop");
        jobs.send(job)
            .map_err(|_| StoreError::Corrupt("the segment writer stopped".into()))?;
        self.in_flight = true;
        Ok(())
    }

    /// Ends the thread and returns the keys it spilled.
    fn stop(&mut self) -> Option<Result<KeySpill, StoreError>> {
        self.jobs = None;
        let thread = self.thread.take()?;
        Some(
            thread
                .join()
                .unwrap_or_else(|_| Err(StoreError::Corrupt("the segment writer panicked".into()))),
        )
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An import in progress. Dropping it without [`Import::finish`] discards it.
pub struct Import<'s> {
    store: &'s mut Store,
    options: ImportOptions,
    pending: PathBuf,
    started_at: i64,
    resolver: Resolver,
    buffer: EventBuffer,
    runs: Vec<Run>,
    flushed: usize,
    spare: Option<EventBuffer>,
    writer: RunWriter,
    /// Applies the resolver's new links and trait updates to SQLite as the import goes.
    applier: Option<apply::Applier>,
    new_codes: Vec<(i32, MessageType, String)>,
    pushed: u64,
    finished: bool,
}

impl Drop for Import<'_> {
    fn drop(&mut self) {
        // The writer may be writing into the pending folder: stop it first.
        self.writer.stop();
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.pending);
        }
    }
}

impl Import<'_> {
    /// Adds an event: resolves its customer and buffers it.
    pub fn push(&mut self, event: &Event) -> Result<(), StoreError> {
        self.push_view(event.view())
    }

    /// Adds every row of a batch, in order (the batch's customer, code, arrival time and
    /// source are ignored: the import sets them).
    pub fn push_batch(&mut self, batch: &EventBuffer) -> Result<(), StoreError> {
        for row in 0..batch.len() {
            self.push_view(batch.view(row))?;
        }
        Ok(())
    }

    /// Adds a borrowed event.
    pub fn push_view(&mut self, event: EventRef<'_>) -> Result<(), StoreError> {
        let customer = self.resolver.resolve(&mut self.store.db, event)?;
        let code = self.store.code(event.kind, event.name, &mut self.new_codes);
        self.buffer
            .push(customer, code, self.started_at, &self.options.source, event);
        self.pushed += 1;
        if self.buffer.len() >= self.options.run_rows || self.buffer.memory() >= RUN_BYTES {
            self.flush_run()?;
        }
        if self.resolver.log_bytes() >= LOG_FLUSH_BYTES {
            self.flush_logs()?;
        }
        Ok(())
    }

    fn flush_logs(&mut self) -> Result<(), StoreError> {
        let applier = self
            .applier
            .as_ref()
            .expect("the applier lives until finish");
        applier.links(self.resolver.take_links())?;
        applier.traits(self.resolver.take_traits())
    }

    /// Events pushed so far.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    fn flush_run(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let run = u16::try_from(self.flushed)
            .map_err(|_| StoreError::Corrupt("an import is limited to 65,536 segments".into()))?;
        self.flushed += 1;
        // The previous run must be written before this one starts: its buffer is the spare.
        if let Some((written, recycled)) = self.writer.wait()? {
            self.runs.push(written);
            self.spare = Some(recycled);
        }
        let next = self
            .spare
            .take()
            .unwrap_or_else(|| EventBuffer::with_capacity(self.options.run_rows, RUN_BYTES));
        let full = std::mem::replace(&mut self.buffer, next);
        let path = self.pending.join(format!("run-{run:05}.parquet"));
        self.writer.submit((path, full, run))
    }

    /// Waits for the last run and returns the spilled keys.
    fn drain_writer(&mut self) -> Result<KeySpill, StoreError> {
        if let Some((written, _)) = self.writer.wait()? {
            self.runs.push(written);
        }
        self.writer.stop().unwrap_or_else(|| {
            Err(StoreError::Corrupt(
                "the segment writer was stopped twice".into(),
            ))
        })
    }

    /// Dedups, commits and makes the import visible. `rejected` and `quarantine` are the
    /// reader's, recorded in the store's history.
    pub fn finish(
        mut self,
        rejected: u64,
        quarantine: Option<&Path>,
    ) -> Result<ImportSummary, StoreError> {
        self.flush_run()?;
        self.flush_logs()?;
        let spill = self.drain_writer()?;
        // The segment buffers and identifier lookups are done with: give their memory back
        // before the commit.
        self.buffer = EventBuffer::default();
        self.spare = None;
        self.resolver.release_lookups();
        let key_files = self.store.key_files()?;
        let stored: Vec<Vec<PathBuf>> = key_files
            .iter()
            .map(|files| files.iter().map(|(_, p)| p.clone()).collect())
            .collect();
        let dedup = keys::dedup(spill, self.runs.len(), &stored, &self.pending)?;

        // Leave out duplicates: rewrite only the runs that had some.
        let mut runs = Vec::new();
        for (index, run) in std::mem::take(&mut self.runs).into_iter().enumerate() {
            let dropped = &dedup.dropped[index];
            if dropped.is_empty() {
                runs.push(run);
                continue;
            }
            let all = segment::read_segment(&run.path)?;
            std::fs::remove_file(&run.path).map_err(io(&run.path))?;
            let mut kept = EventBuffer::default();
            let mut skip = dropped.iter().peekable();
            for row in 0..all.len() {
                if skip.peek() == Some(&&(row as u32)) {
                    skip.next();
                    continue;
                }
                kept.push_row(&all, row);
            }
            if kept.is_empty() {
                continue;
            }
            let order: Vec<u32> = (0..kept.len() as u32).collect();
            let info = segment::write_segment(&run.path, &mut kept, &order)?;
            runs.push(Run {
                path: run.path,
                info,
            });
        }

        // Fold a shard's key files into one when it has too many.
        let mut folds: Vec<KeyFold> = Vec::new();
        let mut new_files = dedup.new_files;
        for (shard, files) in key_files.iter().enumerate() {
            let fresh = new_files.iter().position(|(s, _, _)| *s == shard);
            if files.len() + usize::from(fresh.is_some()) <= MAX_KEY_FILES {
                continue;
            }
            let mut inputs: Vec<PathBuf> = files.iter().map(|(_, p)| p.clone()).collect();
            if let Some(i) = fresh {
                inputs.push(new_files.remove(i).1);
            }
            let out = self.pending.join(format!("keys-{shard:02}-all.bin"));
            let count = keys::merge_files(&inputs, &out)?;
            folds.push(KeyFold {
                shard,
                path: out,
                keys: count,
                replaced: files.clone(),
            });
        }
        self.commit(
            runs,
            new_files,
            folds,
            dedup.duplicates,
            rejected,
            quarantine,
        )
    }

    fn commit(
        &mut self,
        runs: Vec<Run>,
        new_key_files: Vec<(usize, PathBuf, u64)>,
        folds: Vec<KeyFold>,
        duplicates: u64,
        rejected: u64,
        quarantine: Option<&Path>,
    ) -> Result<ImportSummary, StoreError> {
        let resolver = &self.resolver;
        let accepted: u64 = runs.iter().map(|r| r.info.rows).sum();
        let new_customers = resolver
            .created()
            .filter(|&c| resolver.find(c) == c)
            .count() as u64;
        let created = resolver
            .created()
            .map(|c| {
                let survivor = resolver.find(c);
                let (first, last) = resolver
                    .seen(c)
                    .unwrap_or((self.started_at, self.started_at));
                (c, (survivor != c).then_some(survivor), first, last)
            })
            .collect();
        let touched = resolver
            .touched()
            .filter_map(|(c, span)| span.map(|(first, last)| (c, first, last)))
            .collect();
        let merges = resolver
            .merges
            .iter()
            .map(|&(from, _)| (from, resolver.find(from)))
            .collect();
        let mut key_files = new_key_files;
        let mut retired_key_files = Vec::new();
        for fold in folds {
            retired_key_files.extend(fold.replaced);
            key_files.push((fold.shard, fold.path, fold.keys));
        }
        let segment_count = runs.len() as u64;
        let closing = apply::Closing {
            source: self.options.source.clone(),
            format: self.options.format.clone(),
            started_at: self.started_at,
            finished_at: now_ms(),
            accepted,
            duplicates,
            rejected,
            new_customers,
            quarantine: quarantine.map(|q| q.display().to_string()),
            new_codes: std::mem::take(&mut self.new_codes),
            created,
            touched,
            merges,
            segments: runs.into_iter().map(|r| (r.path, r.info)).collect(),
            key_files,
            retired_key_files,
        };
        let applier = self.applier.take().expect("commit runs once");
        let import_id = applier.close(closing)?;
        self.finished = true;

        self.store.apply_pending()?;
        std::fs::remove_dir_all(&self.pending).map_err(io(&self.pending))?;
        if !self.resolver.merges.is_empty() {
            let merges = self.store.db.merged_customers()?;
            self.store.write_merges_file(&merges)?;
        }
        Ok(ImportSummary {
            import_id,
            accepted,
            duplicates,
            rejected,
            new_customers,
            merges: self.resolver.merges.len() as u64,
            segments: segment_count,
        })
    }
}

/// A segment as catalogued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentEntry {
    /// Catalogue id.
    pub id: i64,
    /// Where the file is now.
    pub path: PathBuf,
    /// Events in it.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// Earliest event.
    pub min_ts: i64,
    /// Latest event.
    pub max_ts: i64,
}

/// Opens the database of `root` for reading, without the writer lock.
pub(crate) fn read_db(root: &Path) -> Result<Db, StoreError> {
    let path = root.join(DATABASE);
    if !path.exists() {
        return Err(StoreError::Io {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no store here yet; import events or run `parcours demo`",
            ),
        });
    }
    let db = Db::open(&path)?;
    // Reads (analyses) walk tables once: pages read in place from the page cache, rather
    // than copied into SQLite's own cache, whose buffers the kernel zeroed at every fill.
    db.conn
        .pragma_update(None, "mmap_size", READ_MAP_BYTES)
        .map_err(db.error())?;
    Ok(db)
}

/// How much of the database a reading connection maps.
const READ_MAP_BYTES: i64 = 1 << 40;

/// The committed segments of the store at `root`, in catalogue order. Safe while another
/// process writes: a segment committed but not yet moved is read from its pending place.
pub fn segments(root: &Path) -> Result<Vec<SegmentEntry>, StoreError> {
    let db = read_db(root)?;
    let tx = db.conn.unchecked_transaction().map_err(db.error())?;
    let pending: HashMap<String, String> = {
        let mut statement = tx
            .prepare("SELECT dst, src FROM pending_renames")
            .map_err(db.error())?;
        let rows = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db.error())?;
        rows.collect::<Result<_, _>>().map_err(db.error())?
    };
    let mut statement = tx
        .prepare("SELECT id, file, rows, bytes, min_ts, max_ts FROM segments ORDER BY id")
        .map_err(db.error())?;
    let rows = statement
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(db.error())?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, file, rows, bytes, min_ts, max_ts) = row.map_err(db.error())?;
        let mut path = root.join(&file);
        if !path.exists()
            && let Some(src) = pending.get(&file)
        {
            path = root.join(src);
        }
        entries.push(SegmentEntry {
            id,
            path,
            rows: rows as u64,
            bytes: bytes as u64,
            min_ts,
            max_ts,
        });
    }
    Ok(entries)
}

/// Every merged customer id and the customer it belongs to now.
pub fn merged_customers(root: &Path) -> Result<HashMap<u64, u64>, StoreError> {
    Ok(read_db(root)?.merged_customers()?.into_iter().collect())
}

/// A customer as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Customer {
    /// Id, as in the segments' `customer_id`.
    pub id: u64,
    /// Every identifier: (kind, value), user ids first.
    pub identifiers: Vec<(String, String)>,
    /// Earliest event.
    pub first_seen: i64,
    /// Latest event.
    pub last_seen: i64,
    /// Latest trait values.
    pub traits: Map<String, Value>,
}

impl Customer {
    /// The first identifier of a kind (`user id`, `email`, `anonymous id`).
    pub fn identifier(&self, kind: parcours_events::IdKind) -> Option<&str> {
        self.identifiers
            .iter()
            .find(|(k, _)| k == kind.as_str())
            .map(|(_, v)| v.as_str())
    }
}

/// The customer an identifier belongs to now, with all its identifiers and traits.
pub fn customer_by_identifier(
    root: &Path,
    kind: parcours_events::IdKind,
    value: &str,
) -> Result<Option<Customer>, StoreError> {
    let db = read_db(root)?;
    let id: Option<i64> = db
        .conn
        .query_row(
            "SELECT customer_id FROM identifiers WHERE kind = ?1 AND value = ?2",
            params![kind.code(), value],
            |r| r.get(0),
        )
        .optional()
        .map_err(db.error())?;
    let Some(id) = id else { return Ok(None) };
    customer_record(&db, id)
}

/// Customer `id` as it is now (a merged id gives the customer it was merged into).
pub fn customer(root: &Path, id: u64) -> Result<Option<Customer>, StoreError> {
    let db = read_db(root)?;
    let merges: HashMap<u64, u64> = db.merged_customers()?.into_iter().collect();
    let id = merges.get(&id).copied().unwrap_or(id);
    customer_record(&db, id as i64)
}

/// Customers with an identifier (user id, email, anonymous id) containing `text`, ignoring
/// case: at most `limit`, customers as they are now, exact matches first.
pub fn search_customers(root: &Path, text: &str, limit: usize) -> Result<Vec<u64>, StoreError> {
    let db = read_db(root)?;
    let merges: HashMap<u64, u64> = db.merged_customers()?.into_iter().collect();
    let pattern = format!(
        "%{}%",
        text.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let mut statement = db
        .conn
        .prepare(
            "SELECT customer_id FROM identifiers WHERE value LIKE ?1 ESCAPE '\\' \
             ORDER BY lower(value) <> lower(?2), customer_id LIMIT ?3",
        )
        .map_err(db.error())?;
    // Merged ids may repeat their customer: read more rows than `limit`.
    let rows = statement
        .query_map(params![pattern, text, (limit * 4) as i64], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(db.error())?;
    let mut found = Vec::new();
    for row in rows {
        let id = row.map_err(db.error())? as u64;
        let id = merges.get(&id).copied().unwrap_or(id);
        if !found.contains(&id) && found.len() < limit {
            found.push(id);
        }
    }
    Ok(found)
}

/// Random bytes from the system, as lowercase hex: `bytes` of them.
pub fn random_hex(bytes: usize) -> Result<String, StoreError> {
    use std::io::Read;
    let mut random = vec![0u8; bytes];
    let urandom = Path::new("/dev/urandom");
    File::open(urandom)
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(io(urandom))?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

fn customer_record(db: &Db, id: i64) -> Result<Option<Customer>, StoreError> {
    let seen: Option<(i64, i64)> = db
        .conn
        .query_row(
            "SELECT first_seen, last_seen FROM customers WHERE id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db.error())?;
    let Some((first_seen, last_seen)) = seen else {
        return Ok(None);
    };
    let mut statement = db
        .conn
        .prepare("SELECT kind, value FROM identifiers WHERE customer_id = ?1 ORDER BY kind, value")
        .map_err(db.error())?;
    let identifiers = statement
        .query_map(params![id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db.error())?
        .map(|r| {
            r.map(|(k, v)| {
                (
                    parcours_events::IdKind::from_code(k)
                        .map_or("?", |k| k.as_str())
                        .to_string(),
                    v,
                )
            })
        })
        .collect::<Result<_, _>>()
        .map_err(db.error())?;
    let mut statement = db
        .conn
        .prepare("SELECT name, value FROM traits WHERE customer_id = ?1 ORDER BY name")
        .map_err(db.error())?;
    let traits = statement
        .query_map(params![id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(db.error())?
        .map(|r| r.map(|(name, value)| (name, serde_json::from_str(&value).unwrap_or(Value::Null))))
        .collect::<Result<_, _>>()
        .map_err(db.error())?;
    Ok(Some(Customer {
        id: id as u64,
        identifiers,
        first_seen,
        last_seen,
        traits,
    }))
}

/// Figures about a store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Events stored.
    pub events: u64,
    /// Customers (merged ones not counted).
    pub customers: u64,
    /// Customers with a user id.
    pub identified_customers: u64,
    /// Customer ids merged into another customer.
    pub merged_ids: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the segment files.
    pub event_bytes: u64,
    /// Bytes of the whole data directory.
    pub total_bytes: u64,
    /// Earliest event, ms since 1970 UTC.
    pub first_event: Option<i64>,
    /// Latest event.
    pub last_event: Option<i64>,
    /// Imports committed.
    pub imports: u64,
    /// Distinct (type, event name) pairs.
    pub event_names: u64,
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The time of the first and of the last stored event (milliseconds), if any: what an
/// analysis needs of [`stats`], without its counts over every customer.
pub fn event_span(root: &Path) -> Result<(Option<i64>, Option<i64>), StoreError> {
    let db = read_db(root)?;
    db.conn
        .query_row("SELECT min(min_ts), max(max_ts) FROM segments", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(db.error())
}

/// Figures about the store at `root`.
pub fn stats(root: &Path) -> Result<Stats, StoreError> {
    let db = read_db(root)?;
    let count = |sql: &str| -> Result<i64, StoreError> {
        db.conn.query_row(sql, [], |r| r.get(0)).map_err(db.error())
    };
    let (events, segments, event_bytes, first, last): (i64, i64, i64, Option<i64>, Option<i64>) = db
        .conn
        .query_row("SELECT coalesce(sum(rows), 0), count(*), coalesce(sum(bytes), 0), min(min_ts), max(max_ts) FROM segments", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(db.error())?;
    Ok(Stats {
        events: events as u64,
        customers: count("SELECT count(*) FROM customers WHERE merged_into IS NULL")? as u64,
        identified_customers: count(
            "SELECT count(DISTINCT customer_id) FROM identifiers WHERE kind = 1",
        )? as u64,
        merged_ids: count("SELECT count(*) FROM customers WHERE merged_into IS NOT NULL")? as u64,
        segments: segments as u64,
        event_bytes: event_bytes as u64,
        total_bytes: dir_size(root),
        first_event: first,
        last_event: last,
        imports: count("SELECT count(*) FROM imports")? as u64,
        event_names: count("SELECT count(*) FROM event_names")? as u64,
    })
}
