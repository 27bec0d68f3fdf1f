//! The index of downloaded mail: an SQLite database (bundled, with FTS5)
//! beside each account's ledger, holding the header summary of every
//! message file in the Maildir and the full text of its body, so the
//! Downloaded list opens at once and search answers as you type.
//!
//! The Maildir stays the truth. The index is a cache of it: `sync` brings
//! it in line with the files (new ones parsed and added, vanished ones
//! dropped, moved ones — read, unread, trashed — updated without parsing
//! again), whoever put them there; a damaged or foreign database file is
//! set aside and rebuilt from the Maildir. Losing the index loses nothing
//! but the time to rebuild it, so it is written without waiting for the
//! disk at every commit (WAL, `synchronous=NORMAL`). Readers never wait for
//! a sync: WAL lets them read the last committed state while it runs, and
//! a rebuild commits in batches, so the list fills in as it goes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::UNIX_EPOCH;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension as _, params};

use super::local::{LocalMail, Location, base_name};
use crate::mail::Summary;

/// Bumped when the tables change; an index of another version is rebuilt.
const SCHEMA_VERSION: i64 = 1;
/// Messages parsed and committed together during a sync.
const BATCH: usize = 256;
/// Most results a search returns.
pub const MAX_RESULTS: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the index of downloaded mail could not be used: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the downloaded mail could not be read: {0}")]
    Io(#[from] std::io::Error),
    #[error("stopped")]
    Cancelled,
}

impl IndexError {
    /// The database file is not a usable index: set it aside, rebuild.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            IndexError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
        )
    }
}

/// One downloaded message, as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indexed {
    pub location: Location,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub date_unix: Option<i64>,
    pub size_bytes: u64,
    pub attachments: u32,
}

impl Indexed {
    pub fn base_name(&self) -> &str {
        self.location.base_name()
    }
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Messages in the Maildir (inbox and Trash).
    pub messages: usize,
    /// Parsed and added.
    pub indexed: usize,
    pub removed: usize,
    /// Moved (read, unread, trashed, restored) without parsing again.
    pub moved: usize,
    /// The database was damaged and rebuilt from scratch.
    pub rebuilt: bool,
}

/// Counts for the sidebar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub messages: usize,
    pub unread: usize,
    pub trashed: usize,
}

pub struct MailIndex {
    db: Connection,
    path: PathBuf,
}

impl MailIndex {
    /// Opens (creating if needed) the index at `path`. A file that is not
    /// an index of this version is set aside (`.damaged`) and replaced by
    /// an empty index, which the next sync fills.
    pub fn open(path: &Path) -> Result<MailIndex, IndexError> {
        match Self::open_as_is(path) {
            Err(e) if e.is_damage() => {
                tracing::warn!(path = %path.display(), "the mail index is damaged; rebuilding it");
                set_aside(path);
                Self::open_as_is(path)
            }
            other => other,
        }
    }

    /// Opens an existing index to read from it; `None` if there is none
    /// yet (or it is being made). Only reads, so it never waits for a sync
    /// (WAL). Opened read-write all the same, without creating anything:
    /// a read-only connection cannot set up the shared-memory file that
    /// WAL readers need once the last writer has closed.
    pub fn open_read_only(path: &Path) -> Result<Option<MailIndex>, IndexError> {
        if !path.is_file() {
            return Ok(None);
        }
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: Option<i64> = match db
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
        {
            Ok(version) => version,
            // A file just created, whose tables are not there yet.
            Err(rusqlite::Error::SqliteFailure(_, Some(message)))
                if message.starts_with("no such table") =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        };
        if version != Some(SCHEMA_VERSION) {
            return Ok(None);
        }
        Ok(Some(MailIndex {
            db,
            path: path.to_owned(),
        }))
    }

    fn open_as_is(path: &Path) -> Result<MailIndex, IndexError> {
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir).map_err(std::io::Error::other)?;
        }
        let db = Connection::open(path)?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        // No integrity check here: it reads the whole file on every open.
        // Damage shows as SQLITE_CORRUPT or NOTADB where it is met, and
        // `sync` rebuilds then.
        // The app and the command line may open a new index at once: the
        // tables are made under the write lock, by one of them.
        let mut db = db;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value)")?;
        let version: Option<i64> = tx
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()?;
        if version != Some(SCHEMA_VERSION) {
            // Another version's tables, or none yet: start afresh. It is
            // only a cache of the Maildir.
            tx.execute_batch(
                "DROP TABLE IF EXISTS messages;
                 DROP TABLE IF EXISTS search;
                 CREATE TABLE messages(
                     id INTEGER PRIMARY KEY,
                     base TEXT NOT NULL UNIQUE,
                     location TEXT NOT NULL,
                     trashed INTEGER NOT NULL,
                     in_new INTEGER NOT NULL,
                     seen INTEGER NOT NULL,
                     file_size INTEGER NOT NULL,
                     mtime INTEGER NOT NULL,
                     from_text TEXT NOT NULL,
                     to_text TEXT NOT NULL,
                     subject TEXT NOT NULL,
                     date_unix INTEGER,
                     attachments INTEGER NOT NULL);
                 CREATE INDEX messages_by_date ON messages(trashed, date_unix);
                 CREATE VIRTUAL TABLE search USING fts5(
                     from_text, subject, body,
                     content='', contentless_delete=1,
                     tokenize='unicode61 remove_diacritics 2', prefix='2 3');",
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
        tx.commit()?;
        Ok(MailIndex {
            db,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the index at `path` aside and starts an empty one, for a
    /// reader that met damage the writer had not (a sync reads the list,
    /// not the search tables).
    pub fn rebuild(path: &Path) -> Result<MailIndex, IndexError> {
        set_aside(path);
        Self::open_as_is(path)
    }

    /// Brings the index in line with the Maildir. `progress(done, total)`
    /// is called as new messages are parsed; `cancelled()` is asked between
    /// batches (what was committed stays). A database found damaged on the
    /// way is set aside and rebuilt.
    pub fn sync(
        &mut self,
        mail: &LocalMail,
        progress: &mut dyn FnMut(usize, usize),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<SyncReport, IndexError> {
        match self.sync_once(mail, progress, cancelled) {
            Err(e) if e.is_damage() => {
                tracing::warn!(path = %self.path.display(), "the mail index is damaged; rebuilding it");
                set_aside(&self.path);
                *self = Self::open_as_is(&self.path)?;
                let mut report = self.sync_once(mail, progress, cancelled)?;
                report.rebuilt = true;
                Ok(report)
            }
            other => other,
        }
    }

    fn sync_once(
        &mut self,
        mail: &LocalMail,
        progress: &mut dyn FnMut(usize, usize),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<SyncReport, IndexError> {
        let on_disk = mail.scan()?;
        let mut known: HashMap<String, (i64, String, i64, i64)> = HashMap::new();
        {
            let mut rows = self
                .db
                .prepare("SELECT id, base, location, file_size, mtime FROM messages")?;
            let mut query = rows.query([])?;
            while let Some(row) = query.next()? {
                known.insert(
                    row.get(1)?,
                    (row.get(0)?, row.get(2)?, row.get(3)?, row.get(4)?),
                );
            }
        }
        let mut report = SyncReport {
            messages: on_disk.len(),
            ..SyncReport::default()
        };
        let mut fresh: Vec<(Location, i64, i64)> = Vec::new();
        let mut moved: Vec<(i64, Location)> = Vec::new();
        let mut seen_bases = std::collections::HashSet::new();
        for (location, meta) in on_disk {
            let base = location.base_name().to_owned();
            if !seen_bases.insert(base.clone()) {
                continue; // a copy under the same base name: one is enough
            }
            let size = meta.len() as i64;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            match known.remove(&base) {
                Some((id, relative, known_size, _)) if known_size == size => {
                    if relative != location_key(&location) {
                        moved.push((id, location));
                    }
                }
                Some((id, ..)) => {
                    // The same name with other bytes: index it again.
                    self.remove(id)?;
                    fresh.push((location, size, mtime));
                }
                None => fresh.push((location, size, mtime)),
            }
        }
        // What is left in `known` is no longer in the Maildir.
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (_, (id, ..)) in known.drain() {
            tx.execute("DELETE FROM messages WHERE id = ?1", [id])?;
            tx.execute("DELETE FROM search WHERE rowid = ?1", [id])?;
            report.removed += 1;
        }
        for (id, location) in &moved {
            tx.execute(
                "UPDATE messages SET location = ?2, trashed = ?3, in_new = ?4, seen = ?5 WHERE id = ?1",
                params![
                    id,
                    location_key(location),
                    location.trashed,
                    location.in_new,
                    location.seen()
                ],
            )?;
            report.moved += 1;
        }
        tx.commit()?;

        // Newest first, so the top of the list fills in first.
        fresh.sort_by_key(|f| std::cmp::Reverse(f.2));
        let total = fresh.len();
        progress(0, total);
        for batch in fresh.chunks(BATCH) {
            if cancelled() {
                return Err(IndexError::Cancelled);
            }
            let parsed = parse_all(mail, batch);
            let tx = self
                .db
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for ((location, size, mtime), summary) in batch.iter().zip(parsed) {
                let Some(summary) = summary else { continue };
                if insert(&tx, location, *size, *mtime, &summary)? {
                    report.indexed += 1;
                }
            }
            tx.commit()?;
            progress(report.indexed, total);
        }
        Ok(report)
    }

    fn remove(&self, id: i64) -> Result<(), IndexError> {
        self.db
            .execute("DELETE FROM messages WHERE id = ?1", [id])?;
        self.db
            .execute("DELETE FROM search WHERE rowid = ?1", [id])?;
        Ok(())
    }

    /// Every message in the inbox (or in Trash), newest first.
    pub fn list(&self, trashed: bool) -> Result<Vec<Indexed>, IndexError> {
        let mut statement = self.db.prepare_cached(
            "SELECT location, trashed, in_new, from_text, to_text, subject, date_unix, file_size, attachments
             FROM messages WHERE trashed = ?1 ORDER BY date_unix DESC, id DESC",
        )?;
        let rows = statement.query_map([trashed], read_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Messages (not in Trash) whose sender, subject or text has every
    /// word of `query`, the last one as a prefix (results as you type),
    /// newest first, at most [`MAX_RESULTS`].
    pub fn search(&self, query: &str) -> Result<Vec<Indexed>, IndexError> {
        let Some(expression) = fts_query(query) else {
            return self.list(false);
        };
        let mut statement = self.db.prepare_cached(
            "SELECT m.location, m.trashed, m.in_new, m.from_text, m.to_text, m.subject, m.date_unix, m.file_size, m.attachments
             FROM search JOIN messages m ON m.id = search.rowid
             WHERE search MATCH ?1 AND m.trashed = 0
             ORDER BY m.date_unix DESC, m.id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![expression, MAX_RESULTS as i64], read_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn counts(&self) -> Result<Counts, IndexError> {
        Ok(self.db.query_row(
            "SELECT COALESCE(SUM(trashed = 0), 0), COALESCE(SUM(trashed = 0 AND seen = 0), 0), COALESCE(SUM(trashed), 0) FROM messages",
            [],
            |r| {
                Ok(Counts {
                    messages: r.get::<_, i64>(0)? as usize,
                    unread: r.get::<_, i64>(1)? as usize,
                    trashed: r.get::<_, i64>(2)? as usize,
                })
            },
        )?)
    }
}

/// How a location is stored: its path relative to the Maildir.
fn location_key(location: &Location) -> String {
    location.relative_path().to_string_lossy().into_owned()
}

fn location_from_key(key: &str, trashed: bool, in_new: bool) -> Location {
    Location {
        trashed,
        in_new,
        file_name: key.rsplit('/').next().unwrap_or(key).to_owned(),
    }
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Indexed> {
    let key: String = row.get(0)?;
    Ok(Indexed {
        location: location_from_key(&key, row.get(1)?, row.get(2)?),
        from: row.get(3)?,
        to: row.get(4)?,
        subject: row.get(5)?,
        date_unix: row.get(6)?,
        size_bytes: row.get::<_, i64>(7)? as u64,
        attachments: row.get::<_, i64>(8)? as u32,
    })
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    location: &Location,
    size: i64,
    mtime: i64,
    summary: &Summary,
) -> Result<bool, IndexError> {
    // Another writer (the command line beside the app) may have indexed
    // it since this sync looked: then its row stands.
    let inserted = tx.execute(
        "INSERT INTO messages(base, location, trashed, in_new, seen, file_size, mtime,
             from_text, to_text, subject, date_unix, attachments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(base) DO NOTHING",
        params![
            base_name(&location.file_name),
            location_key(location),
            location.trashed,
            location.in_new,
            location.seen(),
            size,
            mtime,
            summary.from,
            summary.to,
            summary.subject,
            summary.date_unix,
            summary.attachments,
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let id = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO search(rowid, from_text, subject, body) VALUES (?1, ?2, ?3, ?4)",
        params![id, summary.from, summary.subject, summary.text],
    )?;
    Ok(true)
}

/// Parses a batch of message files on as many threads as there are cores.
/// A file that vanished meanwhile (moved by another program) gives `None`:
/// the next sync finds it where it went.
fn parse_all(mail: &LocalMail, batch: &[(Location, i64, i64)]) -> Vec<Option<Summary>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
        .min(batch.len().max(1));
    let parse = |location: &Location| {
        std::fs::read(mail.path_of(location))
            .ok()
            .map(|bytes| Summary::from_bytes(&bytes))
    };
    if threads == 1 {
        return batch.iter().map(|(l, ..)| parse(l)).collect();
    }
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let tx = tx.clone();
            let parse = &parse;
            scope.spawn(move || {
                for (i, (location, ..)) in batch.iter().enumerate().skip(worker).step_by(threads) {
                    let _ = tx.send((i, parse(location)));
                }
            });
        }
    });
    drop(tx);
    let mut out: Vec<Option<Summary>> = vec![None; batch.len()];
    for (i, summary) in rx {
        out[i] = summary;
    }
    out
}

/// The user's words as an FTS5 query: every word must match, the last as
/// a prefix; quotes make any character safe. `None` for no words.
pub fn fts_query(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let last = words.len().checked_sub(1)?;
    Some(
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let quoted = format!("\"{}\"", w.replace('"', "\"\""));
                if i == last { quoted + "*" } else { quoted }
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Moves a damaged index out of the way (keeping the last one for a bug
/// report) with its WAL files.
fn set_aside(path: &Path) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".damaged");
    let _ = std::fs::rename(path, &aside);
    for suffix in ["-wal", "-shm"] {
        let mut extra = path.as_os_str().to_owned();
        extra.push(suffix);
        let _ = std::fs::remove_file(extra);
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
