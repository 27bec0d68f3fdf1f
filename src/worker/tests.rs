//! Unit tests of the worker: a missing password, and a job that panics.

use super::*;
use crate::settings::secrets::{MemoryStore, SecretError};
use std::time::Duration;

#[test]
fn missing_password_is_reported_and_the_account_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = Passwords::new(Arc::new(MemoryStore::default()), dir.path().join("p.toml"));
    let wakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = wakes.clone();
    let worker = Worker::start(
        passwords,
        Arc::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }),
    );
    let mut settings = AccountSettings::new("a1");
    settings.host = "127.0.0.1".into();
    settings.username = "u".into();
    let job = AccountJob {
        settings,
        store: crate::store::StorePaths::in_dir(dir.path()).into(),
        preview_lines: 5,
        retr_preview_max_bytes: 1_000_000,
    };
    worker.send(Request::Check(job.clone()));
    worker.send(Request::Check(job));
    let mut failures = 0;
    let mut finished = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while finished < 2 && std::time::Instant::now() < deadline {
        match worker.try_recv() {
            Some(Event::Failed { failure, .. }) => {
                assert!(failure.needs_password);
                failures += 1;
            }
            Some(Event::Finished { .. }) => finished += 1,
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!(
        (failures, finished),
        (2, 2),
        "the queued second job ran after the first"
    );
    assert!(
        wakes.load(std::sync::atomic::Ordering::SeqCst) >= 6,
        "every event wakes the UI"
    );
}

/// A keyring whose every call panics: stands in for a bug anywhere in
/// a job.
struct PanickingKeyring;

impl crate::settings::secrets::SecretStore for PanickingKeyring {
    fn get(&self, _: &str) -> Result<Option<Secret<String>>, SecretError> {
        panic!("a bug in a job");
    }
    fn set(&self, _: &str, _: &Secret<String>) -> Result<(), SecretError> {
        panic!("a bug in a job");
    }
    fn delete(&self, _: &str) -> Result<(), SecretError> {
        panic!("a bug in a job");
    }
}

#[test]
fn a_panicking_job_is_reported_and_frees_its_account() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = Passwords::new(Arc::new(PanickingKeyring), dir.path().join("p.toml"));
    let worker = Worker::start(passwords, Arc::new(|| {}));
    let mut settings = AccountSettings::new("a1");
    settings.host = "127.0.0.1".into();
    settings.username = "u".into();
    let job = AccountJob {
        settings,
        store: crate::store::StorePaths::in_dir(dir.path()).into(),
        preview_lines: 5,
        retr_preview_max_bytes: 1_000_000,
    };
    // Two jobs for one account: the second runs only if the first,
    // which panics, freed the account.
    worker.send(Request::Check(job.clone()));
    worker.send(Request::Check(job));
    let mut internal = 0;
    let mut finished = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while finished < 2 && std::time::Instant::now() < deadline {
        match worker.try_recv() {
            Some(Event::Failed { failure, .. }) => {
                assert!(
                    failure.message.headline.contains("internal problem"),
                    "{:?}",
                    failure.message
                );
                assert!(failure.message.sentences().contains("Nothing was deleted"));
                internal += 1;
            }
            Some(Event::Finished { account_id }) => {
                assert_eq!(account_id, "a1");
                finished += 1;
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert_eq!((internal, finished), (2, 2));
}

/// A Maildir with `count` messages in `new/`, in a store folder.
fn mail_home(dir: &std::path::Path, count: usize) -> MailHome {
    let paths = crate::store::StorePaths::in_dir(dir);
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(paths.maildir.join(sub)).unwrap();
    }
    for i in 0..count {
        std::fs::write(
            paths.maildir.join("new").join(format!("{i}.m")),
            format!("Subject: message {i}\r\n\r\nbody {i}\r\n"),
        )
        .unwrap();
    }
    MailHome {
        account_id: "a1".into(),
        paths,
    }
}

fn worker() -> Worker {
    let dir = tempfile::tempdir().unwrap();
    let passwords = Passwords::new(Arc::new(MemoryStore::default()), dir.path().join("p.toml"));
    Worker::start(passwords, Arc::new(|| {}))
}

/// Events until `done` says the one awaited came.
fn until(worker: &Worker, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        match worker.try_recv() {
            Some(event) => {
                let last = done(&event);
                seen.push(event);
                if last {
                    return seen;
                }
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("timed out; events: {seen:?}");
}

#[test]
fn every_downloaded_mail_job_runs_on_its_maildirs_queue() {
    let dir = tempfile::tempdir().unwrap();
    let home = mail_home(dir.path(), 3);
    for request in [
        Request::SyncIndex(home.clone()),
        Request::RebuildIndex(home.clone()),
        Request::ChangeMail(home.clone(), Vec::new(), LocalChange::Read),
        Request::EmptyTrash(home.clone()),
    ] {
        assert!(mail_home_of(&request).is_some(), "{request:?}");
        assert_eq!(account_of(&request).as_deref(), Some("mail:a1"));
    }
}

#[test]
fn a_damaged_index_found_by_a_reader_is_rebuilt_by_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let home = mail_home(dir.path(), 3);
    std::fs::write(
        home.paths.index_file(),
        b"not a database at all ".repeat(300),
    )
    .unwrap();
    let worker = worker();
    worker.send(Request::RebuildIndex(home.clone()));
    let events = until(&worker, |e| matches!(e, Event::MailSynced { .. }));
    let Some(Event::MailSynced { result, .. }) = events.last() else {
        unreachable!()
    };
    let synced = result.as_ref().expect("rebuilt");
    assert_eq!(synced.report.indexed, 3);
    assert_eq!(synced.counts.messages, 3);
}

#[test]
fn a_change_finds_a_message_that_moved_since_the_list_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let home = mail_home(dir.path(), 1);
    let local = home.local();
    let listed = local.find("0.m").unwrap().unwrap();
    // Read meanwhile (by the pane, or another program).
    let read = local.set_seen(&listed, true).unwrap();
    let worker = worker();
    worker.send(Request::ChangeMail(
        home.clone(),
        vec![listed],
        LocalChange::Trash,
    ));
    let events = until(&worker, |e| matches!(e, Event::MailChanged { .. }));
    let Some(Event::MailChanged { moved, problem, .. }) = events.last() else {
        unreachable!()
    };
    assert!(problem.is_none(), "{problem:?}");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].0, read);
    assert!(moved[0].1.trashed);
    // Deleting what is already in Trash moves nothing.
    worker.send(Request::ChangeMail(
        home,
        vec![moved[0].1.clone()],
        LocalChange::Trash,
    ));
    let events = until(&worker, |e| matches!(e, Event::MailChanged { .. }));
    let Some(Event::MailChanged { moved, .. }) = events.last() else {
        unreachable!()
    };
    assert!(moved.is_empty());
}

#[test]
fn stopping_a_sync_keeps_the_changes_waiting_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = mail_home(dir.path(), 2000);
    let worker = worker();
    worker.send(Request::SyncIndex(home.clone()));
    let first = home.local().find("0.m").unwrap().unwrap();
    worker.send(Request::ChangeMail(
        home.clone(),
        vec![first],
        LocalChange::Trash,
    ));
    worker.send(Request::Cancel(home.queue()));
    let events = until(&worker, |e| matches!(e, Event::MailChanged { .. }));
    let Some(Event::MailChanged { moved, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(moved.len(), 1, "the Delete still happened");
}

#[test]
fn a_refused_password_at_a_provider_that_wants_an_app_password_says_so() {
    let refused = engine::Error::Net(crate::net::Error::AuthFailed {
        method: crate::pop3::AuthMethod::Plain,
        code: Some(crate::pop3::RespCode::Auth),
        text: "invalid credentials".into(),
    });
    let mut account = crate::settings::AccountSettings::new("a");
    account.host = "pop.mail.yahoo.com".into();
    let failure = Failure::from_engine(&refused).for_account(&account);
    assert_eq!(
        failure.message.headline,
        "Yahoo Mail refused the password: this provider needs an app password."
    );
    assert!(failure.message.next_step.contains("Generate app password"));
    assert!(failure.needs_password);
    // Microsoft: passwords are refused whatever they are.
    account.host = "outlook.office365.com".into();
    let failure = Failure::from_engine(&refused).for_account(&account);
    assert!(
        failure
            .message
            .next_step
            .contains("only through Microsoft's own sign-in page"),
        "{:?}",
        failure.message
    );
    // Signed in through the browser: no password box, the way back is a
    // new sign-in.
    account.oauth = Some(crate::settings::OAuthSettings::for_provider(
        &crate::settings::presets::MICROSOFT,
    ));
    account.username = "me@outlook.com".into();
    let failure = Failure::from_engine(&refused).for_account(&account);
    assert!(!failure.needs_password);
    assert!(failure.sign_in_again);
    assert_eq!(
        failure.message.headline,
        "The mail server refused your Microsoft sign-in."
    );
    assert!(failure.message.next_step.contains("me@outlook.com"));
    account.oauth = None;
    // Elsewhere, and for other failures, the usual words.
    account.host = "pop.example.org".into();
    let usual = Failure::from_engine(&refused);
    assert_eq!(
        Failure::from_engine(&refused)
            .for_account(&account)
            .message
            .headline,
        usual.message.headline
    );
    account.host = "pop.mail.yahoo.com".into();
    let timeout = engine::Error::Net(crate::net::Error::Timeout {
        after: std::time::Duration::from_secs(60),
    });
    assert_eq!(
        Failure::from_engine(&timeout)
            .for_account(&account)
            .message
            .headline,
        Failure::from_engine(&timeout).message.headline
    );
}
