//! `parcours admin password`: replaces the web UI's admin password, for when it is lost or
//! must change (the first one is chosen through the setup link `parcours serve` prints).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context as _;
use parcours_server::web::auth;

/// Turns the terminal's echo off or on again (`stty`), so that a typed password stays off
/// the screen.
fn echo(on: bool) {
    let _ = Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(Stdio::inherit())
        .status();
}

fn read_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn password(data: &Path) -> anyhow::Result<ExitCode> {
    if !data.join(parcours_store::DATABASE).exists() {
        anyhow::bail!(
            "{} holds no store; give the one `parcours serve` uses with --data",
            data.display()
        );
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let (password, confirmation) = if stdin.is_terminal() {
        let ask = |prompt: &str, input: &mut std::io::StdinLock<'_>| {
            eprint!("{prompt}");
            let _ = std::io::stderr().flush();
            echo(false);
            let line = read_line(input);
            echo(true);
            eprintln!();
            line
        };
        let password = ask("New admin password: ", &mut input)?;
        let confirmation = ask("The same again: ", &mut input)?;
        (password, confirmation)
    } else {
        // From a pipe or a secret manager: one line, no confirmation to ask for.
        let password = read_line(&mut input)?;
        (password.clone(), password)
    };
    if let Some(problem) = auth::password_problem(&password, &confirmation) {
        anyhow::bail!("{problem}; nothing changed");
    }
    let hash = auth::hash_password(&password).map_err(anyhow::Error::msg)?;
    parcours_store::web_access::replace_admin_password(data, &hash)
        .with_context(|| format!("cannot set the admin password in {}", data.display()))?;
    eprintln!("admin password replaced; admin sessions are ended: log in again with the new one");
    Ok(ExitCode::SUCCESS)
}
