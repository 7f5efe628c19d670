//! Wraps the SVG map in a self-contained HTML page: no script, font or style is fetched.

use parcours_journey::Journey;

use crate::svg::{FONT_FAMILY, escape};

/// A complete HTML page showing `svg` at its natural size, scrolling sideways if wider than
/// the window so that long journeys stay legible.
pub(crate) fn page(journey: &Journey, svg: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Parcours">
<title>{title}</title>
<style>
  html, body {{ margin: 0; background: #e9edf2; font-family: {font}; color: #1f2933; }}
  main {{ overflow-x: auto; padding: 16px; }}
  main > svg {{ display: block; margin: 0 auto; box-shadow: 0 1px 4px rgba(15, 23, 42, .12); border-radius: 10px; }}
  @media print {{ html, body {{ background: #fff; }} main {{ overflow: visible; padding: 0; }} main > svg {{ box-shadow: none; }} }}
</style>
</head>
<body>
<main>
{svg}</main>
</body>
</html>
"#,
        lang = journey.lang.as_str(),
        title = escape(&journey.name),
        font = FONT_FAMILY,
    )
}
