//! `docs/journey-file.md` stays true: it names every key, built-in and diagnostic code.

use parcours_journey::{BUILTINS, SECTION_KEYS};

const DOC: &str = include_str!("../../../docs/journey-file.md");
const LOADER: &str = include_str!("../src/load.rs");

#[test]
fn every_key_of_every_section_is_documented() {
    for (section, keys) in SECTION_KEYS {
        for key in keys {
            assert!(
                DOC.contains(&format!("`{key}`")),
                "docs/journey-file.md does not mention `{key}` of {section}"
            );
        }
    }
}

#[test]
fn every_builtin_and_its_defaults_are_documented() {
    for spec in BUILTINS {
        assert!(
            DOC.contains(&format!("| `{}` |", spec.name)),
            "builtin {} is not in the table",
            spec.name
        );
        for default in spec.defaults {
            assert!(
                DOC.contains(&format!("`{default}`")),
                "default `{default}` of {} is not documented",
                spec.name
            );
        }
    }
}

/// The first string literal after each `Diagnostic::error(` / `Diagnostic::warning(`.
fn loader_codes() -> Vec<String> {
    let mut codes = Vec::new();
    for marker in ["Diagnostic::error(", "Diagnostic::warning("] {
        for (at, _) in LOADER.match_indices(marker) {
            let rest = LOADER[at + marker.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                codes.push(literal[..literal.find('"').unwrap()].to_string());
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_diagnostic_code_is_documented() {
    let codes = loader_codes();
    assert!(codes.len() > 15, "the scan found the codes: {codes:?}");
    let expression_codes = [
        parcours_expr::ErrorCode::Syntax,
        parcours_expr::ErrorCode::UnknownName,
        parcours_expr::ErrorCode::UnknownReference,
        parcours_expr::ErrorCode::Type,
        parcours_expr::ErrorCode::Context,
        parcours_expr::ErrorCode::Regex,
    ];
    for code in codes
        .iter()
        .map(String::as_str)
        .chain(expression_codes.iter().map(|c| c.as_str()))
    {
        assert!(
            DOC.contains(&format!("`{code}`")),
            "diagnostic code `{code}` is not documented"
        );
    }
}
