//! The background worker as the app uses it: jobs of different accounts
//! run at the same time, a cancel ends a stalled job at once and without
//! QUIT, and one account's jobs never overlap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use letterbox::pop3::Secret;
use letterbox::pop3::Security;
use letterbox::settings::AccountSettings;
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::store::StorePaths;
use letterbox::worker::{AccountJob, Event, Request, Worker};

use crate::support::pop3_server::{Action, Fault, MailServer, ServerConfig, sample_mailbox};

struct Setup {
    worker: Worker,
    dir: tempfile::TempDir,
}

fn setup(accounts: &[(&str, u16)]) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let passwords = Passwords::new(
        Arc::new(MemoryStore::default()),
        dir.path().join("passwords.toml"),
    );
    for (id, _) in accounts {
        passwords
            .set_for_session(id, &Secret::new("secret".into()))
            .expect("session password");
    }
    Setup {
        worker: Worker::start(passwords, Arc::new(|| {})),
        dir,
    }
}

fn job(setup: &Setup, id: &str, port: u16) -> AccountJob {
    let mut settings = AccountSettings::new(id);
    settings.host = "127.0.0.1".into();
    settings.port = port;
    settings.security = Security::None;
    settings.allow_plaintext = true;
    settings.username = "alice".into();
    AccountJob {
        settings,
        store: StorePaths::in_dir(&setup.dir.path().join(id)).into(),
        preview_lines: 3,
        retr_preview_max_bytes: 1_000_000,
    }
}

/// Events until `done` says stop, or the deadline.
fn events_until(
    worker: &Worker,
    limit: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match worker.try_recv() {
            Some(event) => {
                let stop = done(&event);
                seen.push(event);
                if stop {
                    return seen;
                }
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("timed out; events so far: {}", seen.len());
}

#[test]
fn two_accounts_check_at_the_same_time() {
    // Each server answers its first command after login only after a
    // second: run one after the other, the two checks would take two.
    let slow = || ServerConfig {
        answer_delay: Some(Duration::from_millis(1000)),
        ..ServerConfig::default()
    };
    let a = MailServer::start(slow(), sample_mailbox(2));
    let b = MailServer::start(slow(), sample_mailbox(3));
    let setup = setup(&[("a", a.port()), ("b", b.port())]);
    let started = Instant::now();
    setup
        .worker
        .send(Request::Check(job(&setup, "a", a.port())));
    setup
        .worker
        .send(Request::Check(job(&setup, "b", b.port())));
    let mut events = Vec::new();
    events_until(&setup.worker, Duration::from_secs(20), |e| {
        events.push(format!("{e:?}"));
        events.len() > 1 && events.iter().filter(|e| e.starts_with("Finished")).count() == 2
    });
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_millis(1900),
        "ran in parallel: {elapsed:?}"
    );
    let checked: Vec<&String> = events.iter().filter(|e| e.starts_with("Checked")).collect();
    assert_eq!(checked.len(), 2, "{events:?}");
}

#[test]
fn cancel_ends_a_stalled_check_at_once_without_quit() {
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "UIDL",
            1,
            Action::Stall(Duration::from_secs(30)),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(2));
    let setup = setup(&[("a", server.port())]);
    setup
        .worker
        .send(Request::Check(job(&setup, "a", server.port())));
    // Wait until the session is stuck in UIDL, then cancel.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server
        .sessions()
        .first()
        .is_none_or(|s| s.commands_with("UIDL").is_empty())
    {
        assert!(Instant::now() < deadline, "the check never reached UIDL");
        std::thread::sleep(Duration::from_millis(10));
    }
    let cancelled_at = Instant::now();
    setup.worker.send(Request::Cancel("a".into()));
    let events = events_until(&setup.worker, Duration::from_secs(10), |e| {
        matches!(e, Event::Finished { .. })
    });
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(3),
        "cancel took {:?}",
        cancelled_at.elapsed()
    );
    let failure = events.iter().find_map(|e| match e {
        Event::Failed { failure, .. } => Some(failure),
        _ => None,
    });
    assert!(
        failure.is_some_and(|f| f.cancelled),
        "reported as cancelled: {events:?}"
    );
    // The server is still stalled; the client has gone without QUIT.
    let session = &server.sessions()[0];
    assert!(!session.quit_received, "a cancelled session sends no QUIT");
    assert!(session.commands_with("QUIT").is_empty());
}

#[test]
fn one_accounts_jobs_never_overlap() {
    let config = ServerConfig {
        answer_delay: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(2));
    let setup = setup(&[("a", server.port())]);
    for _ in 0..3 {
        setup
            .worker
            .send(Request::Check(job(&setup, "a", server.port())));
    }
    let mut done = 0;
    events_until(&setup.worker, Duration::from_secs(20), |e| {
        done += usize::from(matches!(e, Event::Finished { .. }));
        done == 3
    });
    // The server locks the mailbox per login: overlapping sessions would
    // have met [IN-USE]. All three logged in, one after the other.
    let sessions = server.wait_for_finished(3, Duration::from_secs(5));
    assert_eq!(sessions.len(), 3);
    assert!(sessions.iter().all(|s| s.authenticated && s.quit_received));
}
