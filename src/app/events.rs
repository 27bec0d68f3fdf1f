//! Events from the worker, applied to the app's state in the logic part of
//! a frame: progress, finished checks and applies, previews, failures,
//! the connection log. Never draws and never sends anything itself but
//! follow-up requests (an automatic check, a cancelled job's cleanup).

use super::*;

impl App {
    pub(super) fn handle_event(&mut self, event: Event) {
        match event {
            Event::Started { account_id, kind } => {
                if kind == JobKind::Check {
                    self.check_started(&account_id);
                }
                let state = self.state_mut(&account_id);
                state.busy = Some(kind);
                state.progress = None;
            }
            Event::Progress {
                account_id,
                progress,
            } => {
                let state = self.state_mut(&account_id);
                match progress {
                    Progress::Rows(rows) => state.listed(&rows),
                    Progress::Heads(heads) => state.heads(&heads),
                    other => state.progress = Some(other),
                }
            }
            Event::Checked {
                account_id,
                report,
                at_unix,
            } => {
                self.state_mut(&account_id).checked(report, at_unix);
                self.check_succeeded(&account_id);
            }
            Event::Applied { account_id, report } => {
                for key in report.deleted.iter().chain(&report.vanished) {
                    self.selection.ids.remove(key);
                    self.longer_previews.remove(key);
                }
                self.state_mut(&account_id).applied(&report);
                if !report.downloaded.is_empty()
                    && let Some(home) = self.mail_home(&account_id)
                {
                    self.worker.send(Request::SyncIndex(home));
                }
            }
            Event::Preview {
                account_id: _,
                key,
                preview,
            } => {
                if let Some(preview) = preview {
                    let lines = preview.text.lines().count() as u32;
                    self.longer_previews.insert(key, (lines, preview));
                }
            }
            Event::LedgerReset { account_id } => {
                self.state_mut(&account_id).error = None;
                self.check(&account_id);
            }
            Event::Failed {
                account_id,
                kind,
                failure,
            } => {
                let show = kind != JobKind::Check || self.check_failed(&account_id, &failure);
                let state = self.state_mut(&account_id);
                if failure.cancelled || !show {
                    state.error = None;
                } else {
                    state.error = Some(failure.clone());
                }
                if failure.needs_password && kind != JobKind::Ledger {
                    self.ask_password(account_id);
                }
            }
            Event::Finished { account_id } => {
                self.job_finished(&account_id);
                if let Some(state) = self.accounts.get_mut(&account_id) {
                    state.busy = None;
                    state.progress = None;
                }
            }
            Event::Transcript {
                account_id,
                direction,
                line,
            } => {
                let account = self
                    .settings
                    .account(&account_id)
                    .map(AccountSettings::display_name)
                    .unwrap_or(account_id);
                if self.log.len() == LOG_LINES {
                    self.log.pop_front();
                }
                self.log.push_back(LogLine {
                    account,
                    direction,
                    text: line,
                });
            }
            Event::PasswordSaved { account_id, result } => {
                if let Err(e) = result {
                    let name = self
                        .settings
                        .account(&account_id)
                        .map(AccountSettings::display_name)
                        .unwrap_or_default();
                    self.notices.push(format!(
                        "The password for {name} could not be saved ({e}). It is kept for this session; choose another place for it in Settings."
                    ));
                }
            }
            Event::SettingsLoaded(result) => {
                self.loading_settings = false;
                match *result {
                    Ok((settings, notices)) => {
                        self.writes_settings = true;
                        self.settings_arrived(settings, notices);
                    }
                    Err(message) => self.notices.push(format!(
                        "{} Letterbox starts without your accounts and will not overwrite the file. {}",
                        message.headline, message.next_step
                    )),
                }
            }
            Event::SettingsSaved { result } => {
                if let Err(problem) = result {
                    self.notices.push(problem);
                }
            }
            event @ (Event::IndexProgress { .. }
            | Event::MailSynced { .. }
            | Event::MailChanged { .. }
            | Event::TrashEmptied { .. }) => self.mail_event(event),
            Event::KeyringStatus { available, detail } => {
                self.keyring = Some(if available { Ok(()) } else { Err(detail) });
            }
        }
    }
}
