//! Signing in through the provider's page (OAuth 2) in the app: one run at
//! a time, started from the account's settings ("Sign in with Microsoft",
//! "Sign in with a code") or from the "Sign in again" banner; its state
//! shown where it was started, Cancel always at hand. A finished sign-in
//! clears the account's "sign in again" error; started from the banner, it
//! also checks the account.

use std::collections::HashSet;
use std::sync::Arc;

use super::{App, Command};
use crate::oauth::Browser;
use crate::settings::AccountSettings;
use crate::worker::SignInRun;

#[derive(Default)]
pub(crate) struct SignIns {
    run: Option<SignInRun>,
    /// Check the account once signed in (started from the banner).
    check_after: bool,
    /// The last run's result, for the account page: (account, outcome).
    outcome: Option<(String, Result<(), String>)>,
    /// Accounts signed in from the settings dialog, perhaps never saved:
    /// their tokens are forgotten if the account is not.
    from_dialog: HashSet<String>,
    /// Opens the provider's page; `None`: the system browser.
    browser: Option<Browser>,
}

impl SignIns {
    pub fn new(browser: Option<Browser>) -> SignIns {
        SignIns {
            browser,
            ..SignIns::default()
        }
    }

    pub fn running_for(&self, account_id: &str) -> Option<&SignInRun> {
        self.run.as_ref().filter(|r| r.account_id == account_id)
    }

    pub fn busy(&self) -> bool {
        self.run.is_some()
    }

    pub fn outcome_for(&self, account_id: &str) -> Option<&Result<(), String>> {
        self.outcome
            .as_ref()
            .filter(|(id, _)| id == account_id)
            .map(|(_, outcome)| outcome)
    }

    fn browser(&self) -> Browser {
        self.browser.clone().unwrap_or_else(|| {
            Arc::new(|url: &str| opener::open_browser(url).map_err(|e| e.to_string()))
        })
    }
}

impl App {
    /// Starts a sign-in for these settings (the saved ones, or the
    /// settings dialog's draft).
    pub(super) fn start_sign_in(
        &mut self,
        settings: AccountSettings,
        with_code: bool,
        from_banner: bool,
    ) {
        if let Some(run) = self.sign_ins.run.take() {
            run.cancel.cancel();
        }
        if !from_banner {
            self.sign_ins.from_dialog.insert(settings.id.clone());
        }
        self.sign_ins.outcome = None;
        self.sign_ins.check_after = from_banner;
        let browser = self.sign_ins.browser();
        self.sign_ins.run = Some(self.worker.sign_in(settings, with_code, browser));
    }

    pub(super) fn cancel_sign_in(&mut self) {
        if let Some(run) = &self.sign_ins.run {
            run.cancel.cancel();
        }
    }

    /// Takes a finished run's result.
    pub(super) fn poll_sign_in(&mut self) {
        let Some(run) = &self.sign_ins.run else {
            return;
        };
        if run.result.ready().is_none() {
            return;
        }
        let Some(run) = self.sign_ins.run.take() else {
            return;
        };
        let account_id = run.account_id.clone();
        let result = run.result.block_and_take();
        match &result {
            Ok(()) => {
                let state = self.state_mut(&account_id);
                if state.error.as_ref().is_some_and(|e| e.sign_in_again) {
                    state.error = None;
                }
                if self.sign_ins.check_after {
                    self.check(&account_id);
                }
            }
            Err(failure) if self.sign_ins.check_after && !failure.cancelled => {
                self.state_mut(&account_id).error = Some(failure.clone());
            }
            Err(_) => {}
        }
        self.sign_ins.outcome = Some((account_id, result.map_err(|f| f.message.sentences())));
    }

    /// The settings dialog closed: sign-ins of accounts that were never
    /// saved are forgotten (their tokens would sit in the keyring unused).
    pub(super) fn settings_dialog_closed(&mut self) {
        for id in std::mem::take(&mut self.sign_ins.from_dialog) {
            if self.settings.account(&id).is_none() {
                if self.sign_ins.running_for(&id).is_some() {
                    self.cancel_sign_in();
                }
                self.worker.send(crate::worker::Request::ForgetPassword(id));
            }
        }
    }
}

/// The account page's sign-in rows (inside its grid): what is happening,
/// and the buttons. `account` has a browser sign-in.
pub(super) fn account_sign_in_ui(
    ui: &mut egui::Ui,
    account: &AccountSettings,
    sign_ins: &SignIns,
    commands: &mut Vec<Command>,
) {
    let Some(provider) = account.oauth.as_ref().and_then(|o| o.provider()) else {
        return;
    };
    let running = sign_ins.running_for(&account.id);
    ui.label("Account sign-in");
    ui.vertical(|ui| {
        ui.set_max_width(380.0);
        if let Some(run) = running {
            match run.device_code() {
                Some(code) => {
                    ui.add(
                        egui::Label::new(format!(
                            "On any device, open {} and enter this code:",
                            code.url
                        ))
                        .wrap(),
                    );
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(&code.user_code).monospace().heading(),
                        )
                        .selectable(true),
                    );
                }
                None => {
                    ui.horizontal(|ui| {
                        ui.add(egui::Spinner::new());
                        ui.label(format!(
                            "Waiting for you to sign in with {} in your browser…",
                            provider.name
                        ));
                    });
                }
            }
            if ui.button("Cancel sign-in").clicked() {
                commands.push(Command::CancelSignIn);
            }
            return;
        }
        match sign_ins.outcome_for(&account.id) {
            Some(Ok(())) => {
                ui.label(egui::RichText::new("Signed in.").strong());
            }
            Some(Err(message)) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
            None => {}
        }
        let has_client_id = crate::oauth::has_client_id(account);
        ui.horizontal_wrapped(|ui| {
            let button = ui
                .add_enabled(
                    has_client_id && !sign_ins.busy(),
                    egui::Button::new(format!("Sign in with {}", provider.name)),
                )
                .on_hover_text("Opens the provider's sign-in page in your web browser");
            if button.clicked() {
                commands.push(Command::SignIn {
                    settings: Box::new(account.clone()),
                    with_code: false,
                });
            }
            let with_code = account
                .oauth
                .as_ref()
                .and_then(|o| o.device_url.as_ref())
                .is_some()
                || provider.device_url.is_some();
            if with_code
                && ui
                    .add_enabled(
                        has_client_id && !sign_ins.busy(),
                        egui::Button::new("Sign in with a code"),
                    )
                    .on_hover_text("Shows a code to enter on the provider's page on any device")
                    .clicked()
            {
                commands.push(Command::SignIn {
                    settings: Box::new(account.clone()),
                    with_code: true,
                });
            }
        });
        if !has_client_id {
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "This copy of Letterbox has no client ID for signing in with {}: enter one under “Advanced sign-in settings” below (the README explains how to register one).",
                        provider.name
                    ))
                    .color(ui.visuals().warn_fg_color),
                )
                .wrap(),
            );
        }
    });
    ui.end_row();
}

/// Settings → Advanced for a browser sign-in: another client ID (and the
/// secret some providers issue with a desktop client ID).
pub(super) fn advanced_sign_in_ui(ui: &mut egui::Ui, account: &mut AccountSettings) {
    let Some(oauth) = account.oauth.as_mut() else {
        return;
    };
    egui::CollapsingHeader::new("Advanced sign-in settings")
        .id_salt("advanced-sign-in")
        .show(ui, |ui| {
            ui.add(
                egui::Label::new(
                    "Letterbox signs in as the app registered by whoever built it. To use an app you registered yourself, enter its client ID here.",
                )
                .wrap(),
            );
            egui::Grid::new("advanced-sign-in-grid")
                .num_columns(2)
                .spacing([12.0, 8.0])
                .show(ui, |ui| {
                    optional_text(ui, "Client ID", &mut oauth.client_id, "the built-in one");
                    optional_text(ui, "Client secret", &mut oauth.client_secret, "none");
                });
        });
}

fn optional_text(ui: &mut egui::Ui, label: &str, value: &mut Option<String>, hint: &str) {
    let mut text = value.clone().unwrap_or_default();
    let label = ui.label(label);
    ui.add(egui::TextEdit::singleline(&mut text).hint_text(hint))
        .labelled_by(label.id);
    ui.end_row();
    let trimmed = text.trim();
    let new = (!trimmed.is_empty()).then(|| text.clone());
    if *value != new {
        *value = new;
    }
}
