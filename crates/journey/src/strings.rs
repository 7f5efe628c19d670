//! Where each character of a TOML string value sits in the file.
//!
//! Expressions live inside TOML strings, and an error found at byte 12 of an expression
//! must be reported at the right column of the file even when the string uses escapes
//! (`"event == \"x\""`) or is a multi-line string.

use std::ops::Range;

/// Maps byte offsets of a decoded string value to byte offsets of the file.
#[derive(Clone, Debug)]
pub(crate) struct StringMap {
    /// `offsets[i]` is the file range that produced decoded byte `i` (an escape such as
    /// `\"` produces one byte from two); one extra empty entry marks the end.
    offsets: Vec<Range<usize>>,
}

impl StringMap {
    /// Builds the map for a string value whose raw text (quotes included) starts at `start`.
    /// Returns `None` when the raw text is not a TOML string.
    pub(crate) fn new(raw: &str, start: usize) -> Option<StringMap> {
        let (delimiter, literal) = if raw.starts_with("'''") {
            ("'''", true)
        } else if raw.starts_with("\"\"\"") {
            ("\"\"\"", false)
        } else if raw.starts_with('\'') {
            ("'", true)
        } else if raw.starts_with('"') {
            ("\"", false)
        } else {
            return None;
        };
        let mut body_start = delimiter.len();
        if delimiter.len() == 3 {
            // A newline right after the opening delimiter is not part of the value.
            if raw[body_start..].starts_with("\r\n") {
                body_start += 2;
            } else if raw[body_start..].starts_with('\n') {
                body_start += 1;
            }
        }
        let body_end = raw.len().checked_sub(delimiter.len())?.max(body_start);
        let body = &raw[body_start..body_end];
        let base = start + body_start;
        let mut offsets = Vec::with_capacity(body.len() + 1);
        if literal {
            offsets.extend((0..body.len()).map(|i| base + i..base + i + 1));
        } else {
            decode_basic(body, base, &mut offsets);
        }
        offsets.push(base + body.len()..base + body.len());
        Some(StringMap { offsets })
    }

    /// The file range of a decoded byte range.
    pub(crate) fn range(&self, decoded: Range<usize>) -> Range<usize> {
        let last = self.offsets.len() - 1;
        let start = self.offsets[decoded.start.min(last)].start;
        let end = if decoded.end <= decoded.start {
            start
        } else {
            // The end is exclusive: take the end of the last byte inside.
            self.offsets[(decoded.end - 1).min(last)].end
        };
        start..end.max(start)
    }
}

fn decode_basic(body: &str, base: usize, offsets: &mut Vec<Range<usize>>) {
    let mut chars = body.char_indices().peekable();
    let next_offset = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        chars.peek().map_or(body.len(), |&(j, _)| j)
    };
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            offsets.extend((0..c.len_utf8()).map(|k| base + i + k..base + i + k + 1));
            continue;
        }
        let Some(&(_, escaped)) = chars.peek() else {
            break;
        };
        match escaped {
            'u' | 'U' => {
                chars.next();
                let digits = if escaped == 'u' { 4 } else { 8 };
                let hex: String = (0..digits)
                    .filter_map(|_| chars.next())
                    .map(|(_, h)| h)
                    .collect();
                let width = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .map_or(1, char::len_utf8);
                let end = base + next_offset(&mut chars);
                offsets.extend(std::iter::repeat_n(base + i..end, width));
            }
            c if c.is_whitespace() => {
                // A line-ending backslash swallows all following whitespace.
                while chars.peek().is_some_and(|&(_, w)| w.is_whitespace()) {
                    chars.next();
                }
            }
            _ => {
                chars.next();
                let end = base + next_offset(&mut chars);
                offsets.push(base + i..end);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locate(raw: &str, decoded: &str, needle: &str) -> String {
        let map = StringMap::new(raw, 0).unwrap();
        let at = decoded.find(needle).unwrap();
        raw[map.range(at..at + needle.len())].to_string()
    }

    #[test]
    fn literal_strings_map_one_to_one() {
        assert_eq!(
            locate("'event == \"x\"'", "event == \"x\"", "\"x\""),
            "\"x\""
        );
        assert_eq!(locate("'''\nété == 1'''", "été == 1", "1"), "1");
    }

    #[test]
    fn basic_strings_step_over_escapes() {
        let raw = r#""event == \"purchase\" and é""#;
        let decoded = "event == \"purchase\" and é";
        assert_eq!(locate(raw, decoded, "\"purchase\""), r#"\"purchase\""#);
        assert_eq!(locate(raw, decoded, "é"), "é");
        assert_eq!(locate(r#""\u00e9x""#, "éx", "x"), "x");
    }

    #[test]
    fn line_ending_backslash_is_skipped() {
        let raw = "\"\"\"\nevent == \\\n    \"x\"\"\"\"";
        assert_eq!(locate(raw, "event == \"x\"", "\"x\""), "\"x\"");
    }
}
