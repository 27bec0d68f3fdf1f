//! `letterbox fetch` against the real Dovecot: byte-identical downloads,
//! nothing downloaded twice, `--delete` empties the server, message numbers
//! that shift between sessions, and a real process killed at random moments.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use letterbox::engine::{self, Account, Action, CheckOptions, Plan};
use letterbox::net::{Credentials, Endpoint, Observe, Security};
use letterbox::pop3::{AuthMethod, Secret};
use letterbox::store::{AccountStore, Status, StorePaths};

use crate::support::cli::letterbox;
use crate::support::dovecot::{Dovecot, DovecotUser};

/// A small deterministic generator (no dependency, same mail every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Realistic-enough mail: mostly a few KB, some bigger, with dot lines and
/// 8-bit text, CRLF throughout.
pub fn generate(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Lcg(seed);
    (0..count)
        .map(|i| {
            let lines = match rng.next() % 20 {
                0 => 2000 + rng.next() % 4000,
                1..=3 => 200 + rng.next() % 400,
                _ => 10 + rng.next() % 60,
            };
            let mut m = format!(
                "From: Sender {i} <s{i}@example.org>\r\nTo: user@example.org\r\nSubject: Message {i} =?UTF-8?Q?caf=C3=A9?=\r\nDate: Tue, 24 Nov 2026 12:{:02}:00 +0000\r\nMessage-ID: <{i}.{seed}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
                i % 60
            )
            .into_bytes();
            for l in 0..lines {
                match rng.next() % 25 {
                    0 => m.extend_from_slice(b".\r\n"),
                    1 => m.extend_from_slice(b"..double dot\r\n"),
                    2 => m.extend_from_slice("ünïcödé text ✓\r\n".as_bytes()),
                    _ => m.extend_from_slice(format!("line {l} of message {i}: {}\r\n", rng.next()).as_bytes()),
                }
            }
            m
        })
        .collect()
}

fn account(dc: &Dovecot, user: &DovecotUser) -> Account {
    account_over(dc, user, Security::Tls, dc.tls_port())
}

/// An account for `user` on Dovecot, trusting its certificate.
pub fn account_over(dc: &Dovecot, user: &DovecotUser, security: Security, port: u16) -> Account {
    let mut endpoint = Endpoint::new("localhost", port, security);
    endpoint.trust.extra_ca_pem = Some(std::fs::read(dc.ca_file()).expect("ca file"));
    Account {
        endpoint,
        credentials: Credentials {
            user: user.name().to_owned(),
            secret: Secret::new(dc.password().to_owned()),
            method: AuthMethod::Auto,
            allow_cleartext: false,
            remembered: None,
        },
    }
}

fn fetch_args(dc: &Dovecot, user: &DovecotUser, profile: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "fetch".to_owned(),
        "--url".to_owned(),
        format!("pop3s://{}@localhost:{}", user.name(), dc.tls_port()),
        "--ca-file".to_owned(),
        dc.ca_file().display().to_string(),
        "--profile".to_owned(),
        profile.display().to_string(),
        "--json".to_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_fetch(
    dc: &Dovecot,
    user: &DovecotUser,
    profile: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let args = fetch_args(dc, user, profile, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = letterbox(&args, dc.password());
    run.expect_code(0);
    run.json()
}

fn local_messages(maildir: &Path) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(maildir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            all.push(std::fs::read(entry.path()).expect("read"));
        }
    }
    all.sort();
    all
}

fn maildir_of(json: &serde_json::Value) -> PathBuf {
    PathBuf::from(json["maildir"].as_str().expect("maildir in summary"))
}

#[test]
fn fetch_is_byte_identical_once_and_delete_empties_the_server() {
    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("fetch");
    let mut originals = generate(60, 7);
    user.deliver_many(originals.iter());
    originals.sort();
    let profile = tempfile::tempdir().expect("tempdir");

    let first = run_fetch(dc, &user, profile.path(), &[]);
    assert_eq!(first["downloaded"], 60);
    assert_eq!(first["deleted"], 0);
    let maildir = maildir_of(&first);
    assert_eq!(
        local_messages(&maildir),
        originals,
        "byte-identical to Dovecot's copies"
    );
    assert_eq!(user.server_messages(), originals, "kept on the server");

    let second = run_fetch(dc, &user, profile.path(), &[]);
    assert_eq!(second["downloaded"], 0, "nothing is downloaded twice");
    assert_eq!(second["skipped"], 60);

    user.deliver(b"Subject: late arrival\r\n\r\nnew\r\n");
    let third = run_fetch(dc, &user, profile.path(), &["--delete"]);
    assert_eq!(third["downloaded"], 1);
    assert_eq!(third["deleted"], 61);
    assert_eq!(user.count(), 0, "the server is empty");
    let mut expected = originals.clone();
    expected.push(b"Subject: late arrival\r\n\r\nnew\r\n".to_vec());
    expected.sort();
    assert_eq!(
        local_messages(&maildir),
        expected,
        "the Maildir is complete"
    );
}

#[test]
fn dovecot_message_numbers_shift_between_sessions() {
    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("shift");
    let messages: Vec<Vec<u8>> = (1..=4)
        .map(|i| {
            format!("Subject: number {i}\r\nMessage-ID: <{i}@shift>\r\n\r\nbody {i}\r\n")
                .into_bytes()
        })
        .collect();
    user.deliver_many(messages.iter());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let account = account(dc, &user);
    let mut store = AccountStore::open(&paths).expect("store");
    let report = engine::check(
        &account,
        Some(&mut store),
        &CheckOptions::default(),
        Observe::default(),
        &mut |_| {},
    )
    .expect("check");
    let uid = |i: usize| report.messages[i].key.clone().expect("uid");
    let (second, third, fourth) = (uid(1), uid(2), uid(3));
    drop(store);
    // Another mail program removes message 2.
    assert_eq!(user.remove_file_containing(b"Subject: number 2"), 1);
    let plan = Plan {
        items: vec![
            (third.clone(), Action::Delete),
            (fourth.clone(), Action::DownloadKeep),
            (second.clone(), Action::Delete),
        ],
    };
    let mut store = AccountStore::open(&paths).expect("store");
    let applied =
        engine::apply(&account, &mut store, &plan, Observe::default(), &mut |_| {}).expect("apply");
    assert_eq!(applied.deleted, [third]);
    assert_eq!(applied.downloaded, std::slice::from_ref(&fourth));
    assert_eq!(applied.vanished, [second]);
    let left: Vec<Vec<u8>> = user.server_messages();
    assert_eq!(left, [messages[0].clone(), messages[3].clone()]);
    assert_eq!(local_messages(&paths.maildir), [messages[3].clone()]);
    assert_eq!(
        store.ledger.get(&fourth).map(|e| e.status),
        Some(Status::Downloaded)
    );
}

/// Checks the promise between two kills: nothing lost, nothing twice, and
/// the ledger (settled as the next run would) agrees with the Maildir.
fn check_invariant(
    originals: &BTreeSet<Vec<u8>>,
    user: &DovecotUser,
    paths: &StorePaths,
) -> Result<(), String> {
    let server: BTreeSet<Vec<u8>> = user.server_messages().into_iter().collect();
    let local = local_messages(&paths.maildir);
    let local_set: BTreeSet<Vec<u8>> = local.iter().cloned().collect();
    if local_set.len() != local.len() {
        return Err("a message is in the Maildir twice".into());
    }
    if let Some(stranger) = local_set.iter().find(|m| !originals.contains(*m)) {
        return Err(format!(
            "a local file matches no message ({} bytes)",
            stranger.len()
        ));
    }
    let lost = originals
        .iter()
        .filter(|m| !server.contains(*m) && !local_set.contains(*m))
        .count();
    if lost > 0 {
        return Err(format!("{lost} messages lost"));
    }
    let store = AccountStore::open(paths).map_err(|e| e.to_string())?;
    let downloaded = store
        .ledger
        .entries()
        .filter(|(_, e)| e.is_downloaded())
        .count();
    if downloaded != local.len() {
        return Err(format!(
            "ledger says {downloaded} downloaded, Maildir holds {}",
            local.len()
        ));
    }
    Ok(())
}

#[test]
fn killed_at_random_moments_nothing_is_lost_or_doubled() {
    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("kill");
    let messages = generate(400, 42);
    user.deliver_many(messages.iter());
    let originals: BTreeSet<Vec<u8>> = messages.iter().cloned().collect();
    let profile = tempfile::tempdir().expect("tempdir");
    let store =
        letterbox::accounts::stores::MailboxId::new(user.name(), "localhost", dc.tls_port());
    let paths = StorePaths::in_dir(&profile.path().join(store.folder_name()));
    let no_settings = tempfile::tempdir().expect("tempdir");
    let args = fetch_args(dc, &user, profile.path(), &["--delete"]);

    let mut rng = Lcg(2026);
    let mut kills = 0;
    let mut finished = false;
    for round in 0..30 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_letterbox"))
            .args(&args)
            .env("LETTERBOX_PASSWORD", dc.password())
            .env("LETTERBOX_CONFIG_DIR", no_settings.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start letterbox");
        // Mostly early kills (connecting, listing, the first downloads), some late.
        let delay = Duration::from_millis(rng.next() % if round % 3 == 0 { 150 } else { 40 });
        let started = Instant::now();
        while started.elapsed() < delay {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let done = child.try_wait().expect("wait");
        if done.is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        child.wait().expect("reap");
        // Dovecot finishes the killed session on its own; give it a moment.
        let mut result = Err(String::new());
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(150));
            result = check_invariant(&originals, &user, &paths);
            if result.is_ok() {
                break;
            }
        }
        if let Err(problem) = result {
            panic!("round {round} (after {kills} kills, delay {delay:?}): {problem}");
        }
        if done.is_some_and(|status| status.success()) && user.count() == 0 {
            finished = true;
            break;
        }
    }
    eprintln!("{kills} kills landed");
    assert!(
        kills >= 8,
        "only {kills} kills landed: the test proves little"
    );
    if !finished {
        run_fetch(dc, &user, profile.path(), &["--delete"]);
    }
    assert_eq!(user.count(), 0, "the server is empty in the end");
    let local: BTreeSet<Vec<u8>> = local_messages(&paths.maildir).into_iter().collect();
    assert_eq!(local, originals, "every message is at home exactly once");
    check_invariant(&originals, &user, &paths).expect("final state");
}
