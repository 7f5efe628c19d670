//! Mailjet Event API payloads (webhooks and their exports) into events.
//!
//! Each Mailjet event becomes a `track` event named `email_<what>` on the customer known by
//! the recipient's address; Mailjet's fields are kept as properties under snake-case names.

use serde_json::{Map, Value};

use crate::key::ContentKey;
use crate::{Event, MAX_EVENT_BYTES, MessageType, Rejection, normalize_email, parse_epoch};

/// Mailjet event types and the event names they become.
pub const MAILJET_EVENTS: [(&str, &str); 7] = [
    ("sent", "email_sent"),
    ("open", "email_opened"),
    ("click", "email_clicked"),
    ("bounce", "email_bounced"),
    ("blocked", "email_blocked"),
    ("spam", "email_spam"),
    ("unsub", "email_unsubscribed"),
];

/// Mailjet's field names and the property names they are kept under.
const RENAMED: [(&str, &str); 8] = [
    ("MessageID", "message_id"),
    ("Message_GUID", "message_guid"),
    ("CustomID", "custom_id"),
    ("Payload", "payload"),
    ("customcampaign", "campaign"),
    ("mj_campaign_id", "campaign_id"),
    ("mj_contact_id", "contact_id"),
    ("mj_list_id", "list_id"),
];

/// True when a JSON object has the shape of a Mailjet event (used to detect the format).
pub fn looks_like_mailjet(object: &Map<String, Value>) -> bool {
    let known_event = object
        .get("event")
        .and_then(Value::as_str)
        .is_some_and(|e| MAILJET_EVENTS.iter().any(|(m, _)| *m == e));
    known_event
        && !object.contains_key("type")
        && object.contains_key("email")
        && object.get("time").is_some_and(Value::is_number)
}

/// Reads one Mailjet event object.
pub fn from_mailjet_json(raw: &[u8]) -> Result<Event, Rejection> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(format!(
            "the record is {} bytes; events are limited to {} KB",
            raw.len(),
            MAX_EVENT_BYTES / 1024
        )));
    }
    let object: Map<String, Value> = serde_json::from_slice(raw).map_err(|e| {
        Rejection::new(format!(
            "invalid JSON{}",
            crate::segment::json_error_detail(&e)
        ))
    })?;
    from_mailjet_object(object)
}

fn from_mailjet_object(mut object: Map<String, Value>) -> Result<Event, Rejection> {
    let what = match object.remove("event") {
        Some(Value::String(e)) => e,
        Some(_) => return Err(Rejection::of_field("event", "Mailjet `event` must be text")),
        None => return Err(Rejection::of_field("event", "missing Mailjet `event`")),
    };
    let name = MAILJET_EVENTS
        .iter()
        .find(|(m, _)| *m == what)
        .map(|(_, name)| *name)
        .ok_or_else(|| {
            let known: Vec<&str> = MAILJET_EVENTS.iter().map(|(m, _)| *m).collect();
            Rejection::of_field(
                "event",
                format!(
                    "unknown Mailjet event `{what}` (expected {})",
                    known.join(", ")
                ),
            )
        })?;
    let email = match object.remove("email") {
        Some(Value::String(e)) => normalize_email(&e).ok_or_else(|| {
            Rejection::of_field("email", format!("`email` {e:?} is not an email address"))
        })?,
        _ => return Err(Rejection::of_field("email", "missing Mailjet `email`")),
    };
    let timestamp = match object.remove("time") {
        Some(Value::Number(n)) => n.as_f64().and_then(parse_epoch).ok_or_else(|| {
            Rejection::of_field("time", format!("Mailjet `time` {n} is out of range"))
        })?,
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(parse_epoch)
            .ok_or_else(|| {
                Rejection::of_field("time", format!("Mailjet `time` {s:?} is not epoch seconds"))
            })?,
        _ => return Err(Rejection::of_field("time", "missing Mailjet `time`")),
    };
    let mut properties = Map::new();
    for (field, value) in object {
        let renamed = RENAMED
            .iter()
            .find(|(m, _)| *m == field)
            .map(|(_, p)| p.to_string());
        properties.insert(renamed.unwrap_or(field), value);
    }
    // Identical retries of a webhook carry the same fields; repeated opens differ by time.
    let text = |key: &str| properties.get(key).map(|v| v.to_string());
    let key = ContentKey::default()
        .field(Some(b"mailjet"))
        .field(Some(name.as_bytes()))
        .field(Some(email.as_bytes()))
        .field(Some(&timestamp.to_le_bytes()))
        .field(text("message_id").as_deref().map(str::as_bytes))
        .field(text("message_guid").as_deref().map(str::as_bytes))
        .field(text("url").as_deref().map(str::as_bytes))
        .finish();
    Ok(Event {
        kind: MessageType::Track,
        name: name.to_string(),
        user_id: None,
        anonymous_id: None,
        email: Some(email),
        previous_id: None,
        group_id: None,
        message_id: None,
        timestamp,
        properties: Some(Value::Object(properties).to_string()),
        traits: None,
        context: Some(r#"{"channel":"email","library":{"name":"mailjet"}}"#.to_string()),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLICK: &str = r#"{"event":"click","time":1772357400,"MessageID":19421777396190490,"Message_GUID":"1ab23cd4-e567-8901-2345-6789f0gh1i2j","email":"Ana@Example.com","mj_campaign_id":7173,"mj_contact_id":320,"customcampaign":"nl-2026-03","CustomID":"helloworld","Payload":"","url":"https://example.com/offre","ip":"127.0.0.1","geo":"FR","agent":"Mozilla/5.0"}"#;

    #[test]
    fn click_becomes_email_clicked_on_the_address() {
        let event = from_mailjet_json(CLICK.as_bytes()).unwrap();
        assert_eq!(event.name, "email_clicked");
        assert_eq!(event.email.as_deref(), Some("ana@example.com"));
        assert_eq!(event.timestamp, 1_772_357_400_000);
        let props: Map<String, Value> =
            serde_json::from_str(event.properties.as_deref().unwrap()).unwrap();
        assert_eq!(props["message_id"], 19421777396190490u64);
        assert_eq!(props["campaign"], "nl-2026-03");
        assert_eq!(props["custom_id"], "helloworld");
        assert_eq!(props["url"], "https://example.com/offre");
        assert!(!props.contains_key("email") && !props.contains_key("time"));
    }

    #[test]
    fn every_mailjet_event_maps() {
        for (mailjet, name) in MAILJET_EVENTS {
            let json = format!(
                r#"{{"event":"{mailjet}","time":1772357400,"email":"a@b.io","MessageID":1}}"#
            );
            assert_eq!(from_mailjet_json(json.as_bytes()).unwrap().name, name);
        }
    }

    #[test]
    fn bounce_flags_are_kept() {
        let json = r#"{"event":"bounce","time":1772357400,"email":"a@b.io","MessageID":1,"blocked":false,"hard_bounce":true,"error_related_to":"recipient","error":"user unknown"}"#;
        let props: Map<String, Value> = serde_json::from_str(
            from_mailjet_json(json.as_bytes())
                .unwrap()
                .properties
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(props["hard_bounce"], true);
        assert_eq!(props["error"], "user unknown");
    }

    #[test]
    fn refuses_with_the_reason() {
        for (json, reason) in [
            (
                r#"{"event":"opened","time":1,"email":"a@b.io"}"#,
                "unknown Mailjet event `opened`",
            ),
            (
                r#"{"event":"open","time":1772357400}"#,
                "missing Mailjet `email`",
            ),
            (
                r#"{"event":"open","email":"a@b.io"}"#,
                "missing Mailjet `time`",
            ),
            (
                r#"{"event":"open","time":1772357400,"email":"nobody"}"#,
                "`email` \"nobody\" is not an email address",
            ),
        ] {
            let got = from_mailjet_json(json.as_bytes()).unwrap_err().reason;
            assert!(got.starts_with(reason), "{json}: {got}");
        }
    }

    #[test]
    fn detection() {
        let object: Map<String, Value> = serde_json::from_str(CLICK).unwrap();
        assert!(looks_like_mailjet(&object));
        let segment: Map<String, Value> =
            serde_json::from_str(r#"{"type":"track","event":"open","email":"a","time":1}"#)
                .unwrap();
        assert!(
            !looks_like_mailjet(&segment),
            "a Segment message has a type"
        );
        let segment: Map<String, Value> =
            serde_json::from_str(r#"{"type":"track","event":"Order","userId":"u"}"#).unwrap();
        assert!(!looks_like_mailjet(&segment));
    }
}
