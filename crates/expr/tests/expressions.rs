//! The language seen from outside: error messages as users read them, and printing round trips.

use parcours_expr::{
    BinaryOp, Duration, Expr, ExprKind, Field, Func, Names, Scope, Span, compile, parse,
};
use proptest::prelude::*;

/// Renders an error under its expression, the way the journey validator will show it.
fn explain(text: &str) -> String {
    let stages = vec!["awareness".to_string(), "purchase".to_string()];
    let touchpoints = vec!["newsletter".to_string()];
    let names = Names {
        stages: &stages,
        touchpoints: &touchpoints,
        channels: &["web", "email"],
        ..Names::default()
    };
    let errors = match compile(text, &Scope::event(names)) {
        Ok(_) => return format!("{text}\n  ok"),
        Err(errors) => errors,
    };
    let mut out = format!("{text}\n");
    for error in errors {
        let before = text[..error.span.start].chars().count();
        let width = text[error.span.start..error.span.end]
            .chars()
            .count()
            .max(1);
        out.push_str(&format!(
            "{}{} {}\n",
            " ".repeat(before),
            "^".repeat(width),
            error.message
        ));
        if let Some(hint) = error.hint {
            out.push_str(&format!("{}  hint: {hint}\n", " ".repeat(before)));
        }
    }
    out
}

#[test]
fn error_messages() {
    let cases = [
        r#"event = "purchase""#,
        r#"event == "purchase" && prop.total > 0"#,
        r#"évènement == "achat""#,
        r#"event == "x" prop.y == 1"#,
        r#"lifecycle == "new""#,
        r#"count(event == "email_opened", 90j) > 0"#,
        r#"count(event == "email_opened", 1.5h) > 0"#,
        r#"followed_by(event == "purchase") and touchpoint == "newsleter""#,
        r#"prop.campaign matches "nl-(\d+""#,
        r#"event == "a" and (channel == "email" or channel == "fax""#,
        r#"count(event == "x") + 1 > 2"#,
        r#"last_seen > 30"#,
        r#"event in [1, 2]"#,
        r#"prop.price > "10" and event in ["a", 2]"#,
    ];
    let rendered: Vec<String> = cases.iter().map(|c| explain(c)).collect();
    insta::assert_snapshot!(rendered.join("\n"));
}

fn without_spans(mut expr: Expr) -> Expr {
    expr.span = Span::default();
    expr.kind = match expr.kind {
        ExprKind::List(items) => ExprKind::List(items.into_iter().map(without_spans).collect()),
        ExprKind::Not(x) => ExprKind::Not(Box::new(without_spans(*x))),
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op,
            lhs: Box::new(without_spans(*lhs)),
            rhs: Box::new(without_spans(*rhs)),
        },
        ExprKind::Call { func, args } => ExprKind::Call {
            func,
            args: args.into_iter().map(without_spans).collect(),
        },
        other => other,
    };
    expr
}

fn node(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default())
}

fn value() -> impl Strategy<Value = Expr> {
    let text = "[a-zé \"\\\\.-]{0,8}";
    let path = prop_oneof![
        "[a-z][a-z0-9_]{0,5}(\\.[a-z][a-z0-9_-]{0,4}){0,2}",
        "[a-z ]{1,6}"
    ];
    prop_oneof![
        text.prop_map(|s| node(ExprKind::Str(s))),
        (-1.0e6..1.0e6f64).prop_map(|n| node(ExprKind::Num(n))),
        any::<bool>().prop_map(|b| node(ExprKind::Bool(b))),
        (1u64..10_000).prop_map(|s| node(ExprKind::Duration(Duration::from_secs(s)))),
        Just(node(ExprKind::Field(Field::Event))),
        Just(node(ExprKind::Field(Field::Stage))),
        path.clone()
            .prop_map(|p| node(ExprKind::Field(Field::Prop(p)))),
        path.prop_map(|p| node(ExprKind::Field(Field::Trait(p)))),
        Just(node(ExprKind::Call {
            func: Func::LastSeen,
            args: vec![]
        })),
    ]
}

fn comparison() -> impl Strategy<Value = Expr> {
    let ops = prop_oneof![
        Just(BinaryOp::Eq),
        Just(BinaryOp::Ne),
        Just(BinaryOp::Lt),
        Just(BinaryOp::Ge),
        Just(BinaryOp::StartsWith),
        Just(BinaryOp::Contains),
    ];
    prop_oneof![
        (ops, value(), value()).prop_map(|(op, lhs, rhs)| node(ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs)
        })),
        (value(), prop::collection::vec(value(), 0..4), any::<bool>()).prop_map(
            |(lhs, items, negate)| {
                node(ExprKind::Binary {
                    op: if negate {
                        BinaryOp::NotIn
                    } else {
                        BinaryOp::In
                    },
                    lhs: Box::new(lhs),
                    rhs: Box::new(node(ExprKind::List(items))),
                })
            }
        ),
        value(),
    ]
}

fn condition() -> impl Strategy<Value = Expr> {
    comparison().prop_recursive(4, 32, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|x| node(ExprKind::Not(Box::new(x)))),
            (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(lhs, rhs, or)| node(
                ExprKind::Binary {
                    op: if or { BinaryOp::Or } else { BinaryOp::And },
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                }
            )),
            (inner, prop::option::of(1u64..100_000)).prop_map(|(x, within)| {
                let mut args = vec![x];
                args.extend(within.map(|s| node(ExprKind::Duration(Duration::from_secs(s)))));
                node(ExprKind::Call {
                    func: Func::Count,
                    args,
                })
            }),
        ]
    })
}

proptest! {
    /// Printing any tree and parsing the text gives the same tree back.
    #[test]
    fn printing_then_parsing_is_identity(expr in condition()) {
        let text = expr.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
        prop_assert_eq!(without_spans(parsed), expr, "text: {}", text);
    }

    /// Whatever the input, the parser answers (tree or located error) and never panics.
    #[test]
    fn parser_never_panics(text in "[ -~éà]{0,40}") {
        if let Err(error) = parse(&text) {
            prop_assert!(error.span.start <= error.span.end && error.span.end <= text.len());
            prop_assert!(text.is_char_boundary(error.span.start) && text.is_char_boundary(error.span.end));
        }
    }
}
