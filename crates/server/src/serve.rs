//! The running server: the store and the event log opened, what earlier runs left in the
//! log moved into the store, the routes served, the log compacted into the store in the
//! background, and on shutdown the requests in flight answered and the log compacted once
//! more.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parcours_journey::Journey;
use parcours_store::write_keys::KeyKind;
use parcours_store::{Store, StoreError};
use tokio::net::TcpListener;

use crate::compact::{CompactError, import_files};
use crate::http::KeySet;
use crate::log::{EventLog, LogError};
use crate::ops::{self, Metrics, Ops};
use crate::read_api::{self, Analyses, ReadApi};
use crate::tracking::{self, Tracking};
use crate::web::{self, Web};
use crate::webhooks::{self, Webhooks};

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The store's data directory; the event log lives in its `log/` folder.
    pub data: PathBuf,
    /// Write keys the tracking API accepts besides those of the store (`parcours keys`).
    pub write_keys: Vec<String>,
    /// The (user, password) the Mailjet webhook must be called with, when set.
    pub mailjet_auth: Option<(String, String)>,
    /// How often the log is moved into the store, for analyses to see new events.
    pub compact_every: Duration,
    /// The journey the read API measures; none, no results.
    pub journey: Option<Arc<Journey>>,
    /// The least time between two analyses of new events.
    pub analyze_every: Duration,
}

/// Why the server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event log.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Moving the log into the store.
    #[error(transparent)]
    Compact(#[from] CompactError),
    /// The listening socket.
    #[error("serving HTTP: {0}")]
    Http(std::io::Error),
    /// A background task died.
    #[error("a background task stopped: {0}")]
    Task(String),
    /// The web UI could not start.
    #[error("starting the web UI: {0}")]
    Web(String),
    /// Nothing could send events.
    #[error(
        "no write key: create one with `parcours keys create --name NAME`, or give one with --write-key"
    )]
    NoWriteKey,
}

/// The write keys given at start and the write and view keys the store holds, not revoked.
fn keys(
    data: &std::path::Path,
    given: &[String],
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let mut write = given.to_vec();
    write.extend(parcours_store::write_keys::active(data, KeyKind::Write)?);
    let view = parcours_store::write_keys::active(data, KeyKind::View)?;
    Ok((write, view))
}

/// The log folder inside a data directory.
pub fn log_dir(data: &std::path::Path) -> PathBuf {
    data.join("log")
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    options: ServeOptions,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let data = options.data.clone();
    let given = options.write_keys.clone();
    let (store, log, (write_keys, view_keys)) =
        tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
            let keys = keys(&data, &given)?;
            if keys.0.is_empty() {
                return Err(ServeError::NoWriteKey);
            }
            let mut store = Store::open(&data)?;
            let (log, recovery) = EventLog::open(&log_dir(&data))?;
            if recovery.torn_bytes > 0 {
                tracing::warn!(
                    bytes = recovery.torn_bytes,
                    "cut a torn record, never acknowledged, off the end of the event log"
                );
            }
            // What earlier runs acknowledged goes to the store before anything new.
            if let Some(summary) = import_files(&mut store, &recovery.files)? {
                tracing::info!(
                    records = recovery.records,
                    stored = summary.accepted,
                    duplicates = summary.duplicates,
                    "moved what earlier runs logged into the store"
                );
            }
            log.remove(&recovery.files)?;
            Ok((store, log, keys))
        })
        .await
        .map_err(|e| ServeError::Task(e.to_string()))??;
    let log = Arc::new(log);
    let store = Arc::new(Mutex::new(store));
    let metrics = Arc::new(Metrics::default());
    let tracking = Arc::new(Tracking {
        log: log.clone(),
        write_keys: KeySet::new(write_keys),
        metrics: metrics.clone(),
    });
    let analyses = Arc::new(Analyses::new(
        options.journey.clone(),
        options.data.clone(),
        metrics.clone(),
    ));
    let read_api = Arc::new(ReadApi {
        analyses: analyses.clone(),
        view_keys: KeySet::new(view_keys),
        data: options.data.clone(),
    });
    let webhooks = Arc::new(Webhooks {
        log: log.clone(),
        mailjet_auth: options.mailjet_auth.clone(),
        metrics: metrics.clone(),
    });
    let (web, setup_token) = {
        let (analyses, data, metrics) = (analyses.clone(), options.data.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || Web::new(analyses, data, metrics))
            .await
            .map_err(|e| ServeError::Task(e.to_string()))?
            .map_err(ServeError::Web)?
    };
    if let Some(token) = setup_token {
        let address = listener.local_addr().map_err(ServeError::Http)?;
        // Listening on every address (0.0.0.0): the link names this machine.
        let host = if address.ip().is_unspecified() {
            format!("localhost:{}", address.port())
        } else {
            address.to_string()
        };
        tracing::warn!(
            "no admin password yet: open http://{host}/setup?token={token} in a browser to choose it (the link works until one is set)"
        );
    }
    let ops = Arc::new(Ops {
        metrics: metrics.clone(),
        log: log.clone(),
    });
    let app = tracking::routes(tracking.clone())
        .merge(webhooks::routes(webhooks))
        .merge(read_api::routes(read_api.clone()))
        .merge(ops::routes(ops))
        .merge(web::routes(Arc::new(web)));
    let (stop_compacting, mut stopped) = tokio::sync::watch::channel(false);
    let analyst = {
        let (analyses, mut stopped) = (analyses.clone(), stopped.clone());
        let every = options.analyze_every;
        tokio::spawn(async move {
            loop {
                if analyses.stale() {
                    let analyses = analyses.clone();
                    match tokio::task::spawn_blocking(move || analyses.refresh()).await {
                        Ok(Err(error)) => {
                            tracing::error!(%error, "analysing the journey failed; retrying after new events")
                        }
                        Err(error) => tracing::error!(%error, "the analysis stopped"),
                        Ok(Ok(())) => {}
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => return,
                }
            }
        })
    };
    let compactor = {
        let (log, store, metrics) = (log.clone(), store.clone(), metrics.clone());
        let (tracking, read_api) = (tracking.clone(), read_api.clone());
        let (data, given) = (options.data.clone(), options.write_keys.clone());
        tokio::spawn(async move {
            let mut compacted = 0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(options.compact_every) => {}
                    _ = stopped.changed() => return,
                }
                // Keys created or revoked meanwhile by `parcours keys`.
                let (data, given) = (data.clone(), given.clone());
                match tokio::task::spawn_blocking(move || keys(&data, &given)).await {
                    Ok(Ok((write, view))) => {
                        tracking.write_keys.set(write);
                        read_api.view_keys.set(view);
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "reading the write keys failed; keeping the last ones");
                    }
                    Err(_) => {}
                }
                if log.appended() == compacted {
                    continue;
                }
                let appended = log.appended();
                // A failed move leaves its files sealed in the log, acknowledged and
                // durable; the next round takes them again.
                if let Err(error) = compact(&log, &store, &metrics).await {
                    Metrics::add(&metrics.compaction_failures, 1);
                    tracing::error!(%error, "moving the event log into the store failed; retrying at the next round");
                } else {
                    compacted = appended;
                }
            }
        })
    };
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(ServeError::Http);
    let _ = stop_compacting.send(true);
    compactor
        .await
        .map_err(|e| ServeError::Task(e.to_string()))?;
    analyst.await.map_err(|e| ServeError::Task(e.to_string()))?;
    served?;
    // Everything acknowledged is in the log already; moving it into the store now lets
    // the next analysis see it without waiting for the next start.
    compact(&log, &store, &metrics).await
}

/// Seals the log and moves the sealed files into the store.
async fn compact(
    log: &Arc<EventLog>,
    store: &Arc<Mutex<Store>>,
    metrics: &Arc<Metrics>,
) -> Result<(), ServeError> {
    let files = log.seal().await?;
    if files.is_empty() {
        return Ok(());
    }
    let (log, store, metrics) = (log.clone(), store.clone(), metrics.clone());
    tokio::task::spawn_blocking(move || -> Result<(), ServeError> {
        let mut store = store
            .lock()
            .map_err(|_| ServeError::Task("the store's lock was poisoned".into()))?;
        let started = std::time::Instant::now();
        if let Some(summary) = import_files(&mut store, &files)? {
            Metrics::add(&metrics.compactions, 1);
            Metrics::add(&metrics.events_stored, summary.accepted);
            Metrics::add(&metrics.duplicates, summary.duplicates);
            tracing::info!(
                files = files.len(),
                stored = summary.accepted,
                duplicates = summary.duplicates,
                ms = started.elapsed().as_millis() as u64,
                "moved the event log into the store"
            );
        }
        log.remove(&files)?;
        Ok(())
    })
    .await
    .map_err(|e| ServeError::Task(e.to_string()))?
}
