//! The store's SQLite database: identities, customers, the segment catalog, imports.

use std::path::Path;

use parcours_events::{IdKind, MessageType};
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::identity::{Directory, Strength};

/// Version of the database schema.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    id          INTEGER PRIMARY KEY,
    merged_into INTEGER,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    import_id   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_merged ON customers(merged_into) WHERE merged_into IS NOT NULL;
-- Latest value of each trait, and the event time it was set at.
CREATE TABLE IF NOT EXISTS traits (
    customer_id INTEGER NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (customer_id, name)
) WITHOUT ROWID;
-- Analyses read a few traits of every customer: by name, then customer, without the rest.
CREATE INDEX IF NOT EXISTS traits_by_name ON traits(name, customer_id, value, at);
CREATE TABLE IF NOT EXISTS identifiers (
    kind        INTEGER NOT NULL,
    value       TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_customer ON identifiers(customer_id);
CREATE TABLE IF NOT EXISTS merges (
    merged_id INTEGER PRIMARY KEY,
    into_id   INTEGER NOT NULL,
    import_id INTEGER NOT NULL
);
-- A merge re-points the merges into the merged customer: without this, a scan per merge.
CREATE INDEX IF NOT EXISTS merges_into ON merges(into_id);
CREATE TABLE IF NOT EXISTS event_names (
    code INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (type, name)
);
CREATE TABLE IF NOT EXISTS segments (
    -- AUTOINCREMENT: ids, and so file names, are never reused after compaction deletes.
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    file      TEXT NOT NULL UNIQUE,
    rows      INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    min_ts    INTEGER NOT NULL,
    max_ts    INTEGER NOT NULL,
    import_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_files (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    shard INTEGER NOT NULL,
    file  TEXT NOT NULL UNIQUE,
    keys  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    id            INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    format        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER NOT NULL,
    accepted      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    new_customers INTEGER NOT NULL,
    quarantine    TEXT
);
CREATE TABLE IF NOT EXISTS pending_renames (
    src TEXT PRIMARY KEY,
    dst TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_deletes (
    path TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS write_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    kind TEXT NOT NULL DEFAULT 'write'
);
CREATE TABLE IF NOT EXISTS web_admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    hash TEXT NOT NULL,
    set_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
    token_hash TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    key_id INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
"#;

pub(crate) struct Db {
    pub conn: Connection,
}

fn sqlite(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

impl Db {
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let conn = Connection::open(path).map_err(sqlite(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite(path))?;
        // FULL: a commit that returned is on disk, even after a power loss.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sqlite(path))?;
        conn.pragma_update(None, "cache_size", crate::DEFAULT_CACHE_KIB)
            .map_err(sqlite(path))?;
        conn.execute_batch(SCHEMA).map_err(sqlite(path))?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sqlite(path))?;
        match version.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )
                .map_err(sqlite(path))?;
            }
            Some(Ok(SCHEMA_VERSION)) => {}
            Some(_) => {
                return Err(StoreError::Corrupt(format!(
                    "{} has database schema {}, this parcours reads schema {SCHEMA_VERSION}",
                    path.display(),
                    version.unwrap_or_default()
                )));
            }
        }
        Ok(Db { conn })
    }

    pub fn error(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.conn.path().map(Into::into).unwrap_or_default(),
            source,
        }
    }

    pub fn next_customer_id(&self) -> Result<u64, StoreError> {
        let max: Option<i64> = self
            .conn
            .query_row("SELECT max(id) FROM customers", [], |r| r.get(0))
            .map_err(self.error())?;
        Ok(max.map_or(1, |m| m as u64 + 1))
    }

    pub fn event_codes(&self) -> Result<Vec<(i32, MessageType, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT code, type, name FROM event_names")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |r| {
                Ok((
                    r.get::<_, i32>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(self.error())?;
        let mut codes = Vec::new();
        for row in rows {
            let (code, kind, name) = row.map_err(self.error())?;
            let kind = MessageType::from_name(&kind).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown type {kind:?} in event_names"))
            })?;
            codes.push((code, kind, name));
        }
        Ok(codes)
    }

    /// Every merged customer and the customer it finally belongs to.
    pub fn merged_customers(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT id, merged_into FROM customers WHERE merged_into IS NOT NULL")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .map_err(self.error())?;
        let mut direct = std::collections::HashMap::new();
        for row in rows {
            let (from, into) = row.map_err(self.error())?;
            direct.insert(from, into);
        }
        let mut resolved: Vec<(u64, u64)> = direct
            .keys()
            .map(|&from| {
                let mut into = direct[&from];
                while let Some(&next) = direct.get(&into) {
                    into = next;
                }
                (from, into)
            })
            .collect();
        resolved.sort_unstable();
        Ok(resolved)
    }
}

impl Directory for Db {
    fn lookup(&mut self, kind: IdKind, value: &str) -> Result<Option<u64>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT customer_id FROM identifiers WHERE kind = ?1 AND value = ?2")
            .map_err(self.error())?;
        statement
            .query_row(params![kind.code(), value], |r| r.get::<_, i64>(0))
            .optional()
            .map(|c| c.map(|c| c as u64))
            .map_err(self.error())
    }

    fn strength(&mut self, customer: u64) -> Result<Strength, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT kind FROM identifiers WHERE customer_id = ?1 AND kind IN (?2, ?3)",
            )
            .map_err(self.error())?;
        let kinds = statement
            .query_map(
                params![customer as i64, IdKind::User.code(), IdKind::Email.code()],
                |r| r.get::<_, i64>(0),
            )
            .map_err(self.error())?;
        let mut strength = Strength::default();
        for kind in kinds {
            match IdKind::from_code(kind.map_err(self.error())?) {
                Some(IdKind::User) => strength.user = true,
                Some(IdKind::Email) => strength.email = true,
                _ => {}
            }
        }
        Ok(strength)
    }
}
