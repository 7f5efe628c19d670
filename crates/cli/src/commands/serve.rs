//! `parcours serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use parcours_server::{ServeOptions, serve};

/// `parcours serve`'s arguments.
pub struct Args {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub write_keys: Vec<String>,
    pub mailjet_auth: Option<String>,
    pub compact_every: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Args {
        listen,
        data,
        write_keys,
        mailjet_auth,
        compact_every,
    } = args;
    let mailjet_auth = match mailjet_auth {
        None => None,
        Some(text) => match text.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Some((user.to_string(), password.to_string()))
            }
            _ => anyhow::bail!("--mailjet-auth must be user:password, both non-empty"),
        },
    };
    let write_keys: Vec<String> = write_keys
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if !(compact_every.is_finite() && compact_every > 0.0) {
        anyhow::bail!("--compact-every must be a positive number of seconds");
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
        eprintln!(
            "parcours serve: listening on http://{} (store {})",
            listener.local_addr().unwrap_or(listen),
            data.display()
        );
        let options = ServeOptions {
            data,
            write_keys,
            mailjet_auth,
            compact_every: Duration::from_secs_f64(compact_every),
        };
        serve(options, listener, shutdown).await?;
        eprintln!("parcours serve: stopped; every acknowledged event is in the store");
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
