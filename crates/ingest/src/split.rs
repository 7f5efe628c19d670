//! Cutting input streams into records without loading whole files.

use std::io::{self, Read};

/// One record's bytes and where it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// 1-based line where the record starts.
    pub line: u64,
    /// 1-based position among the records of a JSON array, when in one.
    pub index: Option<u64>,
    /// The record's bytes.
    pub bytes: Vec<u8>,
}

/// Reads lines (NDJSON), skipping blank ones.
pub struct Lines<R: Read> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    line: u64,
    eof: bool,
}

impl<R: Read> Lines<R> {
    /// Lines of `reader`.
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            buffer: Vec::with_capacity(4 << 20),
            start: 0,
            line: 0,
            eof: false,
        }
    }

    /// The next non-blank line.
    pub fn next_record(&mut self) -> io::Result<Option<RawRecord>> {
        loop {
            if let Some(offset) = self.buffer[self.start..].iter().position(|&b| b == b'\n') {
                let end = self.start + offset;
                self.line += 1;
                let mut text = &self.buffer[self.start..end];
                self.start = end + 1;
                if text.last() == Some(&b'\r') {
                    text = &text[..text.len() - 1];
                }
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(RawRecord {
                    line: self.line,
                    index: None,
                    bytes: text.to_vec(),
                }));
            }
            if self.eof {
                if self.start < self.buffer.len() {
                    self.line += 1;
                    let text = self.buffer[self.start..].to_vec();
                    self.start = self.buffer.len();
                    if !text.iter().all(u8::is_ascii_whitespace) {
                        return Ok(Some(RawRecord {
                            line: self.line,
                            index: None,
                            bytes: text,
                        }));
                    }
                }
                return Ok(None);
            }
            self.buffer.drain(..self.start);
            self.start = 0;
            let old = self.buffer.len();
            self.buffer.resize(old + (4 << 20), 0);
            let read = self.reader.read(&mut self.buffer[old..])?;
            self.buffer.truncate(old + read);
            self.eof = read == 0;
        }
    }
}

/// Why a JSON document could not be cut into records.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The document's structure is broken; records after this point cannot be found.
    #[error("line {line}: {message}")]
    Structure {
        /// Where.
        line: u64,
        /// What.
        message: String,
    },
}

/// Cuts a JSON document into records: an array of messages, Segment's `{"batch": [...]}`
/// envelope, or a single message. Only structure is read here; each record is parsed (and
/// rejected if invalid) by the caller, so one bad message does not stop the others.
pub struct JsonRecords<R: Read> {
    reader: R,
    buffer: Vec<u8>,
    position: usize,
    line: u64,
    mode: Mode,
    index: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Start,
    /// Inside the array of records: after `[` or a `,`.
    InArray {
        top_level: bool,
    },
    /// After the envelope's array, skipping its remaining keys.
    AfterBatch,
    Done,
}

impl<R: Read> JsonRecords<R> {
    /// Records of `reader`.
    pub fn new(reader: R) -> Self {
        JsonRecords {
            reader,
            buffer: Vec::new(),
            position: 0,
            line: 1,
            mode: Mode::Start,
            index: 0,
        }
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.position >= self.buffer.len() {
            self.buffer.clear();
            self.position = 0;
            self.buffer.resize(1 << 20, 0);
            let read = self.reader.read(&mut self.buffer)?;
            self.buffer.truncate(read);
            if read == 0 {
                return Ok(None);
            }
        }
        Ok(Some(self.buffer[self.position]))
    }

    fn bump(&mut self) -> io::Result<Option<u8>> {
        let byte = self.peek()?;
        if let Some(b) = byte {
            self.position += 1;
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(byte)
    }

    fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !b.is_ascii_whitespace() {
                return Ok(Some(b));
            }
            self.bump()?;
        }
        Ok(None)
    }

    fn structure(&self, message: impl Into<String>) -> SplitError {
        SplitError::Structure {
            line: self.line,
            message: message.into(),
        }
    }

    /// Copies one JSON value into `out`, by structure.
    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), SplitError> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let Some(b) = self.bump()? else {
                return Err(self.structure("the JSON ends inside a value"));
            };
            out.push(b);
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => {
                        in_string = false;
                        if depth == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| self.structure(format!("unexpected `{}`", b as char)))?;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ if depth == 0 => {
                    // A scalar ends before a delimiter.
                    if matches!(
                        self.peek()?,
                        None | Some(b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t')
                    ) {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }

    fn key(&mut self) -> Result<String, SplitError> {
        let mut raw = Vec::new();
        self.value(&mut raw)?;
        serde_json::from_slice::<String>(&raw).map_err(|_| self.structure("expected a key"))
    }

    /// The next record.
    pub fn next_record(&mut self) -> Result<Option<RawRecord>, SplitError> {
        loop {
            match self.mode {
                Mode::Done => return Ok(None),
                Mode::Start => match self.skip_whitespace()? {
                    None => {
                        self.mode = Mode::Done;
                        return Ok(None);
                    }
                    Some(b'[') => {
                        self.bump()?;
                        self.mode = Mode::InArray { top_level: true };
                    }
                    Some(b'{') => return self.top_object(),
                    Some(other) => {
                        return Err(self.structure(format!(
                            "expected `[` or `{{`, found `{}`",
                            other as char
                        )));
                    }
                },
                Mode::InArray { top_level } => {
                    match self.skip_whitespace()? {
                        Some(b']') => {
                            self.bump()?;
                            self.mode = if top_level {
                                Mode::Done
                            } else {
                                Mode::AfterBatch
                            };
                            continue;
                        }
                        Some(b',') if self.index > 0 => {
                            self.bump()?;
                            self.skip_whitespace()?;
                        }
                        None => return Err(self.structure("the JSON ends inside the array")),
                        _ => {}
                    }
                    let line = self.line;
                    let mut bytes = Vec::new();
                    self.value(&mut bytes)?;
                    self.index += 1;
                    return Ok(Some(RawRecord {
                        line,
                        index: Some(self.index),
                        bytes,
                    }));
                }
                Mode::AfterBatch => {
                    // Skip the envelope's other members (sentAt, context...).
                    loop {
                        match self.skip_whitespace()? {
                            Some(b'}') => {
                                self.bump()?;
                                self.mode = Mode::Done;
                                break;
                            }
                            Some(b',') => {
                                self.bump()?;
                                self.skip_whitespace()?;
                                self.key()?;
                                if self.skip_whitespace()? != Some(b':') {
                                    return Err(self.structure("expected `:`"));
                                }
                                self.bump()?;
                                self.skip_whitespace()?;
                                self.value(&mut Vec::new())?;
                            }
                            _ => return Err(self.structure("expected `,` or `}` after the batch")),
                        }
                    }
                }
            }
        }
    }

    /// A top-level object: either the batch envelope, or one message.
    fn top_object(&mut self) -> Result<Option<RawRecord>, SplitError> {
        let line = self.line;
        let mut whole = Vec::new();
        whole.push(self.bump()?.expect("peeked `{`"));
        loop {
            match self.skip_whitespace()? {
                Some(b'}') => {
                    whole.push(self.bump()?.expect("peeked"));
                    // Objects may follow one another (one per line): read on.
                    self.mode = Mode::Start;
                    return Ok(Some(RawRecord {
                        line,
                        index: None,
                        bytes: whole,
                    }));
                }
                Some(b',') => whole.push(self.bump()?.expect("peeked")),
                Some(b'"') => {}
                None => return Err(self.structure("the JSON ends inside an object")),
                Some(other) => {
                    return Err(self.structure(format!("unexpected `{}`", other as char)));
                }
            }
            self.skip_whitespace()?;
            let mut key_bytes = Vec::new();
            self.value(&mut key_bytes)?;
            let key: String =
                serde_json::from_slice(&key_bytes).map_err(|_| self.structure("expected a key"))?;
            if self.skip_whitespace()? != Some(b':') {
                return Err(self.structure("expected `:`"));
            }
            self.bump()?;
            if key == "batch" && self.skip_whitespace()? == Some(b'[') {
                self.bump()?;
                self.mode = Mode::InArray { top_level: false };
                return self.next_record();
            }
            whole.extend_from_slice(&key_bytes);
            whole.push(b':');
            self.skip_whitespace()?;
            self.value(&mut whole)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(json: &str) -> Vec<(u64, Option<u64>, String)> {
        let mut split = JsonRecords::new(json.as_bytes());
        let mut out = Vec::new();
        while let Some(r) = split.next_record().unwrap() {
            out.push((r.line, r.index, String::from_utf8(r.bytes).unwrap()));
        }
        out
    }

    #[test]
    fn arrays_envelopes_and_single_objects() {
        assert_eq!(
            records("[\n {\"a\": \"x]}\"},\n {\"b\": [1, {\"c\": 2}]}\n]"),
            vec![
                (2, Some(1), "{\"a\": \"x]}\"}".into()),
                (3, Some(2), "{\"b\": [1, {\"c\": 2}]}".into())
            ]
        );
        assert_eq!(
            records(
                r#"{"sentAt": "2026-03-01", "batch": [{"x": 1}, {"y": "\"}"}], "context": {"library": {}}}"#
            ),
            vec![
                (1, Some(1), r#"{"x": 1}"#.into()),
                (1, Some(2), r#"{"y": "\"}"}"#.into())
            ]
        );
        assert_eq!(
            records(r#" {"type": "track", "n": [1,2]} "#),
            vec![(1, None, r#"{"type":"track","n":[1,2]}"#.into())]
        );
        assert_eq!(records("[]"), vec![]);
        assert_eq!(
            records("{\"a\": 1}\n{\"b\": 2}\n"),
            vec![
                (1, None, r#"{"a":1}"#.into()),
                (2, None, r#"{"b":2}"#.into())
            ]
        );
        assert_eq!(records("[1, \"two\", null]").len(), 3);
    }

    #[test]
    fn broken_structure_is_reported_with_its_line() {
        let mut split = JsonRecords::new("[\n{\"a\": 1},\n{\"b\": ".as_bytes());
        assert!(split.next_record().unwrap().is_some());
        let err = split.next_record().unwrap_err();
        assert_eq!(err.to_string(), "line 3: the JSON ends inside a value");
    }

    #[test]
    fn lines_skip_blanks_and_keep_numbers() {
        let mut lines = Lines::new("a\n\n  \r\nb\r\nc".as_bytes());
        let mut got = Vec::new();
        while let Some(r) = lines.next_record().unwrap() {
            got.push((r.line, String::from_utf8(r.bytes).unwrap()));
        }
        assert_eq!(
            got,
            [
                (1, "a".to_string()),
                (4, "b".to_string()),
                (5, "c".to_string())
            ]
        );
    }
}
