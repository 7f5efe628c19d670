//! Events held in memory column by column, with their text in one arena.
//!
//! Imports fill a buffer, sort it by (customer, timestamp, key) and write it as a segment;
//! readers fill one from a segment. Text lives in a single byte arena so that a million
//! events cost a handful of allocations, and so that Parquet string columns can be written
//! as slices of that arena without copying.

use parcours_events::{Event, EventRef, MessageType};

/// The text fields of an event, in segment column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    /// Event or page name.
    Name,
    /// User id.
    UserId,
    /// Anonymous id.
    AnonymousId,
    /// Email.
    Email,
    /// Alias previous id.
    PreviousId,
    /// Group id.
    GroupId,
    /// Sender's message id.
    MessageId,
    /// Properties JSON.
    Properties,
    /// Traits JSON.
    Traits,
    /// Context JSON.
    Context,
    /// Where the event came from (`file:events.csv`, `demo`, ...).
    Source,
}

impl Text {
    /// Every text field.
    pub const ALL: [Text; 11] = [
        Text::Name,
        Text::UserId,
        Text::AnonymousId,
        Text::Email,
        Text::PreviousId,
        Text::GroupId,
        Text::MessageId,
        Text::Properties,
        Text::Traits,
        Text::Context,
        Text::Source,
    ];
}

const ABSENT: u32 = u32::MAX;

/// Where a text value lives in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    const NONE: Span = Span {
        start: ABSENT,
        len: 0,
    };

    pub fn is_present(self) -> bool {
        self.start != ABSENT
    }
}

/// Events, column by column.
#[derive(Debug, Default)]
pub struct EventBuffer {
    /// Customer of each event.
    pub customer: Vec<u64>,
    /// Timestamp, ms since 1970 UTC.
    pub timestamp: Vec<i64>,
    /// Dedup key.
    pub key: Vec<u64>,
    /// Engine dictionary code of (type, name).
    pub code: Vec<i32>,
    /// Message type.
    pub kind: Vec<MessageType>,
    /// When the store received the event.
    pub received_at: Vec<i64>,
    pub(crate) texts: [Vec<Span>; 11],
    pub(crate) arena: Vec<u8>,
}

impl EventBuffer {
    /// An empty buffer with room for `rows` events and `text_bytes` of text. The room is
    /// address space: memory is only used as rows arrive, and growing never copies.
    pub fn with_capacity(rows: usize, text_bytes: usize) -> EventBuffer {
        EventBuffer {
            customer: Vec::with_capacity(rows),
            timestamp: Vec::with_capacity(rows),
            key: Vec::with_capacity(rows),
            code: Vec::with_capacity(rows),
            kind: Vec::with_capacity(rows),
            received_at: Vec::with_capacity(rows),
            texts: std::array::from_fn(|_| Vec::with_capacity(rows)),
            arena: Vec::with_capacity(text_bytes),
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.customer.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.customer.is_empty()
    }

    /// Approximate memory held, in bytes.
    pub fn memory(&self) -> usize {
        self.arena.len() + self.len() * (8 + 8 + 8 + 4 + 1 + 8 + 11 * 8)
    }

    /// Empties the buffer, keeping its allocations.
    pub fn clear(&mut self) {
        self.customer.clear();
        self.timestamp.clear();
        self.key.clear();
        self.code.clear();
        self.kind.clear();
        self.received_at.clear();
        for column in &mut self.texts {
            column.clear();
        }
        self.arena.clear();
    }

    pub(crate) fn push_text(&mut self, field: Text, value: Option<&[u8]>) {
        let span = match value {
            None => Span::NONE,
            Some(bytes) => {
                let start = self.arena.len();
                self.arena.extend_from_slice(bytes);
                Span {
                    start: u32::try_from(start).expect("a buffer holds under 4 GB of text"),
                    len: bytes.len() as u32,
                }
            }
        };
        self.texts[field as usize].push(span);
    }

    /// Appends an event.
    pub fn push(
        &mut self,
        customer: u64,
        code: i32,
        received_at: i64,
        source: &str,
        event: EventRef<'_>,
    ) {
        self.customer.push(customer);
        self.timestamp.push(event.timestamp);
        self.key.push(event.key);
        self.code.push(code);
        self.kind.push(event.kind);
        self.received_at.push(received_at);
        fn bytes(s: Option<&str>) -> Option<&[u8]> {
            s.map(str::as_bytes)
        }
        self.push_text(Text::Name, Some(event.name.as_bytes()));
        self.push_text(Text::UserId, bytes(event.user_id));
        self.push_text(Text::AnonymousId, bytes(event.anonymous_id));
        self.push_text(Text::Email, bytes(event.email));
        self.push_text(Text::PreviousId, bytes(event.previous_id));
        self.push_text(Text::GroupId, bytes(event.group_id));
        self.push_text(Text::MessageId, bytes(event.message_id));
        self.push_text(Text::Properties, bytes(event.properties));
        self.push_text(Text::Traits, bytes(event.traits));
        self.push_text(Text::Context, bytes(event.context));
        self.push_text(Text::Source, Some(source.as_bytes()));
    }

    /// Appends row `row` of `other`.
    pub fn push_row(&mut self, other: &EventBuffer, row: usize) {
        self.customer.push(other.customer[row]);
        self.timestamp.push(other.timestamp[row]);
        self.key.push(other.key[row]);
        self.code.push(other.code[row]);
        self.kind.push(other.kind[row]);
        self.received_at.push(other.received_at[row]);
        for field in Text::ALL {
            self.push_text(field, other.text(field, row).map(str::as_bytes));
        }
    }

    /// A text field of a row.
    pub fn text(&self, field: Text, row: usize) -> Option<&str> {
        let span = self.texts[field as usize][row];
        if !span.is_present() {
            return None;
        }
        let bytes = &self.arena[span.start as usize..(span.start + span.len) as usize];
        // Only valid UTF-8 enters the arena: from `&str` or from Parquet UTF8 columns.
        Some(std::str::from_utf8(bytes).expect("arena text is UTF-8"))
    }

    /// A row, borrowed.
    pub fn view(&self, row: usize) -> EventRef<'_> {
        EventRef {
            kind: self.kind[row],
            name: self.text(Text::Name, row).unwrap_or(""),
            user_id: self.text(Text::UserId, row),
            anonymous_id: self.text(Text::AnonymousId, row),
            email: self.text(Text::Email, row),
            previous_id: self.text(Text::PreviousId, row),
            group_id: self.text(Text::GroupId, row),
            message_id: self.text(Text::MessageId, row),
            timestamp: self.timestamp[row],
            properties: self.text(Text::Properties, row),
            traits: self.text(Text::Traits, row),
            context: self.text(Text::Context, row),
            key: self.key[row],
        }
    }

    /// The row as an [`Event`].
    pub fn event(&self, row: usize) -> Event {
        let owned = |field| self.text(field, row).map(str::to_string);
        Event {
            kind: self.kind[row],
            name: self.text(Text::Name, row).unwrap_or("").to_string(),
            user_id: owned(Text::UserId),
            anonymous_id: owned(Text::AnonymousId),
            email: owned(Text::Email),
            previous_id: owned(Text::PreviousId),
            group_id: owned(Text::GroupId),
            message_id: owned(Text::MessageId),
            timestamp: self.timestamp[row],
            properties: owned(Text::Properties),
            traits: owned(Text::Traits),
            context: owned(Text::Context),
            key: self.key[row],
        }
    }

    /// Row indices in segment order: by customer, then timestamp, then key.
    pub fn sorted_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let i = i as usize;
            (self.customer[i], self.timestamp[i], self.key[i])
        });
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, ts: i64) -> Event {
        Event {
            kind: MessageType::Track,
            name: name.into(),
            user_id: Some("u".into()),
            anonymous_id: None,
            email: None,
            previous_id: None,
            group_id: None,
            message_id: None,
            timestamp: ts,
            properties: Some(r#"{"a":1}"#.into()),
            traits: None,
            context: None,
            key: ts as u64,
        }
    }

    #[test]
    fn rows_round_trip_and_sort() {
        let mut buffer = EventBuffer::default();
        buffer.push(2, 1, 0, "test", event("b", 20).view());
        buffer.push(1, 1, 0, "test", event("c", 30).view());
        buffer.push(2, 1, 0, "test", event("a", 10).view());
        assert_eq!(buffer.event(0), event("b", 20));
        assert_eq!(buffer.text(Text::Source, 1), Some("test"));
        assert_eq!(buffer.text(Text::Traits, 1), None);
        assert_eq!(buffer.sorted_order(), vec![1, 2, 0]);
        let mut copy = EventBuffer::default();
        copy.push_row(&buffer, 2);
        assert_eq!(copy.event(0), event("a", 10));
    }
}
