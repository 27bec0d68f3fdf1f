//! The downloaded mail in the window: which place the user looks at (the
//! server's list, an account's Downloaded or Trash, or all downloaded
//! mail), the list shown there (loaded or searched with a promise, never
//! on the UI thread), the message open in the reader pane and in windows
//! of their own, the dialogs around them, and what the worker's mail
//! events change. Drawing is in `downloaded`, `reader` and `mail_dialogs`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poll_promise::Promise;
use serde::{Deserialize, Serialize};

use crate::explain::UserMessage;
use crate::mail::Link;
use crate::store::index::Counts;
use crate::store::local::Location;
use crate::worker::reading::{self, ListedMail, OpenedMessage, SaveError};
use crate::worker::{LocalChange, MailHome, Request};

use super::App;
pub(crate) use super::mail_commands::MailCommand;

/// What the central panel shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Place {
    /// The selected account's messages on the server (triage).
    #[default]
    Server,
    /// The selected account's downloaded mail.
    Downloaded,
    /// The selected account's Trash.
    Trash,
    /// Every account's downloaded mail together.
    AllDownloaded,
}

impl Place {
    pub fn is_local(self) -> bool {
        self != Place::Server
    }
}

/// A message in the local lists: its account and its base name.
pub(crate) fn mail_id(account_id: &str, base: &str) -> String {
    format!("{account_id}/{base}")
}

pub(crate) fn listed_id(listed: &ListedMail) -> String {
    mail_id(&listed.account_id, listed.message.base_name())
}

/// How the downloaded list is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum MailSort {
    From,
    Subject,
    #[default]
    Date,
    Size,
}

/// A message read in the pane or in a window of its own.
pub(crate) struct Opened {
    pub id: String,
    pub promise: Promise<Result<Arc<OpenedMessage>, UserMessage>>,
    pub pictures: Option<HashMap<usize, egui::TextureHandle>>,
    pub show_source: bool,
    pub all_headers: bool,
    /// Marked read once shown.
    pub marked_read: bool,
    /// For windows: still open.
    pub open: bool,
}

impl Opened {
    pub fn ready(&self) -> Option<&Arc<OpenedMessage>> {
        self.promise.ready().and_then(|r| r.as_ref().ok())
    }
}

/// What a pending save or open is, to say when it finishes.
pub(crate) enum Task {
    /// A save, with what it saves when that is to be asked again (the
    /// typed path names a file that exists).
    Save {
        promise: Promise<Result<Vec<PathBuf>, SaveError>>,
        what: Option<SaveWhat>,
    },
    Open(Promise<Result<PathBuf, UserMessage>>),
    Link(Promise<Result<(), UserMessage>>),
    /// The system's save dialog is open: where to save what.
    Pick {
        promise: Promise<(Option<PathBuf>, Duration)>,
        what: SaveWhat,
    },
}

/// What a save dialog saves.
#[derive(Clone, Debug)]
pub(crate) struct SaveWhat {
    pub message: PathBuf,
    /// `(part, safe name)`; empty: the whole message (Export as .eml).
    pub parts: Vec<(usize, String)>,
    /// All parts into a folder (Save all…).
    pub folder: bool,
    pub suggested: String,
}

/// The small dialogs of the reader.
pub(crate) enum MailDialog {
    /// A link was clicked: show where it really goes before opening it.
    Link(Link),
    /// Opening an attachment that runs code when opened.
    Risky {
        message: PathBuf,
        part: usize,
        name: String,
    },
    /// Where no system save dialog answers: type the path.
    SavePath {
        what: SaveWhat,
        text: String,
        /// The file exists and the user was asked whether to replace it.
        confirm_replace: bool,
    },
    /// Deleted messages are still on the server: remove them there too?
    /// (Server keys by account.)
    AlsoOnServer { offers: Vec<(String, Vec<String>)> },
    /// Empty trash removes files for good: ask first.
    EmptyTrash { account_id: String, count: usize },
}

/// What the last Delete did, for Undo: the messages it moved to Trash and
/// the server deletions it staged, by account.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    pub moved: Vec<(String, Vec<Location>)>,
    pub staged: Vec<(String, Vec<String>)>,
}

/// What a list shows: the place, the account (none for All) and the
/// search words.
pub(crate) type ListWanted = (Place, Option<String>, String);
type ListPromise = Promise<Result<reading::Listed, UserMessage>>;

/// Everything the window knows about downloaded mail.
#[derive(Default)]
pub(crate) struct Library {
    pub counts: HashMap<String, Counts>,
    /// `(done, total)` of a running index sync, per account.
    pub syncing: HashMap<String, (usize, usize)>,
    pub rows: Vec<ListedMail>,
    /// Each row's id (`listed_id`), worked out once per list.
    pub ids: Vec<String>,
    /// The rows in the order shown, for the sort it was made for.
    pub(crate) order_cache: Option<((MailSort, bool), Vec<usize>)>,
    /// What `rows` show: the place, the account (not for All) and the query.
    pub rows_for: Option<ListWanted>,
    pub loading: Option<(ListPromise, ListWanted)>,
    /// When the list started loading, for the log line of its first rows.
    pub loading_since: Option<Instant>,
    pub query: String,
    pub selection: super::Selection,
    pub sort: MailSort,
    pub ascending: bool,
    pub pane: Option<Opened>,
    pub windows: Vec<Opened>,
    pub dialog: Option<MailDialog>,
    pub tasks: Vec<Task>,
    /// The last thing done, in a sentence (Saved as …, moved to Trash).
    pub notice: Option<String>,
    /// What the last Delete did, for Undo.
    pub undo: Option<Undo>,
    pub problem: Option<UserMessage>,
    /// Use the system's file dialogs (off in tests: the typed-path dialog).
    pub native_dialogs: bool,
}

impl Library {
    pub fn unread(&self, account_id: &str) -> usize {
        self.counts.get(account_id).map_or(0, |c| c.unread)
    }

    pub fn row(&self, id: &str) -> Option<&ListedMail> {
        self.ids.iter().position(|i| i == id).map(|p| &self.rows[p])
    }

    /// Replaces the list (and what is worked out from it).
    pub fn set_rows(&mut self, rows: Vec<ListedMail>) {
        self.ids = rows.iter().map(listed_id).collect();
        self.rows = rows;
        self.order_cache = None;
    }

    /// The rows in the order shown; sorted again only when the list or
    /// the sort changed, not every frame.
    pub fn order(&mut self) -> Vec<usize> {
        let wanted = (self.sort, self.ascending);
        if let Some((made_for, order)) = &self.order_cache
            && *made_for == wanted
        {
            return order.clone();
        }
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        let rows = &self.rows;
        let key = |i: &usize| &rows[*i].message;
        match self.sort {
            MailSort::Date => order.sort_by_key(|i| key(i).date_unix),
            MailSort::Size => order.sort_by_key(|i| key(i).size_bytes),
            MailSort::From => order.sort_by_cached_key(|i| key(i).from.to_lowercase()),
            MailSort::Subject => order.sort_by_cached_key(|i| key(i).subject.to_lowercase()),
        }
        if !self.ascending {
            order.reverse();
        }
        self.order_cache = Some((wanted, order.clone()));
        order
    }
}

impl App {
    pub(super) fn mail_home(&self, account_id: &str) -> Option<MailHome> {
        let account = self.settings.account(account_id)?;
        let home = crate::accounts::stores::store_for_account(
            &self.paths,
            account,
            &self.settings.general,
        );
        Some(MailHome {
            account_id: account_id.to_owned(),
            paths: home.paths,
        })
    }

    /// Brings every account's index up to date (at start, after Settings).
    pub(super) fn sync_all_mail(&mut self) {
        let ids = self.settings.account_ids();
        for id in ids {
            if let Some(home) = self.mail_home(&id) {
                self.worker.send(Request::SyncIndex(home));
            }
        }
    }

    /// What the list should show now.
    pub(super) fn wanted_rows(&self) -> Option<ListWanted> {
        let place = self.persisted.place;
        let query = if place == Place::Trash {
            String::new()
        } else {
            self.library.query.trim().to_owned()
        };
        match place {
            Place::Server => None,
            Place::AllDownloaded => Some((place, None, query)),
            Place::Downloaded | Place::Trash => {
                Some((place, self.persisted.selected_account.clone(), query))
            }
        }
    }

    /// Loads the list when what it should show changed (or `force`).
    pub(super) fn refresh_list(&mut self, force: bool) {
        let Some(wanted) = self.wanted_rows() else {
            return;
        };
        let current = self
            .library
            .loading
            .as_ref()
            .map(|(_, w)| w)
            .or(self.library.rows_for.as_ref());
        if !force && current == Some(&wanted) {
            return;
        }
        if self.library.loading.is_some() && !force {
            // The newest wish is loaded when the running load ends.
            if self.library.loading.as_ref().map(|(_, w)| w) == Some(&wanted) {
                return;
            }
        }
        let homes: Vec<MailHome> = match &wanted.1 {
            Some(id) => self.mail_home(id).into_iter().collect(),
            None => {
                let ids = self.settings.account_ids();
                ids.iter().filter_map(|id| self.mail_home(id)).collect()
            }
        };
        let promise = reading::load_list(
            self.worker.wake(),
            homes,
            wanted.0 == Place::Trash,
            wanted.2.clone(),
        );
        self.library.loading_since.get_or_insert_with(Instant::now);
        self.library.loading = Some((promise, wanted));
    }

    /// Polls the promises of the reader: the list, the open messages, and
    /// saves and opens in flight. Called in the logic part of each frame.
    pub(super) fn poll_library(&mut self, ctx: &egui::Context) {
        if let Some((promise, _)) = &self.library.loading
            && promise.ready().is_some()
        {
            let Some((promise, wanted)) = self.library.loading.take() else {
                return;
            };
            match promise.block_and_take() {
                Ok(reading::Listed { rows, damaged }) => {
                    for home in damaged {
                        self.library.problem = Some(UserMessage::new(
                            "The list of downloaded mail was damaged; Letterbox is making it again.",
                            "Your messages are safe in their folder; they show again in a moment.",
                            String::new(),
                        ));
                        self.worker.send(Request::RebuildIndex(home));
                    }
                    if let Some(since) = self.library.loading_since.take() {
                        tracing::debug!(
                            rows = rows.len(),
                            ms = since.elapsed().as_millis() as u64,
                            "downloaded list shown"
                        );
                    }
                    self.library.set_rows(rows);
                    let ids: BTreeSet<&String> = self.library.ids.iter().collect();
                    self.library.selection.ids.retain(|id| ids.contains(id));
                    self.library.rows_for = Some(wanted);
                    self.library.problem = None;
                }
                Err(message) => self.library.problem = Some(message),
            }
            // The user may have typed on meanwhile.
            self.refresh_list(false);
        }
        self.poll_opened(ctx);
        self.poll_tasks();
    }

    fn poll_opened(&mut self, ctx: &egui::Context) {
        let mut mark_read = Vec::new();
        let library = &mut self.library;
        for opened in library.pane.iter_mut().chain(library.windows.iter_mut()) {
            let Some(message) = opened.ready().cloned() else {
                continue;
            };
            // One picture becomes a texture per frame (a big one is a few
            // milliseconds of copying): the window stays responsive.
            let textures = opened.pictures.get_or_insert_with(HashMap::new);
            if let Some((part, picture)) = message
                .pictures
                .iter()
                .find(|(part, _)| !textures.contains_key(part))
            {
                let image = egui::ColorImage::from_rgba_unmultiplied(
                    [picture.width as usize, picture.height as usize],
                    &picture.rgba,
                );
                let texture = ctx.load_texture(
                    format!("{}#{part}", opened.id),
                    image,
                    egui::TextureOptions::LINEAR,
                );
                textures.insert(*part, texture);
                if textures.len() < message.pictures.len() {
                    ctx.request_repaint();
                }
            }
            if !opened.marked_read {
                opened.marked_read = true;
                mark_read.push(opened.id.clone());
            }
        }
        library.windows.retain(|w| w.open);
        for id in mark_read {
            if let Some(row) = self.library.row(&id)
                && !row.message.location.seen()
                && !row.message.location.trashed
            {
                let account_id = row.account_id.clone();
                let location = row.message.location.clone();
                if let Some(home) = self.mail_home(&account_id) {
                    self.worker
                        .send(Request::ChangeMail(home, vec![location], LocalChange::Read));
                }
            }
        }
    }

    fn poll_tasks(&mut self) {
        let tasks = std::mem::take(&mut self.library.tasks);
        for task in tasks {
            match task {
                Task::Save { promise, what } => match promise.try_take() {
                    Ok(Ok(paths)) => {
                        self.library.notice = Some(match paths.as_slice() {
                            [one] => format!("Saved as {}", one.display()),
                            many => format!(
                                "Saved {} files in {}",
                                many.len(),
                                many.first()
                                    .and_then(|p| p.parent())
                                    .map(|p| p.display().to_string())
                                    .unwrap_or_default()
                            ),
                        });
                    }
                    // The typed path names a file that is there: ask.
                    Ok(Err(SaveError::Exists(path))) => {
                        if let Some(what) = what {
                            self.library.dialog = Some(MailDialog::SavePath {
                                what,
                                text: path.display().to_string(),
                                confirm_replace: true,
                            });
                        }
                    }
                    Ok(Err(SaveError::Failed(message))) => self.library.problem = Some(message),
                    Err(promise) => self.library.tasks.push(Task::Save { promise, what }),
                },
                Task::Open(promise) => match promise.try_take() {
                    Ok(Ok(path)) => {
                        self.library.notice = Some(format!("Opened {}", path.display()));
                    }
                    Ok(Err(message)) => self.library.problem = Some(message),
                    Err(promise) => self.library.tasks.push(Task::Open(promise)),
                },
                Task::Link(promise) => match promise.try_take() {
                    Ok(Ok(())) => {}
                    Ok(Err(message)) => self.library.problem = Some(message),
                    Err(promise) => self.library.tasks.push(Task::Link(promise)),
                },
                Task::Pick { promise, what } => match promise.try_take() {
                    Ok((Some(path), _)) => self.save_to(what, path, true),
                    // No answer at all, at once: no dialog service; a
                    // person cannot cancel that fast.
                    Ok((None, took)) if took < Duration::from_millis(400) => {
                        self.typed_save_dialog(what);
                    }
                    Ok((None, _)) => {}
                    Err(promise) => self.library.tasks.push(Task::Pick { promise, what }),
                },
            }
        }
    }

    /// Reads a message for the pane (or reuses what is already read).
    pub(super) fn show_in_pane(&mut self, id: &str) {
        if self.library.pane.as_ref().is_some_and(|p| p.id == id) {
            return;
        }
        self.library.pane = self.open(id);
    }

    pub(super) fn open(&self, id: &str) -> Option<Opened> {
        let row = self.library.row(id)?;
        Some(Opened {
            id: id.to_owned(),
            promise: reading::open_message(self.worker.wake(), row.path.clone()),
            pictures: None,
            show_source: false,
            all_headers: false,
            marked_read: row.message.location.seen() || row.message.location.trashed,
            open: true,
        })
    }

    /// The selected rows by account: the rows a change applies to.
    pub(super) fn selected_by_account(&self) -> HashMap<String, Vec<Location>> {
        let mut by_account: HashMap<String, Vec<Location>> = HashMap::new();
        for (row, id) in self.library.rows.iter().zip(&self.library.ids) {
            if self.library.selection.ids.contains(id) {
                by_account
                    .entry(row.account_id.clone())
                    .or_default()
                    .push(row.message.location.clone());
            }
        }
        by_account
    }

    pub(super) fn change_selected(&mut self, change: LocalChange) {
        for (account_id, locations) in self.selected_by_account() {
            if let Some(home) = self.mail_home(&account_id) {
                self.worker
                    .send(Request::ChangeMail(home, locations, change));
            }
        }
        if matches!(change, LocalChange::Trash | LocalChange::Restore) {
            self.library.pane = None;
            self.library.selection = super::Selection::default();
        }
    }

    /// A worker event about downloaded mail.
    pub(super) fn mail_event(&mut self, event: crate::worker::Event) {
        use crate::worker::Event;
        match event {
            Event::IndexProgress {
                account_id,
                done,
                total,
            } => {
                self.library.syncing.insert(account_id, (done, total));
            }
            Event::MailSynced { account_id, result } => {
                self.library.syncing.remove(&account_id);
                match result {
                    Ok(synced) => {
                        self.library
                            .counts
                            .insert(account_id.clone(), synced.counts);
                    }
                    Err(message) => self.library.problem = Some(message),
                }
                let shown = self
                    .library
                    .rows_for
                    .as_ref()
                    .is_some_and(|(_, account, _)| {
                        account.as_deref().is_none_or(|a| a == account_id)
                    });
                if shown || self.library.rows_for.is_none() {
                    self.refresh_list(true);
                }
            }
            Event::MailChanged {
                account_id,
                change,
                moved,
                still_on_server,
                problem,
            } => {
                if let Some(problem) = problem {
                    self.library.problem = Some(problem);
                }
                // Follow the moves at once; the sync that follows confirms.
                let local = self.mail_home(&account_id).map(|h| h.local());
                for (before, after) in &moved {
                    for row in self
                        .library
                        .rows
                        .iter_mut()
                        .filter(|r| r.account_id == account_id)
                    {
                        if &row.message.location == before {
                            row.message.location = after.clone();
                            if let Some(local) = &local {
                                row.path = local.path_of(after);
                            }
                        }
                    }
                }
                if change == LocalChange::Trash && !moved.is_empty() {
                    let count = moved.len();
                    self.library.notice = Some(format!(
                        "{count} {} moved to Trash.",
                        if count == 1 { "message" } else { "messages" }
                    ));
                    self.library
                        .undo
                        .get_or_insert_with(Undo::default)
                        .moved
                        .push((
                            account_id.clone(),
                            moved.into_iter().map(|(_, a)| a).collect(),
                        ));
                    let staged = self
                        .accounts
                        .get(&account_id)
                        .map(|s| s.staged_deletions.clone())
                        .unwrap_or_default();
                    let keys: Vec<String> = still_on_server
                        .into_iter()
                        .filter(|k| !staged.contains(k))
                        .collect();
                    if !keys.is_empty() {
                        // Delete in All downloaded mail answers once per
                        // account: one question for all of them.
                        match &mut self.library.dialog {
                            Some(MailDialog::AlsoOnServer { offers }) => {
                                offers.push((account_id, keys));
                            }
                            _ => {
                                self.library.dialog = Some(MailDialog::AlsoOnServer {
                                    offers: vec![(account_id, keys)],
                                });
                            }
                        }
                    }
                }
            }
            Event::TrashEmptied { result, .. } => match result {
                Ok(count) => {
                    self.library.notice = Some(format!(
                        "{count} {} removed for good.",
                        if count == 1 { "message" } else { "messages" }
                    ));
                    self.library.undo = None;
                }
                Err(message) => self.library.problem = Some(message),
            },
            _ => {}
        }
    }
}
