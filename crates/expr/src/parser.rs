//! Builds an [`Expr`] tree from tokens.
//!
//! Grammar, loosest binding first:
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | compare
//! compare := primary (OP primary)?        OP: == != < <= > >= in, not in,
//!                                              starts_with ends_with contains matches
//! primary := STRING | NUMBER | DURATION | true | false | list | call | field | "(" expr ")"
//! list    := "[" (expr ("," expr)* ","?)? "]"
//! call    := FUNC "(" expr ("," expr)* ")" | last_seen | first_seen
//! field   := NAME ("." SEGMENT)* | NAME "[" STRING "]"
//! ```

use crate::error::{ErrorCode, ExprError};
use crate::lexer::{Tok, Token, tokenize};
use crate::suggest::closest;
use crate::{BinaryOp, Expr, ExprKind, Field, Func, Span};

/// Plain names an expression may start with, for "did you mean" hints.
const NAMES: [&str; 15] = [
    "event",
    "type",
    "channel",
    "touchpoint",
    "stage",
    "persona",
    "prop",
    "trait",
    "context",
    "true",
    "false",
    "count",
    "followed_by",
    "last_seen",
    "first_seen",
];

/// Parses expression text into an unchecked tree.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser { tokens, pos: 0 };
    if parser.peek() == &Tok::Eof {
        return Err(ExprError::new(
            ErrorCode::Syntax,
            Span::new(0, text.len()),
            "the expression is empty",
        )
        .with_hint(r#"write a condition, e.g. event == "purchase""#));
    }
    let expr = parser.expr()?;
    let next = parser.next();
    if next.kind != Tok::Eof {
        let hint = match &next.kind {
            Tok::Ident(_) | Tok::Str(_) | Tok::Num(_) | Tok::Duration(_) => {
                "join conditions with `and` / `or`"
            }
            _ => "remove it, or check the parentheses",
        };
        return Err(ExprError::new(
            ErrorCode::Syntax,
            next.span,
            format!(
                "unexpected {} after a complete condition",
                next.kind.describe()
            ),
        )
        .with_hint(hint));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].kind
    }

    fn peek_at(&self, offset: usize) -> &Tok {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.pos + offset).min(last)].kind
    }

    fn next(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn at_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(name) if name == word)
    }

    fn expect(&mut self, want: Tok, context: &str) -> Result<Token, ExprError> {
        let token = self.next();
        if token.kind == want {
            Ok(token)
        } else {
            Err(ExprError::new(
                ErrorCode::Syntax,
                token.span,
                format!(
                    "expected {} {context}, found {}",
                    want.describe(),
                    token.kind.describe()
                ),
            ))
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.and()?;
        while self.at_keyword("or") {
            self.next();
            let rhs = self.and()?;
            lhs = binary(BinaryOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut lhs = self.not()?;
        while self.at_keyword("and") {
            self.next();
            let rhs = self.not()?;
            lhs = binary(BinaryOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.at_keyword("not") {
            let start = self.next().span;
            let operand = self.not()?;
            let span = start.to(operand.span);
            return Ok(Expr::new(ExprKind::Not(Box::new(operand)), span));
        }
        self.compare()
    }

    fn comparison_op(&self) -> Option<(BinaryOp, usize)> {
        let op = match self.peek() {
            Tok::EqEq => BinaryOp::Eq,
            Tok::Ne => BinaryOp::Ne,
            Tok::Lt => BinaryOp::Lt,
            Tok::Le => BinaryOp::Le,
            Tok::Gt => BinaryOp::Gt,
            Tok::Ge => BinaryOp::Ge,
            Tok::Ident(word) => match word.as_str() {
                "in" => BinaryOp::In,
                "starts_with" => BinaryOp::StartsWith,
                "ends_with" => BinaryOp::EndsWith,
                "contains" => BinaryOp::Contains,
                "matches" => BinaryOp::Matches,
                "not" if matches!(self.peek_at(1), Tok::Ident(w) if w == "in") => {
                    return Some((BinaryOp::NotIn, 2));
                }
                _ => return None,
            },
            _ => return None,
        };
        Some((op, 1))
    }

    fn compare(&mut self) -> Result<Expr, ExprError> {
        let lhs = self.primary()?;
        let Some((op, width)) = self.comparison_op() else {
            return Ok(lhs);
        };
        for _ in 0..width {
            self.next();
        }
        let rhs = self.primary()?;
        if let Some((second, _)) = self.comparison_op() {
            let span = self.tokens[self.pos].span;
            return Err(ExprError::new(
                ErrorCode::Syntax,
                span,
                format!("`{}` cannot follow another comparison", second.symbol()),
            )
            .with_hint("comparisons do not chain: write `a < b and b < c`"));
        }
        Ok(binary(op, lhs, rhs))
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let token = self.next();
        let span = token.span;
        let node = |kind| Ok(Expr::new(kind, span));
        match token.kind {
            Tok::Str(s) => node(ExprKind::Str(s)),
            Tok::Num(n) => node(ExprKind::Num(n)),
            Tok::Duration(d) => node(ExprKind::Duration(d)),
            Tok::LParen => {
                let inner = self.expr()?;
                let close = self.expect(Tok::RParen, "to close `(`")?;
                Ok(Expr {
                    span: span.to(close.span),
                    ..inner
                })
            }
            Tok::LBracket => self.list(span),
            Tok::Ident(name) => self.named(name, span),
            Tok::Eof => Err(ExprError::new(
                ErrorCode::Syntax,
                span,
                "the expression ends too early: a value is missing",
            )),
            other => Err(ExprError::new(
                ErrorCode::Syntax,
                span,
                format!("expected a value, found {}", other.describe()),
            )),
        }
    }

    fn list(&mut self, open: Span) -> Result<Expr, ExprError> {
        let mut items = Vec::new();
        loop {
            if self.peek() == &Tok::RBracket {
                break;
            }
            items.push(self.expr()?);
            match self.peek() {
                Tok::Comma => {
                    self.next();
                }
                Tok::RBracket => break,
                _ => {
                    let token = self.next();
                    return Err(ExprError::new(
                        ErrorCode::Syntax,
                        token.span,
                        format!(
                            "expected `,` or `]` in a list, found {}",
                            token.kind.describe()
                        ),
                    ));
                }
            }
        }
        let close = self.next();
        Ok(Expr::new(ExprKind::List(items), open.to(close.span)))
    }

    fn named(&mut self, name: String, span: Span) -> Result<Expr, ExprError> {
        let simple = match name.as_str() {
            "true" => Some(ExprKind::Bool(true)),
            "false" => Some(ExprKind::Bool(false)),
            "event" => Some(ExprKind::Field(Field::Event)),
            "type" => Some(ExprKind::Field(Field::Type)),
            "channel" => Some(ExprKind::Field(Field::Channel)),
            "touchpoint" => Some(ExprKind::Field(Field::Touchpoint)),
            "stage" => Some(ExprKind::Field(Field::Stage)),
            "persona" => Some(ExprKind::Field(Field::Persona)),
            _ => None,
        };
        if let Some(kind) = simple {
            return Ok(Expr::new(kind, span));
        }
        match name.as_str() {
            "prop" | "trait" | "context" => return self.path(&name, span),
            "and" | "or" | "in" | "starts_with" | "ends_with" | "contains" | "matches" => {
                return Err(ExprError::new(
                    ErrorCode::Syntax,
                    span,
                    format!("`{name}` needs a value on its left"),
                ));
            }
            "not" => unreachable!("`not` is handled before primary"),
            _ => {}
        }
        if let Some(func) = Func::from_name(&name) {
            return self.call(func, span);
        }
        let message = if self.peek() == &Tok::LParen {
            format!("unknown function `{name}`")
        } else {
            format!("unknown name `{name}`")
        };
        let hint = match closest(&name, NAMES) {
            Some(near) => format!("did you mean `{near}`?"),
            None if self.peek() == &Tok::LParen => {
                "functions are count, followed_by, last_seen and first_seen".to_string()
            }
            None => format!(
                "an event property is written prop.{name}, a customer trait trait.{name}, and text goes between double quotes"
            ),
        };
        Err(ExprError::new(ErrorCode::UnknownName, span, message).with_hint(hint))
    }

    fn path(&mut self, root: &str, start: Span) -> Result<Expr, ExprError> {
        let mut segments: Vec<String> = Vec::new();
        let mut end = start;
        match self.peek() {
            Tok::LBracket => {
                self.next();
                let key = self.next();
                let Tok::Str(name) = key.kind else {
                    return Err(ExprError::new(
                        ErrorCode::Syntax,
                        key.span,
                        format!("expected a quoted name in {root}[...]"),
                    )
                    .with_hint(format!(r#"write {root}["my key"]"#)));
                };
                end = self.expect(Tok::RBracket, "after the quoted name")?.span;
                segments.push(name);
            }
            Tok::Dot => {
                while self.peek() == &Tok::Dot {
                    self.next();
                    let segment = self.next();
                    let Tok::Ident(name) = segment.kind else {
                        return Err(ExprError::new(
                            ErrorCode::Syntax,
                            segment.span,
                            format!(
                                "expected a name after `{root}.`, found {}",
                                segment.kind.describe()
                            ),
                        )
                        .with_hint(format!(r#"for unusual names write {root}["NAME"]"#)));
                    };
                    segments.push(name);
                    end = segment.span;
                }
            }
            _ => {
                return Err(ExprError::new(
                    ErrorCode::Syntax,
                    start,
                    format!("`{root}` needs a name"),
                )
                .with_hint(format!(
                    r#"write {root}.NAME, or {root}["NAME"] for unusual names"#
                )));
            }
        }
        let path = segments.join(".");
        let field = match root {
            "prop" => Field::Prop(path),
            "trait" => Field::Trait(path),
            _ => Field::Context(path),
        };
        Ok(Expr::new(ExprKind::Field(field), start.to(end)))
    }

    fn call(&mut self, func: Func, name_span: Span) -> Result<Expr, ExprError> {
        if self.peek() != &Tok::LParen {
            return match func {
                Func::LastSeen | Func::FirstSeen => Ok(Expr::new(
                    ExprKind::Call {
                        func,
                        args: Vec::new(),
                    },
                    name_span,
                )),
                _ => Err(ExprError::new(
                    ErrorCode::Syntax,
                    name_span,
                    format!("`{}` needs arguments", func.name()),
                )
                .with_hint(format!("write {}", func.signature()))),
            };
        }
        self.next();
        let mut args = Vec::new();
        if self.peek() != &Tok::RParen {
            loop {
                args.push(self.expr()?);
                if self.peek() == &Tok::Comma {
                    self.next();
                } else {
                    break;
                }
            }
        }
        let close = self.expect(Tok::RParen, &format!("to close `{}(`", func.name()))?;
        Ok(Expr::new(
            ExprKind::Call { func, args },
            name_span.to(close.span),
        ))
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr::new(
        ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    #[test]
    fn precedence_is_or_then_and_then_not_then_comparison() {
        let expr = parse(r#"a_b or event == "x" and not prop.p > 3"#);
        assert!(expr.is_err(), "bare names are rejected");
        let expr = parse(r#"event == "a" or event == "b" and not prop.p > 3"#).unwrap();
        let ExprKind::Binary {
            op: BinaryOp::Or,
            rhs,
            ..
        } = &expr.kind
        else {
            panic!("or at the root: {expr:?}");
        };
        let ExprKind::Binary {
            op: BinaryOp::And,
            rhs: negated,
            ..
        } = &rhs.kind
        else {
            panic!("and under or");
        };
        assert!(matches!(negated.kind, ExprKind::Not(_)));
    }

    #[test]
    fn parentheses_override_precedence_and_survive_printing() {
        assert_eq!(
            shape(r#"(event == "a" or event == "b") and channel == "email""#),
            r#"(event == "a" or event == "b") and channel == "email""#
        );
        assert_eq!(
            shape(r#"not (event == "a" and type == "page")"#),
            r#"not (event == "a" and type == "page")"#
        );
    }

    #[test]
    fn fields_paths_and_calls() {
        assert_eq!(
            shape(r#"prop.campaign starts_with "nl-""#),
            r#"prop.campaign starts_with "nl-""#
        );
        assert_eq!(
            shape(r#"context.campaign.source == "ads""#),
            r#"context.campaign.source == "ads""#
        );
        assert_eq!(
            shape(r#"prop["order id"] != """#),
            r#"prop["order id"] != """#
        );
        assert_eq!(
            shape(r#"count(event == "x", 90d) > 0"#),
            r#"count(event == "x", 90d) > 0"#
        );
        assert_eq!(shape("last_seen > 30d"), "last_seen > 30d");
        assert_eq!(
            shape(r#"event not in ["a", "b"]"#),
            r#"event not in ["a", "b"]"#
        );
        assert_eq!(
            shape(r#"prop.url matches "^https?://""#),
            r#"prop.url matches "^https?://""#
        );
    }

    #[test]
    fn spans_cover_the_whole_node() {
        let text = r#"  count(event == "x", 2w) >= 1 "#;
        let expr = parse(text).unwrap();
        assert_eq!(
            &text[expr.span.start..expr.span.end],
            r#"count(event == "x", 2w) >= 1"#
        );
    }

    #[test]
    fn syntax_errors_point_at_the_culprit() {
        let cases = [
            (r#"event == "a" event == "b""#, "event", "and"),
            (r#"event == "#, "", "missing"),
            (r#"(event == "a""#, "", "`)`"),
            (r#"evnt == "a""#, "evnt", "`event`"),
            (r#"cuont(event == "a") > 1"#, "cuont", "`count`"),
            (r#"frobnicate(1)"#, "frobnicate", "count, followed_by"),
            (r#"a < b < c"#, "a", ""),
            (r#"1 < 2 < 3"#, "<", "chain"),
            ("prop", "prop", "prop.NAME"),
            ("", "", "condition"),
            (r#"event in ["a" "b"]"#, "\"b\"", ""),
        ];
        for (text, at, wanted) in cases {
            let err = parse(text).unwrap_err();
            let pointed = &text[err.span.start..err.span.end.min(text.len())];
            assert_eq!(pointed, at, "{text}: {err:?}");
            let said = format!("{} {}", err.message, err.hint.clone().unwrap_or_default());
            assert!(said.contains(wanted), "{text}: {said}");
        }
    }
}
