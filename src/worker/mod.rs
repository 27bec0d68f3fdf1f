//! Background work for the app: every network and disk operation runs here,
//! on threads, never on the UI thread. One job per account at a time (a
//! second request for a busy account waits its turn); jobs can be
//! cancelled; every event is followed by a wake-up call so the UI repaints
//! exactly when something changed. Never imports egui: the wake-up is a
//! plain callback.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use crate::accounts::stores::StoreHome;
use crate::engine::{
    self, ApplyReport, CheckOptions, CheckReport, ConnectionReport, Plan, Progress,
};
use crate::explain::{Explain, UserMessage};
use crate::mail::Preview;
use crate::net::{CancelToken, Direction, Observe};
use crate::pop3::Secret;
use crate::settings::AccountSettings;
use crate::settings::secrets::Passwords;
use crate::store::local::Location;
use crate::store::now_unix;

mod failure;
pub use failure::Failure;
pub mod reading;
mod sign_in;
pub use reading::{LocalChange, MailHome, MailSynced};
use sign_in::sign_in_secret;
pub use sign_in::{DeviceCode, SignInDone, SignInRun};

/// Called after every event; the app passes `ctx.request_repaint`.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Everything a job needs to know about its account.
#[derive(Clone, Debug)]
pub struct AccountJob {
    pub settings: AccountSettings,
    /// Where the account's store is (see `accounts::stores::store_for_account`); opened
    /// here, off the UI thread, since it may first take over an earlier one.
    pub store: StoreHome,
    pub preview_lines: u32,
    /// See `engine::CheckOptions::retr_preview_max_bytes`.
    pub retr_preview_max_bytes: u64,
}

impl AccountJob {
    pub fn id(&self) -> &str {
        &self.settings.id
    }
}

#[derive(Debug)]
pub enum Request {
    /// List the mailbox with previews (and remove expired mail, if the
    /// account asks for it).
    Check(AccountJob),
    /// Carry out the user's decisions.
    Apply(AccountJob, Plan),
    /// A longer preview of one message.
    Preview(AccountJob, String, u32),
    /// The user chose to start a new ledger after it was damaged.
    StartNewLedger(AccountJob),
    /// Find out whether the OS keyring answers (it can block, so not on
    /// the UI thread).
    ProbeKeyring,
    /// Store a password where the account's settings say.
    SavePassword(AccountSettings, Secret<String>),
    /// Forget an account's password everywhere (the account was removed).
    ForgetPassword(String),
    /// Saved settings and a browser sign-in: forget the account's earlier
    /// one (its provider or client changed), then keep this refresh token.
    StoreSignIn {
        settings: Box<AccountSettings>,
        forget_earlier: bool,
        refresh_token: Option<Secret<String>>,
    },
    /// Write the settings file. Saves run one after another, in order.
    SaveSettings(Box<crate::settings::Settings>, std::path::PathBuf),
    /// Read the settings file; answered by `Event::SettingsLoaded`. On the
    /// same queue as the saves, so a save never overtakes it.
    LoadSettings(std::path::PathBuf),
    /// Bring an account's index of downloaded mail in line with its
    /// Maildir (queued per Maildir, apart from the network jobs).
    SyncIndex(MailHome),
    /// The index was found damaged while reading it: set it aside and
    /// build it again from the Maildir.
    RebuildIndex(MailHome),
    /// Mark messages read or unread, move them to Trash or back.
    ChangeMail(MailHome, Vec<Location>, LocalChange),
    /// Remove the messages in Trash for good.
    EmptyTrash(MailHome),
    /// Stop the job of this queue (an account id, or a `MailHome`'s
    /// queue) and drop its queued ones.
    Cancel(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Check,
    Apply,
    Preview,
    Ledger,
}

#[derive(Debug)]
pub enum Event {
    Started {
        account_id: String,
        kind: JobKind,
    },
    Progress {
        account_id: String,
        progress: Progress,
    },
    Checked {
        account_id: String,
        report: CheckReport,
        at_unix: i64,
    },
    Applied {
        account_id: String,
        report: ApplyReport,
    },
    Preview {
        account_id: String,
        key: String,
        preview: Option<Preview>,
    },
    LedgerReset {
        account_id: String,
    },
    Failed {
        account_id: String,
        kind: JobKind,
        failure: Failure,
    },
    /// The account's job ended (after its result or failure).
    Finished {
        account_id: String,
    },
    /// One line of the protocol conversation, secrets redacted.
    Transcript {
        account_id: String,
        direction: Direction,
        line: String,
    },
    PasswordSaved {
        account_id: String,
        result: Result<(), String>,
    },
    KeyringStatus {
        available: bool,
        detail: String,
    },
    SettingsSaved {
        result: Result<(), String>,
    },
    /// An index sync parsed `done` of `total` new messages.
    IndexProgress {
        account_id: String,
        done: usize,
        total: usize,
    },
    /// The index is in line with the Maildir (or why it could not be).
    MailSynced {
        account_id: String,
        result: Result<MailSynced, UserMessage>,
    },
    /// Messages moved by a `ChangeMail`: where each was and is now.
    MailChanged {
        account_id: String,
        change: LocalChange,
        moved: Vec<(Location, Location)>,
        /// Moved to Trash, and (by the ledger) still on the server.
        still_on_server: Vec<String>,
        problem: Option<UserMessage>,
    },
    TrashEmptied {
        account_id: String,
        result: Result<usize, UserMessage>,
    },
    /// The settings file as read, with notices about what was not
    /// understood; or why it could not be read.
    SettingsLoaded(Box<Result<(crate::settings::Settings, Vec<String>), UserMessage>>),
}

enum Control {
    Request(Box<Request>),
    Done(String),
}

/// The handle the app holds.
pub struct Worker {
    control: Sender<Control>,
    events: Receiver<Event>,
    wake: Wake,
    passwords: Passwords,
}

impl Worker {
    pub fn start(passwords: Passwords, wake: Wake) -> Worker {
        let (control_tx, control_rx) = mpsc::channel();
        let (event_tx, event_rx) = mpsc::channel();
        let dispatcher = Dispatcher {
            passwords: passwords.clone(),
            wake: wake.clone(),
            events: event_tx,
            control: control_tx.clone(),
            busy: HashMap::new(),
            queued: HashMap::new(),
        };
        std::thread::Builder::new()
            .name("letterbox-worker".into())
            .spawn(move || dispatcher.run(control_rx))
            .ok();
        Worker {
            control: control_tx,
            events: event_rx,
            wake,
            passwords,
        }
    }

    pub fn send(&self, request: Request) {
        let _ = self.control.send(Control::Request(Box::new(request)));
    }

    pub fn try_recv(&self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The wake-up call, for one-shot reads (`reading`) that the UI polls.
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// "Test connection": tries an account's settings without saving
    /// them, on a thread of its own (`None`: the stored password).
    pub fn test_connection(
        &self,
        settings: AccountSettings,
        password: Option<Secret<String>>,
    ) -> poll_promise::Promise<Result<ConnectionReport, Failure>> {
        let passwords = self.passwords.clone();
        reading::promise(&self.wake, move || {
            // For a browser sign-in not saved yet, `password` is the
            // access token it brought.
            let password = match password {
                Some(password) => Ok(password),
                None => sign_in_secret(&passwords, &settings, None, &CancelToken::new()),
            };
            password.and_then(
                |password| match crate::accounts::to_account(&settings, password) {
                    Ok(account) => engine::test_connection(&account, Observe::default())
                        .map_err(|e| Failure::from_engine(&e)),
                    Err(problem) => Err(Failure::invalid(problem)),
                },
            )
        })
    }
}

/// Sends events to the UI and wakes it.
#[derive(Clone)]
struct Emitter {
    events: Sender<Event>,
    wake: Wake,
}

impl Emitter {
    fn emit(&self, event: Event) {
        if self.events.send(event).is_ok() {
            (self.wake)();
        }
    }
}

struct Dispatcher {
    passwords: Passwords,
    wake: Wake,
    events: Sender<Event>,
    control: Sender<Control>,
    busy: HashMap<String, CancelToken>,
    queued: HashMap<String, VecDeque<Request>>,
}

impl Dispatcher {
    fn run(mut self, control: Receiver<Control>) {
        for message in control {
            match message {
                Control::Request(request) => self.handle(*request),
                Control::Done(account_id) => {
                    self.busy.remove(&account_id);
                    let next = self
                        .queued
                        .get_mut(&account_id)
                        .and_then(VecDeque::pop_front);
                    if let Some(request) = next {
                        self.spawn(account_id, request);
                    }
                }
            }
        }
    }

    fn handle(&mut self, request: Request) {
        if let Request::Cancel(account_id) = &request {
            // Stopping a Maildir's sync keeps the user's own changes that
            // wait behind it (read marks, Delete, Undo, Empty trash).
            if let Some(queue) = self.queued.get_mut(account_id) {
                queue.retain(|r| matches!(r, Request::ChangeMail(..) | Request::EmptyTrash(_)));
            }
            if let Some(token) = self.busy.get(account_id) {
                token.cancel();
            }
            return;
        }
        match account_of(&request) {
            Some(id) if self.busy.contains_key(&id) => {
                let queue = self.queued.entry(id).or_default();
                // One queued sync brings the index up to date: no need
                // for two.
                let repeated = matches!(request, Request::SyncIndex(_))
                    && queue.iter().any(|r| matches!(r, Request::SyncIndex(_)));
                if !repeated {
                    queue.push_back(request);
                }
            }
            Some(id) => self.spawn(id, request),
            None => self.spawn_free(request),
        }
    }

    fn emitter(&self) -> Emitter {
        Emitter {
            events: self.events.clone(),
            wake: self.wake.clone(),
        }
    }

    fn spawn(&mut self, account_id: String, request: Request) {
        let cancel = CancelToken::new();
        self.busy.insert(account_id.clone(), cancel.clone());
        let emitter = self.emitter();
        let passwords = self.passwords.clone();
        let control = self.control.clone();
        let kind = kind_of(&request).unwrap_or(JobKind::Check);
        if let Some(home) = mail_home_of(&request) {
            let home = home.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("letterbox-{account_id}"))
                .spawn(move || {
                    let job = std::panic::AssertUnwindSafe(|| {
                        reading::run(request, &emitter, &cancel);
                    });
                    if std::panic::catch_unwind(job).is_err() {
                        emitter.emit(Event::MailSynced {
                            account_id: home.account_id.clone(),
                            result: Err(UserMessage::new(
                                "Letterbox ran into an internal problem with the downloaded mail.",
                                "Your messages are safe in their folder; try again.",
                                String::new(),
                            )),
                        });
                    }
                    let _ = control.send(Control::Done(account_id));
                });
            if spawned.is_err() {
                tracing::error!("could not start a worker thread");
            }
            return;
        }
        let spawned = std::thread::Builder::new()
            .name(format!("letterbox-{account_id}"))
            .spawn(move || {
                // A bug in a job must not leave the account busy for good:
                // report it and free the account either way.
                let job = std::panic::AssertUnwindSafe(|| {
                    run_account_job(request, &passwords, &emitter, cancel);
                });
                if std::panic::catch_unwind(job).is_err() {
                    emitter.emit(Event::Failed {
                        account_id: account_id.clone(),
                        kind,
                        failure: Failure::invalid(
                            "Letterbox ran into an internal problem with this account. Nothing was deleted from the server.".into(),
                        ),
                    });
                }
                emitter.emit(Event::Finished {
                    account_id: account_id.clone(),
                });
                let _ = control.send(Control::Done(account_id));
            });
        if spawned.is_err() {
            tracing::error!("could not start a worker thread");
        }
    }

    fn spawn_free(&self, request: Request) {
        let emitter = self.emitter();
        let passwords = self.passwords.clone();
        let _ = std::thread::Builder::new()
            .name("letterbox-task".into())
            .spawn(move || run_free_job(request, &passwords, &emitter));
    }
}

/// The queue that keeps settings saves in order.
const SETTINGS_QUEUE: &str = "settings file";

/// The Maildir a downloaded-mail job works on, if the request is one: those
/// run on the Maildir's own queue (`reading::run`).
fn mail_home_of(request: &Request) -> Option<&MailHome> {
    match request {
        Request::SyncIndex(home)
        | Request::RebuildIndex(home)
        | Request::ChangeMail(home, ..)
        | Request::EmptyTrash(home) => Some(home),
        _ => None,
    }
}

/// What kind of account job a request is, if it is one.
fn kind_of(request: &Request) -> Option<JobKind> {
    match request {
        Request::Check(_) => Some(JobKind::Check),
        Request::Apply(..) => Some(JobKind::Apply),
        Request::Preview(..) => Some(JobKind::Preview),
        Request::StartNewLedger(_) => Some(JobKind::Ledger),
        _ => None,
    }
}

fn account_of(request: &Request) -> Option<String> {
    match request {
        Request::Check(job)
        | Request::Apply(job, _)
        | Request::Preview(job, _, _)
        | Request::StartNewLedger(job) => Some(job.id().to_owned()),
        Request::SyncIndex(home)
        | Request::RebuildIndex(home)
        | Request::ChangeMail(home, ..)
        | Request::EmptyTrash(home) => Some(home.queue()),
        // Not an account, but saves must not overtake each other.
        Request::SaveSettings(..) | Request::LoadSettings(_) => Some(SETTINGS_QUEUE.to_owned()),
        Request::SavePassword(..)
        | Request::ForgetPassword(_)
        | Request::StoreSignIn { .. }
        | Request::ProbeKeyring
        | Request::Cancel(_) => None,
    }
}

fn observe(account_id: &str, emitter: &Emitter, cancel: &CancelToken) -> Observe {
    let emitter = emitter.clone();
    let account_id = account_id.to_owned();
    Observe {
        transcript: Some(Box::new(move |direction, line| {
            emitter.emit(Event::Transcript {
                account_id: account_id.clone(),
                direction,
                line: line.to_owned(),
            });
        })),
        cancel: Some(cancel.clone()),
    }
}

fn run_account_job(
    request: Request,
    passwords: &Passwords,
    emitter: &Emitter,
    cancel: CancelToken,
) {
    if let Request::SaveSettings(settings, path) = &request {
        let result = settings
            .save(path)
            .map_err(|e| e.user_message().sentences());
        emitter.emit(Event::SettingsSaved { result });
        return;
    }
    if let Request::LoadSettings(path) = &request {
        let result = crate::settings::Settings::load(path).map_err(|e| e.user_message());
        emitter.emit(Event::SettingsLoaded(Box::new(result)));
        return;
    }
    let (job, kind) = match (&request, kind_of(&request)) {
        (
            Request::Check(job)
            | Request::Apply(job, _)
            | Request::Preview(job, _, _)
            | Request::StartNewLedger(job),
            Some(kind),
        ) => (job, kind),
        _ => return,
    };
    let account_id = job.id().to_owned();
    emitter.emit(Event::Started {
        account_id: account_id.clone(),
        kind,
    });
    // A refusal is told in the words of the account's provider.
    let settings = job.settings.clone();
    let fail = |failure: Failure| {
        emitter.emit(Event::Failed {
            account_id: account_id.clone(),
            kind,
            failure: failure.for_account(&settings),
        });
    };
    if kind == JobKind::Ledger {
        match job.store.open_starting_over() {
            Ok(_) => emitter.emit(Event::LedgerReset {
                account_id: account_id.clone(),
            }),
            Err(e) => fail(Failure::from_engine(&e.into())),
        }
        return;
    }
    let progress_emitter = emitter.clone();
    let progress_id = account_id.clone();
    let mut progress = move |progress: Progress| {
        progress_emitter.emit(Event::Progress {
            account_id: progress_id.clone(),
            progress,
        });
    };
    // A browser sign-in's access token may be refused before its time
    // (revoked, or the server's clock differs): then it is renewed from
    // the refresh token once, and the job tried again.
    let browser_sign_in = job.settings.oauth.is_some();
    let mut refused: Option<Secret<String>> = None;
    let result = loop {
        let secret = match sign_in_secret(passwords, &job.settings, refused.as_ref(), &cancel) {
            Ok(secret) => secret,
            Err(failure) => return fail(failure),
        };
        let account = match crate::accounts::to_account(&job.settings, secret.clone()) {
            Ok(account) => account,
            Err(problem) => return fail(Failure::invalid(problem)),
        };
        let observe = observe(&account_id, emitter, &cancel);
        let result = run_job(
            &request,
            &account,
            &account_id,
            emitter,
            observe,
            &mut progress,
        );
        let turned_down = matches!(
            &result,
            Err(engine::Error::Net(crate::net::Error::AuthFailed { .. }))
        );
        if browser_sign_in && turned_down && refused.is_none() && !cancel.is_cancelled() {
            refused = Some(secret);
            continue;
        }
        break result;
    };
    if let Err(error) = result {
        let mut failure = Failure::from_engine(&error);
        // Cancel closes the socket, and whatever the connection was doing
        // then fails with it (a TLS handshake reads "unexpected EOF"): that
        // is the user's Cancel, not a problem with the settings.
        if cancel.is_cancelled() {
            failure.cancelled = true;
            failure.needs_password = false;
            failure.certificate = None;
        }
        fail(failure);
    }
}

/// One account job's work, on an account signed in with `account`.
fn run_job(
    request: &Request,
    account: &crate::engine::Account,
    account_id: &str,
    emitter: &Emitter,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), engine::Error> {
    let account_id = account_id.to_owned();
    match request {
        Request::Check(job) => (|| {
            let mut store = job.store.open()?;
            // "Remove from the server after N days" happens in the same
            // session, and only for mail safe at home.
            let options = CheckOptions {
                preview_lines: job.preview_lines,
                expire_after_days: job.settings.delete_after_days,
                retr_preview_max_bytes: job.retr_preview_max_bytes,
            };
            let mut report = engine::check(account, Some(&mut store), &options, observe, progress)?;
            let expired = report.expired.take();
            emitter.emit(Event::Checked {
                account_id: account_id.clone(),
                report,
                at_unix: now_unix(),
            });
            if let Some(report) = expired {
                emitter.emit(Event::Applied {
                    account_id: account_id.clone(),
                    report,
                });
            }
            Ok(())
        })(),
        Request::Apply(job, plan) => (|| {
            let mut store = job.store.open()?;
            let report = engine::apply(account, &mut store, plan, observe, progress)?;
            emitter.emit(Event::Applied {
                account_id: account_id.clone(),
                report,
            });
            Ok(())
        })(),
        Request::Preview(job, key, lines) => {
            let retr_max_bytes = job.retr_preview_max_bytes;
            engine::preview(account, key, *lines, retr_max_bytes, observe).map(|preview| {
                emitter.emit(Event::Preview {
                    account_id: account_id.clone(),
                    key: key.clone(),
                    preview,
                });
            })
        }
        _ => Ok(()),
    }
}

fn run_free_job(request: Request, passwords: &Passwords, emitter: &Emitter) {
    match request {
        Request::ProbeKeyring => {
            let (available, detail) = match passwords.keyring_available() {
                Ok(()) => (true, String::new()),
                Err(e) => (false, e.to_string()),
            };
            emitter.emit(Event::KeyringStatus { available, detail });
        }
        Request::ForgetPassword(account_id) => passwords.forget(&account_id),
        Request::StoreSignIn {
            settings,
            forget_earlier,
            refresh_token,
        } => {
            if forget_earlier {
                passwords.forget_refresh_token(&settings.id);
            }
            if let Some(token) = refresh_token
                && let Err(e) = passwords.set_refresh_token(&settings, &token)
            {
                // Kept for this session all the same (`set_refresh_token`).
                emitter.emit(Event::PasswordSaved {
                    account_id: settings.id.clone(),
                    result: Err(e.to_string()),
                });
            }
        }
        Request::SavePassword(settings, password) => {
            let result = passwords
                .set(&settings, &password)
                .map_err(|e| e.to_string());
            emitter.emit(Event::PasswordSaved {
                account_id: settings.id.clone(),
                result,
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
