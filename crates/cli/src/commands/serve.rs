//! `parcours serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use parcours_server::{ServeOptions, serve};

pub fn run(
    listen: SocketAddr,
    data: PathBuf,
    write_keys: Vec<String>,
    compact_every: f64,
) -> anyhow::Result<ExitCode> {
    let write_keys: Vec<String> = write_keys
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    if write_keys.is_empty() {
        anyhow::bail!("give at least one write key with --write-key or PARCOURS_WRITE_KEYS");
    }
    if !(compact_every.is_finite() && compact_every > 0.0) {
        anyhow::bail!("--compact-every must be a positive number of seconds");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async move {
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
            compact_every: Duration::from_secs_f64(compact_every),
        };
        serve(options, listener, shutdown_signal()).await?;
        eprintln!("parcours serve: stopped; every acknowledged event is in the store");
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
