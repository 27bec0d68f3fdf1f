//! Carrying out the user's decisions in one session. The order is what
//! makes it safe:
//!
//! 1. list the mailbox and match every planned key to this session's
//!    message number (a key that vanished is reported, never guessed);
//! 2. record every planned download as `Saving` under its future file name;
//! 3. RETR, size-check, fsync and rename each message into the Maildir;
//! 4. sync `new/` and record the downloads as `Downloaded`;
//! 5. DELE only what is now safe (or what the user chose to delete unread);
//! 6. QUIT — the server commits the deletions — and record them.
//!
//! Anything that fails before step 6 drops the connection without QUIT, so
//! the server deletes nothing; whatever was already saved stays recorded,
//! so nothing is downloaded twice.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::net::{self, Client, Credentials, Mailbox, Observe, Outcome, RespCode, Transport};
use crate::pop3::AuthMethod;
use crate::store::{AccountStore, Entry, Status, now_unix};

use super::check::record_listing;
use super::download::{Fate, Target, download_all};
use super::listing::{Listing, list};
use super::{Account, Error, Progress};

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Download it and leave it on the server.
    DownloadKeep,
    /// Download it, then delete it on the server once the copy is safe.
    /// For a message already downloaded: just the deletion.
    DownloadDelete,
    /// Leave it on the server and stop calling it new.
    Keep,
    /// Delete it on the server without downloading it.
    Delete,
}

/// The user's decisions, by message key (UIDL).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub items: Vec<(String, Action)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Downloaded in this session.
    pub downloaded: Vec<String>,
    /// Asked to download, but already safe at home: not downloaded again.
    pub already_downloaded: Vec<String>,
    pub deleted: Vec<String>,
    pub kept: Vec<String>,
    /// Bytes downloaded in this session.
    pub bytes: u64,
    /// In the plan but no longer on the server (another program removed
    /// them), or not identifiable there.
    pub vanished: Vec<String>,
    /// Could not be downloaded or deleted, with the reason.
    pub failed: Vec<(String, String)>,
    /// A deletion that was not sent because the message is not safe at home.
    pub not_deleted: Vec<(String, String)>,
    /// On the server and not in the plan.
    pub untouched: usize,
    /// UIDL lines the server sent that could not be used: those messages
    /// are left alone (shortened, control characters escaped).
    pub unidentifiable: Vec<String>,
    /// Messages the server listed in this session.
    pub listed: usize,
}

/// What `fetch` downloads and deletes.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchPolicy {
    /// Delete downloaded messages on the server (once safe at home).
    pub delete: bool,
    /// Also download messages the user chose to keep on the server earlier.
    pub all: bool,
}

impl FetchPolicy {
    fn plan(self, listing: &Listing, store: &AccountStore) -> Plan {
        let mut items = Vec::new();
        for key in listing.keys() {
            if listing.ambiguous.contains(key) {
                continue;
            }
            let status = store.ledger.get(key).map_or(Status::New, |e| e.status);
            let download = if self.delete {
                Action::DownloadDelete
            } else {
                Action::DownloadKeep
            };
            let action = match status {
                Status::New | Status::Saving => Some(download),
                Status::Kept if self.all => Some(download),
                Status::Downloaded if self.delete => Some(Action::DownloadDelete),
                Status::Kept | Status::Downloaded => None,
            };
            if let Some(action) = action {
                items.push((key.to_owned(), action));
            }
        }
        Plan { items }
    }
}

/// Carries out `plan` in one session.
pub fn apply(
    account: &Account,
    store: &mut AccountStore,
    plan: &Plan,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<ApplyReport, Error> {
    let (mailbox, listing) = open_and_list(account, store, observe, progress)?;
    apply_in_session(mailbox, store, &listing, plan, progress)
}

/// Connects, logs in and lists the mailbox: the start of every session
/// that changes something.
fn open_and_list(
    account: &Account,
    store: &mut AccountStore,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Mailbox<crate::net::Stream>, Listing), Error> {
    let mut mailbox = connect_and_login(account, observe, Some(store), progress)?;
    let listing = list(&mut mailbox, 0)?;
    Ok((mailbox, listing))
}

/// Connects and logs in (see `login_with_reconnect`).
pub(crate) fn connect_and_login(
    account: &Account,
    observe: Observe,
    store: Option<&mut AccountStore>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Mailbox<crate::net::Stream>, Error> {
    progress(Progress::Connecting);
    let client = Client::connect(&account.endpoint, observe)?;
    let mailbox = login_with_reconnect(account, client, store)?;
    progress(Progress::LoggedIn);
    Ok(mailbox)
}

/// Logs in. When the automatic sign-in falls back after the server hung
/// up on a refused APOP or CRAM-MD5, it connects again and goes on with
/// the next method.
pub(crate) fn login_with_reconnect(
    account: &Account,
    mut client: Client<crate::net::Stream>,
    mut store: Option<&mut AccountStore>,
) -> Result<Mailbox<crate::net::Stream>, Error> {
    let mut refused: Vec<AuthMethod> = Vec::new();
    loop {
        match login_after(client, &account.credentials, store.as_deref_mut(), &refused) {
            Ok(mailbox) => return Ok(mailbox),
            // Each round refuses at least one more method, so this ends.
            Err(LoginFailure::Reconnect {
                refused: now_refused,
                observe,
            }) if now_refused.len() > refused.len() => {
                refused = now_refused;
                client = Client::connect(&account.endpoint, observe)?;
            }
            Err(LoginFailure::Reconnect { refused, .. }) => {
                return Err(net::Error::AuthFallbackNeedsReconnect { refused }.into());
            }
            Err(LoginFailure::Error(e)) => return Err(e),
        }
    }
}

pub(crate) enum LoginFailure {
    Error(Error),
    /// Try again on a new connection, without these methods.
    Reconnect {
        refused: Vec<AuthMethod>,
        observe: Observe,
    },
}

/// Downloads what the policy says, in one session (`letterbox fetch`).
pub fn fetch(
    account: &Account,
    store: &mut AccountStore,
    policy: FetchPolicy,
    observe: Observe,
    progress: &mut dyn FnMut(Progress),
) -> Result<ApplyReport, Error> {
    let (mailbox, listing) = open_and_list(account, store, observe, progress)?;
    record_listing(store, &listing, now_unix())?;
    let plan = policy.plan(&listing, store);
    apply_in_session(mailbox, store, &listing, &plan, progress)
}

/// "Leave on server, remove after N days": downloaded messages, safe at
/// home, that have waited on the server longer than `days`.
pub fn expired_plan(store: &AccountStore, now: i64, days: u32) -> Plan {
    let limit = now - i64::from(days) * 86_400;
    let items = store
        .ledger
        .entries()
        .filter(|(_, e)| e.is_downloaded() && e.on_server && !e.size_mismatch)
        .filter(|(_, e)| e.downloaded_unix.unwrap_or(e.first_seen_unix) <= limit)
        .map(|(k, _)| (k.to_owned(), Action::DownloadDelete))
        .collect();
    Plan { items }
}

/// Logs in over one connection and remembers the login (the server's
/// LOGIN-DELAY, and the method that worked).
pub(crate) fn login<T: Transport>(
    client: Client<T>,
    credentials: &Credentials,
    store: Option<&mut AccountStore>,
) -> Result<Mailbox<T>, Error> {
    login_after(client, credentials, store, &[]).map_err(|failure| match failure {
        LoginFailure::Error(e) => e,
        LoginFailure::Reconnect { refused, .. } => {
            net::Error::AuthFallbackNeedsReconnect { refused }.into()
        }
    })
}

fn login_after<T: Transport>(
    client: Client<T>,
    credentials: &Credentials,
    store: Option<&mut AccountStore>,
    refused: &[AuthMethod],
) -> Result<Mailbox<T>, LoginFailure> {
    let delay = client
        .info()
        .capabilities
        .as_ref()
        .and_then(|c| c.login_delay_secs);
    let mut credentials = credentials.clone();
    if credentials.method == AuthMethod::Auto {
        credentials.remembered = store
            .as_deref()
            .and_then(|s| s.ledger.login().auth_method.as_deref())
            .and_then(AuthMethod::from_name);
    }
    // The client is consumed by the attempt; keep a way back to the
    // observer in case a new connection is needed.
    let (result, observe) = client.login_keeping_observe(&credentials, refused);
    if let Some(store) = store {
        let record = store.ledger.login_mut();
        match &result {
            Ok(mailbox) => {
                record.last_login_unix = Some(now_unix());
                if credentials.method == AuthMethod::Auto {
                    record.auth_method = Some(mailbox.method().to_string());
                }
                record.login_delay_secs = mailbox
                    .info()
                    .capabilities
                    .as_ref()
                    .and_then(|c| c.login_delay_secs)
                    .or(delay);
            }
            Err(e) if e.resp_code() == Some(&RespCode::LoginDelay) => {
                // Remember that the server wants us to wait, even if it did
                // not say for how long.
                record.login_delay_secs = record.login_delay_secs.or(delay).or(Some(300));
                let _ = store.ledger.save();
            }
            Err(_) => {}
        }
    }
    match result {
        Ok(mailbox) => Ok(mailbox),
        Err(net::Error::AuthFallbackNeedsReconnect { refused }) => match observe {
            Some(observe) => Err(LoginFailure::Reconnect { refused, observe }),
            None => Err(LoginFailure::Error(
                net::Error::AuthFallbackNeedsReconnect { refused }.into(),
            )),
        },
        Err(e) => Err(LoginFailure::Error(e.into())),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeleteWhen {
    /// The user chose to delete it without downloading.
    Always,
    /// Only once a complete copy is safe at home.
    IfSafe,
}

pub(crate) fn apply_in_session<T: Transport>(
    mut mailbox: Mailbox<T>,
    store: &mut AccountStore,
    listing: &Listing,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress),
) -> Result<ApplyReport, Error> {
    let now = now_unix();
    record_listing(store, listing, now)?;
    let mut report = ApplyReport::default();
    let mut downloads: Vec<Target> = Vec::new();
    let mut deletes = Vec::new();
    // What a download replaced, to restore if it does not happen (a message
    // kept on the server stays kept).
    let mut previous = std::collections::HashMap::new();
    let mut planned = HashSet::new();
    for (key, action) in &plan.items {
        if !planned.insert(key.as_str()) {
            continue; // the first decision about a message wins
        }
        let Some(listed) = listing.find(key) else {
            if listing.ambiguous.contains(key) {
                report.failed.push((
                    key.clone(),
                    "another message on the server has the same identity".into(),
                ));
            } else {
                report.vanished.push(key.clone());
            }
            continue;
        };
        let Some(entry) = store.ledger.get_mut(key) else {
            continue; // record_listing noted every listed key
        };
        match action {
            Action::Keep => {
                if entry.status == Status::New {
                    entry.status = Status::Kept;
                }
                report.kept.push(key.clone());
            }
            Action::Delete => deletes.push((
                key.clone(),
                listed.number,
                listed.size_bytes,
                DeleteWhen::Always,
            )),
            Action::DownloadKeep | Action::DownloadDelete => {
                if entry.is_downloaded() {
                    report.already_downloaded.push(key.clone());
                } else {
                    let name = store.maildir.unique_name(listed.size_bytes);
                    previous.insert(key.clone(), entry.status);
                    entry.status = Status::Saving;
                    entry.file = Some(name.clone());
                    downloads.push(Target {
                        key: key.clone(),
                        number: listed.number,
                        size_bytes: listed.size_bytes,
                        name,
                        // A kept copy is only trusted where nothing is
                        // deleted on its word: a server may have reused
                        // the UIDL for another message of the same size.
                        may_use_copy: *action == Action::DownloadKeep,
                    });
                }
                if *action == Action::DownloadDelete {
                    deletes.push((
                        key.clone(),
                        listed.number,
                        listed.size_bytes,
                        DeleteWhen::IfSafe,
                    ));
                }
            }
        }
    }
    report.listed = listing.messages.len();
    report.unidentifiable = listing.skipped.clone();
    report.untouched = listing.keys().filter(|k| !planned.contains(k)).count()
        + listing.messages.iter().filter(|m| m.key.is_none()).count();
    // Step 2: the names are on disk before any file is, so a crash at any
    // later point can be settled (see `Ledger::reconcile`).
    store.ledger.save()?;

    if !downloads.is_empty() {
        let outcome = download_all(
            &mut mailbox,
            &store.maildir,
            &store.retrieved,
            &downloads,
            progress,
        );
        let any_saved = outcome
            .fates
            .iter()
            .any(|f| matches!(f, Fate::Saved { .. }));
        if any_saved {
            store.maildir.sync_new()?;
        }
        let done = now_unix();
        for (target, fate) in downloads.iter().zip(&outcome.fates) {
            let Some(entry) = store.ledger.get_mut(&target.key) else {
                continue;
            };
            match fate {
                Fate::Saved {
                    bytes,
                    size_mismatch,
                } => {
                    entry.status = Status::Downloaded;
                    entry.downloaded_unix = Some(done);
                    entry.size_mismatch = *size_mismatch;
                    store.retrieved.remove(&target.key);
                    report.downloaded.push(target.key.clone());
                    report.bytes += bytes;
                }
                Fate::Failed(reason) => {
                    entry.status = previous.get(&target.key).copied().unwrap_or(Status::New);
                    entry.file = None;
                    report.failed.push((target.key.clone(), reason.clone()));
                }
                Fate::NotReached => {
                    entry.status = previous.get(&target.key).copied().unwrap_or(Status::New);
                    entry.file = None;
                }
            }
        }
        store.ledger.save()?;
        if let Some(fatal) = outcome.fatal {
            // Dropping the mailbox closes the connection without QUIT.
            return Err(fatal);
        }
        // A server with EXPIRE 0 deletes whatever was retrieved once the
        // session ends with QUIT, saved at home or not.
        let deletes_retrieved = mailbox.info().capabilities.as_ref().and_then(|c| c.expire)
            == Some(crate::pop3::Expire::Days(0));
        if deletes_retrieved && outcome.fates.iter().any(|f| matches!(f, Fate::Failed(_))) {
            return Err(Error::ExpireWouldLose);
        }
    }

    let mut to_delete = Vec::new();
    for (key, number, size_bytes, when) in deletes {
        match deletion_refused(store.ledger.get(&key), size_bytes, when) {
            Some(reason) => report.not_deleted.push((key, reason.into())),
            None => to_delete.push((key, number)),
        }
    }
    let mut marked = Vec::new();
    if !to_delete.is_empty() {
        progress(Progress::Deleting {
            count: to_delete.len() as u32,
        });
        let numbers: Vec<_> = to_delete.iter().map(|(_, n)| *n).collect();
        for ((key, _), outcome) in to_delete.into_iter().zip(mailbox.dele(&numbers)?) {
            match outcome {
                Outcome::Ok { .. } => marked.push(key),
                Outcome::Refused(status) => report.failed.push((
                    key,
                    format!("the server refused to delete it: {}", status.text),
                )),
                Outcome::Failed(error) => report.failed.push((key, error.to_string())),
            }
        }
    }

    // Step 6: everything the deletions depend on is durable.
    let quit = mailbox.quit();
    if quit.is_ok() {
        for key in &marked {
            if let Some(entry) = store.ledger.get_mut(key) {
                entry.on_server = false;
                entry.deleted_on_server = true;
            }
        }
        report.deleted = marked;
    }
    // Without a confirmed QUIT it is unknown whether the server deleted
    // anything; the next listing tells.
    store.ledger.save()?;
    quit?;
    Ok(report)
}

/// Why a deletion may not be sent, if it may not: one the user asked for
/// unread is always sent; one that follows a download only when the copy
/// at home is recorded complete and of the size the server announces now.
/// The size is the last check that the message on the server is the one at
/// home (a server could reuse an identity).
fn deletion_refused(
    entry: Option<&Entry>,
    size_bytes: u64,
    when: DeleteWhen,
) -> Option<&'static str> {
    if when == DeleteWhen::Always {
        return None;
    }
    match entry {
        Some(e) if e.is_downloaded() && !e.size_mismatch && e.size_bytes == size_bytes => None,
        Some(e) if e.size_mismatch || e.size_bytes != size_bytes => {
            Some("its size did not match what the server announced")
        }
        _ => Some("it is not safely downloaded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::listing::Listing;
    use crate::store::StorePaths;

    #[test]
    fn expiry_only_picks_safe_old_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AccountStore::open(&StorePaths::in_dir(dir.path())).unwrap();
        let day = 86_400;
        for (key, status, downloaded, mismatch) in [
            ("old", Status::Downloaded, Some(0), false),
            ("recent", Status::Downloaded, Some(9 * day), false),
            ("kept", Status::Kept, None, false),
            ("odd-size", Status::Downloaded, Some(0), true),
        ] {
            let entry = store.ledger.note_on_server(key, 1, 0);
            entry.status = status;
            entry.downloaded_unix = downloaded;
            entry.size_mismatch = mismatch;
        }
        let gone = store.ledger.note_on_server("gone", 1, 0);
        gone.status = Status::Downloaded;
        gone.on_server = false;
        let plan = expired_plan(&store, 10 * day, 7);
        assert_eq!(plan.items, vec![("old".to_owned(), Action::DownloadDelete)]);
    }

    fn entry(status: Status, size_bytes: u64, size_mismatch: bool) -> Entry {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AccountStore::open(&StorePaths::in_dir(dir.path())).unwrap();
        let entry = store.ledger.note_on_server("k", size_bytes, 0);
        entry.status = status;
        entry.size_mismatch = size_mismatch;
        entry.clone()
    }

    #[test]
    fn a_deletion_after_a_download_needs_a_whole_copy_of_the_same_size() {
        let safe = entry(Status::Downloaded, 100, false);
        assert_eq!(deletion_refused(Some(&safe), 100, DeleteWhen::IfSafe), None);
        // The server now announces another size: maybe another message
        // under a reused identity.
        assert_eq!(
            deletion_refused(Some(&safe), 101, DeleteWhen::IfSafe),
            Some("its size did not match what the server announced")
        );
        let odd = entry(Status::Downloaded, 100, true);
        assert_eq!(
            deletion_refused(Some(&odd), 100, DeleteWhen::IfSafe),
            Some("its size did not match what the server announced")
        );
        for status in [Status::New, Status::Saving, Status::Kept] {
            let not_home = entry(status, 100, false);
            assert_eq!(
                deletion_refused(Some(&not_home), 100, DeleteWhen::IfSafe),
                Some("it is not safely downloaded"),
                "{status:?}"
            );
        }
        assert_eq!(
            deletion_refused(None, 100, DeleteWhen::IfSafe),
            Some("it is not safely downloaded")
        );
        // Deleting unread is the user's explicit choice.
        let unread = entry(Status::New, 100, false);
        assert_eq!(deletion_refused(Some(&unread), 7, DeleteWhen::Always), None);
        assert_eq!(deletion_refused(None, 7, DeleteWhen::Always), None);
    }

    #[test]
    fn fetch_takes_new_mail_and_kept_mail_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = AccountStore::open(&StorePaths::in_dir(dir.path())).unwrap();
        for (key, status) in [
            ("saving", Status::Saving),
            ("kept", Status::Kept),
            ("home", Status::Downloaded),
        ] {
            store.ledger.note_on_server(key, 10, 0).status = status;
        }
        let listing = Listing::of(&[
            (1, Some("unknown"), 10),
            (2, Some("saving"), 10),
            (3, Some("kept"), 10),
            (4, Some("home"), 10),
            (5, Some("twin"), 10),
            (6, Some("twin"), 10),
            (7, None, 10),
        ]);
        let plan = |delete, all| FetchPolicy { delete, all }.plan(&listing, &store).items;
        let keep = Action::DownloadKeep;
        let del = Action::DownloadDelete;
        let owned = |items: &[(&str, Action)]| -> Vec<(String, Action)> {
            items.iter().map(|(k, a)| ((*k).to_owned(), *a)).collect()
        };
        assert_eq!(
            plan(false, false),
            owned(&[("unknown", keep), ("saving", keep)])
        );
        assert_eq!(
            plan(false, true),
            owned(&[("unknown", keep), ("saving", keep), ("kept", keep)])
        );
        // With --delete, what is already home is deleted too (once the
        // apply finds its copy safe), and ambiguous twins never.
        assert_eq!(
            plan(true, false),
            owned(&[("unknown", del), ("saving", del), ("home", del)])
        );
        assert_eq!(
            plan(true, true),
            owned(&[
                ("unknown", del),
                ("saving", del),
                ("kept", del),
                ("home", del)
            ])
        );
    }
}
