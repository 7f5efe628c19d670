//! Splitting results by a customer attribute: persona, segment, acquisition channel, a
//! property of the first event carrying it, a trait or a context field.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde_json::Value as Json;

use crate::cond::{EventTexts, json_path};

/// What `--by` splits customers by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Breakdown {
    /// The customer's persona.
    Persona,
    /// Each segment the customer belongs to (a customer may count in several).
    Segment,
    /// The channel of the customer's first touchpoint.
    Channel,
    /// A property, read on the first event of the period that carries it.
    Prop(String),
    /// A trait's latest value.
    Trait(String),
    /// A context field, read on the first event of the period that carries it.
    Context(String),
}

/// Value of customers without one.
pub const NONE: &str = "(none)";
/// Value of the customers beyond the [`MAX_GROUPS`] first values seen.
pub const OTHER: &str = "(other)";
/// Most groups a breakdown keeps.
pub const MAX_GROUPS: usize = 50;

/// A `--by` value Parcours does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown breakdown `{0}`: use persona, segment, channel, prop.NAME, trait.NAME or context.PATH"
)]
pub struct UnknownBreakdown(pub String);

impl FromStr for Breakdown {
    type Err = UnknownBreakdown;

    fn from_str(text: &str) -> Result<Breakdown, UnknownBreakdown> {
        let named = |prefix: &str| {
            text.strip_prefix(prefix)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
        };
        Ok(match text {
            "persona" => Breakdown::Persona,
            "segment" => Breakdown::Segment,
            "channel" => Breakdown::Channel,
            _ => {
                if let Some(n) = named("prop.") {
                    Breakdown::Prop(n)
                } else if let Some(n) = named("trait.") {
                    Breakdown::Trait(n)
                } else if let Some(n) = named("context.") {
                    Breakdown::Context(n)
                } else {
                    return Err(UnknownBreakdown(text.to_string()));
                }
            }
        })
    }
}

impl fmt::Display for Breakdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breakdown::Persona => f.write_str("persona"),
            Breakdown::Segment => f.write_str("segment"),
            Breakdown::Channel => f.write_str("channel"),
            Breakdown::Prop(n) => write!(f, "prop.{n}"),
            Breakdown::Trait(n) => write!(f, "trait.{n}"),
            Breakdown::Context(n) => write!(f, "context.{n}"),
        }
    }
}

/// A JSON value as a group label: texts as they are, other scalars printed.
pub(crate) fn label(value: &Json) -> Option<Cow<'_, str>> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(Cow::Borrowed(s)),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// The value of a field on the first event that carries it.
pub(crate) fn first_field(
    texts: &EventTexts<'_>,
    events: usize,
    context: bool,
    path: &str,
) -> Option<String> {
    // The path's first key must appear in the text: most events are skipped unparsed.
    let head = path.split('.').next().unwrap_or(path);
    let needle = format!("\"{head}");
    (0..events).find_map(|i| {
        let text = if context {
            texts.context(i)
        } else {
            texts.properties(i)
        }?;
        if !text.contains(&needle) {
            return None;
        }
        let json: Json = serde_json::from_str(text).ok()?;
        json_path(&json, path).and_then(|v| label(v).map(Cow::into_owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for text in [
            "persona",
            "segment",
            "channel",
            "prop.utm_source",
            "trait.platform",
            "context.os.name",
        ] {
            assert_eq!(text.parse::<Breakdown>().unwrap().to_string(), text);
        }
        let error = "prop.".parse::<Breakdown>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown breakdown `prop.`: use persona, segment, channel, prop.NAME, trait.NAME or context.PATH"
        );
        assert!("device".parse::<Breakdown>().is_err());
    }

    #[test]
    fn first_event_carrying_the_field_wins() {
        let properties = parcours_store::scan::Texts::of([
            None,
            Some(r#"{"other":"x"}"#),
            Some(r#"{"utm":{"source":"google"}}"#),
            Some(r#"{"utm":{"source":"bing"}}"#),
        ]);
        let texts = EventTexts {
            properties: properties.column(),
            ..EventTexts::default()
        };
        assert_eq!(
            first_field(&texts, 4, false, "utm.source").as_deref(),
            Some("google")
        );
        assert_eq!(first_field(&texts, 4, false, "missing"), None);
        // Events past those asked about are not read.
        assert_eq!(first_field(&texts, 2, false, "utm.source"), None);
    }
}
