//! The per-account ledger: what Letterbox knows about every message it has
//! seen, keyed by its stable identity (the UIDL). It is what makes "never
//! download twice" and "never delete what is not safe at home" possible, so
//! it is written atomically, and a damaged ledger is set aside and reported,
//! never replaced by an empty one (an empty ledger means "everything is
//! new": the mass re-download users hate).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StoreError;
use super::maildir::Maildir;
use crate::fsutil::{with_suffix, write_atomic};

const FORMAT: &str = "letterbox-ledger";
const VERSION: u32 = 1;

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

#[derive(Debug, Serialize, Deserialize)]
struct LedgerFile {
    format: String,
    version: u32,
    #[serde(default)]
    login: LoginRecord,
    #[serde(default)]
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    data: LedgerFile,
}

impl Ledger {
    /// Loads the ledger at `path`. A missing file is an empty ledger, unless
    /// an earlier damaged one was set aside and not yet dealt with.
    pub fn load(path: &Path) -> Result<Ledger, StoreError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(kept_at) = set_aside_copies(path).into_iter().next() {
                    return Err(StoreError::LedgerSetAside { kept_at });
                }
                return Ok(Ledger::empty(path));
            }
            Err(e) => return Err(StoreError::io("read", path, e)),
        };
        let parsed: Result<LedgerFile, String> = serde_json::from_slice::<LedgerFile>(&bytes)
            .map_err(|e| e.to_string())
            .and_then(|data| {
                if data.format != FORMAT {
                    Err(format!("not a Letterbox ledger (format {:?})", data.format))
                } else if data.version > VERSION {
                    Err(format!(
                        "written by a newer Letterbox (version {}, this one reads {VERSION})",
                        data.version
                    ))
                } else {
                    Ok(data)
                }
            });
        match parsed {
            Ok(data) => Ok(Ledger {
                path: path.to_owned(),
                data,
            }),
            Err(detail) => {
                let kept_at = with_suffix(path, &format!(".corrupt-{}", now_unix()));
                fs::rename(path, &kept_at).map_err(|e| StoreError::io("set aside", path, e))?;
                Err(StoreError::LedgerCorrupt { kept_at, detail })
            }
        }
    }

    /// Reads the ledger without changing anything on disk: `None` when it
    /// is missing or damaged (whoever opens the store deals with that).
    pub fn peek(path: &Path) -> Option<Ledger> {
        let bytes = fs::read(path).ok()?;
        let data: LedgerFile = serde_json::from_slice(&bytes).ok()?;
        (data.format == FORMAT && data.version <= VERSION).then(|| Ledger {
            path: path.to_owned(),
            data,
        })
    }

    fn empty(path: &Path) -> Ledger {
        Ledger {
            path: path.to_owned(),
            data: LedgerFile {
                format: FORMAT.to_owned(),
                version: VERSION,
                login: LoginRecord::default(),
                entries: BTreeMap::new(),
            },
        }
    }

    /// After the user has been told about a damaged ledger and chose to
    /// start a new one: the damaged copies are renamed (kept, but no longer
    /// blocking) and an empty ledger takes their place.
    pub fn start_over(path: &Path) -> Result<Ledger, StoreError> {
        for copy in set_aside_copies(path) {
            let done = with_suffix(&copy, ".acknowledged");
            fs::rename(&copy, &done).map_err(|e| StoreError::io("rename", &copy, e))?;
        }
        if path.exists() {
            let kept_at = with_suffix(path, &format!(".replaced-{}", now_unix()));
            fs::rename(path, &kept_at).map_err(|e| StoreError::io("rename", path, e))?;
        }
        let mut ledger = Ledger::empty(path);
        ledger.save()?;
        Ok(ledger)
    }

    pub fn save(&mut self) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&self.data)
            .map_err(|e| StoreError::io("encode", &self.path, std::io::Error::other(e)))?;
        Ok(write_atomic(&self.path, &bytes)?)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.data.entries.get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.data.entries.get_mut(key)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.data.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.data.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.entries.is_empty()
    }

    pub fn login(&self) -> &LoginRecord {
        &self.data.login
    }

    pub fn login_mut(&mut self) -> &mut LoginRecord {
        &mut self.data.login
    }

    /// Records that `key` is on the server with `size_bytes`; a first
    /// sighting creates a `New` entry.
    pub fn note_on_server(&mut self, key: &str, size_bytes: u64, now: i64) -> &mut Entry {
        let entry = self
            .data
            .entries
            .entry(key.to_owned())
            .or_insert_with(|| Entry::first_seen(size_bytes, now));
        if entry.deleted_on_server && entry.size_bytes != size_bytes {
            // The identity came back on a different message (a server that
            // reuses UIDLs, or colliding header keys): it is a new message,
            // and what was downloaded under this key says nothing about it.
            *entry = Entry::first_seen(size_bytes, now);
            return entry;
        }
        entry.on_server = true;
        entry.deleted_on_server = false;
        if entry.status != Status::Downloaded {
            entry.size_bytes = size_bytes;
        }
        entry
    }

    /// Names of the files of interrupted downloads (`Saving`), so that only
    /// Letterbox's own leftovers are removed from `tmp/`.
    pub fn saving_files(&self) -> std::collections::HashSet<String> {
        self.data
            .entries
            .values()
            .filter(|e| e.status == Status::Saving)
            .filter_map(|e| e.file.clone())
            .collect()
    }

    /// Marks every entry not in `present` as gone from the server.
    pub fn note_listing_complete(&mut self, present: &std::collections::HashSet<&str>) {
        for (key, entry) in self.data.entries.iter_mut() {
            if !present.contains(key.as_str()) && entry.on_server {
                entry.on_server = false;
                entry.deleted_on_server = true;
            }
        }
    }

    /// Settles downloads interrupted by a crash: a `Saving` entry whose file
    /// made it into the Maildir is `Downloaded` (it was synced before the
    /// rename), any other goes back to `New`. Returns how many were settled.
    pub fn reconcile(&mut self, maildir: &Maildir, now: i64) -> usize {
        let mut settled = 0;
        for entry in self.data.entries.values_mut() {
            if entry.status != Status::Saving {
                continue;
            }
            settled += 1;
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

/// Damaged ledgers set aside earlier and not yet acknowledged.
fn set_aside_copies(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else {
        return Vec::new();
    };
    let prefix = format!(
        "{}.corrupt-",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(&prefix) && !name.ends_with(".acknowledged")
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
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

    #[test]
    fn round_trip_and_states() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        let mut ledger = Ledger::load(&path).unwrap();
        assert!(ledger.is_empty());
        ledger.note_on_server("uid-1", 100, 10);
        ledger.note_on_server("uid-2", 200, 10).status = Status::Kept;
        ledger.login_mut().login_delay_secs = Some(900);
        ledger.save().unwrap();
        let mut again = Ledger::load(&path).unwrap();
        assert_eq!(again.get("uid-1").unwrap().status, Status::New);
        assert_eq!(again.get("uid-2").unwrap().status, Status::Kept);
        assert_eq!(again.login().login_delay_secs, Some(900));
        // A second sighting keeps the first-seen time.
        assert_eq!(again.note_on_server("uid-1", 100, 99).first_seen_unix, 10);
        let present: std::collections::HashSet<&str> = ["uid-2"].into_iter().collect();
        again.note_listing_complete(&present);
        assert!(again.get("uid-1").unwrap().deleted_on_server);
        assert!(!again.get("uid-2").unwrap().deleted_on_server);
    }

    #[test]
    fn a_reused_identity_with_another_size_is_a_new_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::load(&dir.path().join("ledger.json")).unwrap();
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
    fn corrupt_ledger_is_set_aside_and_keeps_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        fs::write(
            &path,
            b"{\"format\": \"letterbox-ledger\", \"version\": 1, \"entries\": {\"x\": tr",
        )
        .unwrap();
        let err = Ledger::load(&path).unwrap_err();
        let StoreError::LedgerCorrupt { kept_at, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(kept_at.exists(), "the damaged file is kept");
        assert!(!path.exists());
        // Not silently replaced by an empty ledger on the next run...
        assert!(matches!(
            Ledger::load(&path),
            Err(StoreError::LedgerSetAside { .. })
        ));
        // ...only when the user chose to start over.
        let fresh = Ledger::start_over(&path).unwrap();
        assert!(fresh.is_empty());
        assert!(Ledger::load(&path).unwrap().is_empty());
        let kept: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(kept.len(), 2, "the damaged copy is still there");
    }

    #[test]
    fn foreign_or_newer_files_are_not_read_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        fs::write(
            &path,
            br#"{"format":"letterbox-ledger","version":99,"entries":{}}"#,
        )
        .unwrap();
        assert!(
            matches!(Ledger::load(&path), Err(StoreError::LedgerCorrupt { detail, .. }) if detail.contains("newer"))
        );
        fs::write(&path, br#"{"format":"something-else","version":1}"#).unwrap();
        assert!(matches!(
            Ledger::load(&path),
            Err(StoreError::LedgerCorrupt { .. })
        ));
    }

    #[test]
    fn reconcile_settles_interrupted_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(&dir.path().join("Maildir")).unwrap();
        let mut ledger = Ledger::load(&dir.path().join("ledger.json")).unwrap();
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
