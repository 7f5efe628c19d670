//! Cutting a CSV stream into blocks of whole records, so that parsing can run in parallel.
//!
//! A block ends at a newline outside quotes. Whether a newline is inside quotes is decided
//! the way the CSV reader decides it, from the start of the block (every block starts at a
//! record boundary): a quote opens a quoted field only at the start of a field, and inside
//! one, a doubled quote is a quote. A stray quote in the middle of an unquoted field is
//! text, so it cannot make the cutter split a record.

use std::io::{self, Read};

/// Bytes per block: small enough that a block's parsed events stay in the allocator's
/// reused memory rather than fresh pages from the system.
const BLOCK: usize = 1 << 20;

/// The header's fields, and the bytes read past it.
pub struct Header {
    /// Column names.
    pub names: Vec<String>,
    /// Bytes after the header, the start of the first block.
    pub rest: Vec<u8>,
    /// Lines the header took.
    pub lines: u64,
}

/// Reads the header record (a UTF-8 byte order mark before it is skipped).
pub fn read_header(reader: &mut dyn Read, delimiter: u8) -> io::Result<Option<Header>> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some((end, lines)) = last_record_end(&bytes, delimiter, true) {
            let start = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
                3
            } else {
                0
            };
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .delimiter(delimiter)
                .from_reader(&bytes[start..=end]);
            let mut record = csv::StringRecord::new();
            if !csv.read_record(&mut record).map_err(io::Error::other)? {
                return Ok(None);
            }
            return Ok(Some(Header {
                names: record.iter().map(str::to_string).collect(),
                rest: bytes[end + 1..].to_vec(),
                lines,
            }));
        }
        let read = reader.read(&mut chunk)?;
        if read == 0 {
            if bytes.is_empty() {
                return Ok(None);
            }
            bytes.push(b'\n');
            continue;
        }
        bytes.extend_from_slice(&chunk[..read]);
    }
}

/// Where the CSV reader is within a record.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field's end, or the first of a doubled quote.
    QuoteInQuoted,
}

/// The position of the first (`first_only`) or last newline that ends a record, and the
/// number of newlines up to it. `bytes` starts at a record boundary.
fn last_record_end(bytes: &[u8], delimiter: u8, first_only: bool) -> Option<(usize, u64)> {
    let mut place = Place::FieldStart;
    let mut lines = 0;
    let mut found = None;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            lines += 1;
        }
        place = match (place, b) {
            (Place::Quoted, b'"') => Place::QuoteInQuoted,
            (Place::Quoted, _) => Place::Quoted,
            (Place::QuoteInQuoted, b'"') => Place::Quoted,
            (Place::FieldStart, b'"') => Place::Quoted,
            (_, b'\n') => {
                found = Some((i, lines));
                if first_only {
                    break;
                }
                Place::FieldStart
            }
            (_, b'\r') => Place::FieldStart,
            (_, b) if b == delimiter => Place::FieldStart,
            _ => Place::Unquoted,
        };
    }
    found
}

/// A block of whole CSV records.
pub struct Block {
    /// The line its first record is on.
    pub first_line: u64,
    /// The records, each ending with a newline but maybe the file's last one.
    pub bytes: Vec<u8>,
    /// No quote anywhere in the block: every newline ends a record and every delimiter
    /// separates two fields.
    pub plain: bool,
}

/// Blocks of whole CSV records.
pub struct Blocks<R: Read> {
    reader: R,
    delimiter: u8,
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
    /// Buffers of parsed blocks, handed back to be filled again.
    spare: Vec<Vec<u8>>,
}

impl<R: Read> Blocks<R> {
    /// Blocks of `reader`, which is positioned after the header; `carry` holds bytes already
    /// read past it and `first_line` is the line the first of them is on.
    pub fn new(reader: R, delimiter: u8, carry: Vec<u8>, first_line: u64) -> Self {
        Blocks {
            reader,
            delimiter,
            carry,
            next_line: first_line,
            eof: false,
            spare: Vec::new(),
        }
    }

    /// Takes back the buffer of a block that has been parsed, to fill it again: blocks then
    /// cost no allocation and no fresh pages from the system.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < 8 {
            buffer.clear();
            self.spare.push(buffer);
        }
    }

    /// Appends up to a block of bytes to the carry; notes the end of the input.
    fn fill(&mut self) -> io::Result<()> {
        // `read_to_end` reads into spare capacity without zeroing it first.
        let read = (&mut self.reader)
            .take(BLOCK as u64)
            .read_to_end(&mut self.carry)?;
        self.eof = read < BLOCK;
        Ok(())
    }

    /// The next block.
    pub fn next_block(&mut self) -> io::Result<Option<Block>> {
        loop {
            if !self.eof && self.carry.len() < BLOCK {
                self.fill()?;
                continue;
            }
            if self.carry.is_empty() {
                return Ok(None);
            }
            let plain = !self.carry.contains(&b'"');
            let end = if self.eof {
                self.carry.len() - 1
            } else if plain {
                match memchr::memrchr(b'\n', &self.carry) {
                    Some(end) => end,
                    None => {
                        self.fill()?;
                        continue;
                    }
                }
            } else {
                match last_record_end(&self.carry, self.delimiter, false) {
                    Some((end, _)) => end,
                    None => {
                        // One record longer than a block: read on.
                        self.fill()?;
                        continue;
                    }
                }
            };
            let mut rest = self
                .spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(2 * BLOCK));
            rest.extend_from_slice(&self.carry[end + 1..]);
            self.carry.truncate(end + 1);
            let bytes = std::mem::replace(&mut self.carry, rest);
            let first_line = self.next_line;
            self.next_line += memchr::memchr_iter(b'\n', &bytes).count() as u64;
            return Ok(Some(Block {
                first_line,
                bytes,
                plain,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out a few bytes at a time, to cut records across reads.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn header_then_blocks_of_whole_records() {
        let text =
            "\u{feff}user,\"note, with comma\"\nu1,\"two\nlines\"\nu2,\"say \"\"hi\"\"\"\nu3,plain";
        let mut reader = Trickle(text.as_bytes());
        let header = read_header(&mut reader, b',').unwrap().unwrap();
        assert_eq!(header.names, ["user", "note, with comma"]);
        assert_eq!(header.lines, 1);
        let mut blocks = Blocks::new(reader, b',', header.rest, 2);
        let mut all = Vec::new();
        while let Some(block) = blocks.next_block().unwrap() {
            let line = block.first_line;
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(block.bytes.as_slice());
            for record in csv.records() {
                let record = record.unwrap();
                all.push((
                    line + record.position().unwrap().line() - 1,
                    record.iter().map(str::to_string).collect::<Vec<_>>(),
                ));
            }
        }
        assert_eq!(
            all,
            vec![
                (2, vec!["u1".to_string(), "two\nlines".to_string()]),
                (4, vec!["u2".to_string(), "say \"hi\"".to_string()]),
                (5, vec!["u3".to_string(), "plain".to_string()]),
            ]
        );
    }

    #[test]
    fn record_ends_respect_quotes() {
        assert_eq!(
            last_record_end(b"a,\"x\ny\"\nb\n", b',', false),
            Some((9, 3))
        );
        assert_eq!(
            last_record_end(b"a,\"x\ny\"\nb\n", b',', true),
            Some((7, 2))
        );
        assert_eq!(last_record_end(b"a,\"open\n", b',', false), None);
        // A stray quote inside an unquoted field is text: the quoted field after it holds
        // the next newline.
        assert_eq!(
            last_record_end(b"a,b\"c\nd,\"x\ny\"\n", b',', false),
            Some((13, 3))
        );
    }

    /// The records the CSV reader reads from `bytes`.
    fn records(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        csv.byte_records()
            .map(|r| r.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    proptest::proptest! {
        /// Cutting where the cutter says gives the records the reader reads from the whole.
        #[test]
        fn cuts_fall_between_records(
            text in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'"', b'\n', b'\r']),
                0..40,
            )
        ) {
            for first_only in [true, false] {
                if let Some((end, _)) = last_record_end(&text, b',', first_only) {
                    let mut cut = records(&text[..=end]);
                    cut.extend(records(&text[end + 1..]));
                    proptest::prop_assert_eq!(cut, records(&text));
                }
            }
        }
    }
}
