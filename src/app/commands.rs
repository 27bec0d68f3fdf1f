//! Commands: what clicks and keys ask for, carried out at the end of the
//! frame (never in the middle of drawing). Building a plan from the
//! selection is pure (`model`); this turns it into requests to the worker.

use super::*;

/// What a click or a key asks for; carried out by `App::run_command`.
#[derive(Debug)]
pub(crate) enum Command {
    CheckAll,
    Check(String),
    SelectAccount(String),
    /// Download the selected messages; `Some(remove)` overrides the
    /// account's "leave on server" setting.
    Download(Option<bool>),
    Keep,
    StageDelete,
    UndoDelete,
    RequestApply,
    ConfirmApply(String),
    CancelWork,
    OpenSettings,
    ShowMore(String),
    TrustCertificate {
        account_id: String,
        fingerprint: String,
    },
    StartNewLedger(String),
    AskPassword(String),
    SubmitPassword {
        account_id: String,
        password: Secret<String>,
    },
    /// The settings, the passwords typed, and "start at login" when it
    /// was changed.
    SaveSettings(
        Settings,
        Vec<(AccountSettings, Secret<String>)>,
        Option<bool>,
    ),
    TestConnection(u64, Box<AccountSettings>, Option<Secret<String>>),
    DismissNotices,
    DismissError(String),
    DismissApplyProblems(String),
    DismissNotice(String),
    /// Settings, on a new account's page.
    AddAccount,
    /// Ctrl+Z: take back the last Delete (marked on the server, or moved
    /// to Trash).
    UndoLast,
    /// The keyboard shortcuts window.
    ShowHelp,
    /// Apply the staged deletions, then quit.
    QuitApplying,
    /// Quit and leave the staged deletions undone.
    QuitWithoutApplying,
    /// Opens "Free up space" for an account.
    OpenFreeSpace(String),
    /// Marks these messages of an account for deletion (undoable).
    StageKeys(String, Vec<String>),
    /// Takes these marks back.
    UnstageKeys(String, Vec<String>),
    /// The answer to "keep checking when the window is closed?" (`None`:
    /// neither, the window stays).
    KeepRunning(Option<bool>),
    ClearLog,
    /// Sign an account in through its provider's page (the settings
    /// dialog's draft of it), in the browser or with a code.
    SignIn {
        settings: Box<AccountSettings>,
        with_code: bool,
    },
    CancelSignIn,
    /// The "sign in again" banner's button: the saved account, then a check.
    SignInAgain(String),
    /// The password box was answered or cancelled: the next one, if any.
    PasswordPromptClosed,
    /// Something about downloaded mail (see `library`).
    Mail(library::MailCommand),
}

impl App {
    pub(super) fn run_command(&mut self, command: Command) {
        match command {
            Command::CheckAll => {
                let ids = self.settings.account_ids();
                for id in ids {
                    self.check(&id);
                }
            }
            Command::Check(id) => {
                self.check(&id);
            }
            Command::DismissNotices => self.notices.clear(),
            Command::DismissError(id) => self.state_mut(&id).error = None,
            Command::DismissApplyProblems(id) => self.state_mut(&id).apply_problems.clear(),
            Command::DismissNotice(id) => self.state_mut(&id).notice = None,
            Command::ClearLog => self.log.clear(),
            Command::Mail(command) => self.run_mail_command(command),
            Command::SelectAccount(id) => {
                self.persisted.place = Place::Server;
                if self.persisted.selected_account.as_deref() != Some(id.as_str()) {
                    self.selection.ids.clear();
                    self.selection.focus = None;
                }
                self.persisted.selected_account = Some(id);
            }
            Command::Download(remove) => {
                let Some(account) = self.selected_account().cloned() else {
                    return;
                };
                let remove = remove.unwrap_or(!account.leave_on_server);
                let selected = self.selected_keys();
                let plan = model::download_plan(&selected, remove);
                let already = selected
                    .iter()
                    .filter(|(_, status)| *status == RowStatus::Downloaded)
                    .count();
                if plan.is_empty() && already > 0 {
                    // Nothing to fetch, nothing to connect for: said here.
                    self.state_mut(&account.id).notice = Some(if already == 1 {
                        "This message is already downloaded; it was not downloaded again.".into()
                    } else {
                        format!(
                            "These {already} messages are already downloaded; none was downloaded again."
                        )
                    });
                    return;
                }
                // With others to fetch, the Apply's summary counts them too.
                let plan = if already > 0 {
                    model::download_plan_all(&selected, remove)
                } else {
                    plan
                };
                self.apply(&account.id, plan);
            }
            Command::Keep => {
                let Some(id) = self.persisted.selected_account.clone() else {
                    return;
                };
                let plan = model::keep_plan(&self.selected_keys());
                self.apply(&id, plan);
            }
            Command::StageDelete => {
                let keys = self.selected_keys();
                if let Some(id) = self.persisted.selected_account.clone() {
                    let state = self.state_mut(&id);
                    let new: Vec<String> = keys
                        .into_iter()
                        .map(|(k, _)| k)
                        .filter(|k| !state.staged_deletions.contains(k))
                        .collect();
                    state.staged_deletions.extend(new.iter().cloned());
                    if !new.is_empty() {
                        self.last_staged = Some((id, new));
                    }
                }
            }
            Command::UndoLast => {
                if self.persisted.place.is_local() {
                    self.run_mail_command(library::MailCommand::Undo);
                } else if let Some((id, keys)) = self.last_staged.take() {
                    let state = self.state_mut(&id);
                    for key in keys {
                        state.staged_deletions.remove(&key);
                    }
                }
            }
            Command::ShowHelp => self.help_open = true,
            Command::AddAccount => {
                self.run_command(Command::OpenSettings);
                if let Some(dialog) = self.settings_dialog.as_mut() {
                    dialog.set_no_keyring(matches!(self.keyring, Some(Err(_))));
                    dialog.add_account();
                }
            }
            Command::UndoDelete => {
                let keys = self.selected_keys();
                if let Some(id) = self.persisted.selected_account.clone() {
                    let state = self.state_mut(&id);
                    if keys.is_empty() {
                        state.staged_deletions.clear();
                    } else {
                        for (key, _) in keys {
                            state.staged_deletions.remove(&key);
                        }
                    }
                }
            }
            Command::RequestApply => {
                let Some(id) = self.persisted.selected_account.clone() else {
                    return;
                };
                let Some(state) = self.accounts.get(&id) else {
                    return;
                };
                if state.staged_deletions.is_empty() {
                    return;
                }
                let not_downloaded = state.staged_not_downloaded();
                self.confirm = Some(Confirm::Deletions {
                    account_id: id,
                    count: state.staged_deletions.len(),
                    not_downloaded,
                });
            }
            Command::ConfirmApply(id) => {
                let plan = self
                    .accounts
                    .get(&id)
                    .map(|s| model::deletion_plan(&s.staged_deletions))
                    .unwrap_or_default();
                self.apply(&id, plan);
            }
            Command::QuitApplying => {
                let ids: Vec<String> = self
                    .accounts
                    .iter()
                    .filter(|(_, s)| !s.staged_deletions.is_empty())
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    self.run_command(Command::ConfirmApply(id));
                }
                self.quitting = Quitting::AfterApply;
            }
            Command::QuitWithoutApplying => self.quitting = Quitting::Close,
            Command::KeepRunning(answer) => self.keep_running_answered(answer),
            Command::OpenFreeSpace(id) => {
                self.free_space = Some(free_space::FreeSpace {
                    account_id: id,
                    days: 30,
                });
            }
            Command::StageKeys(id, keys) => {
                let state = self.state_mut(&id);
                let listed: std::collections::HashSet<&str> =
                    state.rows.iter().filter_map(|r| r.key.as_deref()).collect();
                let new: Vec<String> = keys
                    .into_iter()
                    .filter(|k| listed.contains(k.as_str()) && !state.staged_deletions.contains(k))
                    .collect();
                state.staged_deletions.extend(new.iter().cloned());
                if !new.is_empty() {
                    self.last_staged = Some((id, new));
                }
            }
            Command::UnstageKeys(id, keys) => {
                let state = self.state_mut(&id);
                for key in &keys {
                    state.staged_deletions.remove(key);
                }
            }
            Command::CancelWork => {
                let busy: Vec<String> = self
                    .accounts
                    .iter()
                    .filter(|(_, s)| s.busy.is_some())
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in busy {
                    self.worker.send(Request::Cancel(id));
                }
            }
            Command::OpenSettings => {
                // Editing before the file is read would overwrite it.
                if self.settings_dialog.is_none() && !self.loading_settings {
                    let selected = self.persisted.selected_account.clone();
                    self.settings_dialog = Some(SettingsDialog::new(
                        &self.settings,
                        selected.as_deref(),
                        self.background.starts_at_login,
                        self.background
                            .tray_state
                            .clone()
                            .and_then(Result::err)
                            .filter(|_| self.background.tray_wanted),
                    ));
                }
            }
            Command::ShowMore(key) => {
                let Some(account) = self.selected_account().cloned() else {
                    return;
                };
                let shown = self
                    .longer_previews
                    .get(&key)
                    .map(|(lines, _)| *lines)
                    .unwrap_or(account.effective_preview_lines(&self.settings.general));
                let job = self.job(&account);
                // Generous steps: 100 lines, then 400, ...
                self.worker
                    .send(Request::Preview(job, key, shown.max(25) * 4));
            }
            Command::TrustCertificate {
                account_id,
                fingerprint,
            } => {
                let mut settings = self.settings.clone();
                if let Some(account) = settings.accounts.iter_mut().find(|a| a.id == account_id) {
                    account.trusted_fingerprint = Some(fingerprint);
                }
                self.save_settings(settings);
                self.state_mut(&account_id).error = None;
                self.check(&account_id);
            }
            Command::StartNewLedger(id) => {
                if let Some(account) = self.settings.account(&id).cloned() {
                    let job = self.job(&account);
                    self.worker.send(Request::StartNewLedger(job));
                }
            }
            Command::AskPassword(account_id) => self.ask_password(account_id),
            Command::SignIn {
                settings,
                with_code,
            } => self.start_sign_in(*settings, with_code, false),
            Command::CancelSignIn => self.cancel_sign_in(),
            Command::SignInAgain(account_id) => {
                if let Some(settings) = self.settings.account(&account_id).cloned() {
                    self.start_sign_in(settings, false, true);
                }
            }
            Command::PasswordPromptClosed => self.next_password_prompt(),
            Command::SubmitPassword {
                account_id,
                password,
            } => {
                if let Err(e) = self.passwords.set_for_session(&account_id, &password) {
                    self.notices.push(e.to_string());
                }
                if let Some(account) = self.settings.account(&account_id).cloned() {
                    self.worker.send(Request::SavePassword(account, password));
                }
                self.state_mut(&account_id).error = None;
                self.check(&account_id);
            }
            Command::SaveSettings(settings, passwords, start_at_login) => {
                if let Some(on) = start_at_login {
                    self.background.set_start_at_login(on);
                }
                for (account, password) in passwords {
                    let _ = self.passwords.set_for_session(&account.id, &password);
                    self.worker.send(Request::SavePassword(account, password));
                }
                self.store_sign_ins(&settings);
                self.save_settings(settings);
            }
            Command::TestConnection(id, settings, password) => {
                let promise = self.worker.test_connection(*settings, password);
                if let Some(dialog) = self.settings_dialog.as_mut() {
                    dialog.test_started(id, promise);
                }
            }
        }
    }

    /// Quitting (closing the window, Ctrl+Q) with deletions staged and not
    /// applied asks first: they would be dropped without a word otherwise.
    pub(super) fn watch_quit(&mut self, ctx: &egui::Context) {
        match self.close_again.take() {
            Some(true) => self.hide(ctx),
            Some(false) => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            None => {}
        }
        if self.quitting == Quitting::AfterApply && !self.busy() || self.quitting == Quitting::Close
        {
            self.quitting = Quitting::Now;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if !ctx.input(|i| i.viewport().close_requested()) || self.quitting == Quitting::Now {
            return;
        }
        let quit = std::mem::take(&mut self.quit_asked);
        if !quit && self.quitting == Quitting::No && self.close_to_background(ctx) {
            return;
        }
        let staged: Vec<(String, usize)> = self
            .settings
            .accounts
            .iter()
            .filter_map(|a| {
                let count = self.accounts.get(&a.id)?.staged_deletions.len();
                (count > 0).then(|| (a.id.clone(), count))
            })
            .collect();
        if staged.is_empty() {
            return;
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
        self.confirm = Some(Confirm::Quit { staged });
    }

    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        let (quit, help, escape) = ctx.input(|i| {
            (
                i.modifiers.command && i.key_pressed(egui::Key::Q),
                i.key_pressed(egui::Key::F1),
                i.key_pressed(egui::Key::Escape),
            )
        });
        if quit {
            self.quit_asked = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if help {
            self.help_open = true;
        }
        // Escape closes the window on top; a dialog box (modal) closes
        // itself, and the settings ask first when something is unsaved.
        let modal_open = self.confirm.is_some()
            || self.password_prompt.is_some()
            || self.library.dialog.is_some();
        if escape && !modal_open && self.settings_dialog.is_none() {
            if let Some(window) = self.library.windows.last_mut() {
                window.open = false;
            } else if self.help_open {
                self.help_open = false;
            } else if self.log_open {
                self.log_open = false;
            }
        }
        if !super::rows::keys_for_lists(ctx) {
            return;
        }
        if ctx.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Z)) {
            self.commands.push(Command::UndoLast);
        }
        let (check, delete, all) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::F5)
                    || (i.modifiers.command && i.key_pressed(egui::Key::R)),
                i.key_pressed(egui::Key::Delete),
                i.modifiers.command && i.key_pressed(egui::Key::A),
            )
        });
        if check {
            self.commands.push(Command::CheckAll);
        }
        if self.persisted.place.is_local() {
            // The downloaded list has its own keys (see `downloaded`).
            if all {
                self.library.selection.ids = self.library.ids.iter().cloned().collect();
            }
            return;
        }
        if delete {
            self.commands.push(Command::StageDelete);
        }
        if all
            && let Some(account) = self.selected_account()
            && let Some(state) = self.accounts.get(&account.id)
        {
            let view = visible_rows(
                &state.rows,
                self.filters.get(&account.id).map_or("", String::as_str),
                self.persisted.sort,
                self.persisted.ascending,
            );
            self.selection.ids = view
                .iter()
                .map(|&i| messages::row_id(&state.rows[i], i))
                .collect();
        }
    }
}

/// The requests behind the commands.
impl App {
    /// Asks for an account's password: now, or after the box open now.
    pub(super) fn ask_password(&mut self, account_id: String) {
        let asked = self.password_prompt.as_ref().map(|p| p.account_id.as_str());
        if asked == Some(account_id.as_str()) || self.password_queue.contains(&account_id) {
            return;
        }
        self.password_queue.push_back(account_id);
        if self.password_prompt.is_none() {
            self.next_password_prompt();
        }
    }

    pub(super) fn next_password_prompt(&mut self) {
        self.password_prompt = None;
        while let Some(account_id) = self.password_queue.pop_front() {
            let Some(account) = self.settings.account(&account_id) else {
                continue;
            };
            self.password_prompt = Some(PasswordPrompt {
                account_name: account.display_name(),
                account_id,
                text: String::new(),
                focused: false,
            });
            return;
        }
    }

    /// Starts a check of the account; false when none could start (the
    /// password is asked first, or the settings are not complete).
    pub(super) fn check(&mut self, account_id: &str) -> bool {
        let Some(account) = self.settings.account(account_id).cloned() else {
            return false;
        };
        // A password asked each session and not typed yet: ask for it
        // first (the check runs when it is given), instead of a check that
        // can only fail.
        if account.password_storage == crate::settings::PasswordStorage::AskEachSession
            && account.oauth.is_none()
            && !self.passwords.has_session(account_id)
        {
            self.ask_password(account_id.to_owned());
            return false;
        }
        let problems = crate::accounts::problems(&account);
        if let Some(problem) = problems.first() {
            self.state_mut(account_id).error = Some(Failure::invalid(problem.clone()));
            return false;
        }
        let job = self.job(&account);
        self.worker.send(Request::Check(job));
        true
    }

    fn apply(&mut self, account_id: &str, plan: Plan) {
        if plan.is_empty() {
            return;
        }
        if let Some(account) = self.settings.account(account_id).cloned() {
            let job = self.job(&account);
            self.worker.send(Request::Apply(job, plan));
        }
    }

    pub(super) fn save_settings(&mut self, settings: Settings) {
        for account in &settings.accounts {
            self.accounts.entry(account.id.clone()).or_default();
        }
        let removed: Vec<String> = self
            .settings
            .accounts
            .iter()
            .filter(|a| settings.account(&a.id).is_none())
            .map(|a| a.id.clone())
            .collect();
        for id in removed {
            self.accounts.remove(&id);
            self.worker.send(Request::ForgetPassword(id));
        }
        self.settings = settings;
        if self.selected_account().is_none() {
            self.persisted.selected_account = self.settings.accounts.first().map(|a| a.id.clone());
        }
        if self.writes_settings {
            self.worker.send(Request::SaveSettings(
                Box::new(self.settings.clone()),
                self.paths.settings_file.clone(),
            ));
        }
    }
}
