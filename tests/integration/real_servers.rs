//! Real servers deviate from the RFCs. Each kind met in the wild is a case
//! of the scriptable test server, and `letterbox check` and `fetch` must
//! work against it with default options (automatic sign-in, TLS): servers
//! that announce APOP without having the secret, servers without TOP,
//! without CAPA, with bare-LF line ends and with long UIDLs. Hostile
//! replies (trickles, terminal escapes, an HTML mail that once crashed the
//! preview) end cleanly.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::cli::{self, Run, letterbox};
use crate::support::pop3_server::{
    MailServer, Message, ScriptServer, ServerConfig, SessionRecord, Step, TlsMode, crlf_to_lf,
    sample_mailbox, tls_fixture_path,
};

const PASSWORD: &str = "secret";

fn tls(config: ServerConfig) -> ServerConfig {
    ServerConfig {
        tls: Some(TlsMode::Implicit),
        ..config
    }
}

/// `letterbox COMMAND --url pop3s://alice@127.0.0.1:PORT` trusting the test
/// certificate, and nothing else but `extra`: the defaults are under test.
fn run(server: &MailServer, command: &str, extra: &[&str]) -> Run {
    let url = format!("pop3s://alice@127.0.0.1:{}", server.port());
    let ca = tls_fixture_path("localhost.pem").display().to_string();
    let mut args = vec![command, "--url", &url, "--ca-file", &ca];
    args.extend_from_slice(extra);
    letterbox(&args, PASSWORD)
}

fn fetch(server: &MailServer, profile: &Path, extra: &[&str]) -> Run {
    let profile = profile.display().to_string();
    let mut args = vec!["--profile", profile.as_str(), "--json"];
    args.extend_from_slice(extra);
    let run = run(server, "fetch", &args);
    run.expect_code(0);
    run
}

/// The messages in the Maildir `fetch` reported, sorted.
fn downloaded(run: &Run) -> Vec<Vec<u8>> {
    let maildir = PathBuf::from(run.json()["maildir"].as_str().expect("maildir"));
    let mut files: Vec<Vec<u8>> = std::fs::read_dir(maildir.join("new"))
        .expect("new/")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    files.sort();
    files
}

fn sorted(mut messages: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    messages.sort();
    messages
}

fn commands(session: &SessionRecord, keyword: &str) -> usize {
    session
        .commands
        .iter()
        .filter(|c| c.starts_with(keyword))
        .count()
}

#[test]
fn apop_in_the_greeting_without_an_apop_secret() {
    // The server puts a timestamp in its greeting, lists no SASL, and
    // refuses every APOP: automatic sign-in must fall back to USER/PASS.
    let config = tls(ServerConfig {
        apop: true,
        apop_secret: false,
        sasl: vec![],
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(2));
    let check = run(&server, "check", &["--json"]);
    check.expect_code(0);
    assert_eq!(check.json()["total"], 2);
    let first = &server.sessions()[0];
    assert!(first.authenticated);
    assert_eq!(
        (commands(first, "APOP"), commands(first, "USER")),
        (1, 1),
        "{:?}",
        first.commands
    );

    // fetch, twice: the account remembers that USER/PASS works, so the
    // second session does not try APOP again.
    let profile = tempfile::tempdir().expect("tempdir");
    let got = fetch(&server, profile.path(), &[]);
    assert_eq!(got.json()["downloaded"], 2);
    assert_eq!(
        downloaded(&got),
        sorted(server.messages().into_iter().map(|m| m.bytes).collect())
    );
    fetch(&server, profile.path(), &[]);
    let last = server.sessions().pop().expect("a session");
    assert_eq!(commands(&last, "APOP"), 0, "{:?}", last.commands);
    assert!(last.authenticated);
}

#[test]
fn apop_refused_and_the_server_hangs_up() {
    // Some servers close the connection after a failed sign-in: the next
    // method is tried over a new connection.
    let config = tls(ServerConfig {
        apop: true,
        apop_secret: false,
        close_after_auth_failure: true,
        sasl: vec![],
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(1));
    run(&server, "check", &[]).expect_code(0);
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 2, "one reconnect");
    assert_eq!(commands(&sessions[0], "APOP"), 1);
    assert!(!sessions[0].authenticated);
    assert_eq!(
        commands(&sessions[1], "APOP"),
        0,
        "{:?}",
        sessions[1].commands
    );
    assert!(sessions[1].authenticated);
}

#[test]
fn a_wrong_password_is_still_a_wrong_password() {
    // Falling back must not hide a real refusal: after APOP and USER/PASS
    // are both refused, the sign-in error is reported (exit 5), and a
    // password-sending method is never retried.
    let config = tls(ServerConfig {
        apop: true,
        sasl: vec![],
        password: "other".into(),
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(1));
    let failed = run(&server, "check", &[]);
    failed.expect_code(5);
    failed.stderr_has("did not accept");
    let session = &server.sessions()[0];
    assert_eq!(
        (commands(session, "APOP"), commands(session, "PASS")),
        (1, 1)
    );
}

fn no_top_server() -> (MailServer, Vec<Message>) {
    let mut messages = sample_mailbox(2);
    let big_body = "a long line of a large message\n".repeat(200);
    messages.push(Message::new(
        "uid-big",
        &format!("From: big@example.test\nSubject: Large one\n\n{big_body}"),
    ));
    let config = tls(ServerConfig {
        top: false,
        ..ServerConfig::default()
    });
    (MailServer::start(config, messages.clone()), messages)
}

#[test]
fn server_without_top_previews_small_messages_from_retr_and_keeps_them() {
    let (server, messages) = no_top_server();
    // Without a profile there is nowhere to keep what a RETR brings, and
    // a server may delete what it sent: nothing is retrieved, and the
    // output says why.
    let bare = run(&server, "check", &["--preview-download-limit-kb", "2"]);
    bare.expect_code(0);
    assert!(server.sessions()[0].commands_with("RETR").is_empty());
    bare.stdout_has("need a place to keep the copies");

    // With a profile and a 2 KB limit: the two samples are previewed from
    // a RETR, the large one is not, and the text says plainly why.
    let profile = tempfile::tempdir().expect("tempdir");
    let profile_arg = profile.path().display().to_string();
    let before = server.sessions().len();
    let check = run(
        &server,
        "check",
        &[
            "--json",
            "--profile",
            &profile_arg,
            "--preview-download-limit-kb",
            "2",
        ],
    );
    check.expect_code(0);
    let listed = check.json()["messages"].clone();
    assert_eq!(listed[0]["subject"], "Message 1");
    assert_eq!(listed[1]["subject"], "Message 2");
    assert!(listed[1]["preview"].as_str().is_some_and(|p| !p.is_empty()));
    assert!(listed[2]["subject"].is_null(), "{listed}");
    assert_eq!(
        server.sessions()[before].commands_with("RETR"),
        ["RETR 1", "RETR 2"],
        "never a RETR beyond the limit just to preview"
    );
    let text = run(
        &server,
        "check",
        &[
            "--profile",
            &profile_arg,
            "--preview-download-limit-kb",
            "2",
        ],
    );
    text.expect_code(0);
    text.stdout_has("only messages up to 2.0 KB are previewed");

    // The retrieved copies are kept: the download that follows (keeping
    // mail on the server) takes them instead of fetching them again.
    let before = server.sessions().len();
    let got = fetch(&server, profile.path(), &[]);
    assert_eq!(got.json()["downloaded"], 3);
    assert_eq!(
        server.sessions()[before].commands_with("RETR"),
        ["RETR 3"],
        "only the message not previewed is retrieved"
    );
    assert_eq!(
        downloaded(&got),
        sorted(messages.into_iter().map(|m| m.bytes).collect()),
        "the kept copies are the messages, byte for byte"
    );
}

#[test]
fn a_message_that_vanishes_after_its_preview_is_saved_not_lost() {
    // Some servers delete (or hide) what they sent, without an EXPIRE
    // line to say so. The copy a preview kept is then the only one: the
    // next check puts it in the Maildir as downloaded.
    let (server, messages) = no_top_server();
    let profile = tempfile::tempdir().expect("tempdir");
    let profile_arg = profile.path().display().to_string();
    run(&server, "check", &["--profile", &profile_arg]).expect_code(0);
    assert!(server.remove_uidl("uid-0001"), "the server drops it");
    let check = run(&server, "check", &["--json", "--profile", &profile_arg]);
    check.expect_code(0);
    let got = fetch(&server, profile.path(), &[]);
    assert_eq!(
        got.json()["downloaded"],
        2,
        "the two still on the server; the vanished one is home already"
    );
    assert_eq!(
        downloaded(&got),
        sorted(messages.iter().map(|m| m.bytes.clone()).collect()),
        "the vanished message is at home, exactly"
    );
}

#[test]
fn a_kept_copy_never_stands_in_for_a_message_that_is_deleted() {
    // A server may reuse a UIDL for another message of the same size; a
    // copy from an earlier preview is only trusted where nothing is
    // deleted on its word. Download-and-delete always retrieves.
    let (server, _) = no_top_server();
    let profile = tempfile::tempdir().expect("tempdir");
    let profile_arg = profile.path().display().to_string();
    run(&server, "check", &["--profile", &profile_arg]).expect_code(0);
    let before = server.sessions().len();
    let got = fetch(&server, profile.path(), &["--delete"]);
    assert_eq!(got.json()["deleted"], 3);
    assert_eq!(
        server.sessions()[before].commands_with("RETR"),
        ["RETR 1", "RETR 2", "RETR 3"]
    );
}

#[test]
fn server_without_capa() {
    let config = tls(ServerConfig {
        capa: false,
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(3));
    let check = run(&server, "check", &["--json"]);
    check.expect_code(0);
    assert_eq!(check.json()["messages"][2]["subject"], "Message 3");
    let profile = tempfile::tempdir().expect("tempdir");
    let got = fetch(&server, profile.path(), &["--delete"]);
    assert_eq!(got.json()["downloaded"], 3);
    assert_eq!(got.json()["deleted"], 3);
    assert!(server.messages().is_empty());
}

#[test]
fn server_with_bare_lf_line_ends() {
    let mut messages = sample_mailbox(3);
    messages.push(Message::new(
        "uid-dots",
        "Subject: dots\n\n.leading dot\n..two\n.\nend\n",
    ));
    let config = tls(ServerConfig {
        bare_lf: true,
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, messages.clone());
    let started = Instant::now();
    let check = run(&server, "check", &["--json", "--timeout-secs", "10"]);
    check.expect_code(0);
    assert_eq!(check.json()["messages"][3]["subject"], "dots");
    assert!(started.elapsed() < Duration::from_secs(8), "no waiting");
    let profile = tempfile::tempdir().expect("tempdir");
    let got = fetch(
        &server,
        profile.path(),
        &["--delete", "--timeout-secs", "10"],
    );
    assert_eq!(got.json()["downloaded"], 4);
    assert_eq!(got.json()["deleted"], 4, "sizes agree, so deletion is safe");
    assert_eq!(
        downloaded(&got),
        sorted(messages.iter().map(|m| crlf_to_lf(&m.bytes)).collect()),
        "stored as the server sent them, dots unstuffed"
    );
}

#[test]
fn long_uidls_and_one_unusable_uidl() {
    let long = |n: usize| format!("{n:03}-{}", "u".repeat(117));
    let mut messages: Vec<Message> = (1..=3)
        .map(|n| Message::sample(&long(n), &format!("Message {n}"), "body"))
        .collect();
    // One identity longer than anything Letterbox accepts: only that
    // message is left alone.
    messages.push(Message::sample(&"x".repeat(600), "Odd one", "body"));
    let server = MailServer::start(tls(ServerConfig::default()), messages.clone());
    let check = run(&server, "check", &["--json"]);
    check.expect_code(0);
    let listed = check.json()["messages"].clone();
    assert_eq!(listed[0]["uid"], long(1).as_str());
    assert_eq!(long(1).len(), 121);
    assert!(listed[3]["uid"].is_null());
    check.stderr_has("left alone");
    let profile = tempfile::tempdir().expect("tempdir");
    let got = fetch(&server, profile.path(), &["--delete"]);
    assert_eq!(got.json()["downloaded"], 3);
    assert_eq!(got.json()["deleted"], 3);
    let left: Vec<String> = server.messages().into_iter().map(|m| m.uidl).collect();
    assert_eq!(left, ["x".repeat(600)], "the unidentifiable one stays");
}

#[test]
fn html_mail_with_non_ascii_after_an_ampersand_previews() {
    // Once a crash of every check of the account, for any such mail.
    let html = Message::new(
        "uid-html",
        "From: shop@example.test\nSubject: Offre\nContent-Type: text/html; charset=utf-8\n\n\
         <p>x &aaaaaaaaaaééé y &amp; café</p>\n",
    );
    let server = MailServer::start(tls(ServerConfig::default()), vec![html]);
    let check = run(&server, "check", &["--json"]);
    check.expect_code(0);
    assert_eq!(
        check.json()["messages"][0]["preview"],
        "x &aaaaaaaaaaééé y & café"
    );
}

/// A script that logs in with USER/PASS (no CAPA) and reaches UIDL.
fn up_to_uidl() -> Vec<Step> {
    vec![
        Step::line("+OK ready"),
        Step::expect("CAPA"),
        Step::line("-ERR no CAPA here"),
        Step::expect("USER alice"),
        Step::line("+OK"),
        Step::expect("PASS secret"),
        Step::line("+OK in"),
        Step::expect("STAT"),
        Step::line("+OK 1 10"),
        Step::expect("UIDL"),
        Step::line("+OK"),
    ]
}

fn check_plain(port: u16, timeout_secs: &str) -> Run {
    cli::plain(
        "check",
        ("alice", PASSWORD),
        port,
        &["--timeout-secs", timeout_secs],
    )
}

#[test]
fn a_trickling_reply_ends_at_the_no_progress_deadline() {
    // One byte every 300 ms keeps every single read within its 1 s
    // timeout, for ever; the session's no-progress deadline (2 s with
    // --timeout-secs 1) ends it as a network problem.
    let mut steps = up_to_uidl();
    for _ in 0..60 {
        steps.push(Step::Send(b"1".to_vec()));
        steps.push(Step::Stall(Duration::from_millis(300)));
    }
    let server = ScriptServer::start(steps);
    let started = Instant::now();
    let failed = check_plain(server.port(), "1");
    let elapsed = started.elapsed();
    failed.expect_code(3);
    failed.stderr_has("without getting anywhere");
    assert!(elapsed < Duration::from_secs(10), "ended after {elapsed:?}");
    drop(server);
}

#[test]
fn server_text_never_reaches_the_terminal_raw() {
    let server = ScriptServer::start(vec![
        Step::line("+OK ready"),
        Step::expect("CAPA"),
        Step::line("-ERR"),
        Step::expect("USER alice"),
        Step::line("+OK"),
        Step::expect("PASS secret"),
        Step::Send(b"-ERR \x1b]0;pwned\x07\x1b[2J\x9b31m gone \xe2\x80\xae\r\n".to_vec()),
        Step::ExpectClose,
    ]);
    let failed = check_plain(server.port(), "5");
    failed.expect_code(5);
    assert!(
        !failed.stderr.contains('\u{1b}') && !failed.stderr.contains('\u{7}'),
        "{:?}",
        failed.stderr
    );
    assert!(!failed.stderr.contains('\u{202e}'), "{:?}", failed.stderr);
    failed.stderr_has("\\x1b]0;pwned");
}

#[test]
fn a_huge_mailbox_previews_its_newest_messages_first() {
    // At most 10,000 new previews per check keep memory bounded for any
    // mailbox; the oldest wait for a later check, and say so.
    let count = letterbox::engine::MAX_NEW_PREVIEWS_PER_CHECK + 3;
    let server = MailServer::start(tls(ServerConfig::default()), sample_mailbox(count));
    let check = run(&server, "check", &["--json", "--preview-lines", "0"]);
    check.expect_code(0);
    let listed = check.json()["messages"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(count));
    for oldest in 0..3 {
        assert!(listed[oldest]["subject"].is_null(), "{}", listed[oldest]);
    }
    assert_eq!(listed[3]["subject"], "Message 4");
    assert_eq!(
        listed[count - 1]["subject"],
        format!("Message {count}").as_str()
    );
    assert_eq!(
        server.sessions()[0].commands_with("TOP").len(),
        letterbox::engine::MAX_NEW_PREVIEWS_PER_CHECK
    );
    let text = run(&server, "check", &["--preview-lines", "0"]);
    text.stdout_has("No preview yet");
}

#[test]
fn a_hang_up_after_the_password_went_out_is_not_retried() {
    // APOP refused, then USER/PASS: the server hangs up after PASS without
    // a verdict. The password was sent; trying again on a new connection
    // would only count towards a lockout. Nothing is retried.
    use crate::support::pop3_server::{Action, Fault};
    let config = tls(ServerConfig {
        apop: true,
        apop_secret: false,
        sasl: vec![],
        faults: vec![Fault::on_command("PASS", 1, Action::Drop)],
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(1));
    run(&server, "check", &[]).expect_code(3);
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1, "no second connection");
    assert_eq!(commands(&sessions[0], "PASS"), 1);
}

#[test]
fn a_passing_uidl_refusal_does_not_download_everything_again() {
    // The server gave UIDLs before; once it refuses UIDL (a passing
    // [SYS/TEMP]), keys from the headers would make every message look
    // new. The session stops with the server's words instead.
    use crate::support::pop3_server::{Action, Fault};
    let config = tls(ServerConfig {
        faults: vec![
            Fault::on_command("UIDL", 1, Action::Reply("-ERR [SYS/TEMP] try later".into()))
                .in_session(1),
        ],
        ..ServerConfig::default()
    });
    let server = MailServer::start(config, sample_mailbox(3));
    let profile = tempfile::tempdir().expect("tempdir");
    assert_eq!(fetch(&server, profile.path(), &[]).json()["downloaded"], 3);
    let profile_arg = profile.path().display().to_string();
    let again = run(&server, "fetch", &["--profile", &profile_arg]);
    again.expect_code(6);
    again.stderr_has("try later");
    let second = &server.sessions()[1];
    assert!(
        second.commands_with("RETR").is_empty(),
        "{:?}",
        second.commands
    );
    assert!(!second.quit_received, "dropped without QUIT");
}
