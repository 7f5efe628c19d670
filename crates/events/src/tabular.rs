//! Rows of tables (CSV, Parquet) into events, with column roles found from the header.
//!
//! A column's role is found from its name (`user_id`, `event_name`, `created_at`, ...) or
//! forced with an override; every other column becomes an event property.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use crate::key::{ContentKey, from_message_id};
use crate::{Event, EventRef, MessageType, Rejection, parse_epoch, parse_timestamp};

/// What a column means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The customer's user id.
    User,
    /// The customer's email address.
    Email,
    /// An anonymous (device, browser) id.
    Anonymous,
    /// The event name.
    Event,
    /// When it happened.
    Timestamp,
    /// A unique id of the row, used for dedup.
    MessageId,
    /// The Segment message type (track, page, ...).
    Type,
}

impl Role {
    /// Every role, in the order columns are matched.
    pub const ALL: [Role; 7] = [
        Role::User,
        Role::Email,
        Role::Anonymous,
        Role::Event,
        Role::Timestamp,
        Role::MessageId,
        Role::Type,
    ];

    /// The name used in `--column ROLE=NAME`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Email => "email",
            Role::Anonymous => "anonymous",
            Role::Event => "event",
            Role::Timestamp => "timestamp",
            Role::MessageId => "message_id",
            Role::Type => "type",
        }
    }

    /// The role with this name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Column names that take this role automatically, compared case-insensitively.
    pub fn column_names(self) -> &'static [&'static str] {
        match self {
            Role::User => &["user_id", "userid", "customer_id", "customerid", "user"],
            Role::Email => &["email", "email_address", "mail"],
            Role::Anonymous => &["anonymous_id", "anonymousid", "visitor_id", "device_id"],
            Role::Event => &["event", "event_name", "event_type", "action"],
            Role::Timestamp => &[
                "timestamp",
                "time",
                "event_time",
                "date",
                "created_at",
                "occurred_at",
            ],
            Role::MessageId => &["message_id", "messageid", "event_id"],
            // Never automatic: a "type" column is as often a product type.
            Role::Type => &[],
        }
    }
}

/// A problem with the header itself: the file cannot be imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    /// A needed role has no column.
    #[error("no {role} column: name one {expected}, or pass --column {flag}=COLUMN")]
    Missing {
        /// Role name.
        role: &'static str,
        /// The names looked for.
        expected: String,
        /// Role as written on the command line.
        flag: &'static str,
    },
    /// An override names a column that is not there.
    #[error("--column {role}={column}: there is no column `{column}` (columns: {columns})")]
    UnknownColumn {
        /// Role name.
        role: &'static str,
        /// The column asked for.
        column: String,
        /// The columns present.
        columns: String,
    },
}

/// The role of each column of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Column names, in order.
    pub names: Vec<String>,
    /// Role of each column, `None` for properties.
    pub roles: Vec<Option<Role>>,
    /// Column of each role (by `Role::ALL` position), looked up once per row.
    by_role: [Option<usize>; 7],
}

impl Columns {
    /// Finds roles from `names`; `overrides` (role, column name) take precedence.
    pub fn detect(names: &[String], overrides: &[(Role, String)]) -> Result<Columns, ColumnError> {
        let mut roles: Vec<Option<Role>> = vec![None; names.len()];
        for (role, column) in overrides {
            let index = names.iter().position(|n| n == column).ok_or_else(|| {
                ColumnError::UnknownColumn {
                    role: role.as_str(),
                    column: column.clone(),
                    columns: names.join(", "),
                }
            })?;
            for r in roles.iter_mut().filter(|r| **r == Some(*role)) {
                *r = None;
            }
            roles[index] = Some(*role);
        }
        for role in Role::ALL {
            if roles.contains(&Some(role)) {
                continue;
            }
            // Earlier names in the list win: `event` before `action`.
            let found = role.column_names().iter().find_map(|wanted| {
                names
                    .iter()
                    .enumerate()
                    .find(|(i, n)| roles[*i].is_none() && n.trim().eq_ignore_ascii_case(wanted))
                    .map(|(i, _)| i)
            });
            if let Some(index) = found {
                roles[index] = Some(role);
            }
        }
        let by_role = Role::ALL.map(|role| roles.iter().position(|r| *r == Some(role)));
        let columns = Columns {
            names: names.to_vec(),
            roles,
            by_role,
        };
        for (role, flag) in [(Role::Event, "event"), (Role::Timestamp, "timestamp")] {
            if !columns.roles.contains(&Some(role)) {
                return Err(ColumnError::Missing {
                    role: flag,
                    expected: format!("of {}", role.column_names().join(", ")),
                    flag,
                });
            }
        }
        if ![Role::User, Role::Email, Role::Anonymous]
            .iter()
            .any(|r| columns.roles.contains(&Some(*r)))
        {
            let mut expected: Vec<&str> = Vec::new();
            for role in [Role::User, Role::Email, Role::Anonymous] {
                expected.extend(role.column_names());
            }
            return Err(ColumnError::Missing {
                role: "customer",
                expected: format!("of {}", expected.join(", ")),
                flag: "user",
            });
        }
        Ok(columns)
    }

    /// The column with a role, if any.
    pub fn index_of(&self, role: Role) -> Option<usize> {
        self.by_role[role as usize]
    }
}

/// One value of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// Empty or null.
    Null,
    /// Text (CSV values are always text; numbers and booleans are recognised in properties).
    Text(&'a str),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, in milliseconds since 1970 UTC.
    Timestamp(i64),
}

impl Cell<'_> {
    fn text(&self) -> Option<String> {
        match *self {
            Cell::Null => None,
            Cell::Text(t) => Some(t.trim_ascii().to_string()).filter(|t| !t.is_empty()),
            Cell::Int(i) => Some(i.to_string()),
            Cell::Float(f) => Some(f.to_string()),
            Cell::Bool(b) => Some(b.to_string()),
            Cell::Timestamp(ms) => Some(crate::format_timestamp(ms)),
        }
    }

    /// Writes the cell as a JSON value; text that reads as a number or boolean becomes one,
    /// except numbers with leading zeros (postal codes, ids).
    fn write_json(&self, out: &mut String) {
        match *self {
            Cell::Null => out.push_str("null"),
            Cell::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Cell::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Cell::Float(_) => out.push_str("null"),
            Cell::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Cell::Timestamp(ms) => write_json_string(out, &crate::format_timestamp(ms)),
            Cell::Text(t) => {
                let leading_zero = t.len() > 1 && t.starts_with('0') && !t.starts_with("0.");
                if !leading_zero && let Ok(i) = t.parse::<i64>() {
                    let _ = write!(out, "{i}");
                } else if !leading_zero
                    && t.bytes().any(|b| b.is_ascii_digit())
                    && let Ok(f) = t.parse::<f64>()
                    && f.is_finite()
                {
                    let _ = write!(out, "{f}");
                } else if t == "true" || t == "false" {
                    out.push_str(t);
                } else {
                    write_json_string(out, t);
                }
            }
        }
    }
}

fn write_json_string(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let mut clean = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b if b < 0x20 => "",
            _ => continue,
        };
        // Copy the run of characters that need no escape, then the escape.
        out.push_str(&text[clean..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        clean = i + 1;
    }
    out.push_str(&text[clean..]);
    out.push('"');
}

/// Buffers reused from row to row by [`row_to_view`], so that reading a table allocates
/// nothing per row.
#[derive(Default)]
pub struct RowScratch {
    /// Text rendered from role cells that are not text (Parquet numbers, timestamps).
    rendered: [String; 7],
    email: String,
    properties: String,
    key: ContentKey,
}

/// The trimmed text of a role cell, `None` when absent or empty; other cells are rendered
/// into `buffer`.
fn role_text<'s>(cell: Option<&Cell<'s>>, buffer: &'s mut String) -> Option<&'s str> {
    let text = match cell? {
        Cell::Null => return None,
        Cell::Text(t) => t.trim_ascii(),
        other => {
            buffer.clear();
            buffer.push_str(&other.text()?);
            buffer.as_str()
        }
    };
    (!text.is_empty()).then_some(text)
}

/// Turns one row into a borrowed event, its text pointing into `cells` and `scratch`.
/// `cells` has one value per column of `columns`.
pub fn row_to_view<'s>(
    columns: &Columns,
    cells: &[Cell<'s>],
    zone: Option<&TimeZone>,
    scratch: &'s mut RowScratch,
) -> Result<EventRef<'s>, Rejection> {
    if cells.len() != columns.names.len() {
        return Err(Rejection::new(format!(
            "the row has {} fields, the header {}",
            cells.len(),
            columns.names.len()
        )));
    }
    let get = |role: Role| columns.index_of(role).map(|i| &cells[i]);
    let RowScratch {
        rendered,
        email: email_buffer,
        properties,
        key,
    } = scratch;
    let [
        user_buffer,
        email_text_buffer,
        anonymous_buffer,
        name_buffer,
        _,
        message_buffer,
        type_buffer,
    ] = rendered;
    let name = role_text(get(Role::Event), name_buffer).ok_or_else(|| {
        Rejection::new(format!(
            "empty event name in column `{}`",
            columns.names[columns.index_of(Role::Event).unwrap_or(0)]
        ))
    })?;
    let timestamp_column = &columns.names[columns.index_of(Role::Timestamp).unwrap_or(0)];
    let timestamp =
        match get(Role::Timestamp) {
            None | Some(Cell::Null) => None,
            Some(Cell::Timestamp(ms)) => Some(*ms),
            Some(Cell::Int(i)) => Some(parse_epoch(*i as f64).ok_or_else(|| {
                Rejection::new(format!("`{timestamp_column}` {i} is out of range"))
            })?),
            Some(Cell::Float(f)) => Some(parse_epoch(*f).ok_or_else(|| {
                Rejection::new(format!("`{timestamp_column}` {f} is out of range"))
            })?),
            Some(Cell::Text(t)) if t.trim_ascii().is_empty() => None,
            Some(Cell::Text(t)) => Some(
                parse_timestamp(t, zone)
                    .map_err(|e| Rejection::new(format!("`{timestamp_column}`: {e}")))?,
            ),
            Some(Cell::Bool(_)) => {
                return Err(Rejection::new(format!(
                    "`{timestamp_column}` is a boolean, not a timestamp"
                )));
            }
        };
    let timestamp = timestamp.ok_or_else(|| {
        Rejection::new(format!("missing timestamp in column `{timestamp_column}`"))
    })?;
    let user_id = role_text(get(Role::User), user_buffer);
    let anonymous_id = role_text(get(Role::Anonymous), anonymous_buffer);
    let email = match role_text(get(Role::Email), email_text_buffer) {
        Some(raw) => {
            if !crate::normalize_email_into(raw, email_buffer) {
                return Err(Rejection::new(format!("{raw:?} is not an email address")));
            }
            Some(email_buffer.as_str())
        }
        None => None,
    };
    if user_id.is_none() && anonymous_id.is_none() && email.is_none() {
        return Err(Rejection::new(
            "no customer: the user, email and anonymous id columns are all empty",
        ));
    }
    let kind = match role_text(get(Role::Type), type_buffer) {
        Some(t) => MessageType::from_name(t)
            .ok_or_else(|| Rejection::new(format!("unknown message type `{t}`")))?,
        None => MessageType::Track,
    };
    let message_id = role_text(get(Role::MessageId), message_buffer);
    properties.clear();
    properties.push('{');
    for (index, role) in columns.roles.iter().enumerate() {
        if role.is_some()
            || matches!(cells[index], Cell::Null)
            || matches!(cells[index], Cell::Text(t) if t.is_empty())
        {
            continue;
        }
        if properties.len() > 1 {
            properties.push(',');
        }
        write_json_string(properties, &columns.names[index]);
        properties.push(':');
        cells[index].write_json(properties);
    }
    properties.push('}');
    let key = match message_id {
        Some(id) => from_message_id(id),
        None => {
            key.clear();
            key.field(Some(b"row"));
            for cell in cells {
                match cell {
                    // The common case, without allocating: the trimmed text, absent when empty.
                    Cell::Text(t) => {
                        let t = t.trim_ascii();
                        key.field((!t.is_empty()).then_some(t.as_bytes()));
                    }
                    other => {
                        key.field(other.text().as_deref().map(str::as_bytes));
                    }
                }
            }
            key.finish()
        }
    };
    Ok(EventRef {
        kind,
        name,
        user_id,
        anonymous_id,
        email,
        previous_id: None,
        group_id: None,
        message_id,
        timestamp,
        properties: (properties.len() > 2).then_some(properties.as_str()),
        traits: None,
        context: None,
        key,
    })
}

/// Turns one row into an owned event. `cells` has one value per column of `columns`.
pub fn row_to_event(
    columns: &Columns,
    cells: &[Cell<'_>],
    zone: Option<&TimeZone>,
) -> Result<Event, Rejection> {
    let mut scratch = RowScratch::default();
    row_to_view(columns, cells, zone, &mut scratch).map(|view| view.to_event())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    proptest::proptest! {
        /// Any text written as a JSON string reads back as itself.
        #[test]
        fn json_strings_round_trip(text in "\\PC*|[\"\\\\\\n\\t\\x00-\\x1f]{0,8}") {
            let mut out = String::new();
            write_json_string(&mut out, &text);
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&out).unwrap(), text);
        }
    }

    #[test]
    fn role_positions_follow_declaration_order() {
        for (i, role) in Role::ALL.iter().enumerate() {
            assert_eq!(*role as usize, i, "{role:?}");
        }
    }

    #[test]
    fn roles_come_from_header_names() {
        let columns = Columns::detect(
            &names(&["Customer_ID", "event_name", "created_at", "price", "email"]),
            &[],
        )
        .unwrap();
        assert_eq!(
            columns.roles,
            [
                Some(Role::User),
                Some(Role::Event),
                Some(Role::Timestamp),
                None,
                Some(Role::Email)
            ]
        );
    }

    #[test]
    fn overrides_win_and_unknown_columns_are_named() {
        let header = names(&["who", "what", "when", "event"]);
        let columns = Columns::detect(
            &header,
            &[
                (Role::User, "who".into()),
                (Role::Event, "what".into()),
                (Role::Timestamp, "when".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            columns.roles,
            [
                Some(Role::User),
                Some(Role::Event),
                Some(Role::Timestamp),
                None
            ]
        );
        let err = Columns::detect(&header, &[(Role::User, "whom".into())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--column user=whom: there is no column `whom` (columns: who, what, when, event)"
        );
    }

    #[test]
    fn missing_roles_say_what_to_name() {
        let err = Columns::detect(&names(&["user_id", "event"]), &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("no timestamp column: name one of timestamp, time"),
            "{err}"
        );
        let err = Columns::detect(&names(&["event", "time"]), &[]).unwrap_err();
        assert!(err.to_string().starts_with("no customer column"), "{err}");
    }

    #[test]
    fn rows_become_events_with_typed_properties() {
        let columns = Columns::detect(
            &names(&[
                "user_id",
                "event",
                "timestamp",
                "price",
                "zip",
                "paid",
                "note",
            ]),
            &[],
        )
        .unwrap();
        let cells = [
            Cell::Text("u1"),
            Cell::Text("purchase"),
            Cell::Text("2026-03-01 09:30:00"),
            Cell::Text("19.90"),
            Cell::Text("01200"),
            Cell::Text("true"),
            Cell::Text("dit \"bonjour\""),
        ];
        let event = row_to_event(&columns, &cells, None).unwrap();
        assert_eq!(event.name, "purchase");
        assert_eq!(event.timestamp, 1_772_357_400_000);
        assert_eq!(
            event.properties.as_deref(),
            Some(r#"{"price":19.9,"zip":"01200","paid":true,"note":"dit \"bonjour\""}"#)
        );
        let parsed: serde_json::Value =
            serde_json::from_str(event.properties.as_deref().unwrap()).unwrap();
        assert_eq!(parsed["price"], 19.9);
    }

    #[test]
    fn bad_rows_are_explained() {
        let columns = Columns::detect(&names(&["user_id", "event", "timestamp"]), &[]).unwrap();
        let reason = |cells: &[Cell<'_>]| row_to_event(&columns, cells, None).unwrap_err().reason;
        assert_eq!(
            reason(&[Cell::Text("u"), Cell::Text("x"), Cell::Text("")]),
            "missing timestamp in column `timestamp`"
        );
        assert!(
            reason(&[Cell::Text("u"), Cell::Text("x"), Cell::Text("hier")])
                .starts_with("`timestamp`: `hier` is not a timestamp")
        );
        assert_eq!(
            reason(&[Cell::Text(""), Cell::Text("x"), Cell::Text("2026-03-01")]),
            "no customer: the user, email and anonymous id columns are all empty"
        );
        assert_eq!(
            reason(&[Cell::Text("u"), Cell::Text(" "), Cell::Text("2026-03-01")]),
            "empty event name in column `event`"
        );
        assert_eq!(
            reason(&[Cell::Text("u")]),
            "the row has 1 fields, the header 3"
        );
    }

    #[test]
    fn identical_rows_share_a_key() {
        let columns = Columns::detect(&names(&["user_id", "event", "timestamp"]), &[]).unwrap();
        let a = row_to_event(
            &columns,
            &[Cell::Text("u"), Cell::Text("x"), Cell::Text("2026-03-01")],
            None,
        )
        .unwrap();
        let b = row_to_event(
            &columns,
            &[Cell::Text("u"), Cell::Text("x"), Cell::Text("2026-03-01")],
            None,
        )
        .unwrap();
        let c = row_to_event(
            &columns,
            &[Cell::Text("v"), Cell::Text("x"), Cell::Text("2026-03-01")],
            None,
        )
        .unwrap();
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
    }
}
