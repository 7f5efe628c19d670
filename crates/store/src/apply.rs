//! Writing an import's identities to SQLite while the import runs.
//!
//! An import's SQLite work (millions of identifiers and trait values for a large file) used
//! to wait for the end, with one core idle. The applier is a thread with its own connection
//! that opens the import's write transaction when the import begins, applies new links and
//! trait updates as the resolver produces them, and at the end records customers, merges and
//! files and commits. The import's lookups keep using the store's other connection, which
//! reads the snapshot from before the import: anything the import itself linked is in the
//! resolver's memory. Nothing is visible to anyone until the one commit; if the import is
//! abandoned or the process dies, the open transaction is rolled back.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use parcours_events::MessageType;
use rusqlite::params;
use serde_json::Value;

use crate::db::Db;
use crate::identity;
use crate::segment::SegmentInfo;
use crate::{DATABASE, StoreError, catalog, io};

/// SQLite page cache while applying an import, in KiB as `PRAGMA cache_size` takes it:
/// a quarter of the import's memory bound.
const APPLY_CACHE_KIB: i64 = -256 * 1024;

/// Everything the end of an import records, besides what was applied on the way.
pub(crate) struct Closing {
    pub source: String,
    pub format: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub new_customers: u64,
    pub quarantine: Option<String>,
    pub new_codes: Vec<(i32, MessageType, String)>,
    /// Customers created: id, the customer it was merged into, first and last event.
    pub created: Vec<(u64, Option<u64>, i64, i64)>,
    /// Stored customers seen again: id, first and last event.
    pub touched: Vec<(u64, i64, i64)>,
    /// Merges: merged customer, final survivor.
    pub merges: Vec<(u64, u64)>,
    pub segments: Vec<(PathBuf, SegmentInfo)>,
    pub key_files: Vec<(usize, PathBuf, u64)>,
    /// Key files replaced: (catalogue id, path).
    pub retired_key_files: Vec<(i64, PathBuf)>,
}

enum Work {
    Links(Vec<u8>),
    Traits(Vec<u8>),
    Close(Box<Closing>),
}

/// The thread applying one import.
pub(crate) struct Applier {
    work: Option<SyncSender<Work>>,
    done: Receiver<Result<i64, StoreError>>,
    thread: Option<JoinHandle<()>>,
}

impl Applier {
    /// Opens a connection to the store's database and begins the import's transaction.
    pub fn start(root: &Path) -> Result<Applier, StoreError> {
        let db = Db::open(&root.join(DATABASE))?;
        db.conn
            .pragma_update(None, "cache_size", APPLY_CACHE_KIB)
            .map_err(db.error())?;
        db.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(db.error())?;
        let (work, work_rx) = sync_channel::<Work>(2);
        let (done_tx, done) = sync_channel(1);
        let root = root.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("parcours-apply".into())
            .spawn(move || {
                let mut result = Ok(0);
                for work in work_rx {
                    result = match work {
                        Work::Links(block) => apply_links(&db, &block).map(|()| 0),
                        Work::Traits(block) => apply_traits(&db, &block).map(|()| 0),
                        Work::Close(closing) => close(&db, &root, *closing),
                    };
                    if result.is_err() {
                        break;
                    }
                }
                // Without a COMMIT the transaction is rolled back when the connection closes.
                let _ = done_tx.send(result);
            })
            .map_err(io(Path::new("applier thread")))?;
        Ok(Applier {
            work: Some(work),
            done,
            thread: Some(thread),
        })
    }

    fn send(&self, work: Work) -> Result<(), StoreError> {
        let sender = self.work.as_ref().expect("no work after close");
        if sender.send(work).is_ok() {
            return Ok(());
        }
        // The thread stopped on an error: report it.
        match self.done.recv() {
            Ok(Err(e)) => Err(e),
            _ => Err(StoreError::Corrupt("the identity writer stopped".into())),
        }
    }

    /// New identifier links, as logged by the resolver.
    pub fn links(&self, block: Vec<u8>) -> Result<(), StoreError> {
        if block.is_empty() {
            Ok(())
        } else {
            self.send(Work::Links(block))
        }
    }

    /// Trait updates, as logged by the resolver.
    pub fn traits(&self, block: Vec<u8>) -> Result<(), StoreError> {
        if block.is_empty() {
            Ok(())
        } else {
            self.send(Work::Traits(block))
        }
    }

    /// Records the rest of the import and commits; returns the import's id.
    pub fn close(mut self, closing: Closing) -> Result<i64, StoreError> {
        self.send(Work::Close(Box::new(closing)))?;
        self.work = None;
        let result = self
            .done
            .recv()
            .unwrap_or_else(|_| Err(StoreError::Corrupt("the identity writer stopped".into())));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        result
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.work = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn apply_links(db: &Db, block: &[u8]) -> Result<(), StoreError> {
    let mut links: Vec<(i64, String, i64)> = identity::read_links(block)
        .map(|l| (l.kind.code(), l.value, l.customer as i64))
        .collect();
    // Sorted, the identifier B-tree is touched in order rather than everywhere.
    links.sort_unstable();
    let mut insert = db
        .conn
        .prepare_cached(
            "INSERT OR REPLACE INTO identifiers (kind, value, customer_id) VALUES (?1, ?2, ?3)",
        )
        .map_err(db.error())?;
    for (kind, value, customer) in &links {
        insert
            .execute(params![kind, value, customer])
            .map_err(db.error())?;
    }
    Ok(())
}

fn apply_traits(db: &Db, block: &[u8]) -> Result<(), StoreError> {
    // Rule 7: the latest event time wins; on ties the later arrival, since blocks and the
    // updates in them come in arrival order.
    let mut set = db
        .conn
        .prepare_cached(
            "INSERT INTO traits (customer_id, name, value, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (customer_id, name) DO UPDATE SET value = excluded.value, at = excluded.at WHERE excluded.at >= traits.at",
        )
        .map_err(db.error())?;
    for update in identity::read_traits(block) {
        let Ok(Value::Object(traits)) = serde_json::from_str::<Value>(&update.traits) else {
            continue;
        };
        for (name, value) in traits {
            set.execute(params![
                update.customer as i64,
                name,
                value.to_string(),
                update.at
            ])
            .map_err(db.error())?;
        }
    }
    Ok(())
}

fn close(db: &Db, root: &Path, closing: Closing) -> Result<i64, StoreError> {
    let error = db.error();
    let conn = &db.conn;
    conn.execute(
        "INSERT INTO imports (source, format, started_at, finished_at, accepted, duplicates, rejected, new_customers, quarantine)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            closing.source,
            closing.format,
            closing.started_at,
            closing.finished_at,
            closing.accepted as i64,
            closing.duplicates as i64,
            closing.rejected as i64,
            closing.new_customers as i64,
            closing.quarantine,
        ],
    )
    .map_err(&error)?;
    let import_id = conn.last_insert_rowid();
    for (code, kind, name) in &closing.new_codes {
        conn.execute(
            "INSERT INTO event_names (code, type, name) VALUES (?1, ?2, ?3)",
            params![code, kind.as_str(), name],
        )
        .map_err(&error)?;
    }

    // Customers created by this import, merged or not: their ids are in the segments.
    {
        let mut insert = conn
            .prepare_cached("INSERT INTO customers (id, merged_into, first_seen, last_seen, import_id) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(&error)?;
        for &(id, merged_into, first, last) in &closing.created {
            insert
                .execute(params![
                    id as i64,
                    merged_into.map(|m| m as i64),
                    first,
                    last,
                    import_id
                ])
                .map_err(&error)?;
        }
        let mut seen = conn
            .prepare_cached("UPDATE customers SET first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?3) WHERE id = ?1")
            .map_err(&error)?;
        for &(id, first, last) in &closing.touched {
            seen.execute(params![id as i64, first, last])
                .map_err(&error)?;
        }
    }

    // Merges: every id, trait and date of the merged customer goes to the survivor. Links
    // and traits applied during the import name customers as they were then: merged ones
    // are moved here too.
    for &(from, into) in &closing.merges {
        let (from, into) = (from as i64, into as i64);
        conn.execute(
            "INSERT INTO merges (merged_id, into_id, import_id) VALUES (?1, ?2, ?3)
             ON CONFLICT(merged_id) DO UPDATE SET into_id = excluded.into_id",
            params![from, into, import_id],
        )
        .map_err(&error)?;
        conn.execute(
            "UPDATE merges SET into_id = ?1 WHERE into_id = ?2",
            params![into, from],
        )
        .map_err(&error)?;
        conn.execute(
            "UPDATE customers SET merged_into = ?1 WHERE id = ?2 OR merged_into = ?2",
            params![into, from],
        )
        .map_err(&error)?;
        conn.execute(
            "UPDATE identifiers SET customer_id = ?1 WHERE customer_id = ?2",
            params![into, from],
        )
        .map_err(&error)?;
        conn.execute(
            "UPDATE customers SET
               first_seen = min(first_seen, (SELECT first_seen FROM customers WHERE id = ?2)),
               last_seen = max(last_seen, (SELECT last_seen FROM customers WHERE id = ?2))
             WHERE id = ?1",
            params![into, from],
        )
        .map_err(&error)?;
        conn.execute(
            "INSERT INTO traits (customer_id, name, value, at)
             SELECT ?1, name, value, at FROM traits WHERE customer_id = ?2
             ON CONFLICT (customer_id, name) DO UPDATE SET value = excluded.value, at = excluded.at WHERE excluded.at >= traits.at",
            params![into, from],
        )
        .map_err(&error)?;
        conn.execute("DELETE FROM traits WHERE customer_id = ?1", params![from])
            .map_err(&error)?;
    }

    // The files: catalogued now, moved in place after the commit.
    for (path, info) in &closing.segments {
        catalog::add_segment(conn, root, path, info, import_id).map_err(&error)?;
    }
    for (id, path) in &closing.retired_key_files {
        catalog::retire_key_file(conn, root, *id, path).map_err(&error)?;
    }
    for (shard, path, keys) in &closing.key_files {
        catalog::add_key_file(conn, root, *shard, path, *keys).map_err(&error)?;
    }
    conn.execute_batch("COMMIT").map_err(&error)?;
    conn.pragma_update(None, "cache_size", crate::DEFAULT_CACHE_KIB)
        .map_err(&error)?;
    Ok(import_id)
}
