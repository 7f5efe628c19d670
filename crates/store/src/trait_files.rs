//! Trait files: the rows of SQLite's `traits` table for one trait name, in customer order,
//! packed for analyses.
//!
//! An analysis reads a few traits (a platform, a plan) of every customer. Read from SQLite's
//! `traits_by_name` index, each row costs a B-tree step and repeats the name and the JSON
//! value, and the index pages lie scattered through the database file: after another
//! program has pushed the file out of the page cache, they are read back one page at a
//! time. A trait file holds the same rows in a few bytes each, read in one sequential pass.
//!
//! The files are derived data under `cache/traits/`, safe to delete. Each records the last
//! import committed when it was built (every change to `traits` is part of an import); a
//! file built before the last import is stale, and analyses read SQLite until it is built
//! again ([`ensure`]). A file is written under a temporary name, synced, then renamed, so a
//! reader sees a whole file or none.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic "PCTRAIT1" | import id i64 | import finished_at i64 | rows u64 | shared u32
//! | blocks u32 | index bytes u64 | data bytes u64 | xxh3 of the index u64
//! index: shared values, (length u32, UTF-8 bytes) * shared,
//!        then blocks, (first customer u64, data offset u64, xxh3 of the block u64) * blocks
//! data: per row, varint customer (delta within the block), varint value (0: inline,
//!       then varint length and bytes; k: shared value k - 1), varint zigzag time (delta
//!       within the block)
//! ```
//!
//! Blocks of [`BLOCK_ROWS`] rows start their deltas from zero, so a part of an analysis
//! reads only the blocks of its customer range. Every byte is under a checksum: a damaged
//! file is refused, never misread.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rusqlite::OptionalExtension;

use crate::db::Db;
use crate::{StoreError, io};

/// Where trait files live, under the data directory.
pub(crate) const DIR: &str = "cache/traits";

const MAGIC: &[u8; 8] = b"PCTRAIT1";
const HEADER_BYTES: usize = 8 + 8 + 8 + 8 + 4 + 4 + 8 + 8 + 8;

/// Rows per block.
const BLOCK_ROWS: usize = 1024;

/// Distinct values stored once and referred to by number; later ones are stored in their
/// rows (an e-mail address is met once per customer).
const MAX_SHARED: usize = 1 << 16;

/// The state of the `traits` table a file was built from: the last import committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Generation {
    import: i64,
    finished_at: i64,
}

impl Generation {
    /// The generation of the database `db` reads now.
    pub fn of(db: &Db) -> Result<Generation, StoreError> {
        let last = db
            .conn
            .query_row(
                "SELECT id, finished_at FROM imports ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()
            .map_err(db.error())?;
        let (import, finished_at) = last.unwrap_or((0, 0));
        Ok(Generation {
            import,
            finished_at,
        })
    }
}

/// Why a trait file cannot be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a trait file, or cut short ({what})")]
    Malformed { path: PathBuf, what: &'static str },
}

/// One stored value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowValue<'a> {
    /// The file's shared value `k`, the same text wherever it appears.
    Shared(u32, &'a str),
    /// A value stored in its row.
    Own(&'a str),
}

impl<'a> RowValue<'a> {
    /// The JSON text.
    pub fn text(self) -> &'a str {
        match self {
            RowValue::Shared(_, text) | RowValue::Own(text) => text,
        }
    }
}

/// An open trait file: its header, shared values and block index.
#[derive(Debug)]
pub(crate) struct TraitFile {
    path: PathBuf,
    file: File,
    generation: Generation,
    shared: Vec<String>,
    /// (first customer, offset in the data, checksum) per block.
    blocks: Vec<(u64, u64, u64)>,
    data_start: u64,
    data_len: u64,
}

/// The file of trait `name` under `root`.
pub(crate) fn path_of(root: &Path, name: &str) -> PathBuf {
    // Trait names are any text: hex makes a file name of any of them.
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    root.join(DIR).join(format!("{hex}.bin"))
}

impl TraitFile {
    /// Opens the file of trait `name`; `None` when there is none.
    pub fn open(root: &Path, name: &str) -> Result<Option<TraitFile>, FileError> {
        let path = path_of(root, name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(FileError::Io { path, source }),
        };
        let failed = |source| FileError::Io {
            path: path.clone(),
            source,
        };
        let malformed = |what| FileError::Malformed {
            path: path.clone(),
            what,
        };
        let size = file.metadata().map_err(failed)?.len();
        let mut header = [0u8; HEADER_BYTES];
        if size < HEADER_BYTES as u64 {
            return Err(malformed("header"));
        }
        file.read_exact_at(&mut header, 0).map_err(failed)?;
        if &header[..8] != MAGIC {
            return Err(malformed("magic"));
        }
        // The header is read whole above: these reads cannot run short.
        let mut fields = Bytes(&header[8..]);
        let mut take = |n| fields.fixed(n).unwrap_or_default();
        let generation = Generation {
            import: take(8) as i64,
            finished_at: take(8) as i64,
        };
        let _rows = take(8);
        let shared_count = take(4) as usize;
        let block_count = take(4) as usize;
        let index_len = take(8);
        let data_len = take(8);
        let checksum = take(8);
        let whole = (HEADER_BYTES as u64)
            .checked_add(index_len)
            .and_then(|n| n.checked_add(data_len));
        if whole != Some(size) {
            return Err(malformed("length"));
        }
        let mut index = vec![0u8; index_len as usize];
        file.read_exact_at(&mut index, HEADER_BYTES as u64)
            .map_err(failed)?;
        if xxhash_rust::xxh3::xxh3_64(&index) != checksum {
            return Err(malformed("checksum"));
        }
        let mut reader = Bytes(&index);
        let mut shared = Vec::with_capacity(shared_count.min(MAX_SHARED));
        for _ in 0..shared_count {
            let len = reader.fixed(4).ok_or_else(|| malformed("shared value"))? as usize;
            let bytes = reader.take(len).ok_or_else(|| malformed("shared value"))?;
            let text = std::str::from_utf8(bytes).map_err(|_| malformed("shared value"))?;
            shared.push(text.to_owned());
        }
        let mut blocks = Vec::with_capacity(block_count);
        for _ in 0..block_count {
            let first = reader.fixed(8).ok_or_else(|| malformed("block"))?;
            let offset = reader.fixed(8).ok_or_else(|| malformed("block"))?;
            let sum = reader.fixed(8).ok_or_else(|| malformed("block"))?;
            if offset > data_len || blocks.last().is_some_and(|&(_, o, _)| offset < o) {
                return Err(malformed("block"));
            }
            blocks.push((first, offset, sum));
        }
        if !reader.0.is_empty() {
            return Err(malformed("index length"));
        }
        Ok(Some(TraitFile {
            file,
            generation,
            shared,
            blocks,
            data_start: HEADER_BYTES as u64 + index_len,
            data_len,
            path,
        }))
    }

    /// Whether the file holds the table as `generation` has it.
    pub fn is_current(&self, generation: Generation) -> bool {
        self.generation == generation
    }

    /// Hands out the rows of customers `low..=high`, in customer order: (customer, value,
    /// time set).
    pub fn rows_in(
        &self,
        low: u64,
        high: u64,
        mut each: impl FnMut(u64, RowValue<'_>, i64),
    ) -> Result<(), FileError> {
        if low > high || self.blocks.is_empty() {
            return Ok(());
        }
        let first = self
            .blocks
            .partition_point(|&(c, _, _)| c <= low)
            .saturating_sub(1);
        let last = self.blocks.partition_point(|&(c, _, _)| c <= high);
        if last == 0 {
            // The range ends before the file's first customer.
            return Ok(());
        }
        let start = self.blocks[first].1;
        let end = self.blocks.get(last).map_or(self.data_len, |&(_, o, _)| o);
        let mut data = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut data, self.data_start + start)
            .map_err(|source| FileError::Io {
                path: self.path.clone(),
                source,
            })?;
        let malformed = |what| FileError::Malformed {
            path: self.path.clone(),
            what,
        };
        // Where each block read ends, relative to `start`.
        let ends: Vec<u64> = self.blocks[first + 1..last.max(first + 1)]
            .iter()
            .map(|&(_, o, _)| o - start)
            .chain(std::iter::once(end - start))
            .collect();
        let mut from = 0;
        for (block, &to) in self.blocks[first..].iter().zip(&ends) {
            if xxhash_rust::xxh3::xxh3_64(&data[from as usize..to as usize]) != block.2 {
                return Err(malformed("checksum"));
            }
            from = to;
        }
        let malformed = || malformed("row");
        let mut ends = ends.into_iter();
        let mut reader = Bytes(&data);
        let mut block_end = ends.next().unwrap_or(end - start);
        let (mut customer, mut at) = (0u64, 0i64);
        while !reader.0.is_empty() {
            let read = (data.len() - reader.0.len()) as u64;
            if read >= block_end {
                (customer, at) = (0, 0);
                block_end = ends.next().unwrap_or(end - start);
            }
            customer = customer
                .checked_add(reader.varint().ok_or_else(malformed)?)
                .ok_or_else(malformed)?;
            let value = match reader.varint().ok_or_else(malformed)? {
                0 => {
                    let len = reader.varint().ok_or_else(malformed)? as usize;
                    let bytes = reader.take(len).ok_or_else(malformed)?;
                    RowValue::Own(std::str::from_utf8(bytes).map_err(|_| malformed())?)
                }
                k => {
                    let k = u32::try_from(k - 1).map_err(|_| malformed())?;
                    let text = self.shared.get(k as usize).ok_or_else(malformed)?;
                    RowValue::Shared(k, text)
                }
            };
            at = at.wrapping_add(unzigzag(reader.varint().ok_or_else(malformed)?));
            if customer > high {
                break;
            }
            if customer >= low {
                each(customer, value, at);
            }
        }
        Ok(())
    }
}

/// Brings the file of trait `name` up to date with `db` (at `generation`), building it from
/// SQLite when missing or stale. A file that cannot be written (a read-only data directory)
/// is left out: analyses then read SQLite.
pub(crate) fn ensure(
    root: &Path,
    db: &Db,
    generation: Generation,
    name: &str,
) -> Result<(), StoreError> {
    if let Ok(Some(file)) = TraitFile::open(root, name)
        && file.is_current(generation)
    {
        return Ok(());
    }
    let bytes = encode_table(db, generation, name)?;
    // Not written: nothing lost, the analysis reads SQLite.
    let _ = write_atomically(&path_of(root, name), &bytes);
    Ok(())
}

/// The file of `name` as `db` holds its rows now.
fn encode_table(db: &Db, generation: Generation, name: &str) -> Result<Vec<u8>, StoreError> {
    let mut statement = db
        .conn
        .prepare("SELECT customer_id, value, at FROM traits WHERE name = ?1 ORDER BY customer_id")
        .map_err(db.error())?;
    let mut rows = statement
        .query(rusqlite::params![name])
        .map_err(db.error())?;
    let mut encoder = Encoder::new(generation);
    while let Some(row) = rows.next().map_err(db.error())? {
        let customer = row.get::<_, i64>(0).map_err(db.error())? as u64;
        let at = row.get::<_, i64>(2).map_err(db.error())?;
        // As the SQLite reader reads it: a value that is not text reads as null.
        let value = row.get_ref(1).map_err(db.error())?;
        encoder.push(customer, value.as_str().unwrap_or("null"), at);
    }
    Ok(encoder.finish())
}

/// Builds a trait file from rows in customer order.
struct Encoder {
    generation: Generation,
    rows: u64,
    shared: Vec<u8>,
    shared_count: u32,
    ids: HashMap<String, u32, foldhash::fast::RandomState>,
    /// (first customer, offset in the data) per block.
    blocks: Vec<(u64, u64)>,
    data: Vec<u8>,
    previous: (u64, i64),
}

impl Encoder {
    fn new(generation: Generation) -> Encoder {
        Encoder {
            generation,
            rows: 0,
            shared: Vec::new(),
            shared_count: 0,
            ids: HashMap::default(),
            blocks: Vec::new(),
            data: Vec::new(),
            previous: (0, 0),
        }
    }

    /// Adds a row; customers come in increasing order.
    fn push(&mut self, customer: u64, value: &str, at: i64) {
        if self.rows.is_multiple_of(BLOCK_ROWS as u64) {
            self.blocks.push((customer, self.data.len() as u64));
            self.previous = (0, 0);
        }
        let (last_customer, last_at) = self.previous;
        put_varint(&mut self.data, customer.wrapping_sub(last_customer));
        let id = match self.ids.get(value) {
            Some(&id) => Some(id),
            None if self.ids.len() < MAX_SHARED => {
                let id = self.shared_count;
                self.shared_count += 1;
                self.shared
                    .extend_from_slice(&(value.len() as u32).to_le_bytes());
                self.shared.extend_from_slice(value.as_bytes());
                self.ids.insert(value.to_owned(), id);
                Some(id)
            }
            None => None,
        };
        match id {
            Some(id) => put_varint(&mut self.data, u64::from(id) + 1),
            None => {
                put_varint(&mut self.data, 0);
                put_varint(&mut self.data, value.len() as u64);
                self.data.extend_from_slice(value.as_bytes());
            }
        }
        put_varint(&mut self.data, zigzag(at.wrapping_sub(last_at)));
        self.previous = (customer, at);
        self.rows += 1;
    }

    fn finish(self) -> Vec<u8> {
        let mut index = self.shared;
        let ends = self
            .blocks
            .iter()
            .skip(1)
            .map(|&(_, o)| o)
            .chain(std::iter::once(self.data.len() as u64));
        for (&(first, offset), end) in self.blocks.iter().zip(ends) {
            let block = &self.data[offset as usize..end as usize];
            index.extend_from_slice(&first.to_le_bytes());
            index.extend_from_slice(&offset.to_le_bytes());
            index.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(block).to_le_bytes());
        }
        let mut out = Vec::with_capacity(HEADER_BYTES + index.len() + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.generation.import.to_le_bytes());
        out.extend_from_slice(&self.generation.finished_at.to_le_bytes());
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&self.shared_count.to_le_bytes());
        out.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        out.extend_from_slice(&(index.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.data.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&index).to_le_bytes());
        out.extend_from_slice(&index);
        out.extend_from_slice(&self.data);
        out
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file, synced, renamed.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().expect("trait files live in a folder");
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    // Analyses run side by side: each writes its own temporary file.
    let temporary = dir.join(format!(
        ".{}.{}.{:?}.partial",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id(),
        std::thread::current().id()
    ));
    let written = File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(source) = written {
        std::fs::remove_file(&temporary).ok();
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    crate::sync_dir(dir)
}

/// A cursor over bytes.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// A little-endian integer of `n` (at most 8) bytes.
    fn fixed(&mut self, n: usize) -> Option<u64> {
        let bytes = self.take(n)?;
        let mut word = [0u8; 8];
        word[..n].copy_from_slice(bytes);
        Some(u64::from_le_bytes(word))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first()?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encoded(rows: &[(u64, String, i64)]) -> Vec<u8> {
        let mut encoder = Encoder::new(Generation {
            import: 7,
            finished_at: 70,
        });
        for (customer, value, at) in rows {
            encoder.push(*customer, value, *at);
        }
        encoder.finish()
    }

    fn file_with(bytes: &[u8]) -> (PathBuf, Option<TraitFile>) {
        let dir = std::env::temp_dir().join(format!(
            "parcours-trait-file-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let path = path_of(&dir, "plan");
        write_atomically(&path, bytes).unwrap();
        let file = TraitFile::open(&dir, "plan").unwrap();
        (dir, file)
    }

    fn read(file: &TraitFile, low: u64, high: u64) -> Vec<(u64, String, i64)> {
        let mut out = Vec::new();
        file.rows_in(low, high, |c, v, at| out.push((c, v.text().to_owned(), at)))
            .unwrap();
        out
    }

    /// Rows as SQLite holds them: one per customer, in customer order.
    fn table() -> impl Strategy<Value = Vec<(u64, String, i64)>> {
        let value = prop_oneof![
            Just("\"ios\"".to_string()),
            Just("\"android\"".to_string()),
            Just("null".to_string()),
            "\"[a-zé€😀]{0,12}\"",
        ];
        proptest::collection::btree_map(any::<u64>(), (value, any::<i64>()), 0..3000).prop_map(
            |rows| {
                rows.into_iter()
                    .map(|(customer, (value, at))| (customer, value, at))
                    .collect()
            },
        )
    }

    proptest! {
        /// Any customer range reads back exactly the rows of the table in that range, in
        /// order, whatever the values, times and customer ids.
        #[test]
        fn a_range_reads_back_the_rows_of_the_range(rows in table(), a in any::<u64>(), b in any::<u64>()) {
            let (dir, file) = file_with(&encoded(&rows));
            let file = file.unwrap();
            let (low, high) = (a.min(b), a.max(b));
            let expected: Vec<_> = rows.iter().filter(|r| r.0 >= low && r.0 <= high).cloned().collect();
            prop_assert_eq!(read(&file, low, high), expected);
            prop_assert_eq!(read(&file, 0, u64::MAX), rows.clone());
            // Ranges around block boundaries.
            for block in file.blocks.iter().skip(1).take(3) {
                let at = block.0;
                let expected: Vec<_> = rows.iter().filter(|r| r.0 >= at - 1 && r.0 <= at).cloned().collect();
                prop_assert_eq!(read(&file, at - 1, at), expected);
            }
            std::fs::remove_dir_all(dir).ok();
        }
    }

    #[test]
    fn a_range_before_the_first_customer_reads_nothing() {
        let rows = vec![
            (1_000, "\"ios\"".to_string(), 5),
            (2_000, "null".to_string(), 6),
        ];
        let (dir, file) = file_with(&encoded(&rows));
        let file = file.unwrap();
        assert_eq!(read(&file, 0, 0), vec![]);
        assert_eq!(read(&file, 0, 999), vec![]);
        assert_eq!(read(&file, 0, 1_000), rows[..1].to_vec());
        assert_eq!(read(&file, 2_001, u64::MAX), vec![]);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn values_past_the_shared_ones_are_stored_in_their_rows() {
        let rows: Vec<(u64, String, i64)> = (0..MAX_SHARED as u64 + 10)
            .map(|c| (c * 3, format!("\"user{c}@example.com\""), c as i64 * 1000))
            .collect();
        let (dir, file) = file_with(&encoded(&rows));
        let file = file.unwrap();
        assert_eq!(file.shared.len(), MAX_SHARED);
        let mut own = 0;
        file.rows_in(0, u64::MAX, |_, value, _| {
            own += usize::from(matches!(value, RowValue::Own(_)))
        })
        .unwrap();
        assert_eq!(own, 10);
        assert_eq!(read(&file, 0, u64::MAX), rows);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_damaged_file_is_refused_not_misread() {
        let rows: Vec<(u64, String, i64)> = (0..5000)
            .map(|c| (c, format!("\"v{}\"", c % 7), c as i64))
            .collect();
        let bytes = encoded(&rows);
        // Cut short: the data no longer has the length the header gives.
        let (dir, _) = file_with(&bytes);
        let path = path_of(&dir, "plan");
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let cut = TraitFile::open(&dir, "plan").unwrap_err().to_string();
        assert!(
            cut.contains("not a trait file, or cut short (length)"),
            "{cut}"
        );
        // A shared value altered: the index's checksum says so.
        let mut altered = bytes.clone();
        altered[HEADER_BYTES + 5] ^= 1;
        std::fs::write(&path, &altered).unwrap();
        let changed = TraitFile::open(&dir, "plan").unwrap_err().to_string();
        assert!(changed.contains("(checksum)"), "{changed}");
        // A row's byte altered: the block's checksum says so, when the block is read.
        let mut altered = bytes.clone();
        let last = altered.len() - 3;
        altered[last] ^= 0x10;
        std::fs::write(&path, &altered).unwrap();
        let file = TraitFile::open(&dir, "plan").unwrap().unwrap();
        assert_eq!(read(&file, 0, 100), rows[..=100]);
        let mut seen = 0;
        let error = file
            .rows_in(0, u64::MAX, |_, _, _| seen += 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("(checksum)"), "{error}");
        assert_eq!(seen, 0, "nothing is handed out from a damaged range");
        std::fs::remove_dir_all(dir).ok();
    }
}
