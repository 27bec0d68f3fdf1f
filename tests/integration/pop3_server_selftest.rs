//! Self-tests of the POP3 test server (`tests/support/pop3_server.rs`).
//!
//! They talk to it with a raw socket, never through the client crate, so a
//! client bug cannot hide a server bug (or the other way round): the client's
//! safety tests are only as good as this server's fidelity.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::support::pop3_server::{
    Action, Fault, MailServer, Message, ScriptServer, ServerConfig, Step, TlsMode, cert_der,
    cert_sha256_hex, hmac_md5_hex, md5_hex, sample_mailbox, tls_connector_trusting,
    tls_fixture_path,
};

const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// A minimal raw POP3 client
// ---------------------------------------------------------------------------

enum RawStream {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

/// A line-oriented raw client: just enough POP3 to drive the server.
struct Raw {
    stream: RawStream,
    input: Vec<u8>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test server");
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        Raw {
            stream: RawStream::Plain(tcp),
            input: Vec::new(),
        }
    }

    fn connect_tls(port: u16, trust: &str) -> Result<Raw, String> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to the test server");
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let tls = tls_connector_trusting(trust)
            .connect("localhost", tcp)
            .map_err(|e| e.to_string())?;
        Ok(Raw {
            stream: RawStream::Tls(Box::new(tls)),
            input: Vec::new(),
        })
    }

    /// Upgrades after "+OK" to STLS.
    fn start_tls(self, trust: &str) -> Raw {
        assert!(self.input.is_empty(), "bytes after the STLS reply");
        let RawStream::Plain(tcp) = self.stream else {
            panic!("already TLS");
        };
        let tls = tls_connector_trusting(trust)
            .connect("localhost", tcp)
            .expect("STLS handshake");
        Raw {
            stream: RawStream::Tls(Box::new(tls)),
            input: Vec::new(),
        }
    }

    fn read_more(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        let n = match &mut self.stream {
            RawStream::Plain(s) => s.read(&mut buf),
            RawStream::Tls(s) => s.read(&mut buf),
        };
        match n {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.input.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// The next CRLF line without its CRLF; None on EOF.
    fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.input.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.input.drain(..pos + 2).collect();
                return Some(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            if !self.read_more() {
                return None;
            }
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        let result = match &mut self.stream {
            RawStream::Plain(s) => s.write_all(bytes),
            RawStream::Tls(s) => s.write_all(bytes),
        };
        result.expect("send to the test server");
    }

    fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.line().expect("a reply")
    }

    /// Reads a multi-line body up to the "." line and undoes dot-stuffing.
    fn body(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line = self.line().expect("multi-line body");
            if line == "." {
                return body;
            }
            let line = line.strip_prefix('.').unwrap_or(&line);
            body.extend_from_slice(line.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
    }

    /// A multi-line command: status line and body (empty after -ERR).
    fn multi(&mut self, line: &str) -> (String, Vec<u8>) {
        let status = self.cmd(line);
        if status.starts_with("+OK") {
            (status, self.body())
        } else {
            (status, Vec::new())
        }
    }

    fn greeting(&mut self) -> String {
        self.line().expect("a greeting")
    }

    /// Greeting plus USER/PASS with the default credentials.
    fn login(port: u16) -> Raw {
        let mut raw = Raw::connect(port);
        assert!(raw.greeting().starts_with("+OK"));
        assert!(raw.cmd("USER alice").starts_with("+OK"));
        let reply = raw.cmd("PASS secret");
        assert!(reply.starts_with("+OK"), "login failed: {reply}");
        raw
    }

    /// Everything until the server closes (buffered bytes included).
    fn rest(&mut self) -> Vec<u8> {
        while self.read_more() {}
        std::mem::take(&mut self.input)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn start(config: ServerConfig, messages: Vec<Message>) -> MailServer {
    MailServer::start(config, messages)
}

// ---------------------------------------------------------------------------
// The model server
// ---------------------------------------------------------------------------

#[test]
fn capa_lists_what_the_config_offers() {
    let server = start(
        ServerConfig {
            sasl: vec!["PLAIN".into(), "CRAM-MD5".into()],
            expire: Some("NEVER".into()),
            login_delay: Some(300),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(server.port());
    assert_eq!(raw.greeting(), "+OK Letterbox test POP3 server ready");
    let (status, body) = raw.multi("CAPA");
    assert!(status.starts_with("+OK"));
    let capa = text(&body);
    for line in [
        "TOP\r\n",
        "UIDL\r\n",
        "USER\r\n",
        "SASL PLAIN CRAM-MD5\r\n",
        "RESP-CODES\r\n",
        "PIPELINING\r\n",
        "EXPIRE NEVER\r\n",
        "LOGIN-DELAY 300\r\n",
    ] {
        assert!(capa.contains(line), "{line:?} missing from {capa:?}");
    }
    assert!(!capa.contains("STLS"));
}

#[test]
fn an_rfc1939_only_server_refuses_the_extensions() {
    let server = start(
        ServerConfig {
            capa: false,
            uidl: false,
            top: false,
            pipelining: false,
            ..ServerConfig::default()
        },
        sample_mailbox(2),
    );
    let mut raw = Raw::login(server.port());
    assert!(raw.cmd("CAPA").starts_with("-ERR"));
    assert!(raw.cmd("UIDL").starts_with("-ERR"));
    assert!(raw.cmd("TOP 1 0").starts_with("-ERR"));
    assert_eq!(raw.cmd("STAT"), format!("+OK 2 {}", total_size(&server)));

    let stripped = start(
        ServerConfig {
            uidl: false,
            pipelining: false,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(stripped.port());
    raw.greeting();
    let capa = text(&raw.multi("CAPA").1);
    assert!(
        !capa.contains("UIDL") && !capa.contains("PIPELINING"),
        "{capa}"
    );
}

fn total_size(server: &MailServer) -> usize {
    server.messages().iter().map(|m| m.bytes.len()).sum()
}

#[test]
fn stat_list_and_uidl_report_sizes_and_ids() {
    let messages = sample_mailbox(3);
    let server = start(ServerConfig::default(), messages.clone());
    let mut raw = Raw::login(server.port());
    assert_eq!(raw.cmd("STAT"), format!("+OK 3 {}", total_size(&server)));
    let expected_list: String = messages
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}\r\n", i + 1, m.bytes.len()))
        .collect();
    assert_eq!(text(&raw.multi("LIST").1), expected_list);
    assert_eq!(
        text(&raw.multi("UIDL").1),
        "1 uid-0001\r\n2 uid-0002\r\n3 uid-0003\r\n"
    );
    assert_eq!(
        raw.cmd("LIST 2"),
        format!("+OK 2 {}", messages[1].bytes.len())
    );
    assert_eq!(raw.cmd("UIDL 3"), "+OK 3 uid-0003");
    assert_eq!(
        raw.cmd("LIST 4"),
        "-ERR no such message, only 3 messages in maildrop"
    );
    assert!(raw.cmd("RETR 0").starts_with("-ERR"));
    assert!(raw.cmd("RETR x").starts_with("-ERR"));
}

#[test]
fn retr_delivers_the_exact_bytes_and_top_the_header_plus_n_lines() {
    let message = Message::new(
        "m1",
        "Subject: hi\nFrom: a@b.test\n\nline 1\nline 2\nline 3\n",
    );
    assert!(
        message.bytes.ends_with(b"line 3\r\n"),
        "Message::new makes CRLF"
    );
    let server = start(ServerConfig::default(), vec![message.clone()]);
    let mut raw = Raw::login(server.port());
    let (status, body) = raw.multi("RETR 1");
    assert_eq!(status, format!("+OK {} octets", message.bytes.len()));
    assert_eq!(body, message.bytes);
    assert_eq!(
        text(&raw.multi("TOP 1 2").1),
        "Subject: hi\r\nFrom: a@b.test\r\n\r\nline 1\r\nline 2\r\n"
    );
    assert_eq!(
        text(&raw.multi("TOP 1 0").1),
        "Subject: hi\r\nFrom: a@b.test\r\n\r\n"
    );
    assert_eq!(raw.multi("TOP 1 99").1, message.bytes);
}

#[test]
fn dot_stuffing_round_trips_and_is_on_the_wire() {
    let tricky = Message::new(
        "dots",
        "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\nend.\r\n. \r\n",
    );
    let server = start(ServerConfig::default(), vec![tricky.clone()]);
    let mut raw = Raw::login(server.port());
    raw.send("RETR 1");
    // Read the raw reply first: the wire must carry the stuffed form.
    let mut wire = Vec::new();
    while !wire.ends_with(b"\r\n.\r\n") {
        assert!(raw.read_more(), "server closed mid-RETR");
        wire = raw.input.clone();
    }
    let wire = text(&wire);
    assert!(
        wire.contains("\r\n..\r\n...\r\n..hidden\r\nend.\r\n.. \r\n.\r\n"),
        "{wire:?}"
    );
    assert!(raw.line().unwrap().starts_with("+OK"));
    assert_eq!(raw.body(), tricky.bytes);
}

#[test]
fn deletions_apply_only_at_quit() {
    let server = start(ServerConfig::default(), sample_mailbox(3));
    let mut raw = Raw::login(server.port());
    assert_eq!(raw.cmd("DELE 2"), "+OK message 2 deleted");
    assert_eq!(raw.cmd("DELE 2"), "-ERR message 2 already deleted");
    assert_eq!(raw.cmd("RETR 2"), "-ERR message 2 already deleted");
    assert_eq!(raw.cmd("LIST 2"), "-ERR message 2 already deleted");
    assert_eq!(raw.cmd("TOP 2 0"), "-ERR message 2 already deleted");
    assert_eq!(text(&raw.multi("UIDL").1), "1 uid-0001\r\n3 uid-0003\r\n");
    assert!(raw.cmd("STAT").starts_with("+OK 2 "));
    // Not applied yet: the mailbox still holds all three.
    assert_eq!(server.uidls(), ["uid-0001", "uid-0002", "uid-0003"]);
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    assert_eq!(server.uidls(), ["uid-0001", "uid-0003"]);

    let record = &server.wait_for_finished(1, WAIT)[0];
    assert!(record.quit_received && record.updated);
    assert_eq!(record.deleted_uidls, ["uid-0002"]);
}

#[test]
fn a_dropped_connection_keeps_every_message() {
    let server = start(ServerConfig::default(), sample_mailbox(3));
    let mut raw = Raw::login(server.port());
    assert!(raw.cmd("DELE 1").starts_with("+OK"));
    assert!(raw.cmd("DELE 3").starts_with("+OK"));
    drop(raw);
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert!(!record.quit_received && !record.updated);
    assert_eq!(server.messages().len(), 3);
    assert!(!server.is_locked(), "the lock dies with the session");
}

#[test]
fn rset_unmarks_and_quit_before_login_applies_nothing() {
    let server = start(ServerConfig::default(), sample_mailbox(2));
    let mut raw = Raw::login(server.port());
    assert!(raw.cmd("DELE 1").starts_with("+OK"));
    assert!(raw.cmd("RSET").starts_with("+OK maildrop has 2 messages"));
    assert!(raw.cmd("RETR 1").starts_with("+OK"));
    raw.body();
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    assert_eq!(server.messages().len(), 2);

    let mut raw = Raw::connect(server.port());
    raw.greeting();
    assert!(raw.cmd("STAT").starts_with("-ERR"), "no STAT before login");
    assert_eq!(raw.cmd("QUIT"), "+OK bye");
    let records = server.wait_for_finished(2, WAIT);
    assert!(records[1].quit_received && !records[1].updated);
}

#[test]
fn message_numbers_follow_the_mailbox_of_each_session() {
    let server = start(ServerConfig::default(), sample_mailbox(3));
    let mut raw = Raw::login(server.port());
    assert_eq!(raw.cmd("UIDL 2"), "+OK 2 uid-0002");
    // Another client deletes uid-0001 meanwhile: this session's view stays.
    assert!(server.remove_uidl("uid-0001"));
    assert!(!server.remove_uidl("uid-0001"));
    assert_eq!(raw.cmd("UIDL 2"), "+OK 2 uid-0002");
    assert!(raw.cmd("DELE 3").starts_with("+OK"));
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    assert_eq!(server.uidls(), ["uid-0002"]);

    server.add_message(Message::sample("uid-new", "new", "new\r\n"));
    let mut raw = Raw::login(server.port());
    assert_eq!(text(&raw.multi("UIDL").1), "1 uid-0002\r\n2 uid-new\r\n");
}

#[test]
fn a_second_session_of_the_same_user_is_refused_while_the_first_holds_the_lock() {
    let server = start(ServerConfig::default(), sample_mailbox(1));
    let mut first = Raw::login(server.port());
    assert!(server.is_locked());

    let mut second = Raw::connect(server.port());
    second.greeting();
    second.cmd("USER alice");
    assert_eq!(
        second.cmd("PASS secret"),
        "-ERR [IN-USE] mailbox is locked by another session"
    );
    assert!(first.cmd("QUIT").starts_with("+OK"));
    // The lock is released before +OK to QUIT is sent.
    second.cmd("USER alice");
    assert!(second.cmd("PASS secret").starts_with("+OK"));
    // A client that hangs up and reconnects at once gets in too.
    drop(second);
    let _third = Raw::login(server.port());

    let unlocked = start(
        ServerConfig {
            lock_mailbox: false,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let _a = Raw::login(unlocked.port());
    let _b = Raw::login(unlocked.port());
    assert!(!unlocked.is_locked());
}

#[test]
fn wrong_credentials_are_refused_with_auth_code() {
    let server = start(ServerConfig::default(), sample_mailbox(1));
    let mut raw = Raw::connect(server.port());
    raw.greeting();
    assert!(
        raw.cmd("PASS secret").starts_with("-ERR"),
        "PASS before USER"
    );
    raw.cmd("USER alice");
    assert_eq!(
        raw.cmd("PASS wrong"),
        "-ERR [AUTH] invalid user name or password"
    );
    raw.cmd("USER bob");
    assert!(raw.cmd("PASS secret").starts_with("-ERR [AUTH]"));

    let no_codes = start(
        ServerConfig {
            resp_codes: false,
            user_pass: false,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(no_codes.port());
    raw.greeting();
    assert!(raw.cmd("USER alice").starts_with("-ERR"), "USER disabled");
    assert_eq!(
        raw.cmd("AUTH PLAIN AGFsaWNlAHdyb25n"),
        "-ERR authentication failed"
    );
}

#[test]
fn apop_uses_the_greeting_timestamp() {
    let server = start(
        ServerConfig {
            apop: true,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(server.port());
    let greeting = raw.greeting();
    let at = greeting.find('<').expect("timestamp in the greeting");
    let timestamp = &greeting[at..];
    assert!(timestamp.ends_with('>'), "{greeting}");
    assert!(
        raw.cmd(&format!("APOP alice {}", md5_hex(b"nope")))
            .starts_with("-ERR [AUTH]")
    );
    let digest = md5_hex(format!("{timestamp}secret").as_bytes());
    assert!(raw.cmd(&format!("APOP alice {digest}")).starts_with("+OK"));
    let record = &server.sessions()[0];
    assert_eq!(record.commands[1], "APOP alice [redacted]");

    // RFC 1939's own example, through a greeting override.
    let example = start(
        ServerConfig {
            apop: true,
            password: "tanstaaf".into(),
            user: "mrose".into(),
            greeting: Some("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>".into()),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(example.port());
    raw.greeting();
    assert!(
        raw.cmd("APOP mrose c4c9334bac560ecc979e58001b3e22fb")
            .starts_with("+OK")
    );
}

#[test]
fn sasl_mechanisms_authenticate_and_secrets_are_redacted() {
    let server = start(
        ServerConfig {
            sasl: vec![
                "PLAIN".into(),
                "LOGIN".into(),
                "CRAM-MD5".into(),
                "XOAUTH2".into(),
            ],
            lock_mailbox: false,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let b64 = |s: &[u8]| BASE64.encode(s);

    // PLAIN with an initial response.
    let mut raw = Raw::connect(server.port());
    raw.greeting();
    assert!(
        raw.cmd(&format!("AUTH PLAIN {}", b64(b"\0alice\0secret")))
            .starts_with("+OK")
    );

    // PLAIN with a continuation.
    raw = Raw::connect(server.port());
    raw.greeting();
    assert_eq!(raw.cmd("AUTH PLAIN"), "+ ");
    assert!(raw.cmd(&b64(b"alice\0alice\0secret")).starts_with("+OK"));

    // LOGIN.
    raw = Raw::connect(server.port());
    raw.greeting();
    assert_eq!(raw.cmd("AUTH LOGIN"), format!("+ {}", b64(b"Username:")));
    assert_eq!(raw.cmd(&b64(b"alice")), format!("+ {}", b64(b"Password:")));
    assert!(raw.cmd(&b64(b"secret")).starts_with("+OK"));

    // CRAM-MD5 (RFC 2195).
    raw = Raw::connect(server.port());
    raw.greeting();
    let challenge = raw.cmd("AUTH CRAM-MD5");
    let challenge = BASE64
        .decode(challenge.strip_prefix("+ ").expect("a challenge"))
        .unwrap();
    let digest = hmac_md5_hex(b"secret", &challenge);
    assert!(
        raw.cmd(&b64(format!("alice {digest}").as_bytes()))
            .starts_with("+OK")
    );

    // XOAUTH2, right and wrong token.
    raw = Raw::connect(server.port());
    raw.greeting();
    let token = b64(b"user=alice\x01auth=Bearer wrong\x01\x01");
    assert!(
        raw.cmd(&format!("AUTH XOAUTH2 {token}"))
            .starts_with("-ERR")
    );
    let token = b64(b"user=alice\x01auth=Bearer secret\x01\x01");
    assert!(raw.cmd(&format!("AUTH XOAUTH2 {token}")).starts_with("+OK"));

    // Cancel, and a mechanism that is not offered.
    raw = Raw::connect(server.port());
    raw.greeting();
    assert_eq!(raw.cmd("AUTH LOGIN"), format!("+ {}", b64(b"Username:")));
    assert_eq!(raw.cmd("*"), "-ERR authentication cancelled");
    assert!(raw.cmd("AUTH GSSAPI").starts_with("-ERR"));
    drop(raw);

    let records = server.wait_for_finished(6, WAIT);
    assert_eq!(records[0].commands, ["AUTH PLAIN [redacted]"]);
    assert_eq!(records[1].commands, ["AUTH PLAIN", "[redacted]"]);
    assert_eq!(
        records[2].commands,
        ["AUTH LOGIN", "[redacted]", "[redacted]"]
    );
    assert_eq!(records[5].commands, ["AUTH LOGIN", "*", "AUTH GSSAPI"]);
    for record in &records {
        let all = record.commands.join("\n");
        assert!(
            !all.contains("secret") && !all.contains(&b64(b"secret")),
            "{all}"
        );
        assert_eq!(record.authenticated, record.index < 5, "{record:?}");
    }
}

#[test]
fn dropping_the_server_closes_open_sessions_promptly() {
    let server = start(
        ServerConfig {
            faults: vec![Fault::on_command(
                "NOOP",
                1,
                Action::Stall(Duration::from_secs(60)),
            )],
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut idle = Raw::connect(server.port());
    idle.greeting();
    let mut stalled = Raw::login(server.port());
    stalled.send("NOOP");
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    assert!(idle.rest().is_empty());
    assert!(stalled.rest().is_empty());
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

fn with_faults(faults: Vec<Fault>) -> ServerConfig {
    ServerConfig {
        faults,
        ..ServerConfig::default()
    }
}

/// How long the server kept the socket open and silent, and what it sent.
fn time_until_close(raw: &mut Raw) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let rest = raw.rest();
    (started.elapsed(), rest)
}

#[test]
fn connect_faults_drop_stall_or_replace_the_greeting() {
    let server = start(
        with_faults(vec![
            Fault::on_connect(Action::Drop).in_session(0),
            Fault::on_connect(Action::Stall(Duration::from_millis(300))).in_session(1),
            Fault::on_connect(Action::Reply("-ERR [SYS/TEMP] busy".into())).in_session(2),
            Fault::on_connect(Action::Garbage(b"\x00\x7fjunk\r\n".to_vec())).in_session(3),
        ]),
        sample_mailbox(1),
    );
    assert!(Raw::connect(server.port()).rest().is_empty());

    let mut raw = Raw::connect(server.port());
    let (silent, bytes) = time_until_close(&mut raw);
    assert!(bytes.is_empty());
    assert!(silent >= Duration::from_millis(280), "{silent:?}");

    assert_eq!(
        Raw::connect(server.port()).rest(),
        b"-ERR [SYS/TEMP] busy\r\n"
    );

    raw = Raw::connect(server.port());
    raw.send("NOOP");
    assert_eq!(raw.line().unwrap().as_bytes(), b"\x00\x7fjunk");
    assert!(raw.line().unwrap().starts_with("-ERR"), "session goes on");

    // Session 4 is not targeted.
    raw = Raw::connect(server.port());
    assert!(raw.greeting().starts_with("+OK"));
    drop(raw);
    let records = server.wait_for_finished(5, WAIT);
    let fired: Vec<Vec<usize>> = records.iter().map(|r| r.faults_fired.clone()).collect();
    assert_eq!(fired, [vec![0], vec![1], vec![2], vec![3], vec![]]);
}

#[test]
fn command_drop_fires_at_the_nth_occurrence_without_reply() {
    let server = start(
        with_faults(vec![Fault::on_command("retr", 2, Action::Drop)]),
        sample_mailbox(3),
    );
    let mut raw = Raw::login(server.port());
    assert!(raw.multi("RETR 1").0.starts_with("+OK"));
    assert!(raw.cmd("DELE 1").starts_with("+OK"));
    raw.send("RETR 2");
    assert!(raw.rest().is_empty(), "no reply at all");
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.commands_with("RETR"), ["RETR 1", "RETR 2"]);
    assert_eq!(record.faults_fired, [0]);
    assert!(!record.updated);
    assert_eq!(server.messages().len(), 3);

    // The fault applies to every session: each one's 2nd RETR.
    let mut raw = Raw::login(server.port());
    assert!(raw.multi("RETR 3").0.starts_with("+OK"));
    raw.send("RETR 3");
    assert!(raw.rest().is_empty());
}

#[test]
fn command_stall_keeps_the_socket_silent_then_closes() {
    let server = start(
        with_faults(vec![Fault::on_command(
            "NOOP",
            1,
            Action::Stall(Duration::from_millis(300)),
        )]),
        sample_mailbox(1),
    );
    let mut raw = Raw::login(server.port());
    raw.send("NOOP");
    let (silent, bytes) = time_until_close(&mut raw);
    assert!(bytes.is_empty());
    assert!(silent >= Duration::from_millis(280), "{silent:?}");
}

#[test]
fn command_reply_and_garbage_replace_the_answer_and_the_session_goes_on() {
    let server = start(
        with_faults(vec![
            Fault::on_command("PASS", 1, Action::Reply("-ERR [IN-USE] locked".into())),
            Fault::on_command(
                "STAT",
                1,
                Action::Garbage(b"+OK 1 2 3 4\r\nbogus\r\n".to_vec()),
            ),
        ]),
        sample_mailbox(2),
    );
    let mut raw = Raw::connect(server.port());
    raw.greeting();
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS secret"), "-ERR [IN-USE] locked");
    assert!(!server.is_locked(), "the replaced PASS was not executed");
    assert!(raw.cmd("PASS secret").starts_with("+OK"));
    assert_eq!(raw.cmd("STAT"), "+OK 1 2 3 4");
    assert_eq!(raw.line().unwrap(), "bogus");
    assert!(raw.cmd("STAT").starts_with("+OK 2 "));
}

#[test]
fn drop_after_dele_reply_applies_nothing() {
    let server = start(
        with_faults(vec![Fault::on_command("DELE", 1, Action::DropAfterReply)]),
        sample_mailbox(2),
    );
    let mut raw = Raw::login(server.port());
    raw.send("DELE 1");
    assert_eq!(text(&raw.rest()), "+OK message 1 deleted\r\n");
    server.wait_for_finished(1, WAIT);
    assert_eq!(server.messages().len(), 2);
}

#[test]
fn quit_can_be_dropped_before_or_after_the_update() {
    // Drop: the QUIT is never executed, nothing is deleted.
    let before = start(
        with_faults(vec![Fault::on_command("QUIT", 1, Action::Drop)]),
        sample_mailbox(2),
    );
    let mut raw = Raw::login(before.port());
    raw.cmd("DELE 1");
    raw.send("QUIT");
    assert!(raw.rest().is_empty());
    let record = &before.wait_for_finished(1, WAIT)[0];
    assert!(record.quit_received && !record.updated);
    assert_eq!(before.messages().len(), 2);

    // ApplyThenDrop: deletions applied, but the client never sees +OK.
    let after = start(
        with_faults(vec![Fault::on_command("QUIT", 1, Action::ApplyThenDrop)]),
        sample_mailbox(2),
    );
    let mut raw = Raw::login(after.port());
    raw.cmd("DELE 1");
    raw.send("QUIT");
    assert!(raw.rest().is_empty());
    let record = &after.wait_for_finished(1, WAIT)[0];
    assert!(record.updated);
    assert_eq!(after.uidls(), ["uid-0002"]);
}

#[test]
fn byte_triggers_cut_replies_at_exact_offsets() {
    let config = |fault: Fault| ServerConfig {
        greeting: Some("+OK hi".into()),
        ..with_faults(vec![fault])
    };
    // After 8 greeting bytes + 5: CAPA's reply is cut after "+OK C".
    let server = start(
        config(Fault::after_reply_bytes(13, Action::Drop)),
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(server.port());
    raw.send("CAPA");
    assert_eq!(text(&raw.rest()), "+OK hi\r\n+OK C");
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.bytes_sent, 13);

    // The 2nd RETR cut 100 bytes into its reply.
    let messages = sample_mailbox(2);
    let server = start(
        config(Fault::in_reply("RETR", 2, 100, Action::Drop)),
        messages.clone(),
    );
    let mut raw = Raw::login(server.port());
    assert_eq!(raw.multi("RETR 1").1, messages[0].bytes);
    raw.send("RETR 2");
    let partial = raw.rest();
    let full = format!("+OK {} octets\r\n", messages[1].bytes.len()).into_bytes();
    let full = [full, messages[1].bytes.clone(), b".\r\n".to_vec()].concat();
    assert_eq!(partial, full[..100]);

    // Stall mid-reply: the first bytes, then silence, then close.
    let server = start(
        config(Fault::in_reply(
            "RETR",
            1,
            20,
            Action::Stall(Duration::from_millis(300)),
        )),
        messages.clone(),
    );
    let mut raw = Raw::login(server.port());
    raw.send("RETR 1");
    let (silent, bytes) = time_until_close(&mut raw);
    assert_eq!(bytes.len(), 20);
    assert!(silent >= Duration::from_millis(280), "{silent:?}");

    // Garbage replaces the rest of the reply; the session goes on.
    let server = start(
        config(Fault::in_reply(
            "LIST",
            1,
            4,
            Action::Garbage(b"\x01\x02\r\n".to_vec()),
        )),
        messages.clone(),
    );
    let mut raw = Raw::login(server.port());
    assert_eq!(raw.cmd("LIST 1").as_bytes(), b"+OK \x01\x02");
    assert!(raw.cmd("NOOP").starts_with("+OK"));
}

#[test]
fn oversize_lines_pad_the_status_or_go_into_a_body() {
    let messages = sample_mailbox(1);
    let server = start(
        with_faults(vec![
            Fault::on_command("NOOP", 1, Action::OversizeLine(5000)),
            Fault::in_reply("RETR", 1, 40, Action::OversizeLine(3000)),
        ]),
        messages.clone(),
    );
    let mut raw = Raw::login(server.port());
    let long = raw.cmd("NOOP");
    assert_eq!(long.len() + 2, 5000);
    assert!(long.starts_with("+OK xxx"));

    raw.send("RETR 1");
    let status = raw.line().unwrap();
    let body = raw.body();
    // The x-line went in at byte 40 of the reply, i.e. after the status
    // line and the first bytes of the message.
    let at = 40 - (status.len() + 2);
    let mut spliced = messages[0].bytes.clone();
    spliced.splice(at..at, std::iter::repeat_n(b'x', 2998).chain(*b"\r\n"));
    assert_eq!(body, spliced);
}

#[test]
fn faults_can_target_one_session() {
    let server = start(
        with_faults(vec![
            Fault::on_command("RETR", 1, Action::Drop).in_session(1),
        ]),
        sample_mailbox(1),
    );
    for index in 0..3 {
        let mut raw = Raw::login(server.port());
        raw.send("RETR 1");
        let reply = raw.line();
        if index == 1 {
            assert_eq!(reply, None);
        } else {
            assert!(reply.unwrap().starts_with("+OK"));
            raw.body();
            raw.cmd("QUIT");
        }
        server.wait_for_finished(index + 1, WAIT);
    }
}

// ---------------------------------------------------------------------------
// Pipelining metrics
// ---------------------------------------------------------------------------

#[test]
fn a_sequential_client_blocks_once_per_command_with_one_outstanding() {
    let server = start(ServerConfig::default(), sample_mailbox(3));
    let mut raw = Raw::login(server.port());
    raw.cmd("STAT");
    raw.multi("LIST");
    raw.multi("UIDL");
    raw.cmd("NOOP");
    raw.cmd("QUIT");
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.commands_received, 7);
    assert_eq!(record.blocking_reads, 7);
    assert_eq!(record.max_unanswered, 1);
}

#[test]
fn a_pipelining_client_shows_outstanding_commands_and_fewer_blocking_reads() {
    let server = start(
        ServerConfig {
            answer_delay: Some(Duration::from_millis(200)),
            ..ServerConfig::default()
        },
        sample_mailbox(3),
    );
    let mut raw = Raw::login(server.port());
    raw.send_raw(b"STAT\r\nLIST\r\nUIDL\r\nNOOP\r\nQUIT\r\n");
    assert!(raw.line().unwrap().starts_with("+OK 3 "));
    raw.body();
    raw.body();
    assert_eq!(raw.line().unwrap(), "+OK");
    assert!(raw.line().unwrap().starts_with("+OK bye"));
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.commands_received, 7);
    assert_eq!(record.max_unanswered, 5);
    // USER, PASS, then one wait for the whole batch.
    assert_eq!(record.blocking_reads, 3);

    // Separate writes during the answer delay still count as outstanding.
    let mut raw = Raw::login(server.port());
    for command in ["STAT", "NOOP", "NOOP"] {
        raw.send(command);
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..3 {
        assert!(raw.line().unwrap().starts_with("+OK"));
    }
    raw.cmd("QUIT");
    let record = &server.wait_for_finished(2, WAIT)[1];
    assert_eq!(record.max_unanswered, 3);
    assert!(record.blocking_reads < record.commands_received);
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

#[test]
fn fixture_fingerprints_match_the_readme_and_differ() {
    let localhost = cert_sha256_hex("localhost");
    let other = cert_sha256_hex("other");
    assert_eq!(
        localhost,
        "9a25224dc77c8b4c5cf04b888be52b6099db7391cd5956b1773501ac012c27e9"
    );
    assert_eq!(
        other,
        "b56453d4c97e3a8eff088ddb8405d16792cb1fbb652a3f0b826261cf00525d22"
    );
    assert_ne!(cert_der("localhost"), cert_der("other"));
    let readme = std::fs::read_to_string(tls_fixture_path("README.md")).unwrap();
    for hex in [localhost, other] {
        let colons: Vec<String> = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| String::from_utf8_lossy(pair).to_uppercase())
            .collect();
        assert!(readme.contains(&colons.join(":")), "README lacks {hex}");
    }
}

#[test]
fn implicit_tls_serves_the_fixture_certificate() {
    let server = start(
        ServerConfig {
            tls: Some(TlsMode::Implicit),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect_tls(server.port(), "localhost").expect("handshake");
    assert!(raw.greeting().starts_with("+OK"));
    raw.cmd("USER alice");
    assert!(raw.cmd("PASS secret").starts_with("+OK"));
    assert!(raw.cmd("QUIT").starts_with("+OK"));
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.tls_from_command, Some(0));

    // A plain-text client gets no greeting.
    let mut plain = Raw::connect(server.port());
    plain.send("CAPA");
    let reply = plain.line();
    assert!(
        reply.as_ref().is_none_or(|l| !l.starts_with("+OK")),
        "{reply:?}"
    );
}

#[test]
fn a_server_with_the_other_certificate_fails_verification() {
    let server = start(
        ServerConfig {
            tls: Some(TlsMode::Implicit),
            cert: "other".into(),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let error = Raw::connect_tls(server.port(), "localhost")
        .err()
        .expect("the client must reject the other certificate");
    assert!(!error.is_empty());
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert!(record.tls_error.is_some(), "{record:?}");
    assert_eq!(record.commands_received, 0);
    // The same server is fine for a client that trusts "other".
    let mut raw = Raw::connect_tls(server.port(), "other").expect("handshake");
    assert!(raw.greeting().starts_with("+OK"));
}

#[test]
fn stls_upgrades_and_is_then_no_longer_offered() {
    let server = start(
        ServerConfig {
            tls: Some(TlsMode::Stls),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(server.port());
    raw.greeting();
    assert!(text(&raw.multi("CAPA").1).contains("STLS\r\n"));
    assert_eq!(raw.cmd("STLS"), "+OK begin TLS negotiation");
    let mut raw = raw.start_tls("localhost");
    assert!(!text(&raw.multi("CAPA").1).contains("STLS"));
    assert!(raw.cmd("STLS").starts_with("-ERR"));
    raw.cmd("USER alice");
    assert!(raw.cmd("PASS secret").starts_with("+OK"));
    raw.cmd("QUIT");
    let record = &server.wait_for_finished(1, WAIT)[0];
    assert_eq!(record.tls_from_command, Some(2));
    assert_eq!(record.plaintext_after_stls_bytes, 0);
    assert_eq!(&record.commands[..2], ["CAPA", "STLS"]);
}

#[test]
fn stls_can_be_stripped_and_plaintext_after_stls_is_discarded() {
    let stripped = start(
        ServerConfig {
            tls: Some(TlsMode::Stls),
            advertise_stls: false,
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(stripped.port());
    raw.greeting();
    assert!(!text(&raw.multi("CAPA").1).contains("STLS"));
    assert!(raw.cmd("STLS").starts_with("-ERR"));

    // A command injected after STLS in the same packet is thrown away.
    let server = start(
        ServerConfig {
            tls: Some(TlsMode::Stls),
            ..ServerConfig::default()
        },
        sample_mailbox(1),
    );
    let mut raw = Raw::connect(server.port());
    raw.greeting();
    raw.send_raw(b"STLS\r\nUSER mallory\r\n");
    assert!(raw.line().unwrap().starts_with("+OK"));
    let mut raw = raw.start_tls("localhost");
    assert!(
        raw.cmd("PASS secret").starts_with("-ERR"),
        "USER was dropped"
    );
    let record = &server.sessions()[0];
    assert_eq!(record.plaintext_after_stls_bytes, b"USER mallory\r\n".len());
    assert_eq!(record.commands, ["STLS", "PASS [redacted]"]);
}

// ---------------------------------------------------------------------------
// ScriptServer
// ---------------------------------------------------------------------------

#[test]
fn a_script_plays_and_reports_what_it_received() {
    let script = ScriptServer::start(vec![
        Step::line("+OK scripted"),
        Step::expect("CAPA"),
        Step::Send(b"+OK\r\n..odd\r\n.\r\n".to_vec()),
        Step::ExpectPrefix("USER ".into()),
        Step::line("+OK"),
        Step::ExpectAny,
        Step::line("-ERR nope"),
        Step::expect("QUIT"),
    ]);
    let mut raw = Raw::connect(script.port());
    assert_eq!(raw.greeting(), "+OK scripted");
    assert_eq!(raw.multi("CAPA").1, b".odd\r\n");
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS x"), "-ERR nope");
    raw.send("QUIT");
    assert!(raw.rest().is_empty(), "closed after the last step");
    let outcome = script.finish();
    assert_eq!(outcome.received, ["CAPA", "USER alice", "PASS x", "QUIT"]);
    assert!(outcome.mismatches.is_empty(), "{:?}", outcome.mismatches);
}

#[test]
fn a_script_records_mismatches_bare_lf_and_early_close() {
    let script = ScriptServer::start(vec![
        Step::line("+OK"),
        Step::expect("CAPA"),
        Step::expect("NOOP"),
        Step::expect("QUIT"),
    ]);
    let mut raw = Raw::connect(script.port());
    raw.greeting();
    raw.send("STAT");
    raw.send_raw(b"NOOP\n");
    drop(raw);
    let outcome = script.finish();
    assert_eq!(outcome.received, ["STAT", "NOOP"]);
    assert_eq!(outcome.mismatches.len(), 3, "{:?}", outcome.mismatches);
    assert!(outcome.mismatches[0].contains("expected \"CAPA\""));
    assert!(outcome.mismatches[1].contains("bare LF"));
    assert!(outcome.mismatches[2].contains("closed"));
}

#[test]
fn a_script_can_stall_drop_and_expect_a_close() {
    let script = ScriptServer::start(vec![
        Step::Send(b"+OK partial".to_vec()),
        Step::Stall(Duration::from_millis(200)),
        Step::Drop,
        Step::line("never sent"),
    ]);
    let mut raw = Raw::connect(script.port());
    let (silent, bytes) = time_until_close(&mut raw);
    assert_eq!(bytes, b"+OK partial");
    assert!(silent >= Duration::from_millis(180), "{silent:?}");
    assert!(script.finish().mismatches.is_empty());

    let script = ScriptServer::start(vec![Step::line("-ERR go away"), Step::ExpectClose]);
    let mut raw = Raw::connect(script.port());
    raw.greeting();
    drop(raw);
    assert!(script.finish().mismatches.is_empty());
}

#[test]
fn a_script_can_upgrade_to_tls() {
    let script = ScriptServer::start(vec![
        Step::line("+OK"),
        Step::expect("STLS"),
        Step::line("+OK go ahead"),
        Step::StartTls,
        Step::expect("CAPA"),
        Step::Send(b"+OK\r\nUSER\r\n.\r\n".to_vec()),
    ]);
    let mut raw = Raw::connect(script.port());
    raw.greeting();
    raw.cmd("STLS");
    let mut raw = raw.start_tls("localhost");
    assert_eq!(raw.multi("CAPA").1, b"USER\r\n");
    let outcome = script.finish();
    assert!(outcome.mismatches.is_empty(), "{:?}", outcome.mismatches);
    assert_eq!(outcome.received, ["STLS", "CAPA"]);
}
