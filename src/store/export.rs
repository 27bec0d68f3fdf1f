//! Copies of mail and attachments the user takes out of Letterbox: saved
//! into a folder they chose, exported as `.eml`, or put in a private
//! temporary folder to be opened by another program. Nothing here ever
//! replaces a file the user did not agree to replace: a new file is created
//! exclusively (if another program took the name meanwhile, the next free
//! name is used), and a chosen path is replaced only when the caller says
//! the user agreed, atomically.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::fsutil::{create_private_dir, write_atomic};
use crate::mail::names::unused_name;

/// Saves `bytes` in `folder` under `name` (already made safe), or the next
/// free name like `name (2).ext`. Returns the file written.
pub fn save_new(folder: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    std::fs::create_dir_all(folder)?;
    for _ in 0..1000 {
        let Some(free) = unused_name(folder, name) else {
            break;
        };
        let path = folder.join(free);
        let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        return Ok(path);
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free file name was found",
    ))
}

/// Saves `bytes` at exactly `path`. An existing file there is replaced
/// only with `replace` (the user said so), and atomically: a crash leaves
/// the old file or the new one.
pub fn save_as(path: &Path, bytes: &[u8], replace: bool) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            format!("{} is a folder", path.display()),
        ));
    }
    if !replace {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        return written;
    }
    write_atomic(path, bytes).map_err(|e| e.source)
}

/// A folder only this user can read, for files handed to other programs
/// ("Open"): under the runtime folder where there is one (cleared at
/// logout), else under the temporary folder, named for the user.
pub fn private_temp_folder() -> io::Result<PathBuf> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| std::env::temp_dir().join(format!("letterbox-{}", user_tag())));
    let folder = base.join("letterbox-open");
    create_private_dir(&folder).map_err(|e| e.source)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        // In a shared temporary folder, someone else may have made it first.
        let meta = std::fs::symlink_metadata(&folder)?;
        let mine = meta.uid() == uid();
        if !meta.is_dir() || !mine || meta.mode() & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not a private folder", folder.display()),
            ));
        }
    }
    Ok(folder)
}

fn user_tag() -> String {
    #[cfg(target_os = "linux")]
    {
        uid().to_string()
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "user".into())
    }
}

#[cfg(target_os = "linux")]
fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_never_replaces_an_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = save_new(dir.path(), "photo.jpg", b"one").unwrap();
        let second = save_new(dir.path(), "photo.jpg", b"two").unwrap();
        assert_eq!(first, dir.path().join("photo.jpg"));
        assert_eq!(second, dir.path().join("photo (2).jpg"));
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
    }

    #[test]
    fn saving_at_a_chosen_path_replaces_only_when_agreed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.pdf");
        save_as(&path, b"first", false).unwrap();
        let refused = save_as(&path, b"second", false).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        save_as(&path, b"second", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(
            save_as(dir.path(), b"x", true).is_err(),
            "not over a folder"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_in_the_way_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"precious").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("a.txt")).unwrap();
        let saved = save_new(dir.path(), "a.txt", b"attachment").unwrap();
        assert_eq!(saved, dir.path().join("a (2).txt"));
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        assert!(save_as(&dir.path().join("a.txt"), b"x", false).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    }

    #[test]
    fn the_temporary_folder_is_private() {
        let folder = private_temp_folder().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }
}
