//! A journey file with many mistakes: every one is reported, each at its own line and column.

use parcours_journey::{Report, load_str};

const MISTAKES: &str = include_str!("fixtures/mistakes.toml");

fn report() -> Report {
    let loaded = load_str("journey.toml", MISTAKES, None);
    assert!(
        loaded.journey.is_none(),
        "a file with errors yields no journey"
    );
    loaded.report
}

/// Line and column (1-based, in characters) of the `nth` occurrence of `needle` in the fixture.
fn position_of(needle: &str, nth: usize) -> (usize, usize) {
    let offset = MISTAKES
        .match_indices(needle)
        .nth(nth)
        .expect("needle in fixture")
        .0;
    let before = &MISTAKES[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

#[test]
fn every_mistake_is_reported_at_its_place() {
    let report = report();
    let located = report.located();
    let at = |message: &str| -> (usize, usize) {
        let d = located
            .iter()
            .find(|d| d.message.contains(message))
            .unwrap_or_else(|| {
                panic!(
                    "no diagnostic containing {message:?} in\n{}",
                    report.render()
                )
            });
        (d.line, d.column)
    };
    assert_eq!(
        at("`futur` is not a valid `kind`"),
        position_of("\"futur\"", 0)
    );
    assert_eq!(
        at("`30 days` is not a duration"),
        position_of("\"30 days\"", 0)
    );
    assert_eq!(
        at("`mail` is not a valid `channel`"),
        position_of("\"mail\"", 0)
    );
    assert_eq!(
        at("`=` is not an operator"),
        position_of("= \"product_view\"", 0)
    );
    assert_eq!(at("unknown touchpoint `avis`"), position_of("\"avis\"", 0));
    assert_eq!(at("unknown key `emotions`"), position_of("emotions", 0));
    // Inside a basic string with escapes: the column is that of `cuont` in the file.
    assert_eq!(at("unknown function `cuont`"), position_of("cuont", 0));
    assert_eq!(at("emotion 3 is out of range"), position_of("3\n", 0));
    assert_eq!(
        at("duplicate stage id `achat`"),
        position_of("\"achat\"", 1)
    );
    assert_eq!(
        at("the right side of `and` must be true or false"),
        position_of("count(event == \\\"é\\\")", 0)
    );
    assert_eq!(at("unknown stage `purchse`"), position_of("\"purchse\"", 0));
    assert_eq!(at("target 60 is not a percentage"), position_of("60", 0));
    assert_eq!(
        at("`nsp` is not a valid `builtin`"),
        position_of("\"nsp\"", 0)
    );
    assert_eq!(
        at("`event` belongs to one event"),
        position_of("event == \"email_opened\"", 0)
    );
    assert_eq!(
        at("`4 heures` is not a duration"),
        position_of("\"4 heures\"", 0)
    );
    assert_eq!(at("unknown segment `pasifs`"), position_of("\"pasifs\"", 0));
    assert_eq!(at("unknown variable `client`"), position_of("client", 0));
    assert_eq!(at("is not a frequency cap"), position_of("\"une fois", 0));
    assert_eq!(at("unknown section `stages`"), position_of("stages", 0));
    assert_eq!(report.error_count(), 19, "{}", report.render());
}

#[test]
fn rendered_diagnostics() {
    insta::assert_snapshot!(report().render());
}

#[test]
fn json_diagnostics() {
    let json = serde_json::to_string_pretty(&report().located()).unwrap();
    insta::assert_snapshot!(json);
}

#[test]
fn syntax_errors_are_reported_with_the_other_mistakes() {
    let text = "[journey]\nid = \"x\"\nname = \"X\"\n\n[[stage]]\nid = \"a\"\nname = \nenter = 'event == 1 and'\n";
    let report = load_str("j.toml", text, None).report;
    let located = report.located();
    let summary: Vec<(usize, usize, &str)> =
        located.iter().map(|d| (d.line, d.column, d.code)).collect();
    assert_eq!(summary[0].0, 7, "{}", report.render());
    assert_eq!(summary[0].2, "toml-syntax");
    assert!(
        summary
            .iter()
            .any(|&(line, _, code)| line == 8 && code == "expression-syntax"),
        "{}",
        report.render()
    );
}

#[test]
fn an_empty_file_says_what_is_missing() {
    let report = load_str("j.toml", "", None).report;
    let messages: Vec<&str> = report
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "the file has no [journey] table",
            "the journey has no stages"
        ]
    );
}

#[test]
fn a_journey_with_more_stages_than_measured_is_refused_at_the_first_too_many() {
    let stages = |count: usize| -> String {
        let mut text = String::from("[journey]\nid = \"big\"\nname = \"Big\"\n");
        for i in 0..count {
            text.push_str(&format!(
                "\n[[stage]]\nid = \"s{i}\"\nname = \"Stage {i}\"\nenter = 'event == \"e{i}\"'\n"
            ));
        }
        text
    };
    let within = load_str("j.toml", &stages(parcours_journey::MAX_STAGES), None);
    assert!(
        within
            .report
            .diagnostics
            .iter()
            .all(|d| d.code != "too-many-stages"),
        "{}",
        within.report.render()
    );
    let text = stages(parcours_journey::MAX_STAGES + 2);
    let loaded = load_str("j.toml", &text, None);
    assert!(loaded.journey.is_none());
    let located = loaded.report.located();
    let too_many = located
        .iter()
        .find(|d| d.message.contains("at most 64 are measured"))
        .unwrap_or_else(|| panic!("{}", loaded.report.render()));
    assert!(
        too_many.message.contains("66 stages"),
        "{}",
        too_many.message
    );
    // At the first stage past the limit.
    let line = text[..text.match_indices("[[stage]]").nth(64).unwrap().0]
        .matches('\n')
        .count()
        + 1;
    assert_eq!(too_many.line, line);
}
