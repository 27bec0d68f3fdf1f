//! The Settings window: accounts (add, edit, remove with confirmation,
//! reorder, test the connection, trust a certificate) and general options.
//! It edits a draft; nothing changes until Save.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use crate::engine::ConnectionReport;
use crate::pop3::{AuthMethod, Secret, Security};
use crate::settings::{AccountSettings, PasswordStorage, Settings, Theme, new_account_id};
use crate::worker::Failure;

use super::Command;

#[path = "settings_account.rs"]
mod account;

struct TestRun {
    id: u64,
    account_id: String,
    /// The test runs on a thread of its own; its result, when ready.
    result: Option<poll_promise::Promise<Result<ConnectionReport, Failure>>>,
}

pub(crate) struct SettingsDialog {
    draft: Settings,
    /// The account being edited; `None` shows the general options.
    selected: Option<usize>,
    typed_passwords: HashMap<String, String>,
    /// Accounts added in this dialog: their password is new, not "unchanged".
    added: std::collections::HashSet<String>,
    /// The keyring answered "not available" when probed.
    no_keyring: bool,
    confirm_remove: Option<usize>,
    preset_note: Option<String>,
    test: Option<TestRun>,
    next_test_id: u64,
    problems: Vec<String>,
    mail_folder_text: String,
    /// The system's folder chooser, and how long it took to answer.
    folder_pick: Option<Receiver<(Option<PathBuf>, std::time::Duration)>>,
    /// Why the folder has to be typed (no folder chooser answered).
    folder_note: Option<String>,
    /// The settings as they were when the dialog opened: what "unsaved
    /// changes" are measured against.
    original: Settings,
    /// Closing with unsaved changes was asked: show the question.
    confirm_discard: bool,
    /// "Start Letterbox when I log in", and what it was (`None`: not
    /// offered here).
    start_at_login: Option<bool>,
    start_at_login_before: Option<bool>,
    /// Why closing the window minimises it rather than hiding it (no tray
    /// icon on this desktop).
    tray_note: Option<String>,
}

impl SettingsDialog {
    pub fn new(
        settings: &Settings,
        selected_account: Option<&str>,
        start_at_login: Option<bool>,
        tray_note: Option<String>,
    ) -> SettingsDialog {
        let selected = selected_account
            .and_then(|id| settings.accounts.iter().position(|a| a.id == id))
            .or(if settings.accounts.is_empty() {
                None
            } else {
                Some(0)
            });
        SettingsDialog {
            draft: settings.clone(),
            selected,
            typed_passwords: HashMap::new(),
            added: std::collections::HashSet::new(),
            no_keyring: false,
            confirm_remove: None,
            preset_note: None,
            test: None,
            next_test_id: 1,
            problems: Vec::new(),
            mail_folder_text: settings
                .general
                .mail_folder
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            folder_pick: None,
            folder_note: None,
            original: settings.clone(),
            confirm_discard: false,
            start_at_login,
            start_at_login_before: start_at_login,
            tray_note,
        }
    }

    /// The test `id` was started; `promise` gives its result.
    pub fn test_started(
        &mut self,
        id: u64,
        promise: poll_promise::Promise<Result<ConnectionReport, Failure>>,
    ) {
        if let Some(test) = self.test.as_mut()
            && test.id == id
        {
            test.result = Some(promise);
        }
    }

    /// Draws the window, pushing what its buttons ask for like every other
    /// view; returns whether it stays open.
    /// Whether the keyring answered "not available" (new accounts then
    /// ask for their password each session).
    pub fn set_no_keyring(&mut self, no_keyring: bool) {
        self.no_keyring = no_keyring;
    }

    pub fn ui(
        &mut self,
        ctx: &egui::Context,
        keyring: Option<&Result<(), String>>,
        sign_ins: &super::sign_in::SignIns,
        commands: &mut Vec<Command>,
    ) -> bool {
        self.no_keyring = matches!(keyring, Some(Err(_)));
        let mut open = true;
        let mut close = false;
        let mut saved = false;
        if let Some(rx) = &self.folder_pick
            && let Ok((picked, took)) = rx.try_recv()
        {
            match picked {
                Some(path) => {
                    self.mail_folder_text = path.display().to_string();
                    self.folder_note = None;
                }
                // No answer at once: no folder chooser on this desktop.
                None if took < std::time::Duration::from_millis(400) => {
                    self.folder_note = Some(
                        "This desktop offers no folder chooser: type the folder in the field."
                            .into(),
                    );
                }
                None => {}
            }
            self.folder_pick = None;
        }
        // Never larger than the window it is in (800×600 at 150% is about
        // 530×400 points): the page scrolls instead.
        let fits = ctx.content_rect().size() - egui::vec2(16.0, 40.0);
        egui::Window::new("Settings")
            .open(&mut open)
            .default_size([780.0_f32.min(fits.x), 640.0_f32.min(fits.y)])
            .max_size(fits)
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Panel::left("settings-list")
                    .resizable(false)
                    .exact_size(if fits.x < 640.0 { 140.0 } else { 190.0 })
                    .show(ui, |ui| self.list_ui(ui));
                egui::Panel::bottom("settings-buttons").show(ui, |ui| {
                    ui.add_space(6.0);
                    for problem in &self.problems {
                        ui.colored_label(ui.visuals().error_fg_color, problem);
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Save").clicked()
                            && let Some(command) = self.save()
                        {
                            commands.push(command);
                            saved = true;
                        }
                        if ui
                            .button("Close")
                            .on_hover_text("Close without saving (Escape)")
                            .clicked()
                        {
                            close = true;
                        }
                    });
                    ui.add_space(4.0);
                });
                egui::CentralPanel::default().show(ui, |ui| {
                    // Fields narrow down with the window, so the page
                    // never needs to scroll sideways.
                    ui.spacing_mut().text_edit_width =
                        (ui.available_width() - 230.0).clamp(110.0, 280.0);
                    egui::ScrollArea::vertical()
                        .scroll_bar_visibility(
                            egui::scroll_area::ScrollBarVisibility::AlwaysVisible,
                        )
                        .show(ui, |ui| {
                            match self.selected {
                                Some(index) if index < self.draft.accounts.len() => {
                                    self.account_ui(ui, index, keyring, sign_ins, commands);
                                    ui.separator();
                                    // Under the form, in the same scrolling
                                    // page: a result appearing moves nothing
                                    // above it.
                                    self.test_ui(ui, index, sign_ins, commands);
                                }
                                _ => self.general_ui(ui),
                            }
                            super::rows::keep_focus_in_view(ui);
                        });
                });
            });
        if saved {
            return false;
        }
        self.remove_confirm_ui(ctx);
        let modal_open = self.confirm_remove.is_some() || self.confirm_discard;
        if !modal_open && ctx.input(|i| i.key_pressed(egui::Key::Escape)) {
            close = true;
        }
        if (!open || close) && !self.confirm_discard && self.has_changes() {
            // Not closed yet: the user is asked first.
            self.confirm_discard = true;
            return true;
        }
        if self.confirm_discard {
            return self.discard_ui(ctx, commands);
        }
        open && !close
    }

    /// A new account, shown for editing.
    pub fn add_account(&mut self) {
        let id = new_account_id(&self.draft.accounts);
        let mut account = AccountSettings::new(&id);
        if self.no_keyring {
            // Nowhere safe to keep it: ask for it each session.
            account.password_storage = PasswordStorage::AskEachSession;
        }
        self.added.insert(id);
        self.draft.accounts.push(account);
        self.selected = Some(self.draft.accounts.len() - 1);
        self.preset_note = None;
    }

    fn list_ui(&mut self, ui: &mut egui::Ui) {
        ui.add_space(6.0);
        ui.strong("Accounts");
        for (i, account) in self.draft.accounts.iter().enumerate() {
            if ui
                .selectable_label(self.selected == Some(i), account.display_name())
                .clicked()
            {
                self.selected = Some(i);
                self.preset_note = None;
            }
        }
        ui.add_space(6.0);
        if ui.button("Add account").clicked() {
            self.add_account();
        }
        if let Some(i) = self.selected.filter(|i| *i < self.draft.accounts.len()) {
            if ui.button("Remove account").clicked() {
                self.confirm_remove = Some(i);
            }
            ui.horizontal_wrapped(|ui| {
                if ui
                    .add_enabled(i > 0, egui::Button::new("Move up"))
                    .clicked()
                {
                    self.draft.accounts.swap(i, i - 1);
                    self.selected = Some(i - 1);
                }
                if ui
                    .add_enabled(
                        i + 1 < self.draft.accounts.len(),
                        egui::Button::new("Move down"),
                    )
                    .clicked()
                {
                    self.draft.accounts.swap(i, i + 1);
                    self.selected = Some(i + 1);
                }
            });
        }
        ui.separator();
        if ui
            .selectable_label(self.selected.is_none(), "General")
            .clicked()
        {
            self.selected = None;
        }
    }

    fn general_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("General");
        ui.add_space(6.0);
        let general = &mut self.draft.general;
        egui::Grid::new("general-form")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                optional_number(
                    ui,
                    "Check automatically every (minutes)",
                    &mut general.check_interval_mins,
                    15,
                    1..=1440,
                );
                let mut keep = general.keep_running == Some(true);
                ui.label("");
                if ui
                    .checkbox(&mut keep, "Keep checking when the window is closed")
                    .on_hover_text("Letterbox stays running without its window and tells you when mail arrives")
                    .changed()
                {
                    general.keep_running = Some(keep);
                }
                ui.end_row();
                if let Some(note) = self.tray_note.as_ref().filter(|_| keep) {
                    ui.label("");
                    ui.add(
                        egui::Label::new(format!(
                            "{note}, so a closed window is minimised instead of hidden."
                        ))
                        .wrap(),
                    );
                    ui.end_row();
                }
                if let Some(on) = self.start_at_login.as_mut() {
                    ui.label("");
                    ui.checkbox(on, "Start Letterbox when I log in");
                    ui.end_row();
                }
                let label = ui.label("Colours");
                egui::ComboBox::from_id_salt("theme")
                    .selected_text(theme_label(general.theme))
                    .show_ui(ui, |ui| {
                        for choice in [Theme::System, Theme::Light, Theme::Dark] {
                            ui.selectable_value(&mut general.theme, choice, theme_label(choice));
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Downloaded mail folder");
                ui.vertical(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut self.mail_folder_text)
                            .hint_text("inside Letterbox's data folder")
                            .desired_width(ui.spacing().text_edit_width),
                    )
                    .labelled_by(label.id);
                    if ui
                        .add_enabled(
                            self.folder_pick.is_none(),
                            egui::Button::new("Choose folder…"),
                        )
                        .clicked()
                    {
                        // The file dialog blocks its thread; never the UI's.
                        let (tx, rx) = std::sync::mpsc::channel();
                        let ctx = ui.ctx().clone();
                        std::thread::spawn(move || {
                            let started = std::time::Instant::now();
                            let picked = rfd::FileDialog::new().pick_folder();
                            let _ = tx.send((picked, started.elapsed()));
                            ctx.request_repaint();
                        });
                        self.folder_pick = Some(rx);
                    }
                    if let Some(note) = &self.folder_note {
                        ui.label(note.as_str());
                    }
                });
                ui.end_row();
                let label = ui.label("Preview lines");
                ui.add(egui::DragValue::new(&mut general.preview_lines).range(0..=1000))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Download to preview up to");
                ui.add(
                    egui::DragValue::new(&mut general.preview_download_limit_kb)
                        .range(0..=100_000)
                        .suffix(" KB"),
                )
                .labelled_by(label.id)
                .on_hover_text(
                    "Some servers cannot show a message's first lines without sending all of it. \
                     There, messages up to this size are downloaded to preview them (and kept, so \
                     Download does not fetch them again); larger ones show no preview. 0: never.",
                );
                ui.end_row();
            });
        ui.add_space(6.0);
        ui.label("Automatic checks respect each server's minimum time between logins.");
        ui.label(
            "Some servers cannot show the first lines of a message without sending all of it; \
             there, messages up to the size above are downloaded to preview them.",
        );
    }

    /// Edits that Close would lose.
    fn has_changes(&self) -> bool {
        let folder = self.mail_folder_text.trim();
        let folder_now = (!folder.is_empty()).then(|| PathBuf::from(folder));
        self.draft.accounts != self.original.accounts
            || self.draft.general.check_interval_mins != self.original.general.check_interval_mins
            || self.draft.general.preview_lines != self.original.general.preview_lines
            || self.draft.general.preview_download_limit_kb
                != self.original.general.preview_download_limit_kb
            || self.draft.general.theme != self.original.general.theme
            || self.start_at_login != self.start_at_login_before
            || self.draft.general.keep_running != self.original.general.keep_running
            || folder_now != self.original.general.mail_folder
            || self.typed_passwords.values().any(|p| !p.is_empty())
    }

    /// "Save your changes?" on Close; returns whether the dialog stays.
    fn discard_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) -> bool {
        let mut stays = true;
        let mut answered = false;
        let modal = egui::Modal::new(egui::Id::unique("settings-discard")).show(ctx, |ui| {
            ui.set_max_width(400.0);
            ui.heading("Save your changes?");
            ui.label("The settings were changed and not saved.");
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    answered = true;
                    if let Some(command) = self.save() {
                        commands.push(command);
                        stays = false;
                    }
                }
                if ui.button("Discard changes").clicked() {
                    answered = true;
                    stays = false;
                }
                if ui.button("Keep editing").clicked() {
                    answered = true;
                }
            });
        });
        if answered || modal.should_close() {
            self.confirm_discard = false;
        }
        stays
    }

    fn remove_confirm_ui(&mut self, ctx: &egui::Context) {
        let Some(index) = self.confirm_remove else {
            return;
        };
        let Some(account) = self.draft.accounts.get(index) else {
            self.confirm_remove = None;
            return;
        };
        let name = account.display_name();
        let mut close = false;
        let modal = egui::Modal::new(egui::Id::unique("confirm-remove-account")).show(ctx, |ui| {
            ui.set_max_width(400.0);
            ui.heading("Remove this account?");
            ui.label(format!(
                "Letterbox will forget the settings and password of “{name}” when you save. Mail already downloaded stays where it is, and nothing is deleted on the server."
            ));
            ui.horizontal(|ui| {
                if ui.button("Remove account").clicked() {
                    self.draft.accounts.remove(index);
                    self.selected = if self.draft.accounts.is_empty() {
                        None
                    } else {
                        Some(index.min(self.draft.accounts.len() - 1))
                    };
                    close = true;
                }
                if ui.button("Cancel").clicked() {
                    close = true;
                }
            });
        });
        if close || modal.should_close() {
            self.confirm_remove = None;
        }
    }

    /// Validates the draft; the command to save it, or `None` with problems shown.
    fn save(&mut self) -> Option<Command> {
        self.problems.clear();
        let text = self.mail_folder_text.trim();
        self.draft.general.mail_folder = (!text.is_empty()).then(|| PathBuf::from(text));
        for account in &self.draft.accounts {
            for problem in crate::accounts::problems(account) {
                self.problems
                    .push(format!("{}: {problem}", account.display_name()));
            }
        }
        if !self.problems.is_empty() {
            return None;
        }
        let passwords = self
            .draft
            .accounts
            .iter()
            .filter(|a| a.oauth.is_none())
            .filter_map(|a| {
                let typed = self.typed_passwords.get(&a.id)?;
                (!typed.is_empty()).then(|| (a.clone(), Secret::new(typed.clone())))
            })
            .collect();
        let start_at_login = self
            .start_at_login
            .filter(|_| self.start_at_login != self.start_at_login_before);
        self.start_at_login_before = self.start_at_login;
        Some(Command::SaveSettings(
            self.draft.clone(),
            passwords,
            start_at_login,
        ))
    }
}

fn storage_label(storage: PasswordStorage) -> &'static str {
    match storage {
        PasswordStorage::Keyring => "in the system keyring",
        PasswordStorage::AskEachSession => "ask each session",
        PasswordStorage::File => "in a file only I can read",
    }
}

fn text_row(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(value)
            .hint_text(hint)
            .desired_width(ui.spacing().text_edit_width),
    )
    .labelled_by(label.id);
    ui.end_row();
}

/// A checkbox that turns an optional number on, and the number.
fn optional_number(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut Option<u32>,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) {
    let mut on = value.is_some();
    ui.checkbox(&mut on, label);
    let mut number = value.unwrap_or(default);
    ui.add_enabled(on, egui::DragValue::new(&mut number).range(range));
    *value = on.then_some(number);
    ui.end_row();
}

fn security_label(security: Security) -> &'static str {
    match security {
        Security::Tls => "TLS",
        Security::StartTls => "STARTTLS",
        Security::None => "None (unencrypted)",
    }
}

fn auth_label(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::Auto => "Automatic (strongest available)",
        AuthMethod::CramMd5 => "CRAM-MD5",
        AuthMethod::Plain => "PLAIN",
        AuthMethod::Login => "LOGIN",
        AuthMethod::XOAuth2 => "XOAUTH2 (access token)",
        AuthMethod::OAuthBearer => "OAUTHBEARER (access token)",
        AuthMethod::Apop => "APOP",
        AuthMethod::UserPass => "USER/PASS",
    }
}

fn theme_label(theme: Theme) -> &'static str {
    match theme {
        Theme::System => "as the desktop is set",
        Theme::Light => "light",
        Theme::Dark => "dark",
    }
}
