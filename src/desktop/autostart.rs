//! "Start at login": an XDG autostart entry (`~/.config/autostart/
//! letterbox.desktop`) that Letterbox writes and removes itself. The
//! entry's presence is the setting: what the desktop's own session
//! settings change is what Letterbox shows.

use std::path::{Path, PathBuf};

/// The autostart folder (`$XDG_CONFIG_HOME/autostart`).
pub fn autostart_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.config_dir().join("autostart"))
}

const FILE_NAME: &str = "letterbox.desktop";

/// Whether Letterbox starts at login.
pub fn is_enabled(dir: &Path) -> bool {
    dir.join(FILE_NAME).is_file()
}

/// Writes the entry, starting `program` at login.
pub fn enable(dir: &Path, program: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let entry = format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Letterbox\n\
         Comment=Check mail in the background and say when it arrives\n\
         Exec={}\n\
         Icon=letterbox\n\
         Terminal=false\n\
         Categories=Network;Email;\n\
         X-GNOME-Autostart-enabled=true\n",
        exec_quote(&program.to_string_lossy())
    );
    crate::fsutil::write_atomic(&dir.join(FILE_NAME), entry.as_bytes())
        .map_err(std::io::Error::other)
}

/// Removes the entry (nothing to do when there is none).
pub fn disable(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(FILE_NAME)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The program path as the Desktop Entry Specification wants it in `Exec`:
/// quoted when it has anything but plain characters, with `"`, `` ` ``,
/// `$` and `\` escaped inside the quotes, and `%` doubled (a field code
/// otherwise). The `\` of that escaping is itself escaped once more, as
/// the spec's string rules apply first.
fn exec_quote(path: &str) -> String {
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c));
    let path = path.replace('%', "%%");
    if plain {
        return path;
    }
    let mut quoted = String::from("\"");
    for c in path.chars() {
        match c {
            '"' | '`' | '$' | '\\' => {
                quoted.push_str("\\\\");
                quoted.push(c);
            }
            _ => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_stay_and_others_are_quoted() {
        assert_eq!(exec_quote("/usr/bin/letterbox"), "/usr/bin/letterbox");
        assert_eq!(
            exec_quote("/home/ann/My Apps/letterbox"),
            "\"/home/ann/My Apps/letterbox\""
        );
        assert_eq!(exec_quote("/opt/a$b/100%"), "\"/opt/a\\\\$b/100%%\"");
    }

    #[test]
    fn the_entry_is_written_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let autostart = dir.path().join("autostart");
        assert!(!is_enabled(&autostart));
        enable(&autostart, Path::new("/usr/bin/letterbox")).expect("enable");
        assert!(is_enabled(&autostart));
        let entry = std::fs::read_to_string(autostart.join(FILE_NAME)).expect("read");
        assert!(entry.contains("\nExec=/usr/bin/letterbox\n"), "{entry}");
        disable(&autostart).expect("disable");
        assert!(!is_enabled(&autostart));
        disable(&autostart).expect("twice is fine");
    }
}
