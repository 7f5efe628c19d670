//! The web UI's pages as HTML: functions of what they show and nothing else, so that each
//! is checked on its own (snapshots) apart from the server. Every page is one document with
//! its style inline and no script; nothing is fetched from anywhere.

use std::fmt::Write as _;

use parcours_journey::{Journey, Lang};
use parcours_map::escape;
use parcours_store::Customer;
use parcours_store::write_keys::{KeyKind, WriteKey};

use crate::customers::{Member, Timeline};
use crate::read_api::Group;

/// The page a session is on, for the navigation bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// The map and the measured journey.
    Map,
    /// Segments and their members.
    Segments,
    /// Customer search and timelines.
    Customers,
    /// Write and view keys (admin).
    Keys,
}

/// What every page of a session shows around its content.
pub struct Chrome<'a> {
    /// The journey's language.
    pub lang: Lang,
    /// Whether the session may manage keys.
    pub admin: bool,
    /// The session's CSRF token, for the forms that change something.
    pub csrf: &'a str,
    /// The page.
    pub here: Tab,
}

/// The words of the UI in the journey's language.
fn w(lang: Lang, en: &'static str, fr: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
    }
}

/// A path segment or query value, percent-encoded.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A time as read by people: `2026-03-01 10:30:00 UTC`.
fn when(ms: i64) -> String {
    moment(&parcours_events::format_timestamp(ms))
}

/// An RFC 3339 time to the second, as read by people: `2026-03-01 10:30:00 UTC`.
fn moment(rfc3339: &str) -> String {
    let text = rfc3339.replace('T', " ");
    let seconds = text.split(['.', 'Z']).next().unwrap_or(&text);
    format!("{seconds} UTC")
}

const STYLE: &str = r#"
  nav.top { position: sticky; top: 0; z-index: 5; display: flex; align-items: center; flex-wrap: wrap; gap: 4px 16px; padding: 8px 20px; background: #1f2933; }
  nav.top a { color: #ced4da; text-decoration: none; font-size: 15px; padding: 4px 0; border-bottom: 2px solid transparent; }
  nav.top a.here { color: #fff; border-bottom-color: #4dabf7; }
  nav.top .brand { color: #fff; font-weight: 700; margin-right: 6px; }
  nav.top .who { margin-left: auto; color: #adb5bd; font-size: 13px; }
  nav.top form { margin: 0; }
  nav.top button { background: transparent; border-color: #495057; color: #e9ecef; padding: 3px 10px; font-size: 13px; }
  main { display: block; }
  main section, main header { scroll-margin-top: 56px; }
  main.narrow { max-width: 420px; margin: 8vh auto; padding: 0 16px; }
  main.narrow h1 { font-size: 26px; margin: 0 0 4px; }
  .box { background: #fff; border-radius: 10px; padding: 16px; box-shadow: 0 1px 4px rgba(15, 23, 42, .08); }
  form.stack { display: grid; gap: 12px; }
  form.stack label, form.pickers label { display: grid; gap: 4px; font-size: 13px; color: #495057; }
  form.pickers { display: flex; flex-wrap: wrap; align-items: end; gap: 10px 14px; background: #fff; padding: 12px 14px; border-radius: 10px; box-shadow: 0 1px 4px rgba(15, 23, 42, .08); }
  form.inline { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 0; }
  input, select, button { font: inherit; font-size: 15px; padding: 7px 10px; border: 1px solid #ced4da; border-radius: 6px; background: #fff; color: #1f2933; min-width: 0; }
  button, .button { background: #1c7ed6; border: 1px solid #1c7ed6; color: #fff; cursor: pointer; text-decoration: none; border-radius: 6px; padding: 7px 12px; font-size: 15px; display: inline-block; }
  button.quiet, .button.quiet { background: #fff; color: #1c7ed6; }
  button.danger { background: #fff; color: #c92a2a; border-color: #ffa8a8; padding: 3px 10px; font-size: 13px; }
  .alert { background: #fff5f5; border-left: 4px solid #e03131; padding: 10px 14px; border-radius: 6px; margin: 10px 0; }
  .notice { background: #e7f5ff; border-left: 4px solid #1c7ed6; padding: 10px 14px; border-radius: 6px; margin: 10px 0; }
  .notice code, td code { word-break: break-all; }
  .table-scroll { overflow-x: auto; border-radius: 8px; }
  p.chips { display: flex; flex-wrap: wrap; gap: 6px 8px; align-items: center; font-size: 14px; }
  p.chips span { color: #5c6670; }
  p.chips a { background: #fff; border: 1px solid #d0ebff; border-radius: 999px; padding: 3px 10px; text-decoration: none; }
  a { color: #1864ab; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; margin: 0; background: #fff; padding: 14px; border-radius: 10px; }
  dl.facts dt { color: #5c6670; }
  dl.facts dd { margin: 0; overflow-wrap: anywhere; }
  ol.timeline { list-style: none; padding: 0; margin: 0; background: #fff; border-radius: 10px; }
  ol.timeline li { display: grid; grid-template-columns: 13.5em 5em 1fr; gap: 4px 12px; padding: 7px 12px; border-bottom: 1px solid #f1f3f5; font-size: 14px; }
  ol.timeline li.stage { background: #e7f5ff; font-weight: 600; }
  ol.timeline time { color: #5c6670; font-variant-numeric: tabular-nums; }
  ol.timeline .type { color: #5c6670; font-size: 12px; text-transform: uppercase; padding-top: 2px; }
  ol.timeline .props { grid-column: 3; color: #5c6670; font-size: 12px; font-family: ui-monospace, monospace; overflow-wrap: anywhere; }
  @media (max-width: 640px) {
    nav.top { padding: 6px 10px; gap: 2px 12px; }
    nav.top .who { display: none; }
    form.pickers { padding: 10px; }
    form.pickers label { flex: 1 1 40%; }
    ol.timeline li { grid-template-columns: 1fr; }
    ol.timeline .props { grid-column: 1; }
  }
"#;

/// A whole document; `refresh` reloads it every so many seconds.
fn document(lang: Lang, title: &str, refresh: Option<u32>, body: &str) -> String {
    let refresh = refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">\n"))
        .unwrap_or_default();
    let style = parcours_report::style() + STYLE;
    parcours_map::document(lang, &format!("{title} · Parcours"), &refresh, &style, body)
}

/// A page of a session: the navigation bar, then `main`.
fn session_page(chrome: &Chrome<'_>, title: &str, refresh: Option<u32>, main: &str) -> String {
    let lang = chrome.lang;
    let mut tabs = vec![
        (Tab::Map, "/", w(lang, "Map", "Carte")),
        (Tab::Segments, "/segments", w(lang, "Segments", "Segments")),
        (
            Tab::Customers,
            "/customers",
            w(lang, "Customers", "Clients"),
        ),
    ];
    if chrome.admin {
        tabs.push((Tab::Keys, "/keys", w(lang, "Keys", "Clés")));
    }
    let mut nav = String::from("<nav class=\"top\"><a class=\"brand\" href=\"/\">Parcours</a>");
    for (tab, href, label) in tabs {
        let here = if tab == chrome.here {
            " class=\"here\" aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<a href=\"{href}\"{here}>{label}</a>");
    }
    let _ = write!(
        nav,
        "<span class=\"who\">{}</span><form method=\"post\" action=\"/logout\">{}<button>{}</button></form></nav>",
        if chrome.admin {
            "admin"
        } else {
            w(lang, "viewer", "lecture seule")
        },
        csrf_field(chrome.csrf),
        w(lang, "Log out", "Déconnexion"),
    );
    document(lang, title, refresh, &format!("{nav}\n<main>{main}</main>"))
}

fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(token)
    )
}

fn alert(text: Option<&str>) -> String {
    text.map(|t| format!("<p class=\"alert\" role=\"alert\">{}</p>", escape(t)))
        .unwrap_or_default()
}

/// The login page: the admin password or a view key.
pub fn login(
    lang: Lang,
    journey: Option<&str>,
    csrf: &str,
    next: &str,
    error: Option<&str>,
    no_admin_yet: bool,
) -> String {
    let first = if no_admin_yet {
        format!(
            "<p class=\"notice\">{}</p>",
            w(
                lang,
                "No admin password yet: open the setup link the server printed in its log when it started. Teammates log in with a view key.",
                "Pas encore de mot de passe administrateur : ouvrez le lien d'installation que le serveur a écrit dans son journal au démarrage. Les coéquipiers se connectent avec une clé de lecture."
            )
        )
    } else {
        String::new()
    };
    let body = format!(
        "<main class=\"narrow\"><h1>Parcours</h1><p class=\"note\">{journey}</p>{first}{error}\
         <form class=\"stack box\" method=\"post\" action=\"/login\">{csrf}\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <label>{label}<input type=\"password\" name=\"secret\" autocomplete=\"current-password\" required autofocus></label>\
         <button>{button}</button></form></main>",
        journey = escape(journey.unwrap_or("")),
        error = alert(error),
        csrf = csrf_field(csrf),
        next = escape(next),
        label = w(
            lang,
            "Admin password or view key",
            "Mot de passe administrateur ou clé de lecture"
        ),
        button = w(lang, "Log in", "Se connecter"),
    );
    document(lang, w(lang, "Log in", "Connexion"), None, &body)
}

/// The first start's page: choosing the admin password.
pub fn setup(lang: Lang, token: &str, error: Option<&str>) -> String {
    let body = format!(
        "<main class=\"narrow\"><h1>Parcours</h1><p>{intro}</p>{error}\
         <form class=\"stack box\" method=\"post\" action=\"/setup\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label>{password}<input type=\"password\" name=\"password\" autocomplete=\"new-password\" minlength=\"{min}\" required autofocus></label>\
         <label>{again}<input type=\"password\" name=\"confirm\" autocomplete=\"new-password\" minlength=\"{min}\" required></label>\
         <button>{button}</button></form></main>",
        intro = w(
            lang,
            "Choose the admin password. Whoever has it sees every result and manages the keys.",
            "Choisissez le mot de passe administrateur. Qui le connaît voit tous les résultats et gère les clés."
        ),
        error = alert(error),
        token = escape(token),
        min = super::auth::MIN_PASSWORD_CHARS,
        password = w(
            lang,
            "Admin password (10 characters or more)",
            "Mot de passe administrateur (10 caractères ou plus)"
        ),
        again = w(lang, "The same again", "Le même, à nouveau"),
        button = w(lang, "Set the password", "Enregistrer le mot de passe"),
    );
    document(lang, w(lang, "Setup", "Installation"), None, &body)
}

/// A page that only says something (a refusal, an error), with a way back.
pub fn message(lang: Lang, title: &str, text: &str) -> String {
    let body = format!(
        "<main class=\"narrow\"><h1>{}</h1><p class=\"alert\" role=\"alert\">{}</p><p><a href=\"/\">{}</a></p></main>",
        escape(title),
        escape(text),
        w(lang, "Back to the map", "Retour à la carte"),
    );
    document(lang, title, None, &body)
}

/// What the map page shows.
pub struct MapView<'a> {
    /// The period's start and end and the breakdown, as asked (shown back in the pickers).
    pub from: &'a str,
    /// End of the period (not included).
    pub to: &'a str,
    /// Breakdown.
    pub by: &'a str,
    /// What is wrong with them, if anything.
    pub error: Option<&'a str>,
    /// The results ([`parcours_report::sections`]), with when and how fast they were
    /// computed; none while the first analysis runs.
    pub results: Option<(String, String, u64)>,
    /// Events the server has stored since it started.
    pub stored: u64,
    /// Each stage's id, name and customers there now, for links to their lists.
    pub stages: Vec<(String, String, u64)>,
    /// The last day with events (`YYYY-MM-DD`), which the quick periods end with.
    pub last_day: Option<String>,
}

/// Links to the last 7, 30 and 90 days with events, keeping the breakdown.
fn quick_periods(lang: Lang, last_day: Option<&str>, by: &str) -> String {
    let Some(end) = last_day
        .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        .and_then(|d| d.tomorrow().ok())
    else {
        return String::new();
    };
    let by = if by.is_empty() {
        String::new()
    } else {
        format!("&amp;by={}", url_encode(by))
    };
    let mut out = format!(
        "<p class=\"chips\" id=\"quick\"><span>{}</span>",
        w(
            lang,
            "Last days with events:",
            "Derniers jours avec des événements :"
        )
    );
    for days in [7, 30, 90] {
        let Ok(start) = end.checked_sub(jiff::Span::new().days(days)) else {
            continue;
        };
        let _ = write!(
            out,
            "<a href=\"/?from={start}&amp;to={end}{by}\">{days} {}</a>",
            w(lang, "days", "jours")
        );
    }
    out.push_str("</p>");
    out
}

/// The journey map with its measured numbers, the charts and the opportunities, under the
/// period and breakdown pickers.
pub fn map(chrome: &Chrome<'_>, journey: &Journey, view: &MapView<'_>) -> String {
    let lang = chrome.lang;
    let mut main = String::new();
    let _ = write!(
        main,
        "<section id=\"controls\"><form class=\"pickers\" method=\"get\" action=\"/\">\
         <label>{from_label}<input type=\"date\" name=\"from\" value=\"{from}\"></label>\
         <label>{to_label}<input type=\"date\" name=\"to\" value=\"{to}\"></label>\
         <label>{by_label}<input name=\"by\" list=\"by-choices\" value=\"{by}\" placeholder=\"channel, persona, trait.plan…\"></label>\
         <datalist id=\"by-choices\"><option value=\"persona\"><option value=\"segment\"><option value=\"channel\"></datalist>\
         <button>{apply}</button><a class=\"button quiet\" href=\"/\">{all}</a></form>{quick}{error}",
        from_label = w(lang, "From", "Du"),
        to_label = w(lang, "To (not included)", "Au (exclu)"),
        by_label = w(lang, "Break down by", "Ventiler par"),
        from = escape(view.from),
        to = escape(view.to),
        by = escape(view.by),
        apply = w(lang, "Apply", "Appliquer"),
        all = w(lang, "All time", "Toute la période"),
        error = alert(view.error),
        quick = quick_periods(lang, view.last_day.as_deref(), view.by),
    );
    match &view.results {
        Some((sections, computed_at, took_ms)) => {
            let _ = write!(
                main,
                "<p class=\"note\">{measured} {at} ({took_ms} ms) · {stored} {since} · {live}</p>{chips}</section>{sections}",
                measured = w(lang, "Measured at", "Mesuré le"),
                at = escape(&moment(computed_at)),
                stored = view.stored,
                since = w(
                    lang,
                    "events received since the server started",
                    "événements reçus depuis le démarrage du serveur"
                ),
                live = w(
                    lang,
                    "this page updates itself every minute",
                    "cette page se met à jour chaque minute"
                ),
                chips = stage_chips(lang, &view.stages),
            );
        }
        None if view.error.is_none() => {
            let _ = write!(
                main,
                "<p class=\"notice\">{}</p></section>",
                w(
                    lang,
                    "The first analysis is running; this page reloads in a few seconds.",
                    "La première analyse est en cours ; cette page se recharge dans quelques secondes."
                )
            );
        }
        None => main.push_str("</section>"),
    }
    let refresh = match view.results {
        Some(_) => Some(60),
        None if view.error.is_none() => Some(3),
        None => None,
    };
    session_page(chrome, &journey.name, refresh, &main)
}

/// Links to each stage's customers, with how many are there now.
fn stage_chips(lang: Lang, stages: &[(String, String, u64)]) -> String {
    if stages.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<p class=\"chips\" id=\"now\"><span>{}</span>",
        w(lang, "Who is where now:", "Qui en est où :")
    );
    for (id, name, current) in stages {
        let _ = write!(
            out,
            "<a href=\"/stages/{}\">{} <b>{current}</b></a>",
            url_encode(id),
            escape(name)
        );
    }
    out.push_str("</p>");
    out
}

/// One row of the segments page: a segment, or a stage and the customers it holds now,
/// with its size at the last analysis.
pub struct GroupRow {
    /// A segment or a stage.
    pub group: Group,
    /// Id, as in the journey file.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Who is in it.
    pub description: Option<String>,
    /// Members, once analysed.
    pub members: Option<usize>,
}

/// The journey's segments, each with its size and its members' page.
pub fn segments(chrome: &Chrome<'_>, stages: &[GroupRow], segments: &[GroupRow]) -> String {
    let lang = chrome.lang;
    let mut main = String::new();
    let tables = [
        (
            "stages",
            w(lang, "Where customers are now", "Où en sont les clients"),
            w(lang, "Furthest stage", "Étape la plus avancée"),
            stages,
        ),
        (
            "segments",
            w(lang, "Segments", "Segments"),
            w(lang, "Segment", "Segment"),
            segments,
        ),
    ];
    for (id, title, column, rows) in tables {
        let _ = write!(
            main,
            "<section id=\"{id}\"><h1>{title}</h1><div class=\"table-scroll\"><table><thead><tr><th>{column}</th><th>{}</th><th class=\"n\">{}</th><th></th></tr></thead><tbody>",
            w(lang, "Who", "Qui"),
            w(lang, "Customers", "Clients"),
        );
        for row in rows {
            let _ = write!(
                main,
                "<tr><td><a href=\"{href}\">{name}</a></td><td>{description}</td><td class=\"n\">{members}</td><td class=\"n\"><a href=\"{csv}\" download>CSV</a></td></tr>",
                href = row.href(),
                csv = row.csv_href(),
                name = escape(&row.name),
                description = escape(row.description.as_deref().unwrap_or("")),
                members = row.members.map_or("…".to_string(), |n| n.to_string()),
            );
        }
        main.push_str("</tbody></table></div></section>");
    }
    session_page(chrome, w(lang, "Segments", "Segments"), None, &main)
}

impl GroupRow {
    /// The group's page.
    pub fn href(&self) -> String {
        match self.group {
            Group::Segment => format!("/segments/{}", url_encode(&self.id)),
            Group::Stage => format!("/stages/{}", url_encode(&self.id)),
        }
    }

    /// Its customers as CSV.
    pub fn csv_href(&self) -> String {
        match self.group {
            Group::Segment => format!("{}/members.csv", self.href()),
            Group::Stage => format!("{}/customers.csv", self.href()),
        }
    }
}

/// Most members listed on a segment's page (the CSV has them all).
pub const MEMBERS_SHOWN: usize = 500;

/// A segment's members or a stage's customers, the first [`MEMBERS_SHOWN`], and the link to
/// all as CSV.
pub fn group(chrome: &Chrome<'_>, row: &GroupRow, members: &[Member], computed_at: &str) -> String {
    let lang = chrome.lang;
    let total = row.members.unwrap_or(members.len());
    let mut main = format!(
        "<section><h1>{name}</h1><p class=\"note\">{description}</p>\
         <p><b id=\"member-count\">{total}</b> {customers} · {measured} {at} · \
         <a class=\"button\" id=\"export\" href=\"{csv}\" download>{export}</a></p>",
        name = escape(&row.name),
        description = escape(row.description.as_deref().unwrap_or("")),
        customers = w(lang, "customers", "clients"),
        measured = w(lang, "measured at", "mesuré le"),
        at = escape(&moment(computed_at)),
        csv = row.csv_href(),
        export = w(lang, "Export as CSV", "Exporter en CSV"),
    );
    if total > members.len() {
        let _ = write!(
            main,
            "<p class=\"note\">{} {} {}.</p>",
            w(lang, "The first", "Les"),
            members.len(),
            w(
                lang,
                "are listed; the CSV has them all",
                "premiers sont listés ; le CSV les contient tous"
            ),
        );
    }
    let _ = write!(
        main,
        "<div class=\"table-scroll\"><table><thead><tr><th class=\"n\">#</th><th>{}</th><th>Email</th></tr></thead><tbody>",
        w(lang, "User id", "Identifiant"),
    );
    for m in members {
        let _ = write!(
            main,
            "<tr><td class=\"n\"><a href=\"/customers/{c}\">{c}</a></td><td>{}</td><td>{}</td></tr>",
            escape(m.user_id.as_deref().unwrap_or("")),
            escape(m.email.as_deref().unwrap_or("")),
            c = m.customer,
        );
    }
    main.push_str("</tbody></table></div></section>");
    session_page(chrome, &row.name, None, &main)
}

/// The customer search and its results.
pub fn customers(chrome: &Chrome<'_>, query: &str, found: Option<&[Customer]>) -> String {
    let lang = chrome.lang;
    let mut main = format!(
        "<section><h1>{title}</h1><form class=\"inline\" method=\"get\" action=\"/customers\">\
         <input type=\"search\" name=\"q\" value=\"{q}\" placeholder=\"{hint}\" aria-label=\"{hint}\" size=\"32\" required>\
         <button>{search}</button></form>",
        title = w(lang, "Customers", "Clients"),
        q = escape(query),
        hint = w(
            lang,
            "user id, email or anonymous id, or part of one",
            "identifiant, email ou id anonyme, ou une partie"
        ),
        search = w(lang, "Search", "Chercher"),
    );
    match found {
        Some([]) => {
            let _ = write!(
                main,
                "<p class=\"notice\">{}</p>",
                w(
                    lang,
                    "No customer has an identifier containing that.",
                    "Aucun client n'a d'identifiant contenant ce texte."
                )
            );
        }
        Some(found) => {
            let _ = write!(
                main,
                "<h2>{}</h2><div class=\"table-scroll\"><table id=\"results\"><thead><tr><th class=\"n\">#</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
                w(lang, "Found", "Trouvés"),
                w(lang, "Identifiers", "Identifiants"),
                w(lang, "First seen", "Premier contact"),
                w(lang, "Last seen", "Dernier contact"),
            );
            for c in found {
                let ids: Vec<String> = c.identifiers.iter().map(|(_, v)| escape(v)).collect();
                let _ = write!(
                    main,
                    "<tr><td class=\"n\"><a href=\"/customers/{id}\">{id}</a></td><td><a href=\"/customers/{id}\">{ids}</a></td><td>{}</td><td>{}</td></tr>",
                    when(c.first_seen),
                    when(c.last_seen),
                    id = c.id,
                    ids = ids.join(" · "),
                );
            }
            main.push_str("</tbody></table></div>");
        }
        None => {}
    }
    main.push_str("</section>");
    session_page(chrome, w(lang, "Customers", "Clients"), None, &main)
}

/// Most events shown on a customer's timeline: the latest ones.
pub const EVENTS_SHOWN: usize = 1000;

/// One customer: who they are, where they stand in the journey, and their events with the
/// moments they entered each stage.
pub fn customer(chrome: &Chrome<'_>, journey: Option<&Journey>, timeline: &Timeline) -> String {
    let lang = chrome.lang;
    let c = &timeline.customer;
    let title = c
        .identifiers
        .first()
        .map_or_else(|| format!("#{}", c.id), |(_, v)| v.clone());
    let stage_name = |id: &str| {
        journey
            .and_then(|j| j.stage(id))
            .map_or(id.to_string(), |s| s.name.clone())
    };
    let segment_name = |id: &str| {
        journey
            .and_then(|j| j.segments.iter().find(|s| s.id == id))
            .map_or(id.to_string(), |s| s.name.clone())
    };
    let mut main = format!(
        "<header><h1>{}</h1><p>{} {} · {} {} · {} {}</p></header><section id=\"place\"><h2>{}</h2><dl class=\"facts\">",
        escape(&title),
        w(lang, "Customer", "Client"),
        c.id,
        w(lang, "first seen", "premier contact"),
        when(c.first_seen),
        w(lang, "last seen", "dernier contact"),
        when(c.last_seen),
        w(lang, "In the journey", "Dans le parcours"),
    );
    match (&timeline.place, journey) {
        (Some(place), Some(journey)) => {
            let _ = write!(
                main,
                "<dt>{}</dt><dd id=\"stage\">{}</dd><dt>{}</dt><dd>{} / {}</dd>",
                w(lang, "Stage", "Étape"),
                place.stage.as_deref().map_or_else(
                    || "—".to_string(),
                    |id| format!(
                        "<a href=\"/stages/{}\">{}</a>",
                        url_encode(id),
                        escape(&stage_name(id))
                    )
                ),
                w(
                    lang,
                    "Stages completed in order",
                    "Étapes franchies dans l'ordre"
                ),
                place.level,
                journey.stages.len(),
            );
            if let Some(persona) = &place.persona {
                let name = journey
                    .personas
                    .iter()
                    .find(|p| &p.id == persona)
                    .map_or(persona.clone(), |p| p.name.clone());
                let _ = write!(main, "<dt>Persona</dt><dd>{}</dd>", escape(&name));
            }
            let links: Vec<String> = place
                .segments
                .iter()
                .map(|s| {
                    format!(
                        "<a href=\"/segments/{}\">{}</a>",
                        url_encode(s),
                        escape(&segment_name(s))
                    )
                })
                .collect();
            let _ = write!(
                main,
                "<dt>{}</dt><dd id=\"segments\">{}</dd>",
                w(lang, "Segments", "Segments"),
                if links.is_empty() {
                    "—".to_string()
                } else {
                    links.join(", ")
                }
            );
        }
        _ => {
            let _ = write!(main, "<dt>{}</dt><dd>—</dd>", w(lang, "Stage", "Étape"));
        }
    }
    let _ = write!(
        main,
        "</dl></section><section id=\"who\"><h2>{}</h2><dl class=\"facts\">",
        w(lang, "Identifiers and traits", "Identifiants et attributs")
    );
    for (kind, value) in &c.identifiers {
        let _ = write!(main, "<dt>{}</dt><dd>{}</dd>", escape(kind), escape(value));
    }
    for (name, value) in &c.traits {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(main, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&text));
    }
    main.push_str("</dl></section>");

    // Stage entries among the events, at the moment each stage was first met.
    let mut entries: Vec<(String, String)> = match (&timeline.place, journey) {
        (Some(place), Some(journey)) => place
            .first_met
            .iter()
            .zip(&journey.stages)
            .filter_map(|(at, stage)| {
                at.map(|at| (parcours_events::format_timestamp(at), stage.name.clone()))
            })
            .collect(),
        _ => Vec::new(),
    };
    entries.sort();
    let events = &timeline.events;
    let skipped = events.len().saturating_sub(EVENTS_SHOWN);
    let _ = write!(
        main,
        "<section id=\"timeline\"><h2>{} <small class=\"note\">{} {}</small></h2>",
        w(lang, "Timeline", "Chronologie"),
        events.len(),
        w(lang, "events", "événements"),
    );
    if skipped > 0 {
        let _ = write!(
            main,
            "<p class=\"note\">{} {} {}</p>",
            w(lang, "The", "Les"),
            EVENTS_SHOWN,
            w(lang, "latest are shown.", "plus récents sont affichés."),
        );
    }
    main.push_str("<ol class=\"timeline\">");
    let mut entries = entries.into_iter().peekable();
    let entered = w(lang, "Enters the stage", "Entre dans l'étape");
    for event in &events[skipped..] {
        while let Some((at, name)) = entries.next_if(|(at, _)| *at <= event.at) {
            let _ = write!(
                main,
                "<li class=\"stage\"><time>{}</time><span class=\"type\">{}</span><span>{} {}</span></li>",
                escape(&moment(&at)),
                w(lang, "stage", "étape"),
                entered,
                escape(&name)
            );
        }
        let props = event
            .properties
            .as_ref()
            .filter(|p| p.as_object().is_some_and(|o| !o.is_empty()))
            .map(|p| {
                let text = p.to_string();
                let cut: String = text.chars().take(300).collect();
                let more = if cut.len() < text.len() { "…" } else { "" };
                format!("<span class=\"props\">{}{more}</span>", escape(&cut))
            })
            .unwrap_or_default();
        let _ = write!(
            main,
            "<li class=\"event\"><time>{}</time><span class=\"type\">{}</span><span class=\"name\">{}</span>{props}</li>",
            escape(&moment(&event.at)),
            escape(&event.kind),
            escape(&event.name),
        );
    }
    main.push_str("</ol></section>");
    session_page(chrome, &title, None, &main)
}

/// The keys: write keys for the tracking API, view keys for teammates; `created` is shown
/// whole, once.
pub fn keys(
    chrome: &Chrome<'_>,
    keys: &[WriteKey],
    created: Option<&WriteKey>,
    error: Option<&str>,
) -> String {
    let lang = chrome.lang;
    let mut main = format!(
        "<section><h1>{}</h1><p class=\"note\">{}</p>{}",
        w(lang, "Keys", "Clés"),
        w(
            lang,
            "A write key lets a website, an app or a server send events (tracking API). A view key lets a teammate log in here read-only, or read the JSON API.",
            "Une clé d'écriture permet à un site, une application ou un serveur d'envoyer des événements (API de suivi). Une clé de lecture permet à un coéquipier de se connecter ici en lecture seule, ou de lire l'API JSON."
        ),
        alert(error),
    );
    if let Some(key) = created {
        let _ = write!(
            main,
            "<p class=\"notice\" id=\"created\">{}{}{}<code>{}</code></p>",
            w(lang, "New key “", "Nouvelle clé « "),
            escape(&key.name),
            w(lang, "”: ", " » : "),
            escape(&key.key),
        );
    }
    let _ = write!(
        main,
        "<form class=\"inline box\" method=\"post\" action=\"/keys\">{csrf}\
         <label>{name}<input name=\"name\" required maxlength=\"100\"></label>\
         <select name=\"kind\" aria-label=\"{kind}\"><option value=\"view\">{view}</option><option value=\"write\">{write}</option></select>\
         <button>{create}</button></form>",
        csrf = csrf_field(chrome.csrf),
        name = w(
            lang,
            "Name (who or what it is for) ",
            "Nom (pour qui, pour quoi) "
        ),
        kind = w(lang, "Kind", "Type"),
        view = w(lang, "view key", "clé de lecture"),
        write = w(lang, "write key", "clé d'écriture"),
        create = w(lang, "Create", "Créer"),
    );
    let _ = write!(
        main,
        "<h2>{}</h2><div class=\"table-scroll\"><table id=\"keys\"><thead><tr><th class=\"n\">#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>",
        w(lang, "All keys", "Toutes les clés"),
        w(lang, "Kind", "Type"),
        w(lang, "Name", "Nom"),
        w(lang, "Key", "Clé"),
        w(lang, "Created", "Créée le"),
    );
    for key in keys {
        let kind = match key.kind {
            KeyKind::Write => w(lang, "write", "écriture"),
            KeyKind::View => w(lang, "view", "lecture"),
        };
        let state = match key.revoked_at {
            Some(at) => format!("{} {}", w(lang, "revoked", "révoquée le"), when(at)),
            None => format!(
                "<form method=\"post\" action=\"/keys/{}/revoke\">{}<button class=\"danger\">{}</button></form>",
                key.id,
                csrf_field(chrome.csrf),
                w(lang, "Revoke", "Révoquer"),
            ),
        };
        let shown: String = key.key.chars().take(7).collect();
        let _ = write!(
            main,
            "<tr><td class=\"n\">{}</td><td>{kind}</td><td>{}</td><td><code>{}…</code></td><td>{}</td><td>{state}</td></tr>",
            key.id,
            escape(&key.name),
            escape(&shown),
            when(key.created_at),
        );
    }
    main.push_str("</tbody></table></div></section>");
    session_page(chrome, w(lang, "Keys", "Clés"), None, &main)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customers::TimelineEvent;
    use parcours_engine::analyze::CustomerPlace;

    fn journey() -> Journey {
        let template = parcours_journey::template("digital").unwrap();
        parcours_journey::load_str("journey.toml", template.journey(), None)
            .journey
            .unwrap()
    }

    /// The page's `<main>`: what differs from page to page.
    fn main_of(page: &str) -> &str {
        let start = page.find("<main").unwrap();
        let end = page.find("</main>").unwrap() + "</main>".len();
        &page[start..end]
    }

    fn chrome(admin: bool, here: Tab) -> Chrome<'static> {
        Chrome {
            lang: Lang::Fr,
            admin,
            csrf: "c5rf",
            here,
        }
    }

    #[test]
    fn login_page() {
        let page = login(
            Lang::En,
            Some("Shop <&>"),
            "t0ken",
            "/segments?a=1&b=2",
            Some("Wrong password or view key."),
            true,
        );
        insta::assert_snapshot!(main_of(&page));
    }

    #[test]
    fn customer_timeline_interleaves_stage_entries_with_events() {
        let journey = journey();
        let at = |s: &str| parcours_events::parse_timestamp(s, None).unwrap();
        let customer = Customer {
            id: 42,
            identifiers: vec![
                ("user id".into(), "u-42".into()),
                ("email".into(), "ana@exemple.fr".into()),
            ],
            first_seen: at("2026-03-01T09:00:00Z"),
            last_seen: at("2026-03-02T10:00:00Z"),
            traits: serde_json::json!({"plan": "pro", "age": 41})
                .as_object()
                .unwrap()
                .clone(),
        };
        let mut first_met = vec![None; journey.stages.len()];
        first_met[0] = Some(at("2026-03-01T09:00:00Z"));
        first_met[1] = Some(at("2026-03-02T10:00:00Z"));
        let place = CustomerPlace {
            customer: 42,
            stage: Some(journey.stages[1].id.clone()),
            level: 2,
            persona: None,
            segments: vec![journey.segments[0].id.clone()],
            first_met,
            events: 2,
        };
        let event = |at: &str, name: &str, properties| TimelineEvent {
            at: at.into(),
            kind: "track".into(),
            name: name.into(),
            properties,
        };
        let timeline = Timeline {
            customer,
            place: Some(place),
            events: vec![
                event(
                    "2026-03-01T09:00:00.000Z",
                    "ad_impression",
                    Some(serde_json::json!({"campaign": "<soldes>"})),
                ),
                event("2026-03-02T10:00:00.000Z", "product_viewed", None),
            ],
        };
        let page = super::customer(&chrome(false, Tab::Customers), Some(&journey), &timeline);
        insta::assert_snapshot!(main_of(&page));
        assert!(!page.contains("href=\"/keys\""), "a viewer has no keys tab");
    }

    #[test]
    fn keys_page_shows_a_new_key_whole_and_the_others_by_their_start() {
        let key = |id, kind, name: &str, key: &str, revoked_at| WriteKey {
            id,
            kind,
            name: name.into(),
            key: key.into(),
            created_at: 1_772_000_000_000,
            revoked_at,
        };
        let keys = [
            key(1, KeyKind::Write, "site web", "wk_0123456789abcdef", None),
            key(
                2,
                KeyKind::View,
                "Camille",
                "vk_fedcba9876543210",
                Some(1_772_100_000_000),
            ),
        ];
        let page = super::keys(&chrome(true, Tab::Keys), &keys, Some(&keys[1]), None);
        insta::assert_snapshot!(main_of(&page));
    }

    #[test]
    fn map_page_says_what_is_wrong_with_the_pickers() {
        let view = MapView {
            from: "2026-04-01",
            to: "2026-03-01",
            by: "",
            error: Some("from must come before to"),
            results: None,
            stored: 0,
            stages: Vec::new(),
            last_day: Some("2026-04-05".into()),
        };
        let page = map(&chrome(true, Tab::Map), &journey(), &view);
        assert!(
            !page.contains("http-equiv=\"refresh\""),
            "nothing to wait for"
        );
        insta::assert_snapshot!(main_of(&page));
    }
}
