//! The catalogue of committed files, written inside the transaction that commits them.
//!
//! A new file is catalogued under its final name (`events/seg-<id>.parquet`,
//! `keys/shard-NN/k-<id>.bin`, ids never reused) and its move from the pending folder is
//! recorded; a retired file is recorded for deletion. Both happen once the transaction has
//! committed (`Store::apply_pending`), or at the next open after a crash.

use std::path::Path;

use rusqlite::{Connection, params};

use crate::segment::SegmentInfo;
use crate::{EVENTS_DIR, KEYS_DIR};

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

fn schedule_move(tx: &Connection, root: &Path, from: &Path, to: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO pending_renames (src, dst) VALUES (?1, ?2)",
        params![relative(root, from), to],
    )?;
    Ok(())
}

/// Catalogues a segment written at `path`; `import_id` 0 marks compaction output.
pub(crate) fn add_segment(
    tx: &Connection,
    root: &Path,
    path: &Path,
    info: &SegmentInfo,
    import_id: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO segments (file, rows, bytes, min_ts, max_ts, import_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![relative(root, path), info.rows as i64, info.bytes as i64, info.min_ts, info.max_ts, import_id],
    )?;
    let id = tx.last_insert_rowid();
    let file = format!("{EVENTS_DIR}/seg-{id:06}.parquet");
    tx.execute(
        "UPDATE segments SET file = ?2 WHERE id = ?1",
        params![id, file],
    )?;
    schedule_move(tx, root, path, &file)
}

/// Removes a segment from the catalogue and schedules its file's deletion.
pub(crate) fn retire_segment(
    tx: &Connection,
    root: &Path,
    id: i64,
    path: &Path,
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM segments WHERE id = ?1", params![id])?;
    tx.execute(
        "INSERT OR IGNORE INTO pending_deletes (path) VALUES (?1)",
        params![relative(root, path)],
    )?;
    Ok(())
}

/// Catalogues a key file of `shard` written at `path`.
pub(crate) fn add_key_file(
    tx: &Connection,
    root: &Path,
    shard: usize,
    path: &Path,
    keys: u64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO key_files (shard, file, keys) VALUES (?1, ?2, ?3)",
        params![shard as i64, relative(root, path), keys as i64],
    )?;
    let id = tx.last_insert_rowid();
    let file = format!("{KEYS_DIR}/shard-{shard:02}/k-{id:06}.bin");
    tx.execute(
        "UPDATE key_files SET file = ?2 WHERE id = ?1",
        params![id, file],
    )?;
    schedule_move(tx, root, path, &file)
}

/// Removes a key file from the catalogue and schedules its deletion.
pub(crate) fn retire_key_file(
    tx: &Connection,
    root: &Path,
    id: i64,
    path: &Path,
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM key_files WHERE id = ?1", params![id])?;
    tx.execute(
        "INSERT OR IGNORE INTO pending_deletes (path) VALUES (?1)",
        params![relative(root, path)],
    )?;
    Ok(())
}
