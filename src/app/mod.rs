//! The window, with egui. The only module that knows egui exists. Each
//! frame: drain the worker's events (logic), draw (ui), then carry out the
//! commands the clicks produced. Nothing here touches a socket or the mail
//! store: every operation is a request to the worker.

mod accounts;
mod background;
mod commands;
mod config;
pub(crate) use commands::Command;
pub use config::{AppConfig, Desktop};
mod downloaded;
mod events;
mod fonts;
mod frame;
mod free_space;
mod icons;
mod library;
mod mail_commands;
mod mail_dialogs;
mod messages;
mod native;
pub use native::{APP_ID, run_native};
pub mod model;
mod preview;
mod reader;
mod rows;
mod settings_dialog;
mod sign_in;
mod status;
mod toolbar;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::accounts::stores::store_for_account;
use crate::engine::{Plan, Progress};
use crate::mail::Preview;
use crate::net::Direction;
use crate::pop3::Secret;
use crate::settings::secrets::Passwords;
use crate::settings::{AccountSettings, Paths, Settings};
use crate::worker::{AccountJob, Event, Failure, JobKind, Request, Worker};

use library::{Library, Place};
use model::{AccountState, RowStatus, SortKey, visible_rows};
use settings_dialog::SettingsDialog;

/// What survives a restart (besides window geometry and column widths,
/// which eframe and egui keep).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct Persisted {
    selected_account: Option<String>,
    place: Place,
    sort: SortKey,
    ascending: bool,
}

/// What the views draw from, read-only: the accounts, their state, and
/// the selected account.
pub(crate) struct View<'a> {
    /// The settings file is still being read.
    pub loading: bool,
    pub settings: &'a Settings,
    pub accounts: &'a HashMap<String, AccountState>,
    pub selected: Option<&'a AccountSettings>,
    /// What the central panel shows.
    pub place: Place,
    /// The account whose "Sign in again" waits for the browser.
    pub signing_in: Option<&'a str>,
}

impl View<'_> {
    pub fn selected_state(&self) -> Option<&AccountState> {
        self.accounts.get(&self.selected?.id)
    }

    pub fn busy(&self) -> bool {
        self.accounts.values().any(|a| a.busy.is_some())
    }
}

/// Where a quit stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Quitting {
    #[default]
    No,
    /// Once the Apply jobs started on the way out have finished.
    AfterApply,
    /// Close at the next frame.
    Close,
    /// The close is under way: let it through.
    Now,
}

/// One line of the connection log.
pub(crate) struct LogLine {
    pub account: String,
    pub direction: Direction,
    pub text: String,
}

const LOG_LINES: usize = 5000;

pub(crate) use model::Selection;

pub(crate) enum Confirm {
    Deletions {
        account_id: String,
        count: usize,
        not_downloaded: usize,
    },
    /// The window is closed for the first time with automatic checks on:
    /// keep checking in the background, or quit?
    Background,
    /// Quitting with deletions staged and not applied.
    Quit {
        /// Staged deletions by account.
        staged: Vec<(String, usize)>,
    },
}

pub(crate) struct PasswordPrompt {
    pub account_id: String,
    pub account_name: String,
    pub text: String,
    /// The field has been given the keyboard.
    pub focused: bool,
}

pub struct App {
    paths: Paths,
    passwords: Passwords,
    settings: Settings,
    /// False for the demo (its settings are never written), until the
    /// settings file has been read, and when it could not be read.
    writes_settings: bool,
    /// The worker is reading the settings file.
    loading_settings: bool,
    worker: Worker,
    persisted: Persisted,
    accounts: HashMap<String, AccountState>,
    selection: Selection,
    /// The filter text of each account's server list (each its own).
    filters: HashMap<String, String>,
    longer_previews: HashMap<String, (u32, Preview)>,
    log: VecDeque<LogLine>,
    log_open: bool,
    notices: Vec<String>,
    note: Option<String>,
    confirm: Option<Confirm>,
    password_prompt: Option<PasswordPrompt>,
    /// Accounts waiting to be asked for their password, after the one asked
    /// now: one box after the other, never two at once.
    password_queue: VecDeque<String>,
    settings_dialog: Option<SettingsDialog>,
    sign_ins: sign_in::SignIns,
    keyring: Option<Result<(), String>>,
    background: background::Background,
    /// How often the desktop asked for the window (a notification clicked,
    /// a second launch).
    shown_on_request: u32,
    /// The next close request quits (Ctrl+Q, Quit in the tray menu), even
    /// when closing the window would keep Letterbox in the background.
    quit_asked: bool,
    /// After the keep-running answer: hide the window (`Some(true)`) or
    /// close it (`Some(false)`) at the next frame.
    close_again: Option<bool>,
    /// The new-mail count the window title shows, after this.
    title_count: Option<usize>,
    title_base: &'static str,
    commands: Vec<Command>,
    /// The keys the last Delete marked on the server, for Ctrl+Z.
    last_staged: Option<(String, Vec<String>)>,
    help_open: bool,
    /// The "Free up space" window, when open.
    free_space: Option<free_space::FreeSpace>,
    /// The user chose to quit (without applying, or after the Apply ran):
    /// the next close request goes through.
    quitting: Quitting,
    library: Library,
    /// The last session's server lists, being read at start.
    last_known: Vec<(
        String,
        poll_promise::Promise<Option<crate::store::db::LastKnown>>,
    )>,
}

impl App {
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> App {
        fonts::install(&cc.egui_ctx);
        // Small print is one step under the body text, never tiny (egui's
        // own is 9 points against 12.5).
        cc.egui_ctx.all_styles_mut(|style| {
            let body = style
                .text_styles
                .get(&egui::TextStyle::Body)
                .map_or(12.5, |f| f.size);
            if let Some(small) = style.text_styles.get_mut(&egui::TextStyle::Small) {
                small.size = small.size.max(body - 1.5);
            }
        });
        let title_base = config.window_title();
        let sign_ins = sign_in::SignIns::new(config.desktop.browser.clone());
        let background = background::Background::start(config.desktop, &cc.egui_ctx);
        let ctx = cc.egui_ctx.clone();
        let worker = Worker::start(
            config.passwords.clone(),
            Arc::new(move || ctx.request_repaint()),
        );
        worker.send(Request::ProbeKeyring);
        // The settings file is read by the worker, like every other file:
        // a slow or hung disk never freezes the window.
        let loading_settings = config.fixed_settings.is_none();
        if loading_settings {
            worker.send(Request::LoadSettings(config.paths.settings_file.clone()));
        }
        let persisted: Persisted = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let mut app = App {
            paths: config.paths,
            passwords: config.passwords,
            accounts: HashMap::new(),
            settings: Settings::default(),
            writes_settings: false,
            loading_settings,
            worker,
            persisted,
            selection: Selection {
                ids: BTreeSet::new(),
                focus: None,
            },
            filters: HashMap::new(),
            longer_previews: HashMap::new(),
            log: VecDeque::new(),
            log_open: false,
            notices: Vec::new(),
            note: config.note,
            confirm: None,
            password_prompt: None,
            password_queue: VecDeque::new(),
            settings_dialog: None,
            sign_ins,
            keyring: None,
            background,
            shown_on_request: 0,
            quit_asked: false,
            close_again: None,
            title_count: None,
            title_base,
            commands: Vec::new(),
            library: Library {
                native_dialogs: config.native_dialogs,
                ..Library::default()
            },
            last_known: Vec::new(),
            quitting: Quitting::No,
            last_staged: None,
            help_open: false,
            free_space: None,
        };
        if let Some(settings) = config.fixed_settings {
            app.settings_arrived(settings, Vec::new());
        }
        app
    }

    /// The settings are known (read by the worker, or fixed for the demo).
    fn settings_arrived(&mut self, settings: Settings, notices: Vec<String>) {
        self.accounts = settings
            .accounts
            .iter()
            .map(|a| (a.id.clone(), AccountState::default()))
            .collect();
        self.settings = settings;
        if !notices.is_empty() {
            self.notices
                .push("Some settings were not understood and their defaults are used:".into());
            self.notices.extend(notices);
        }
        let selected_exists = self
            .persisted
            .selected_account
            .as_ref()
            .is_some_and(|id| self.settings.account(id).is_some());
        if !selected_exists {
            self.persisted.selected_account = self.settings.accounts.first().map(|a| a.id.clone());
        }
        if self.settings.general.keep_running == Some(true) {
            self.background.start_tray();
        }
        // What the last session saw on the server shows at once.
        let ids = self.settings.account_ids();
        for id in &ids {
            if let Some(home) = self.mail_home(id) {
                let promise = crate::worker::reading::last_known(self.worker.wake(), home);
                self.last_known.push((id.clone(), promise));
            }
        }
        // With automatic checks on, that list is refreshed right away.
        if self.settings.general.check_interval_mins.is_some() {
            self.commands.push(Command::CheckAll);
        }
        // What is already downloaded shows at once; the syncs catch up.
        self.refresh_list(false);
        self.sync_all_mail();
    }

    fn selected_account(&self) -> Option<&AccountSettings> {
        self.persisted
            .selected_account
            .as_ref()
            .and_then(|id| self.settings.account(id))
    }

    fn job(&self, account: &AccountSettings) -> AccountJob {
        AccountJob {
            settings: account.clone(),
            store: store_for_account(&self.paths, account, &self.settings.general),
            preview_lines: account.effective_preview_lines(&self.settings.general),
            retr_preview_max_bytes: u64::from(self.settings.general.preview_download_limit_kb)
                * 1000,
        }
    }

    fn state_mut(&mut self, account_id: &str) -> &mut AccountState {
        self.accounts.entry(account_id.to_owned()).or_default()
    }

    fn busy(&self) -> bool {
        self.accounts.values().any(|a| a.busy.is_some())
    }

    /// The selected rows of the selected account that can be acted on,
    /// with their status.
    fn selected_keys(&self) -> Vec<(String, RowStatus)> {
        let Some(account) = self.selected_account() else {
            return Vec::new();
        };
        let Some(state) = self.accounts.get(&account.id) else {
            return Vec::new();
        };
        state
            .rows
            .iter()
            .filter_map(|row| {
                let key = row.key.as_ref()?;
                self.selection
                    .ids
                    .contains(key)
                    .then(|| (key.clone(), row.status))
            })
            .collect()
    }
}

/// `Unix seconds` → a local date for a narrow column: "12:00" today,
/// "24 Nov" this year, else "2025-11-24".
pub(crate) fn short_date(unix: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(unix) else {
        return String::new();
    };
    let zoned = ts.to_zoned(jiff::tz::TimeZone::system());
    let today = jiff::Zoned::now().date();
    let format = if zoned.date() == today {
        "%H:%M"
    } else if zoned.year() == today.year() {
        "%-d %b"
    } else {
        "%Y-%m-%d"
    };
    zoned.strftime(format).to_string()
}

/// `Unix seconds` → local "2026-11-24 12:00" (or "12:00" for today).
pub(crate) fn local_time(unix: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_second(unix) else {
        return String::new();
    };
    let zoned = ts.to_zoned(jiff::tz::TimeZone::system());
    let today = jiff::Zoned::now().date();
    if zoned.date() == today {
        zoned.strftime("%H:%M").to_string()
    } else {
        zoned.strftime("%Y-%m-%d %H:%M").to_string()
    }
}
