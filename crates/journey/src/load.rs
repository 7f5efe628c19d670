//! Reads a journey file into a [`Journey`], reporting every problem with its location.
//!
//! The loader walks the spanned TOML tree itself rather than deserialising with serde:
//! serde stops at the first problem, while a user fixing a file wants all of them at once,
//! each pointing at the exact key or value.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use parcours_expr::suggest::closest;
use parcours_expr::{Context, Duration, Names, Scope, compile};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::builtin::{BuiltinKpi, Shape};
use crate::diagnostic::{Diagnostic, Report, SourceFile};
use crate::model::*;
use crate::strings::StringMap;
use crate::template_vars::check_placeholders;

/// A journey file after loading: the journey if it is usable, and what was found.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The journey, present when there is no error (warnings allowed).
    pub journey: Option<Journey>,
    /// Every error and warning, located.
    pub report: Report,
}

/// Why a journey file could not even be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")]
    NotUtf8 {
        /// The path given.
        path: PathBuf,
        /// First invalid byte.
        offset: usize,
    },
}

/// Reads and validates the journey file at `path`; play templates are looked up next to it.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(load_str(&path.display().to_string(), &text, Some(base)))
}

/// Validates journey text. `name` is shown in messages; when `base_dir` is given, play
/// templates must exist relative to it.
pub fn load_str(name: &str, text: &str, base_dir: Option<&Path>) -> Loaded {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut loader = Loader {
        text,
        diagnostics: Vec::new(),
        base_dir,
    };
    let journey = loader.run();
    let report = Report::new(SourceFile::new(name, text), loader.diagnostics);
    let journey = if report.has_errors() { None } else { journey };
    Loaded { journey, report }
}

const SECTIONS: [&str; 7] = [
    "journey",
    "persona",
    "touchpoint",
    "stage",
    "kpi",
    "segment",
    "play",
];
const JOURNEY_KEYS: [&str; 8] = [
    "id",
    "name",
    "description",
    "goal",
    "kind",
    "window",
    "timezone",
    "lang",
];
const PERSONA_KEYS: [&str; 6] = ["id", "name", "description", "rule", "goals", "motivations"];
const TOUCHPOINT_KEYS: [&str; 7] = [
    "id",
    "name",
    "channel",
    "description",
    "match",
    "at",
    "personas",
];
const STAGE_KEYS: [&str; 14] = [
    "id",
    "name",
    "description",
    "goal",
    "enter",
    "touchpoints",
    "actions",
    "motivations",
    "thoughts",
    "emotion",
    "pain_points",
    "opportunities",
    "owner",
    "hours",
];
const KPI_KEYS: [&str; 13] = [
    "id",
    "stage",
    "name",
    "builtin",
    "numerator",
    "denominator",
    "per",
    "events",
    "property",
    "unit",
    "target",
    "direction",
    "description",
];
const SEGMENT_KEYS: [&str; 4] = ["id", "name", "description", "rule"];
const PLAY_KEYS: [&str; 12] = [
    "id",
    "name",
    "description",
    "when",
    "segment",
    "persona",
    "template",
    "subject",
    "from",
    "holdout",
    "cap",
    "quiet_hours",
];
const WHEN_KEYS: [&str; 4] = ["enters", "stalled_in", "for", "event"];

/// Every table of a journey file with the keys it accepts (`play.when` is the trigger table).
pub const SECTION_KEYS: [(&str, &[&str]); 8] = [
    ("journey", &JOURNEY_KEYS),
    ("persona", &PERSONA_KEYS),
    ("touchpoint", &TOUCHPOINT_KEYS),
    ("stage", &STAGE_KEYS),
    ("kpi", &KPI_KEYS),
    ("segment", &SEGMENT_KEYS),
    ("play", &PLAY_KEYS),
    ("play.when", &WHEN_KEYS),
];

/// A value and where it was written.
#[derive(Clone, Debug)]
struct At<T> {
    value: T,
    span: Range<usize>,
}

/// One TOML table being read, and how to name it in messages.
struct Section<'t, 'a> {
    table: &'t DeTable<'a>,
    span: Range<usize>,
    label: String,
}

impl<'t, 'a> Section<'t, 'a> {
    fn get(&self, key: &str) -> Option<&'t Spanned<DeValue<'a>>> {
        self.table.get(key)
    }
}

/// The ids declared in the file, gathered before anything else so expressions can be checked.
#[derive(Default)]
struct Declared {
    stages: Vec<String>,
    personas: Vec<String>,
    touchpoints: Vec<String>,
    segments: Vec<String>,
}

struct Loader<'a> {
    text: &'a str,
    diagnostics: Vec<Diagnostic>,
    base_dir: Option<&'a Path>,
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "text",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<String> {
    closest(word, candidates).map(|near| format!("did you mean `{near}`?"))
}

fn parse_time(text: &str) -> Option<TimeOfDay> {
    let (hours, minutes) = text.trim().split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    match (hours, minutes) {
        (24, 0) => Some(TimeOfDay(0)),
        (0..=23, 0..=59) => Some(TimeOfDay(hours * 60 + minutes)),
        _ => None,
    }
}

fn parse_range(text: &str) -> Option<TimeRange> {
    let (start, end) = text.split_once('-')?;
    Some(TimeRange {
        start: parse_time(start)?,
        end: parse_time(end)?,
    })
}

/// Stages a journey may have: an analysis keeps the stages an event meets as the bits of
/// one 64-bit word.
pub const MAX_STAGES: usize = 64;

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl<'a> Loader<'a> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn run(&mut self) -> Option<Journey> {
        let (document, syntax_errors) = DeTable::parse_recoverable(self.text);
        let syntax_lines: Vec<usize> = syntax_errors
            .iter()
            .map(|e| {
                let span = e.span().unwrap_or(0..0);
                self.text[..span.start.min(self.text.len())]
                    .matches('\n')
                    .count()
            })
            .collect();
        for error in &syntax_errors {
            let span = error.span().unwrap_or(0..0);
            let message = error.message().trim().trim_end_matches('.');
            self.push(Diagnostic::error(
                "toml-syntax",
                span,
                format!("TOML syntax: {message}"),
            ));
        }
        let journey = self.read_document(document.get_ref());
        if !syntax_lines.is_empty() {
            // A value the TOML parser could not read would also be reported as missing or
            // mistyped; the syntax error on that line is the one to fix.
            let text = self.text;
            self.diagnostics.retain(|d| {
                d.code == "toml-syntax"
                    || !syntax_lines
                        .contains(&text[..d.span.start.min(text.len())].matches('\n').count())
            });
        }
        journey
    }

    fn read_document(&mut self, doc: &DeTable<'a>) -> Option<Journey> {
        for (key, value) in doc.iter() {
            let name = key.get_ref().as_ref();
            if !SECTIONS.contains(&name) {
                let singular = name.strip_suffix('s').filter(|s| SECTIONS.contains(s));
                let hint = match singular {
                    Some(s) => Some(format!("sections are singular: [[{s}]]")),
                    None => did_you_mean(name, SECTIONS)
                        .or_else(|| Some(format!("sections are {}", SECTIONS.join(", ")))),
                };
                self.push(
                    Diagnostic::error(
                        "unknown-key",
                        key.span(),
                        format!("unknown section `{name}`"),
                    )
                    .with_hint_opt(hint),
                );
                continue;
            }
            let is_array = matches!(value.get_ref(), DeValue::Array(_));
            if name == "journey" && is_array {
                self.push(
                    Diagnostic::error("bad-section", value.span(), "there is one journey per file")
                        .with_hint("write [journey], not [[journey]]"),
                );
            } else if name != "journey" && !is_array {
                self.push(
                    Diagnostic::error(
                        "bad-section",
                        value.span(),
                        format!("`{name}` must be a list of tables"),
                    )
                    .with_hint(format!("declare each one under its own [[{name}]] header")),
                );
            }
        }

        let header = match doc.get("journey").map(|v| (v.get_ref(), v.span())) {
            Some((DeValue::Table(table), span)) => Some(Section {
                table,
                span,
                label: "[journey]".into(),
            }),
            Some(_) => None,
            None => {
                self.push(
                    Diagnostic::error("missing-key", 0..0, "the file has no [journey] table")
                        .with_hint("start with [journey] and its id and name"),
                );
                None
            }
        };

        let personas_raw = self.sections(doc, "persona");
        let touchpoints_raw = self.sections(doc, "touchpoint");
        let stages_raw = self.sections(doc, "stage");
        let kpis_raw = self.sections(doc, "kpi");
        let segments_raw = self.sections(doc, "segment");
        let plays_raw = self.sections(doc, "play");

        let declared = Declared {
            stages: ids_of(&stages_raw),
            personas: ids_of(&personas_raw),
            touchpoints: ids_of(&touchpoints_raw),
            segments: ids_of(&segments_raw),
        };
        let names = Names {
            stages: &declared.stages,
            personas: &declared.personas,
            touchpoints: &declared.touchpoints,
            channels: &Channel::NAMES,
        };

        let head = header.as_ref().map(|h| self.journey_header(h));
        let kind = head.as_ref().map_or(Kind::Current, |h| h.kind);

        let personas: Vec<Persona> = personas_raw
            .iter()
            .filter_map(|s| self.persona(s, names))
            .collect();
        let touchpoints: Vec<Touchpoint> = touchpoints_raw
            .iter()
            .filter_map(|s| self.touchpoint(s, names, kind))
            .collect();
        let stages: Vec<Stage> = stages_raw
            .iter()
            .filter_map(|s| self.stage(s, names, kind))
            .collect();
        let kpis: Vec<Kpi> = kpis_raw
            .iter()
            .filter_map(|s| self.kpi(s, names, kind))
            .collect();
        let segments: Vec<Segment> = segments_raw
            .iter()
            .filter_map(|s| self.segment(s, names))
            .collect();
        let plays: Vec<Play> = plays_raw
            .iter()
            .filter_map(|s| self.play(s, names, &declared))
            .collect();

        for (kind_name, sections) in [
            ("persona", &personas_raw),
            ("touchpoint", &touchpoints_raw),
            ("stage", &stages_raw),
            ("kpi", &kpis_raw),
            ("segment", &segments_raw),
            ("play", &plays_raw),
        ] {
            self.duplicates(kind_name, sections);
        }

        if stages_raw.is_empty() {
            let span = header.as_ref().map_or(0..0, |h| h.span.clone());
            self.push(
                Diagnostic::error("empty-journey", span, "the journey has no stages").with_hint(
                    "add at least one [[stage]] with an id, a name and an `enter` condition",
                ),
            );
        }
        if let Some(extra) = stages_raw.get(MAX_STAGES) {
            self.push(
                Diagnostic::error(
                    "too-many-stages",
                    extra.span.clone(),
                    format!(
                        "the journey has {} stages; at most {MAX_STAGES} are measured",
                        stages_raw.len()
                    ),
                )
                .with_hint(
                    "merge stages that customers go through together, or split the journey into \
                     several files",
                ),
            );
        }
        if kind != Kind::DayInTheLife {
            self.unused_touchpoints(&touchpoints_raw, &stages_raw);
        }

        let head = head?;
        Some(Journey {
            id: head.id?,
            name: head.name?,
            description: head.description,
            goal: head.goal,
            kind: head.kind,
            window: head.window,
            timezone: head.timezone,
            lang: head.lang,
            personas,
            touchpoints,
            stages,
            kpis,
            segments,
            plays,
        })
    }

    /// The tables under `[[name]]`, skipping entries that are not tables (reported).
    fn sections<'t>(&mut self, doc: &'t DeTable<'a>, name: &str) -> Vec<Section<'t, 'a>> {
        let Some(value) = doc.get(name) else {
            return Vec::new();
        };
        let DeValue::Array(items) = value.get_ref() else {
            return Vec::new();
        };
        let mut sections = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.get_ref() {
                DeValue::Table(table) => {
                    let label = match table.get("id").map(|v| v.get_ref()) {
                        Some(DeValue::String(id)) => format!("{name} `{id}`"),
                        _ => format!("{name} #{}", index + 1),
                    };
                    sections.push(Section {
                        table,
                        span: item.span(),
                        label,
                    });
                }
                other => self.push(Diagnostic::error(
                    "bad-type",
                    item.span(),
                    format!("each `{name}` must be a table, found {}", type_name(other)),
                )),
            }
        }
        sections
    }

    fn duplicates(&mut self, kind: &str, sections: &[Section<'_, 'a>]) {
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        for section in sections {
            let Some(value) = section.get("id") else {
                continue;
            };
            let DeValue::String(id) = value.get_ref() else {
                continue;
            };
            if let Some(first) = seen.get(id.as_ref()) {
                let line = self.text[..first.start].matches('\n').count() + 1;
                self.push(
                    Diagnostic::error(
                        "duplicate-id",
                        value.span(),
                        format!("duplicate {kind} id `{id}`"),
                    )
                    .with_hint(format!(
                        "the first {kind} `{id}` is on line {line}; ids must be unique"
                    )),
                );
            } else {
                seen.insert(id.to_string(), value.span());
            }
        }
    }

    fn unused_touchpoints(&mut self, touchpoints: &[Section<'_, 'a>], stages: &[Section<'_, 'a>]) {
        let mut used: Vec<String> = Vec::new();
        for stage in stages {
            if let Some(DeValue::Array(items)) = stage.get("touchpoints").map(|v| v.get_ref()) {
                used.extend(items.iter().filter_map(|i| match i.get_ref() {
                    DeValue::String(s) => Some(s.to_string()),
                    _ => None,
                }));
            }
        }
        for touchpoint in touchpoints {
            if let Some(value) = touchpoint.get("id")
                && let DeValue::String(id) = value.get_ref()
                && !used.iter().any(|u| u == id.as_ref())
            {
                self.push(
                    Diagnostic::warning(
                        "unused-touchpoint",
                        value.span(),
                        format!("touchpoint `{id}` is on no stage, so the map does not show it"),
                    )
                    .with_hint("list it in the `touchpoints` of the stages where customers use it"),
                );
            }
        }
    }

    // ---- typed getters: each reports a located problem and returns None on failure ----

    fn check_keys(&mut self, section: &Section<'_, 'a>, allowed: &[&str]) {
        for (key, _) in section.table.iter() {
            let name = key.get_ref().as_ref();
            if !allowed.contains(&name) {
                let hint = did_you_mean(name, allowed.iter().copied())
                    .unwrap_or_else(|| format!("allowed keys: {}", allowed.join(", ")));
                self.push(
                    Diagnostic::error(
                        "unknown-key",
                        key.span(),
                        format!("unknown key `{name}` in {}", section.label),
                    )
                    .with_hint(hint),
                );
            }
        }
    }

    fn wrong_type(
        &mut self,
        section: &Section<'_, 'a>,
        key: &str,
        span: Range<usize>,
        want: &str,
        found: &DeValue<'_>,
    ) {
        self.push(Diagnostic::error(
            "bad-type",
            span,
            format!(
                "`{key}` in {} must be {want}, found {}",
                section.label,
                type_name(found)
            ),
        ));
    }

    fn missing(&mut self, section: &Section<'_, 'a>, key: &str, example: &str) {
        self.push(
            Diagnostic::error(
                "missing-key",
                section.span.clone(),
                format!("{} has no `{key}`", section.label),
            )
            .with_hint(format!("add {example}")),
        );
    }

    fn text(&mut self, section: &Section<'_, 'a>, key: &str) -> Option<At<String>> {
        let value = section.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(At {
                value: s.to_string(),
                span: value.span(),
            }),
            other => {
                self.wrong_type(section, key, value.span(), "text in quotes", other);
                None
            }
        }
    }

    fn required_text(
        &mut self,
        section: &Section<'_, 'a>,
        key: &str,
        example: &str,
    ) -> Option<At<String>> {
        if section.get(key).is_none() {
            self.missing(section, key, example);
            return None;
        }
        self.text(section, key)
    }

    fn id(&mut self, section: &Section<'_, 'a>, example: &str) -> Option<String> {
        let id = self.required_text(section, "id", example)?;
        if !valid_id(&id.value) {
            self.push(
                Diagnostic::error("bad-id", id.span, format!("`{}` is not a valid id", id.value))
                    .with_hint("ids are used in conditions and reports: letters, digits, `_` and `-`, starting with a letter or digit"),
            );
            return None;
        }
        Some(id.value)
    }

    /// A list of texts; a single text is accepted as a list of one.
    fn texts(&mut self, section: &Section<'_, 'a>, key: &str) -> Vec<At<String>> {
        let Some(value) = section.get(key) else {
            return Vec::new();
        };
        match value.get_ref() {
            DeValue::String(s) => vec![At {
                value: s.to_string(),
                span: value.span(),
            }],
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| match item.get_ref() {
                    DeValue::String(s) => Some(At {
                        value: s.to_string(),
                        span: item.span(),
                    }),
                    other => {
                        self.wrong_type(section, key, item.span(), "a list of texts", other);
                        None
                    }
                })
                .collect(),
            other => {
                self.wrong_type(section, key, value.span(), "a list of texts", other);
                Vec::new()
            }
        }
    }

    fn number(&mut self, section: &Section<'_, 'a>, key: &str) -> Option<At<f64>> {
        let value = section.get(key)?;
        let number = match value.get_ref() {
            DeValue::Integer(i) => i
                .as_str()
                .replace('_', "")
                .parse::<i64>()
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            other => {
                self.wrong_type(section, key, value.span(), "a number", other);
                return None;
            }
        };
        match number {
            Some(n) if n.is_finite() => Some(At {
                value: n,
                span: value.span(),
            }),
            _ => {
                self.push(Diagnostic::error(
                    "bad-value",
                    value.span(),
                    format!("`{key}` in {} must be a finite number", section.label),
                ));
                None
            }
        }
    }

    fn duration(&mut self, section: &Section<'_, 'a>, key: &str) -> Option<Duration> {
        let text = self.text(section, key)?;
        match text.value.parse::<Duration>() {
            Ok(d) if d.as_secs() > 0 => Some(d),
            Ok(_) => {
                self.push(Diagnostic::error(
                    "bad-duration",
                    text.span,
                    format!("`{key}` in {} must be longer than zero", section.label),
                ));
                None
            }
            Err(e) => {
                self.push(
                    Diagnostic::error("bad-duration", text.span, e.to_string()).with_hint(e.hint()),
                );
                None
            }
        }
    }

    /// A text that must be one of `names`.
    fn choice<T>(
        &mut self,
        section: &Section<'_, 'a>,
        key: &str,
        names: &[&str],
        pick: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.text(section, key)?;
        if let Some(value) = pick(&text.value) {
            return Some(value);
        }
        let hint = did_you_mean(&text.value, names.iter().copied())
            .unwrap_or_else(|| format!("choose one of: {}", names.join(", ")));
        self.push(
            Diagnostic::error(
                "bad-value",
                text.span,
                format!("`{}` is not a valid `{key}`", text.value),
            )
            .with_hint(hint),
        );
        None
    }

    /// Checks that `reference` names one of `known` (a `kind` such as "stage").
    fn reference(&mut self, reference: &At<String>, kind: &str, known: &[String]) -> bool {
        if known.iter().any(|k| k == &reference.value) {
            return true;
        }
        let hint =
            did_you_mean(&reference.value, known.iter().map(String::as_str)).unwrap_or_else(|| {
                if known.is_empty() {
                    format!("the file declares no {kind}; add a [[{kind}]]")
                } else {
                    format!("declared {kind}s: {}", known.join(", "))
                }
            });
        self.push(
            Diagnostic::error(
                "unknown-reference",
                reference.span.clone(),
                format!("unknown {kind} `{}`", reference.value),
            )
            .with_hint(hint),
        );
        false
    }

    fn condition(
        &mut self,
        section: &Section<'_, 'a>,
        key: &str,
        scope: &Scope<'_>,
    ) -> Option<Condition> {
        let text = self.text(section, key)?;
        match compile(&text.value, scope) {
            Ok(expr) => Some(Condition {
                source: text.value,
                expr,
            }),
            Err(errors) => {
                let raw = &self.text[text.span.clone()];
                let map = StringMap::new(raw, text.span.start);
                for error in errors {
                    let span = map.as_ref().map_or(text.span.clone(), |m| {
                        m.range(error.span.start..error.span.end)
                    });
                    self.push(
                        Diagnostic::error(error.code.as_str(), span, error.message)
                            .with_hint_opt(error.hint),
                    );
                }
                None
            }
        }
    }

    fn time_of_day(&mut self, text: &At<String>) -> Option<TimeOfDay> {
        let parsed = parse_time(&text.value);
        if parsed.is_none() {
            self.push(
                Diagnostic::error(
                    "bad-time",
                    text.span.clone(),
                    format!("`{}` is not a time of day", text.value),
                )
                .with_hint("write 24-hour times as HH:MM, e.g. 07:30"),
            );
        }
        parsed
    }

    fn time_range(&mut self, section: &Section<'_, 'a>, key: &str) -> Option<TimeRange> {
        let text = self.text(section, key)?;
        let parsed = parse_range(&text.value);
        if parsed.is_none() {
            self.push(
                Diagnostic::error(
                    "bad-time",
                    text.span,
                    format!("`{}` is not a range of hours", text.value),
                )
                .with_hint("write HH:MM-HH:MM, e.g. 07:00-09:30 (22:00-07:00 runs past midnight)"),
            );
        }
        parsed
    }

    // ---- sections ----

    fn journey_header(&mut self, section: &Section<'_, 'a>) -> Head {
        self.check_keys(section, &JOURNEY_KEYS);
        let id = self.id(section, r#"id = "shop""#);
        let name = self
            .required_text(section, "name", r#"name = "Online shop""#)
            .map(|t| t.value);
        let kind = if section.get("kind").is_some() {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            self.choice(section, "kind", &names, |s| {
                Kind::ALL.into_iter().find(|k| k.as_str() == s)
            })
            .unwrap_or(Kind::Current)
        } else {
            Kind::Current
        };
        let timezone = match self.text(section, "timezone") {
            Some(tz) => {
                if jiff::tz::TimeZone::get(&tz.value).is_err() {
                    self.push(
                        Diagnostic::error(
                            "bad-value",
                            tz.span,
                            format!("unknown time zone `{}`", tz.value),
                        )
                        .with_hint("use an IANA time zone name such as Europe/Paris or UTC"),
                    );
                }
                tz.value
            }
            None => "UTC".to_string(),
        };
        let lang = if section.get("lang").is_some() {
            let names: Vec<&str> = Lang::ALL.iter().map(|l| l.as_str()).collect();
            self.choice(section, "lang", &names, |s| {
                Lang::ALL.into_iter().find(|l| l.as_str() == s)
            })
            .unwrap_or(Lang::En)
        } else {
            Lang::En
        };
        Head {
            id,
            name,
            description: self.text(section, "description").map(|t| t.value),
            goal: self.text(section, "goal").map(|t| t.value),
            kind,
            window: self.duration(section, "window"),
            timezone,
            lang,
        }
    }

    fn persona(&mut self, section: &Section<'_, 'a>, names: Names<'_>) -> Option<Persona> {
        self.check_keys(section, &PERSONA_KEYS);
        let id = self.id(section, r#"id = "new_visitors""#);
        let name = self.text(section, "name").map(|t| t.value);
        let rule = self.condition(section, "rule", &Scope::customer(names));
        let persona = Persona {
            name: name.unwrap_or_else(|| id.clone().unwrap_or_default()),
            id: id?,
            description: self.text(section, "description").map(|t| t.value),
            rule,
            goals: values(self.texts(section, "goals")),
            motivations: values(self.texts(section, "motivations")),
        };
        Some(persona)
    }

    fn touchpoint(
        &mut self,
        section: &Section<'_, 'a>,
        names: Names<'_>,
        kind: Kind,
    ) -> Option<Touchpoint> {
        self.check_keys(section, &TOUCHPOINT_KEYS);
        let id = self.id(section, r#"id = "newsletter""#);
        let name = self.text(section, "name").map(|t| t.value);
        let channel = if section.get("channel").is_some() {
            self.choice(section, "channel", &Channel::NAMES, Channel::from_name)
        } else {
            self.missing(
                section,
                "channel",
                &format!("channel = \"web\" (one of {})", Channel::NAMES.join(", ")),
            );
            None
        };
        let matches = self.condition(section, "match", &Scope::event(names).without_touchpoint());
        if section.get("match").is_none() {
            self.push(
                Diagnostic::warning(
                    "not-measured",
                    section.span.clone(),
                    format!(
                        "{} has no `match`: no event will be counted on it",
                        section.label
                    ),
                )
                .with_hint(r#"add match = 'event == "..."' to measure it"#),
            );
        }
        let mut at = Vec::new();
        for time in self.texts(section, "at") {
            at.extend(self.time_of_day(&time));
        }
        if kind == Kind::DayInTheLife && at.is_empty() && section.get("at").is_none() {
            self.push(
                Diagnostic::warning(
                    "not-on-timeline",
                    section.span.clone(),
                    format!(
                        "{} has no `at` times, so the day-in-the-life timeline cannot place it",
                        section.label
                    ),
                )
                .with_hint(r#"add at = ["08:30"]"#),
            );
        }
        let personas = self.texts(section, "personas");
        for persona in &personas {
            self.reference(persona, "persona", names.personas);
        }
        Some(Touchpoint {
            name: name.unwrap_or_else(|| id.clone().unwrap_or_default()),
            id: id?,
            channel: channel?,
            description: self.text(section, "description").map(|t| t.value),
            matches,
            at,
            personas: values(personas),
        })
    }

    fn stage(&mut self, section: &Section<'_, 'a>, names: Names<'_>, kind: Kind) -> Option<Stage> {
        self.check_keys(section, &STAGE_KEYS);
        let id = self.id(section, r#"id = "consideration""#);
        let name = self.text(section, "name").map(|t| t.value);
        let enter = self.condition(section, "enter", &Scope::event(names));
        if section.get("enter").is_none() {
            self.push(
                Diagnostic::warning(
                    "not-measured",
                    section.span.clone(),
                    format!("{} has no `enter` condition: it is drawn but never measured", section.label),
                )
                .with_hint(r#"add enter = 'event == "..."' for the events that put a customer in this stage"#),
            );
        }
        let touchpoints = self.texts(section, "touchpoints");
        for touchpoint in &touchpoints {
            self.reference(touchpoint, "touchpoint", names.touchpoints);
        }
        let emotion = self.number(section, "emotion").and_then(|e| {
            if (-2.0..=2.0).contains(&e.value) {
                Some(e.value)
            } else {
                self.push(
                    Diagnostic::error(
                        "out-of-range",
                        e.span,
                        format!("emotion {} is out of range", e.value),
                    )
                    .with_hint("emotion goes from -2 (very negative) to +2 (very positive)"),
                );
                None
            }
        });
        let hours = self.time_range(section, "hours");
        if hours.is_some() && kind != Kind::DayInTheLife {
            let span = section
                .get("hours")
                .map_or(section.span.clone(), |v| v.span());
            self.push(
                Diagnostic::warning(
                    "ignored-key",
                    span,
                    "`hours` is only drawn on day-in-the-life maps",
                )
                .with_hint(r#"set kind = "day-in-the-life" in [journey], or remove `hours`"#),
            );
        }
        Some(Stage {
            name: name.unwrap_or_else(|| id.clone().unwrap_or_default()),
            id: id?,
            description: self.text(section, "description").map(|t| t.value),
            goal: self.text(section, "goal").map(|t| t.value),
            enter,
            touchpoints: values(touchpoints),
            actions: values(self.texts(section, "actions")),
            motivations: values(self.texts(section, "motivations")),
            thoughts: values(self.texts(section, "thoughts")),
            emotion,
            pain_points: values(self.texts(section, "pain_points")),
            opportunities: values(self.texts(section, "opportunities")),
            owner: self.text(section, "owner").map(|t| t.value),
            hours,
        })
    }

    fn kpi(&mut self, section: &Section<'_, 'a>, names: Names<'_>, kind: Kind) -> Option<Kpi> {
        self.check_keys(section, &KPI_KEYS);
        let builtin = if section.get("builtin").is_some() {
            let known: Vec<&str> = crate::builtin::BUILTINS.iter().map(|b| b.name).collect();
            Some(self.choice(section, "builtin", &known, BuiltinKpi::from_name)?)
        } else {
            None
        };
        let id = if section.get("id").is_none() && builtin.is_some() {
            builtin.map(|b| b.name().to_string())
        } else {
            self.id(section, r#"id = "cart_abandonment""#)
        };
        let stage = self.required_text(
            section,
            "stage",
            r#"stage = "purchase" (the stage it measures)"#,
        );
        let stage_ok = stage
            .as_ref()
            .is_some_and(|s| self.reference(s, "stage", names.stages));
        let measure = match builtin {
            Some(b) => self.builtin_measure(section, b, names),
            None => self.custom_measure(section, names),
        };
        let spec = builtin.map(BuiltinKpi::spec);
        let unit = if section.get("unit").is_some() {
            self.choice(section, "unit", &Unit::NAMES, Unit::from_name)
        } else {
            Some(spec.map_or(Unit::Percent, |s| s.unit))
        };
        let direction = if section.get("direction").is_some() {
            self.choice(section, "direction", &["higher", "lower"], |s| match s {
                "higher" => Some(Direction::Higher),
                "lower" => Some(Direction::Lower),
                _ => None,
            })
        } else {
            Some(spec.map_or(Direction::Higher, |s| s.direction))
        };
        let target = self.number(section, "target");
        if let (Some(t), Some(Unit::Percent)) = (&target, unit)
            && !(0.0..=1.0).contains(&t.value)
        {
            let hint = if t.value > 1.0 && t.value <= 100.0 {
                format!(
                    "percentages are written as fractions: {} for {} %",
                    t.value / 100.0,
                    t.value
                )
            } else {
                "percentages are written as fractions from 0 to 1".to_string()
            };
            self.push(
                Diagnostic::error(
                    "out-of-range",
                    t.span.clone(),
                    format!("target {} is not a percentage", t.value),
                )
                .with_hint(hint),
            );
        }
        if kind == Kind::Future && target.is_none() {
            self.push(
                Diagnostic::warning(
                    "no-target",
                    section.span.clone(),
                    format!(
                        "{} has no target, but a future-state map shows targets",
                        section.label
                    ),
                )
                .with_hint("add target = ..."),
            );
        }
        let name = self
            .text(section, "name")
            .map(|t| t.value)
            .or_else(|| id.clone());
        if !stage_ok {
            return None;
        }
        Some(Kpi {
            id: id?,
            stage: stage?.value,
            name: name?,
            builtin,
            measure: measure?,
            unit: unit?,
            target: target.map(|t| t.value),
            direction: direction?,
            description: self.text(section, "description").map(|t| t.value),
        })
    }

    fn builtin_measure(
        &mut self,
        section: &Section<'_, 'a>,
        builtin: BuiltinKpi,
        names: Names<'_>,
    ) -> Option<Measure> {
        let spec = builtin.spec();
        let parts = spec.shape.parts();
        for key in ["numerator", "denominator", "events", "property", "per"] {
            if let Some(value) = section.get(key)
                && !parts.contains(&key)
            {
                let takes = if parts.is_empty() {
                    "takes no parts".to_string()
                } else {
                    format!("takes {}", parts.join(" and "))
                };
                self.push(
                    Diagnostic::error(
                        "bad-key",
                        value.span(),
                        format!(
                            "`{key}` does not apply to builtin `{}`, which {takes}",
                            spec.name
                        ),
                    )
                    .with_hint("remove it, or write a custom KPI with numerator and denominator"),
                );
            }
        }
        let scope = match spec.shape {
            Shape::CustomerRatio => Scope::customer(names).with_customer_state(),
            _ => Scope::event(names),
        };
        let mut failed = false;
        let mut part = |loader: &mut Self, key: &str, default: &str| -> Option<Condition> {
            if section.get(key).is_some() {
                let c = loader.condition(section, key, &scope);
                failed |= c.is_none();
                c
            } else {
                let expr = compile(default, &scope).expect("built-in defaults are valid");
                Some(Condition {
                    source: default.to_string(),
                    expr,
                })
            }
        };
        let d = spec.defaults;
        let property = |loader: &mut Self| {
            loader
                .text(section, "property")
                .map_or_else(|| d[1].to_string(), |t| t.value)
        };
        let measure = match spec.shape {
            Shape::EventRatio => Measure::EventRatio {
                numerator: part(self, "numerator", d[0])?,
                denominator: part(self, "denominator", d[1])?,
            },
            Shape::CustomerRatio => Measure::CustomerRatio {
                numerator: part(self, "numerator", d[0])?,
                denominator: part(self, "denominator", d[1])?,
            },
            Shape::Count => Measure::Count {
                events: part(self, "events", d[0])?,
            },
            Shape::PerCustomer => Measure::PerCustomer {
                events: part(self, "events", d[0])?,
            },
            Shape::TimeSpent => Measure::TimeSpent {
                events: part(self, "events", d[0])?,
            },
            Shape::Mean => Measure::Mean {
                events: part(self, "events", d[0])?,
                property: property(self),
            },
            Shape::Nps => Measure::Nps {
                events: part(self, "events", d[0])?,
                property: property(self),
            },
            Shape::StageConversion => Measure::StageConversion,
        };
        (!failed).then_some(measure)
    }

    fn custom_measure(&mut self, section: &Section<'_, 'a>, names: Names<'_>) -> Option<Measure> {
        for key in ["events", "property"] {
            if let Some(value) = section.get(key) {
                self.push(
                    Diagnostic::error(
                        "bad-key",
                        value.span(),
                        format!("`{key}` only applies to built-in KPIs"),
                    )
                    .with_hint("a custom KPI is a ratio: numerator and denominator"),
                );
            }
        }
        let per = if section.get("per").is_some() {
            self.choice(section, "per", &["event", "customer"], |s| match s {
                "event" => Some(Context::Event),
                "customer" => Some(Context::Customer),
                _ => None,
            })?
        } else {
            Context::Event
        };
        let scope = match per {
            Context::Event => Scope::event(names),
            Context::Customer => Scope::customer(names).with_customer_state(),
        };
        let has_numerator = section.get("numerator").is_some();
        let has_denominator = section.get("denominator").is_some();
        if !has_numerator && !has_denominator {
            let known: Vec<&str> = crate::builtin::BUILTINS.iter().map(|b| b.name).collect();
            self.push(
                Diagnostic::error(
                    "missing-key",
                    section.span.clone(),
                    format!("{} says neither what it measures (`builtin`) nor how (`numerator` and `denominator`)", section.label),
                )
                .with_hint(format!("built-ins: {}", known.join(", "))),
            );
            return None;
        }
        if !has_numerator {
            self.missing(section, "numerator", r#"numerator = 'event == "..."'"#);
        }
        if !has_denominator {
            self.missing(section, "denominator", r#"denominator = 'event == "..."'"#);
        }
        let numerator = self.condition(section, "numerator", &scope);
        let denominator = self.condition(section, "denominator", &scope);
        let (numerator, denominator) = (numerator?, denominator?);
        Some(match per {
            Context::Event => Measure::EventRatio {
                numerator,
                denominator,
            },
            Context::Customer => Measure::CustomerRatio {
                numerator,
                denominator,
            },
        })
    }

    fn segment(&mut self, section: &Section<'_, 'a>, names: Names<'_>) -> Option<Segment> {
        self.check_keys(section, &SEGMENT_KEYS);
        let id = self.id(section, r#"id = "passive_readers""#);
        if section.get("rule").is_none() {
            self.missing(
                section,
                "rule",
                r#"rule = 'count(event == "email_opened", 90d) > 0'"#,
            );
        }
        let rule = self.condition(
            section,
            "rule",
            &Scope::customer(names).with_customer_state(),
        );
        let name = self.text(section, "name").map(|t| t.value);
        Some(Segment {
            name: name.unwrap_or_else(|| id.clone().unwrap_or_default()),
            id: id?,
            description: self.text(section, "description").map(|t| t.value),
            rule: rule?,
        })
    }

    fn play(
        &mut self,
        section: &Section<'_, 'a>,
        names: Names<'_>,
        declared: &Declared,
    ) -> Option<Play> {
        self.check_keys(section, &PLAY_KEYS);
        let id = self.id(section, r#"id = "cart_rescue""#);
        let trigger = self.trigger(section, names);
        let segment = self.text(section, "segment");
        if let Some(s) = &segment {
            self.reference(s, "segment", &declared.segments);
        }
        let persona = self.text(section, "persona");
        if let Some(p) = &persona {
            self.reference(p, "persona", names.personas);
        }
        let template =
            self.required_text(section, "template", r#"template = "templates/cart.mjml""#);
        let template_ok = match (&template, self.base_dir) {
            (Some(t), Some(base)) if !base.join(&t.value).is_file() => {
                self.push(
                    Diagnostic::error(
                        "missing-file",
                        t.span.clone(),
                        format!("template `{}` not found next to the journey file", t.value),
                    )
                    .with_hint(format!("looked for {}", base.join(&t.value).display())),
                );
                false
            }
            _ => true,
        };
        let subject = self.required_text(
            section,
            "subject",
            r#"subject = "Bonjour {{ customer.first_name }}""#,
        );
        let mut subject_ok = true;
        if let Some(subject) = &subject {
            let map = StringMap::new(&self.text[subject.span.clone()], subject.span.start);
            for error in check_placeholders(&subject.value) {
                subject_ok = false;
                let span = map
                    .as_ref()
                    .map_or(subject.span.clone(), |m| m.range(error.span.clone()));
                self.push(
                    Diagnostic::error("bad-placeholder", span, error.message)
                        .with_hint_opt(error.hint),
                );
            }
        }
        let holdout = match self.number(section, "holdout") {
            Some(h) if !(0.0..1.0).contains(&h.value) => {
                self.push(
                    Diagnostic::error("out-of-range", h.span, format!("holdout {} is out of range", h.value))
                        .with_hint("the holdout is the share of customers kept out, from 0 (none) to below 1, e.g. 0.1"),
                );
                None
            }
            Some(h) => Some(h.value),
            None => Some(0.0),
        };
        let cap = self.text(section, "cap").and_then(|c| {
            let parsed = c.value.split_once('/').and_then(|(count, per)| {
                let count: u32 = count.trim().parse().ok().filter(|&n| n > 0)?;
                let per: Duration = per
                    .trim()
                    .parse()
                    .ok()
                    .filter(|d: &Duration| d.as_secs() > 0)?;
                Some(Cap { count, per })
            });
            if parsed.is_none() {
                self.push(
                    Diagnostic::error(
                        "bad-value",
                        c.span,
                        format!("`{}` is not a frequency cap", c.value),
                    )
                    .with_hint("write COUNT/DURATION, e.g. 1/7d for at most one email a week"),
                );
            }
            parsed
        });
        let quiet_hours = self.time_range(section, "quiet_hours");
        let name = self.text(section, "name").map(|t| t.value);
        if !template_ok || !subject_ok {
            return None;
        }
        Some(Play {
            name: name.unwrap_or_else(|| id.clone().unwrap_or_default()),
            id: id?,
            description: self.text(section, "description").map(|t| t.value),
            trigger: trigger?,
            segment: segment.map(|s| s.value),
            persona: persona.map(|p| p.value),
            template: PathBuf::from(template?.value),
            subject: subject?.value,
            from: self.text(section, "from").map(|t| t.value),
            holdout: holdout?,
            cap,
            quiet_hours,
        })
    }

    fn trigger(&mut self, play: &Section<'_, 'a>, names: Names<'_>) -> Option<Trigger> {
        let example = r#"when = { enters = "purchase" }, { stalled_in = "purchase", for = "4h" } or { event = 'event == "signup"' }"#;
        let Some(value) = play.get("when") else {
            self.missing(play, "when", example);
            return None;
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(
                play,
                "when",
                value.span(),
                "a table such as { enters = \"purchase\" }",
                value.get_ref(),
            );
            return None;
        };
        let when = Section {
            table,
            span: value.span(),
            label: format!("`when` of {}", play.label),
        };
        self.check_keys(&when, &WHEN_KEYS);
        let chosen: Vec<&str> = ["enters", "stalled_in", "event"]
            .into_iter()
            .filter(|k| when.get(k).is_some())
            .collect();
        if chosen.len() != 1 {
            let message = if chosen.is_empty() {
                format!(
                    "{} says neither `enters`, `stalled_in` nor `event`",
                    when.label
                )
            } else {
                format!("{} sets {}: choose one", when.label, chosen.join(" and "))
            };
            self.push(
                Diagnostic::error("bad-trigger", when.span.clone(), message).with_hint(example),
            );
            return None;
        }
        if chosen[0] != "stalled_in"
            && let Some(extra) = when.get("for")
        {
            self.push(
                Diagnostic::error(
                    "bad-trigger",
                    extra.span(),
                    "`for` only applies to `stalled_in`",
                )
                .with_hint(r#"write { stalled_in = "purchase", for = "4h" }"#),
            );
        }
        match chosen[0] {
            "enters" => {
                let stage = self.text(&when, "enters")?;
                self.reference(&stage, "stage", names.stages)
                    .then_some(Trigger::Enters { stage: stage.value })
            }
            "stalled_in" => {
                let stage = self.text(&when, "stalled_in")?;
                let known = self.reference(&stage, "stage", names.stages);
                if when.get("for").is_none() {
                    self.missing(
                        &when,
                        "for",
                        r#"for = "4h" (how long without moving on counts as stalled)"#,
                    );
                    return None;
                }
                let after = self.duration(&when, "for")?;
                known.then_some(Trigger::StalledIn {
                    stage: stage.value,
                    after,
                })
            }
            _ => {
                let condition = self.condition(&when, "event", &Scope::event(names))?;
                Some(Trigger::Event { condition })
            }
        }
    }
}

struct Head {
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    goal: Option<String>,
    kind: Kind,
    window: Option<Duration>,
    timezone: String,
    lang: Lang,
}

fn values(items: Vec<At<String>>) -> Vec<String> {
    items.into_iter().map(|i| i.value).collect()
}

fn ids_of(sections: &[Section<'_, '_>]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for section in sections {
        if let Some(DeValue::String(id)) = section.get("id").map(|v| v.get_ref())
            && !ids.iter().any(|i| i == id.as_ref())
        {
            ids.push(id.to_string());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_ranges() {
        assert_eq!(parse_time("07:30"), Some(TimeOfDay(450)));
        assert_eq!(parse_time("7:05"), Some(TimeOfDay(425)));
        assert_eq!(parse_time("24:00"), Some(TimeOfDay(0)));
        assert_eq!(parse_time("24:30"), None);
        assert_eq!(parse_time("7h30"), None);
        assert_eq!(parse_time("07:5"), None);
        let range = parse_range("22:00-07:00").unwrap();
        assert!(range.wraps());
        assert_eq!(range.to_string(), "22:00-07:00");
    }

    #[test]
    fn ids() {
        assert!(valid_id("post_purchase-2"));
        assert!(!valid_id("_x"));
        assert!(!valid_id("a b"));
        assert!(!valid_id("étape"));
        assert!(!valid_id(""));
    }
}
