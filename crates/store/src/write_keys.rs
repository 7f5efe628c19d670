//! The server's keys, kept in the store's database: write keys for the tracking API, view
//! keys for the read API. Created, listed and revoked from the command line while a server
//! runs (SQLite takes care of the two writers, the store's writer lock is not needed), and
//! read by the server every few seconds, so that a revoked key stops working without a
//! restart.
//!
//! Write keys identify a source rather than guard a secret (Segment's are written into web
//! pages); a view key reads the store's results and is given to teammates. Both are kept as
//! they are and listed with only their first characters.

use std::path::Path;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::db::Db;
use crate::{DATABASE, StoreError, io, now_ms};

/// What a key lets its holder do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// Send events (tracking API).
    Write,
    /// Read results (read API).
    View,
}

impl KeyKind {
    /// The kind's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Write => "write",
            KeyKind::View => "view",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            KeyKind::Write => "wk_",
            KeyKind::View => "vk_",
        }
    }

    fn from_name(name: &str) -> KeyKind {
        if name == "view" {
            KeyKind::View
        } else {
            KeyKind::Write
        }
    }
}

/// One key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteKey {
    /// Number, for `parcours keys revoke`.
    pub id: i64,
    /// What it lets its holder do.
    pub kind: KeyKind,
    /// What it is for (`web`, `ios app`).
    pub name: String,
    /// The key.
    pub key: String,
    /// When it was created, ms since 1970 UTC.
    pub created_at: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// The columns [`from_row`] reads, in its order.
const COLUMNS: &str = "id, name, key, created_at, revoked_at, kind";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WriteKey> {
    Ok(WriteKey {
        id: r.get(0)?,
        kind: KeyKind::from_name(&r.get::<_, String>(5)?),
        name: r.get(1)?,
        key: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

fn open(root: &Path) -> Result<Db, StoreError> {
    std::fs::create_dir_all(root).map_err(io(root))?;
    Db::open(&root.join(DATABASE))
}

/// Creates a key of `kind` named `name`: `wk_` (write) or `vk_` (view) and 32 random hex
/// digits.
pub fn create(root: &Path, name: &str, kind: KeyKind) -> Result<WriteKey, StoreError> {
    let key = format!("{}{}", kind.prefix(), crate::random_hex(16)?);
    let db = open(root)?;
    let created_at = now_ms();
    db.conn
        .execute(
            "INSERT INTO write_keys(name, key, created_at, kind) VALUES (?1, ?2, ?3, ?4)",
            params![name, key, created_at, kind.as_str()],
        )
        .map_err(db.error())?;
    Ok(WriteKey {
        id: db.conn.last_insert_rowid(),
        kind,
        name: name.to_string(),
        key,
        created_at,
        revoked_at: None,
    })
}

/// Every key, revoked ones included, in creation order.
pub fn list(root: &Path) -> Result<Vec<WriteKey>, StoreError> {
    let db = open(root)?;
    let mut statement = db
        .conn
        .prepare(&format!("SELECT {COLUMNS} FROM write_keys ORDER BY id"))
        .map_err(db.error())?;
    let rows = statement.query_map([], from_row).map_err(db.error())?;
    rows.collect::<Result<_, _>>().map_err(db.error())
}

/// Revokes key `id`; `false` when there is no such key or it was revoked already.
pub fn revoke(root: &Path, id: i64) -> Result<bool, StoreError> {
    let db = open(root)?;
    let changed = db
        .conn
        .execute(
            "UPDATE write_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now_ms()],
        )
        .map_err(db.error())?;
    Ok(changed == 1)
}

/// The keys of `kind` not revoked; none when the store does not exist yet.
pub fn active(root: &Path, kind: KeyKind) -> Result<Vec<String>, StoreError> {
    if !root.join(DATABASE).exists() {
        return Ok(Vec::new());
    }
    let db = open(root)?;
    let mut statement = db
        .conn
        .prepare("SELECT key FROM write_keys WHERE revoked_at IS NULL AND kind = ?1 ORDER BY id")
        .map_err(db.error())?;
    let rows = statement
        .query_map([kind.as_str()], |r| r.get(0))
        .map_err(db.error())?;
    rows.collect::<Result<_, _>>().map_err(db.error())
}

/// The key numbered `id`, if any.
pub fn find(root: &Path, id: i64) -> Result<Option<WriteKey>, StoreError> {
    let db = open(root)?;
    db.conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM write_keys WHERE id = ?1"),
            params![id],
            from_row,
        )
        .optional()
        .map_err(db.error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_distinct_and_revoked_once() {
        let root = std::env::temp_dir().join(format!("parcours-store-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert!(active(&root, KeyKind::Write).unwrap().is_empty());
        let web = create(&root, "web", KeyKind::Write).unwrap();
        let app = create(&root, "ios app", KeyKind::Write).unwrap();
        let bob = create(&root, "bob", KeyKind::View).unwrap();
        assert!(bob.key.starts_with("vk_"));
        assert_eq!(
            active(&root, KeyKind::View).unwrap(),
            std::slice::from_ref(&bob.key)
        );
        assert!(web.key.starts_with("wk_") && web.key.len() == 35);
        assert_ne!(web.key, app.key);
        assert_eq!(
            active(&root, KeyKind::Write).unwrap(),
            [web.key.clone(), app.key.clone()]
        );
        assert!(revoke(&root, web.id).unwrap());
        assert!(!revoke(&root, web.id).unwrap(), "revoked twice");
        assert!(!revoke(&root, 99).unwrap(), "no such key");
        assert_eq!(
            active(&root, KeyKind::Write).unwrap(),
            std::slice::from_ref(&app.key)
        );
        let listed = list(&root).unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[2].kind, KeyKind::View);
        assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
        assert_eq!(find(&root, app.id).unwrap().unwrap().name, "ios app");
        std::fs::remove_dir_all(&root).ok();
    }
}
