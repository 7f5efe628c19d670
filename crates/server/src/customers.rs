//! One customer's record and a segment's members, as the read API and the web UI both show
//! them: looked up in the store, placed in the journey on request, and listed with the user
//! id and email a CRM joins on.

use std::path::Path;

use parcours_engine::analyze::{CustomerPlace, Model, Options, place_customer};
use parcours_events::IdKind;
use parcours_journey::Journey;
use parcours_store::Customer;
use serde::Serialize;
use serde_json::Value;

/// A customer, where they are in the journey and what they did.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// Identifiers, traits, first and last seen.
    pub customer: Customer,
    /// Stage, level, persona and segments, over all their events (none without a journey).
    pub place: Option<CustomerPlace>,
    /// Every event, in time order.
    pub events: Vec<TimelineEvent>,
}

/// One event of a [`Timeline`].
#[derive(Clone, Debug, Serialize)]
pub struct TimelineEvent {
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Message type (`track`, `page`, `email`…).
    #[serde(rename = "type")]
    pub kind: String,
    /// Event name.
    pub name: String,
    /// Its properties, when it has any.
    pub properties: Option<Value>,
}

/// A member of a segment, as exported.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Member {
    /// Customer id in the store.
    pub customer: u64,
    /// First user id.
    pub user_id: Option<String>,
    /// First email address.
    pub email: Option<String>,
}

/// The customer an identifier belongs to (emails are compared normalised).
pub fn find(data: &Path, kind: IdKind, value: &str) -> Result<Option<Customer>, String> {
    let value = match kind {
        IdKind::Email => {
            parcours_events::normalize_email(value).unwrap_or_else(|| value.to_string())
        }
        _ => value.to_string(),
    };
    parcours_store::customer_by_identifier(data, kind, &value).map_err(|e| e.to_string())
}

/// The customer's place and events.
pub fn timeline(
    data: &Path,
    journey: Option<&Journey>,
    customer: Customer,
) -> Result<Timeline, String> {
    let place = match journey {
        Some(journey) => {
            let model = Model::new(journey, data).map_err(|e| e.to_string())?;
            place_customer(&model, data, &Options::default(), customer.id)
                .map_err(|e| e.to_string())?
        }
        None => None,
    };
    let names: std::collections::HashMap<i32, (String, String)> =
        parcours_store::scan::event_codes(data)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(code, kind, name)| (code, (kind.as_str().to_string(), name)))
            .collect();
    let parts =
        parcours_store::scan::customer_parts(data, customer.id).map_err(|e| e.to_string())?;
    let columns = parcours_store::scan::ScanColumns {
        properties: true,
        ..Default::default()
    };
    let mut events = Vec::new();
    parcours_store::scan::scan_parts(data, columns, &parts, |view| {
        if view.customer != customer.id {
            return Ok(());
        }
        for (i, (&at, code)) in view.at.iter().zip(view.code).enumerate() {
            let (kind, name) = names.get(code).cloned().unwrap_or_default();
            let properties = view
                .properties
                .get(i)
                .and_then(|text| serde_json::from_str::<Value>(text).ok());
            events.push(TimelineEvent {
                at: parcours_events::format_timestamp(at),
                kind,
                name,
                properties,
            });
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(Timeline {
        customer,
        place,
        events,
    })
}

/// The members `ids`, each with the user id and email a CRM joins on.
pub fn members(data: &Path, ids: &[u64]) -> Result<Vec<Member>, String> {
    let contacts = parcours_store::scan::contact_ids(data).map_err(|e| e.to_string())?;
    Ok(ids
        .iter()
        .map(|&id| {
            let contact = contacts.get(&id).cloned().unwrap_or_default();
            Member {
                customer: id,
                user_id: contact.user_id,
                email: contact.email,
            }
        })
        .collect())
}

/// Members as CSV: `customer,user_id,email`, one line each.
pub fn members_csv(members: &[Member]) -> String {
    let mut out = String::from("customer,user_id,email\n");
    for m in members {
        out.push_str(&format!(
            "{},{},{}\n",
            m.customer,
            csv_cell(m.user_id.as_deref().unwrap_or("")),
            csv_cell(m.email.as_deref().unwrap_or(""))
        ));
    }
    out
}

/// A CSV cell, quoted when it must be; a cell a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) is quoted behind an apostrophe.
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        let members = [
            Member {
                customer: 1,
                user_id: Some("u,1".into()),
                email: Some("a\"b@x.fr".into()),
            },
            Member {
                customer: 2,
                user_id: Some("=HYPERLINK(\"x\")".into()),
                email: None,
            },
        ];
        assert_eq!(
            members_csv(&members),
            "customer,user_id,email\n1,\"u,1\",\"a\"\"b@x.fr\"\n2,\"'=HYPERLINK(\"\"x\"\")\",\n"
        );
    }
}
