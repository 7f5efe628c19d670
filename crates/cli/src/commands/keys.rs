//! `parcours keys`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use parcours_events::format_timestamp;
use parcours_store::write_keys::{self, KeyKind};

use crate::cli::{KeyKindArg, OutputFormat};
use crate::output::print_json;

pub fn create(
    data: &Path,
    name: &str,
    kind: KeyKindArg,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    if name.is_empty() {
        anyhow::bail!("--name must say what the key is for, e.g. --name web");
    }
    let kind = match kind {
        KeyKindArg::Write => KeyKind::Write,
        KeyKindArg::View => KeyKind::View,
    };
    let key = write_keys::create(data, name, kind)
        .with_context(|| format!("cannot create a key in {}", data.display()))?;
    match format {
        OutputFormat::Json => print_json(&serde_json::to_value(&key)?)?,
        OutputFormat::Text => {
            println!("{}", key.key);
            let what = match key.kind {
                KeyKind::Write => "give it to your SDK as its write key",
                KeyKind::View => "send it as a Bearer token to the read API",
            };
            eprintln!(
                "{} key {} ({}) created; {what}",
                key.kind.as_str(),
                key.id,
                key.name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(data: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let keys = write_keys::list(data)
        .with_context(|| format!("cannot read the keys in {}", data.display()))?;
    match format {
        OutputFormat::Json => print_json(&serde_json::to_value(&keys)?)?,
        OutputFormat::Text => {
            if keys.is_empty() {
                println!("no keys; create one with `parcours keys create --name NAME`");
            }
            for key in keys {
                // Only the start of a key: enough to recognise it, not to use it.
                let shown: String = key.key.chars().take(9).collect();
                let state = match key.revoked_at {
                    Some(at) => format!("revoked {}", format_timestamp(at)),
                    None => "active".to_string(),
                };
                println!(
                    "{:>3}  {:<5}  {shown}…  {:<20}  created {}  {state}",
                    key.id,
                    key.kind.as_str(),
                    key.name,
                    format_timestamp(key.created_at)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn revoke(data: &Path, id: i64) -> anyhow::Result<ExitCode> {
    if write_keys::revoke(data, id)? {
        eprintln!("key {id} revoked; a running server refuses it within seconds");
        return Ok(ExitCode::SUCCESS);
    }
    match write_keys::find(data, id)? {
        Some(_) => anyhow::bail!("key {id} is revoked already"),
        None => anyhow::bail!("there is no key {id}; see `parcours keys list`"),
    }
}
