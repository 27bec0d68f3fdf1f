//! A Maildir (the format other mail programs read): a message is written
//! into `tmp/`, synced, then renamed into `new/`, and the rename is made
//! durable by syncing `new/`. File names follow the usual unique-name
//! scheme `<seconds>.M<microseconds>P<pid>Q<counter>.<host>,S=<size>`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::StoreError;
use crate::fsutil::{create_private, create_private_dir, sync_dir};

#[derive(Debug)]
pub struct Maildir {
    root: PathBuf,
    host: String,
    pid: u32,
    counter: AtomicU64,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating `tmp/`, `new/` and `cur/`.
    pub fn open(root: &Path) -> Result<Maildir, StoreError> {
        for sub in ["tmp", "new", "cur"] {
            create_private_dir(&root.join(sub))?;
        }
        Ok(Maildir {
            root: root.to_owned(),
            host: host_name(),
            pid: std::process::id(),
            counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh unique base name for a message of `size` bytes.
    pub fn unique_name(&self, size: u64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        format!(
            "{}.M{}P{}Q{}.{},S={size}",
            now.as_secs(),
            now.subsec_micros(),
            self.pid,
            self.counter.fetch_add(1, Ordering::Relaxed) + 1,
            self.host
        )
    }

    /// Creates `tmp/NAME` for writing; never overwrites.
    pub fn create_tmp(&self, name: &str) -> Result<File, StoreError> {
        let path = self.root.join("tmp").join(name);
        create_private(&path).map_err(|e| StoreError::io("create", &path, e))
    }

    /// Makes the content of these files in `tmp/` durable, all at once.
    /// On Linux one `syncfs` flushes the whole batch (a single journal
    /// commit instead of one per file); elsewhere each file is synced.
    pub fn sync_tmp(&self, names: &[&str]) -> Result<(), StoreError> {
        let tmp = self.root.join("tmp");
        #[cfg(target_os = "linux")]
        {
            let _ = names;
            let dir = File::open(&tmp).map_err(|e| StoreError::io("open", &tmp, e))?;
            rustix::fs::syncfs(&dir).map_err(|e| StoreError::io("save", &tmp, e.into()))
        }
        #[cfg(not(target_os = "linux"))]
        {
            for name in names {
                let path = tmp.join(name);
                // Flushing needs a handle opened for writing on Windows.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.sync_data())
                    .map_err(|e| StoreError::io("save", &path, e))?;
            }
            Ok(())
        }
    }

    /// Moves a complete, synced message from `tmp/` into `new/`, never over
    /// an existing file (link, then unlink: the classic Maildir delivery).
    /// The new entry is durable only after [`Maildir::sync_new`].
    pub fn commit(&self, name: &str) -> Result<PathBuf, StoreError> {
        let from = self.root.join("tmp").join(name);
        let to = self.root.join("new").join(name);
        fs::hard_link(&from, &to).map_err(|e| StoreError::io("move into place", &to, e))?;
        // Delivered now; a leftover link in tmp/ is harmless (and removed
        // after 36 hours), while reporting a failure would download it again.
        if let Err(e) = fs::remove_file(&from) {
            tracing::warn!(path = %from.display(), error = %e, "could not remove a delivered message from tmp/");
        }
        Ok(to)
    }

    /// Makes every rename into `new/` so far durable.
    pub fn sync_new(&self) -> Result<(), StoreError> {
        Ok(sync_dir(&self.root.join("new"))?)
    }

    pub fn remove_tmp(&self, name: &str) {
        let _ = fs::remove_file(self.root.join("tmp").join(name));
    }

    /// Removes leftovers of interrupted sessions from `tmp/`: Letterbox's
    /// own (`ours`, by name), and anything older than 36 hours (the Maildir
    /// convention), so another program's delivery in progress is left alone
    /// if the folder is shared. Only call this while holding the account lock.
    pub fn clean_tmp(&self, ours: &std::collections::HashSet<String>) -> Result<usize, StoreError> {
        let tmp = self.root.join("tmp");
        let entries = fs::read_dir(&tmp).map_err(|e| StoreError::io("read", &tmp, e))?;
        let stale = std::time::Duration::from_secs(36 * 3600);
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > stale);
            if (ours.contains(&name) || old) && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Makes the folders themselves durable (after creating them).
    pub fn sync_folders(&self) -> Result<(), StoreError> {
        for dir in ["new", "cur", "tmp"] {
            sync_dir(&self.root.join(dir))?;
        }
        sync_dir(&self.root)?;
        match self.root.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => Ok(sync_dir(parent)?),
            _ => Ok(()),
        }
    }

    /// Makes renames into `new/` and `cur/` durable.
    pub fn sync_delivered(&self) -> Result<(), StoreError> {
        sync_dir(&self.root.join("new"))?;
        Ok(sync_dir(&self.root.join("cur"))?)
    }

    /// Where the message with this base name is now: `new/NAME`, or
    /// `cur/NAME:2,FLAGS` once a mail reader has seen it, or the same in
    /// the Trash folder (`.Trash/`) once the user deleted it there: a
    /// message in Trash was still downloaded.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        let prefix = format!("{name}:");
        for folder in [self.root.clone(), self.root.join(super::local::TRASH)] {
            let in_new = folder.join("new").join(name);
            if in_new.is_file() {
                return Some(in_new);
            }
            let cur = folder.join("cur");
            let exact = cur.join(name);
            if exact.is_file() {
                return Some(exact);
            }
            let found = fs::read_dir(&cur).ok().and_then(|entries| {
                entries.flatten().find_map(|entry| {
                    let file_name = entry.file_name();
                    file_name
                        .to_str()
                        .is_some_and(|n| n.starts_with(&prefix))
                        .then(|| entry.path())
                })
            });
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Every delivered message file (`new/` and `cur/`), sorted by path.
    pub fn messages(&self) -> io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let path = entry?.path();
                if path.is_file() {
                    files.push(path);
                }
            }
        }
        files.sort();
        Ok(files)
    }
}

/// The host part of unique names, with `/` and `:` escaped as the Maildir
/// convention asks.
fn host_name() -> String {
    let raw = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let raw = raw.trim();
    let raw = if raw.is_empty() { "localhost" } else { raw };
    raw.replace('/', "\\057").replace(':', "\\072")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn deliver_and_find() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(&dir.path().join("Maildir")).unwrap();
        let name = maildir.unique_name(5);
        assert!(name.ends_with(",S=5"), "{name}");
        assert!(!name.contains('/') && !name.contains(':'));
        let mut file = maildir.create_tmp(&name).unwrap();
        file.write_all(b"hello").unwrap();
        drop(file);
        maildir.sync_tmp(&[&name]).unwrap();
        assert!(maildir.find(&name).is_none(), "not delivered while in tmp/");
        maildir.commit(&name).unwrap();
        maildir.sync_new().unwrap();
        assert_eq!(fs::read(maildir.find(&name).unwrap()).unwrap(), b"hello");

        // A mail reader moves it to cur/ with flags: still found.
        let moved = maildir.root().join("cur").join(format!("{name}:2,S"));
        fs::rename(maildir.find(&name).unwrap(), &moved).unwrap();
        assert_eq!(maildir.find(&name), Some(moved));
        assert_eq!(maildir.messages().unwrap().len(), 1);
    }

    #[test]
    fn names_are_unique_and_tmp_is_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::open(dir.path()).unwrap();
        let names: std::collections::HashSet<_> =
            (0..1000).map(|_| maildir.unique_name(1)).collect();
        assert_eq!(names.len(), 1000);
        let name = maildir.unique_name(1);
        maildir.create_tmp(&name).unwrap();
        assert!(maildir.create_tmp(&name).is_err(), "never overwrites");
        let foreign = maildir.unique_name(1);
        maildir.create_tmp(&foreign).unwrap();
        let ours: std::collections::HashSet<String> = [name.clone()].into_iter().collect();
        assert_eq!(
            maildir.clean_tmp(&ours).unwrap(),
            1,
            "only our own leftover"
        );
        assert!(
            maildir.root().join("tmp").join(&foreign).exists(),
            "a fresh foreign file stays"
        );
        assert!(maildir.messages().unwrap().is_empty());
        // Committing never replaces a delivered message.
        maildir.commit(&foreign).unwrap();
        let again = maildir.create_tmp(&foreign);
        assert!(again.is_ok());
        assert!(
            maildir.commit(&foreign).is_err(),
            "an existing message is never overwritten"
        );
    }
}
