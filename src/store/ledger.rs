//! The per-account ledger: what Letterbox knows about every message it has
//! seen, keyed by its stable identity (the UIDL). It is what makes "never
//! download twice" and "never delete what is not safe at home" possible, so
//! every save is durable before it returns (in the account's record,
//! `db`), and a damaged record is set aside and reported, never replaced by
//! an empty one (an empty ledger means "everything is new": the mass
//! re-download users hate). A save writes only the entries that changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::db::Record;
use super::maildir::Maildir;

/// Where a message stands, from the user's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Seen on the server; the user has not decided anything yet.
    New,
    /// The user chose to leave it on the server without downloading.
    Kept,
    /// A download was started into `file`; after a crash, whether the file
    /// reached `new/` decides if it became `Downloaded` or is `New` again.
    Saving,
    /// A complete, synced copy is in the Maildir as `file`.
    Downloaded,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub size_bytes: u64,
    pub first_seen_unix: i64,
    pub status: Status,
    /// The Maildir base name, for `Saving` and `Downloaded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_unix: Option<i64>,
    /// Present in the server's listing at the last session.
    #[serde(default)]
    pub on_server: bool,
    /// Letterbox deleted it on the server (the QUIT that committed it
    /// succeeded), or it was gone at a later listing.
    #[serde(default)]
    pub deleted_on_server: bool,
    /// The downloaded size differed from the size the server announced; such
    /// a copy is kept, but the message is never deleted automatically.
    #[serde(default)]
    pub size_mismatch: bool,
}

impl Entry {
    /// A message just seen on the server for the first time.
    fn first_seen(size_bytes: u64, now: i64) -> Entry {
        Entry {
            size_bytes,
            first_seen_unix: now,
            status: Status::New,
            file: None,
            downloaded_unix: None,
            on_server: true,
            deleted_on_server: false,
            size_mismatch: false,
        }
    }

    /// Safe at home: a complete copy is durable in the Maildir.
    pub fn is_downloaded(&self) -> bool {
        self.status == Status::Downloaded
    }
}

/// The server's LOGIN-DELAY, remembered between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRecord {
    #[serde(default)]
    pub last_login_unix: Option<i64>,
    #[serde(default)]
    pub login_delay_secs: Option<u32>,
    /// The sign-in method that last worked with the automatic choice (its
    /// display name, e.g. "USER/PASS"), tried first next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
}

/// The ledger in memory, over the account's record (`db::Record`). Every
/// change marks its entry; `save` writes the marked ones and nothing else,
/// durably, so a check that found nothing new writes nothing and a download
/// records one message without rewriting the others.
#[derive(Debug)]
pub struct Ledger {
    record: Record,
    login: LoginRecord,
    entries: BTreeMap<String, Entry>,
    /// Keys whose entry changed (or was removed) since the last save.
    dirty: BTreeSet<String>,
    login_dirty: bool,
}

impl Ledger {
    /// The ledger as the record holds it.
    pub(crate) fn from_parts(
        record: Record,
        login: LoginRecord,
        entries: BTreeMap<String, Entry>,
    ) -> Ledger {
        Ledger {
            record,
            login,
            entries,
            dirty: BTreeSet::new(),
            login_dirty: false,
        }
    }

    /// Opens the ledger of the store in `state_dir` (see `Record::open`),
    /// for code that needs the ledger alone.
    pub fn open(state_dir: &Path) -> Result<Ledger, StoreError> {
        let (record, contents) = Record::open(state_dir)?;
        Ok(Ledger::from_parts(record, contents.login, contents.entries))
    }

    /// Reads another process's ledger without locking its store or
    /// changing anything: `None` when there is no readable record.
    pub fn peek(state_dir: &Path) -> Option<BTreeMap<String, Entry>> {
        Record::peek_entries(state_dir)
    }

    /// Writes what changed since the last save, durably; nothing at all
    /// when nothing changed.
    pub fn save(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() && !self.login_dirty {
            return Ok(());
        }
        let entries = &self.entries;
        self.record.write_ledger(
            self.dirty.iter().map(|k| (k.as_str(), entries.get(k))),
            self.login_dirty.then_some(&self.login),
        )?;
        self.dirty.clear();
        self.login_dirty = false;
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The entry, to change it: it is written at the next save.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let entry = self.entries.get_mut(key)?;
        self.dirty.insert(key.to_owned());
        Some(entry)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn login(&self) -> &LoginRecord {
        &self.login
    }

    pub fn login_mut(&mut self) -> &mut LoginRecord {
        self.login_dirty = true;
        &mut self.login
    }

    /// Records that `key` is on the server with `size_bytes`; a first
    /// sighting creates a `New` entry.
    pub fn note_on_server(&mut self, key: &str, size_bytes: u64, now: i64) -> &mut Entry {
        let mut changed = false;
        let entry = self.entries.entry(key.to_owned()).or_insert_with(|| {
            changed = true;
            Entry::first_seen(size_bytes, now)
        });
        if entry.deleted_on_server && entry.size_bytes != size_bytes {
            // The identity came back on a different message (a server that
            // reuses UIDLs, or colliding header keys): it is a new message,
            // and what was downloaded under this key says nothing about it.
            *entry = Entry::first_seen(size_bytes, now);
            changed = true;
        } else {
            let before = (entry.on_server, entry.deleted_on_server, entry.size_bytes);
            entry.on_server = true;
            entry.deleted_on_server = false;
            if entry.status != Status::Downloaded {
                entry.size_bytes = size_bytes;
            }
            changed |= before != (entry.on_server, entry.deleted_on_server, entry.size_bytes);
        }
        if changed {
            self.dirty.insert(key.to_owned());
        }
        entry
    }

    /// Names of the files of interrupted downloads (`Saving`), so that only
    /// Letterbox's own leftovers are removed from `tmp/`.
    pub fn saving_files(&self) -> std::collections::HashSet<String> {
        self.entries
            .values()
            .filter(|e| e.status == Status::Saving)
            .filter_map(|e| e.file.clone())
            .collect()
    }

    /// Marks every entry not in `present` as gone from the server.
    pub fn note_listing_complete(&mut self, present: &std::collections::HashSet<&str>) {
        for (key, entry) in self.entries.iter_mut() {
            if !present.contains(key.as_str()) && entry.on_server {
                entry.on_server = false;
                entry.deleted_on_server = true;
                self.dirty.insert(key.clone());
            }
        }
    }

    /// Settles downloads interrupted by a crash: a `Saving` entry whose file
    /// made it into the Maildir is `Downloaded` (it was synced before the
    /// rename), any other goes back to `New`. Returns how many were settled.
    pub fn reconcile(&mut self, maildir: &Maildir, now: i64) -> usize {
        let mut settled = 0;
        for (key, entry) in self.entries.iter_mut() {
            if entry.status != Status::Saving {
                continue;
            }
            settled += 1;
            self.dirty.insert(key.clone());
            match entry.file.as_deref().map(|f| maildir.find(f)) {
                Some(Some(_)) => {
                    entry.status = Status::Downloaded;
                    entry.downloaded_unix.get_or_insert(now);
                }
                _ => {
                    entry.status = Status::New;
                    entry.file = None;
                }
            }
        }
        settled
    }
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn round_trip_and_states() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        assert!(ledger.is_empty());
        ledger.note_on_server("uid-1", 100, 10);
        ledger.note_on_server("uid-2", 200, 10).status = Status::Kept;
        ledger.login_mut().login_delay_secs = Some(900);
        ledger.save().unwrap();
        drop(ledger);
        let mut again = Ledger::open(dir.path()).unwrap();
        assert_eq!(again.get("uid-1").unwrap().status, Status::New);
        assert_eq!(again.get("uid-2").unwrap().status, Status::Kept);
        assert_eq!(again.login().login_delay_secs, Some(900));
        // A second sighting keeps the first-seen time.
        assert_eq!(again.note_on_server("uid-1", 100, 99).first_seen_unix, 10);
        let present: std::collections::HashSet<&str> = ["uid-2"].into_iter().collect();
        again.note_listing_complete(&present);
        assert!(again.get("uid-1").unwrap().deleted_on_server);
        assert!(!again.get("uid-2").unwrap().deleted_on_server);
        again.save().unwrap();
        drop(again);
        let third = Ledger::open(dir.path()).unwrap();
        assert!(third.get("uid-1").unwrap().deleted_on_server);
        assert_eq!(third.get("uid-1").unwrap().first_seen_unix, 10);
    }

    #[test]
    fn only_changes_are_marked_for_writing() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        for i in 0..100 {
            ledger.note_on_server(&format!("k{i}"), 10, 1);
        }
        assert_eq!(ledger.dirty.len(), 100);
        ledger.save().unwrap();
        assert!(ledger.dirty.is_empty());
        // The same listing again changes nothing.
        for i in 0..100 {
            ledger.note_on_server(&format!("k{i}"), 10, 2);
        }
        let present: std::collections::HashSet<String> =
            (0..100).map(|i| format!("k{i}")).collect();
        ledger.note_listing_complete(&present.iter().map(String::as_str).collect());
        assert!(ledger.dirty.is_empty() && !ledger.login_dirty);
        // One message gone, one changed in size: two rows.
        ledger.note_on_server("k5", 11, 3);
        let fewer: std::collections::HashSet<&str> = present
            .iter()
            .map(String::as_str)
            .filter(|k| *k != "k7")
            .collect();
        ledger.note_listing_complete(&fewer);
        assert_eq!(ledger.dirty.iter().collect::<Vec<_>>(), ["k5", "k7"]);
    }

    #[test]
    fn a_reused_identity_with_another_size_is_a_new_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        let entry = ledger.note_on_server("uid-1", 100, 1);
        entry.status = Status::Downloaded;
        entry.file = Some("f".into());
        ledger.note_listing_complete(&std::collections::HashSet::new());
        assert!(ledger.get("uid-1").unwrap().deleted_on_server);
        // The same message again (our deletion did not take): still downloaded.
        assert_eq!(
            ledger.note_on_server("uid-1", 100, 2).status,
            Status::Downloaded
        );
        ledger.note_listing_complete(&std::collections::HashSet::new());
        // Another message under the same UIDL: new, never "already downloaded".
        let reused = ledger.note_on_server("uid-1", 250, 3);
        assert_eq!(reused.status, Status::New);
        assert_eq!(reused.file, None);
        assert_eq!(reused.first_seen_unix, 3);
    }

    #[test]
    fn a_damaged_record_is_set_aside_and_keeps_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        ledger.note_on_server("uid-1", 100, 1).status = Status::Downloaded;
        ledger.save().unwrap();
        drop(ledger);
        let path = dir.path().join(super::super::db::FILE);
        let _ = fs::remove_file(dir.path().join("store.sqlite-wal"));
        let _ = fs::remove_file(dir.path().join("store.sqlite-shm"));
        fs::write(&path, b"not a database, only garbage ".repeat(100)).unwrap();
        let err = Ledger::open(dir.path()).unwrap_err();
        let StoreError::LedgerCorrupt { kept_at, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(kept_at.exists(), "the damaged file is kept");
        assert!(!path.exists());
        // Not silently replaced by an empty ledger on the next run...
        assert!(matches!(
            Ledger::open(dir.path()),
            Err(StoreError::LedgerSetAside { .. })
        ));
        // ...only when the user chose to start over.
        let (_, fresh) = Record::start_over(dir.path()).unwrap();
        assert!(fresh.entries.is_empty());
        assert!(Ledger::open(dir.path()).unwrap().is_empty());
        assert!(
            fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(".corrupt-")),
            "the damaged copy is still there"
        );
    }

    #[test]
    fn a_record_of_a_newer_letterbox_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        drop(Ledger::open(dir.path()).unwrap());
        let path = dir.path().join(super::super::db::FILE);
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute("UPDATE meta SET value = 99 WHERE key = 'version'", [])
            .unwrap();
        drop(db);
        let err = Ledger::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::Newer { version: 99, .. }),
            "{err:?}"
        );
        assert!(path.exists(), "a newer record is not set aside");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute(
            "UPDATE meta SET value = 'something-else' WHERE key = 'format'",
            [],
        )
        .unwrap();
        drop(db);
        assert!(matches!(
            Ledger::open(dir.path()),
            Err(StoreError::LedgerCorrupt { .. })
        ));
    }

    #[test]
    fn reconcile_settles_interrupted_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(&dir.path().join("Maildir")).unwrap();
        let mut ledger = Ledger::open(dir.path()).unwrap();
        let done = maildir.unique_name(1);
        let lost = maildir.unique_name(1);
        maildir.create_tmp(&done).unwrap();
        maildir.commit(&done).unwrap();
        maildir.create_tmp(&lost).unwrap(); // never committed
        for (key, file) in [("a", &done), ("b", &lost)] {
            let entry = ledger.note_on_server(key, 1, 0);
            entry.status = Status::Saving;
            entry.file = Some(file.clone());
        }
        // A third one was read and moved to Trash before the crash.
        let trashed = maildir.unique_name(1);
        maildir.create_tmp(&trashed).unwrap();
        maildir.commit(&trashed).unwrap();
        let local = crate::store::local::LocalMail::new(maildir.root());
        let at = local.find(&trashed).unwrap().unwrap();
        let read = local.set_seen(&at, true).unwrap();
        local.set_trashed(&read, true).unwrap();
        let entry = ledger.note_on_server("c", 1, 0);
        entry.status = Status::Saving;
        entry.file = Some(trashed.clone());
        assert_eq!(ledger.reconcile(&maildir, 5), 3);
        assert_eq!(ledger.get("a").unwrap().status, Status::Downloaded);
        assert_eq!(ledger.get("b").unwrap().status, Status::New);
        assert_eq!(ledger.get("b").unwrap().file, None);
        assert_eq!(
            ledger.get("c").unwrap().status,
            Status::Downloaded,
            "in Trash it was still downloaded: never again"
        );
    }
}
