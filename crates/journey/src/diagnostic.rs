//! Problems found in a journey file, located by line and column, rendered for people or tools.

use std::fmt::Write as _;
use std::ops::Range;

use serde::Serialize;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file cannot be used.
    Error,
    /// The file works, but probably not as intended.
    Warning,
}

/// One problem, located by byte range in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable class of problem (`unknown-reference`, `bad-duration`, ...).
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where, as bytes of the file.
    pub span: Range<usize>,
    /// How to fix it, when known.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            hint: None,
        }
    }

    /// A warning.
    pub fn warning(code: &'static str, span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same diagnostic with an optional hint.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

/// A line and column, both counted from 1; columns count characters, not bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// Line number.
    pub line: usize,
    /// Column number, in characters.
    pub column: usize,
}

/// A file's text with the index needed to turn byte offsets into lines and columns.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in messages (the path as the user gave it).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Indexes `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The line and column of a byte offset (clamped to the text).
    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let column = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count()
            + 1;
        Position {
            line: line + 1,
            column,
        }
    }

    /// The text of a line (1-based), without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |&next| next);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A diagnostic with its position resolved, as `--format json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct LocatedDiagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable class of problem.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// Where it starts.
    pub line: usize,
    /// Column where it starts.
    pub column: usize,
    /// Where it ends.
    pub end_line: usize,
    /// Column just past the end.
    pub end_column: usize,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Everything found in one file.
#[derive(Clone, Debug)]
pub struct Report {
    /// The file.
    pub source: SourceFile,
    /// Problems, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report over `source`, sorting and de-duplicating `diagnostics`.
    pub fn new(source: SourceFile, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by(|a, b| {
            (a.span.start, a.severity, a.span.end).cmp(&(b.span.start, b.severity, b.span.end))
        });
        diagnostics.dedup_by(|a, b| a.span == b.span && a.message == b.message);
        Report {
            source,
            diagnostics,
        }
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of warnings.
    pub fn warning_count(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Every diagnostic with line and column.
    pub fn located(&self) -> Vec<LocatedDiagnostic> {
        self.diagnostics
            .iter()
            .map(|d| {
                let start = self.source.position(d.span.start);
                let end = self.source.position(d.span.end);
                LocatedDiagnostic {
                    severity: d.severity,
                    code: d.code,
                    message: d.message.clone(),
                    line: start.line,
                    column: start.column,
                    end_line: end.line,
                    end_column: end.column,
                    hint: d.hint.clone(),
                }
            })
            .collect()
    }

    /// The diagnostics as a person reads them: location, the line, a caret under the spot.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            self.render_one(&mut out, d);
        }
        out
    }

    fn render_one(&self, out: &mut String, d: &Diagnostic) {
        let start = self.source.position(d.span.start);
        let end = self.source.position(d.span.end);
        let label = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let gutter = start.line.to_string().len();
        let pad = " ".repeat(gutter);
        let line = self.source.line_text(start.line);
        let line_chars = line.chars().count();
        let caret_start = start.column - 1;
        let caret_end = if end.line == start.line {
            end.column - 1
        } else {
            line_chars
        };
        let carets = caret_end.saturating_sub(caret_start).max(1);
        let _ = writeln!(out, "{label}[{}]: {}", d.code, d.message);
        let _ = writeln!(
            out,
            "{pad}--> {}:{}:{}",
            self.source.name, start.line, start.column
        );
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{} | {line}", start.line);
        let _ = writeln!(
            out,
            "{pad} | {}{}",
            " ".repeat(caret_start),
            "^".repeat(carets)
        );
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "{pad} = hint: {hint}");
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        let source = SourceFile::new("j.toml", "a = 1\nnom = \"été\"\r\nx");
        assert_eq!(source.position(0), Position { line: 1, column: 1 });
        assert_eq!(source.position(6), Position { line: 2, column: 1 });
        // After the accented word: `nom = "été` is 10 characters.
        let after = source.text.find("\"\r").unwrap();
        assert_eq!(
            source.position(after),
            Position {
                line: 2,
                column: 11
            }
        );
        assert_eq!(source.line_text(2), "nom = \"été\"");
        assert_eq!(source.position(999), Position { line: 3, column: 2 });
    }

    #[test]
    fn render_points_a_caret_at_the_span() {
        let source = SourceFile::new("j.toml", "[journey]\nkind = \"futur\"\n");
        let start = source.text.find("\"futur").unwrap();
        let report = Report::new(
            source,
            vec![
                Diagnostic::error("bad-value", start..start + 7, "unknown kind `futur`")
                    .with_hint("did you mean `future`?"),
            ],
        );
        assert_eq!(
            report.render(),
            "error[bad-value]: unknown kind `futur`\n --> j.toml:2:8\n  |\n2 | kind = \"futur\"\n  |        ^^^^^^^\n  = hint: did you mean `future`?\n\n"
        );
    }
}
