//! Layout invariants: text stays in its box, no two texts overlap, the SVG is well-formed
//! XML naming every stage. Checked with the layout's own metrics here; the browser tests
//! check the same on the page as Chromium draws it.

use parcours_journey::{Journey, Kind, TEMPLATES, load_str};
use parcours_map::scene::{Rect, Scene};
use parcours_map::{Format, layout, render};
use proptest::prelude::*;

const TWELVE: &str = include_str!("fixtures/twelve-stages.toml");

fn journey(text: &str) -> Journey {
    let loaded = load_str("fixture.toml", text, None);
    loaded
        .journey
        .unwrap_or_else(|| panic!("{}", loaded.report.render()))
}

fn overlap(a: &Rect, b: &Rect) -> bool {
    // Touching edges (or sub-pixel rounding) is not an overlap.
    const EPS: f64 = 0.5;
    a.x + EPS < b.right()
        && b.x + EPS < a.right()
        && a.y + EPS < b.bottom()
        && b.y + EPS < a.bottom()
}

fn inside(inner: &Rect, outer: &Rect) -> bool {
    const EPS: f64 = 0.5;
    inner.x >= outer.x - EPS
        && inner.y >= outer.y - EPS
        && inner.right() <= outer.right() + EPS
        && inner.bottom() <= outer.bottom() + EPS
}

/// Every problem of the scene's text layout, described.
fn layout_problems(scene: &Scene) -> Vec<String> {
    let texts: Vec<_> = scene.texts().collect();
    let canvas = Rect::new(0.0, 0.0, scene.width, scene.height);
    let mut problems = Vec::new();
    for (i, a) in texts.iter().enumerate() {
        let ea = a.extent();
        if !inside(&ea, &a.within) {
            problems.push(format!(
                "{:?} leaves its box {:?} (extent {:?})",
                a.lines, a.within, ea
            ));
        }
        if !inside(&ea, &canvas) {
            problems.push(format!("{:?} leaves the canvas", a.lines));
        }
        for b in &texts[i + 1..] {
            if overlap(&ea, &b.extent()) {
                problems.push(format!("{:?} overlaps {:?}", a.lines, b.lines));
            }
        }
    }
    problems
}

fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect::<Vec<_>>()
                .join(" ")
                .replace(['\u{a0}', '\u{202f}'], " ")
        })
        .collect()
}

#[test]
fn templates_and_twelve_stages_lay_out_cleanly() {
    let mut journeys: Vec<(String, Journey)> = TEMPLATES
        .iter()
        .map(|t| (t.name.to_string(), journey(t.journey())))
        .collect();
    journeys.push(("twelve-stages".into(), journey(TWELVE)));
    for (name, j) in journeys {
        let problems = layout_problems(&layout(&j));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

#[test]
fn svg_is_xml_and_names_every_stage() {
    let mut journeys: Vec<Journey> = TEMPLATES.iter().map(|t| journey(t.journey())).collect();
    journeys.push(journey(TWELVE));
    for j in journeys {
        let texts = svg_texts(&render(&j, Format::Svg));
        for (i, stage) in j.stages.iter().enumerate() {
            let wanted = format!("{}. {}", i + 1, stage.name);
            assert!(
                texts.iter().any(|t| t == &wanted),
                "`{wanted}` not drawn in {}",
                j.id
            );
        }
    }
}

#[test]
fn twelve_stages_stay_legible() {
    let scene = layout(&journey(TWELVE));
    // Legible: body text is never scaled down, the map grows sideways instead.
    assert!(scene.texts().all(|t| t.font.size >= 10.0));
    assert!(scene.width > 12.0 * 230.0, "width {}", scene.width);
}

#[test]
fn kinds_read_differently() {
    let digital = journey(parcours_journey::template("digital").unwrap().journey());
    assert_eq!(digital.kind, Kind::Future);
    let future = svg_texts(&render(&digital, Format::Svg));
    assert!(
        future.iter().any(|t| t.starts_with("Cible : ≥ 35 %")),
        "future maps show targets"
    );
    let mut current = digital.clone();
    current.kind = Kind::Current;
    let current_texts = svg_texts(&render(&current, Format::Svg));
    assert!(
        !current_texts.iter().any(|t| t.starts_with("Cible")),
        "current maps do not"
    );

    let training = journey(parcours_journey::template("training").unwrap().journey());
    let day = svg_texts(&render(&training, Format::Svg));
    assert!(day.iter().any(|t| t == "JOURNÉE TYPE"));
    assert!(
        day.iter()
            .any(|t| t == "06:45 · Plateforme d'apprentissage"),
        "touchpoints sit at their time"
    );
    assert!(
        day.iter().any(|t| t == "Salarié en reconversion")
            && day.iter().any(|t| t == "Indépendant"),
        "one row per persona"
    );
    // Persona-only touchpoints appear once per persona that uses them.
    assert_eq!(
        day.iter()
            .filter(|t| t.starts_with("12:15 · Leçon"))
            .count(),
        1
    );
    assert_eq!(
        day.iter()
            .filter(|t| t.starts_with("08:10 · Newsletter"))
            .count(),
        2
    );
}

#[test]
fn hovering_explains_how_things_are_measured() {
    let digital = journey(parcours_journey::template("digital").unwrap().journey());
    let svg = render(&digital, Format::Svg);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let tips: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        tips.contains(&"Achat\nenter: event in [\"add_to_cart\", \"checkout_started\"]"),
        "{tips:#?}"
    );
    assert!(tips.contains(
        &"Panier\nmatch: event in [\"add_to_cart\", \"cart_viewed\", \"coupon_applied\"]"
    ));
    assert!(tips.iter().any(|t| t.starts_with("Abandon panier (cart_abandonment)\nevents where event == \"add_to_cart\" and not followed_by")));
    assert!(tips.iter().any(|t| {
        t.starts_with("Relance panier abandonné\nsubject: Vous avez oublié quelque chose")
    }));
}

#[test]
fn html_is_self_contained() {
    let j = journey(parcours_journey::template("email-b2b").unwrap().journey());
    let html = render(&j, Format::Html);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains(r#"<html lang="fr">"#));
    for fetch in ["http://", "https://", "src=", "@import", "url("] {
        let found = html.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !found.contains(fetch),
            "the page would fetch something: {fetch}"
        );
    }
}

fn small_journey(kind: &str) -> String {
    format!(
        r#"[journey]
id = "mini"
name = "Mini <journey> & co"
kind = "{kind}"

[[persona]]
id = "p"
name = "Persona"

[[touchpoint]]
id = "mail"
name = "Welcome email"
channel = "email"
match = 'event == "email_opened"'
at = ["08:00"]

[[stage]]
id = "one"
name = "First"
goal = "Start"
enter = 'event == "a"'
touchpoints = ["mail"]
emotion = -1
hours = "07:00-09:00"

[[stage]]
id = "two"
name = "Second"
enter = 'event == "b"'
pain_points = ["Slow"]
emotion = 1
hours = "22:00-01:00"

[[kpi]]
id = "conv"
stage = "two"
name = "Conversion"
builtin = "conversion_rate"
target = 0.5
"#
    )
}

#[test]
fn svg_snapshots_per_kind() {
    for kind in ["current", "future", "day-in-the-life"] {
        let loaded = load_str("mini.toml", &small_journey(kind), None);
        let j = loaded
            .journey
            .unwrap_or_else(|| panic!("{}", loaded.report.render()));
        insta::assert_snapshot!(format!("mini-{kind}"), render(&j, Format::Svg));
    }
}

fn toml_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the number of stages and the length of their text, nothing overlaps.
    #[test]
    fn random_journeys_never_overlap(
        stages in prop::collection::vec(
            ("[A-Za-zéèàçô' ]{1,60}", prop::collection::vec("[a-zéèêàç ,'?!:«»-]{1,120}", 0..4), -2i8..=2),
            1..13,
        ),
        day in any::<bool>(),
    ) {
        let mut text = format!(
            "[journey]\nid = \"r\"\nname = \"R\"\nkind = \"{}\"\n[[touchpoint]]\nid = \"t\"\nname = \"Touchpoint\"\nchannel = \"web\"\nmatch = 'event == \"x\"'\nat = [\"00:00\", \"00:05\", \"12:00\", \"12:01\", \"23:59\"]\n",
            if day { "day-in-the-life" } else { "current" }
        );
        for (i, (name, items, emotion)) in stages.iter().enumerate() {
            let list: Vec<String> = items.iter().map(|s| format!("\"{}\"", toml_text(s))).collect();
            text.push_str(&format!(
                "[[stage]]\nid = \"s{i}\"\nname = \"{}\"\nenter = 'event == \"s{i}\"'\ntouchpoints = [\"t\"]\nactions = [{}]\nthoughts = [{}]\nemotion = {emotion}\nhours = \"{:02}:00-{:02}:30\"\n",
                toml_text(name.trim()),
                list.join(", "),
                list.join(", "),
                i % 24,
                (i + 1) % 24,
            ));
        }
        let loaded = load_str("random.toml", &text, None);
        let j = loaded.journey.unwrap_or_else(|| panic!("{}\n{text}", loaded.report.render()));
        let problems = layout_problems(&layout(&j));
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
