//! What a record of the event log holds: one message, tagged with its format.

use parcours_events::{Event, Rejection, from_mailjet_json, from_segment_json};

/// The format of a record's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A Segment message (tracking API).
    Segment,
    /// One Mailjet Event API event (webhook).
    Mailjet,
}

impl Record {
    fn tag(self) -> u8 {
        match self {
            Record::Segment => b'S',
            Record::Mailjet => b'M',
        }
    }
}

/// The record of `message` in format `kind`.
pub fn encode(kind: Record, message: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(message.len() + 1);
    record.push(kind.tag());
    record.extend_from_slice(message);
    record
}

/// The event a record holds.
pub fn decode(record: &[u8]) -> Result<Event, Rejection> {
    match record.split_first() {
        Some((b'S', message)) => from_segment_json(message, None),
        Some((b'M', message)) => from_mailjet_json(message),
        Some((tag, _)) => Err(Rejection::new(format!(
            "a log record of unknown format (tag {tag})"
        ))),
        None => Err(Rejection::new("an empty log record")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_its_event() {
        let message =
            br#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:00Z"}"#;
        let event = decode(&encode(Record::Segment, message)).unwrap();
        assert_eq!(event, from_segment_json(message, None).unwrap());
        assert!(decode(b"").is_err());
        assert!(
            decode(b"Z{}")
                .unwrap_err()
                .reason
                .contains("unknown format")
        );
    }
}
