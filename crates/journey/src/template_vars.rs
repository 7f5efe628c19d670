//! Checks the `{{ variable }}` placeholders of play subjects.

use std::ops::Range;

use parcours_expr::suggest::closest;

/// Roots a placeholder may start with.
pub const VARIABLE_ROOTS: [&str; 5] = ["customer", "journey", "stage", "play", "unsubscribe_url"];

/// A problem in a placeholder, located inside the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceholderError {
    /// Byte range inside the text.
    pub span: Range<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// Checks every `{{ path | filter }}` placeholder of `text`.
pub fn check_placeholders(text: &str) -> Vec<PlaceholderError> {
    let mut errors = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("{{") {
        let open = rest + found;
        let Some(len) = text[open + 2..].find("}}") else {
            errors.push(PlaceholderError {
                span: open..text.len(),
                message: "`{{` is not closed".into(),
                hint: Some("close it with `}}`, e.g. {{ customer.first_name }}".into()),
            });
            break;
        };
        let inner_start = open + 2;
        let inner = &text[inner_start..inner_start + len];
        rest = inner_start + len + 2;
        let path = inner.split('|').next().unwrap_or("");
        let lead = path.len() - path.trim_start().len();
        let path = path.trim();
        let span = inner_start + lead..inner_start + lead + path.len();
        if path.is_empty() {
            errors.push(PlaceholderError {
                span: open..rest,
                message: "empty placeholder".into(),
                hint: Some("write a variable, e.g. {{ customer.first_name }}".into()),
            });
            continue;
        }
        let well_formed = path.split('.').all(|segment| {
            !segment.is_empty() && segment.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
        if !well_formed {
            errors.push(PlaceholderError {
                span,
                message: format!("`{path}` is not a variable name"),
                hint: Some("variables are dotted names, e.g. customer.first_name".into()),
            });
            continue;
        }
        let root = path.split('.').next().unwrap_or(path);
        if !VARIABLE_ROOTS.contains(&root) {
            let hint = match closest(root, VARIABLE_ROOTS) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("variables start with {}", VARIABLE_ROOTS.join(", ")),
            };
            errors.push(PlaceholderError {
                span: span.start..span.start + root.len(),
                message: format!("unknown variable `{root}`"),
                hint: Some(hint),
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_variables_and_filters() {
        assert!(
            check_placeholders("Bonjour {{ customer.first_name | default(\"vous\") }} !")
                .is_empty()
        );
        assert!(check_placeholders("no placeholder").is_empty());
    }

    #[test]
    fn reports_each_bad_placeholder_where_it_is() {
        let text = "{{ custmer.name }} {{ }} {{ a-b }} {{ stage.name";
        let errors = check_placeholders(text);
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "unknown variable `custmer`",
                "empty placeholder",
                "`a-b` is not a variable name",
                "`{{` is not closed"
            ]
        );
        assert_eq!(&text[errors[0].span.clone()], "custmer");
        assert_eq!(errors[0].hint.as_deref(), Some("did you mean `customer`?"));
    }
}
