//! Splits expression text into tokens.

use crate::error::{ErrorCode, ExprError};
use crate::{Duration, Span};

/// A token and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: Tok,
    pub(crate) span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Str(String),
    Num(f64),
    Duration(Duration),
    Ident(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Str(s) => format!("text \"{s}\""),
            Tok::Num(n) => format!("number {n}"),
            Tok::Duration(d) => format!("duration {d}"),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::EqEq => "`==`".into(),
            Tok::Ne => "`!=`".into(),
            Tok::Lt => "`<`".into(),
            Tok::Le => "`<=`".into(),
            Tok::Gt => "`>`".into(),
            Tok::Ge => "`>=`".into(),
            Tok::Eof => "the end of the expression".into(),
        }
    }
}

/// Names may hold accents: French teams write `prop.catégorie`.
pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

/// Property names in the wild use `-` and `$` (`utm-source`, `$browser`); there is no
/// arithmetic in the language, so a `-` inside a name is never ambiguous.
pub(crate) fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '-'
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ExprError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    let syntax = |start: usize, end: usize, message: String| {
        ExprError::new(ErrorCode::Syntax, Span::new(start, end), message)
    };
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let simple = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            '.' => Some(Tok::Dot),
            _ => None,
        };
        if let Some(kind) = simple {
            chars.next();
            tokens.push(Token {
                kind,
                span: Span::new(start, start + 1),
            });
            continue;
        }
        match c {
            '=' | '!' | '<' | '>' | '&' | '|' => {
                chars.next();
                let next = chars.peek().map(|&(_, n)| n);
                let (kind, len) = match (c, next) {
                    ('=', Some('=')) => (Tok::EqEq, 2),
                    ('!', Some('=')) => (Tok::Ne, 2),
                    ('<', Some('=')) => (Tok::Le, 2),
                    ('>', Some('=')) => (Tok::Ge, 2),
                    ('<', _) => (Tok::Lt, 1),
                    ('>', _) => (Tok::Gt, 1),
                    ('=', _) => {
                        return Err(syntax(start, start + 1, "`=` is not an operator".into())
                            .with_hint("compare with `==`"));
                    }
                    ('!', _) => {
                        return Err(syntax(start, start + 1, "`!` is not an operator".into())
                            .with_hint("write `not` to negate, or `!=` for \"not equal\""));
                    }
                    ('&', Some('&')) => {
                        return Err(syntax(start, start + 2, "`&&` is not an operator".into())
                            .with_hint("write `and`"));
                    }
                    ('|', Some('|')) => {
                        return Err(syntax(start, start + 2, "`||` is not an operator".into())
                            .with_hint("write `or`"));
                    }
                    _ => {
                        return Err(syntax(start, start + 1, format!("unexpected `{c}`"))
                            .with_hint("write `and` / `or`"));
                    }
                };
                if len == 2 {
                    chars.next();
                }
                tokens.push(Token {
                    kind,
                    span: Span::new(start, start + len),
                });
            }
            '"' | '\'' => {
                chars.next();
                let quote = c;
                let mut value = String::new();
                let mut closed = None;
                while let Some((i, ch)) = chars.next() {
                    if ch == quote {
                        closed = Some(i + 1);
                        break;
                    }
                    if ch == '\\' {
                        let Some((_, escaped)) = chars.next() else {
                            break;
                        };
                        // Unknown escapes stay as written so regular expressions read
                        // naturally: "nl-\d+" means the pattern nl-\d+.
                        match escaped {
                            'n' => value.push('\n'),
                            't' => value.push('\t'),
                            '\\' | '"' | '\'' => value.push(escaped),
                            other => {
                                value.push('\\');
                                value.push(other);
                            }
                        }
                        continue;
                    }
                    value.push(ch);
                }
                let Some(end) = closed else {
                    return Err(syntax(start, text.len(), "text is not closed".into())
                        .with_hint(format!("add the closing {quote}")));
                };
                tokens.push(Token {
                    kind: Tok::Str(value),
                    span: Span::new(start, end),
                });
            }
            c if c.is_ascii_digit() || c == '-' => {
                chars.next();
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || d == '.' || d == '_' {
                        end = i + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                tokens.push(Token {
                    kind: number_or_duration(word, start)?,
                    span: Span::new(start, end),
                });
            }
            c if is_ident_start(c) => {
                chars.next();
                let mut end = start + c.len_utf8();
                while let Some(&(i, d)) = chars.peek() {
                    if is_ident_continue(d) {
                        end = i + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(Token {
                    kind: Tok::Ident(text[start..end].to_string()),
                    span: Span::new(start, end),
                });
            }
            other => {
                let error = syntax(
                    start,
                    start + other.len_utf8(),
                    format!("unexpected character `{other}`"),
                );
                return Err(match other {
                    '+' | '*' | '/' | '%' => {
                        error.with_hint("conditions have no arithmetic: compare values directly")
                    }
                    '{' | '}' | ';' => error,
                    _ => error.with_hint("text values go between double quotes: \"like this\""),
                });
            }
        }
    }
    tokens.push(Token {
        kind: Tok::Eof,
        span: Span::new(text.len(), text.len()),
    });
    Ok(tokens)
}

fn number_or_duration(word: &str, start: usize) -> Result<Tok, ExprError> {
    let span = Span::new(start, start + word.len());
    let bad = |message: String| ExprError::new(ErrorCode::Syntax, span, message);
    if word == "-" {
        return Err(bad("a lone `-` is not a value".into())
            .with_hint("there is no arithmetic: write a number such as -2"));
    }
    let unit_at = word
        .char_indices()
        .find(|&(i, c)| c.is_ascii_alphabetic() && !(i > 0 && (c == 'e' || c == 'E')))
        .map(|(i, _)| i);
    match unit_at {
        None => word
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Tok::Num)
            .ok_or_else(|| bad(format!("`{word}` is not a number"))),
        Some(i) => {
            let number = &word[..i];
            if number.contains('.') || number.starts_with('-') {
                return Err(
                    bad(format!("`{word}`: durations are positive whole numbers"))
                        .with_hint("write 90m rather than 1.5h"),
                );
            }
            word.parse::<Duration>()
                .map(Tok::Duration)
                .map_err(|e| bad(e.to_string()).with_hint(e.hint()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn splits_operators_literals_and_names() {
        assert_eq!(
            kinds(r#"prop.utm-source == "nl" and count(x, 4h) >= -2.5"#),
            vec![
                Tok::Ident("prop".into()),
                Tok::Dot,
                Tok::Ident("utm-source".into()),
                Tok::EqEq,
                Tok::Str("nl".into()),
                Tok::Ident("and".into()),
                Tok::Ident("count".into()),
                Tok::LParen,
                Tok::Ident("x".into()),
                Tok::Comma,
                Tok::Duration(Duration::from_secs(14_400)),
                Tok::RParen,
                Tok::Ge,
                Tok::Num(-2.5),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn text_accepts_both_quotes_escapes_and_accents() {
        assert_eq!(
            kinds(r#"'l\'été' "a\"b""#),
            vec![Tok::Str("l'été".into()), Tok::Str("a\"b".into()), Tok::Eof]
        );
    }

    #[test]
    fn spans_are_byte_ranges_of_the_source() {
        let error = tokenize("é € 'x'").unwrap_err();
        assert_eq!(error.span, Span::new(3, 6));
        let tokens = tokenize("ab  <= 'é'").unwrap();
        assert_eq!(tokens[1].span, Span::new(4, 6));
        assert_eq!(tokens[2].span, Span::new(7, 11));
    }

    #[test]
    fn common_mistakes_get_hints() {
        for (text, hint) in [
            ("a = 1", "=="),
            ("a && b", "and"),
            ("a || b", "or"),
            ("!a", "not"),
            ("count(x, 1.5h)", "90m"),
            ("count(x, 30j)", "30d"),
            ("count(x, 15min)", "15m"),
            ("a + 1", "arithmetic"),
            ("'open", "closing"),
        ] {
            let err = tokenize(text).unwrap_err();
            assert!(
                err.hint.as_deref().unwrap_or("").contains(hint),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn unknown_escapes_are_kept_for_regular_expressions() {
        assert_eq!(
            kinds(r#""nl-\d+\.""#),
            vec![Tok::Str(r"nl-\d+\.".into()), Tok::Eof]
        );
    }

    #[test]
    fn accented_names_are_names() {
        assert_eq!(
            kinds("catégorie"),
            vec![Tok::Ident("catégorie".into()), Tok::Eof]
        );
    }

    #[test]
    fn exponents_are_numbers_not_durations() {
        assert_eq!(kinds("1e3"), vec![Tok::Num(1000.0), Tok::Eof]);
    }
}
