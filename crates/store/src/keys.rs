//! The key index: every event key in the store, for exact dedup with bounded memory.
//!
//! Keys are split into [`SHARDS`] shards by their top bits. Each shard is a few files of
//! sorted little-endian `u64`s. An import spills its new keys per shard with where each
//! event landed (run, row); dedup then takes one shard at a time: sort its new keys, drop
//! repeats within the import and keys already stored (binary search when the import is
//! small next to the shard, a merge pass otherwise), and write the survivors as a new file
//! of that shard. Memory is one shard of the import's keys: 1/64th of them.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// Number of shards.
pub const SHARDS: usize = 64;
const ENTRY: usize = 8 + 2 + 4;

/// The shard of a key.
pub fn shard_of(key: u64) -> usize {
    (key >> 58) as usize
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// New keys of an import, spilled to one file per shard.
pub struct KeySpill {
    paths: Vec<PathBuf>,
    writers: Vec<BufWriter<File>>,
}

impl KeySpill {
    /// Spill files under `dir`.
    pub fn create(dir: &Path) -> Result<KeySpill, StoreError> {
        let paths: Vec<PathBuf> = (0..SHARDS)
            .map(|s| dir.join(format!("keys-{s:02}.spill")))
            .collect();
        let writers = paths
            .iter()
            .map(|p| {
                File::create(p)
                    .map(|f| BufWriter::with_capacity(64 * 1024, f))
                    .map_err(io(p))
            })
            .collect::<Result<_, _>>()?;
        Ok(KeySpill { paths, writers })
    }

    /// Records that row `row` of run `run` has `key`.
    pub fn push(&mut self, key: u64, run: u16, row: u32) -> Result<(), StoreError> {
        let shard = shard_of(key);
        let mut entry = [0u8; ENTRY];
        entry[..8].copy_from_slice(&key.to_le_bytes());
        entry[8..10].copy_from_slice(&run.to_le_bytes());
        entry[10..].copy_from_slice(&row.to_le_bytes());
        self.writers[shard]
            .write_all(&entry)
            .map_err(io(&self.paths[shard]))
    }

    fn finish(self) -> Result<Vec<PathBuf>, StoreError> {
        for (writer, path) in self.writers.into_iter().zip(&self.paths) {
            writer.into_inner().map_err(|e| io(path)(e.into_error()))?;
        }
        Ok(self.paths)
    }
}

/// A sorted key file.
struct KeyFile {
    file: File,
    count: u64,
}

impl KeyFile {
    fn open(path: &Path) -> Result<KeyFile, StoreError> {
        let file = File::open(path).map_err(io(path))?;
        let count = file.metadata().map_err(io(path))?.len() / 8;
        Ok(KeyFile { file, count })
    }

    fn at(&self, index: u64) -> std::io::Result<u64> {
        let mut bytes = [0u8; 8];
        self.file.read_exact_at(&mut bytes, index * 8)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn contains(&self, key: u64) -> std::io::Result<bool> {
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.at(mid)?.cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// Iterates a sorted key file in order.
struct KeyStream {
    reader: BufReader<File>,
}

impl Iterator for KeyStream {
    type Item = std::io::Result<u64>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut bytes = [0u8; 8];
        match self.reader.read_exact(&mut bytes) {
            Ok(()) => Some(Ok(u64::from_le_bytes(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => None,
            Err(e) => Some(Err(e)),
        }
    }
}

fn stream(path: &Path) -> Result<KeyStream, StoreError> {
    Ok(KeyStream {
        reader: BufReader::with_capacity(1 << 20, File::open(path).map_err(io(path))?),
    })
}

/// Marks, in `found`, which of the sorted `keys` are in the sorted file at `path`.
fn mark_existing(path: &Path, keys: &[u64], found: &mut [bool]) -> Result<(), StoreError> {
    let file = KeyFile::open(path)?;
    // Probing costs about log2(count) reads per key; a pass costs count / 8192 buffered reads.
    if (keys.len() as u64) * 64 < file.count {
        for (key, found) in keys.iter().zip(found.iter_mut()) {
            if !*found {
                *found = file.contains(*key).map_err(io(path))?;
            }
        }
        return Ok(());
    }
    let mut stored = stream(path)?.peekable();
    for (key, found) in keys.iter().zip(found.iter_mut()) {
        while let Some(Ok(next)) = stored.peek() {
            if next < key {
                stored.next();
            } else {
                break;
            }
        }
        if let Some(Err(_)) = stored.peek() {
            let err = stored.next().expect("peeked").expect_err("peeked an error");
            return Err(io(path)(err));
        }
        if stored
            .peek()
            .is_some_and(|k| matches!(k, Ok(k) if k == key))
        {
            *found = true;
        }
    }
    Ok(())
}

fn write_keys(path: &Path, keys: impl Iterator<Item = u64>) -> Result<u64, StoreError> {
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io(path))?);
    let mut count = 0;
    for key in keys {
        writer.write_all(&key.to_le_bytes()).map_err(io(path))?;
        count += 1;
    }
    let file = writer.into_inner().map_err(|e| io(path)(e.into_error()))?;
    file.sync_all().map_err(io(path))?;
    Ok(count)
}

/// What dedup decided for one import.
#[derive(Debug, Default)]
pub struct Dedup {
    /// Per run, the rows to leave out, sorted.
    pub dropped: Vec<Vec<u32>>,
    /// New key files to add: (shard, path, number of keys).
    pub new_files: Vec<(usize, PathBuf, u64)>,
    /// Events left out.
    pub duplicates: u64,
}

/// Decides which spilled events are duplicates, of each other or of stored events, and
/// writes the new keys. `stored[s]` lists the key files of shard `s`.
pub fn dedup(
    spill: KeySpill,
    runs: usize,
    stored: &[Vec<PathBuf>],
    out_dir: &Path,
) -> Result<Dedup, StoreError> {
    let spill_paths = spill.finish()?;
    let mut result = Dedup {
        dropped: vec![Vec::new(); runs],
        ..Dedup::default()
    };
    for (shard, spill_path) in spill_paths.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(spill_path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io(spill_path))?;
        if bytes.is_empty() {
            continue;
        }
        let mut entries: Vec<(u64, u16, u32)> = bytes
            .chunks_exact(ENTRY)
            .map(|e| {
                (
                    u64::from_le_bytes(e[..8].try_into().expect("8 bytes")),
                    u16::from_le_bytes(e[8..10].try_into().expect("2 bytes")),
                    u32::from_le_bytes(e[10..].try_into().expect("4 bytes")),
                )
            })
            .collect();
        drop(bytes);
        // Within the import, the first occurrence (earliest run, then row) is the one kept.
        entries.sort_unstable();
        let mut unique: Vec<u64> = Vec::with_capacity(entries.len());
        let mut first: Vec<(u16, u32)> = Vec::with_capacity(entries.len());
        for (i, &(key, run, row)) in entries.iter().enumerate() {
            if i > 0 && entries[i - 1].0 == key {
                result.dropped[run as usize].push(row);
                result.duplicates += 1;
            } else {
                unique.push(key);
                first.push((run, row));
            }
        }
        drop(entries);
        let mut found = vec![false; unique.len()];
        for path in &stored[shard] {
            mark_existing(path, &unique, &mut found)?;
        }
        for (&(run, row), _) in first.iter().zip(&found).filter(|(_, f)| **f) {
            result.dropped[run as usize].push(row);
            result.duplicates += 1;
        }
        let fresh = unique
            .iter()
            .zip(&found)
            .filter(|(_, f)| !**f)
            .map(|(k, _)| *k);
        let path = out_dir.join(format!("keys-{shard:02}.bin"));
        let count = write_keys(&path, fresh)?;
        if count > 0 {
            result.new_files.push((shard, path, count));
        }
        std::fs::remove_file(spill_path).map_err(io(spill_path))?;
    }
    for rows in &mut result.dropped {
        rows.sort_unstable();
    }
    Ok(result)
}

/// Merges sorted key files into one at `out`; returns the number of keys.
pub fn merge_files(inputs: &[PathBuf], out: &Path) -> Result<u64, StoreError> {
    let mut streams: Vec<std::iter::Peekable<KeyStream>> = inputs
        .iter()
        .map(|p| stream(p).map(Iterator::peekable))
        .collect::<Result<_, _>>()?;
    let merged = std::iter::from_fn(|| {
        let mut best: Option<(usize, u64)> = None;
        for (i, s) in streams.iter_mut().enumerate() {
            if let Some(Ok(k)) = s.peek()
                && best.is_none_or(|(_, b)| *k < b)
            {
                best = Some((i, *k));
            }
        }
        let (i, _) = best?;
        streams[i].next().and_then(Result::ok)
    });
    write_keys(out, merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("parcours-keys-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    #[test]
    fn repeats_and_stored_keys_are_dropped_exactly() {
        let dir = scratch("dedup");
        // First import: 10,000 keys, 100 of them twice (second run repeats the first).
        let mut spill = KeySpill::create(&dir).unwrap();
        for i in 0..10_000u64 {
            spill.push(spread(i), 0, i as u32).unwrap();
        }
        for i in 0..100u64 {
            spill.push(spread(i), 1, i as u32).unwrap();
        }
        let stored: Vec<Vec<PathBuf>> = vec![Vec::new(); SHARDS];
        let first = dedup(spill, 2, &stored, &dir).unwrap();
        assert_eq!(first.duplicates, 100);
        assert!(first.dropped[0].is_empty());
        assert_eq!(first.dropped[1], (0..100).collect::<Vec<u32>>());
        assert_eq!(first.new_files.iter().map(|f| f.2).sum::<u64>(), 10_000);

        // Second import against the stored keys: 5 old keys, 3 new ones.
        let kept = scratch("dedup-stored");
        let mut stored: Vec<Vec<PathBuf>> = vec![Vec::new(); SHARDS];
        for (shard, path, _) in &first.new_files {
            let to = kept.join(format!("{shard}.bin"));
            std::fs::rename(path, &to).unwrap();
            stored[*shard].push(to);
        }
        let mut spill = KeySpill::create(&dir).unwrap();
        for (row, i) in [5u64, 9_999, 20_000, 0, 20_001, 77, 20_002, 500]
            .into_iter()
            .enumerate()
        {
            spill.push(spread(i), 0, row as u32).unwrap();
        }
        let second = dedup(spill, 1, &stored, &dir).unwrap();
        assert_eq!(second.duplicates, 5);
        assert_eq!(second.dropped[0], vec![0, 1, 3, 5, 7]);
        assert_eq!(second.new_files.iter().map(|f| f.2).sum::<u64>(), 3);
    }

    #[test]
    fn both_lookup_strategies_agree() {
        let dir = scratch("strategies");
        let path = dir.join("keys.bin");
        let keys: Vec<u64> = (0..50_000u64).map(|i| i * 3).collect();
        write_keys(&path, keys.iter().copied()).unwrap();
        let probe: Vec<u64> = (0..600u64).map(|i| i * 5).collect();
        let mut few = vec![false; 10];
        mark_existing(&path, &probe[..10], &mut few).unwrap();
        let mut many = vec![false; probe.len()];
        mark_existing(&path, &probe, &mut many).unwrap();
        for (i, &k) in probe.iter().enumerate() {
            assert_eq!(many[i], k % 3 == 0 && k < 150_000, "{k}");
            if i < 10 {
                assert_eq!(few[i], many[i]);
            }
        }
    }

    #[test]
    fn merging_files_keeps_order() {
        let dir = scratch("merge");
        let a = dir.join("a.bin");
        let b = dir.join("b.bin");
        write_keys(&a, [1, 4, 9].into_iter()).unwrap();
        write_keys(&b, [2, 3, 10].into_iter()).unwrap();
        let out = dir.join("c.bin");
        assert_eq!(merge_files(&[a, b], &out).unwrap(), 6);
        let back: Vec<u64> = stream(&out).unwrap().map(Result::unwrap).collect();
        assert_eq!(back, [1, 2, 3, 4, 9, 10]);
    }
}
