//! The event log into the store: sealed log files imported as one store import, all or
//! nothing, then removed. A crash between the import and the removal imports the files
//! again at the next start, and the store's dedup keys (the message id, else the content)
//! leave the second import empty.

use std::path::PathBuf;

use parcours_store::{ImportOptions, ImportSummary, Store, StoreError};

use crate::log::{LogError, read_file};
use crate::record::decode;

/// Why log files could not be moved into the store.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// Reading the log.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Writing the store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports the records of `files` into `store` in one import; `None` when they hold none.
/// Records that no longer read as events (never written by this server) are counted as
/// rejected in the store's history.
pub fn import_files(
    store: &mut Store,
    files: &[PathBuf],
) -> Result<Option<ImportSummary>, CompactError> {
    let mut records = 0;
    for file in files {
        records += read_file(file, |_| {})?;
    }
    if records == 0 {
        return Ok(None);
    }
    let mut import = store.begin_import(ImportOptions::new("parcours serve", "segment"))?;
    let (mut rejected, mut failed) = (0, None);
    for file in files {
        read_file(file, |record| match decode(record) {
            Ok(event) if failed.is_none() => {
                if let Err(error) = import.push(&event) {
                    failed = Some(error);
                }
            }
            Ok(_) => {}
            Err(_) => rejected += 1,
        })?;
    }
    if let Some(error) = failed {
        // Dropped unfinished, the import leaves nothing in the store.
        return Err(error.into());
    }
    Ok(Some(import.finish(rejected, None)?))
}
