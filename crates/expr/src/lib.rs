//! The Parcours condition language.
//!
//! This crate owns the expressions written in journey files — a stage's `enter`, a
//! touchpoint's `match`, a persona or segment `rule`, a KPI's numerator and denominator —
//! from text to a typed tree: [`parse`] builds an [`Expr`], [`check`] types it against a
//! [`Scope`] (which fields may be read, which stage/persona/touchpoint ids exist) and reports
//! every problem with its [`Span`] inside the expression. A tree that passes [`check`] cannot
//! fail for a name or type reason later; evaluation against events belongs to the engine.
//!
//! ```
//! use parcours_expr::{compile, Names, Scope};
//!
//! let stages = vec!["consideration".to_string(), "purchase".to_string()];
//! let names = Names { stages: &stages, ..Names::default() };
//! let expr = compile(r#"event in ["product_view", "compare"]"#, &Scope::event(names)).unwrap();
//! assert_eq!(expr.to_string(), r#"event in ["product_view", "compare"]"#);
//!
//! let errors = compile(r#"count(event == "purchase") > 0 and stage == "purchse""#,
//!     &Scope::customer(names).with_customer_state()).unwrap_err();
//! assert_eq!(errors[0].message, "unknown stage `purchse`");
//! assert_eq!(errors[0].hint.as_deref(), Some("did you mean `purchase`?"));
//! ```

mod ast;
mod check;
mod display;
mod duration;
mod error;
mod lexer;
mod parser;
pub mod suggest;

pub use ast::{BinaryOp, Expr, ExprKind, Field, Func, RefKind, Span, Type};
pub use check::{Context, Names, Scope, check};
pub use duration::{Duration, DurationError};
pub use error::{ErrorCode, ExprError};
pub use parser::parse;

/// Parses and checks in one step; on failure returns every problem found.
pub fn compile(text: &str, scope: &Scope<'_>) -> Result<Expr, Vec<ExprError>> {
    let mut expr = parse(text).map_err(|e| vec![e])?;
    let errors = check(&mut expr, scope);
    if errors.is_empty() {
        Ok(expr)
    } else {
        Err(errors)
    }
}
