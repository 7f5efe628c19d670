//! Segment messages (the tracking API spec) into events.

use std::borrow::Cow;
use std::fmt;

use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use crate::key::{ContentKey, from_message_id};
use crate::{
    Event, MAX_EVENT_BYTES, MessageType, Rejection, normalize_email, parse_epoch, parse_timestamp,
};

/// An id or timestamp field: SDKs send strings, some send numbers.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(rename = "userId")]
    user_id: Option<Scalar>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<Scalar>,
    #[serde(rename = "previousId")]
    previous_id: Option<Scalar>,
    #[serde(rename = "groupId")]
    group_id: Option<Scalar>,
    #[serde(rename = "messageId")]
    message_id: Option<Scalar>,
    timestamp: Option<Scalar>,
    #[serde(rename = "originalTimestamp")]
    original_timestamp: Option<Scalar>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WithEmail<'a> {
    #[serde(borrow)]
    email: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WithTraits<'a> {
    #[serde(borrow)]
    traits: Option<&'a RawValue>,
}

/// The text of an object field, `None` for an absent or null one, a rejection otherwise.
fn object(field: &str, raw: Option<&RawValue>) -> Result<Option<String>, Rejection> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'{') => Ok(Some(text.to_string())),
        _ if text == "null" => Ok(None),
        _ => Err(Rejection::of_field(
            field,
            format!("`{field}` must be a JSON object"),
        )),
    }
}

fn email_in(traits: Option<&str>) -> Option<String> {
    let traits = traits?;
    if !traits.contains("email") {
        return None;
    }
    let parsed: WithEmail<'_> = serde_json::from_str(traits).ok()?;
    normalize_email(&parsed.email?)
}

/// ` at column 26: expected value` — positions are within the record, so a one-line record
/// gives only the column (the reader reports the record's line in the file).
pub(crate) fn json_error_detail(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    match (error.line(), error.column()) {
        (0, _) => format!(": {message}"),
        (1, column) => format!(" at column {column}: {message}"),
        (line, column) => format!(" at line {line}, column {column} of the record: {message}"),
    }
}

fn id(value: Option<Scalar>) -> Option<String> {
    value
        .and_then(|s| s.0)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Reads one Segment message (track, page, screen, identify, alias or group).
///
/// `zone` applies to timestamps written without an offset. `timestamp` falls back to
/// `originalTimestamp`; a message with neither is rejected, since an event without a time
/// cannot be placed in a journey.
pub fn from_segment_json(raw: &[u8], zone: Option<&TimeZone>) -> Result<Event, Rejection> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(format!(
            "the record is {} bytes; events are limited to {} KB",
            raw.len(),
            MAX_EVENT_BYTES / 1024
        )));
    }
    let message: Message<'_> = serde_json::from_slice(raw).map_err(|e| {
        let what = if e.is_data() {
            "not a Segment message"
        } else {
            "invalid JSON"
        };
        Rejection::new(format!("{what}{}", json_error_detail(&e)))
    })?;
    let kind = match (message.kind.as_deref(), message.event.is_some()) {
        (Some(name), _) => MessageType::from_name(name)
            .ok_or_else(|| Rejection::of_field("type", format!("unknown message type `{name}` (expected track, page, screen, identify, alias or group)")))?,
        (None, true) => MessageType::Track,
        (None, false) => return Err(Rejection::of_field("type", "missing `type`")),
    };
    let name = match kind {
        MessageType::Track => {
            let event = message.event.as_deref().map(str::trim).unwrap_or("");
            if event.is_empty() {
                return Err(Rejection::of_field(
                    "event",
                    "track message without `event`",
                ));
            }
            event.to_string()
        }
        MessageType::Page | MessageType::Screen => {
            message.name.as_deref().unwrap_or("").trim().to_string()
        }
        _ => String::new(),
    };
    let user_id = id(message.user_id);
    let anonymous_id = id(message.anonymous_id);
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(Rejection::of_field(
            "userId",
            "neither `userId` nor `anonymousId` is set",
        ));
    }
    let previous_id = id(message.previous_id);
    if kind == MessageType::Alias && (previous_id.is_none() || user_id.is_none()) {
        let field = if previous_id.is_none() {
            "previousId"
        } else {
            "userId"
        };
        return Err(Rejection::of_field(
            field,
            "alias message needs both `previousId` and `userId`",
        ));
    }
    let group_id = id(message.group_id);
    if kind == MessageType::Group && group_id.is_none() {
        return Err(Rejection::of_field(
            "groupId",
            "group message without `groupId`",
        ));
    }
    let timestamp_text = id(message.timestamp).or_else(|| id(message.original_timestamp));
    let Some(timestamp_text) = timestamp_text else {
        return Err(Rejection::of_field("timestamp", "missing `timestamp`"));
    };
    let timestamp = match timestamp_text.parse::<f64>() {
        Ok(number) => parse_epoch(number).ok_or_else(|| {
            Rejection::of_field(
                "timestamp",
                format!("`timestamp` {timestamp_text} is out of range"),
            )
        })?,
        Err(_) => parse_timestamp(&timestamp_text, zone)
            .map_err(|e| Rejection::of_field("timestamp", format!("`timestamp`: {e}")))?,
    };
    let properties = object("properties", message.properties)?;
    let context = object("context", message.context)?;
    let mut traits = object("traits", message.traits)?;
    if traits.is_none()
        && let Some(context) = &context
        && context.contains("\"traits\"")
    {
        let inner: WithTraits<'_> = serde_json::from_str(context)
            .map_err(|e| Rejection::of_field("context", format!("`context`: {e}")))?;
        traits = object("context.traits", inner.traits)?;
    }
    let email = email_in(traits.as_deref());
    let message_id = id(message.message_id);
    let key = match &message_id {
        Some(id) => from_message_id(id),
        None => ContentKey::default()
            .field(Some(kind.as_str().as_bytes()))
            .field(Some(name.as_bytes()))
            .field(user_id.as_deref().map(str::as_bytes))
            .field(anonymous_id.as_deref().map(str::as_bytes))
            .field(previous_id.as_deref().map(str::as_bytes))
            .field(group_id.as_deref().map(str::as_bytes))
            .field(Some(&timestamp.to_le_bytes()))
            .field(properties.as_deref().map(str::as_bytes))
            .field(traits.as_deref().map(str::as_bytes))
            .field(context.as_deref().map(str::as_bytes))
            .finish(),
    };
    Ok(Event {
        kind,
        name,
        user_id,
        anonymous_id,
        email,
        previous_id,
        group_id,
        message_id,
        timestamp,
        properties,
        traits,
        context,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Event, String> {
        from_segment_json(json.as_bytes(), None).map_err(|r| r.reason)
    }

    #[test]
    fn track_page_identify_alias() {
        let track = read(r#"{"type":"track","event":"Order Completed","userId":"u1","messageId":"m1","timestamp":"2026-03-01T09:30:00Z","properties":{"total":42}}"#).unwrap();
        assert_eq!(
            (track.kind, track.name.as_str(), track.user_id.as_deref()),
            (MessageType::Track, "Order Completed", Some("u1"))
        );
        assert_eq!(track.properties.as_deref(), Some(r#"{"total":42}"#));
        assert_eq!(track.key, from_message_id("m1"));

        let page = read(r#"{"type":"page","name":"Home","anonymousId":"a1","timestamp":"2026-03-01T09:30:00Z"}"#).unwrap();
        assert_eq!((page.kind, page.name.as_str()), (MessageType::Page, "Home"));

        let identify = read(r#"{"type":"identify","userId":42,"anonymousId":"a1","traits":{"email":"Ana@Example.com","plan":"pro"},"timestamp":"2026-03-01T09:30:00Z"}"#).unwrap();
        assert_eq!(identify.user_id.as_deref(), Some("42"));
        assert_eq!(identify.email.as_deref(), Some("ana@example.com"));

        let alias = read(r#"{"type":"alias","previousId":"old","userId":"new","timestamp":"2026-03-01T09:30:00Z"}"#).unwrap();
        assert_eq!(alias.previous_id.as_deref(), Some("old"));
    }

    #[test]
    fn context_traits_identify_track_events() {
        let track = read(r#"{"type":"track","event":"x","anonymousId":"a","originalTimestamp":"2026-03-01T09:30:00Z","context":{"traits":{"email":"b@x.io"}}}"#).unwrap();
        assert_eq!(track.email.as_deref(), Some("b@x.io"));
        assert!(track.message_id.is_none());
    }

    #[test]
    fn the_same_content_has_the_same_key() {
        let a = r#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:00Z"}"#;
        let b =
            r#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:00.000Z"}"#;
        let c = r#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:01Z"}"#;
        assert_eq!(read(a).unwrap().key, read(b).unwrap().key);
        assert_ne!(read(a).unwrap().key, read(c).unwrap().key);
    }

    #[test]
    fn a_refusal_names_the_field_at_fault() {
        let field = |json: &str| from_segment_json(json.as_bytes(), None).unwrap_err().field;
        let at = r#""timestamp":"2026-03-01T09:30:00Z""#;
        for (json, want) in [
            (
                format!(r#"{{"type":"track","userId":"u",{at}}}"#),
                Some("event"),
            ),
            (
                format!(r#"{{"type":"shout","userId":"u",{at}}}"#),
                Some("type"),
            ),
            (format!(r#"{{"userId":"u",{at}}}"#), Some("type")),
            (format!(r#"{{"type":"page",{at}}}"#), Some("userId")),
            (
                format!(r#"{{"type":"alias","userId":"u",{at}}}"#),
                Some("previousId"),
            ),
            (
                format!(r#"{{"type":"alias","previousId":"p","anonymousId":"a",{at}}}"#),
                Some("userId"),
            ),
            (
                format!(r#"{{"type":"group","userId":"u",{at}}}"#),
                Some("groupId"),
            ),
            (
                r#"{"type":"page","userId":"u"}"#.to_string(),
                Some("timestamp"),
            ),
            (
                r#"{"type":"page","userId":"u","timestamp":"yesterday"}"#.to_string(),
                Some("timestamp"),
            ),
            (
                format!(r#"{{"type":"page","userId":"u",{at},"properties":[1]}}"#),
                Some("properties"),
            ),
            (
                format!(r#"{{"type":"page","userId":"u",{at},"context":{{"traits":3}}}}"#),
                Some("context.traits"),
            ),
            ("{not json".to_string(), None),
        ] {
            assert_eq!(field(&json).as_deref(), want, "{json}");
        }
    }

    #[test]
    fn refuses_with_the_reason() {
        for (json, reason) in [
            (
                "{not json",
                "invalid JSON at column 2: key must be a string",
            ),
            (
                r#"{"type":"track","userId":"u","timestamp":"2026-03-01T09:30:00Z"}"#,
                "track message without `event`",
            ),
            (
                r#"{"type":"track","event":"x","timestamp":"2026-03-01T09:30:00Z"}"#,
                "neither `userId` nor `anonymousId` is set",
            ),
            (
                r#"{"type":"track","event":"x","userId":"u"}"#,
                "missing `timestamp`",
            ),
            (
                r#"{"type":"track","event":"x","userId":"u","timestamp":"yesterday"}"#,
                "`timestamp`: `yesterday` is not a timestamp",
            ),
            (
                r#"{"type":"jump","userId":"u","timestamp":"2026-03-01T09:30:00Z"}"#,
                "unknown message type `jump`",
            ),
            (
                r#"{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:00Z","properties":[1]}"#,
                "`properties` must be a JSON object",
            ),
            (
                r#"{"type":"alias","userId":"u","timestamp":"2026-03-01T09:30:00Z"}"#,
                "alias message needs both",
            ),
            (r#"[1,2]"#, "not a Segment message"),
        ] {
            let got = read(json).unwrap_err();
            assert!(got.starts_with(reason), "{json}: {got}");
        }
    }

    #[test]
    fn oversized_records_are_refused_before_parsing() {
        let big = format!(
            r#"{{"type":"track","event":"x","userId":"u","timestamp":"2026-03-01T09:30:00Z","properties":{{"blob":"{}"}}}}"#,
            "x".repeat(1 << 20)
        );
        assert!(read(&big).unwrap_err().contains("limited to 32 KB"));
    }
}
