//! Letterbox as a desktop citizen: each account checked by itself on its
//! schedule (`desktop::schedule`), a notification when such a check finds
//! mail that was not there before, a quiet retry when the machine is
//! offline, and what the desktop asks for (a click on a notification, a
//! second launch).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::desktop::notify::{self, Arrival, Notifier};
use crate::desktop::schedule::{Clock, Outcome, Schedule};
use crate::desktop::tray::Tray;
use crate::desktop::{DesktopEvent, autostart};
use crate::settings::PasswordStorage;
use crate::worker::Failure;

use super::accounts::QUOTA_WARNING;
use super::library::Place;
use super::model::RowStatus;
use super::{App, Command, local_time};

pub(crate) struct Background {
    pub schedule: Schedule,
    pub clock: Clock,
    pub notifier: Notifier,
    pub events: Receiver<DesktopEvent>,
    /// The checks the schedule started (the user did not ask for them).
    pub automatic: HashSet<String>,
    /// What each account's list held when its check started; `None`: it
    /// was never listed, so nothing can be told apart as new.
    pub baseline: HashMap<String, Option<HashSet<String>>>,
    /// The day (days since 1970) each account's full-mailbox warning was
    /// last shown: once a day at most.
    pub quota_warned: HashMap<String, i64>,
    /// The autostart folder, and whether Letterbox's entry is there (`None`
    /// until it was looked at, off the UI thread).
    pub autostart_dir: Option<PathBuf>,
    pub starts_at_login: Option<bool>,
    pub sender: Sender<DesktopEvent>,
    pub wake: crate::desktop::Wake,
    /// Whether a tray icon may be shown at all (the real desktop).
    pub tray_wanted: bool,
    /// The tray icon once shown (filled in by the thread that shows it).
    pub tray: Arc<Mutex<Option<Tray>>>,
    /// `None`: not tried yet; `Some(Err)`: why there is none.
    pub tray_state: Option<Result<(), String>>,
}

impl Background {
    /// Links the app to the desktop: the notifier, the schedule's clock,
    /// the events from the desktop; whether Letterbox starts at login is
    /// looked up on the side.
    pub fn start(desktop: super::Desktop, ctx: &egui::Context) -> Background {
        let _ = desktop.context.set(ctx.clone());
        let (sender, wake) = (desktop.sender(), desktop.wake());
        let notifier = Notifier::start(desktop.notifications.clone(), sender.clone(), wake.clone());
        let background = Background {
            schedule: Schedule::default(),
            clock: desktop.clock.clone(),
            notifier,
            events: desktop.receiver,
            automatic: HashSet::new(),
            baseline: HashMap::new(),
            quota_warned: HashMap::new(),
            autostart_dir: desktop.autostart_dir.clone(),
            starts_at_login: None,
            sender,
            wake,
            tray_wanted: desktop.tray,
            tray: Arc::default(),
            tray_state: None,
        };
        background.read_autostart();
        background
    }

    /// Shows the tray icon (on a thread: D-Bus calls), once.
    pub fn start_tray(&mut self) {
        if !self.tray_wanted || self.tray_state.is_some() {
            return;
        }
        self.tray_state = Some(Err("The tray icon is being set up".to_owned()));
        let (sender, wake, slot) = (self.sender.clone(), self.wake.clone(), self.tray.clone());
        std::thread::spawn(move || {
            let shown = Tray::start(sender.clone(), wake.clone()).map(|tray| {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(tray);
            });
            if let Err(why) = &shown {
                tracing::info!("no tray icon: {why}");
            }
            let _ = sender.send(DesktopEvent::TrayShown(shown));
            wake();
        });
    }

    /// The tray icon's count.
    fn tray_count(&self, new: usize) {
        if let Some(tray) = self.tray.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            tray.set_new(new);
        }
    }

    pub fn has_tray(&self) -> bool {
        matches!(self.tray_state, Some(Ok(())))
    }

    /// Looks (on a thread) whether Letterbox starts at login.
    pub fn read_autostart(&self) {
        let Some(dir) = self.autostart_dir.clone() else {
            return;
        };
        let (sender, wake) = (self.sender.clone(), self.wake.clone());
        std::thread::spawn(move || {
            let _ = sender.send(DesktopEvent::StartsAtLogin(autostart::is_enabled(&dir)));
            wake();
        });
    }

    /// Writes or removes the autostart entry (on a thread).
    pub fn set_start_at_login(&self, on: bool) {
        let Some(dir) = self.autostart_dir.clone() else {
            return;
        };
        let (sender, wake) = (self.sender.clone(), self.wake.clone());
        std::thread::spawn(move || {
            let done = if on {
                std::env::current_exe().and_then(|program| autostart::enable(&dir, &program))
            } else {
                autostart::disable(&dir)
            };
            let event = match done {
                Ok(()) => DesktopEvent::StartsAtLogin(on),
                Err(e) => DesktopEvent::Problem(format!(
                    "Letterbox could not {} the login programs ({e}). Your desktop's own session settings can do it instead.",
                    if on {
                        "add itself to"
                    } else {
                        "remove itself from"
                    }
                )),
            };
            let _ = sender.send(event);
            wake();
        });
    }
}

impl App {
    /// Runs the schedule: starts the checks that are due, and asks for one
    /// wake-up at the next (no repaint loop meanwhile).
    pub(super) fn run_schedule(&mut self, ctx: &egui::Context) {
        let now = self.background.clock.now();
        for account in &self.settings.accounts {
            let interval = account.check_interval(&self.settings.general);
            self.background
                .schedule
                .set_interval(&account.id, interval, now);
        }
        let settings = &self.settings;
        self.background
            .schedule
            .retain(|id| settings.account(id).is_some());
        let due = self.background.schedule.due(now, |id| self.in_use(id));
        for id in due {
            let asks = self.settings.account(&id).is_some_and(|a| {
                a.password_storage == PasswordStorage::AskEachSession
                    && if a.oauth.is_some() {
                        !self.passwords.has_session_refresh_token(&a.id)
                    } else {
                        !self.passwords.has_session(&a.id)
                    }
            });
            // A browser sign-in that has to be done again: no automatic
            // check until it is (one banner, not a failure every interval).
            let signed_out = self
                .accounts
                .get(&id)
                .and_then(|s| s.error.as_ref())
                .is_some_and(|e| e.sign_in_again);
            if asks || signed_out || self.password_prompt.is_some() {
                // Not a box out of the blue: the next check by hand asks.
                self.background
                    .schedule
                    .checked(&id, Outcome::Permanent, now);
                continue;
            }
            self.background.automatic.insert(id.clone());
            self.background.schedule.started(&id);
            if !self.check(&id) {
                self.background.automatic.remove(&id);
                self.background
                    .schedule
                    .checked(&id, Outcome::Permanent, now);
            }
        }
        if let Some(next) = self.background.schedule.next_due() {
            let now = self.background.clock.now();
            ctx.request_repaint_after(next.saturating_duration_since(now));
        }
    }

    /// A job runs on the account, or the user is deciding on an Apply of it.
    fn in_use(&self, account_id: &str) -> bool {
        let busy = self
            .accounts
            .get(account_id)
            .is_some_and(|a| a.busy.is_some());
        let confirming = matches!(
            &self.confirm,
            Some(super::Confirm::Deletions { account_id: id, .. }) if id == account_id
        ) || matches!(&self.confirm, Some(super::Confirm::Quit { .. }));
        busy || confirming
    }

    /// A check started (by the schedule or by hand): what its list held.
    pub(super) fn check_started(&mut self, account_id: &str) {
        self.background.schedule.started(account_id);
        let state = self.state_mut(account_id);
        let listed = state.checked || state.as_of_unix.is_some();
        let keys = listed.then(|| state.rows.iter().filter_map(|r| r.key.clone()).collect());
        self.background.baseline.insert(account_id.to_owned(), keys);
    }

    /// A check ended well: the schedule counts from now, and an automatic
    /// one tells the desktop what is new and whether the mailbox is full.
    pub(super) fn check_succeeded(&mut self, account_id: &str) {
        let now = self.background.clock.now();
        let delay = self
            .accounts
            .get(account_id)
            .and_then(|s| s.login_delay_secs);
        let schedule = &mut self.background.schedule;
        schedule.set_login_delay(account_id, delay);
        schedule.checked(account_id, Outcome::Success, now);
        let baseline = self.background.baseline.remove(account_id).flatten();
        if let Some(state) = self.accounts.get_mut(account_id) {
            state.quiet_note = None;
        }
        if !self.background.automatic.contains(account_id) {
            return;
        }
        let (Some(account), Some(state)) = (
            self.settings.account(account_id),
            self.accounts.get(account_id),
        ) else {
            return;
        };
        let name = account.display_name();
        if let Some(before) = baseline
            && account.notify_new_mail
        {
            let arrivals: Vec<Arrival> = state
                .rows
                .iter()
                .filter(|r| r.status == RowStatus::New)
                .filter(|r| r.key.as_ref().is_some_and(|k| !before.contains(k)))
                .map(|r| Arrival {
                    from: r.from().to_owned(),
                    subject: r.subject().to_owned(),
                })
                .collect();
            if !arrivals.is_empty() {
                let note = notify::new_mail(account_id, &name, &arrivals);
                self.background.notifier.show(note);
            }
        }
        if let Some(quota_mb) = account.quota_mb.filter(|q| *q > 0) {
            let used = state.size_bytes as f64 / (f64::from(quota_mb) * 1_000_000.0);
            let today = crate::store::ledger::now_unix().div_euclid(86_400);
            if used >= f64::from(QUOTA_WARNING)
                && self.background.quota_warned.get(account_id) != Some(&today)
            {
                let percent = (used * 100.0).floor().min(999.0) as u32;
                let note = notify::nearly_full(account_id, &name, percent);
                self.background.notifier.show(note);
                self.background
                    .quota_warned
                    .insert(account_id.to_owned(), today);
            }
        }
    }

    /// A check failed. Returns whether the user should be shown the error:
    /// an automatic check of a machine that is offline is retried quietly.
    pub(super) fn check_failed(&mut self, account_id: &str, failure: &Failure) -> bool {
        let now = self.background.clock.now();
        let outcome = if failure.cancelled {
            Outcome::Permanent
        } else if failure.offline {
            Outcome::Offline
        } else if failure.transient {
            Outcome::Transient
        } else {
            Outcome::Permanent
        };
        self.background.schedule.checked(account_id, outcome, now);
        self.background.baseline.remove(account_id);
        let quiet = outcome == Outcome::Offline && self.background.automatic.contains(account_id);
        let next = self.background.schedule.due_at(account_id);
        let note = next.filter(|_| quiet).map(|next| {
            let wait = next.saturating_duration_since(now);
            let at = SystemTime::now() + wait;
            let unix = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs() as i64;
            format!("Offline? Trying again at {}", local_time(unix))
        });
        self.state_mut(account_id).quiet_note = note;
        !quiet
    }

    /// How many times the desktop asked for the window (a notification
    /// clicked, a second launch) and the app brought it up.
    pub fn times_shown_on_request(&self) -> u32 {
        self.shown_on_request
    }

    /// The account's job ended, whatever it was.
    pub(super) fn job_finished(&mut self, account_id: &str) {
        self.background.automatic.remove(account_id);
    }

    /// Closing the window: with automatic checks on, Letterbox stays in the
    /// background when the user chose so (asked the first time). True when
    /// the close was turned into that (or into the question).
    pub(super) fn close_to_background(&mut self, ctx: &egui::Context) -> bool {
        let general = &self.settings.general;
        let checks = self
            .settings
            .accounts
            .iter()
            .any(|a| a.check_interval(general).is_some());
        match (checks, general.keep_running) {
            (true, Some(true)) => {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                self.hide(ctx);
                true
            }
            (true, None) => {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                self.confirm = Some(super::Confirm::Background);
                true
            }
            _ => false,
        }
    }

    pub(super) fn keep_running_answered(&mut self, answer: Option<bool>) {
        let Some(keep) = answer else { return };
        if keep {
            self.background.start_tray();
        }
        let mut settings = self.settings.clone();
        settings.general.keep_running = Some(keep);
        self.save_settings(settings);
        self.quit_asked = !keep;
        // The window goes, now that the answer is known.
        self.close_again = Some(keep);
    }

    /// The window goes; Letterbox keeps checking. Without a tray icon to
    /// bring it back the window is minimised instead of hidden.
    pub(super) fn hide(&mut self, ctx: &egui::Context) {
        if self.background.has_tray() {
            tracing::info!("the window was closed: checking in the background, in the tray");
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
        } else {
            tracing::info!("the window was closed: checking in the background, minimised");
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(true));
        }
    }

    /// The window's title as last set.
    pub fn window_title(&self) -> String {
        match self.title_count {
            Some(count) if count > 0 => format!("{} — {count} new", self.title_base),
            _ => self.title_base.to_owned(),
        }
    }

    /// "Letterbox — 3 new" while new mail waits (what the taskbar shows).
    pub(super) fn update_title(&mut self, ctx: &egui::Context) {
        let count: usize = self.accounts.values().map(|a| a.new_count()).sum();
        if self.title_count == Some(count) {
            return;
        }
        self.title_count = Some(count);
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(self.window_title()));
        self.background.tray_count(count);
    }

    /// What the desktop asked for since the last frame.
    pub(super) fn desktop_events(&mut self, ctx: &egui::Context) {
        while let Ok(event) = self.background.events.try_recv() {
            match event {
                DesktopEvent::OpenAccount(id) => {
                    if self.settings.account(&id).is_some() {
                        self.run_command(Command::SelectAccount(id));
                        self.persisted.place = Place::Server;
                    }
                }
                DesktopEvent::Show => {
                    tracing::info!(
                        "the window was asked for (a second launch, the tray icon): brought up"
                    );
                }
                DesktopEvent::CheckNow => {
                    self.run_command(Command::CheckAll);
                    continue;
                }
                DesktopEvent::Quit => {
                    // Shown, so that a question on the way out can be seen.
                    self.quit_asked = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                DesktopEvent::TrayShown(shown) => {
                    self.background.tray_state = Some(shown);
                    self.background.tray_count(self.title_count.unwrap_or(0));
                    continue;
                }
                DesktopEvent::StartsAtLogin(on) => {
                    self.background.starts_at_login = Some(on);
                    continue;
                }
                DesktopEvent::Problem(problem) => {
                    self.notices.push(problem);
                    continue;
                }
            }
            self.shown_on_request += 1;
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
            ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
        }
    }
}

/// The question the first time the window is closed with automatic checks
/// on.
pub(crate) fn background_question_ui(
    ctx: &egui::Context,
    confirm: &mut Option<super::Confirm>,
    commands: &mut Vec<Command>,
) {
    if !matches!(confirm, Some(super::Confirm::Background)) {
        return;
    }
    let mut answer = None;
    let modal = egui::Modal::new(egui::Id::unique("keep-running")).show(ctx, |ui| {
        ui.set_max_width(460.0);
        ui.heading("Keep checking for mail?");
        ui.add(
            egui::Label::new(
                "Letterbox can keep running without its window: it checks your accounts \
                 on their schedule and tells you when new mail arrives. You can change \
                 this later in Settings → General.",
            )
            .wrap(),
        );
        ui.add_space(8.0);
        ui.horizontal_wrapped(|ui| {
            if ui.button("Keep checking in the background").clicked() {
                answer = Some(Some(true));
            }
            if ui.button("Quit Letterbox").clicked() {
                answer = Some(Some(false));
            }
            if ui.button("Cancel").clicked() {
                answer = Some(None);
            }
        });
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(None);
    }
    if let Some(answer) = answer {
        *confirm = None;
        commands.push(Command::KeepRunning(answer));
    }
}
