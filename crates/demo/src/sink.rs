//! Where generated events go: the store, or files in the formats users bring.

use std::io::Write;

use parcours_events::{Event, MessageType, format_timestamp};

/// Why a sink could not take an event.
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Receives generated events.
pub trait Sink {
    /// One event.
    fn event(&mut self, event: &Event) -> Result<(), SinkError>;
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// Segment messages, one per line.
pub struct NdjsonSink<W: Write>(pub W);

impl<W: Write> Sink for NdjsonSink<W> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        let mut line = format!(r#"{{"type":"{}""#, event.kind.as_str());
        match event.kind {
            MessageType::Track => {
                line.push_str(&format!(r#","event":{}"#, json_string(&event.name)))
            }
            MessageType::Page | MessageType::Screen => {
                line.push_str(&format!(r#","name":{}"#, json_string(&event.name)))
            }
            _ => {}
        }
        for (key, value) in [
            ("userId", &event.user_id),
            ("anonymousId", &event.anonymous_id),
        ] {
            if let Some(value) = value {
                line.push_str(&format!(r#","{key}":{}"#, json_string(value)));
            }
        }
        line.push_str(&format!(
            r#","timestamp":"{}""#,
            format_timestamp(event.timestamp)
        ));
        for (key, value) in [
            ("properties", &event.properties),
            ("traits", &event.traits),
            ("context", &event.context),
        ] {
            if let Some(value) = value {
                line.push_str(&format!(r#","{key}":{value}"#));
            }
        }
        line.push_str("}\n");
        Ok(self.0.write_all(line.as_bytes())?)
    }
}

/// A wide CSV export, as analytics tools produce: one column per common property.
pub struct CsvSink<W: Write> {
    out: W,
    header_written: bool,
}

impl<W: Write> CsvSink<W> {
    /// A CSV writer.
    pub fn new(out: W) -> Self {
        CsvSink {
            out,
            header_written: false,
        }
    }
}

const CSV_PROPERTIES: [&str; 8] = [
    "campaign", "sku", "category", "price", "total", "survey", "score", "kind",
];

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl<W: Write> Sink for CsvSink<W> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        if !self.header_written {
            self.header_written = true;
            writeln!(
                self.out,
                "event_time,user_id,anonymous_id,email,event,{}",
                CSV_PROPERTIES.join(",")
            )?;
        }
        let properties: serde_json::Map<String, serde_json::Value> = event
            .properties
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let name = match event.kind {
            MessageType::Track => event.name.clone(),
            MessageType::Page | MessageType::Screen => "page_view".to_string(),
            other => other.as_str().to_string(),
        };
        let mut row = vec![
            format_timestamp(event.timestamp),
            event.user_id.clone().unwrap_or_default(),
            event.anonymous_id.clone().unwrap_or_default(),
            event.email.clone().unwrap_or_default(),
            name,
        ];
        for key in CSV_PROPERTIES {
            row.push(match properties.get(key) {
                None => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            });
        }
        let row: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        Ok(writeln!(self.out, "{}", row.join(","))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        parcours_events::from_segment_json(
            br#"{"type":"track","event":"purchase","userId":"u1","timestamp":"2026-03-01T09:30:00Z","properties":{"total":42,"campaign":"a,b"}}"#,
            None,
        )
        .unwrap()
    }

    #[test]
    fn ndjson_lines_read_back_as_the_same_event() {
        let mut out = Vec::new();
        NdjsonSink(&mut out).event(&sample()).unwrap();
        let back = parcours_events::from_segment_json(out.trim_ascii_end(), None).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn csv_has_a_header_and_quotes_commas() {
        let mut sink = CsvSink::new(Vec::new());
        sink.event(&sample()).unwrap();
        let text = String::from_utf8(sink.out).unwrap();
        assert_eq!(
            text,
            "event_time,user_id,anonymous_id,email,event,campaign,sku,category,price,total,survey,score,kind\n2026-03-01T09:30:00.000Z,u1,,,purchase,\"a,b\",,,,42,,,\n"
        );
    }
}
