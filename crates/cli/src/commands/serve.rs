//! `parcours serve`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use parcours_server::{ServeOptions, serve};

use crate::cli::{LogFormat, ServeArgs};

/// The `[serve]` table of a settings file: the same settings as the flags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    journey: Option<PathBuf>,
    #[serde(default)]
    write_keys: Vec<String>,
    mailjet_auth: Option<String>,
    compact_every: Option<f64>,
    log_format: Option<LogFormat>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    #[serde(default)]
    serve: FileSettings,
}

/// The settings file's `[serve]` table: `--config`'s file (which must exist), else
/// ./parcours.toml when there is one.
fn file_settings(config: Option<&Path>) -> anyhow::Result<FileSettings> {
    let (path, required) = match config {
        Some(path) => (path.to_path_buf(), true),
        None => (PathBuf::from("parcours.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(FileSettings::default());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let file: SettingsFile = toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        anyhow::anyhow!("{}{at}: {}", path.display(), e.message())
    })?;
    let mut serve = file.serve;
    // Relative paths are relative to the file, wherever the server starts from.
    if let Some(folder) = path.parent() {
        for setting in [&mut serve.data, &mut serve.journey] {
            if let Some(relative) = setting.as_ref().filter(|p| p.is_relative()) {
                *setting = Some(folder.join(relative));
            }
        }
    }
    Ok(serve)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = file_settings(args.config.as_deref())?;
    // A flag or variable wins over the file, the file over the default.
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data = args
        .data
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from("parcours-data"));
    let journey = match args.journey.or(file.journey) {
        Some(path) => Some(path),
        None => Some(PathBuf::from("journey.toml")).filter(|p| p.exists()),
    };
    let journey = match journey {
        None => None,
        Some(path) => {
            let loaded = super::load(&path)?;
            match loaded.journey {
                Some(journey) => Some(std::sync::Arc::new(journey)),
                None => {
                    crate::output::print_report(&loaded.report, true);
                    anyhow::bail!(
                        "{} does not load; fix it or start without --journey",
                        path.display()
                    );
                }
            }
        }
    };
    let mut write_keys = args.write_keys;
    write_keys.extend(file.write_keys);
    let compact_every = args.compact_every.or(file.compact_every).unwrap_or(2.0);
    let mailjet_auth = match args.mailjet_auth.or(file.mailjet_auth) {
        None => None,
        Some(text) => match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Some((user.to_string(), password.to_string()))
            }
            _ => anyhow::bail!("mailjet_auth must be user:password, both non-empty"),
        },
    };
    let write_keys: Vec<String> = write_keys
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if !(compact_every.is_finite() && compact_every > 0.0) {
        anyhow::bail!("compact_every must be a positive number of seconds");
    }
    let log_format = args.log_format.or(file.log_format).unwrap_or_default();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(crate::output::stderr_colors())
        .with_target(false)
        .with_max_level(tracing_subscriber::filter::LevelFilter::INFO);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
        // The handlers are in place before the port opens: a SIGTERM sent as soon as the
        // server answers stops it cleanly, never by the default action.
        let shutdown = shutdown_signal()?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        tracing::info!(
            address = %listener.local_addr().unwrap_or(listen),
            store = %data.display(),
            "parcours serve: listening"
        );
        let options = ServeOptions {
            data,
            write_keys,
            mailjet_auth,
            compact_every: Duration::from_secs_f64(compact_every),
            journey,
            analyze_every: Duration::from_secs_f64(compact_every.max(5.0)),
        };
        serve(options, listener, shutdown).await?;
        tracing::info!("parcours serve: stopped; every acknowledged event is in the store");
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves at Ctrl-C or SIGTERM; the handlers are installed when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
