//! What the reader's views ask for (`MailCommand`) and how the app carries
//! it out: places, search, opening, saving, moving to Trash and back.

use std::path::PathBuf;
use std::time::Instant;

use poll_promise::Promise;

use crate::explain::UserMessage;
use crate::mail::Link;
use crate::worker::reading::{self, SaveTo};
use crate::worker::{LocalChange, Request};

use super::library::{MailDialog, Opened, Place, SaveWhat, Task, Undo};
use super::{App, Command};

impl App {
    /// Starts saving `what` at `path` (a file, or a folder for Save all).
    pub(super) fn save_to(&mut self, what: SaveWhat, path: PathBuf, replace: bool) {
        let to = if what.folder {
            SaveTo::Folder(path)
        } else {
            SaveTo::File { path, replace }
        };
        let promise = reading::save(
            self.worker.wake(),
            what.message.clone(),
            what.parts.clone(),
            to,
        );
        self.library.tasks.push(Task::Save {
            promise,
            what: Some(what),
        });
    }

    pub(super) fn typed_save_dialog(&mut self, what: SaveWhat) {
        // From the environment only: no disk is read on this thread.
        let folder = std::env::var_os("XDG_DOWNLOAD_DIR")
            .or_else(|| std::env::var_os("HOME"))
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from("/"));
        let text = if what.folder {
            folder.display().to_string()
        } else {
            folder.join(&what.suggested).display().to_string()
        };
        self.library.dialog = Some(MailDialog::SavePath {
            what,
            text,
            confirm_replace: false,
        });
    }

    /// Asks where to save: the system's dialog, or the typed one.
    pub(super) fn ask_where(&mut self, what: SaveWhat) {
        if !self.library.native_dialogs {
            self.typed_save_dialog(what);
            return;
        }
        let wake = self.worker.wake().clone();
        let (suggested, folder) = (what.suggested.clone(), what.folder);
        let promise = Promise::spawn_thread("letterbox-dialog", move || {
            let started = Instant::now();
            let dialog = rfd::FileDialog::new();
            let picked = if folder {
                dialog.set_title("Save all attachments in…").pick_folder()
            } else {
                dialog
                    .set_title("Save as")
                    .set_file_name(&suggested)
                    .save_file()
            };
            wake();
            (picked, started.elapsed())
        });
        self.library.tasks.push(Task::Pick { promise, what });
    }

    /// Where a message opened earlier is now: reading it, or another
    /// program, may have moved it (`new/` to `cur/`, into Trash).
    pub(super) fn current_path(&self, opened_at: &std::path::Path) -> PathBuf {
        let base = opened_at
            .file_name()
            .map(|n| crate::store::local::base_name(&n.to_string_lossy()).to_owned())
            .unwrap_or_default();
        self.library
            .rows
            .iter()
            .find(|r| r.message.base_name() == base)
            .map_or_else(|| opened_at.to_owned(), |r| r.path.clone())
    }

    pub(super) fn run_mail_command(&mut self, command: MailCommand) {
        let command = match command {
            MailCommand::Save {
                message,
                part,
                name,
            } => MailCommand::Save {
                message: self.current_path(&message),
                part,
                name,
            },
            MailCommand::SaveAll { message, parts } => MailCommand::SaveAll {
                message: self.current_path(&message),
                parts,
            },
            MailCommand::Export { message, name } => MailCommand::Export {
                message: self.current_path(&message),
                name,
            },
            MailCommand::Open {
                message,
                part,
                name,
                confirmed,
            } => MailCommand::Open {
                message: self.current_path(&message),
                part,
                name,
                confirmed,
            },
            MailCommand::OpenInMailProgram(message) => {
                MailCommand::OpenInMailProgram(self.current_path(&message))
            }
            other => other,
        };
        match command {
            MailCommand::Place(account_id, place) => {
                if let Some(id) = account_id {
                    self.persisted.selected_account = Some(id);
                }
                if self.persisted.place != place {
                    self.library.selection = super::Selection::default();
                    self.library.pane = None;
                }
                self.persisted.place = place;
                self.refresh_list(false);
                // Another program may have changed the folders meanwhile.
                let ids: Vec<String> = match place {
                    Place::Server => Vec::new(),
                    Place::AllDownloaded => self
                        .settings
                        .accounts
                        .iter()
                        .map(|a| a.id.clone())
                        .collect(),
                    _ => self.persisted.selected_account.iter().cloned().collect(),
                };
                for id in ids {
                    if let Some(home) = self.mail_home(&id) {
                        self.worker.send(Request::SyncIndex(home));
                    }
                }
            }
            MailCommand::Search => self.refresh_list(false),
            MailCommand::Show(id) => self.show_in_pane(&id),
            MailCommand::OpenWindow(id) => {
                if let Some(opened) = self.open(&id) {
                    self.library.windows.retain(|w| w.id != id);
                    self.library.windows.push(Opened {
                        open: true,
                        ..opened
                    });
                }
            }
            MailCommand::SetRead(read) => {
                let change = if read {
                    LocalChange::Read
                } else {
                    LocalChange::Unread
                };
                self.change_selected(change);
            }
            MailCommand::Trash => {
                if self.persisted.place == Place::Trash {
                    return; // already there: Empty trash removes for good
                }
                // A new Delete: Undo takes back this one.
                self.library.undo = None;
                self.change_selected(LocalChange::Trash);
            }
            MailCommand::Restore => self.change_selected(LocalChange::Restore),
            MailCommand::Undo => {
                let Some(undo) = self.library.undo.take() else {
                    return;
                };
                for (account_id, locations) in undo.moved {
                    if let Some(home) = self.mail_home(&account_id) {
                        self.worker.send(Request::ChangeMail(
                            home,
                            locations,
                            LocalChange::Restore,
                        ));
                    }
                }
                for (account_id, keys) in undo.staged {
                    let state = self.state_mut(&account_id);
                    for key in keys {
                        state.staged_deletions.remove(&key);
                    }
                }
                self.library.notice = None;
            }
            MailCommand::AskEmptyTrash(account_id) => {
                let count = self
                    .library
                    .counts
                    .get(&account_id)
                    .map_or(0, |c| c.trashed);
                self.library.dialog = Some(MailDialog::EmptyTrash { account_id, count });
            }
            MailCommand::EmptyTrash(account_id) => {
                if let Some(home) = self.mail_home(&account_id) {
                    self.worker.send(Request::EmptyTrash(home));
                }
            }
            MailCommand::AlsoOnServer { offers } => {
                let count: usize = offers.iter().map(|(_, keys)| keys.len()).sum();
                for (account_id, keys) in &offers {
                    self.state_mut(account_id)
                        .staged_deletions
                        .extend(keys.iter().cloned());
                }
                self.library
                    .undo
                    .get_or_insert_with(Undo::default)
                    .staged
                    .extend(offers);
                self.library.notice = Some(format!(
                    "{count} {} marked for deletion on the server; Apply in “On the server” removes {}.",
                    if count == 1 { "message" } else { "messages" },
                    if count == 1 { "it" } else { "them" }
                ));
            }
            MailCommand::Save {
                message,
                part,
                name,
            } => self.ask_where(SaveWhat {
                message,
                suggested: name.clone(),
                parts: vec![(part, name)],
                folder: false,
            }),
            MailCommand::SaveAll { message, parts } => self.ask_where(SaveWhat {
                message,
                parts,
                folder: true,
                suggested: String::new(),
            }),
            MailCommand::Export { message, name } => self.ask_where(SaveWhat {
                message,
                parts: Vec::new(),
                folder: false,
                suggested: name,
            }),
            MailCommand::SaveTyped {
                what,
                path,
                replace,
            } => {
                let Some(path) = expand_home(&path).filter(|p| p.is_absolute()) else {
                    self.library.problem = Some(UserMessage::new(
                        "Letterbox needs the whole path to save to.",
                        "Type it from the top, starting with / (or ~ for your home folder).",
                        path,
                    ));
                    return;
                };
                self.save_to(what, path, replace);
            }
            MailCommand::Open {
                message,
                part,
                name,
                confirmed,
            } => {
                if !confirmed && reading::needs_warning(&name) {
                    self.library.dialog = Some(MailDialog::Risky {
                        message,
                        part,
                        name,
                    });
                    return;
                }
                let promise =
                    reading::open_with_program(self.worker.wake(), message, Some((part, name)));
                self.library.tasks.push(Task::Open(promise));
            }
            MailCommand::OpenInMailProgram(message) => {
                let promise = reading::open_with_program(self.worker.wake(), message, None);
                self.library.tasks.push(Task::Open(promise));
            }
            MailCommand::AskLink(link) => self.library.dialog = Some(MailDialog::Link(link)),
            MailCommand::OpenLink(url) => {
                let promise = reading::open_link(self.worker.wake(), url);
                self.library.tasks.push(Task::Link(promise));
            }
            MailCommand::StopListing(account_id) => {
                if let Some(home) = self.mail_home(&account_id) {
                    self.worker.send(Request::Cancel(home.queue()));
                }
            }
            MailCommand::DismissNotice => {
                self.library.notice = None;
                self.library.problem = None;
            }
        }
    }
}

/// `~/x` → the home folder's `x`.
fn expand_home(text: &str) -> Option<PathBuf> {
    let text = text.trim();
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if text == "~" {
        return home();
    }
    if let Some(rest) = text.strip_prefix("~/") {
        return home().map(|h| h.join(rest));
    }
    Some(PathBuf::from(text))
}

/// What the reader's views ask for.
#[derive(Debug)]
pub(crate) enum MailCommand {
    /// Show a place (of this account, if given).
    Place(Option<String>, Place),
    /// The search text changed.
    Search,
    /// Show this message in the pane.
    Show(String),
    /// Open this message in a window of its own.
    OpenWindow(String),
    SetRead(bool),
    Trash,
    Restore,
    Undo,
    /// Ask before emptying an account's Trash.
    AskEmptyTrash(String),
    EmptyTrash(String),
    AlsoOnServer {
        offers: Vec<(String, Vec<String>)>,
    },
    Save {
        message: PathBuf,
        part: usize,
        name: String,
    },
    SaveAll {
        message: PathBuf,
        parts: Vec<(usize, String)>,
    },
    Export {
        message: PathBuf,
        name: String,
    },
    SaveTyped {
        what: SaveWhat,
        path: String,
        replace: bool,
    },
    Open {
        message: PathBuf,
        part: usize,
        name: String,
        confirmed: bool,
    },
    OpenInMailProgram(PathBuf),
    AskLink(Link),
    OpenLink(String),
    DismissNotice,
    /// Stop an account's index sync (it resumes at the next one).
    StopListing(String),
}

impl From<MailCommand> for Command {
    fn from(command: MailCommand) -> Command {
        Command::Mail(command)
    }
}
