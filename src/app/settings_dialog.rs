//! The Settings window: accounts (add, edit, remove with confirmation,
//! reorder, test the connection, trust a certificate) and general options.
//! It edits a draft; nothing changes until Save.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use crate::engine::ConnectionReport;
use crate::pop3::{AuthMethod, Secret, Security};
use crate::settings::presets;
use crate::settings::{AccountSettings, PasswordStorage, Settings, new_account_id};
use crate::worker::Failure;

use super::Command;

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
    folder_pick: Option<Receiver<Option<PathBuf>>>,
}

impl SettingsDialog {
    pub fn new(settings: &Settings, selected_account: Option<&str>) -> SettingsDialog {
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
    pub fn ui(
        &mut self,
        ctx: &egui::Context,
        keyring: Option<&Result<(), String>>,
        commands: &mut Vec<Command>,
    ) -> bool {
        self.no_keyring = matches!(keyring, Some(Err(_)));
        let mut open = true;
        let mut close = false;
        if let Some(rx) = &self.folder_pick
            && let Ok(picked) = rx.try_recv()
        {
            if let Some(path) = picked {
                self.mail_folder_text = path.display().to_string();
            }
            self.folder_pick = None;
        }
        egui::Window::new("Settings")
            .open(&mut open)
            .default_size([780.0, 560.0])
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Panel::left("settings-list")
                    .resizable(false)
                    .exact_size(190.0)
                    .show(ui, |ui| self.list_ui(ui));
                egui::Panel::bottom("settings-buttons").show(ui, |ui| {
                    ui.add_space(6.0);
                    if let Some(index) = self.selected.filter(|i| *i < self.draft.accounts.len()) {
                        self.test_ui(ui, index, commands);
                        ui.separator();
                    }
                    for problem in &self.problems {
                        ui.colored_label(ui.visuals().error_fg_color, problem);
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Save").clicked()
                            && let Some(command) = self.save()
                        {
                            commands.push(command);
                            close = true;
                        }
                        if ui
                            .button("Close")
                            .on_hover_text("Close without saving")
                            .clicked()
                        {
                            close = true;
                        }
                    });
                    ui.add_space(4.0);
                });
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| match self.selected {
                        Some(index) if index < self.draft.accounts.len() => {
                            self.account_ui(ui, index, keyring);
                        }
                        _ => self.general_ui(ui),
                    });
                });
            });
        self.remove_confirm_ui(ctx);
        open && !close
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
        if let Some(i) = self.selected.filter(|i| *i < self.draft.accounts.len()) {
            if ui.button("Remove account").clicked() {
                self.confirm_remove = Some(i);
            }
            ui.horizontal(|ui| {
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

    fn account_ui(
        &mut self,
        ui: &mut egui::Ui,
        index: usize,
        keyring: Option<&Result<(), String>>,
    ) {
        let account = &mut self.draft.accounts[index];
        ui.heading(account.display_name());
        ui.add_space(6.0);
        egui::Grid::new("account-form")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                text_row(ui, "Display name", &mut account.name, "e.g. Home");
                let before = account.email.clone();
                text_row(ui, "Email address", &mut account.email, "you@example.org");
                if account.email != before
                    && let Some(preset) = presets::for_address(&account.email)
                {
                    let previous = presets::for_address(&before);
                    let host_was_suggested = account.host.is_empty()
                        || previous.is_some_and(|p| p.host == account.host);
                    if host_was_suggested {
                        account.host = preset.host.to_owned();
                        account.port = preset.port;
                        account.security = preset.security;
                        self.preset_note = Some(format!(
                            "Server settings for {} were filled in; you can change them.",
                            preset.provider
                        ));
                    }
                }
                if account.username.is_empty() || account.username == before {
                    account.username = account.email.clone();
                }
                text_row(ui, "Server", &mut account.host, "pop.example.org");
                let label = ui.label("Port");
                ui.add(egui::DragValue::new(&mut account.port).range(1..=65535))
                    .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Security");
                let previous = account.security;
                egui::ComboBox::from_id_salt("security")
                    .selected_text(security_label(account.security))
                    .show_ui(ui, |ui| {
                        for choice in Security::ALL {
                            ui.selectable_value(&mut account.security, choice, security_label(choice));
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
                if account.security != previous {
                    if account.port == previous.default_port() {
                        account.port = account.security.default_port();
                    }
                    if account.security != Security::None {
                        account.allow_plaintext = false;
                    }
                }
                if account.security == Security::None {
                    ui.label("");
                    ui.vertical(|ui| {
                        ui.colored_label(
                            ui.visuals().error_fg_color,
                            "Without encryption, anyone on the network can read your mail and your password.",
                        );
                        ui.checkbox(
                            &mut account.allow_plaintext,
                            "I understand: connect without encryption",
                        );
                    });
                    ui.end_row();
                }
                text_row(ui, "User name", &mut account.username, "as your provider gave it");
                let label = ui.label("Password");
                let is_new = self.added.contains(&account.id);
                let typed = self.typed_passwords.entry(account.id.clone()).or_default();
                ui.add(
                    egui::TextEdit::singleline(typed)
                        .password(true)
                        .hint_text(if is_new {
                            "the password of this mailbox"
                        } else {
                            "unchanged if empty"
                        }),
                )
                .labelled_by(label.id);
                ui.end_row();
                let label = ui.label("Keep the password");
                egui::ComboBox::from_id_salt("password-storage")
                    .selected_text(storage_label(account.password_storage))
                    .show_ui(ui, |ui| {
                        for choice in [
                            PasswordStorage::Keyring,
                            PasswordStorage::AskEachSession,
                            PasswordStorage::File,
                        ] {
                            ui.selectable_value(&mut account.password_storage, choice, storage_label(choice));
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
                if let Some(Err(detail)) = keyring {
                    ui.label("");
                    let sentence = if account.password_storage == PasswordStorage::Keyring {
                        "This computer has no keyring, so the password cannot be kept there: choose “ask each session”, or, if you accept the risk, “in a file only I can read”."
                    } else {
                        "This computer has no keyring; the password is kept as chosen above."
                    };
                    // A grid cell grows with its text: a narrow column of
                    // its own keeps the sentence in the window.
                    ui.vertical(|ui| {
                        ui.set_max_width(360.0);
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(sentence).color(ui.visuals().warn_fg_color),
                            )
                            .wrap(),
                        )
                        .on_hover_text(detail.as_str());
                    });
                    ui.end_row();
                }
                let label = ui.label("Authentication");
                egui::ComboBox::from_id_salt("auth")
                    .selected_text(auth_label(account.auth))
                    .show_ui(ui, |ui| {
                        for choice in AuthMethod::ALL {
                            ui.selectable_value(&mut account.auth, choice, auth_label(choice));
                        }
                    })
                    .response
                    .labelled_by(label.id);
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut account.leave_on_server, "Leave messages on the server");
                ui.end_row();
                optional_number(ui, "Remove from server after (days)", &mut account.delete_after_days, 14, 1..=3650);
                optional_number(ui, "Mailbox quota (MB)", &mut account.quota_mb, 1000, 1..=1_000_000);
                optional_number(ui, "Preview lines", &mut account.preview_lines, 10, 0..=1000);
                if let Some(fp) = account.trusted_fingerprint.clone() {
                    ui.label("Trusted certificate");
                    ui.vertical(|ui| {
                        ui.add(egui::Label::new(egui::RichText::new(fp).monospace().small()).wrap());
                        if ui.button("Forget this certificate").clicked() {
                            account.trusted_fingerprint = None;
                        }
                    });
                    ui.end_row();
                }
            });
        if let Some(note) = &self.preset_note {
            ui.label(note);
        }
    }

    /// "Test connection" and its result, under the form so both stay in view.
    fn test_ui(&mut self, ui: &mut egui::Ui, index: usize, commands: &mut Vec<Command>) {
        let account = self.draft.accounts[index].clone();
        let testing = self.test.as_ref().is_some_and(|t| {
            t.account_id == account.id && t.result.as_ref().is_none_or(|p| p.ready().is_none())
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!testing, egui::Button::new("Test connection"))
                .on_hover_text("Connect with these settings and report what the server supports")
                .clicked()
            {
                let id = self.next_test_id;
                self.next_test_id += 1;
                let password = self
                    .typed_passwords
                    .get(&account.id)
                    .filter(|p| !p.is_empty())
                    .map(|p| Secret::new(p.clone()));
                self.test = Some(TestRun {
                    id,
                    account_id: account.id.clone(),
                    result: None,
                });
                commands.push(Command::TestConnection(id, account.clone(), password));
            }
            if testing {
                ui.add(egui::Spinner::new());
                ui.label("Testing…");
            }
        });
        let pin = self.test_result_ui(ui, &account.id);
        if let Some(fingerprint) = pin {
            self.draft.accounts[index].trusted_fingerprint = Some(fingerprint);
            self.test = None;
        }
    }

    /// Shows the test result; returns a fingerprint to trust if asked.
    fn test_result_ui(&self, ui: &mut egui::Ui, account_id: &str) -> Option<String> {
        let test = self.test.as_ref().filter(|t| t.account_id == account_id)?;
        let mut trust = None;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            match test.result.as_ref().and_then(|p| p.ready()) {
                None => {}
                Some(Ok(report)) => {
                    ui.label(egui::RichText::new("The connection works.").strong());
                    let yes_no = |b: bool| if b { "yes" } else { "no" };
                    ui.label(format!("Encryption: {}", report.encryption));
                    if let Some(fp) = &report.certificate_sha256 {
                        ui.add(
                            egui::Label::new(
                                egui::RichText::new(format!("Certificate SHA-256: {fp}"))
                                    .monospace()
                                    .small(),
                            )
                            .wrap(),
                        );
                    }
                    if let Some(method) = report.logged_in_with {
                        ui.label(format!("Signed in with: {method}"));
                    }
                    ui.label(format!(
                        "Sign-in methods offered: {}",
                        report.auth_methods.join(", ")
                    ));
                    ui.label(format!(
                        "Pipelining: {}   TOP (previews): {}   UIDL: {}",
                        yes_no(report.pipelining),
                        yes_no(report.top),
                        yes_no(report.uidl)
                    ));
                    if let Some(expire) = &report.expire {
                        ui.label(format!("The server removes mail: {expire}"));
                    }
                    if let Some(delay) = report.login_delay_secs {
                        ui.label(format!(
                            "Minimum time between checks: {} minutes",
                            delay.div_ceil(60)
                        ));
                    }
                    if let Some(count) = report.message_count {
                        ui.label(format!("Messages waiting: {count}"));
                    }
                }
                Some(Err(failure)) => {
                    ui.colored_label(ui.visuals().error_fg_color, &failure.message.headline);
                    ui.label(&failure.message.next_step);
                    if let Some(cert) = &failure.certificate {
                        ui.label(format!("Issued to: {}", cert.subject));
                        ui.label(format!("Issued by: {}", cert.issuer));
                        ui.label(format!("Valid: {} to {}", cert.not_before, cert.not_after));
                        ui.add(egui::Label::new(
                            egui::RichText::new(format!("SHA-256: {}", cert.sha256))
                                .monospace()
                                .small(),
                        ));
                        if ui.button("Trust this certificate").clicked() {
                            trust = Some(cert.sha256.to_string());
                        }
                    }
                    if !failure.message.detail.is_empty() {
                        ui.small(&failure.message.detail);
                    }
                }
            }
        });
        trust
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
                let label = ui.label("Downloaded mail folder");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut self.mail_folder_text)
                            .hint_text("inside Letterbox's data folder")
                            .desired_width(280.0),
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
                            let picked = rfd::FileDialog::new().pick_folder();
                            let _ = tx.send(picked);
                            ctx.request_repaint();
                        });
                        self.folder_pick = Some(rx);
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
            .filter_map(|a| {
                let typed = self.typed_passwords.get(&a.id)?;
                (!typed.is_empty()).then(|| (a.clone(), Secret::new(typed.clone())))
            })
            .collect();
        Some(Command::SaveSettings(self.draft.clone(), passwords))
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
            .desired_width(280.0),
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
        AuthMethod::Apop => "APOP",
        AuthMethod::UserPass => "USER/PASS",
    }
}
