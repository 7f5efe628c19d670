//! Printing results for people (with colour on a terminal) or as JSON.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::Context as _;
use parcours_journey::Report;

/// True when standard error is a terminal that accepts colours.
fn stderr_colors() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// True when standard output is a terminal that accepts colours.
fn stdout_colors() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Colours the severity words and hints of rendered diagnostics.
fn paint(rendered: &str) -> String {
    rendered
        .lines()
        .map(|line| {
            if let Some(rest) = line.strip_prefix("error") {
                format!("\x1b[1;31merror\x1b[0m\x1b[1m{rest}\x1b[0m")
            } else if let Some(rest) = line.strip_prefix("warning") {
                format!("\x1b[1;33mwarning\x1b[0m\x1b[1m{rest}\x1b[0m")
            } else if let Some((gutter, hint)) = line.split_once(" = hint:") {
                format!("{gutter} \x1b[36m= hint:\x1b[0m{hint}")
            } else if line.trim_start().starts_with('|') && line.contains('^') {
                line.replace('^', "\x1b[1;31m^\x1b[0m")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Prints a report's diagnostics for people, to stdout or stderr.
pub fn print_report(report: &Report, to_stderr: bool) {
    let rendered = report.render();
    if rendered.is_empty() {
        return;
    }
    if to_stderr {
        let text = if stderr_colors() {
            paint(&rendered)
        } else {
            rendered
        };
        eprint!("{text}");
    } else {
        let text = if stdout_colors() {
            paint(&rendered)
        } else {
            rendered
        };
        print!("{text}");
    }
}

/// Prints one JSON document on standard output.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// Writes a file completely or not at all: a temporary file next to it is renamed over it.
pub fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            parent.display()
        );
    }
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let temporary = parent.join(format!(".{}.partial", name.to_string_lossy()));
    std::fs::write(&temporary, contents)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// `1 error`, `2 errors`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `1234567` as `1,234,567`.
pub fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in bytes, for people.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
