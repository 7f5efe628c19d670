//! The expression tree: what the parser builds and the checker types.

use crate::Duration;

/// A byte range inside the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// The type of a value, as the checker infers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Type {
    /// Not yet checked.
    #[default]
    Unknown,
    /// True or false.
    Bool,
    /// Text.
    Str,
    /// A number.
    Num,
    /// A length of time.
    Duration,
    /// A list literal.
    List,
    /// A property, trait or context field: its type is only known per event.
    Dynamic,
}

impl Type {
    /// How the type is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Type::Unknown => "unknown",
            Type::Bool => "true/false",
            Type::Str => "text",
            Type::Num => "a number",
            Type::Duration => "a duration",
            Type::List => "a list",
            Type::Dynamic => "a property value",
        }
    }

    /// How several values of the type are named in messages.
    pub fn plural(self) -> &'static str {
        match self {
            Type::Unknown => "unknown values",
            Type::Bool => "true/false values",
            Type::Str => "text values",
            Type::Num => "numbers",
            Type::Duration => "durations",
            Type::List => "lists",
            Type::Dynamic => "property values",
        }
    }
}

/// One node of an expression, with where it was written and its checked type.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What the node is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
    /// Its type, set by [`crate::check`]; [`Type::Unknown`] before.
    pub ty: Type,
}

impl Expr {
    /// An unchecked node.
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr {
            kind,
            span,
            ty: Type::Unknown,
        }
    }
}

/// The kinds of expression nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A text literal.
    Str(String),
    /// A number literal.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A duration literal such as `4h`.
    Duration(Duration),
    /// `[a, b, ...]`, only meaningful on the right of `in`.
    List(Vec<Expr>),
    /// A field of the event or customer.
    Field(Field),
    /// `not x`.
    Not(Box<Expr>),
    /// `lhs OP rhs`.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// A history function such as `count(event == "x", 30d)`.
    Call {
        /// Which function.
        func: Func,
        /// Its arguments, in order.
        args: Vec<Expr>,
    },
}

/// Fields an expression can read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// The event name (`event`).
    Event,
    /// The Segment message type: track, page, screen, identify, alias, group (`type`).
    Type,
    /// The channel of the touchpoint the event matched (`channel`).
    Channel,
    /// The id of the touchpoint the event matched (`touchpoint`).
    Touchpoint,
    /// The customer's current stage id (`stage`), in segment rules.
    Stage,
    /// The customer's persona id (`persona`), in segment rules.
    Persona,
    /// An event property, `prop.NAME` (dotted for nested objects).
    Prop(String),
    /// A customer trait, `trait.NAME`.
    Trait(String),
    /// An event context field, `context.NAME` (e.g. `context.campaign.source`).
    Context(String),
}

impl Field {
    /// Fields that hold a stage, persona, touchpoint or channel id, whose literals are checked.
    pub fn reference(&self) -> Option<RefKind> {
        match self {
            Field::Stage => Some(RefKind::Stage),
            Field::Persona => Some(RefKind::Persona),
            Field::Touchpoint => Some(RefKind::Touchpoint),
            Field::Channel => Some(RefKind::Channel),
            _ => None,
        }
    }
}

/// What a literal compared with a reference field must name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// A stage id.
    Stage,
    /// A persona id.
    Persona,
    /// A touchpoint id.
    Touchpoint,
    /// A channel name.
    Channel,
}

impl RefKind {
    /// How the kind is named in messages.
    pub fn noun(self) -> &'static str {
        match self {
            RefKind::Stage => "stage",
            RefKind::Persona => "persona",
            RefKind::Touchpoint => "touchpoint",
            RefKind::Channel => "channel",
        }
    }
}

/// Binary operators, from loosest to tightest binding: `or`, `and`, then comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in [..]`
    In,
    /// `not in [..]`
    NotIn,
    /// `starts_with`
    StartsWith,
    /// `ends_with`
    EndsWith,
    /// `contains`
    Contains,
    /// `matches` (a regular expression)
    Matches,
}

impl BinaryOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::StartsWith => "starts_with",
            BinaryOp::EndsWith => "ends_with",
            BinaryOp::Contains => "contains",
            BinaryOp::Matches => "matches",
        }
    }

    /// True for the operators that compare two values (everything but `and`/`or`).
    pub fn is_comparison(self) -> bool {
        !matches!(self, BinaryOp::Or | BinaryOp::And)
    }
}

/// History functions: they look at a customer's other events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// `count(PRED [, WITHIN])`: how many events match, optionally within a lookback.
    Count,
    /// `followed_by(PRED, WITHIN)`: a matching event comes after this one within the duration.
    FollowedBy,
    /// `last_seen [ (PRED) ]`: time since the latest (matching) event.
    LastSeen,
    /// `first_seen [ (PRED) ]`: time since the first (matching) event.
    FirstSeen,
}

impl Func {
    /// Every function, for lookups and hints.
    pub const ALL: [Func; 4] = [
        Func::Count,
        Func::FollowedBy,
        Func::LastSeen,
        Func::FirstSeen,
    ];

    /// The name as written.
    pub fn name(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::FollowedBy => "followed_by",
            Func::LastSeen => "last_seen",
            Func::FirstSeen => "first_seen",
        }
    }

    /// The function with that name.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// How a call is written, for hints.
    pub fn signature(self) -> &'static str {
        match self {
            Func::Count => "count(CONDITION) or count(CONDITION, 30d)",
            Func::FollowedBy => "followed_by(CONDITION, 24h)",
            Func::LastSeen => "last_seen or last_seen(CONDITION)",
            Func::FirstSeen => "first_seen or first_seen(CONDITION)",
        }
    }
}
