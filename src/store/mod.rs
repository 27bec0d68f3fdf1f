//! Everything Letterbox keeps on disk for an account: the Maildir of
//! downloaded mail (and, in `local`, the reader's changes to it: read
//! flags, Trash), the ledger of UIDLs, the preview cache, and the index of
//! the downloaded mail for the list and search (`index`). Every write
//! is atomic or goes through Maildir's tmp → fsync → rename, and an account
//! store is locked so two Letterbox processes never work on it at once.
//! It never talks to a server.

pub mod export;
pub mod index;
pub mod ledger;
pub mod local;
pub mod maildir;
pub mod retrieved;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

pub use ledger::{Entry, Ledger, LoginRecord, Status, now_unix};
pub use maildir::Maildir;
pub use retrieved::RetrievedCache;

use crate::explain::{Explain, UserMessage};
use crate::fsutil::{FileError, create_private_dir, write_atomic};
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
        };
        UserMessage::new(headline, next_step, self.to_string())
    }
}

/// Where an account's files live.
#[derive(Clone, Debug)]
pub struct StorePaths {
    /// Ledger, preview cache and lock file.
    pub state_dir: PathBuf,
    /// The Maildir of downloaded mail.
    pub maildir: PathBuf,
}

impl StorePaths {
    /// The index of the downloaded mail (a cache of the Maildir).
    pub fn index_file(&self) -> PathBuf {
        self.state_dir.join("index.sqlite")
    }

    /// The usual layout: `DIR/ledger.json`, `DIR/Maildir/`.
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
        Self::open_with(paths, Ledger::load)
    }

    /// Opens the store after the user chose to start a new ledger.
    pub fn open_starting_over(paths: &StorePaths) -> Result<AccountStore, StoreError> {
        Self::open_with(paths, Ledger::start_over)
    }

    fn open_with(
        paths: &StorePaths,
        load: fn(&Path) -> Result<Ledger, StoreError>,
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
        let mut ledger = load(&paths.state_dir.join("ledger.json"))?;
        // With the lock held no other Letterbox is delivering: our files in
        // tmp/ are left over from an interrupted session.
        maildir.clean_tmp(&ledger.saving_files())?;
        // A crash can leave renames into new/ that are visible but not yet
        // durable; make them durable before the ledger relies on them.
        maildir.sync_delivered()?;
        if ledger.reconcile(&maildir, now_unix()) > 0 {
            ledger.save()?;
        }
        let previews = PreviewCache::load(&paths.state_dir.join("previews.json"));
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
/// heads of messages it has not seen. A cache: losing it costs a few TOPs,
/// so a damaged file is simply ignored.
#[derive(Debug)]
pub struct PreviewCache {
    path: PathBuf,
    entries: BTreeMap<String, Preview>,
    dirty: bool,
}

impl PreviewCache {
    pub fn load(path: &Path) -> PreviewCache {
        let entries = fs::read(path)
            .ok()
            .and_then(|bytes| match serde_json::from_slice(&bytes) {
                Ok(entries) => Some(entries),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring a damaged preview cache");
                    None
                }
            })
            .unwrap_or_default();
        PreviewCache {
            path: path.to_owned(),
            entries,
            dirty: false,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Preview> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: &str, preview: Preview) {
        self.entries.insert(key.to_owned(), preview);
        self.dirty = true;
    }

    /// Drops previews of messages no longer worth remembering.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|k, _| keep(k));
        self.dirty |= self.entries.len() != before;
    }

    pub fn save(&mut self) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.entries)
            .map_err(|e| StoreError::io("encode", &self.path, io::Error::other(e)))?;
        write_atomic(&self.path, &bytes)?;
        self.dirty = false;
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
        let path = dir.path().join("previews.json");
        let mut cache = PreviewCache::load(&path);
        cache.insert(
            "k",
            Preview {
                subject: "Hi".into(),
                ..Preview::default()
            },
        );
        cache.save().unwrap();
        assert_eq!(PreviewCache::load(&path).get("k").unwrap().subject, "Hi");
        fs::write(&path, b"{broken").unwrap();
        assert!(PreviewCache::load(&path).get("k").is_none());
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
