//! Opportunity summaries speak the journey's language (`lang` in the journey file), with its
//! typography: a French journey gets French sentences, an English one English sentences.

mod common;

use std::path::Path;

use common::{analyze_json, demo_with_journey};

fn summaries(dir: &Path, journey: &str) -> Vec<(String, String)> {
    let report = analyze_json(dir, journey, &[]);
    report["opportunities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["summary"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn summaries_follow_the_journey_language() {
    let dir = demo_with_journey("language", 20000);
    let french = std::fs::read_to_string(dir.join("journey.toml")).unwrap();
    assert!(french.contains("lang = \"fr\""));
    std::fs::write(
        dir.join("english.toml"),
        french.replace("lang = \"fr\"", "lang = \"en\""),
    )
    .unwrap();

    let fr = summaries(&dir, "journey.toml");
    let kinds: std::collections::BTreeSet<&str> = fr.iter().map(|o| o.0.as_str()).collect();
    assert!(kinds.len() >= 3, "too few kinds to compare: {kinds:?}");
    for (kind, text) in &fr {
        assert!(
            text.contains("clients") && !text.contains("customers"),
            "{kind}: {text}"
        );
        // French puts a no-break space before a colon.
        assert!(
            !text.contains(" :") && !text.contains("%:"),
            "{kind}: {text}"
        );
    }
    let en = summaries(&dir, "english.toml");
    assert_eq!(
        en.len(),
        fr.len(),
        "the language changes words, not findings"
    );
    for ((kind_en, text), (kind_fr, _)) in en.iter().zip(&fr) {
        assert_eq!(kind_en, kind_fr);
        assert!(
            text.contains("customers") && !text.contains("clients"),
            "{kind_en}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
