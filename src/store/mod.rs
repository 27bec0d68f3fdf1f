//! Everything Letterbox keeps on disk for an account: the Maildir of
//! downloaded mail (and, in `local`, the reader's changes to it: read
//! flags, Trash), the ledger of UIDLs, the preview cache, and the index of
//! the downloaded mail for the list and search (`index`). Every write
//! is atomic or goes through Maildir's tmp → fsync → rename, and an account
//! store is locked so two Letterbox processes never work on it at once.
//! It never talks to a server.

pub mod db;
pub mod export;
pub mod index;
pub mod ledger;
pub mod local;
pub mod maildir;
pub mod retrieved;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

pub use ledger::{Entry, Ledger, LoginRecord, Status, now_unix};
pub use maildir::Maildir;
pub use retrieved::RetrievedCache;

use crate::explain::{Explain, UserMessage};
use crate::fsutil::{FileError, create_private_dir};
use crate::mail::Preview;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] FileError),
    #[error("the record of downloaded mail is damaged ({detail}); it was set aside as {}", .kept_at.display())]
    LedgerCorrupt { kept_at: PathBuf, detail: String },
    #[error("the record of downloaded mail was damaged earlier and set aside as {}", .kept_at.display())]
    LedgerSetAside { kept_at: PathBuf },
    #[error("another Letterbox is working on this account ({})", .path.display())]
    Busy { path: PathBuf },
    #[error("the record of downloaded mail {} was written by a newer Letterbox (version {version})", .path.display())]
    Newer { path: PathBuf, version: i64 },
}

impl StoreError {
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io(FileError::new(action, path, source))
    }

    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Io(e) if e.is_disk_full())
    }
}

impl Explain for StoreError {
    fn user_message(&self) -> UserMessage {
        let (headline, next_step): (String, String) = match self {
            e if e.is_disk_full() => (
                "The disk is full, so Letterbox could not save your mail.".into(),
                "Free some space and try again. Nothing was deleted from the server.".into(),
            ),
            StoreError::Io(e) => {
                let file = e.user_message();
                (
                    file.headline,
                    format!("{} Nothing was deleted from the server.", file.next_step),
                )
            }
            StoreError::LedgerCorrupt { kept_at, .. } | StoreError::LedgerSetAside { kept_at } => (
                "Letterbox's record of which messages you already downloaded is damaged.".into(),
                format!(
                    "It was kept as {}. Letterbox will not guess: restore that file from a backup, or start a new record (in the app: “Start a new record”; on the command line: --start-new-ledger). With a new record, messages still on the server may be downloaded again.",
                    kept_at.display()
                ),
            ),
            StoreError::Busy { .. } => (
                "Another Letterbox window or command is already working on this account.".into(),
                "Wait for it to finish, or close it, and try again.".into(),
            ),
            StoreError::Newer { .. } => (
                "This account's record of downloaded mail was written by a newer version of Letterbox.".into(),
                "Use that version again (this one would misread it); nothing was changed.".into(),
            ),
        };
        UserMessage::new(headline, next_step, self.to_string())
    }
}

/// Where an account's files live.
#[derive(Clone, Debug)]
pub struct StorePaths {
    /// The record (ledger and preview cache), the index and the lock file.
    pub state_dir: PathBuf,
    /// The Maildir of downloaded mail.
    pub maildir: PathBuf,
}

impl StorePaths {
    /// The index of the downloaded mail (a cache of the Maildir).
    pub fn index_file(&self) -> PathBuf {
        self.state_dir.join("index.sqlite")
    }

    /// The usual layout: `DIR/store.sqlite`, `DIR/Maildir/`.
    pub fn in_dir(dir: &Path) -> StorePaths {
        StorePaths {
            state_dir: dir.to_owned(),
            maildir: dir.join("Maildir"),
        }
    }
}

/// How long opening a store waits for another holder of its lock.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(750);

/// An open, locked account store.
#[derive(Debug)]
pub struct AccountStore {
    pub maildir: Maildir,
    pub ledger: Ledger,
    pub previews: PreviewCache,
    /// Whole messages retrieved for a preview (servers without TOP).
    pub retrieved: RetrievedCache,
    /// Held for the store's lifetime: the OS lock on it keeps other
    /// processes out, and goes away with this process whatever happens.
    _lock: File,
}

impl AccountStore {
    pub fn open(paths: &StorePaths) -> Result<AccountStore, StoreError> {
        Self::open_with(paths, db::Record::open)
    }

    /// Opens the store after the user chose to start a new ledger.
    pub fn open_starting_over(paths: &StorePaths) -> Result<AccountStore, StoreError> {
        Self::open_with(paths, db::Record::start_over)
    }

    fn open_with(
        paths: &StorePaths,
        open: fn(&Path) -> Result<(db::Record, db::Contents), StoreError>,
    ) -> Result<AccountStore, StoreError> {
        create_private_dir(&paths.state_dir)?;
        let lock_path = paths.state_dir.join("lock");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::io("open", &lock_path, e))?;
        // A lock held a moment longer than its owner lives is common: a
        // process this one starts inherits the lock file's descriptor until
        // its exec closes it. Wait that out before calling the store busy.
        let deadline = std::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(StoreError::Busy { path: lock_path });
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(StoreError::io("lock", &lock_path, e));
                }
            }
        }
        let maildir = Maildir::open(&paths.maildir)?;
        maildir.sync_folders()?;
        let (record, contents) = open(&paths.state_dir)?;
        let mut ledger = Ledger::from_parts(record.clone(), contents.login, contents.entries);
        // With the lock held no other Letterbox is delivering: our files in
        // tmp/ are left over from an interrupted session.
        maildir.clean_tmp(&ledger.saving_files())?;
        // A crash can leave renames into new/ that are visible but not yet
        // durable; make them durable before the ledger relies on them.
        maildir.sync_delivered()?;
        if ledger.reconcile(&maildir, now_unix()) > 0 {
            ledger.save()?;
        }
        let previews = PreviewCache::from_parts(record, contents.previews);
        Ok(AccountStore {
            maildir,
            ledger,
            previews,
            retrieved: RetrievedCache::new(&paths.state_dir.join("retrieved")),
            _lock: lock,
        })
    }
}

/// Previews by message key, so a later check only asks the server for the
/// heads of messages it has not seen. A cache, in the account's record:
/// losing it costs a few TOPs. Changes are marked and `save` writes only
/// those.
#[derive(Debug)]
pub struct PreviewCache {
    record: db::Record,
    /// Shared with the check's report: no copy of ten thousand previews.
    entries: BTreeMap<String, std::sync::Arc<Preview>>,
    /// Keys inserted, replaced or removed since the last save.
    changed: BTreeSet<String>,
}

impl PreviewCache {
    fn from_parts(
        record: db::Record,
        entries: BTreeMap<String, std::sync::Arc<Preview>>,
    ) -> PreviewCache {
        PreviewCache {
            record,
            entries,
            changed: BTreeSet::new(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&std::sync::Arc<Preview>> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: &str, preview: std::sync::Arc<Preview>) {
        if self.entries.get(key) != Some(&preview) {
            self.entries.insert(key.to_owned(), preview);
            self.changed.insert(key.to_owned());
        }
    }

    /// Drops previews of messages no longer worth remembering.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let changed = &mut self.changed;
        self.entries.retain(|k, _| {
            let kept = keep(k);
            if !kept {
                changed.insert(k.clone());
            }
            kept
        });
    }

    pub fn save(&mut self) -> Result<(), StoreError> {
        if self.changed.is_empty() {
            return Ok(());
        }
        let entries = &self.entries;
        self.record.write_previews(
            self.changed
                .iter()
                .map(|k| (k.as_str(), entries.get(k).map(|p| p.as_ref()))),
        )?;
        self.changed.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::in_dir(dir.path());
        let first = AccountStore::open(&paths).unwrap();
        assert!(matches!(
            AccountStore::open(&paths),
            Err(StoreError::Busy { .. })
        ));
        drop(first);
        AccountStore::open(&paths).unwrap();
    }

    #[test]
    fn preview_cache_survives_and_ignores_damage() {
        let dir = tempfile::tempdir().unwrap();
        let paths = StorePaths::in_dir(dir.path());
        let mut store = AccountStore::open(&paths).unwrap();
        let hi = Preview {
            subject: "Hi".into(),
            ..Preview::default()
        };
        store.previews.insert("k", std::sync::Arc::new(hi.clone()));
        store.previews.insert("gone", std::sync::Arc::new(hi));
        store.previews.save().unwrap();
        store.previews.retain(|k| k != "gone");
        store.previews.save().unwrap();
        drop(store);
        let store = AccountStore::open(&paths).unwrap();
        assert_eq!(store.previews.get("k").unwrap().subject, "Hi");
        assert!(store.previews.get("gone").is_none());
        drop(store);
        // A preview table that does not read is emptied, not fatal.
        let db = rusqlite::Connection::open(dir.path().join(db::FILE)).unwrap();
        db.execute(
            "UPDATE previews SET date_unix = 'not a number' WHERE key = 'k'",
            [],
        )
        .unwrap();
        drop(db);
        let store = AccountStore::open(&paths).unwrap();
        assert!(store.previews.get("k").is_none());
        assert!(store.ledger.is_empty(), "the ledger is not touched");
    }

    #[test]
    fn disk_full_has_its_own_sentence() {
        let err = StoreError::io(
            "create",
            Path::new("/x"),
            io::Error::from(io::ErrorKind::StorageFull),
        );
        assert!(err.is_disk_full());
        assert!(err.user_message().headline.contains("disk is full"));
    }
}
