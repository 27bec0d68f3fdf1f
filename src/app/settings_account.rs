//! The Settings window's page for one account: server, sign-in, password,
//! what to do with mail, and the connection test with its result.

use super::{
    Command, SettingsDialog, TestRun, auth_label, optional_number, security_label, storage_label,
    text_row,
};
use crate::pop3::{AuthMethod, Secret, Security};
use crate::settings::{AccountSettings, OAuthSettings, PasswordStorage, presets};

impl SettingsDialog {
    pub(super) fn account_ui(
        &mut self,
        ui: &mut egui::Ui,
        index: usize,
        keyring: Option<&Result<(), String>>,
        sign_ins: &super::super::sign_in::SignIns,
        commands: &mut Vec<Command>,
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
                        // Another provider: its way of signing in (the
                        // same one: the user's choice stays).
                        if previous.map(|p| p.host) != Some(preset.host) {
                            account.oauth = None;
                            account.auth = AuthMethod::Auto;
                            if let Some(provider) = preset.oauth
                                && prefers_browser(preset)
                            {
                                use_browser_sign_in(account, provider);
                            }
                        }
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
                let preset = presets::for_host(&account.host)
                    .or_else(|| presets::for_address(&account.email));
                // Where the provider has a sign-in page: the page, or a
                // password (an app password, for most).
                let provider = account
                    .oauth
                    .as_ref()
                    .and_then(|o| o.provider())
                    .or(preset.and_then(|p| p.oauth));
                if let Some(provider) = provider {
                    let label = ui.label("Sign in");
                    let mut browser = account.oauth.is_some();
                    let browser_text = format!("In the browser, with {}", provider.name);
                    egui::ComboBox::from_id_salt("sign-in-way")
                        .selected_text(if browser { browser_text.as_str() } else { "With a password" })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut browser, true, browser_text.as_str());
                            ui.selectable_value(&mut browser, false, "With a password");
                        })
                        .response
                        .labelled_by(label.id);
                    ui.end_row();
                    if browser != account.oauth.is_some() {
                        if browser {
                            use_browser_sign_in(account, provider);
                        } else {
                            account.oauth = None;
                            account.auth = AuthMethod::Auto;
                        }
                    }
                }
                if account.oauth.is_some() {
                    super::super::sign_in::account_sign_in_ui(ui, account, sign_ins, commands);
                } else {
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
                }
                // Providers that want an app password (or refuse passwords)
                // say so where the password is typed.
                let hint = match preset.map(|p| p.sign_in) {
                    Some(presets::SignIn::AppPassword(text)) if account.oauth.is_none() => Some(text),
                    Some(presets::SignIn::BrowserOnly(text)) => Some(text),
                    _ => None,
                };
                if let Some(text) = hint {
                    ui.label("");
                    ui.add(egui::Label::new(text).wrap());
                    ui.end_row();
                }
                let label = ui.label(if account.oauth.is_some() {
                    "Keep the sign-in"
                } else {
                    "Keep the password"
                });
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
                    let sentence = match (account.password_storage, account.oauth.is_some()) {
                        (PasswordStorage::Keyring, false) => "This computer has no keyring, so the password cannot be kept there: choose “ask each session”, or, if you accept the risk, “in a file only I can read”.",
                        (PasswordStorage::Keyring, true) => "This computer has no keyring, so the sign-in cannot be kept there: choose “ask each session” (sign in each time), or, if you accept the risk, “in a file only I can read”.",
                        (_, false) => "This computer has no keyring; the password is kept as chosen above.",
                        (_, true) => "This computer has no keyring; the sign-in is kept as chosen above.",
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
                if account.oauth.is_none() {
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
                }
                ui.label("");
                ui.checkbox(&mut account.leave_on_server, "Leave messages on the server");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut account.check_automatically, "Check automatically")
                    .on_hover_text("At the interval set in General, or at this account's own");
                ui.end_row();
                if account.check_automatically {
                    optional_number(ui, "Own interval (minutes)", &mut account.check_every_mins, 15, 1..=1440);
                }
                ui.label("");
                ui.checkbox(&mut account.notify_new_mail, "Tell me when new mail arrives");
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
        super::super::sign_in::advanced_sign_in_ui(ui, &mut self.draft.accounts[index]);
        if let Some(note) = &self.preset_note {
            ui.label(note);
        }
    }

    /// "Test connection" and its result, under the form so both stay in view.
    pub(super) fn test_ui(
        &mut self,
        ui: &mut egui::Ui,
        index: usize,
        sign_ins: &super::super::sign_in::SignIns,
        commands: &mut Vec<Command>,
    ) {
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
                self.start_test(account.clone(), sign_ins, commands);
            }
            if testing {
                ui.add(egui::Spinner::new());
                ui.label("Testing…");
            }
        });
        let pin = self.test_result_ui(ui, &account.id);
        if let Some(fingerprint) = pin {
            self.draft.accounts[index].trusted_fingerprint = Some(fingerprint);
            // The result the user acted on is out of date: test again.
            self.start_test(self.draft.accounts[index].clone(), sign_ins, commands);
        }
    }

    /// Tests these settings (with the password typed, if any); the result
    /// shows under the form.
    fn start_test(
        &mut self,
        account: crate::settings::AccountSettings,
        sign_ins: &super::super::sign_in::SignIns,
        commands: &mut Vec<Command>,
    ) {
        let id = self.next_test_id;
        self.next_test_id += 1;
        // A browser sign-in not saved yet lends its access token.
        let password = if account.oauth.is_some() {
            sign_ins.pending_access(&account.id)
        } else {
            self.typed_passwords
                .get(&account.id)
                .filter(|p| !p.is_empty())
                .map(|p| Secret::new(p.clone()))
        };
        self.test = Some(TestRun {
            id,
            account_id: account.id.clone(),
            result: None,
        });
        commands.push(Command::TestConnection(id, Box::new(account), password));
    }

    /// Shows the test result; returns a fingerprint to trust if asked.
    pub(super) fn test_result_ui(&self, ui: &mut egui::Ui, account_id: &str) -> Option<String> {
        let test = self.test.as_ref().filter(|t| t.account_id == account_id)?;
        // Nothing to frame until the result is there.
        test.result.as_ref().and_then(|p| p.ready())?;
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
}

/// Whether a new account at this provider starts with its sign-in page:
/// always where passwords are refused, else when this copy has a client
/// ID for it (without one, an app password works at once).
fn prefers_browser(preset: presets::Preset) -> bool {
    matches!(preset.sign_in, presets::SignIn::BrowserOnly(_))
        || preset.oauth.is_some_and(|p| p.built_in_client_id.is_some())
}

fn use_browser_sign_in(account: &mut AccountSettings, provider: &'static presets::OAuthProvider) {
    account.oauth = Some(OAuthSettings::for_provider(provider));
    account.auth = provider.sasl;
}
