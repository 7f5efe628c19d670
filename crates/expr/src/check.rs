//! Type and name checking: everything that can go wrong is found here, before any data is read.

use crate::error::{ErrorCode, ExprError};
use crate::suggest::closest;
use crate::{BinaryOp, Expr, ExprKind, Field, Func, RefKind, Span, Type};

/// Whether a condition is about one event or about a whole customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// Judged on each event: stage `enter`, touchpoint `match`, per-event KPIs.
    Event,
    /// Judged on a customer and their history: segment and persona rules, per-customer KPIs.
    Customer,
}

/// The ids a journey declares, which expressions may reference.
#[derive(Clone, Copy, Debug, Default)]
pub struct Names<'a> {
    /// Stage ids, in journey order.
    pub stages: &'a [String],
    /// Persona ids.
    pub personas: &'a [String],
    /// Touchpoint ids.
    pub touchpoints: &'a [String],
    /// Channel names.
    pub channels: &'a [&'a str],
}

impl<'a> Names<'a> {
    fn of(&self, kind: RefKind) -> Vec<&'a str> {
        match kind {
            RefKind::Stage => self.stages.iter().map(String::as_str).collect(),
            RefKind::Persona => self.personas.iter().map(String::as_str).collect(),
            RefKind::Touchpoint => self.touchpoints.iter().map(String::as_str).collect(),
            RefKind::Channel => self.channels.to_vec(),
        }
    }
}

/// Where an expression is written: what it may read and reference.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// Event or customer condition.
    pub context: Context,
    /// The journey's ids, to check references against.
    pub names: Names<'a>,
    /// `touchpoint` and `channel` may be read (not inside a touchpoint's own `match`).
    pub touchpoint_allowed: bool,
    /// `stage` and `persona` may be read (segment rules only).
    pub customer_state_allowed: bool,
}

impl<'a> Scope<'a> {
    /// A condition on one event, such as a stage's `enter`.
    pub fn event(names: Names<'a>) -> Self {
        Scope {
            context: Context::Event,
            names,
            touchpoint_allowed: true,
            customer_state_allowed: false,
        }
    }

    /// A condition on a customer, such as a persona rule.
    pub fn customer(names: Names<'a>) -> Self {
        Scope {
            context: Context::Customer,
            names,
            touchpoint_allowed: true,
            customer_state_allowed: false,
        }
    }

    /// The same scope, with `touchpoint` and `channel` forbidden.
    pub fn without_touchpoint(mut self) -> Self {
        self.touchpoint_allowed = false;
        self
    }

    /// The same scope, with `stage` and `persona` allowed.
    pub fn with_customer_state(mut self) -> Self {
        self.customer_state_allowed = true;
        self
    }
}

/// Types every node of `expr` in place and returns every problem found.
///
/// The root must be a condition (true/false). After an empty result the tree is
/// fully typed and every reference names something the journey declares.
pub fn check(expr: &mut Expr, scope: &Scope<'_>) -> Vec<ExprError> {
    let mut checker = Checker {
        scope,
        errors: Vec::new(),
    };
    let root = checker.infer(expr, false);
    checker.want_condition(root, expr.span, "the expression");
    checker.errors.sort_by_key(|e| (e.span.start, e.span.end));
    checker.errors
}

struct Checker<'s, 'a> {
    scope: &'s Scope<'a>,
    errors: Vec<ExprError>,
}

fn is_bool(ty: Type) -> bool {
    matches!(ty, Type::Bool | Type::Dynamic | Type::Unknown)
}

/// Types that may meet in `==`, `<` and friends. `Unknown` marks a node whose own error is
/// already reported, so it never causes a second one.
fn compatible(a: Type, b: Type) -> bool {
    a == b
        || matches!(a, Type::Dynamic | Type::Unknown)
        || matches!(b, Type::Dynamic | Type::Unknown)
}

impl Checker<'_, '_> {
    fn error(&mut self, code: ErrorCode, span: Span, message: String, hint: Option<String>) {
        let mut error = ExprError::new(code, span, message);
        error.hint = hint;
        self.errors.push(error);
    }

    fn want_condition(&mut self, ty: Type, span: Span, what: &str) {
        if is_bool(ty) {
            return;
        }
        let hint = match ty {
            Type::Num => "compare it, e.g. `count(event == \"purchase\") > 0`",
            Type::Duration => "compare it, e.g. `last_seen > 30d`",
            Type::Str => "compare it, e.g. `event == \"purchase\"`",
            _ => "write a comparison",
        };
        self.error(
            ErrorCode::Type,
            span,
            format!(
                "{what} must be true or false, but this is {}",
                ty.describe()
            ),
            Some(hint.to_string()),
        );
    }

    fn infer(&mut self, expr: &mut Expr, in_history: bool) -> Type {
        let ty = match &mut expr.kind {
            ExprKind::Str(_) => Type::Str,
            ExprKind::Num(_) => Type::Num,
            ExprKind::Bool(_) => Type::Bool,
            ExprKind::Duration(_) => Type::Duration,
            ExprKind::List(items) => {
                for item in items.iter_mut() {
                    self.infer(item, in_history);
                }
                self.error(
                    ErrorCode::Type,
                    expr.span,
                    "a list can only appear on the right of `in`".into(),
                    Some(r#"write event in ["a", "b"]"#.into()),
                );
                Type::Unknown
            }
            ExprKind::Field(field) => self.field(field, expr.span, in_history),
            ExprKind::Not(operand) => {
                let ty = self.infer(operand, in_history);
                self.want_condition(ty, operand.span, "the operand of `not`");
                Type::Bool
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, in_history),
            ExprKind::Call { func, args } => self.call(*func, args, expr.span, in_history),
        };
        expr.ty = ty;
        ty
    }

    fn field(&mut self, field: &Field, span: Span, in_history: bool) -> Type {
        let on_customer = self.scope.context == Context::Customer && !in_history;
        let name = match field {
            Field::Event => "event",
            Field::Type => "type",
            Field::Channel => "channel",
            Field::Touchpoint => "touchpoint",
            Field::Stage => "stage",
            Field::Persona => "persona",
            Field::Prop(_) => "prop",
            Field::Context(_) => "context",
            Field::Trait(_) => return Type::Dynamic,
        };
        match field {
            Field::Stage | Field::Persona => {
                if !self.scope.customer_state_allowed || in_history {
                    self.error(
                        ErrorCode::Context,
                        span,
                        format!("`{name}` can only be used in segment rules, outside history functions"),
                        Some("stages and personas are computed from these conditions, so they cannot depend on themselves".into()),
                    );
                    return Type::Unknown;
                }
                return Type::Str;
            }
            Field::Touchpoint | Field::Channel if !self.scope.touchpoint_allowed => {
                self.error(
                    ErrorCode::Context,
                    span,
                    format!("a touchpoint's `match` cannot use `{name}`"),
                    Some("touchpoints are found by their match; describe the events instead, e.g. event == \"email_opened\"".into()),
                );
                return Type::Unknown;
            }
            _ => {}
        }
        if on_customer {
            self.error(
                ErrorCode::Context,
                span,
                format!("`{name}` belongs to one event, but this rule describes a customer"),
                Some(format!(
                    "look at the customer's events through a history function, e.g. count({name} == \"...\", 30d) > 0"
                )),
            );
            return Type::Unknown;
        }
        match field {
            Field::Prop(_) | Field::Context(_) => Type::Dynamic,
            _ => Type::Str,
        }
    }

    fn binary(&mut self, op: BinaryOp, lhs: &mut Expr, rhs: &mut Expr, in_history: bool) -> Type {
        let lt = self.infer(lhs, in_history);
        if matches!(op, BinaryOp::In | BinaryOp::NotIn) {
            self.membership(op, lhs, lt, rhs, in_history);
            return Type::Bool;
        }
        let rt = self.infer(rhs, in_history);
        match op {
            BinaryOp::And | BinaryOp::Or => {
                self.want_condition(lt, lhs.span, &format!("the left side of `{}`", op.symbol()));
                self.want_condition(
                    rt,
                    rhs.span,
                    &format!("the right side of `{}`", op.symbol()),
                );
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if !compatible(lt, rt) {
                    self.mismatch(op, lhs, lt, rhs, rt);
                }
                self.reference_pair(lhs, rhs);
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                for (side, ty) in [(&*lhs, lt), (&*rhs, rt)] {
                    if matches!(ty, Type::Bool) {
                        self.error(
                            ErrorCode::Type,
                            side.span,
                            format!("`{}` cannot order true/false values", op.symbol()),
                            Some("use == or !=".into()),
                        );
                        return Type::Bool;
                    }
                    if let ExprKind::Field(f) = &side.kind
                        && matches!(
                            f.reference(),
                            Some(RefKind::Persona | RefKind::Touchpoint | RefKind::Channel)
                        )
                    {
                        self.error(
                            ErrorCode::Type,
                            side.span,
                            format!("`{}` has no order", f.reference().unwrap().noun()),
                            Some("use == or in [...]; only `stage` can be ordered (by journey order)".into()),
                        );
                        return Type::Bool;
                    }
                }
                if !compatible(lt, rt) {
                    self.mismatch(op, lhs, lt, rhs, rt);
                }
                self.reference_pair(lhs, rhs);
            }
            BinaryOp::StartsWith | BinaryOp::EndsWith | BinaryOp::Contains => {
                self.want_text(op, lhs.span, lt, "left");
                let right_ok = matches!(rt, Type::Str | Type::Dynamic | Type::Unknown)
                    || (op == BinaryOp::Contains && rt == Type::Num);
                if !right_ok {
                    self.want_text(op, rhs.span, rt, "right");
                }
            }
            BinaryOp::Matches => {
                self.want_text(op, lhs.span, lt, "left");
                match &rhs.kind {
                    ExprKind::Str(pattern) => {
                        if let Err(e) = regex::Regex::new(pattern) {
                            let detail = e.to_string();
                            let last = detail.lines().last().unwrap_or("invalid pattern").trim();
                            self.error(
                                ErrorCode::Regex,
                                rhs.span,
                                format!(
                                    "invalid regular expression: {}",
                                    last.trim_start_matches("error: ")
                                ),
                                Some(
                                    "`matches` takes a regular expression, e.g. \"^nl-[0-9]+$\""
                                        .into(),
                                ),
                            );
                        }
                    }
                    _ => self.error(
                        ErrorCode::Type,
                        rhs.span,
                        "`matches` needs a quoted regular expression on its right".into(),
                        Some(r#"e.g. prop.campaign matches "^nl-""#.into()),
                    ),
                }
            }
            BinaryOp::In | BinaryOp::NotIn => unreachable!("handled above"),
        }
        Type::Bool
    }

    fn want_text(&mut self, op: BinaryOp, span: Span, ty: Type, side: &str) {
        if !matches!(ty, Type::Str | Type::Dynamic | Type::Unknown) {
            self.error(
                ErrorCode::Type,
                span,
                format!(
                    "`{}` works on text, but its {side} side is {}",
                    op.symbol(),
                    ty.describe()
                ),
                None,
            );
        }
    }

    fn mismatch(&mut self, op: BinaryOp, lhs: &Expr, lt: Type, rhs: &Expr, rt: Type) {
        let hint = match (lt, rt) {
            (Type::Duration, Type::Num) | (Type::Num, Type::Duration) => {
                Some("durations need a unit: write 30d, 4h or 90s".to_string())
            }
            (Type::Str, Type::Num) | (Type::Num, Type::Str) => {
                Some("numbers are written without quotes, text with quotes".to_string())
            }
            (_, Type::List) | (Type::List, _) => Some("compare with a list using `in`".to_string()),
            _ => None,
        };
        self.error(
            ErrorCode::Type,
            lhs.span.to(rhs.span),
            format!(
                "`{}` compares {} with {}",
                op.symbol(),
                lt.describe(),
                rt.describe()
            ),
            hint,
        );
    }

    fn membership(&mut self, op: BinaryOp, lhs: &Expr, lt: Type, rhs: &mut Expr, in_history: bool) {
        let ExprKind::List(items) = &mut rhs.kind else {
            self.infer(rhs, in_history);
            self.error(
                ErrorCode::Type,
                rhs.span,
                format!("`{}` needs a list on its right", op.symbol()),
                Some(r#"write event in ["a", "b"]"#.into()),
            );
            return;
        };
        let mut element_type: Option<Type> = None;
        for item in items.iter_mut() {
            let ty = self.infer(item, in_history);
            let literal = matches!(
                item.kind,
                ExprKind::Str(_) | ExprKind::Num(_) | ExprKind::Bool(_) | ExprKind::Duration(_)
            );
            if !literal {
                self.error(
                    ErrorCode::Type,
                    item.span,
                    "list items must be plain values (text, numbers, durations, true/false)".into(),
                    None,
                );
                continue;
            }
            match element_type {
                Some(first) if first != ty => self.error(
                    ErrorCode::Type,
                    item.span,
                    format!("this list mixes {} and {}", first.describe(), ty.describe()),
                    None,
                ),
                Some(_) => self.reference_pair(lhs, item),
                None => {
                    element_type = Some(ty);
                    self.reference_pair(lhs, item);
                }
            }
        }
        if let Some(ty) = element_type
            && !compatible(lt, ty)
        {
            self.error(
                ErrorCode::Type,
                rhs.span,
                format!(
                    "`{}` looks for {} in a list of {}",
                    op.symbol(),
                    lt.describe(),
                    ty.plural()
                ),
                Some("numbers are written without quotes, text with quotes".into()),
            );
        }
        rhs.ty = Type::List;
    }

    /// Checks `stage == "x"`-like pairs: the literal must name something declared.
    fn reference_pair(&mut self, lhs: &Expr, rhs: &Expr) {
        let (field, literal) = match (&lhs.kind, &rhs.kind) {
            (ExprKind::Field(field), ExprKind::Str(_)) => (field, rhs),
            (ExprKind::Str(_), ExprKind::Field(field)) => (field, lhs),
            _ => return,
        };
        let (Some(kind), ExprKind::Str(value)) = (field.reference(), &literal.kind) else {
            return;
        };
        let (value, span) = (value.as_str(), literal.span);
        let known = self.scope.names.of(kind);
        if known.contains(&value) {
            return;
        }
        let hint = match closest(value, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if known.is_empty() => format!("the journey declares no {}", kind.noun()),
            None => format!("known {}s: {}", kind.noun(), known.join(", ")),
        };
        self.error(
            ErrorCode::UnknownReference,
            span,
            format!("unknown {} `{value}`", kind.noun()),
            Some(hint),
        );
    }

    fn call(&mut self, func: Func, args: &mut [Expr], span: Span, in_history: bool) -> Type {
        let result = match func {
            Func::Count => Type::Num,
            Func::FollowedBy => Type::Bool,
            Func::LastSeen | Func::FirstSeen => Type::Duration,
        };
        if in_history {
            self.error(
                ErrorCode::Context,
                span,
                format!(
                    "`{}` cannot be used inside another history function",
                    func.name()
                ),
                None,
            );
            return result;
        }
        if func == Func::FollowedBy && self.scope.context == Context::Customer {
            self.error(
                ErrorCode::Context,
                span,
                "`followed_by` looks ahead from one event, but this rule describes a customer".into(),
                Some("count the customer's events instead, e.g. count(event == \"purchase\", 30d) > 0".into()),
            );
            return result;
        }
        let (min, max) = match func {
            Func::Count => (1, 2),
            Func::FollowedBy => (2, 2),
            Func::LastSeen | Func::FirstSeen => (0, 1),
        };
        if args.len() < min || args.len() > max {
            self.error(
                ErrorCode::Type,
                span,
                format!(
                    "`{}` takes {} argument{}, not {}",
                    func.name(),
                    arity(min, max),
                    if max > 1 { "s" } else { "" },
                    args.len()
                ),
                Some(format!("write {}", func.signature())),
            );
        }
        for (index, arg) in args.iter_mut().enumerate() {
            let ty = self.infer(arg, true);
            if index == 0 {
                self.want_condition(ty, arg.span, &format!("the condition of `{}`", func.name()));
            } else if index == 1 && !matches!(arg.kind, ExprKind::Duration(_)) {
                self.error(
                    ErrorCode::Type,
                    arg.span,
                    format!(
                        "the second argument of `{}` must be a duration such as 30d, not {}",
                        func.name(),
                        ty.describe()
                    ),
                    None,
                );
            }
        }
        result
    }
}

fn arity(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, parse};

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn with_names<T>(f: impl FnOnce(Names<'_>) -> T) -> T {
        let stages = ids(&["awareness", "purchase", "loyalty"]);
        let personas = ids(&["new", "regular"]);
        let touchpoints = ids(&["newsletter", "site"]);
        f(Names {
            stages: &stages,
            personas: &personas,
            touchpoints: &touchpoints,
            channels: &["web", "email"],
        })
    }

    /// Where an expression is written, which decides its scope.
    #[derive(Clone, Copy)]
    enum Place {
        Enter,
        Rule,
        Segment,
        Match,
    }

    fn errors(text: &str, place: Place) -> Vec<String> {
        with_names(|names| {
            let scope = match place {
                Place::Enter => Scope::event(names),
                Place::Rule => Scope::customer(names),
                Place::Segment => Scope::customer(names).with_customer_state(),
                Place::Match => Scope::event(names).without_touchpoint(),
            };
            match compile(text, &scope) {
                Ok(_) => Vec::new(),
                Err(errors) => errors.into_iter().map(|e| e.message).collect(),
            }
        })
    }

    #[test]
    fn valid_conditions_pass_and_get_types() {
        with_names(|names| {
            let scope = Scope::event(names);
            let expr = compile(
                r#"event == "add_to_cart" and not followed_by(event == "purchase", 24h) and prop.price > 10"#,
                &scope,
            )
            .unwrap();
            assert_eq!(expr.ty, Type::Bool);
            let segment = Scope::customer(names).with_customer_state();
            for text in [
                r#"count(event == "email_opened", 90d) > 0 and count(event == "email_clicked", 90d) == 0"#,
                r#"stage >= "purchase" and persona in ["new", "regular"]"#,
                r#"trait.lifecycle == "new""#,
                "last_seen > 30d",
                r#"first_seen(event == "signup") < 7d"#,
                r#"trait.vip"#,
            ] {
                compile(text, &segment).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            }
        });
    }

    #[test]
    fn every_type_error_is_reported_not_just_the_first() {
        let found = errors(
            r#"event == 3 and count(event == "x") and last_seen > 30"#,
            Place::Enter,
        );
        assert_eq!(
            found,
            vec![
                "`==` compares text with a number",
                "the right side of `and` must be true or false, but this is a number",
                "`>` compares a duration with a number",
            ]
        );
    }

    #[test]
    fn references_are_checked_against_the_journey() {
        let found = errors(
            r#"stage == "purchse" or persona == "vip" or stage in ["loyalty", "churn"]"#,
            Place::Segment,
        );
        assert_eq!(
            found,
            vec![
                "unknown stage `purchse`",
                "unknown persona `vip`",
                "unknown stage `churn`"
            ]
        );
        let found = errors(
            r#"touchpoint == "newsleter" and channel == "fax""#,
            Place::Enter,
        );
        assert_eq!(
            found,
            vec!["unknown touchpoint `newsleter`", "unknown channel `fax`"]
        );
    }

    #[test]
    fn fields_are_only_read_where_they_mean_something() {
        let customer = errors(r#"event == "purchase""#, Place::Rule);
        assert_eq!(
            customer,
            vec!["`event` belongs to one event, but this rule describes a customer"]
        );
        let stage_in_enter = errors(r#"stage == "purchase""#, Place::Enter);
        assert_eq!(stage_in_enter.len(), 1);
        let touchpoint_in_match = errors(r#"channel == "email""#, Place::Match);
        assert_eq!(
            touchpoint_in_match,
            vec!["a touchpoint's `match` cannot use `channel`"]
        );
        let ahead = errors(r#"followed_by(event == "x", 1d)"#, Place::Rule);
        assert_eq!(ahead.len(), 1);
        let nested = errors(r#"count(count(event == "x") > 1) > 0"#, Place::Enter);
        assert_eq!(
            nested,
            vec!["`count` cannot be used inside another history function"]
        );
    }

    #[test]
    fn root_must_be_a_condition() {
        assert_eq!(
            errors(r#"count(event == "x")"#, Place::Enter),
            vec!["the expression must be true or false, but this is a number"]
        );
        assert_eq!(errors(r#""purchase""#, Place::Enter).len(), 1);
    }

    #[test]
    fn bad_regex_and_arity() {
        assert_eq!(
            errors(r#"prop.url matches "(unclosed""#, Place::Enter),
            vec!["invalid regular expression: unclosed group"]
        );
        assert_eq!(
            errors(
                r#"followed_by(event == "x") and count(event == "y", "3d") > 1"#,
                Place::Enter
            ),
            vec![
                "`followed_by` takes 2 arguments, not 1",
                "the second argument of `count` must be a duration such as 30d, not text",
            ]
        );
    }

    #[test]
    fn membership_wants_a_homogeneous_literal_list() {
        assert_eq!(
            errors(r#"event in ["a", 1]"#, Place::Enter),
            vec!["this list mixes text and a number"]
        );
        assert_eq!(
            errors(r#"event in prop.list"#, Place::Enter),
            vec!["`in` needs a list on its right"]
        );
    }

    #[test]
    fn checking_sets_every_node_type() {
        with_names(|names| {
            let mut expr = parse(r#"prop.a == 1 or event in ["x"]"#).unwrap();
            assert!(check(&mut expr, &Scope::event(names)).is_empty());
            fn all_typed(e: &Expr) -> bool {
                e.ty != Type::Unknown
                    && match &e.kind {
                        ExprKind::Not(x) => all_typed(x),
                        ExprKind::Binary { lhs, rhs, .. } => all_typed(lhs) && all_typed(rhs),
                        ExprKind::List(items) | ExprKind::Call { args: items, .. } => {
                            items.iter().all(all_typed)
                        }
                        _ => true,
                    }
            }
            assert!(all_typed(&expr), "{expr:#?}");
        });
    }
}
