//! The Parcours event: one thing a customer did, in the shape of a Segment message.
//!
//! This crate owns the canonical [`Event`] and the mapping of every source format onto it:
//! Segment messages ([`from_segment_json`]), Mailjet Event API payloads
//! ([`from_mailjet_json`]), and rows of CSV or Parquet files ([`tabular`]). It also owns
//! timestamp reading ([`parse_timestamp`]) and the dedup key of an event ([`key`]). It
//! knows nothing of files or storage: readers hand it one record at a time and get an
//! [`Event`] or a [`Rejection`] that says what is wrong with the record.

pub mod key;
mod mailjet;
mod segment;
pub mod tabular;
mod time;

pub use mailjet::{MAILJET_EVENTS, from_mailjet_json, looks_like_mailjet};
pub use segment::from_segment_json;
pub use time::{TimestampError, format_timestamp, parse_epoch, parse_timestamp};

use std::fmt;

/// Largest accepted record, as in Segment's tracking API.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;

/// The Segment message types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// Something the customer did.
    Track,
    /// A web page view.
    Page,
    /// An app screen view.
    Screen,
    /// Who the customer is, with traits.
    Identify,
    /// Two identities are the same customer.
    Alias,
    /// The customer belongs to a group (company, account).
    Group,
}

impl MessageType {
    /// Every type.
    pub const ALL: [MessageType; 6] = [
        MessageType::Track,
        MessageType::Page,
        MessageType::Screen,
        MessageType::Identify,
        MessageType::Alias,
        MessageType::Group,
    ];

    /// The name in Segment messages.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Identify => "identify",
            MessageType::Alias => "alias",
            MessageType::Group => "group",
        }
    }

    /// The type with this name.
    pub fn from_name(name: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Segment message type.
    pub kind: MessageType,
    /// Event name for track; page or screen name; empty for the other types.
    pub name: String,
    /// The customer's id in the sender's system.
    pub user_id: Option<String>,
    /// Device or browser id before the customer is known.
    pub anonymous_id: Option<String>,
    /// Email address identifying the customer, lower-cased.
    pub email: Option<String>,
    /// For alias: the identity being merged into `user_id`.
    pub previous_id: Option<String>,
    /// For group: the group's id.
    pub group_id: Option<String>,
    /// The sender's message id, when it gave one.
    pub message_id: Option<String>,
    /// When it happened, milliseconds since 1970 UTC.
    pub timestamp: i64,
    /// Event properties, a JSON object.
    pub properties: Option<String>,
    /// Customer traits, a JSON object (identify, or context.traits).
    pub traits: Option<String>,
    /// Context (campaign, page, user agent...), a JSON object.
    pub context: Option<String>,
    /// Dedup key: from the message id when there is one, else from the content.
    pub key: u64,
}

/// An event whose text is borrowed: what readers produce without allocating, and what the
/// store takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// Segment message type.
    pub kind: MessageType,
    /// Event, page or screen name.
    pub name: &'a str,
    /// User id.
    pub user_id: Option<&'a str>,
    /// Anonymous id.
    pub anonymous_id: Option<&'a str>,
    /// Identifying email, lower-cased.
    pub email: Option<&'a str>,
    /// Alias previous id.
    pub previous_id: Option<&'a str>,
    /// Group id.
    pub group_id: Option<&'a str>,
    /// Sender's message id.
    pub message_id: Option<&'a str>,
    /// When it happened, ms since 1970 UTC.
    pub timestamp: i64,
    /// Properties JSON object.
    pub properties: Option<&'a str>,
    /// Traits JSON object.
    pub traits: Option<&'a str>,
    /// Context JSON object.
    pub context: Option<&'a str>,
    /// Dedup key.
    pub key: u64,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(&self) -> Event {
        let owned = |s: Option<&str>| s.map(str::to_string);
        Event {
            kind: self.kind,
            name: self.name.to_string(),
            user_id: owned(self.user_id),
            anonymous_id: owned(self.anonymous_id),
            email: owned(self.email),
            previous_id: owned(self.previous_id),
            group_id: owned(self.group_id),
            message_id: owned(self.message_id),
            timestamp: self.timestamp,
            properties: owned(self.properties),
            traits: owned(self.traits),
            context: owned(self.context),
            key: self.key,
        }
    }
}

impl Event {
    /// A borrowed view.
    pub fn view(&self) -> EventRef<'_> {
        EventRef {
            kind: self.kind,
            name: &self.name,
            user_id: self.user_id.as_deref(),
            anonymous_id: self.anonymous_id.as_deref(),
            email: self.email.as_deref(),
            previous_id: self.previous_id.as_deref(),
            group_id: self.group_id.as_deref(),
            message_id: self.message_id.as_deref(),
            timestamp: self.timestamp,
            properties: self.properties.as_deref(),
            traits: self.traits.as_deref(),
            context: self.context.as_deref(),
            key: self.key,
        }
    }

    /// The identifiers this event carries, strongest first: user id, email, anonymous id.
    pub fn identifiers(&self) -> impl Iterator<Item = (IdKind, &str)> {
        [
            (IdKind::User, self.user_id.as_deref()),
            (IdKind::Email, self.email.as_deref()),
            (IdKind::Anonymous, self.anonymous_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.map(|v| (kind, v)))
    }
}

/// Kinds of identifiers, in order of strength.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// A user id from the sender's system.
    User = 1,
    /// An email address.
    Email = 2,
    /// An anonymous (device or browser) id.
    Anonymous = 3,
}

impl IdKind {
    /// Every kind, strongest first.
    pub const ALL: [IdKind; 3] = [IdKind::User, IdKind::Email, IdKind::Anonymous];

    /// Stable number used in storage.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The kind with this storage number.
    pub fn from_code(code: i64) -> Option<IdKind> {
        IdKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// How the kind is named in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::User => "user id",
            IdKind::Email => "email",
            IdKind::Anonymous => "anonymous id",
        }
    }
}

/// Why a record was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Rejection {
    /// What is wrong, in one sentence.
    pub reason: String,
    /// The field at fault (`timestamp`, `context.traits`), when one is.
    pub field: Option<String>,
}

impl Rejection {
    /// A rejection with this reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Rejection {
            reason: reason.into(),
            field: None,
        }
    }

    /// A rejection of the field `field`, with this reason.
    pub fn of_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Rejection {
            reason: reason.into(),
            field: Some(field.into()),
        }
    }
}

/// An email address as an identifier: trimmed and lower-cased, or `None` if it is not one.
pub fn normalize_email(raw: &str) -> Option<String> {
    let mut out = String::new();
    normalize_email_into(raw, &mut out).then_some(out)
}

/// Like [`normalize_email`], into a reused buffer; false when `raw` is not an address.
pub fn normalize_email_into(raw: &str, out: &mut String) -> bool {
    let email = raw.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.is_empty() || email.contains(char::is_whitespace) {
        return false;
    }
    out.clear();
    if email.is_ascii() {
        out.push_str(email);
        out.make_ascii_lowercase();
    } else {
        out.extend(email.chars().flat_map(char::to_lowercase));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ana.Silva@Example.COM "),
            Some("ana.silva@example.com".into())
        );
        assert_eq!(normalize_email("not an email"), None);
        assert_eq!(normalize_email("@example.com"), None);
        assert_eq!(normalize_email("a b@example.com"), None);
    }

    #[test]
    fn identifiers_come_strongest_first() {
        let event = Event {
            kind: MessageType::Track,
            name: "x".into(),
            user_id: Some("u1".into()),
            anonymous_id: Some("a1".into()),
            email: Some("e@x.io".into()),
            previous_id: None,
            group_id: None,
            message_id: None,
            timestamp: 0,
            properties: None,
            traits: None,
            context: None,
            key: 0,
        };
        let kinds: Vec<IdKind> = event.identifiers().map(|(k, _)| k).collect();
        assert_eq!(kinds, [IdKind::User, IdKind::Email, IdKind::Anonymous]);
    }
}
