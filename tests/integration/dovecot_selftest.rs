//! Tests of the Dovecot test helper itself (`tests/support/dovecot.rs`), talking POP3 to
//! the real server with a minimal hand-written client: plain, STLS, implicit TLS, and the
//! USER/PASS, CRAM-MD5 and APOP logins. Run alone with
//! `cargo test --test integration dovecot_selftest`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use md5::Digest as _;
use native_tls::{Certificate, TlsConnector};

use crate::support::dovecot::{Dovecot, DovecotUser, wire_size};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A deliberately dumb POP3 client over any stream.
struct Pop<S: Read + Write> {
    io: BufReader<S>,
    greeting: String,
}

impl<S: Read + Write> Pop<S> {
    fn new(stream: S) -> Self {
        let mut p = Pop {
            io: BufReader::new(stream),
            greeting: String::new(),
        };
        p.greeting = p.line();
        assert!(p.greeting.starts_with("+OK"), "greeting: {}", p.greeting);
        p
    }

    /// Continues on an already greeted stream (after STLS).
    fn resume(stream: S) -> Self {
        Pop {
            io: BufReader::new(stream),
            greeting: String::new(),
        }
    }

    fn into_inner(self) -> S {
        assert!(
            self.io.buffer().is_empty(),
            "unread bytes before the TLS upgrade"
        );
        self.io.into_inner()
    }

    fn raw_line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.io
            .read_until(b'\n', &mut buf)
            .expect("read from server");
        assert!(buf.ends_with(b"\r\n"), "line without CRLF: {buf:?}");
        buf
    }

    fn line(&mut self) -> String {
        let l = self.raw_line();
        String::from_utf8_lossy(&l[..l.len() - 2]).into_owned()
    }

    fn send(&mut self, line: &str) {
        let s = self.io.get_mut();
        s.write_all(line.as_bytes()).unwrap();
        s.write_all(b"\r\n").unwrap();
        s.flush().unwrap();
    }

    /// Sends a command, returns the status line (panics unless it is +OK).
    fn ok(&mut self, line: &str) -> String {
        let r = self.cmd(line);
        assert!(r.starts_with("+OK"), "{line:?} -> {r}");
        r
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.line()
    }

    /// Reads a multi-line body after +OK: dot-unstuffed bytes, CRLF kept.
    fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.raw_line();
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(if l.starts_with(b".") { &l[1..] } else { &l });
        }
    }

    fn multi(&mut self, line: &str) -> Vec<u8> {
        self.ok(line);
        self.body()
    }

    fn multi_lines(&mut self, line: &str) -> Vec<String> {
        String::from_utf8(self.multi(line))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn login(&mut self, user: &str, password: &str) {
        self.ok(&format!("USER {user}"));
        self.ok(&format!("PASS {password}"));
    }
}

fn plain(dc: &Dovecot) -> Pop<TcpStream> {
    let s = TcpStream::connect((dc.host(), dc.plain_port())).expect("connect to plain port");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    Pop::new(s)
}

fn connector(dc: &Dovecot) -> TlsConnector {
    let pem = std::fs::read(dc.ca_file()).expect("read CA file");
    TlsConnector::builder()
        .add_root_certificate(Certificate::from_pem(&pem).expect("parse CA PEM"))
        .build()
        .unwrap()
}

fn implicit_tls(dc: &Dovecot) -> Pop<native_tls::TlsStream<TcpStream>> {
    let s = TcpStream::connect((dc.host(), dc.tls_port())).expect("connect to TLS port");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    Pop::new(
        connector(dc)
            .connect("localhost", s)
            .expect("TLS handshake"),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Three CRLF messages; the second has dot-stuffing material.
fn sample_messages(tag: &str) -> Vec<Vec<u8>> {
    (1..=3)
        .map(|i| {
            let mut m = format!(
                "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n\
                 Subject: {tag} message {i}\r\nMessage-ID: <{tag}-{i}@example.org>\r\n\r\n\
                 Hello, this is message {i}.\r\n"
            );
            if i == 2 {
                m.push_str(".starts with a dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n");
            }
            m.into_bytes()
        })
        .collect()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn setup(prefix: &str) -> Option<(&'static Dovecot, DovecotUser, Vec<Vec<u8>>)> {
    let Some(dc) = crate::support::dovecot::dovecot() else {
        eprintln!("skipped: Dovecot not available");
        return None;
    };
    let user = dc.new_user(prefix);
    let msgs = sample_messages(user.name());
    let names = user.deliver_many(&msgs);
    assert_eq!(names.len(), 3);
    assert_eq!(user.count(), 3);
    assert_eq!(user.server_messages(), sorted(msgs.clone()));
    Some((dc, user, msgs))
}

#[test]
fn plain_user_pass_stat_uidl_retr_dele() {
    let Some((dc, user, msgs)) = setup("plain") else {
        return;
    };
    let mut p = plain(dc);
    assert!(
        p.greeting.contains('<') && p.greeting.contains('@') && p.greeting.ends_with('>'),
        "APOP timestamp missing in greeting: {}",
        p.greeting
    );
    p.login(user.name(), dc.password());

    let total: usize = msgs.iter().map(|m| m.len()).sum();
    assert_eq!(p.ok("STAT"), format!("+OK 3 {total}"));
    let list = p.multi_lines("LIST");
    let expect: Vec<String> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| format!("{} {}", i + 1, m.len()))
        .collect();
    assert_eq!(list, expect);

    let uidl = p.multi_lines("UIDL");
    assert_eq!(uidl.len(), 3);
    let uids: Vec<&str> = uidl
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (n, uid) = l.split_once(' ').unwrap();
            assert_eq!(n, (i + 1).to_string());
            // %08Xu%08Xv: UID then UIDVALIDITY, 8 hex digits each (Dovecot's %X
            // writes lower-case hex)
            assert_eq!(uid.len(), 16, "{uid}");
            assert!(uid.bytes().all(|b| b.is_ascii_hexdigit()), "{uid}");
            uid
        })
        .collect();
    assert_eq!(&uids[0][..8], "00000001");
    assert_eq!(&uids[2][..8], "00000003");

    // Messages are numbered in delivery order, and RETR gives back the stored bytes.
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(&p.multi(&format!("RETR {}", i + 1)), m, "RETR {}", i + 1);
    }
    p.ok("DELE 2");
    p.ok("QUIT");
    drop(p);

    // After QUIT the deletion is committed; the helper sees what the server holds.
    assert_eq!(user.count(), 2);
    assert_eq!(
        user.server_messages(),
        sorted(vec![msgs[0].clone(), msgs[2].clone()])
    );

    let mut p = plain(dc);
    p.login(user.name(), dc.password());
    let uidl2 = p.multi_lines("UIDL");
    assert_eq!(
        uidl2,
        vec![format!("1 {}", uids[0]), format!("2 {}", uids[2])]
    );
    p.ok("QUIT");
}

#[test]
fn wrong_password_is_refused() {
    let Some((dc, user, _)) = setup("wrongpw") else {
        return;
    };
    let mut p = plain(dc);
    p.ok(&format!("USER {}", user.name()));
    let r = p.cmd("PASS not-the-password");
    assert!(r.starts_with("-ERR"), "{r}");
}

#[test]
fn implicit_tls_session() {
    let Some((dc, user, msgs)) = setup("tls") else {
        return;
    };
    let mut p = implicit_tls(dc);
    p.login(user.name(), dc.password());
    let total: usize = msgs.iter().map(|m| m.len()).sum();
    assert_eq!(p.ok("STAT"), format!("+OK 3 {total}"));
    assert_eq!(p.multi("RETR 1"), msgs[0]);
    assert_eq!(p.multi("RETR 2"), msgs[1]);
    p.ok("QUIT");
}

#[test]
fn tls_certificate_is_checked_against_the_host_name() {
    let Some(dc) = crate::support::dovecot::dovecot() else {
        eprintln!("skipped: Dovecot not available");
        return;
    };
    let s = TcpStream::connect((dc.host(), dc.tls_port())).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let err = connector(dc).connect("not-localhost.example", s);
    assert!(err.is_err(), "a wrong host name must fail verification");
    // and without trusting the CA file the self-signed certificate is refused
    let s = TcpStream::connect((dc.host(), dc.tls_port())).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let plain_connector = TlsConnector::new().unwrap();
    assert!(plain_connector.connect("localhost", s).is_err());
}

#[test]
fn stls_upgrade_then_login() {
    let Some((dc, user, msgs)) = setup("stls") else {
        return;
    };
    let mut p = plain(dc);
    let capa = p.multi_lines("CAPA");
    assert!(capa.iter().any(|c| c == "STLS"), "CAPA: {capa:?}");
    p.ok("STLS");
    let tls = connector(dc)
        .connect("localhost", p.into_inner())
        .expect("TLS handshake after STLS");
    let mut p = Pop::resume(tls);
    let capa = p.multi_lines("CAPA");
    assert!(
        !capa.iter().any(|c| c == "STLS"),
        "CAPA after STLS: {capa:?}"
    );
    p.login(user.name(), dc.password());
    assert_eq!(p.multi("RETR 3"), msgs[2]);
    p.ok("QUIT");
}

#[test]
fn cram_md5_login() {
    let Some((dc, user, msgs)) = setup("cram") else {
        return;
    };
    let mut p = plain(dc);
    let capa = p.multi_lines("CAPA");
    let sasl = capa
        .iter()
        .find(|c| c.starts_with("SASL "))
        .unwrap_or_else(|| panic!("no SASL in CAPA: {capa:?}"));
    assert!(
        sasl.split(' ').any(|m| m == "CRAM-MD5"),
        "CRAM-MD5 not offered: {sasl}"
    );
    let challenge = p.cmd("AUTH CRAM-MD5");
    let challenge = challenge
        .strip_prefix("+ ")
        .unwrap_or_else(|| panic!("no challenge: {challenge}"));
    let challenge = base64::engine::general_purpose::STANDARD
        .decode(challenge)
        .unwrap();
    let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(dc.password().as_bytes()).unwrap();
    mac.update(&challenge);
    let digest = hex(&mac.finalize().into_bytes());
    let answer =
        base64::engine::general_purpose::STANDARD.encode(format!("{} {digest}", user.name()));
    p.ok(&answer);
    assert_eq!(p.multi("RETR 1"), msgs[0]);
    p.ok("QUIT");
}

#[test]
fn apop_login() {
    let Some((dc, user, msgs)) = setup("apop") else {
        return;
    };
    let mut p = plain(dc);
    let start = p.greeting.find('<').expect("APOP timestamp in greeting");
    let stamp = &p.greeting[start..];
    assert!(stamp.ends_with('>') && stamp.contains('@'), "{stamp}");
    let digest = hex(&md5::Md5::digest(format!("{stamp}{}", dc.password())));
    p.ok(&format!("APOP {} {digest}", user.name()));
    assert_eq!(p.multi("RETR 2"), msgs[1]);
    p.ok("QUIT");

    let mut p = plain(dc);
    let r = p.cmd(&format!("APOP {} {}", user.name(), "0".repeat(32)));
    assert!(r.starts_with("-ERR"), "{r}");
}

#[test]
fn lf_only_mail_is_sent_with_crlf() {
    let Some(dc) = crate::support::dovecot::dovecot() else {
        eprintln!("skipped: Dovecot not available");
        return;
    };
    let user = dc.new_user("lf");
    let lf = b"Subject: lf only\n\nline one\n.dot line\nline three\n".to_vec();
    let crlf = b"Subject: lf only\r\n\r\nline one\r\n.dot line\r\nline three\r\n".to_vec();
    assert_eq!(wire_size(&lf), crlf.len());
    user.deliver(&lf);
    let mut p = plain(dc);
    p.login(user.name(), dc.password());
    assert_eq!(p.ok("LIST 1"), format!("+OK 1 {}", crlf.len()));
    assert_eq!(p.multi("RETR 1"), crlf, "Dovecot converts bare LF to CRLF");
    p.ok("QUIT");
    // the file on disk is unchanged
    assert_eq!(user.server_messages(), vec![lf]);
}

#[test]
fn message_removed_between_sessions() {
    let Some((dc, user, msgs)) = setup("gone") else {
        return;
    };
    let mut p = plain(dc);
    p.login(user.name(), dc.password());
    let before = p.multi_lines("UIDL");
    p.ok("QUIT");

    let needle = format!("<{}-2@example.org>", user.name());
    assert_eq!(user.remove_file_containing(needle.as_bytes()), 1);
    assert_eq!(user.count(), 2);
    assert_eq!(user.remove_file_containing(needle.as_bytes()), 0);

    let mut p = plain(dc);
    p.login(user.name(), dc.password());
    let total = msgs[0].len() + msgs[2].len();
    assert_eq!(p.ok("STAT"), format!("+OK 2 {total}"));
    let after = p.multi_lines("UIDL");
    let uid = |l: &String| l.split_once(' ').unwrap().1.to_owned();
    assert_eq!(
        after.iter().map(uid).collect::<Vec<_>>(),
        vec![uid(&before[0]), uid(&before[2])]
    );
    assert_eq!(p.multi("RETR 2"), msgs[2]);
    p.ok("QUIT");
}

#[test]
fn users_are_unique_and_start_empty() {
    let dc = crate::dovecot_or_skip!();
    let a = dc.new_user("same");
    let b = dc.new_user("same");
    let c = dc.new_user("we!rd prefix");
    assert_ne!(a.name(), b.name());
    assert!(c.name().starts_with("we_rd_prefix-"), "{}", c.name());
    for u in [&a, &b, &c] {
        assert_eq!(u.count(), 0);
        let mut p = plain(dc);
        p.login(u.name(), u.password());
        assert_eq!(p.ok("STAT"), "+OK 0 0");
        p.ok("QUIT");
    }
}
