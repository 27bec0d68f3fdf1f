//! The window, with egui. The only module that knows egui exists. Each
//! frame: drain the worker's events (logic), draw (ui), then carry out the
//! commands the clicks produced. Nothing here touches a socket or the mail
//! store: every operation is a request to the worker.

mod accounts;
mod commands;
pub(crate) use commands::Command;
mod downloaded;
mod events;
mod fonts;
mod icons;
mod library;
mod mail_dialogs;
mod messages;
mod native;
pub use native::{APP_ID, run_native};
pub mod model;
mod preview;
mod reader;
mod settings_dialog;
mod status;
mod toolbar;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::accounts::stores::store_for_account;
use crate::engine::{Plan, Progress};
use crate::mail::Preview;
use crate::net::Direction;
use crate::pop3::Secret;
use crate::settings::secrets::{Passwords, SecretStore};
use crate::settings::{AccountSettings, Paths, Settings};
use crate::worker::{AccountJob, Event, Failure, JobKind, Request, Worker};

use library::{Library, Place};
use model::{AccountState, RowStatus, SortKey, visible_rows};
use settings_dialog::SettingsDialog;

/// How the app is set up: where its files are and where passwords live.
/// Tests and the demo inject their own.
pub struct AppConfig {
    pub paths: Paths,
    pub passwords: Passwords,
    /// Use these settings and never write the settings file (the demo).
    pub fixed_settings: Option<Settings>,
    /// Shown in the status bar, e.g. what the demo is.
    pub note: Option<String>,
    /// Ask where to save with the system's file dialog (through the
    /// desktop portal). Off: the app's own typed-path dialog, as where no
    /// portal answers (and in tests).
    pub native_dialogs: bool,
}

impl AppConfig {
    /// The app on the demo mailbox served on loopback at `port`: the demo
    /// account (never written to a settings file), its password kept for
    /// the session in `keyring`, files under `paths`. The one recipe for
    /// `--demo`, the UI tests and the frame benchmark.
    pub fn demo(paths: Paths, keyring: Arc<dyn SecretStore>, port: u16) -> AppConfig {
        let settings = crate::demo::demo_settings(port);
        let passwords = Passwords::new(keyring, paths.password_file.clone());
        for account in &settings.accounts {
            let password = Secret::new(crate::demo::PASSWORD.to_owned());
            if let Err(e) = passwords.set_for_session(&account.id, &password) {
                tracing::warn!("the demo password could not be kept: {e}");
            }
        }
        AppConfig {
            paths,
            passwords,
            fixed_settings: Some(settings),
            note: None,
            native_dialogs: true,
        }
    }
}

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
}

impl View<'_> {
    pub fn selected_state(&self) -> Option<&AccountState> {
        self.accounts.get(&self.selected?.id)
    }

    pub fn busy(&self) -> bool {
        self.accounts.values().any(|a| a.busy.is_some())
    }
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
    keyring: Option<Result<(), String>>,
    next_auto_check: Option<Instant>,
    commands: Vec<Command>,
    library: Library,
    /// The last session's server lists, being read at start.
    last_known: Vec<(
        String,
        poll_promise::Promise<Option<crate::store::db::LastKnown>>,
    )>,
}

impl App {
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> App {
        fonts::load_fallbacks(&cc.egui_ctx);
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
            keyring: None,
            next_auto_check: None,
            commands: Vec::new(),
            library: Library {
                native_dialogs: config.native_dialogs,
                ..Library::default()
            },
            last_known: Vec::new(),
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
        self.schedule_auto_check();
        // What the last session saw on the server shows at once.
        let ids: Vec<String> = self
            .settings
            .accounts
            .iter()
            .map(|a| a.id.clone())
            .collect();
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

    fn schedule_auto_check(&mut self) {
        self.next_auto_check = self.settings.general.check_interval_mins.map(|mins| {
            // Never more often than any account's server allows (LOGIN-DELAY).
            let delay = self
                .accounts
                .values()
                .filter_map(|a| a.login_delay_secs)
                .max()
                .unwrap_or(0);
            let secs = (u64::from(mins) * 60).max(u64::from(delay));
            Instant::now() + Duration::from_secs(secs)
        });
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

impl eframe::App for App {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Some(event) = self.worker.try_recv() {
            self.handle_event(event);
        }
        self.poll_library(ctx);
        let loaded: Vec<_> = self
            .last_known
            .extract_if(.., |(_, p)| p.ready().is_some())
            .collect();
        for (id, promise) in loaded {
            if let Some(last) = promise.block_and_take() {
                self.state_mut(&id).last_known(last);
            }
        }
        if let Some(due) = self.next_auto_check {
            let now = Instant::now();
            if now >= due {
                if !self.busy() {
                    self.commands.push(Command::CheckAll);
                }
                self.schedule_auto_check();
            } else {
                // One wake-up when it is due; no repaint loop while idle.
                ctx.request_repaint_after(due - now);
            }
        }
    }

    /// Draws every view. A view reads the `View` and changes only its own
    /// state (the filter, the selection, a dialog's fields); everything
    /// else it asks for by pushing a `Command`, carried out after drawing.
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        let mut commands = std::mem::take(&mut self.commands);
        let selected_keys = self.selected_keys().len();
        let view = View {
            loading: self.loading_settings,
            settings: &self.settings,
            accounts: &self.accounts,
            selected: self
                .persisted
                .selected_account
                .as_deref()
                .and_then(|id| self.settings.account(id)),
            place: self.persisted.place,
        };
        toolbar::toolbar_ui(ui, &view, selected_keys, &self.library, &mut commands);
        status::status_bar_ui(ui, &view, self.note.as_deref(), &mut self.log_open);
        accounts::accounts_ui(ui, &view, &self.library, &mut commands);
        egui::CentralPanel::default().show(ui, |ui| {
            status::banners_ui(ui, &view, &self.notices, &mut commands);
            if view.place.is_local() {
                status::mail_notice_ui(ui, &self.library, &mut commands);
                let mut pane = self.library.pane.take();
                if let Some(opened) = pane.as_mut() {
                    reader::reader_pane_ui(ui, opened, &mut commands);
                }
                self.library.pane = pane;
                downloaded::downloaded_ui(ui, &view, view.place, &mut self.library, &mut commands);
                return;
            }
            preview::preview_panel_ui(
                ui,
                &view,
                self.selection.focus.as_deref(),
                &self.longer_previews,
                &mut commands,
            );
            let table = messages::TableState {
                filter: self
                    .filters
                    .entry(self.persisted.selected_account.clone().unwrap_or_default())
                    .or_default(),
                selection: &mut self.selection,
                sort: &mut self.persisted.sort,
                ascending: &mut self.persisted.ascending,
            };
            messages::messages_ui(ui, &view, table, &mut commands);
        });
        for opened in &mut self.library.windows {
            reader::reader_window_ui(&ctx, opened, &mut commands);
        }
        mail_dialogs::mail_dialog_ui(&ctx, &mut self.library.dialog, &mut commands);
        status::log_window_ui(&ctx, &self.log, &mut self.log_open, &mut commands);
        status::confirm_ui(&ctx, &mut self.confirm, &mut commands);
        status::password_prompt_ui(&ctx, &mut self.password_prompt, &mut commands);
        if let Some(dialog) = self.settings_dialog.as_mut()
            && !dialog.ui(&ctx, self.keyring.as_ref(), &mut commands)
        {
            self.settings_dialog = None;
        }
        for command in commands {
            self.run_command(command);
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted);
    }
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
