//! Wraps the SVG map in a self-contained HTML page: no script, font or style is fetched.

use parcours_journey::{Journey, Lang};

use crate::svg::{FONT_FAMILY, escape};

/// A whole HTML page in `lang`: `title` (escaped here), extra `<head>` lines, a style
/// sheet and the body. Every page Parcours writes or serves has this frame.
pub fn document(lang: Lang, title: &str, head: &str, style: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"Parcours\">\n{head}<title>{title}</title>\n\
         <style>\n{style}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n",
        lang = lang.as_str(),
        title = escape(title),
    )
}

/// A complete HTML page showing `svg` at its natural size, scrolling sideways if wider than
/// the window so that long journeys stay legible.
pub(crate) fn page(journey: &Journey, svg: &str) -> String {
    let style = format!(
        r#"  html, body {{ margin: 0; background: #e9edf2; font-family: {FONT_FAMILY}; color: #1f2933; }}
  main {{ overflow-x: auto; padding: 16px; }}
  main > svg {{ display: block; margin: 0 auto; box-shadow: 0 1px 4px rgba(15, 23, 42, .12); border-radius: 10px; }}
  @media print {{ html, body {{ background: #fff; }} main {{ overflow: visible; padding: 0; }} main > svg {{ box-shadow: none; }} }}
"#
    );
    document(
        journey.lang,
        &journey.name,
        "",
        &style,
        &format!("<main>\n{svg}</main>"),
    )
}
