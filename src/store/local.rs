//! Downloaded mail as a reader changes it, in the Maildir's own terms so
//! that any other mail program sees the same: a message read moves from
//! `new/` to `cur/` with the `S` flag in its name (`NAME:2,S`); unread
//! drops the flag; Delete moves it into the Maildir++ folder `.Trash`
//! (which other programs show as Trash), Undo moves it back, and only
//! Empty trash removes files. Every change is one rename, so a crash
//! leaves each message in one place or the other, never lost. The engine's
//! ledger does not change: a message deleted here was still downloaded
//! once, and is never downloaded again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::create_private_dir;

/// The Maildir++ folder for deleted mail, inside the Maildir.
pub const TRASH: &str = ".Trash";

/// Where a message file is, relative to the Maildir's root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub trashed: bool,
    /// In `new/` (not yet seen by any reader).
    pub in_new: bool,
    /// The file's name: base name, then `:2,FLAGS` outside `new/`.
    pub file_name: String,
}

impl Location {
    /// The base name, without the `:2,FLAGS` info part.
    pub fn base_name(&self) -> &str {
        base_name(&self.file_name)
    }

    /// The Maildir flags (`S` seen, `R` replied, `F` flagged, `T` trashed…).
    pub fn flags(&self) -> &str {
        if self.in_new {
            return "";
        }
        self.file_name
            .split_once(":2,")
            .map_or("", |(_, flags)| flags)
    }

    pub fn seen(&self) -> bool {
        self.flags().contains('S')
    }

    /// `new/NAME`, `cur/NAME:2,S`, `.Trash/cur/NAME:2,S`.
    pub fn relative_path(&self) -> PathBuf {
        let mut path = PathBuf::new();
        if self.trashed {
            path.push(TRASH);
        }
        path.push(if self.in_new { "new" } else { "cur" });
        path.push(&self.file_name);
        path
    }
}

/// A message file's base name: what comes before the `:2,` info.
pub fn base_name(file_name: &str) -> &str {
    file_name
        .split_once(':')
        .map_or(file_name, |(base, _)| base)
}

/// The downloaded mail of one Maildir, for reading.
#[derive(Clone, Debug)]
pub struct LocalMail {
    root: PathBuf,
}

impl LocalMail {
    pub fn new(root: &Path) -> LocalMail {
        LocalMail {
            root: root.to_owned(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, location: &Location) -> PathBuf {
        self.root.join(location.relative_path())
    }

    /// Every message file, in the inbox and in Trash. A folder that does
    /// not exist yet has no messages. Files whose name is not UTF-8 or
    /// starts with a dot are not mail (other programs' temporary files).
    pub fn scan(&self) -> io::Result<Vec<(Location, fs::Metadata)>> {
        let mut found = Vec::new();
        for trashed in [false, true] {
            for in_new in [true, false] {
                let dir = self.root.join(
                    Location {
                        trashed,
                        in_new,
                        file_name: String::new(),
                    }
                    .relative_path(),
                );
                let entries = match fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = entry?;
                    let Ok(file_name) = entry.file_name().into_string() else {
                        continue;
                    };
                    if file_name.starts_with('.') {
                        continue;
                    }
                    let Ok(meta) = entry.metadata() else { continue };
                    if meta.is_file() {
                        found.push((
                            Location {
                                trashed,
                                in_new,
                                file_name,
                            },
                            meta,
                        ));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Finds the message with this base name, wherever it is now.
    pub fn find(&self, base: &str) -> io::Result<Option<Location>> {
        Ok(self
            .scan()?
            .into_iter()
            .map(|(location, _)| location)
            .find(|l| l.base_name() == base))
    }

    /// Marks the message read or unread; returns where it is now.
    pub fn set_seen(&self, from: &Location, seen: bool) -> io::Result<Location> {
        let mut flags: Vec<char> = from.flags().chars().filter(|&c| c != 'S').collect();
        if seen {
            flags.push('S');
        }
        flags.sort_unstable();
        flags.dedup();
        let to = Location {
            trashed: from.trashed,
            in_new: false,
            file_name: format!(
                "{}:2,{}",
                from.base_name(),
                flags.iter().collect::<String>()
            ),
        };
        self.rename(from, &to)?;
        Ok(to)
    }

    /// Moves the message into Trash (or back out of it).
    pub fn set_trashed(&self, from: &Location, trashed: bool) -> io::Result<Location> {
        let to = Location {
            trashed,
            ..from.clone()
        };
        self.rename(from, &to)?;
        Ok(to)
    }

    /// Removes every message in Trash for good; returns how many.
    pub fn empty_trash(&self) -> io::Result<usize> {
        let mut removed = 0;
        for (location, _) in self.scan()? {
            if location.trashed {
                match fs::remove_file(self.path_of(&location)) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        for sub in ["new", "cur"] {
            let dir = self.root.join(TRASH).join(sub);
            if dir.is_dir() {
                sync_folder(&dir)?;
            }
        }
        Ok(removed)
    }

    fn rename(&self, from: &Location, to: &Location) -> io::Result<()> {
        if from == to {
            return Ok(());
        }
        let target = self.path_of(to);
        if let Some(dir) = target.parent() {
            self.ensure_folder(dir)?;
        }
        // Never over another file: base names are unique, so a file at the
        // target is a copy another program made; leave both alone. A link
        // fails where a name is taken (a rename would replace it); a crash
        // between link and unlink leaves the message under both names.
        let source = self.path_of(from);
        fs::hard_link(&source, &target).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", target.display()),
                )
            } else {
                e
            }
        })?;
        fs::remove_file(&source)?;
        if let Some(dir) = target.parent() {
            sync_folder(dir)?;
        }
        if let Some(dir) = source.parent()
            && Some(dir) != target.parent()
        {
            sync_folder(dir)?;
        }
        Ok(())
    }

    /// Creates the folder (and for Trash, a whole Maildir: tmp, new, cur).
    fn ensure_folder(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(maildir) = dir.parent() {
            for sub in ["tmp", "new", "cur"] {
                create_private_dir(&maildir.join(sub)).map_err(|e| e.source)?;
            }
        }
        Ok(())
    }
}

fn sync_folder(dir: &Path) -> io::Result<()> {
    crate::fsutil::sync_dir(dir).map_err(|e| e.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maildir() -> (tempfile::TempDir, LocalMail) {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let local = LocalMail::new(dir.path());
        (dir, local)
    }

    #[test]
    fn read_state_and_trash_are_renames_other_programs_understand() {
        let (dir, local) = maildir();
        fs::write(dir.path().join("new/123.M1P1Q1.host,S=5"), b"hello").unwrap();
        let found = local.find("123.M1P1Q1.host,S=5").unwrap().unwrap();
        assert!(found.in_new && !found.seen());

        let read = local.set_seen(&found, true).unwrap();
        assert_eq!(
            read.relative_path(),
            Path::new("cur/123.M1P1Q1.host,S=5:2,S")
        );
        assert!(read.seen());
        assert_eq!(fs::read(local.path_of(&read)).unwrap(), b"hello");

        let trashed = local.set_trashed(&read, true).unwrap();
        assert_eq!(
            trashed.relative_path(),
            Path::new(".Trash/cur/123.M1P1Q1.host,S=5:2,S")
        );
        assert!(dir.path().join(".Trash/tmp").is_dir(), "Trash is a Maildir");
        let back = local.set_trashed(&trashed, false).unwrap();
        assert_eq!(back, read);

        let unread = local.set_seen(&back, false).unwrap();
        assert_eq!(
            unread.relative_path(),
            Path::new("cur/123.M1P1Q1.host,S=5:2,")
        );
        assert!(!unread.seen());

        let gone = local.set_trashed(&unread, true).unwrap();
        assert_eq!(local.empty_trash().unwrap(), 1);
        assert!(!local.path_of(&gone).exists());
        assert!(local.scan().unwrap().is_empty());
    }

    #[test]
    fn other_flags_are_kept_and_sorted() {
        let (dir, local) = maildir();
        fs::write(dir.path().join("cur/9.x:2,RF"), b"x").unwrap();
        let found = local.find("9.x").unwrap().unwrap();
        let read = local.set_seen(&found, true).unwrap();
        assert_eq!(read.file_name, "9.x:2,FRS");
        assert_eq!(local.set_seen(&read, false).unwrap().file_name, "9.x:2,FR");
    }

    #[test]
    fn a_rename_never_replaces_another_file() {
        let (dir, local) = maildir();
        fs::write(dir.path().join("new/7.x"), b"one").unwrap();
        fs::write(dir.path().join("cur/7.x:2,S"), b"two").unwrap();
        let in_new = Location {
            trashed: false,
            in_new: true,
            file_name: "7.x".into(),
        };
        assert!(local.set_seen(&in_new, true).is_err());
        assert_eq!(fs::read(dir.path().join("new/7.x")).unwrap(), b"one");
        assert_eq!(fs::read(dir.path().join("cur/7.x:2,S")).unwrap(), b"two");
    }
}
