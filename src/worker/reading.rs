//! The downloaded mail, for the app. Two kinds of work:
//!
//! - Jobs on a queue of their own per account (`mail:ID`), apart from the
//!   account's network jobs so a check never waits for an index: keeping
//!   the index in line with the Maildir (with progress and Cancel), and the
//!   reader's changes (read, unread, Trash, Empty trash), each followed by
//!   a sync so the list shows what the folders hold.
//! - One-shot reads the UI waits for with a `Promise`: the list or a
//!   search, a whole message (parsed, its pictures decoded), saving or
//!   opening an attachment, handing a link to the browser. Each runs on its
//!   own thread and wakes the UI when done.
//!
//! The Maildir is only ever changed by renames (`store::local`), so none
//! of this can lose a message.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use poll_promise::Promise;

use crate::explain::{Explain, UserMessage};
use crate::mail::picture::{Picture, decode};
use crate::mail::{MessageView, attachment_bytes, names::runs_code_when_opened};
use crate::net::CancelToken;
use crate::store::Ledger;
use crate::store::StorePaths;
use crate::store::export::{private_temp_folder, save_as, save_new};
use crate::store::index::{Counts, Indexed, MailIndex, SyncReport};
use crate::store::local::{LocalMail, Location};

use super::{Emitter, Event, Wake};

/// Largest side of a picture shown in the reader, in pixels.
pub const PICTURE_FIT: u32 = 1200;
/// Most pictures decoded for one message.
pub const MAX_PICTURES: usize = 12;
/// Most bytes of a message shown by View source.
pub const MAX_SOURCE_BYTES: usize = 2 * 1024 * 1024;

/// Where an account's downloaded mail and its index are.
#[derive(Clone, Debug)]
pub struct MailHome {
    pub account_id: String,
    pub paths: StorePaths,
}

impl MailHome {
    /// The worker queue of this Maildir's jobs (what `Request::Cancel`
    /// takes to stop them).
    pub fn queue(&self) -> String {
        format!("mail:{}", self.account_id)
    }

    pub fn local(&self) -> LocalMail {
        LocalMail::new(&self.paths.maildir)
    }
}

/// A change the reader makes to messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalChange {
    Read,
    Unread,
    Trash,
    Restore,
}

/// What the sidebar and the list need after a sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailSynced {
    pub report: SyncReport,
    pub counts: Counts,
}

impl Explain for crate::store::index::IndexError {
    fn user_message(&self) -> UserMessage {
        UserMessage::new(
            "Letterbox could not read or update the list of your downloaded mail.",
            "Your messages are safe in their folder. Try again; if it keeps failing, check that the disk is not full.",
            self.to_string(),
        )
    }
}

fn io_message(action: &str, error: &std::io::Error) -> UserMessage {
    let next = if matches!(
        error.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) {
        "Free some space on the disk and try again."
    } else if error.kind() == std::io::ErrorKind::PermissionDenied {
        "Choose a folder you can write to."
    } else {
        "Try again, or choose another place."
    };
    UserMessage::new(
        format!("Letterbox could not {action}."),
        next,
        error.to_string(),
    )
}

/// Runs a job of a `mail:` queue.
pub(super) fn run(request: super::Request, emitter: &Emitter, cancel: &CancelToken) {
    match request {
        super::Request::SyncIndex(home) => sync(&home, emitter, cancel),
        super::Request::RebuildIndex(home) => {
            tracing::warn!(account = %home.account_id, "the mail index is damaged; rebuilding it");
            if let Err(e) = MailIndex::rebuild(&home.paths.index_file()) {
                emitter.emit(Event::MailSynced {
                    account_id: home.account_id.clone(),
                    result: Err(e.user_message()),
                });
                return;
            }
            sync(&home, emitter, cancel);
        }
        super::Request::ChangeMail(home, locations, change) => {
            let local = home.local();
            let mut moved = Vec::new();
            let mut problem = None;
            for location in locations {
                // The file may have moved since the list was read (a read
                // mark, another program): find it by its base name.
                let location = if local.path_of(&location).is_file() {
                    location
                } else {
                    match local.find(location.base_name()) {
                        Ok(Some(now)) => now,
                        Ok(None) => continue, // gone: nothing to change
                        Err(e) => {
                            problem = Some(io_message("find a message", &e));
                            continue;
                        }
                    }
                };
                let nothing_to_do = match change {
                    LocalChange::Trash => location.trashed,
                    LocalChange::Restore => !location.trashed,
                    LocalChange::Read => location.seen() && !location.in_new,
                    LocalChange::Unread => !location.seen() && !location.in_new,
                };
                if nothing_to_do {
                    continue;
                }
                let result = match change {
                    LocalChange::Read => local.set_seen(&location, true),
                    LocalChange::Unread => local.set_seen(&location, false),
                    LocalChange::Trash => local.set_trashed(&location, true),
                    LocalChange::Restore => local.set_trashed(&location, false),
                };
                match result {
                    Ok(now) => moved.push((location, now)),
                    Err(e) => problem = Some(io_message("move a message", &e)),
                }
            }
            let still_on_server = if change == LocalChange::Trash {
                on_server(&home, &moved)
            } else {
                Vec::new()
            };
            emitter.emit(Event::MailChanged {
                account_id: home.account_id.clone(),
                change,
                moved,
                still_on_server,
                problem,
            });
            sync(&home, emitter, cancel);
        }
        super::Request::EmptyTrash(home) => {
            let result = home.local().empty_trash();
            emitter.emit(Event::TrashEmptied {
                account_id: home.account_id.clone(),
                result: result.map_err(|e| io_message("empty the trash", &e)),
            });
            sync(&home, emitter, cancel);
        }
        _ => {}
    }
}

/// The server keys of moved messages that, by the ledger, are still on
/// the server (as of the last session).
fn on_server(home: &MailHome, moved: &[(Location, Location)]) -> Vec<String> {
    let Some(ledger) = Ledger::peek(&home.paths.state_dir) else {
        return Vec::new();
    };
    let bases: std::collections::HashSet<&str> = moved.iter().map(|(_, l)| l.base_name()).collect();
    ledger
        .iter()
        .filter(|(_, e)| e.on_server && e.file.as_deref().is_some_and(|f| bases.contains(f)))
        .map(|(key, _)| key.to_owned())
        .collect()
}

fn sync(home: &MailHome, emitter: &Emitter, cancel: &CancelToken) {
    let result = (|| {
        let mut index = MailIndex::open(&home.paths.index_file())?;
        let report = index.sync(
            &home.local(),
            &mut |done, total| {
                if total > 0 {
                    emitter.emit(Event::IndexProgress {
                        account_id: home.account_id.clone(),
                        done,
                        total,
                    });
                }
            },
            &|| cancel.is_cancelled(),
        )?;
        Ok(MailSynced {
            report,
            counts: index.counts()?,
        })
    })();
    emitter.emit(Event::MailSynced {
        account_id: home.account_id.clone(),
        result: result.map_err(|e: crate::store::index::IndexError| match e {
            crate::store::index::IndexError::Cancelled => UserMessage::new(
                "Listing the downloaded mail was stopped.",
                "It goes on where it stopped the next time.",
                String::new(),
            ),
            e => e.user_message(),
        }),
    });
}

/// A downloaded message in a list: whose it is, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedMail {
    pub account_id: String,
    pub path: PathBuf,
    pub message: Indexed,
}

/// Runs `work` on a thread of its own; wakes the UI when it is done.
pub(super) fn promise<T: Send + 'static>(
    wake: &Wake,
    work: impl FnOnce() -> T + Send + 'static,
) -> Promise<T> {
    let (sender, promise) = Promise::new();
    let wake = wake.clone();
    let spawned = std::thread::Builder::new()
        .name("letterbox-read".into())
        .spawn(move || {
            sender.send(work());
            wake();
        });
    if spawned.is_err() {
        tracing::error!("could not start a thread");
    }
    promise
}

/// The messages of these accounts (in Trash, or not), or those matching
/// `query` when it has words, newest first. An account without an index
/// yet has none to show until its first sync.
/// What a list load found.
#[derive(Debug, Default)]
pub struct Listed {
    pub rows: Vec<ListedMail>,
    /// Accounts whose index turned out damaged: rebuild them
    /// (`Request::RebuildIndex`); their rows are missing meanwhile.
    pub damaged: Vec<MailHome>,
}

pub fn load_list(
    wake: &Wake,
    homes: Vec<MailHome>,
    trashed: bool,
    query: String,
) -> Promise<Result<Listed, UserMessage>> {
    promise(wake, move || {
        let mut all = Vec::new();
        let mut damaged = Vec::new();
        for home in &homes {
            let read = MailIndex::open_read_only(&home.paths.index_file()).and_then(|index| {
                let Some(index) = index else {
                    return Ok(Vec::new());
                };
                if trashed || query.trim().is_empty() {
                    index.list(trashed)
                } else {
                    index.search(&query)
                }
            });
            let found = match read {
                Ok(found) => found,
                Err(e) if e.is_damage() => {
                    damaged.push(home.clone());
                    continue;
                }
                Err(e) => return Err(e.user_message()),
            };
            let local = home.local();
            all.extend(found.into_iter().map(|message| ListedMail {
                account_id: home.account_id.clone(),
                path: local.path_of(&message.location),
                message,
            }));
        }
        if homes.len() > 1 {
            all.sort_by_key(|m| std::cmp::Reverse(m.message.date_unix));
        }
        Ok(Listed { rows: all, damaged })
    })
}

/// What the last session saw on the server of this account, read from its
/// record without taking the store's lock.
pub fn last_known(wake: &Wake, home: MailHome) -> Promise<Option<crate::store::db::LastKnown>> {
    promise(wake, move || {
        crate::store::db::Record::last_known(&home.paths.state_dir)
    })
}

/// A message read whole, for the reader.
pub struct OpenedMessage {
    pub path: PathBuf,
    pub view: MessageView,
    /// The pictures among its parts, decoded and scaled (by part number).
    pub pictures: Vec<(usize, Picture)>,
    /// The raw message as text, for View source (cut at
    /// [`MAX_SOURCE_BYTES`]).
    pub source: String,
}

pub fn open_message(
    wake: &Wake,
    path: PathBuf,
) -> Promise<Result<Arc<OpenedMessage>, UserMessage>> {
    promise(wake, move || {
        let raw = std::fs::read(&path).map_err(|e| io_message("open the message", &e))?;
        let view = MessageView::from_bytes(&raw);
        let pictures = view
            .images()
            .take(MAX_PICTURES)
            .filter_map(|a| {
                let bytes = attachment_bytes(&raw, a.part)?;
                decode(&bytes, PICTURE_FIT).ok().map(|p| (a.part, p))
            })
            .collect();
        let mut end = raw.len().min(MAX_SOURCE_BYTES);
        while end > 0 && end < raw.len() && (raw[end] & 0xc0) == 0x80 {
            end -= 1;
        }
        let mut source = String::from_utf8_lossy(&raw[..end]).replace('\r', "");
        if end < raw.len() {
            source.push_str("\n… (the rest is not shown here; Export as .eml keeps it whole)");
        }
        Ok(Arc::new(OpenedMessage {
            path,
            view,
            pictures,
            source,
        }))
    })
}

/// Why a save did not happen.
#[derive(Debug)]
pub enum SaveError {
    /// There is a file at the path, and replacing it was not agreed.
    Exists(PathBuf),
    Failed(UserMessage),
}

impl From<UserMessage> for SaveError {
    fn from(message: UserMessage) -> SaveError {
        SaveError::Failed(message)
    }
}

/// Where to save.
#[derive(Clone, Debug)]
pub enum SaveTo {
    /// This exact file; replace it only if the user agreed.
    File { path: PathBuf, replace: bool },
    /// Into this folder under the given safe name, or the next free one.
    Folder(PathBuf),
}

/// Saves parts of a message (by part number, with their safe names), or
/// the whole message when `parts` is empty. Returns the files written.
pub fn save(
    wake: &Wake,
    message: PathBuf,
    parts: Vec<(usize, String)>,
    to: SaveTo,
) -> Promise<Result<Vec<PathBuf>, SaveError>> {
    promise(wake, move || {
        let raw = std::fs::read(&message).map_err(|e| io_message("read the message", &e))?;
        let items: Vec<(Vec<u8>, String)> = if parts.is_empty() {
            vec![(raw.clone(), "message.eml".to_owned())]
        } else {
            parts
                .into_iter()
                .map(|(part, name)| {
                    attachment_bytes(&raw, part)
                        .map(|bytes| (bytes, name))
                        .ok_or_else(|| {
                            UserMessage::new(
                                "That attachment is no longer in the message.",
                                "Open the message again.",
                                format!("part {part}"),
                            )
                        })
                })
                .collect::<Result<_, _>>()?
        };
        let mut written = Vec::new();
        for (bytes, name) in items {
            match &to {
                SaveTo::File { path, replace } => {
                    save_as(path, &bytes, *replace).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            SaveError::Exists(path.clone())
                        } else {
                            io_message(&format!("save {}", path.display()), &e).into()
                        }
                    })?;
                    written.push(path.clone());
                }
                SaveTo::Folder(folder) => written.push(
                    save_new(folder, &name, &bytes)
                        .map_err(|e| io_message(&format!("save {name}"), &e))?,
                ),
            }
        }
        Ok(written)
    })
}

/// Saves a part (or, with `None`, the whole message as `.eml`) into the
/// private temporary folder and hands it to the desktop's program for it.
/// The caller has already warned about files that run code.
pub fn open_with_program(
    wake: &Wake,
    message: PathBuf,
    part: Option<(usize, String)>,
) -> Promise<Result<PathBuf, UserMessage>> {
    promise(wake, move || {
        let raw = std::fs::read(&message).map_err(|e| io_message("read the message", &e))?;
        let (bytes, name) = match part {
            Some((part, name)) => (
                attachment_bytes(&raw, part).ok_or_else(|| {
                    UserMessage::new(
                        "That attachment is no longer in the message.",
                        "Open the message again.",
                        format!("part {part}"),
                    )
                })?,
                name,
            ),
            None => (raw, "message.eml".to_owned()),
        };
        let folder =
            private_temp_folder().map_err(|e| io_message("prepare a private folder", &e))?;
        let path = save_new(&folder, &name, &bytes).map_err(|e| io_message("save the file", &e))?;
        opener::open(&path).map_err(|e| {
            UserMessage::new(
                "No program on this computer offered to open this file.",
                format!(
                    "It was saved as {}; open it from there, or use Save…",
                    path.display()
                ),
                e.to_string(),
            )
        })?;
        Ok(path)
    })
}

/// Hands a web or mail link to the desktop's browser or mail program.
pub fn open_link(wake: &Wake, url: String) -> Promise<Result<(), UserMessage>> {
    promise(wake, move || {
        let opened = if url.to_ascii_lowercase().starts_with("mailto:") {
            opener::open(&url)
        } else {
            opener::open_browser(&url)
        };
        opened.map_err(|e| {
            UserMessage::new(
                "No program on this computer offered to open the link.",
                "Copy the address and paste it where you need it.",
                e.to_string(),
            )
        })
    })
}

/// Whether opening this file name deserves a warning first.
pub fn needs_warning(file_name: &str) -> bool {
    runs_code_when_opened(file_name)
}

/// Where an exported message would go by default.
pub fn suggested_eml_name(view: &MessageView) -> String {
    let subject = if view.subject.trim().is_empty() {
        "message"
    } else {
        view.subject.trim()
    };
    crate::mail::names::safe_file_name(&format!("{subject}.eml"), "message/rfc822")
}

/// The folder a path is in, for saving "next to" a previous save.
pub fn folder_of(path: &Path) -> Option<PathBuf> {
    path.parent().map(Path::to_owned)
}
