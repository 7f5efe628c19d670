//! The event log: messages the server has acknowledged, on disk before the acknowledgement,
//! until the store holds them.
//!
//! The log is a folder of files `log-NNNNNNNN.wal`, numbered in order. Each starts with
//! [`MAGIC`]; then records, each framed as its payload's length (`u32`, little-endian), the
//! payload's xxh3 (`u64`, little-endian) and the payload. One thread writes: appends sent to
//! it while it is syncing wait, and are then written together and synced once (group
//! commit), so that many clients cost one `fdatasync`, not one each. An append is
//! acknowledged only once its sync has returned.
//!
//! A crash can leave the last file with a torn record at its end: it was never
//! acknowledged, and opening the log cuts it off. Anything else that fails a check, a torn
//! record in a file the log had moved past or a checksum that does not match, is damage
//! the log will not guess about: opening fails and names the file and byte offset.
//!
//! [`EventLog::seal`] closes the current file and starts the next one; the sealed files are
//! read back with [`read_file`] and removed with [`EventLog::remove`] once the store holds
//! their events.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// The first bytes of every log file: the format and its version.
pub const MAGIC: &[u8; 8] = b"PRCLOG01";

/// Bytes before each record's payload: length and checksum.
const FRAME_BYTES: usize = 12;

/// Records larger than this are refused: the HTTP layer's limits are far below it.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// A log file grows to about this size before the writer starts the next one.
const ROLL_BYTES: u64 = 64 << 20;

/// What went wrong with the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file system refused.
    #[error("event log {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file is damaged somewhere other than a torn end of the last file.
    #[error(
        "event log {path}, byte {offset}: {what}; the records before it are intact, move the file away to start without it"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A record over [`MAX_RECORD_BYTES`].
    #[error("a record of {0} bytes is over the event log's limit")]
    TooLarge(usize),
    /// The writer stopped after an error: nothing more is acknowledged.
    #[error("the event log stopped after an earlier write error; restart the server")]
    Stopped,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What the writer thread is asked to do.
enum Job {
    /// Write these records and sync; say when done.
    Append(Vec<Vec<u8>>, oneshot::Sender<Result<(), LogError>>),
    /// Close the current file, start the next; hand back the closed files.
    Seal(oneshot::Sender<Result<Vec<PathBuf>, LogError>>),
}

/// The open event log.
pub struct EventLog {
    dir: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    /// Records acknowledged since the log opened.
    appended: AtomicU64,
}

/// What opening a log found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Files left by earlier runs, in order, whose records the store may not hold yet.
    pub files: Vec<PathBuf>,
    /// Records in them.
    pub records: u64,
    /// Bytes of a torn last record cut off the end of the last file.
    pub torn_bytes: u64,
}

impl EventLog {
    /// Opens (creating if needed) the log in `dir`, cuts off a torn last record, and starts
    /// the writer on a new file. The files found are in [`Recovery::files`]: the caller
    /// hands their records to the store before removing them.
    pub fn open(dir: &Path) -> Result<(EventLog, Recovery), LogError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut files = log_files(dir)?;
        let mut recovery = Recovery::default();
        let count = files.len();
        for (i, path) in files.clone().iter().enumerate() {
            let last = i + 1 == count;
            let scanned = scan_file(path, last, |_| {})?;
            recovery.records += scanned.records;
            recovery.torn_bytes = scanned.torn_bytes;
            if scanned.good_bytes == 0 {
                // Cut before its header was whole: it never held a record.
                std::fs::remove_file(path).map_err(io(path))?;
                sync_dir(dir)?;
                files.pop();
            } else if scanned.torn_bytes > 0 {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io(path))?;
                file.set_len(scanned.good_bytes).map_err(io(path))?;
                file.sync_all().map_err(io(path))?;
            }
        }
        recovery.files = files;
        let next = recovery.files.last().map_or(1, |p| number_of(p) + 1);
        let current = create_file(dir, next)?;
        let (jobs, receiver) = mpsc::channel();
        let writer_dir = dir.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || write_loop(writer_dir, next, current, receiver))
            .map_err(io(dir))?;
        Ok((
            EventLog {
                dir: dir.to_path_buf(),
                jobs: Some(jobs),
                writer: Some(writer),
                appended: AtomicU64::new(0),
            },
            recovery,
        ))
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` and resolves once they are on disk (synced). Appends that arrive
    /// while the writer syncs are written and synced together.
    pub async fn append(&self, records: Vec<Vec<u8>>) -> Result<(), LogError> {
        if let Some(big) = records.iter().find(|r| r.len() > MAX_RECORD_BYTES) {
            return Err(LogError::TooLarge(big.len()));
        }
        let count = records.len() as u64;
        let (done, wait) = oneshot::channel();
        self.send(Job::Append(records, done))?;
        wait.await.map_err(|_| LogError::Stopped)??;
        self.appended.fetch_add(count, Ordering::Relaxed);
        Ok(())
    }

    /// Records acknowledged since the log opened.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Closes the current file and starts the next; returns every closed file, in order,
    /// including those of earlier runs still present.
    pub async fn seal(&self) -> Result<Vec<PathBuf>, LogError> {
        let (done, wait) = oneshot::channel();
        self.send(Job::Seal(done))?;
        wait.await.map_err(|_| LogError::Stopped)?
    }

    /// Removes sealed files whose records the store now holds.
    pub fn remove(&self, files: &[PathBuf]) -> Result<(), LogError> {
        for path in files {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(path)(e)),
            }
        }
        sync_dir(&self.dir)
    }

    fn send(&self, job: Job) -> Result<(), LogError> {
        self.jobs
            .as_ref()
            .ok_or(LogError::Stopped)?
            .send(job)
            .map_err(|_| LogError::Stopped)
    }

    /// Stops the writer once the appends already sent are written and synced.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The writer thread: takes every job waiting, writes the appends, syncs once, answers.
fn write_loop(dir: PathBuf, mut number: u64, mut file: LogFile, jobs: mpsc::Receiver<Job>) {
    let mut failed = false;
    let mut buffer = Vec::new();
    while let Ok(first) = jobs.recv() {
        let mut waiting = vec![first];
        waiting.extend(jobs.try_iter());
        let mut appended = Vec::new();
        buffer.clear();
        for job in waiting {
            match job {
                Job::Append(records, done) => {
                    for record in &records {
                        frame(record, &mut buffer);
                    }
                    appended.push(done);
                }
                Job::Seal(done) => {
                    // Appends before the seal go to the file being sealed.
                    let written = if failed {
                        Err(LogError::Stopped)
                    } else {
                        file.write_and_sync(&buffer)
                    };
                    buffer.clear();
                    failed |= written.is_err();
                    answer(&mut appended, &written);
                    let sealed = written.and_then(|()| {
                        number += 1;
                        file = create_file(&dir, number)?;
                        let mut files = log_files(&dir)?;
                        files.retain(|p| number_of(p) < number);
                        Ok(files)
                    });
                    failed |= sealed.is_err();
                    let _ = done.send(sealed);
                }
            }
        }
        if appended.is_empty() {
            continue;
        }
        let written = if failed {
            Err(LogError::Stopped)
        } else {
            file.write_and_sync(&buffer)
        };
        failed |= written.is_err();
        answer(&mut appended, &written);
        if !failed && file.len >= ROLL_BYTES {
            number += 1;
            match create_file(&dir, number) {
                Ok(next) => file = next,
                Err(_) => failed = true,
            }
        }
    }
}

/// Tells every waiting append how its write went.
fn answer(
    appended: &mut Vec<oneshot::Sender<Result<(), LogError>>>,
    written: &Result<(), LogError>,
) {
    for done in appended.drain(..) {
        let _ = done.send(match written {
            Ok(()) => Ok(()),
            Err(_) => Err(LogError::Stopped),
        });
    }
}

/// Appends one framed record to `out`.
fn frame(record: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(record.len() as u32).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(record).to_le_bytes());
    out.extend_from_slice(record);
}

/// The file the writer appends to.
struct LogFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl LogFile {
    fn write_and_sync(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_all(bytes).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// Creates log file `number` with its header, synced, its folder entry too.
fn create_file(dir: &Path, number: u64) -> Result<LogFile, LogError> {
    let path = dir.join(format!("log-{number:08}.wal"));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all(MAGIC).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    sync_dir(dir)?;
    Ok(LogFile {
        path,
        file,
        len: MAGIC.len() as u64,
    })
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// The log files in `dir`, in order.
fn log_files(dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if parse_number(&path).is_some() {
            files.push(path);
        }
    }
    files.sort_by_key(|p| number_of(p));
    Ok(files)
}

fn parse_number(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("log-")?
        .strip_suffix(".wal")?
        .parse()
        .ok()
}

fn number_of(path: &Path) -> u64 {
    parse_number(path).unwrap_or(0)
}

/// What reading a file found.
struct Scanned {
    records: u64,
    /// Bytes up to the end of the last whole, intact record.
    good_bytes: u64,
    /// Bytes after them: a torn record (only allowed at the end of the last file).
    torn_bytes: u64,
}

/// Reads the records of one log file, in order, handing each payload to `each`.
/// Records after the last intact one are an error unless the file is the log's last and
/// they are a torn end (a record cut short); a checksum mismatch is always an error.
fn scan_file(path: &Path, last: bool, mut each: impl FnMut(&[u8])) -> Result<Scanned, LogError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let damaged = |offset: usize, what| LogError::Damaged {
        path: path.to_path_buf(),
        offset: offset as u64,
        what,
    };
    if bytes.len() < MAGIC.len() {
        // A file created but cut before its header was synced holds nothing.
        if last {
            return Ok(Scanned {
                records: 0,
                good_bytes: 0,
                torn_bytes: bytes.len() as u64,
            });
        }
        return Err(damaged(0, "the file ends inside its header"));
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(damaged(0, "not an event log file (unknown header)"));
    }
    let mut at = MAGIC.len();
    let mut records = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let torn = |what| {
            if last {
                Ok(Scanned {
                    records,
                    good_bytes: at as u64,
                    torn_bytes: rest.len() as u64,
                })
            } else {
                Err(damaged(at, what))
            }
        };
        if rest.len() < FRAME_BYTES {
            return torn("a record's frame is cut short");
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
        if len > MAX_RECORD_BYTES {
            return Err(damaged(at, "a record's length is over the limit"));
        }
        if rest.len() < FRAME_BYTES + len {
            return torn("a record is cut short");
        }
        let payload = &rest[FRAME_BYTES..FRAME_BYTES + len];
        if xxhash_rust::xxh3::xxh3_64(payload) != sum {
            return Err(damaged(at, "a record's checksum does not match"));
        }
        each(payload);
        records += 1;
        at += FRAME_BYTES + len;
    }
    Ok(Scanned {
        records,
        good_bytes: at as u64,
        torn_bytes: 0,
    })
}

/// Reads every record of a sealed log file, in order.
pub fn read_file(path: &Path, mut each: impl FnMut(&[u8])) -> Result<u64, LogError> {
    Ok(scan_file(path, false, &mut each)?.records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "parcours-log-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    }

    fn records_of(files: &[PathBuf]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for file in files {
            read_file(file, |r| out.push(r.to_vec())).unwrap();
        }
        out
    }

    #[test]
    fn appended_records_come_back_in_order_after_a_restart() {
        let dir = temp_dir("restart");
        let rt = runtime();
        let (log, recovery) = EventLog::open(&dir).unwrap();
        assert_eq!(recovery.records, 0);
        rt.block_on(async {
            log.append(vec![b"one".to_vec(), b"two".to_vec()])
                .await
                .unwrap();
            log.append(vec![Vec::new(), "trois é".as_bytes().to_vec()])
                .await
                .unwrap();
        });
        log.close();
        let (log, recovery) = EventLog::open(&dir).unwrap();
        assert_eq!(recovery.records, 4);
        assert_eq!(recovery.torn_bytes, 0);
        assert_eq!(
            records_of(&recovery.files),
            [
                b"one".to_vec(),
                b"two".to_vec(),
                Vec::new(),
                "trois é".as_bytes().to_vec()
            ]
        );
        // Sealing hands back the earlier run's file and the current one.
        let sealed = rt.block_on(log.seal()).unwrap();
        assert_eq!(sealed.len(), 2);
        assert_eq!(records_of(&sealed).len(), 4);
        log.remove(&sealed).unwrap();
        log.close();
        let (_log, recovery) = EventLog::open(&dir).unwrap();
        assert_eq!(recovery.records, 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn appends_sent_together_are_all_acknowledged_and_kept() {
        let dir = temp_dir("group");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let (log, _) = EventLog::open(&dir).unwrap();
        let log = std::sync::Arc::new(log);
        rt.block_on(async {
            let mut tasks = Vec::new();
            for client in 0..50u32 {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    for n in 0..20u32 {
                        let record = format!("{client}:{n}").into_bytes();
                        log.append(vec![record]).await.unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        let sealed = rt.block_on(log.seal()).unwrap();
        let mut got: Vec<String> = records_of(&sealed)
            .into_iter()
            .map(|r| String::from_utf8(r).unwrap())
            .collect();
        got.sort();
        let mut want: Vec<String> = (0..50)
            .flat_map(|c| (0..20).map(move |n| format!("{c}:{n}")))
            .collect();
        want.sort();
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_append_resolves_only_once_its_records_are_in_the_file() {
        let dir = temp_dir("durable");
        let rt = runtime();
        let (log, _) = EventLog::open(&dir).unwrap();
        let current = log_files(&dir).unwrap().pop().unwrap();
        for n in 0..200u32 {
            rt.block_on(log.append(vec![n.to_le_bytes().to_vec()]))
                .unwrap();
            // Read while the log is open, as a crash right now would leave the file.
            let mut seen = Vec::new();
            scan_file(&current, true, |r| seen.push(r.to_vec())).unwrap();
            assert_eq!(seen.len(), n as usize + 1);
            assert_eq!(seen.last().unwrap(), &n.to_le_bytes().to_vec());
        }
        log.close();
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_file_and_offset() {
        let dir = temp_dir("damaged");
        let rt = runtime();
        let (log, _) = EventLog::open(&dir).unwrap();
        rt.block_on(log.append(vec![b"first".to_vec(), b"second".to_vec()]))
            .unwrap();
        let files = rt.block_on(log.seal()).unwrap();
        log.close();
        let path = &files[0];
        let mut bytes = std::fs::read(path).unwrap();
        // The second record's payload starts after the header and the first framed record.
        let second = MAGIC.len() + FRAME_BYTES + 5;
        bytes[second + FRAME_BYTES] ^= 0x20;
        std::fs::write(path, &bytes).unwrap();
        let error = EventLog::open(&dir).err().expect("damage is refused");
        let text = error.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(&format!("byte {second}")), "{text}");
        assert!(text.contains("checksum"), "{text}");
        std::fs::remove_dir_all(&dir).ok();
    }

    proptest! {
        /// Whatever point a crash cuts the last file at, opening keeps exactly the records
        /// written whole before that point, and the log goes on from there.
        #[test]
        fn a_torn_end_keeps_every_whole_record_before_it(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..12),
            cut in any::<proptest::sample::Index>(),
        ) {
            let dir = temp_dir("torn");
            std::fs::create_dir_all(&dir).unwrap();
            let mut bytes = MAGIC.to_vec();
            let mut ends = vec![bytes.len()];
            for record in &records {
                frame(record, &mut bytes);
                ends.push(bytes.len());
            }
            let cut = cut.index(bytes.len() + 1);
            std::fs::write(dir.join("log-00000001.wal"), &bytes[..cut]).unwrap();
            let (log, recovery) = EventLog::open(&dir).unwrap();
            let whole = ends.iter().filter(|&&end| end <= cut).count().saturating_sub(1);
            prop_assert_eq!(recovery.records, whole as u64);
            prop_assert_eq!(records_of(&recovery.files), records[..whole].to_vec());
            let rt = runtime();
            rt.block_on(log.append(vec![b"after".to_vec()])).unwrap();
            let sealed = rt.block_on(log.seal()).unwrap();
            let mut want = records[..whole].to_vec();
            want.push(b"after".to_vec());
            prop_assert_eq!(records_of(&sealed), want);
            log.close();
            std::fs::remove_dir_all(&dir).ok();
        }
    }
}
