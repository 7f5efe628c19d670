//! Every built-in template is a valid journey, on its own and once written to disk.

use parcours_journey::{Kind, TEMPLATES, load_file, load_str, template};

#[test]
fn every_template_validates_without_errors_or_warnings() {
    for t in TEMPLATES {
        let loaded = load_str(&format!("{}.toml", t.name), t.journey(), None);
        assert!(
            loaded.report.diagnostics.is_empty(),
            "template {}:\n{}",
            t.name,
            loaded.report.render()
        );
        let journey = loaded.journey.expect("valid");
        assert!(!journey.stages.is_empty());
    }
}

#[test]
fn templates_follow_the_seeds() {
    let stage_names = |name: &str| -> Vec<String> {
        let journey = load_str("t", template(name).unwrap().journey(), None)
            .journey
            .unwrap();
        journey.stages.into_iter().map(|s| s.name).collect()
    };
    assert_eq!(
        stage_names("email-b2b"),
        [
            "La recherche",
            "Le contact initial et la collecte d'informations",
            "Le devis",
            "Le processus décisionnel",
            "La conclusion de la transaction",
            "Le suivi"
        ]
    );
    assert_eq!(
        stage_names("digital"),
        [
            "Prise de conscience",
            "Considération",
            "Achat",
            "Expérience post-achat",
            "Fidélisation"
        ]
    );
    assert_eq!(
        stage_names("training"),
        [
            "Découverte du produit",
            "Inscription",
            "Utilisation du service",
            "Support client"
        ]
    );
    let digital = load_str("t", template("digital").unwrap().journey(), None)
        .journey
        .unwrap();
    let builtins: Vec<&str> = digital
        .kpis
        .iter()
        .filter_map(|k| k.builtin.map(|b| b.name()))
        .collect();
    assert_eq!(
        builtins,
        [
            "click_through_rate",
            "impressions",
            "time_spent",
            "pages_viewed",
            "conversion_rate",
            "cart_abandonment",
            "satisfaction",
            "complaints",
            "repurchase_rate",
            "nps"
        ],
        "seed 001 names ten indicators"
    );
    assert!(
        digital.kpis.iter().all(|k| k.target.is_some()),
        "future state: every KPI has a target"
    );
}

#[test]
fn the_three_kinds_are_covered() {
    let kinds: Vec<Kind> = TEMPLATES
        .iter()
        .map(|t| load_str("t", t.journey(), None).journey.unwrap().kind)
        .collect();
    assert_eq!(kinds, [Kind::Current, Kind::Future, Kind::DayInTheLife]);
}

#[test]
fn written_templates_validate_with_their_email_files() {
    let root = std::env::temp_dir().join(format!("parcours-templates-{}", std::process::id()));
    for t in TEMPLATES {
        let dir = root.join(t.name);
        let written = t.write_to(&dir, false).unwrap();
        assert_eq!(written.len(), t.files.len());
        let loaded = load_file(&dir.join("journey.toml")).unwrap();
        assert!(loaded.journey.is_some(), "{}", loaded.report.render());
        // A second write without force refuses and leaves the files alone.
        std::fs::write(dir.join("journey.toml"), "edited").unwrap();
        let err = t.write_to(&dir, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("journey.toml")).unwrap(),
            "edited"
        );
        t.write_to(&dir, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("journey.toml")).unwrap(),
            t.journey()
        );
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_missing_email_template_is_an_error_on_disk() {
    let root = std::env::temp_dir().join(format!("parcours-missing-{}", std::process::id()));
    let t = template("training").unwrap();
    t.write_to(&root, false).unwrap();
    std::fs::remove_file(root.join("templates/enrolment-reminder.mjml")).unwrap();
    let loaded = load_file(&root.join("journey.toml")).unwrap();
    assert!(loaded.journey.is_none());
    let located = loaded.report.located();
    assert_eq!(located.len(), 1);
    assert_eq!(located[0].code, "missing-file");
    assert_eq!(
        loaded.report.source.line_text(located[0].line),
        r#"template = "templates/enrolment-reminder.mjml""#
    );
    std::fs::remove_dir_all(root).unwrap();
}
