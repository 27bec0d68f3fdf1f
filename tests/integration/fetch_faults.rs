//! The promise, under fire: whatever goes wrong, and wherever, every message
//! that was on the server is still there or complete in the Maildir (byte
//! for byte), none is in the Maildir twice, and the ledger agrees with both.
//! A rerun then finishes the job. Faults come from the scriptable server.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use letterbox::engine::{self, Account, Action, ApplyReport, FetchPolicy, Plan};
use letterbox::explain::Explain as _;
use letterbox::net::{Credentials, Endpoint, Observe, Security};
use letterbox::pop3::{AuthMethod, Secret};
use letterbox::store::{AccountStore, Status, StorePaths};

use crate::support::pop3_server::{
    Action as Do, Fault, MailServer, Message, ScriptServer, ServerConfig, Step,
};

pub fn account_for(port: u16, password: &str) -> Account {
    let mut endpoint = Endpoint::new("127.0.0.1", port, Security::None);
    endpoint.timeouts.io = Duration::from_millis(1000);
    endpoint.timeouts.connect = Duration::from_secs(5);
    Account {
        endpoint,
        credentials: Credentials {
            user: "alice".into(),
            secret: Secret::new(password.into()),
            method: AuthMethod::Auto,
            allow_cleartext: true,
            remembered: None,
        },
    }
}

/// Six messages: small ones, one with dot-stuffed lines and 8-bit bytes, a
/// bigger one, and an empty body, so cuts land in interesting places.
fn mailbox() -> Vec<Message> {
    let mut big = String::from("Subject: big\n\n");
    for i in 0..1500 {
        big.push_str(&format!(
            "line {i:05} of a longer message, with enough text to matter\n"
        ));
    }
    vec![
        Message::sample("uid-a", "first", "hello\n"),
        Message::raw(
            "uid-b",
            b"Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\n8-bit \xe9\xff\r\nbare\nLF\r\n".to_vec(),
        ),
        Message::new("uid-c", &big),
        Message::sample("uid-d", "fourth", "four\n"),
        Message::new("uid-e", "Subject: empty body\n\n"),
        Message::sample("uid-f", "sixth", "six\n"),
    ]
}

/// Files in the Maildir (new/ and cur/) by base name → contents.
fn local_files(maildir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let base = name.split(':').next().unwrap_or_default().to_owned();
            files.insert(base, std::fs::read(entry.path()).expect("read mail file"));
        }
    }
    files
}

/// The invariant. Returns the keys that are safe at home, for further checks.
fn assert_nothing_lost(
    originals: &[Message],
    server: &MailServer,
    paths: &StorePaths,
    when: &str,
) -> Vec<String> {
    assert_nothing_lost_but(originals, &[], server, paths, when)
}

/// The invariant, except for messages the user chose to delete unread.
fn assert_nothing_lost_but(
    originals: &[Message],
    deleted_by_choice: &[&str],
    server: &MailServer,
    paths: &StorePaths,
    when: &str,
) -> Vec<String> {
    let on_server: HashMap<String, Vec<u8>> = server
        .messages()
        .into_iter()
        .map(|m| (m.uidl, m.bytes))
        .collect();
    let local = local_files(&paths.maildir);
    // A handled failure leaves no partial file behind (a crash may; the
    // next open cleans those up).
    let tmp_left = std::fs::read_dir(paths.maildir.join("tmp")).map_or(0, |d| d.count());
    assert_eq!(tmp_left, 0, "{when}: partial files left in tmp/");
    let store = AccountStore::open(paths).unwrap_or_else(|e| panic!("{when}: store: {e}"));

    // The ledger agrees with the Maildir: each download is there, exactly.
    let mut referenced = BTreeMap::new();
    let mut safe = Vec::new();
    for (key, entry) in store.ledger.entries() {
        assert_ne!(entry.status, Status::Saving, "{when}: {key} left in Saving");
        if entry.status == Status::Downloaded {
            let file = entry.file.clone().expect("downloaded entry has a file");
            let bytes = local
                .get(&file)
                .unwrap_or_else(|| panic!("{when}: ledger says {key} is in {file}, but it is not"));
            let original = originals.iter().find(|m| m.uidl == key).expect("known key");
            assert_eq!(bytes, &original.bytes, "{when}: {key} is byte-identical");
            assert!(
                referenced.insert(file, key.to_owned()).is_none(),
                "{when}: one file per key"
            );
            safe.push(key.to_owned());
        }
    }
    for name in local.keys() {
        assert!(
            referenced.contains_key(name),
            "{when}: {name} is in the Maildir but not in the ledger"
        );
    }
    // No message twice at home.
    let mut contents: Vec<&Vec<u8>> = local.values().collect();
    contents.sort();
    contents.dedup();
    assert_eq!(
        contents.len(),
        local.len(),
        "{when}: a message is in the Maildir twice"
    );
    // Every message is on the server or at home.
    for message in originals
        .iter()
        .filter(|m| !deleted_by_choice.contains(&m.uidl.as_str()))
    {
        let at_home = safe.contains(&message.uidl);
        let there = on_server.get(&message.uidl) == Some(&message.bytes);
        assert!(at_home || there, "{when}: {} was lost", message.uidl);
    }
    safe
}

fn fetch(port: u16, paths: &StorePaths, policy: FetchPolicy) -> Result<ApplyReport, engine::Error> {
    let mut store = AccountStore::open(paths)?;
    engine::fetch(
        &account_for(port, "secret"),
        &mut store,
        policy,
        Observe::default(),
        &mut |_| {},
    )
}

fn apply(port: u16, paths: &StorePaths, plan: &Plan) -> Result<ApplyReport, engine::Error> {
    let mut store = AccountStore::open(paths)?;
    engine::apply(
        &account_for(port, "secret"),
        &mut store,
        plan,
        Observe::default(),
        &mut |_| {},
    )
}

/// Where the first session breaks. Every fault is limited to session 0, so
/// the rerun is clean.
fn faults() -> Vec<(&'static str, Fault)> {
    let stall = || Do::Stall(Duration::from_millis(1600));
    vec![
        ("greeting", Fault::on_connect(Do::Drop)),
        ("greeting stall", Fault::on_connect(stall())),
        ("auth", Fault::on_command("AUTH", 1, Do::Drop)),
        ("uidl", Fault::on_command("UIDL", 1, Do::Drop)),
        ("list", Fault::on_command("LIST", 1, Do::Drop)),
        ("list cut", Fault::in_reply("LIST", 1, 9, Do::Drop)),
        (
            "before first retr reply",
            Fault::on_command("RETR", 1, Do::Drop),
        ),
        ("retr 1 at byte 0", Fault::in_reply("RETR", 1, 0, Do::Drop)),
        ("retr 1 at byte 1", Fault::in_reply("RETR", 1, 1, Do::Drop)),
        (
            "retr 2 inside a dot line",
            Fault::in_reply("RETR", 2, 22, Do::Drop),
        ),
        (
            "retr 3 at byte 5000",
            Fault::in_reply("RETR", 3, 5000, Do::Drop),
        ),
        (
            "retr 3 just before the end",
            Fault::in_reply("RETR", 3, 96_010, Do::Drop),
        ),
        (
            "retr 6 after the reply",
            Fault::in_reply("RETR", 6, 1_000_000, Do::Drop),
        ),
        ("retr stall", Fault::on_command("RETR", 4, stall())),
        (
            "retr garbage",
            Fault::on_command("RETR", 2, Do::Garbage(b"garbage\r\n".to_vec())),
        ),
        (
            "between retr and dele",
            Fault::on_command("DELE", 1, Do::Drop),
        ),
        ("dele 2", Fault::on_command("DELE", 2, Do::Drop)),
        (
            "after dele, before quit",
            Fault::on_command("QUIT", 1, Do::Drop),
        ),
        ("quit stall", Fault::on_command("QUIT", 1, stall())),
        (
            "during the quit reply",
            Fault::on_command("QUIT", 1, Do::ApplyThenDrop),
        ),
        ("quit reply cut", Fault::in_reply("QUIT", 1, 2, Do::Drop)),
    ]
    .into_iter()
    .map(|(name, fault)| (name, fault.in_session(0)))
    .collect()
}

#[derive(Clone, Copy, Debug)]
enum PlanKind {
    FetchKeep,
    FetchDelete,
    Mixed,
}

fn mixed_plan() -> Plan {
    Plan {
        items: vec![
            ("uid-a".into(), Action::DownloadKeep),
            ("uid-b".into(), Action::DownloadDelete),
            ("uid-c".into(), Action::DownloadDelete),
            ("uid-d".into(), Action::Keep),
            ("uid-e".into(), Action::Delete),
            // uid-f: no decision.
        ],
    }
}

fn run_kind(kind: PlanKind, port: u16, paths: &StorePaths) -> Result<ApplyReport, engine::Error> {
    match kind {
        PlanKind::FetchKeep => fetch(port, paths, FetchPolicy::default()),
        PlanKind::FetchDelete => fetch(
            port,
            paths,
            FetchPolicy {
                delete: true,
                all: false,
            },
        ),
        PlanKind::Mixed => apply(port, paths, &mixed_plan()),
    }
}

#[test]
fn every_fault_in_every_plan_loses_and_duplicates_nothing() {
    let originals = mailbox();
    let all: Vec<String> = originals.iter().map(|m| m.uidl.clone()).collect();
    for kind in [PlanKind::FetchKeep, PlanKind::FetchDelete, PlanKind::Mixed] {
        for (name, fault) in faults() {
            let when = format!("{kind:?} / {name}");
            let config = ServerConfig {
                faults: vec![fault],
                ..ServerConfig::default()
            };
            let server = MailServer::start(config, originals.clone());
            let profile = tempfile::tempdir().expect("tempdir");
            let paths = StorePaths::in_dir(profile.path());

            let chosen: &[&str] = match kind {
                PlanKind::Mixed => &["uid-e"],
                _ => &[],
            };
            let first = run_kind(kind, server.port(), &paths);
            server.wait_for_finished(1, Duration::from_secs(10));
            assert_nothing_lost_but(
                &originals,
                chosen,
                &server,
                &paths,
                &format!("{when}, after the fault"),
            );

            let second = run_kind(kind, server.port(), &paths)
                .unwrap_or_else(|e| panic!("{when}: the rerun failed: {e} (first run: {first:?})"));
            assert!(second.failed.is_empty(), "{when}: {second:?}");
            let safe = assert_nothing_lost_but(
                &originals,
                chosen,
                &server,
                &paths,
                &format!("{when}, after the rerun"),
            );
            let left = server.uidls();
            match kind {
                PlanKind::FetchKeep => {
                    assert_eq!(safe, all, "{when}: everything downloaded");
                    assert_eq!(left, all, "{when}: nothing deleted");
                }
                PlanKind::FetchDelete => {
                    assert_eq!(safe, all, "{when}: everything downloaded");
                    assert!(left.is_empty(), "{when}: server emptied, left {left:?}");
                }
                PlanKind::Mixed => {
                    assert_eq!(safe, ["uid-a", "uid-b", "uid-c"], "{when}");
                    assert_eq!(left, ["uid-a", "uid-d", "uid-f"], "{when}");
                    let store = AccountStore::open(&paths).expect("store");
                    assert_eq!(
                        store.ledger.get("uid-d").map(|e| e.status),
                        Some(Status::Kept)
                    );
                    assert_eq!(
                        store.ledger.get("uid-f").map(|e| e.status),
                        Some(Status::New)
                    );
                }
            }
            // And a third run has nothing left to download.
            let third = run_kind(kind, server.port(), &paths).expect("third run");
            assert!(
                third.downloaded.is_empty(),
                "{when}: downloaded twice: {third:?}"
            );
        }
    }
}

#[test]
fn message_numbers_from_an_earlier_session_are_never_reused() {
    let originals: Vec<Message> = (1..=5)
        .map(|i| {
            Message::sample(
                &format!("uid-{i}"),
                &format!("message {i}"),
                &format!("body {i}\n"),
            )
        })
        .collect();
    let server = MailServer::start(ServerConfig::default(), originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    // Session 1: the user looks; uid-3 is message number 3.
    let mut store = AccountStore::open(&paths).expect("store");
    let report = engine::check(
        &account_for(server.port(), "secret"),
        Some(&mut store),
        &engine::CheckOptions::default(),
        Observe::default(),
        &mut |_| {},
    )
    .expect("check");
    drop(store);
    assert_eq!(report.messages[2].number.get(), 3);
    // Another program deletes uid-2: every later number shifts down by one.
    assert!(server.remove_uidl("uid-2"));
    // Session 2: delete uid-3 unread, download uid-4, and delete uid-2 (gone).
    let plan = Plan {
        items: vec![
            ("uid-3".into(), Action::Delete),
            ("uid-4".into(), Action::DownloadKeep),
            ("uid-2".into(), Action::Delete),
        ],
    };
    let report = apply(server.port(), &paths, &plan).expect("apply");
    assert_eq!(report.deleted, ["uid-3"]);
    assert_eq!(report.downloaded, ["uid-4"]);
    assert_eq!(report.vanished, ["uid-2"]);
    assert_eq!(
        server.uidls(),
        ["uid-1", "uid-4", "uid-5"],
        "exactly uid-3 was deleted"
    );
    let local = local_files(&paths.maildir);
    assert_eq!(
        local.values().collect::<Vec<_>>(),
        [&originals[3].bytes],
        "uid-4's bytes, not uid-5's"
    );
    let session = server.sessions().pop().expect("session");
    assert!(
        session.commands.contains(&"DELE 2".to_owned()),
        "uid-3 is number 2 now: {:?}",
        session.commands
    );
    assert!(
        session.commands.contains(&"RETR 3".to_owned()),
        "uid-4 is number 3 now: {:?}",
        session.commands
    );
}

#[test]
fn a_refused_retr_fails_that_message_only() {
    let config = ServerConfig {
        faults: vec![
            Fault::on_command(
                "RETR",
                2,
                Do::Reply("-ERR [SYS/TEMP] try again later".into()),
            )
            .in_session(0),
        ],
        ..ServerConfig::default()
    };
    let originals = mailbox();
    let server = MailServer::start(config, originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let policy = FetchPolicy {
        delete: true,
        all: false,
    };
    let report = fetch(server.port(), &paths, policy).expect("fetch");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, "uid-b");
    assert!(report.failed[0].1.contains("try again later"));
    assert_eq!(report.downloaded.len(), 5);
    assert_eq!(
        server.uidls(),
        ["uid-b"],
        "only the failed one stays on the server"
    );
    let again = fetch(server.port(), &paths, policy).expect("rerun");
    assert_eq!(again.downloaded, ["uid-b"]);
    assert!(server.uidls().is_empty());
    assert_nothing_lost(&originals, &server, &paths, "after the rerun");
}

#[test]
fn size_mismatch_is_kept_at_home_and_on_the_server() {
    // LIST says 30 bytes; RETR delivers 19. A client that trusted the
    // framing alone would delete it.
    let server = ScriptServer::start(vec![
        Step::line("+OK ready"),
        Step::expect("CAPA"),
        Step::Send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n".to_vec()),
        Step::expect("USER alice"),
        Step::line("+OK"),
        Step::ExpectPrefix("PASS ".into()),
        Step::line("+OK"),
        Step::expect("CAPA"),
        Step::Send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n".to_vec()),
        Step::expect("STAT"),
        Step::line("+OK 1 30"),
        Step::expect("UIDL"),
        Step::Send(b"+OK\r\n1 odd\r\n.\r\n".to_vec()),
        Step::expect("LIST"),
        Step::Send(b"+OK\r\n1 30\r\n.\r\n".to_vec()),
        Step::expect("RETR 1"),
        Step::Send(b"+OK\r\nSubject: odd\r\n\r\nbody\r\n.\r\n".to_vec()),
        Step::expect("QUIT"),
        Step::line("+OK bye"),
    ]);
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let report = fetch(
        server.port(),
        &paths,
        FetchPolicy {
            delete: true,
            all: false,
        },
    )
    .expect("fetch");
    let outcome = server.finish();
    assert!(outcome.mismatches.is_empty(), "{:?}", outcome.mismatches);
    assert!(
        !outcome.received.iter().any(|l| l.starts_with("DELE")),
        "{:?}",
        outcome.received
    );
    assert_eq!(report.downloaded, ["odd"]);
    assert_eq!(report.not_deleted.len(), 1);
    let store = AccountStore::open(&paths).expect("store");
    assert!(store.ledger.get("odd").expect("entry").size_mismatch);
}

#[test]
fn unwritable_maildir_stops_before_any_deletion() {
    let originals = mailbox();
    let server = MailServer::start(ServerConfig::default(), originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let mut store = AccountStore::open(&paths).expect("store");
    // Sabotage: tmp/ becomes a file, so no message can be written.
    let tmp = paths.maildir.join("tmp");
    std::fs::remove_dir(&tmp).expect("rm tmp");
    std::fs::write(&tmp, b"not a folder").expect("write");
    let policy = FetchPolicy {
        delete: true,
        all: false,
    };
    let error = engine::fetch(
        &account_for(server.port(), "secret"),
        &mut store,
        policy,
        Observe::default(),
        &mut |_| {},
    )
    .expect_err("cannot save");
    assert!(matches!(error, engine::Error::Store(_)), "{error:?}");
    assert!(
        error
            .user_message()
            .next_step
            .contains("Nothing was deleted")
    );
    server.wait_for_finished(1, Duration::from_secs(5));
    assert_eq!(server.messages(), originals, "nothing deleted");
    let session = &server.sessions()[0];
    assert!(!session.quit_received, "no QUIT after a failure");
    drop(store);
    std::fs::remove_file(&tmp).expect("rm");
    std::fs::create_dir(&tmp).expect("mkdir");
    fetch(server.port(), &paths, policy).expect("fetch after repair");
    assert!(server.uidls().is_empty());
    assert_nothing_lost(&originals, &server, &paths, "after repair");
}

#[test]
fn login_delay_is_remembered() {
    let config = ServerConfig {
        login_delay: Some(900),
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, mailbox());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    fetch(server.port(), &paths, FetchPolicy::default()).expect("fetch");
    let store = AccountStore::open(&paths).expect("store");
    assert_eq!(store.ledger.login().login_delay_secs, Some(900));
    assert!(store.ledger.login().last_login_unix.is_some());
    drop(store);

    // Refused for logging in too soon: remembered even without CAPA.
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "AUTH",
            1,
            Do::Reply("-ERR [LOGIN-DELAY] wait a while".into()),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, mailbox());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let error = fetch(server.port(), &paths, FetchPolicy::default()).expect_err("refused");
    assert!(
        error.user_message().headline.contains("checked too soon"),
        "{:?}",
        error.user_message()
    );
    assert!(error.is_transient());
    let store = AccountStore::open(&paths).expect("store");
    assert!(store.ledger.login().login_delay_secs.is_some());
}

#[test]
fn server_error_classes_read_differently() {
    for (reply, headline, transient) in [
        ("-ERR [IN-USE] locked", "in use by another program", true),
        ("-ERR [SYS/TEMP] busy", "temporary problem", true),
        (
            "-ERR [SYS/PERM] broken",
            "will not go away by itself",
            false,
        ),
        (
            "-ERR [AUTH] bad password",
            "did not accept the user name or password",
            false,
        ),
    ] {
        let config = ServerConfig {
            faults: vec![Fault::on_command("AUTH", 1, Do::Reply(reply.into()))],
            ..ServerConfig::default()
        };
        let server = MailServer::start(config, mailbox());
        let profile = tempfile::tempdir().expect("tempdir");
        let paths = StorePaths::in_dir(profile.path());
        let error = fetch(server.port(), &paths, FetchPolicy::default()).expect_err(reply);
        let message = error.user_message();
        assert!(message.headline.contains(headline), "{reply}: {message:?}");
        assert_eq!(error.is_transient(), transient, "{reply}");
        assert!(local_files(&paths.maildir).is_empty());
    }
}

#[test]
fn a_server_without_uidl_gets_header_identities() {
    let config = ServerConfig {
        uidl: false,
        ..ServerConfig::default()
    };
    let originals: Vec<Message> = (1..=3)
        .map(|i| Message::sample(&format!("x{i}"), &format!("message {i}"), "body\n"))
        .collect();
    let server = MailServer::start(config, originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let first = fetch(server.port(), &paths, FetchPolicy::default()).expect("fetch");
    assert_eq!(first.downloaded.len(), 3);
    assert!(
        first.downloaded.iter().all(|k| k.starts_with("hdr-")),
        "{first:?}"
    );
    let again = fetch(server.port(), &paths, FetchPolicy::default()).expect("fetch");
    assert!(
        again.downloaded.is_empty(),
        "the header identity is stable: {again:?}"
    );
    assert_eq!(local_files(&paths.maildir).len(), 3);
}

#[test]
fn cancel_stops_at_once_and_deletes_nothing() {
    let config = ServerConfig {
        faults: vec![Fault::on_command("RETR", 3, Do::Stall(Duration::from_secs(4))).in_session(0)],
        ..ServerConfig::default()
    };
    let originals = mailbox();
    let server = MailServer::start(config, originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let cancel = letterbox::net::CancelToken::new();
    let mut account = account_for(server.port(), "secret");
    account.endpoint.timeouts.io = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let mut store = AccountStore::open(&paths).expect("store");
            let observe = Observe {
                transcript: None,
                cancel: Some(cancel.clone()),
            };
            let policy = FetchPolicy {
                delete: true,
                all: false,
            };
            engine::fetch(&account, &mut store, policy, observe, &mut |_| {})
        });
        std::thread::sleep(Duration::from_millis(400));
        cancel.cancel();
        worker.join().expect("join")
    });
    assert!(
        matches!(
            result,
            Err(engine::Error::Net(letterbox::net::Error::Cancelled))
        ),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cancel waited for the stall"
    );
    server.wait_for_finished(1, Duration::from_secs(10));
    assert_eq!(server.messages(), originals, "nothing deleted");
    let safe = assert_nothing_lost(&originals, &server, &paths, "after cancel");
    assert_eq!(
        safe,
        ["uid-a", "uid-b"],
        "what was complete before the stall is kept"
    );
}

#[test]
fn a_reused_uidl_is_downloaded_not_deleted_unread() {
    let server = MailServer::start(
        ServerConfig::default(),
        vec![Message::sample("uid-1", "first", "one\n")],
    );
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let policy = FetchPolicy {
        delete: true,
        all: false,
    };
    let first = fetch(server.port(), &paths, policy).expect("first");
    assert_eq!(first.deleted, ["uid-1"]);
    // A broken server hands the same UIDL to a different message.
    let reused = Message::sample("uid-1", "a different message", "two, and longer\n");
    server.add_message(reused.clone());
    let second = fetch(server.port(), &paths, policy).expect("second");
    assert_eq!(
        second.downloaded,
        ["uid-1"],
        "the new message is downloaded, not taken as known"
    );
    assert_eq!(second.deleted, ["uid-1"]);
    let local = local_files(&paths.maildir);
    assert_eq!(local.len(), 2);
    assert!(
        local.values().any(|bytes| bytes == &reused.bytes),
        "nothing lost"
    );
}

#[test]
fn on_an_expire_zero_server_a_failed_download_sends_no_quit() {
    let config = ServerConfig {
        expire: Some("0".into()),
        faults: vec![Fault::on_command("RETR", 2, Do::OversizeLine(10_000)).in_session(0)],
        ..ServerConfig::default()
    };
    let originals = mailbox();
    let server = MailServer::start(config, originals.clone());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    let error = fetch(server.port(), &paths, FetchPolicy::default()).expect_err("must not QUIT");
    assert!(matches!(error, engine::Error::ExpireWouldLose), "{error:?}");
    let session = &server.wait_for_finished(1, Duration::from_secs(5))[0];
    assert!(
        !session.quit_received,
        "QUIT would let the server delete what was retrieved"
    );
    assert_nothing_lost(&originals, &server, &paths, "after the refused message");
}

#[test]
fn expiry_runs_in_the_check_session() {
    let server = MailServer::start(ServerConfig::default(), mailbox());
    let profile = tempfile::tempdir().expect("tempdir");
    let paths = StorePaths::in_dir(profile.path());
    fetch(server.port(), &paths, FetchPolicy::default()).expect("fetch");
    let mut store = AccountStore::open(&paths).expect("store");
    for key in ["uid-a", "uid-b"] {
        store.ledger.get_mut(key).expect("entry").downloaded_unix = Some(0);
    }
    store.ledger.save().expect("save");
    let options = engine::CheckOptions {
        preview_lines: 0,
        expire_after_days: Some(30),
        ..engine::CheckOptions::default()
    };
    let report = engine::check(
        &account_for(server.port(), "secret"),
        Some(&mut store),
        &options,
        Observe::default(),
        &mut |_| {},
    )
    .expect("check");
    let expired = report.expired.expect("expired in this session");
    assert_eq!(expired.deleted, ["uid-a", "uid-b"]);
    assert!(expired.downloaded.is_empty());
    assert_eq!(server.uidls(), ["uid-c", "uid-d", "uid-e", "uid-f"]);
    assert_eq!(
        server.sessions().len(),
        2,
        "one session for fetch, one for check and expiry"
    );
}
