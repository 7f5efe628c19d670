//! Errors found while parsing or checking an expression.

use crate::Span;

/// A problem in an expression, located inside the expression text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Where, inside the expression text.
    pub span: Span,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we can tell.
    pub hint: Option<String>,
    /// The class of problem, stable for tooling.
    pub code: ErrorCode,
}

/// Classes of expression problems.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The text does not follow the grammar.
    Syntax,
    /// A name or function that does not exist.
    UnknownName,
    /// A stage, persona, touchpoint or channel that the journey does not declare.
    UnknownReference,
    /// Operand types do not fit the operator.
    Type,
    /// A field used where it has no meaning (e.g. `event` in a segment rule).
    Context,
    /// A `matches` pattern that is not a valid regular expression.
    Regex,
}

impl ErrorCode {
    /// Short stable name, used in diagnostics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Syntax => "expression-syntax",
            ErrorCode::UnknownName => "unknown-name",
            ErrorCode::UnknownReference => "unknown-reference",
            ErrorCode::Type => "expression-type",
            ErrorCode::Context => "expression-context",
            ErrorCode::Regex => "bad-regex",
        }
    }
}

impl ExprError {
    /// A new error without a hint.
    pub fn new(code: ErrorCode, span: Span, message: impl Into<String>) -> Self {
        ExprError {
            span,
            message: message.into(),
            hint: None,
            code,
        }
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}
