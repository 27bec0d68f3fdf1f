//! `letterbox check` against the scripted test server: the listing, the
//! pipelining window, every failure class with its exit code and sentence,
//! TLS trust decisions, STLS without downgrade, and passwords kept out of
//! logs.

use std::time::Duration;

use crate::support::cli::{self, Run, letterbox, letterbox_env};
use crate::support::pop3_server::{
    Action, Fault, MailServer, Message, ScriptServer, ServerConfig, Step, TlsMode, cert_sha256_hex,
    sample_mailbox, tls_fixture_path,
};

const PASSWORD: &str = "secret";

fn url(server: &MailServer, scheme: &str) -> String {
    format!("{scheme}://alice@127.0.0.1:{}", server.port())
}

fn check_plain(server: &MailServer, extra: &[&str]) -> Run {
    cli::plain("check", ("alice", PASSWORD), server.port(), extra)
}

fn localhost_pem() -> String {
    tls_fixture_path("localhost.pem").display().to_string()
}

/// The credentials never reached the server.
fn assert_no_credentials_sent(server: &MailServer) {
    for session in server.sessions() {
        for command in &session.commands {
            let keyword = command
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            assert!(
                !["USER", "PASS", "AUTH", "APOP"].contains(&keyword.as_str()),
                "credentials were sent: {:?}",
                session.commands
            );
        }
        assert!(!session.authenticated);
    }
}

#[test]
fn lists_every_message_and_changes_nothing() {
    let mut messages = sample_mailbox(3);
    messages.push(Message::new(
        "uid-dots",
        "From: =?UTF-8?B?SsO2cmc=?= <j@example.de>\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\n\n.leading dot\n..two dots\n",
    ));
    let server = MailServer::start(ServerConfig::default(), messages.clone());
    let run = check_plain(&server, &["--json", "--preview-lines", "2"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["total"], 4);
    let total: usize = messages.iter().map(|m| m.bytes.len()).sum();
    assert_eq!(json["size_bytes"], total);
    let listed = json["messages"].as_array().expect("messages");
    assert_eq!(listed.len(), 4);
    for (i, (got, sent)) in listed.iter().zip(&messages).enumerate() {
        assert_eq!(got["number"], i + 1);
        assert_eq!(got["uid"], sent.uidl.as_str());
        assert_eq!(got["size"], sent.bytes.len());
    }
    assert_eq!(listed[0]["subject"], "Message 1");
    assert_eq!(listed[0]["from"], "Sender <sender@example.test>");
    assert_eq!(listed[0]["date"], "Mon, 2 Mar 2026 10:00:00 +0000");
    assert_eq!(listed[0]["preview"], "Hello,\nthis is message number 1.");
    assert_eq!(listed[3]["subject"], "Grüße");
    assert_eq!(listed[3]["from"], "Jörg <j@example.de>");
    assert_eq!(listed[3]["preview"], ".leading dot\n..two dots");

    let sessions = server.wait_for_finished(1, Duration::from_secs(5));
    assert!(sessions[0].quit_received, "ends with QUIT");
    assert!(
        sessions[0].commands_with("DELE").is_empty(),
        "sends no DELE"
    );
    assert_eq!(server.messages(), messages, "the mailbox is unchanged");
}

#[test]
fn text_output_reads_well() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(2));
    let run = check_plain(&server, &[]);
    run.expect_code(0);
    run.stdout_has("alice on 127.0.0.1: 2 messages");
    run.stdout_has("Subject: Message 2");
    run.stdout_has("| this is message number 2.");
}

#[test]
fn without_pipelining_one_command_at_a_time() {
    let config = ServerConfig {
        pipelining: false,
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(30));
    check_plain(&server, &["--json"]).expect_code(0);
    let session = &server.wait_for_finished(1, Duration::from_secs(5))[0];
    assert_eq!(session.commands_with("TOP").len(), 30);
    assert_eq!(
        session.max_unanswered, 1,
        "never more than one command in flight"
    );
    assert_eq!(
        session.blocking_reads, session.commands_received,
        "the server waited for every command: no pipelining"
    );
}

#[test]
fn five_thousand_previews_are_pipelined() {
    let config = ServerConfig {
        answer_delay: Some(Duration::from_millis(300)),
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(5000));
    let run = check_plain(&server, &["--json", "--preview-lines", "1"]);
    run.expect_code(0);
    assert_eq!(run.json()["messages"].as_array().map(Vec::len), Some(5000));
    let session = &server.wait_for_finished(1, Duration::from_secs(10))[0];
    assert_eq!(session.commands_with("TOP").len(), 5000);
    // The window: many commands sent before the first answer came back...
    assert!(
        session.max_unanswered >= 50,
        "window only {}",
        session.max_unanswered
    );
    // ...and bounded, so the client never floods the server.
    assert!(
        session.max_unanswered <= 100,
        "window {}",
        session.max_unanswered
    );
    // Round trips: a sequential client makes the server wait ~5000 times.
    assert!(
        session.blocking_reads < 500,
        "{} round trips for 5000 TOPs",
        session.blocking_reads
    );
}

#[test]
fn server_without_uidl_or_top_still_lists() {
    let config = ServerConfig {
        capa: false,
        uidl: false,
        top: false,
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(2));
    let run = check_plain(&server, &["--json"]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["total"], 2);
    assert!(json["messages"][0]["uid"].is_null());
    assert!(json["messages"][0]["subject"].is_null());
}

#[test]
fn wrong_password_is_an_auth_error() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(1));
    let run = cli::plain("check", ("alice", "wrong"), server.port(), &[]);
    run.expect_code(5);
    run.stderr_has("did not accept the user name or password");
    assert!(run.stdout.is_empty());
}

#[test]
fn mailbox_in_use_is_a_server_error_with_a_next_step() {
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "AUTH",
            1,
            Action::Reply("-ERR [IN-USE] Mailbox locked".into()),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let run = check_plain(&server, &[]);
    run.expect_code(6);
    run.stderr_has("in use by another program");
    run.stderr_has("Close other mail programs");
}

#[test]
fn refusing_greeting_and_sys_temp() {
    let config = ServerConfig {
        faults: vec![Fault::on_connect(Action::Reply(
            "-ERR [SYS/TEMP] overloaded".into(),
        ))],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let run = check_plain(&server, &[]);
    run.expect_code(6);
    run.stderr_has("temporary problem");
}

#[test]
fn dropped_connection_mid_reply_is_a_network_error() {
    let config = ServerConfig {
        faults: vec![Fault::in_reply("TOP", 2, 20, Action::Drop)],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(3));
    let run = check_plain(&server, &[]);
    run.expect_code(3);
    run.stderr_has("connection to the mail server was lost");
    run.stderr_has("Nothing was deleted");
}

#[test]
fn stalled_server_times_out() {
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "STAT",
            1,
            Action::Stall(Duration::from_secs(10)),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let started = std::time::Instant::now();
    let run = check_plain(&server, &["--timeout-secs", "1"]);
    run.expect_code(3);
    run.stderr_has("stopped answering");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited for the stall"
    );
}

#[test]
fn garbage_reply_is_a_protocol_error() {
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "STAT",
            1,
            Action::Garbage(b"* OK IMAP4rev1 ready\r\n".to_vec()),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let run = check_plain(&server, &[]);
    run.expect_code(7);
    run.stderr_has("could not understand");
}

#[test]
fn oversize_reply_line_is_refused_without_hanging() {
    let config = ServerConfig {
        faults: vec![Fault::on_command(
            "STAT",
            1,
            Action::OversizeLine(2_000_000),
        )],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let run = check_plain(&server, &["--timeout-secs", "5"]);
    run.expect_code(7);
    run.stderr_has("longer than 4096 bytes");
}

#[test]
fn nothing_listening_is_a_network_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("pop3s://alice@127.0.0.1:{port}");
    let run = letterbox(&["check", "--url", &url], PASSWORD);
    run.expect_code(3);
    run.stderr_has("could not connect");
}

#[test]
fn bad_arguments_are_usage_errors() {
    letterbox(&["check", "--url", "imap://a@b"], PASSWORD).expect_code(2);
    letterbox(
        &["check", "--url", "pop3s://a@b", "--fingerprint", "12:34"],
        PASSWORD,
    )
    .expect_code(2);
    let run = letterbox_env(&["check", "--url", "pop3s://a@b"], &[]);
    run.expect_code(2);
    run.stderr_has("LETTERBOX_PASSWORD");
}

fn tls_server(cert: &str, mode: TlsMode, advertise_stls: bool) -> MailServer {
    let config = ServerConfig {
        tls: Some(mode),
        cert: cert.into(),
        advertise_stls,
        ..ServerConfig::default()
    };
    MailServer::start(config, sample_mailbox(2))
}

#[test]
fn untrusted_certificate_is_reported_with_its_fingerprint() {
    let server = tls_server("localhost", TlsMode::Implicit, true);
    let url = url(&server, "pop3s");
    let run = letterbox(&["check", "--url", &url], PASSWORD);
    run.expect_code(4);
    run.stderr_has("not trusted: it is self-signed");
    run.stderr_has("CN=localhost");
    let fingerprint = cert_sha256_hex("localhost").to_ascii_uppercase();
    let shown: String = run
        .stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 fingerprint: "))
        .expect("fingerprint line")
        .replace(':', "");
    assert_eq!(shown, fingerprint);
    assert_no_credentials_sent(&server);
}

#[test]
fn trusted_by_ca_file_or_pinned_fingerprint() {
    let server = tls_server("localhost", TlsMode::Implicit, true);
    let url = format!("pop3s://alice@localhost:{}", server.port());
    letterbox(
        &["check", "--url", &url, "--ca-file", &localhost_pem()],
        PASSWORD,
    )
    .expect_code(0);
    let pin = cert_sha256_hex("localhost");
    // Pinning trusts the certificate whatever the name used to connect.
    let by_ip = format!("pop3s://alice@127.0.0.1:{}", server.port());
    let run = letterbox(
        &["check", "--url", &by_ip, "--fingerprint", &pin, "--json"],
        PASSWORD,
    );
    run.expect_code(0);
    assert_eq!(run.json()["total"], 2);
}

#[test]
fn pinned_fingerprint_mismatch_sends_no_password() {
    let server = tls_server("other", TlsMode::Implicit, true);
    let url = url(&server, "pop3s");
    let pin = cert_sha256_hex("localhost");
    let run = letterbox(&["check", "--url", &url, "--fingerprint", &pin], PASSWORD);
    run.expect_code(4);
    run.stderr_has("different certificate");
    assert_no_credentials_sent(&server);
}

#[test]
fn ca_file_does_not_trust_a_different_certificate() {
    let server = tls_server("other", TlsMode::Implicit, true);
    let url = format!("pop3s://alice@localhost:{}", server.port());
    let run = letterbox(
        &["check", "--url", &url, "--ca-file", &localhost_pem()],
        PASSWORD,
    );
    run.expect_code(4);
    assert_no_credentials_sent(&server);
}

#[test]
fn starttls_upgrades_before_login() {
    let server = tls_server("localhost", TlsMode::Stls, true);
    let url = format!("pop3://alice@localhost:{}", server.port());
    let run = letterbox(
        &[
            "check",
            "--url",
            &url,
            "--ca-file",
            &localhost_pem(),
            "--json",
        ],
        PASSWORD,
    );
    run.expect_code(0);
    assert_eq!(run.json()["total"], 2);
    let session = &server.wait_for_finished(1, Duration::from_secs(5))[0];
    let keywords = session.keywords();
    let stls = keywords
        .iter()
        .position(|k| k == "STLS")
        .expect("STLS sent");
    let auth = keywords
        .iter()
        .position(|k| k == "AUTH")
        .expect("AUTH sent");
    assert!(stls < auth, "{keywords:?}");
    assert_eq!(
        keywords.iter().filter(|k| *k == "CAPA").count(),
        2,
        "capabilities asked again after TLS: {keywords:?}"
    );
}

#[test]
fn starttls_stripped_is_an_error_not_a_downgrade() {
    let server = tls_server("localhost", TlsMode::Stls, false);
    let url = format!("pop3://alice@localhost:{}", server.port());
    let run = letterbox(
        &["check", "--url", &url, "--ca-file", &localhost_pem()],
        PASSWORD,
    );
    run.expect_code(4);
    run.stderr_has("does not offer a secure connection");
    assert_no_credentials_sent(&server);
}

#[test]
fn data_injected_after_stls_is_refused() {
    let server = ScriptServer::start(vec![
        Step::line("+OK ready"),
        Step::expect("CAPA"),
        Step::Send(b"+OK\r\nSTLS\r\nUSER\r\n.\r\n".to_vec()),
        Step::expect("STLS"),
        // The +OK and a forged CAPA reply in one clear-text packet.
        Step::Send(b"+OK go ahead\r\n+OK\r\nUSER\r\n.\r\n".to_vec()),
        Step::ExpectClose,
    ]);
    let url = format!("pop3://alice@localhost:{}", server.port());
    let run = letterbox(
        &["check", "--url", &url, "--ca-file", &localhost_pem()],
        PASSWORD,
    );
    assert!(
        run.code == 7 || run.code == 4,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let outcome = server.finish();
    assert!(
        !outcome
            .received
            .iter()
            .any(|l| l.starts_with("USER") || l.starts_with("AUTH")),
        "{:?}",
        outcome.received
    );
}

#[test]
fn cleartext_password_needs_explicit_permission() {
    let config = ServerConfig {
        sasl: vec!["PLAIN".into(), "LOGIN".into()],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let url = url(&server, "pop3");
    let run = letterbox(&["check", "--url", &url, "--security", "none"], PASSWORD);
    run.expect_code(5);
    run.stderr_has("not encrypted");
    assert_no_credentials_sent(&server);
    check_plain(&server, &[]).expect_code(0);
}

#[test]
fn each_auth_mechanism_logs_in() {
    let cases: [(&str, &[&str], &str); 6] = [
        ("auto", &["CRAM-MD5", "PLAIN"], "AUTH CRAM-MD5"),
        ("plain", &["PLAIN"], "AUTH PLAIN"),
        ("login", &["LOGIN"], "AUTH LOGIN"),
        ("cram-md5", &["CRAM-MD5"], "AUTH CRAM-MD5"),
        ("xoauth2", &["XOAUTH2"], "AUTH XOAUTH2"),
        ("user", &[], "USER alice"),
    ];
    for (auth, sasl, first) in cases {
        let config = ServerConfig {
            sasl: sasl.iter().map(|s| s.to_string()).collect(),
            ..ServerConfig::default()
        };
        let server = MailServer::start(config, sample_mailbox(1));
        check_plain(&server, &["--auth", auth]).expect_code(0);
        let session = &server.wait_for_finished(1, Duration::from_secs(5))[0];
        assert!(session.authenticated, "{auth}");
        assert!(
            session.commands.iter().any(|c| c.starts_with(first)),
            "{auth}: {:?}",
            session.commands
        );
    }
    let apop = ServerConfig {
        apop: true,
        sasl: vec![],
        user_pass: false,
        ..ServerConfig::default()
    };
    let server = MailServer::start(apop, sample_mailbox(1));
    // APOP does not send the password, but an eavesdropper who records the
    // exchange can crack it offline: it takes the same explicit permission.
    let url = url(&server, "pop3");
    letterbox(&["check", "--url", &url, "--security", "none"], PASSWORD).expect_code(5);
    assert_no_credentials_sent(&server);
    check_plain(&server, &[]).expect_code(0);
    let sessions = server.sessions();
    assert!(sessions[1].authenticated);
    assert!(sessions[1].commands.iter().any(|c| c.starts_with("APOP")));
}

#[test]
fn password_never_reaches_a_log() {
    let password = "Sup3r-Secret-Passw0rd";
    let config = ServerConfig {
        password: password.into(),
        sasl: vec!["PLAIN".into(), "LOGIN".into()],
        ..ServerConfig::default()
    };
    let server = MailServer::start(config, sample_mailbox(1));
    let url = url(&server, "pop3");
    for auth in ["plain", "login", "user"] {
        let run = letterbox_env(
            &[
                "check",
                "--url",
                &url,
                "--security",
                "none",
                "--allow-plaintext",
                "--auth",
                auth,
            ],
            &[("LETTERBOX_PASSWORD", password), ("LETTERBOX_LOG", "trace")],
        );
        run.expect_code(0);
        // The trace log shows the conversation, with the secret hidden.
        run.stderr_has("[redacted]");
        for shown in [&run.stdout, &run.stderr] {
            assert!(
                !shown.contains(password),
                "{auth}: password printed:\n{shown}"
            );
            assert!(
                !shown.contains("U3VwM3It"),
                "{auth}: base64 of the password printed"
            );
        }
    }
}

#[test]
fn a_server_silent_during_the_tls_handshake_times_out_as_such() {
    // Accepts the connection and never says a word: not a certificate or
    // settings problem, a server that did not answer in time.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let holder = std::thread::spawn(move || {
        let held = listener.accept();
        std::thread::sleep(Duration::from_secs(3));
        drop(held);
    });
    let url = format!("pop3s://alice@127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let run = letterbox(&["check", "--url", &url, "--timeout-secs", "1"], PASSWORD);
    run.expect_code(3);
    run.stderr_has("stopped answering");
    assert!(
        !run.stderr.contains("secure connection"),
        "not reported as a TLS problem: {}",
        run.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    holder.join().expect("holder");
}
