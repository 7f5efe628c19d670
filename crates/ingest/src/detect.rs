//! Telling a file's format from its name and first bytes.

use std::io::{self, Cursor, Read};
use std::path::Path;

use serde::Serialize;

use crate::split::{JsonRecords, Lines};

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON message per line.
    Ndjson,
    /// A JSON array of messages, Segment's `{"batch": [...]}`, or one message.
    Json,
    /// Mailjet Event API events (one object, an array, or one per line).
    Mailjet,
    /// Comma-separated values with a header.
    Csv,
    /// Tab-separated values with a header.
    Tsv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// Every format, as `--format` names them.
    pub const ALL: [Format; 6] = [
        Format::Ndjson,
        Format::Json,
        Format::Mailjet,
        Format::Csv,
        Format::Tsv,
        Format::Parquet,
    ];

    /// Name used by `--format` and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Json => "json",
            Format::Mailjet => "mailjet",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Parquet => "parquet",
        }
    }

    /// The format with this name.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

pub(crate) enum DetectError {
    Io(io::Error),
    Unknown(String),
}

impl From<io::Error> for DetectError {
    fn from(e: io::Error) -> Self {
        DetectError::Io(e)
    }
}

const PEEK: usize = 64 * 1024;

/// True when the record is a Mailjet event rather than a Segment message.
pub fn is_mailjet_record(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(bytes)
        .is_ok_and(|o| parcours_events::looks_like_mailjet(&o))
}

/// The format a file's name and first bytes suggest, `None` when they do not tell.
pub fn detect_format(name: &str, head: &[u8]) -> Option<Format> {
    let name = name.to_ascii_lowercase();
    let by_extension = [
        (".ndjson", Format::Ndjson),
        (".jsonl", Format::Ndjson),
        (".csv", Format::Csv),
        (".tsv", Format::Tsv),
        (".parquet", Format::Parquet),
    ]
    .into_iter()
    .find(|(ext, _)| name.ends_with(ext))
    .map(|(_, f)| f);
    if let Some(format) = by_extension {
        return Some(refine_json(format, head));
    }
    if head.starts_with(b"PAR1") {
        return Some(Format::Parquet);
    }
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => Some(refine_json(Format::Json, head)),
        Some(b'{') => {
            let mut lines = Lines::new(head);
            let first_line = lines.next_record().ok().flatten();
            let second_line = lines.next_record().ok().flatten();
            let one_per_line = first_line
                .is_some_and(|l| serde_json::from_slice::<serde::de::IgnoredAny>(&l.bytes).is_ok())
                && second_line.is_some();
            Some(refine_json(
                if one_per_line {
                    Format::Ndjson
                } else {
                    Format::Json
                },
                head,
            ))
        }
        _ if name.ends_with(".json") => Some(Format::Json),
        _ => {
            let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
            if line.contains(&b'\t') {
                Some(Format::Tsv)
            } else if line.contains(&b',') {
                Some(Format::Csv)
            } else {
                None
            }
        }
    }
}

/// JSON and NDJSON files whose first record is a Mailjet event are Mailjet files.
fn refine_json(format: Format, head: &[u8]) -> Format {
    let first = match format {
        Format::Ndjson => Lines::new(head)
            .next_record()
            .ok()
            .flatten()
            .map(|r| r.bytes),
        Format::Json => JsonRecords::new(head)
            .next_record()
            .ok()
            .flatten()
            .map(|r| r.bytes),
        _ => return format,
    };
    if first.is_some_and(|bytes| is_mailjet_record(&bytes)) {
        Format::Mailjet
    } else {
        format
    }
}

/// Opens a file for reading: decompresses `.gz`, and tells the format unless `forced`.
pub(crate) fn open(
    path: &Path,
    raw: impl Read + Send + 'static,
    forced: Option<Format>,
) -> Result<(Format, Box<dyn Read + Send>), DetectError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut raw: Box<dyn Read + Send> = Box::new(raw);
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut raw, &mut magic)?;
    raw = Box::new(Cursor::new(magic[..got].to_vec()).chain(raw));
    let gzipped = got == 2 && magic == [0x1f, 0x8b];
    let inner_name = name.strip_suffix(".gz").unwrap_or(&name).to_string();
    let mut reader: Box<dyn Read + Send> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        raw
    };
    let mut head = vec![0u8; PEEK];
    let got = read_up_to(&mut reader, &mut head)?;
    head.truncate(got);
    let format = match forced {
        Some(f) => f,
        None => detect_format(&inner_name, &head).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            DetectError::Unknown(format!(
                "cannot tell the format of this file; pass --format ({})",
                names.join(", ")
            ))
        })?,
    };
    if format == Format::Parquet && gzipped {
        return Err(DetectError::Unknown(
            "a gzipped Parquet file cannot be read; Parquet is already compressed inside".into(),
        ));
    }
    Ok((format, Box::new(Cursor::new(head).chain(reader))))
}

fn read_up_to(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_contents_tell_the_format() {
        let segment =
            br#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T00:00:00Z"}"#;
        let mailjet = br#"{"event":"open","time":1772357400,"email":"a@b.io","MessageID":1}"#;
        let two_lines = [segment.as_slice(), b"\n", segment.as_slice()].concat();
        assert_eq!(
            detect_format("events.ndjson", &two_lines),
            Some(Format::Ndjson)
        );
        assert_eq!(detect_format("export", &two_lines), Some(Format::Ndjson));
        assert_eq!(detect_format("one.json", segment), Some(Format::Json));
        assert_eq!(
            detect_format("batch.json", br#"{"batch": [{"type":"track"}]}"#),
            Some(Format::Json)
        );
        assert_eq!(
            detect_format("array", &[b"[".as_slice(), segment, b"]"].concat()),
            Some(Format::Json)
        );
        assert_eq!(
            detect_format("webhook.json", &[b"[".as_slice(), mailjet, b"]"].concat()),
            Some(Format::Mailjet)
        );
        assert_eq!(detect_format("hook.json", mailjet), Some(Format::Mailjet));
        assert_eq!(detect_format("export.CSV", b"a,b\n1,2"), Some(Format::Csv));
        assert_eq!(
            detect_format("data", b"user_id\tevent\n1\tx"),
            Some(Format::Tsv)
        );
        assert_eq!(detect_format("x", b"PAR1...."), Some(Format::Parquet));
        assert_eq!(detect_format("notes.txt", b"hello world"), None);
    }
}
