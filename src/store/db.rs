//! The account's record on disk: one SQLite database (`store.sqlite`,
//! WAL) holding the ledger (one row per message identity, plus the login
//! record) and the preview cache (one row per message). Writes are
//! incremental: a check that changed nothing writes nothing, and a
//! download records each message's new state without rewriting the others.
//!
//! The ledger's promises stay what they were with the JSON file:
//! - every commit of ledger rows is durable before it returns
//!   (`synchronous=FULL`: the WAL is synced at each commit), so the
//!   engine's order — the `Saving` record before any file, save-and-sync
//!   before DELE, QUIT only after the last sync — holds as before;
//! - a damaged or foreign database is set aside
//!   (`store.sqlite.corrupt-<time>`) and reported, never replaced by an
//!   empty one; until the user chooses to start a new record, the account
//!   stays blocked;
//! - a record written by a newer Letterbox is refused, never misread.
//!
//! The preview cache is a cache: its rows are committed with the ledger's
//! but a damaged preview table is simply emptied.
//!
//! An account that still has the JSON files of earlier versions
//! (`ledger.json`, `previews.json`) is migrated on first open, once and
//! atomically: the database is built beside them under a temporary name,
//! synced, and renamed into place; only then is `ledger.json` replaced by a
//! stub that earlier versions refuse to read ("written by a newer
//! Letterbox") instead of taking an empty ledger for "everything is new".
//! A crash at any point leaves either the old files, whole, or the new
//! database, whole.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, ErrorCode, OptionalExtension as _, params};

use super::StoreError;
use super::ledger::{Entry, LoginRecord, Status};
use crate::fsutil::with_suffix;
use crate::mail::Preview;

pub const FILE: &str = "store.sqlite";
const FORMAT: &str = "letterbox-store";
const VERSION: i64 = 1;
/// The JSON ledger of earlier versions, and what replaces it.
const OLD_LEDGER: &str = "ledger.json";
const OLD_PREVIEWS: &str = "previews.json";
const OLD_FORMAT: &str = "letterbox-ledger";
/// The version the stub says: above every JSON version ever written.
const STUB_VERSION: u32 = 2;

/// An open record, shared by the ledger and the preview cache of one
/// store (one connection, so their writes are ordered).
#[derive(Clone, Debug)]
pub struct Record {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    db: Connection,
    path: PathBuf,
}

/// What the record holds, read whole at open.
pub struct Contents {
    pub login: LoginRecord,
    pub entries: BTreeMap<String, Entry>,
    pub previews: BTreeMap<String, std::sync::Arc<Preview>>,
}

impl Record {
    /// Opens the record in `state_dir`, migrating the JSON files of earlier
    /// versions first. A damaged record is set aside and reported; one set
    /// aside earlier and not yet dealt with keeps the account blocked.
    pub fn open(state_dir: &Path) -> Result<(Record, Contents), StoreError> {
        let path = state_dir.join(FILE);
        if !path.exists() {
            if let Some(kept_at) = set_aside_copies(state_dir).into_iter().next() {
                return Err(StoreError::LedgerSetAside { kept_at });
            }
            migrate(state_dir)?;
        }
        finish_migration(state_dir)?;
        let record = Self::open_file(&path)?;
        let contents = record.read().map_err(|e| match e {
            ReadError::Damaged(detail) => set_aside(&path, detail),
            ReadError::Store(e) => e,
        })?;
        Ok((record, contents))
    }

    /// After the user has been told about a damaged record and chose to
    /// start a new one: every set-aside copy is marked acknowledged (kept,
    /// no longer blocking), a record still in place is kept aside as
    /// `.replaced-<time>`, and an empty record takes its place.
    pub fn start_over(state_dir: &Path) -> Result<(Record, Contents), StoreError> {
        for copy in set_aside_copies(state_dir) {
            let done = with_suffix(&copy, ".acknowledged");
            fs::rename(&copy, &done).map_err(|e| StoreError::io("rename", &copy, e))?;
        }
        let path = state_dir.join(FILE);
        for old in [path.clone(), state_dir.join(OLD_LEDGER)] {
            if old.exists() {
                let kept_at = with_suffix(&old, &format!(".replaced-{}", super::now_unix()));
                fs::rename(&old, &kept_at).map_err(|e| StoreError::io("rename", &old, e))?;
            }
        }
        for suffix in ["-wal", "-shm"] {
            let _ = fs::remove_file(with_suffix(&path, suffix));
        }
        let record = Self::open_file(&path)?;
        let contents = record.read().map_err(|e| match e {
            ReadError::Damaged(detail) => set_aside(&path, detail),
            ReadError::Store(e) => e,
        })?;
        Ok((record, contents))
    }

    fn open_file(path: &Path) -> Result<Record, StoreError> {
        let fail = |e: rusqlite::Error| db_error("open", path, e);
        let db = Connection::open(path).map_err(fail)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fail)?;
        // WAL: a commit appends, instead of rewriting pages in place; FULL:
        // the WAL is synced at every commit, so a commit is durable.
        let mode: String = db
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| damaged_or(e, path, "open"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "the record could not use WAL; writes are slower");
        }
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(fail)?;
        create_tables(&db).map_err(|e| damaged_or(e, path, "open"))?;
        Ok(Record {
            inner: Arc::new(Mutex::new(Inner {
                db,
                path: path.to_owned(),
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    fn read(&self) -> Result<Contents, ReadError> {
        let inner = self.lock();
        let db = &inner.db;
        let meta: Option<(String, i64)> = db
            .query_row(
                "SELECT (SELECT value FROM meta WHERE key = 'format'), (SELECT value FROM meta WHERE key = 'version')",
                [],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .map(|(f, v)| f.zip(v))
            .map_err(ReadError::from_sqlite)?;
        match meta {
            Some((format, _)) if format != FORMAT => {
                return Err(ReadError::Damaged(format!(
                    "not a Letterbox record ({format:?})"
                )));
            }
            Some((_, version)) if version > VERSION => {
                return Err(ReadError::Store(StoreError::Newer {
                    path: inner.path.clone(),
                    version,
                }));
            }
            Some(_) => {}
            None => {
                db.execute_batch(&format!(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('format', '{FORMAT}'), ('version', {VERSION});"
                ))
                .map_err(ReadError::from_sqlite)?;
            }
        }
        let login = db
            .query_row(
                "SELECT last_login_unix, login_delay_secs, auth_method FROM login WHERE id = 1",
                [],
                |r| {
                    Ok(LoginRecord {
                        last_login_unix: r.get(0)?,
                        login_delay_secs: r.get(1)?,
                        auth_method: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(ReadError::from_sqlite)?
            .unwrap_or_default();
        let mut entries = BTreeMap::new();
        let mut statement = db
            .prepare(
                "SELECT key, size_bytes, first_seen_unix, status, file, downloaded_unix,
                        on_server, deleted_on_server, size_mismatch FROM entries",
            )
            .map_err(ReadError::from_sqlite)?;
        let mut rows = statement.query([]).map_err(ReadError::from_sqlite)?;
        while let Some(row) = rows.next().map_err(ReadError::from_sqlite)? {
            let key: String = row.get(0).map_err(ReadError::from_sqlite)?;
            let status: String = row.get(3).map_err(ReadError::from_sqlite)?;
            let Some(status) = status_from(&status) else {
                return Err(ReadError::Damaged(format!(
                    "unknown status {status:?} of {key:?}"
                )));
            };
            let entry = Entry {
                size_bytes: row.get::<_, i64>(1).map_err(ReadError::from_sqlite)? as u64,
                first_seen_unix: row.get(2).map_err(ReadError::from_sqlite)?,
                status,
                file: row.get(4).map_err(ReadError::from_sqlite)?,
                downloaded_unix: row.get(5).map_err(ReadError::from_sqlite)?,
                on_server: row.get(6).map_err(ReadError::from_sqlite)?,
                deleted_on_server: row.get(7).map_err(ReadError::from_sqlite)?,
                size_mismatch: row.get(8).map_err(ReadError::from_sqlite)?,
            };
            entries.insert(key, entry);
        }
        drop(rows);
        drop(statement);
        let previews = read_previews(db).unwrap_or_else(|e| {
            // Only a cache: start it afresh rather than block the account.
            tracing::warn!(error = %e, "the preview cache is damaged; emptying it");
            let _ = db.execute_batch("DELETE FROM previews");
            BTreeMap::new()
        });
        Ok(Contents {
            login,
            entries,
            previews,
        })
    }

    /// Writes changed ledger rows (and the login record, if given) in one
    /// durable commit. `None` for an entry deletes it.
    pub fn write_ledger<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, Option<&'a Entry>)>,
        login: Option<&LoginRecord>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let path = inner.path.clone();
        let fail = |e: rusqlite::Error| db_error("save the record of", &path, e);
        let tx = inner.db.transaction().map_err(fail)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO entries(key, size_bytes, first_seen_unix, status, file,
                        downloaded_unix, on_server, deleted_on_server, size_mismatch)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(fail)?;
            let mut delete = tx
                .prepare_cached("DELETE FROM entries WHERE key = ?1")
                .map_err(fail)?;
            for (key, entry) in entries {
                match entry {
                    Some(e) => upsert
                        .execute(params![
                            key,
                            e.size_bytes as i64,
                            e.first_seen_unix,
                            status_name(e.status),
                            e.file,
                            e.downloaded_unix,
                            e.on_server,
                            e.deleted_on_server,
                            e.size_mismatch,
                        ])
                        .map_err(fail)?,
                    None => delete.execute([key]).map_err(fail)?,
                };
            }
            if let Some(login) = login {
                tx.execute(
                    "INSERT OR REPLACE INTO login(id, last_login_unix, login_delay_secs, auth_method)
                     VALUES (1, ?1, ?2, ?3)",
                    params![login.last_login_unix, login.login_delay_secs, login.auth_method],
                )
                .map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    /// Writes changed previews; `None` deletes one. A cache: its commit is
    /// not waited for on the disk.
    pub fn write_previews<'a>(
        &self,
        previews: impl IntoIterator<Item = (&'a str, Option<&'a Preview>)>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let path = inner.path.clone();
        let fail = |e: rusqlite::Error| db_error("save the previews in", &path, e);
        inner
            .db
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        let written = (|| {
            let tx = inner.db.transaction()?;
            {
                let mut upsert = tx.prepare_cached(INSERT_PREVIEW)?;
                let mut delete = tx.prepare_cached("DELETE FROM previews WHERE key = ?1")?;
                for (key, preview) in previews {
                    match preview {
                        Some(p) => insert_preview(&mut upsert, key, p)?,
                        None => delete.execute([key])?,
                    };
                }
            }
            tx.commit()
        })();
        let restored = inner.db.pragma_update(None, "synchronous", "FULL");
        written.map_err(fail)?;
        restored.map_err(fail)
    }

    /// The ledger as another reader sees it, without locking the store or
    /// changing anything: `None` when there is no readable record.
    pub fn peek_entries(state_dir: &Path) -> Option<BTreeMap<String, Entry>> {
        let path = state_dir.join(FILE);
        if !path.is_file() {
            return None;
        }
        let db = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        db.busy_timeout(std::time::Duration::from_secs(2)).ok()?;
        let record = Record {
            inner: Arc::new(Mutex::new(Inner { db, path })),
        };
        record.read().ok().map(|c| c.entries)
    }
}

/// The server list of the last session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastKnown {
    /// When that session logged in.
    pub at_unix: Option<i64>,
    pub messages: Vec<Known>,
}

/// A message the last session saw on the server, as the app shows it at
/// start, before any check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known {
    pub key: String,
    pub size_bytes: u64,
    pub status: Status,
    pub preview: Option<Preview>,
}

impl Record {
    /// The messages on the server at the last session, with their
    /// previews: what the app shows at once when it starts. Reads only
    /// those rows, without locking the store or changing anything; `None`
    /// when there is no readable record.
    pub fn last_known(state_dir: &Path) -> Option<LastKnown> {
        let path = state_dir.join(FILE);
        if !path.is_file() {
            return None;
        }
        let db = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        db.busy_timeout(std::time::Duration::from_secs(2)).ok()?;
        let format: Option<String> = db
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .optional()
            .ok()?;
        if format.as_deref() != Some(FORMAT) {
            return None;
        }
        let mut statement = db
            .prepare(
                "SELECT e.key, e.size_bytes, e.status, p.from_text, p.to_text, p.subject, p.date,
                        p.date_unix, p.message_id, p.text, p.has_attachments
                 FROM entries e LEFT JOIN previews p ON p.key = e.key
                 WHERE e.on_server",
            )
            .ok()?;
        let rows = statement
            .query_map([], |row| {
                let preview = match row.get::<_, Option<String>>(3)? {
                    Some(from) => Some(Preview {
                        from,
                        to: row.get(4)?,
                        subject: row.get(5)?,
                        date: row.get(6)?,
                        date_unix: row.get(7)?,
                        message_id: row.get(8)?,
                        text: row.get(9)?,
                        has_attachments: row.get(10)?,
                    }),
                    None => None,
                };
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                    preview,
                ))
            })
            .ok()?;
        let mut messages = Vec::new();
        for row in rows {
            let (key, size, status, preview) = row.ok()?;
            messages.push(Known {
                key,
                size_bytes: size as u64,
                status: status_from(&status)?,
                preview,
            });
        }
        drop(statement);
        let at_unix = db
            .query_row("SELECT last_login_unix FROM login WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
            .flatten();
        Some(LastKnown { at_unix, messages })
    }
}

enum ReadError {
    /// The file is not a usable record: set it aside.
    Damaged(String),
    Store(StoreError),
}

impl ReadError {
    fn from_sqlite(e: rusqlite::Error) -> ReadError {
        if is_damage(&e) {
            ReadError::Damaged(e.to_string())
        } else {
            ReadError::Store(StoreError::io(
                "read",
                Path::new(FILE),
                std::io::Error::other(e),
            ))
        }
    }
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

fn db_error(action: &'static str, path: &Path, e: rusqlite::Error) -> StoreError {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull => {
            std::io::ErrorKind::StorageFull
        }
        _ => std::io::ErrorKind::Other,
    };
    StoreError::io(action, path, std::io::Error::new(kind, e))
}

/// At open: damage means setting the file aside; anything else is an error.
fn damaged_or(e: rusqlite::Error, path: &Path, action: &'static str) -> StoreError {
    if is_damage(&e) {
        set_aside(path, e.to_string())
    } else {
        db_error(action, path, e)
    }
}

fn create_tables(db: &Connection) -> rusqlite::Result<()> {
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS login(
             id INTEGER PRIMARY KEY CHECK (id = 1),
             last_login_unix INTEGER, login_delay_secs INTEGER, auth_method TEXT);
         CREATE TABLE IF NOT EXISTS entries(
             key TEXT PRIMARY KEY,
             size_bytes INTEGER NOT NULL,
             first_seen_unix INTEGER NOT NULL,
             status TEXT NOT NULL,
             file TEXT,
             downloaded_unix INTEGER,
             on_server INTEGER NOT NULL,
             deleted_on_server INTEGER NOT NULL,
             size_mismatch INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS previews(
             key TEXT PRIMARY KEY,
             from_text TEXT NOT NULL, to_text TEXT NOT NULL, subject TEXT NOT NULL,
             date TEXT NOT NULL, date_unix INTEGER, message_id TEXT NOT NULL,
             text TEXT NOT NULL, has_attachments INTEGER NOT NULL) WITHOUT ROWID;",
    )
}

/// Previews are kept as columns, not encoded: a check writes and a recheck
/// reads ten thousand of them.
const INSERT_PREVIEW: &str = "INSERT OR REPLACE INTO previews(key, from_text, to_text, subject,
    date, date_unix, message_id, text, has_attachments) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

fn insert_preview(
    statement: &mut rusqlite::Statement<'_>,
    key: &str,
    p: &Preview,
) -> rusqlite::Result<usize> {
    statement.execute(params![
        key,
        p.from,
        p.to,
        p.subject,
        p.date,
        p.date_unix,
        p.message_id,
        p.text,
        p.has_attachments
    ])
}

fn read_previews(db: &Connection) -> rusqlite::Result<BTreeMap<String, std::sync::Arc<Preview>>> {
    let mut previews = BTreeMap::new();
    let mut statement = db.prepare(
        "SELECT key, from_text, to_text, subject, date, date_unix, message_id, text, has_attachments
         FROM previews",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        previews.insert(
            row.get::<_, String>(0)?,
            std::sync::Arc::new(Preview {
                from: row.get(1)?,
                to: row.get(2)?,
                subject: row.get(3)?,
                date: row.get(4)?,
                date_unix: row.get(5)?,
                message_id: row.get(6)?,
                text: row.get(7)?,
                has_attachments: row.get(8)?,
            }),
        );
    }
    Ok(previews)
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::New => "new",
        Status::Kept => "kept",
        Status::Saving => "saving",
        Status::Downloaded => "downloaded",
    }
}

fn status_from(name: &str) -> Option<Status> {
    Some(match name {
        "new" => Status::New,
        "kept" => Status::Kept,
        "saving" => Status::Saving,
        "downloaded" => Status::Downloaded,
        _ => return None,
    })
}

/// Moves a damaged record out of the way, with its WAL, and says where.
fn set_aside(path: &Path, detail: String) -> StoreError {
    let kept_at = with_suffix(path, &format!(".corrupt-{}", super::now_unix()));
    if let Err(e) = fs::rename(path, &kept_at) {
        return StoreError::io("set aside", path, e);
    }
    for suffix in ["-wal", "-shm"] {
        let side = with_suffix(path, suffix);
        if side.exists() {
            let _ = fs::rename(&side, with_suffix(&kept_at, suffix));
        }
    }
    StoreError::LedgerCorrupt { kept_at, detail }
}

/// Damaged records (and JSON ledgers of earlier versions) set aside and
/// not yet acknowledged by the user.
pub fn set_aside_copies(state_dir: &Path) -> Vec<PathBuf> {
    let prefixes = [format!("{FILE}.corrupt-"), format!("{OLD_LEDGER}.corrupt-")];
    let mut found: Vec<PathBuf> = fs::read_dir(state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            prefixes.iter().any(|p| name.starts_with(p.as_str()))
                && !name.ends_with(".acknowledged")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[path = "db_migrate.rs"]
mod migrate;
use migrate::{finish_migration, migrate};

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
