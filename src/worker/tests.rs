//! Unit tests of the worker: a missing password, and a job that panics.

use super::*;
use crate::settings::secrets::MemoryStore;
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
