//! Signing in through the provider's page (OAuth 2) in the app: one run at
//! a time, started from the account's settings ("Sign in with Microsoft",
//! "Sign in with a code") or from the "Sign in again" banner; its state
//! shown where it was started, Cancel always at hand.
//!
//! A sign-in from the settings dialog belongs to the dialog's draft: it
//! stays pending (in memory) until Save, which keeps it where the account
//! keeps its password, and is dropped if the dialog closes unsaved. A
//! sign-in from the banner is kept at once, clears the banner and checks
//! the account. A saved change of provider or client, or a switch to a
//! password, forgets the earlier sign-in.

use std::collections::HashMap;
use std::sync::Arc;

use super::{App, Command};
use crate::oauth::{Browser, SignedIn};
use crate::pop3::Secret;
use crate::settings::AccountSettings;
use crate::worker::{Request, SignInRun};

#[derive(Default)]
pub(crate) struct SignIns {
    run: Option<SignInRun>,
    /// Started from the banner: kept at once, then the account checked.
    from_banner: bool,
    /// The last run's result, for the account page: (account, outcome,
    /// with a note to show under "Signed in.").
    outcome: Option<(String, Result<Option<String>, String>)>,
    /// Sign-ins made in the settings dialog, kept when it saves.
    pending: HashMap<String, SignedIn>,
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

    /// The account of a sign-in started from its banner, while it runs.
    pub fn banner_sign_in_account(&self) -> Option<&str> {
        self.run
            .as_ref()
            .filter(|_| self.from_banner)
            .map(|r| r.account_id.as_str())
    }

    pub fn busy(&self) -> bool {
        self.run.is_some()
    }

    pub fn outcome_for(&self, account_id: &str) -> Option<&Result<Option<String>, String>> {
        self.outcome
            .as_ref()
            .filter(|(id, _)| id == account_id)
            .map(|(_, outcome)| outcome)
    }

    /// The access token of a sign-in not saved yet (for Test connection).
    pub fn pending_access(&self, account_id: &str) -> Option<Secret<String>> {
        self.pending
            .get(account_id)
            .map(|signed_in| signed_in.access.token.clone())
    }

    fn browser(&self) -> Browser {
        self.browser.clone().unwrap_or_else(|| {
            Arc::new(|url: &str| opener::open_browser(url).map_err(|e| e.to_string()))
        })
    }
}

/// What a kept sign-in belongs to: the same provider, client and token
/// endpoint. When it changes, the kept refresh token is of no use.
fn sign_in_key(account: &AccountSettings) -> Option<(String, Option<String>, Option<String>)> {
    account
        .oauth
        .as_ref()
        .map(|o| (o.provider.clone(), o.client_id.clone(), o.token_url.clone()))
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
        self.sign_ins.outcome = None;
        self.sign_ins.from_banner = from_banner;
        let browser = self.sign_ins.browser();
        self.sign_ins.run = Some(
            self.worker
                .sign_in(settings, with_code, browser, from_banner),
        );
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
        let outcome = match run.result.block_and_take() {
            Ok(done) => {
                let state = self.state_mut(&account_id);
                if state.error.as_ref().is_some_and(|e| e.sign_in_again) {
                    state.error = None;
                }
                if self.sign_ins.from_banner {
                    self.check(&account_id);
                }
                let note = match done.pending {
                    Some(signed_in) => {
                        self.sign_ins.pending.insert(account_id.clone(), signed_in);
                        Some("Click Save to keep it.".to_owned())
                    }
                    None => done.note,
                };
                Ok(note)
            }
            Err(failure) => {
                if self.sign_ins.from_banner && !failure.cancelled {
                    self.state_mut(&account_id).error = Some(failure.clone());
                }
                Err(failure.message.sentences())
            }
        };
        self.sign_ins.outcome = Some((account_id, outcome));
    }

    /// Settings are being saved: an account whose provider or client
    /// changed (or that signs in with a password now) forgets its earlier
    /// sign-in, and the dialog's pending sign-ins are kept. The access
    /// token is set here, in memory, so a check right after Save has it.
    pub(super) fn store_sign_ins(&mut self, saved: &crate::settings::Settings) {
        let mut pending = std::mem::take(&mut self.sign_ins.pending);
        for account in &saved.accounts {
            let forget_earlier = self
                .settings
                .account(&account.id)
                .is_some_and(|old| old.oauth.is_some() && sign_in_key(old) != sign_in_key(account));
            let signed_in = pending
                .remove(&account.id)
                .filter(|_| account.oauth.is_some());
            if forget_earlier || signed_in.is_some() {
                self.passwords.forget_access_token(&account.id);
            }
            if let Some(signed_in) = &signed_in {
                self.passwords
                    .set_access_token(&account.id, signed_in.access.clone());
            }
            let refresh_token = signed_in.and_then(|s| s.refresh_token);
            if forget_earlier || refresh_token.is_some() {
                self.worker.send(Request::StoreSignIn {
                    settings: Box::new(account.clone()),
                    forget_earlier,
                    refresh_token,
                });
            }
        }
    }

    /// The settings dialog closed: its sign-ins not saved are dropped.
    pub(super) fn settings_dialog_closed(&mut self) {
        self.sign_ins.pending.clear();
        if !self.sign_ins.from_banner {
            self.cancel_sign_in();
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
                        ui.label("Waiting for your sign-in…");
                    });
                    ui.add(
                        egui::Label::new(format!(
                            "Sign in with {} on the page that opened in your web browser.",
                            provider.name
                        ))
                        .wrap(),
                    );
                }
            }
            if ui.button("Cancel sign-in").clicked() {
                commands.push(Command::CancelSignIn);
            }
            return;
        }
        match sign_ins.outcome_for(&account.id) {
            Some(Ok(note)) => {
                ui.label(egui::RichText::new("Signed in.").strong());
                if let Some(note) = note {
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(note).color(ui.visuals().warn_fg_color),
                        )
                        .wrap(),
                    );
                }
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
