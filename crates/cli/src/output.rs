//! Printing results for people (with colour on a terminal) or as JSON.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use parcours_journey::Report;

/// True when standard error is a terminal that accepts colours.
pub fn stderr_colors() -> bool {
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

/// Where an output goes.
#[derive(Debug, PartialEq)]
pub enum Destination {
    /// A device or pipe (`/dev/null`, `/dev/stdout`, a FIFO): written in place, as renaming
    /// a file over it would replace the device with a file.
    InPlace(PathBuf),
    /// A regular file, new or not: written to `partial` next to it, then renamed to `file`
    /// (a symbolic link's target, so that the link stays a link).
    Renamed { partial: PathBuf, file: PathBuf },
}

impl Destination {
    /// The destination of an output to `path`; `suffix` names the partial file.
    pub fn of(path: &Path, suffix: &str) -> anyhow::Result<Destination> {
        if let Ok(meta) = std::fs::metadata(path)
            && !meta.is_file()
        {
            if meta.is_dir() {
                anyhow::bail!("cannot write {}: it is a directory", path.display());
            }
            return Ok(Destination::InPlace(path.to_path_buf()));
        }
        let file = match std::fs::canonicalize(path) {
            Ok(target) => target,
            Err(_) => path.to_path_buf(),
        };
        let parent = match file.parent() {
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
        let name = file
            .file_name()
            .context("the output path has no file name")?;
        let partial = parent.join(format!(".{}.{suffix}", name.to_string_lossy()));
        Ok(Destination::Renamed { partial, file })
    }

    /// The path to write to first.
    pub fn first(&self) -> &Path {
        match self {
            Destination::InPlace(path) => path,
            Destination::Renamed { partial, .. } => partial,
        }
    }

    /// Once all is written to [`Destination::first`]: puts it in place.
    pub fn finish(&self) -> anyhow::Result<()> {
        if let Destination::Renamed { partial, file } = self {
            std::fs::rename(partial, file)
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        Ok(())
    }
}

/// Writes a file completely or not at all: a temporary file next to it is renamed over it
/// (devices and pipes are written in place).
pub fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let destination = Destination::of(path, "partial")?;
    std::fs::write(destination.first(), contents)
        .with_context(|| format!("cannot write {}", destination.first().display()))?;
    destination.finish()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("parcours-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_pipe_is_written_in_place_and_stays_a_pipe() {
        use std::os::unix::fs::FileTypeExt;
        let dir = scratch("fifo");
        let fifo = dir.join("out");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        write_atomically(&fifo, "report").unwrap();
        assert_eq!(reader.join().unwrap(), "report");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_link_stays_a_link_to_the_file_written() {
        let dir = scratch("link");
        let target = dir.join("report.html");
        std::fs::write(&target, "old").unwrap();
        let link = dir.join("latest.html");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 2, "a partial file was left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("dir");
        let error = write_atomically(&dir, "x").unwrap_err().to_string();
        assert!(error.contains("is a directory"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
