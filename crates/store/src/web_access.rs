//! Who may open the web UI, kept in the store's database: the admin password's hash (set
//! once, at first start, or replaced by `parcours admin password`) and the sessions of
//! those logged in. Sessions live here rather than in the server's memory so that a
//! restart logs nobody out, and so that revoking a view key ends the sessions opened with
//! it at their next request.
//!
//! The store keeps what it is given: the password arrives hashed (argon2, by the server)
//! and a session arrives as the hash of its token, so that the database alone opens
//! nothing.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use crate::db::Db;
use crate::{DATABASE, StoreError, io, now_ms};

/// What a session may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything the UI offers, keys included.
    Admin,
    /// Read results, opened with a view key.
    Viewer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A session, found by the hash of its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// What it may do.
    pub role: Role,
    /// The token every form of the session must carry back (CSRF).
    pub csrf: String,
    /// The view key it was opened with (viewers).
    pub key_id: Option<i64>,
    /// When it ends, ms since 1970 UTC.
    pub expires_at: i64,
}

fn open(root: &Path) -> Result<Db, StoreError> {
    std::fs::create_dir_all(root).map_err(io(root))?;
    Db::open(&root.join(DATABASE))
}

/// The admin password's hash, if one was set.
pub fn admin_password(root: &Path) -> Result<Option<String>, StoreError> {
    if !root.join(DATABASE).exists() {
        return Ok(None);
    }
    let db = open(root)?;
    db.conn
        .query_row("SELECT hash FROM web_admin WHERE id = 1", [], |r| r.get(0))
        .optional()
        .map_err(db.error())
}

/// Sets the admin password's hash when none is set yet; `false` when one was (two first
/// starts racing: the first wins).
pub fn set_first_admin_password(root: &Path, hash: &str) -> Result<bool, StoreError> {
    let db = open(root)?;
    let changed = db
        .conn
        .execute(
            "INSERT OR IGNORE INTO web_admin(id, hash, set_at) VALUES (1, ?1, ?2)",
            params![hash, now_ms()],
        )
        .map_err(db.error())?;
    Ok(changed == 1)
}

/// Replaces the admin password's hash and ends every admin session.
pub fn replace_admin_password(root: &Path, hash: &str) -> Result<(), StoreError> {
    let mut db = open(root)?;
    let path = root.join(DATABASE);
    let sqlite = |source| StoreError::Sqlite {
        path: path.clone(),
        source,
    };
    let tx = db.conn.transaction().map_err(sqlite)?;
    tx.execute(
        "INSERT INTO web_admin(id, hash, set_at) VALUES (1, ?1, ?2) \
         ON CONFLICT(id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
        params![hash, now_ms()],
    )
    .map_err(sqlite)?;
    tx.execute("DELETE FROM web_sessions WHERE role = 'admin'", [])
        .map_err(sqlite)?;
    tx.commit().map_err(sqlite)
}

/// Records a session under the hash of its token.
pub fn create_session(root: &Path, token_hash: &str, session: &Session) -> Result<(), StoreError> {
    let db = open(root)?;
    let now = now_ms();
    // Ended sessions go as new ones come: the table stays the size of those in use.
    db.conn
        .execute(
            "DELETE FROM web_sessions WHERE expires_at <= ?1",
            params![now],
        )
        .map_err(db.error())?;
    db.conn
        .execute(
            "INSERT INTO web_sessions(token_hash, role, csrf, key_id, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                token_hash,
                session.role.as_str(),
                session.csrf,
                session.key_id,
                now,
                session.expires_at
            ],
        )
        .map_err(db.error())?;
    Ok(())
}

/// The session of a token's hash, while it lasts and, for a viewer, while its view key is
/// not revoked.
pub fn session(root: &Path, token_hash: &str) -> Result<Option<Session>, StoreError> {
    let db = open(root)?;
    db.conn
        .query_row(
            "SELECT s.role, s.csrf, s.key_id, s.expires_at FROM web_sessions s \
             LEFT JOIN write_keys k ON k.id = s.key_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 \
             AND (s.role = 'admin' OR (k.kind = 'view' AND k.revoked_at IS NULL))",
            params![token_hash, now_ms()],
            |r| {
                Ok(Session {
                    role: if r.get::<_, String>(0)? == "admin" {
                        Role::Admin
                    } else {
                        Role::Viewer
                    },
                    csrf: r.get(1)?,
                    key_id: r.get(2)?,
                    expires_at: r.get(3)?,
                })
            },
        )
        .optional()
        .map_err(db.error())
}

/// Ends the session of a token's hash (logging out).
pub fn end_session(root: &Path, token_hash: &str) -> Result<(), StoreError> {
    let db = open(root)?;
    db.conn
        .execute(
            "DELETE FROM web_sessions WHERE token_hash = ?1",
            params![token_hash],
        )
        .map_err(db.error())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_keys::{KeyKind, create, revoke};

    fn root(name: &str) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("parcours-store-web-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    fn viewer(key_id: Option<i64>, expires_at: i64) -> Session {
        Session {
            role: Role::Viewer,
            csrf: "c".into(),
            key_id,
            expires_at,
        }
    }

    #[test]
    fn the_first_password_is_kept_and_a_replacement_ends_admin_sessions() {
        let root = root("password");
        assert_eq!(admin_password(&root).unwrap(), None);
        assert!(set_first_admin_password(&root, "h1").unwrap());
        assert!(!set_first_admin_password(&root, "h2").unwrap(), "set twice");
        assert_eq!(admin_password(&root).unwrap().as_deref(), Some("h1"));
        let admin = Session {
            role: Role::Admin,
            csrf: "x".into(),
            key_id: None,
            expires_at: now_ms() + 60_000,
        };
        create_session(&root, "t1", &admin).unwrap();
        assert_eq!(session(&root, "t1").unwrap(), Some(admin));
        replace_admin_password(&root, "h3").unwrap();
        assert_eq!(admin_password(&root).unwrap().as_deref(), Some("h3"));
        assert_eq!(session(&root, "t1").unwrap(), None);
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn sessions_end_when_they_expire_are_ended_or_lose_their_key() {
        let root = root("sessions");
        let key = create(&root, "bob", KeyKind::View).unwrap();
        let write = create(&root, "web", KeyKind::Write).unwrap();
        let later = now_ms() + 60_000;
        create_session(&root, "live", &viewer(Some(key.id), later)).unwrap();
        create_session(&root, "old", &viewer(Some(key.id), now_ms() - 1)).unwrap();
        create_session(&root, "write", &viewer(Some(write.id), later)).unwrap();
        create_session(&root, "out", &viewer(Some(key.id), later)).unwrap();
        assert!(session(&root, "live").unwrap().is_some());
        assert_eq!(session(&root, "old").unwrap(), None, "expired");
        assert_eq!(
            session(&root, "write").unwrap(),
            None,
            "a write key opens nothing"
        );
        assert_eq!(session(&root, "nobody").unwrap(), None);
        end_session(&root, "out").unwrap();
        assert_eq!(session(&root, "out").unwrap(), None, "logged out");
        assert!(revoke(&root, key.id).unwrap());
        assert_eq!(session(&root, "live").unwrap(), None, "key revoked");
        std::fs::remove_dir_all(&root).ok();
    }
}
