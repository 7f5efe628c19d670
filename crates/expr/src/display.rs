//! Prints an expression back as canonical text that parses to the same tree.

use std::fmt;

use crate::lexer::{is_ident_continue, is_ident_start};
use crate::{BinaryOp, Expr, ExprKind, Field};

/// Binding strength, loosest first; a child binding looser than its slot gets parentheses.
fn precedence(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::Binary {
            op: BinaryOp::Or, ..
        } => 1,
        ExprKind::Binary {
            op: BinaryOp::And, ..
        } => 2,
        ExprKind::Not(_) => 3,
        ExprKind::Binary { .. } => 4,
        _ => 5,
    }
}

fn write_at(f: &mut fmt::Formatter<'_>, expr: &Expr, min: u8) -> fmt::Result {
    if precedence(expr) < min {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

fn write_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

fn is_plain_path(path: &str) -> bool {
    path.split('.').all(|segment| {
        let mut chars = segment.chars();
        chars.next().is_some_and(is_ident_start) && chars.all(is_ident_continue)
    })
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (root, path) = match self {
            Field::Event => return f.write_str("event"),
            Field::Type => return f.write_str("type"),
            Field::Channel => return f.write_str("channel"),
            Field::Touchpoint => return f.write_str("touchpoint"),
            Field::Stage => return f.write_str("stage"),
            Field::Persona => return f.write_str("persona"),
            Field::Prop(p) => ("prop", p),
            Field::Trait(p) => ("trait", p),
            Field::Context(p) => ("context", p),
        };
        if is_plain_path(path) {
            write!(f, "{root}.{path}")
        } else {
            write!(f, "{root}[")?;
            write_text(f, path)?;
            f.write_str("]")
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Str(s) => write_text(f, s),
            ExprKind::Num(n) => write!(f, "{n}"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Duration(d) => write!(f, "{d}"),
            ExprKind::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            ExprKind::Field(field) => write!(f, "{field}"),
            ExprKind::Not(operand) => {
                f.write_str("not ")?;
                write_at(f, operand, 3)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (left_min, right_min) = match op {
                    BinaryOp::Or => (1, 2),
                    BinaryOp::And => (2, 3),
                    _ => (5, 5),
                };
                write_at(f, lhs, left_min)?;
                write!(f, " {} ", op.symbol())?;
                write_at(f, rhs, right_min)
            }
            ExprKind::Call { func, args } => {
                f.write_str(func.name())?;
                if args.is_empty() {
                    return Ok(());
                }
                f.write_str("(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}
