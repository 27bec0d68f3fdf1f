//! `letterbox fetch` and `letterbox check --profile` as a script uses them:
//! the JSON summary, what counts as new, `--all`, a damaged ledger, and
//! "remove from the server after N days".

use std::time::Duration;

use letterbox::engine::{self, Action, Plan};
use letterbox::net::Observe;
use letterbox::store::{AccountStore, StorePaths, now_unix};

use crate::fetch_faults::account_for;
use crate::support::cli::{Run, letterbox};
use crate::support::pop3_server::{MailServer, ServerConfig, sample_mailbox};

fn cli(server: &MailServer, command: &str, profile: &std::path::Path, extra: &[&str]) -> Run {
    let profile = profile.display().to_string();
    let mut args = vec!["--profile", &profile, "--json"];
    args.extend_from_slice(extra);
    crate::support::cli::plain(command, ("alice", "secret"), server.port(), &args)
}

/// The store of `alice` on the server's port inside the profile.
fn paths(profile: &std::path::Path, server: &MailServer) -> StorePaths {
    StorePaths::in_dir(&profile.join(format!("alice@127.0.0.1_{}", server.port())))
}

fn new_flags(run: &Run) -> Vec<bool> {
    run.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["new"].as_bool().expect("new flag with --profile"))
        .collect()
}

#[test]
fn check_with_a_profile_says_what_is_new() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let profile = tempfile::tempdir().expect("tempdir");
    let first = cli(&server, "check", profile.path(), &[]);
    first.expect_code(0);
    assert_eq!(new_flags(&first), [true, true, true]);
    let fetched = cli(&server, "fetch", profile.path(), &[]);
    fetched.expect_code(0);
    let summary = fetched.json();
    assert_eq!(summary["downloaded"], 3);
    assert_eq!(summary["deleted"], 0);
    assert_eq!(summary["skipped"], 0);
    assert!(summary["bytes"].as_u64().expect("bytes") > 0);
    server.add_message(crate::support::pop3_server::Message::sample(
        "uid-late", "late", "hi\n",
    ));
    let again = cli(&server, "check", profile.path(), &[]);
    assert_eq!(new_flags(&again), [false, false, false, true]);
    // Without a profile, check records nothing and has no "new" field.
    let plain =
        crate::support::cli::plain("check", ("alice", "secret"), server.port(), &["--json"]);
    assert!(plain.json()["messages"][0].get("new").is_none());
}

#[test]
fn kept_messages_need_all() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let profile = tempfile::tempdir().expect("tempdir");
    let mut store = AccountStore::open(&paths(profile.path(), &server)).expect("store");
    let plan = Plan {
        items: vec![("uid-0002".into(), Action::Keep)],
    };
    engine::apply(
        &account_for(server.port(), "secret"),
        &mut store,
        &plan,
        Observe::default(),
        &mut |_| {},
    )
    .expect("keep");
    drop(store);
    let first = cli(&server, "fetch", profile.path(), &[]);
    assert_eq!(first.json()["downloaded"], 2, "the kept one stays");
    let all = cli(&server, "fetch", profile.path(), &["--all"]);
    assert_eq!(all.json()["downloaded"], 1, "--all takes it too");
    assert_eq!(server.uidls().len(), 3, "nothing deleted without --delete");
}

#[test]
fn a_damaged_ledger_stops_everything_until_the_user_decides() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(2));
    let profile = tempfile::tempdir().expect("tempdir");
    cli(&server, "fetch", profile.path(), &[]).expect_code(0);
    let state = paths(profile.path(), &server).state_dir;
    for side in ["store.sqlite-wal", "store.sqlite-shm"] {
        let _ = std::fs::remove_file(state.join(side));
    }
    std::fs::write(
        state.join("store.sqlite"),
        b"SQLite format 3\0 but the rest is not a database".repeat(50),
    )
    .expect("damage");
    for attempt in 0..2 {
        let run = cli(&server, "fetch", profile.path(), &["--delete"]);
        run.expect_code(8);
        run.stderr_has("record of which messages you already downloaded is damaged");
        if attempt == 0 {
            run.stderr_has("store.sqlite.corrupt-");
        }
    }
    server.wait_for_finished(1, Duration::from_secs(5));
    assert_eq!(
        server.sessions().len(),
        1,
        "no session was even started after the damage"
    );
    assert_eq!(server.uidls().len(), 2);
    let kept: Vec<_> = std::fs::read_dir(paths(profile.path(), &server).state_dir)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1, "the damaged file is kept for the user");
    // The user decides to start a new record.
    let run = cli(&server, "fetch", profile.path(), &["--start-new-ledger"]);
    run.expect_code(0);
    assert_eq!(run.json()["downloaded"], 2);
    cli(&server, "fetch", profile.path(), &[]).expect_code(0);
}

#[test]
fn remove_from_server_after_n_days() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(4));
    let profile = tempfile::tempdir().expect("tempdir");
    cli(&server, "fetch", profile.path(), &[]).expect_code(0);
    let mut store = AccountStore::open(&paths(profile.path(), &server)).expect("store");
    let long_ago = now_unix() - 30 * 86_400;
    for key in ["uid-0001", "uid-0003"] {
        store.ledger.get_mut(key).expect("entry").downloaded_unix = Some(long_ago);
    }
    // A message never downloaded is never eligible, however old.
    store.ledger.get_mut("uid-0004").expect("entry").status = letterbox::store::Status::Kept;
    store
        .ledger
        .get_mut("uid-0004")
        .expect("entry")
        .first_seen_unix = long_ago;
    store.ledger.save().expect("save");
    let plan = engine::expired_plan(&store, now_unix(), 14);
    assert_eq!(plan.items.len(), 2, "{plan:?}");
    let report = engine::apply(
        &account_for(server.port(), "secret"),
        &mut store,
        &plan,
        Observe::default(),
        &mut |_| {},
    )
    .expect("apply");
    assert_eq!(report.deleted, ["uid-0001", "uid-0003"]);
    assert!(report.downloaded.is_empty(), "nothing downloaded again");
    assert_eq!(server.uidls(), ["uid-0002", "uid-0004"]);
}

#[test]
fn demo_server_runs_alone_for_scripts() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_letterbox"))
        .args(["demo-server", "--port", "0", "--plain"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("demo-server");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    let port = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("port in the banner");
    let url = format!("pop3://demo@127.0.0.1:{port}");
    let run = letterbox(
        &[
            "check",
            "--url",
            &url,
            "--security",
            "none",
            "--allow-plaintext",
            "--json",
        ],
        "demo",
    );
    let _ = child.kill();
    let _ = child.wait();
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["total"], 21);
    assert!(
        json["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m["subject"] == "Welcome to the Letterbox demo mailbox")
    );
}
