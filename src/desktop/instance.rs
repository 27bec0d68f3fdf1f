//! One Letterbox at a time per user: the first one holds a lock file in
//! the runtime folder and listens on a socket beside it; a second launch
//! finds the lock taken, asks the first to show its window, and exits.
//! Two Letterboxes on the same accounts would check, download and delete
//! behind each other's backs.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::{DesktopEvent, Wake};

const REQUEST: &str = "show\n";
const ANSWER: &str = "shown\n";

/// Holding this makes this process the one Letterbox.
pub struct Primary {
    // Kept open: the lock lasts as long as the file handle.
    _lock: File,
    socket: PathBuf,
}

impl Drop for Primary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// What starting found.
pub enum Start {
    /// No other Letterbox runs: this one goes on.
    First(Primary),
    /// Another one runs and was asked to show its window: exit.
    HandedOver,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("the folder {} could not be used: {source}", .dir.display())]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("another Letterbox is running but did not answer: {0}")]
    NoAnswer(std::io::Error),
}

/// The per-user folder for the lock and the socket: `$XDG_RUNTIME_DIR`
/// (private to the user, emptied at logout), else the data folder.
pub fn runtime_dir() -> Option<PathBuf> {
    let dirs = directories::ProjectDirs::from("org", "Letterbox", "letterbox")?;
    Some(
        dirs.runtime_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_dir().join("run")),
    )
}

/// Becomes the one Letterbox, or hands over to the one that runs. The
/// first one's requests arrive as `DesktopEvent::Show`.
pub fn start(dir: &Path, events: Sender<DesktopEvent>, wake: Wake) -> Result<Start, InstanceError> {
    let folder = |source| InstanceError::Folder {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(folder)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("instance.lock"))
        .map_err(folder)?;
    let socket = dir.join("instance.sock");
    match lock.try_lock() {
        Ok(()) => {
            // A socket left by a Letterbox that crashed is stale.
            let _ = std::fs::remove_file(&socket);
            let listener = UnixListener::bind(&socket).map_err(folder)?;
            std::thread::Builder::new()
                .name("instance".into())
                .spawn(move || serve(listener, events, wake))
                .map_err(folder)?;
            Ok(Start::First(Primary {
                _lock: lock,
                socket,
            }))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            hand_over(&socket).map_err(InstanceError::NoAnswer)?;
            Ok(Start::HandedOver)
        }
        Err(std::fs::TryLockError::Error(e)) => Err(folder(e)),
    }
}

fn serve(listener: UnixListener, events: Sender<DesktopEvent>, wake: Wake) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        if BufReader::new(&stream).read_line(&mut line).is_err() || line != REQUEST {
            continue;
        }
        if events.send(DesktopEvent::Show).is_err() {
            return;
        }
        wake();
        let _ = stream.write_all(ANSWER.as_bytes());
    }
}

/// Asks the running Letterbox to show itself. It may have taken the lock
/// a moment ago and not be listening yet: tried for a few seconds.
fn hand_over(socket: &Path) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ask(socket) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn ask(socket: &Path) -> std::io::Result<()> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(REQUEST.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer)?;
    if answer == ANSWER {
        Ok(())
    } else {
        Err(std::io::Error::other("an unexpected answer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc;

    fn no_wake() -> Wake {
        Arc::new(|| {})
    }

    #[test]
    fn the_second_start_hands_over_and_the_first_is_asked_to_show() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (events, shown) = mpsc::channel();
        let first = match start(dir.path(), events, no_wake()).expect("first") {
            Start::First(primary) => primary,
            Start::HandedOver => panic!("nothing ran before"),
        };
        let (other, _) = mpsc::channel();
        assert!(matches!(
            start(dir.path(), other, no_wake()).expect("second"),
            Start::HandedOver
        ));
        assert_eq!(
            shown.recv_timeout(Duration::from_secs(5)),
            Ok(DesktopEvent::Show)
        );
        // Once the first is gone, the next start is the first again, even
        // with its socket file left behind.
        drop(first);
        std::fs::write(dir.path().join("instance.sock"), b"").expect("stale socket");
        let (events, _) = mpsc::channel();
        assert!(matches!(
            start(dir.path(), events, no_wake()).expect("again"),
            Start::First(_)
        ));
    }
}
