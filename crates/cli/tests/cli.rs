//! The `parcours` binary as users run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn parcours(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_parcours"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A fresh empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const TEMPLATES: [&str; 3] = ["email-b2b", "digital", "training"];

#[test]
fn init_then_validate_passes_for_every_template() {
    let dir = scratch("init-validate");
    for template in TEMPLATES {
        let init = parcours(&dir, &["init", "--template", template, template]);
        assert!(init.status.success(), "{}", stderr(&init));
        let validate = parcours(&dir, &["validate", &format!("{template}/journey.toml")]);
        assert_eq!(validate.status.code(), Some(0), "{}", stdout(&validate));
        assert!(
            stdout(&validate).contains(": valid "),
            "{}",
            stdout(&validate)
        );
    }
}

#[test]
fn init_never_overwrites_without_force() {
    let dir = scratch("overwrite");
    assert!(parcours(&dir, &["init"]).status.success());
    std::fs::write(dir.join("journey.toml"), "# mine").unwrap();
    let again = parcours(&dir, &["init", "--template", "training"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already exists; pass --force"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("journey.toml")).unwrap(),
        "# mine"
    );
    assert!(
        !dir.join("templates/enrolment-reminder.mjml").exists(),
        "nothing half-written"
    );
    assert!(
        parcours(&dir, &["init", "--template", "training", "--force"])
            .status
            .success()
    );
    assert!(
        std::fs::read_to_string(dir.join("journey.toml"))
            .unwrap()
            .contains("formation")
    );
}

#[test]
fn init_list() {
    let dir = scratch("list");
    let text = parcours(&dir, &["init", "--list"]);
    insta::assert_snapshot!(stdout(&text));
    let json: serde_json::Value = serde_json::from_str(&stdout(&parcours(
        &dir,
        &["init", "--list", "--format", "json"],
    )))
    .unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, TEMPLATES);
}

#[test]
fn validate_reports_every_mistake_and_exits_1() {
    let dir = scratch("mistakes");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../journey/tests/fixtures/mistakes.toml"
        ),
        dir.join("journey.toml"),
    )
    .unwrap();
    let text = parcours(&dir, &["validate"]);
    assert_eq!(text.status.code(), Some(1));
    insta::assert_snapshot!(stdout(&text));

    let json = parcours(&dir, &["validate", "journey.toml", "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["valid"], false);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(
        report["errors"].as_u64().unwrap() as usize,
        diagnostics.len()
    );
    // The play's template is also looked up next to the file: 19 mistakes in the text, 20 errors.
    assert_eq!(diagnostics.len(), 20);
    assert!(
        diagnostics
            .iter()
            .all(|d| d["line"].as_u64().unwrap() > 0 && d["column"].as_u64().unwrap() > 0)
    );
    assert_eq!(report["journey"], serde_json::Value::Null);
}

#[test]
fn validate_json_of_a_valid_file_summarises_it() {
    let dir = scratch("valid-json");
    assert!(
        parcours(&dir, &["init", "--template", "digital"])
            .status
            .success()
    );
    let out = parcours(&dir, &["validate", "--format", "json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["journey"]["kind"], "future");
    assert_eq!(report["journey"]["stages"], 5);
    assert_eq!(report["journey"]["kpis"], 10);
}

#[test]
fn a_missing_file_says_how_to_start() {
    let dir = scratch("missing");
    let out = parcours(&dir, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: journey.toml does not exist; create one with `parcours init` (see `parcours init --list`)\n"
    );
}

#[test]
fn map_writes_svg_and_html() {
    let dir = scratch("map");
    assert!(
        parcours(&dir, &["init", "--template", "email-b2b"])
            .status
            .success()
    );
    let svg = parcours(&dir, &["map", "-o", "map.svg"]);
    assert!(svg.status.success(), "{}", stderr(&svg));
    assert!(
        stdout(&svg).starts_with("wrote map.svg (current SVG map, 6 stages"),
        "{}",
        stdout(&svg)
    );
    let text = std::fs::read_to_string(dir.join("map.svg")).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");

    let html = parcours(
        &dir,
        &["map", "journey.toml", "-o", "map.html", "--format", "json"],
    );
    assert!(html.status.success());
    let summary: serde_json::Value = serde_json::from_str(&stdout(&html)).unwrap();
    assert_eq!(summary["format"], "html");
    let page = std::fs::read_to_string(dir.join("map.html")).unwrap();
    assert_eq!(summary["bytes"].as_u64().unwrap() as usize, page.len());
    assert!(page.starts_with("<!doctype html>") && page.contains("3. Le devis"));
}

#[test]
fn map_svg_of_every_template_is_xml_naming_every_stage() {
    let dir = scratch("map-every");
    for template in TEMPLATES {
        assert!(
            parcours(&dir, &["init", "--template", template, template])
                .status
                .success()
        );
        let svg = format!("{template}.svg");
        let out = parcours(
            &dir,
            &["map", &format!("{template}/journey.toml"), "-o", &svg],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(dir.join(&svg)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{template}: {e}"));
        // Stage headers may wrap over several lines: compare without white space.
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let drawn: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                squeeze(
                    &n.descendants()
                        .filter(|d| d.is_text())
                        .filter_map(|d| d.text())
                        .collect::<String>(),
                )
            })
            .collect();
        let journey = parcours_journey::load_file(&dir.join(template).join("journey.toml"))
            .unwrap()
            .journey
            .unwrap();
        for (i, stage) in journey.stages.iter().enumerate() {
            let wanted = squeeze(&format!("{}. {}", i + 1, stage.name));
            assert!(
                drawn.contains(&wanted),
                "{template}: stage `{}` not drawn",
                stage.name
            );
        }
    }
}

#[test]
fn map_draws_a_template_without_a_file() {
    let dir = scratch("map-template");
    let out = parcours(&dir, &["map", "--template", "training", "-o", "day.svg"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(dir.join("day.svg"))
            .unwrap()
            .contains("JOURNÉE TYPE")
    );
}

#[test]
fn map_of_an_invalid_journey_draws_nothing() {
    let dir = scratch("map-invalid");
    std::fs::write(
        dir.join("journey.toml"),
        "[journey]\nid = \"x\"\nname = \"X\"\nkind = \"futur\"\n",
    )
    .unwrap();
    let out = parcours(&dir, &["map", "-o", "map.html"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error[bad-value]: `futur` is not a valid `kind`"),
        "{err}"
    );
    assert!(
        err.contains("journey.toml: 2 errors; nothing drawn"),
        "{err}"
    );
    assert!(!dir.join("map.html").exists());
}

#[test]
fn map_needs_a_known_extension() {
    let dir = scratch("map-extension");
    let out = parcours(&dir, &["map", "--template", "digital", "-o", "map.png"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("name the output .svg or .html"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unknown_template_lists_the_known_ones() {
    let dir = scratch("unknown-template");
    let out = parcours(&dir, &["init", "--template", "shop"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: unknown template `shop`; templates: email-b2b, digital, training\n"
    );
}
