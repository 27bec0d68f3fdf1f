//! `letterbox check` against the real Dovecot, over implicit TLS and STLS,
//! with each sign-in method Dovecot offers.

use crate::support::cli::letterbox;
use crate::support::dovecot::{DovecotUser, wire_size};

/// A few messages with what tends to break clients: 8-bit text, an encoded
/// subject, lines starting with dots, a bigger base64 body.
fn sample_messages() -> Vec<Vec<u8>> {
    let mut big = String::from(
        "From: Big <big@example.org>\r\nSubject: attachment\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    for i in 0..2000 {
        big.push_str(&format!(
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2{i:04}\r\n"
        ));
    }
    vec![
        b"From: Ann <ann@example.org>\r\nSubject: Hello\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nFirst line\r\nsecond line\r\n".to_vec(),
        b"From: =?UTF-8?Q?Ren=C3=A9e?= <r@example.fr>\r\nSubject: =?UTF-8?B?Q2Fmw6kgw6AgbWlkaQ==?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n.starts with a dot\r\n..two\r\nd\xc3\xa9j\xc3\xa0 vu\r\n".to_vec(),
        big.into_bytes(),
    ]
}

/// Dovecot's UIDLs are `%08x%08x` of the message UID (1, 2, ... in delivery
/// order for a fresh mailbox) and the mailbox's UIDVALIDITY, which it keeps in
/// `dovecot-uidlist` ("3 V<uidvalidity> N<next uid> ...").
fn expected_uidls(user: &DovecotUser, count: usize) -> Vec<String> {
    let list =
        std::fs::read_to_string(user.maildir().join("dovecot-uidlist")).expect("dovecot-uidlist");
    let header = list.lines().next().expect("uidlist header");
    let validity: u32 = header
        .split(' ')
        .find_map(|w| w.strip_prefix('V'))
        .and_then(|v| v.parse().ok())
        .expect("UIDVALIDITY");
    (1..=count)
        .map(|uid| format!("{uid:08x}{validity:08x}"))
        .collect()
}

fn check_json(url: &str, ca_file: &str, auth: &str, password: &str) -> serde_json::Value {
    let run = letterbox(
        &[
            "check",
            "--url",
            url,
            "--ca-file",
            ca_file,
            "--auth",
            auth,
            "--json",
            "--preview-lines",
            "3",
        ],
        password,
    );
    run.expect_code(0);
    run.json()
}

#[test]
fn check_over_tls_and_starttls_with_every_method() {
    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("check");
    let messages = sample_messages();
    user.deliver_many(messages.iter());
    let ca = dc.ca_file().display().to_string();
    let tls = format!("pop3s://{}@localhost:{}", user.name(), dc.tls_port());
    let stls = format!("pop3://{}@localhost:{}", user.name(), dc.plain_port());

    let cases = [
        (&tls, "auto"),
        (&tls, "plain"),
        (&tls, "login"),
        (&tls, "user"),
        (&stls, "auto"),
        (&stls, "cram-md5"),
        (&stls, "apop"),
        (&stls, "plain"),
    ];
    let mut first: Option<serde_json::Value> = None;
    for (url, auth) in cases {
        let json = check_json(url, &ca, auth, dc.password());
        assert_eq!(json["total"], messages.len(), "{url} {auth}");
        let total: usize = messages.iter().map(|m| wire_size(m)).sum();
        assert_eq!(json["size_bytes"], total);
        let listed = json["messages"].as_array().expect("messages");
        for (got, sent) in listed.iter().zip(&messages) {
            assert_eq!(got["size"], wire_size(sent), "{url} {auth}");
        }
        match &first {
            Some(f) => assert_eq!(&json, f, "every way in sees the same mailbox"),
            None => first = Some(json),
        }
    }
    let json = first.expect("ran");
    let uids: Vec<String> = json["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["uid"].as_str().expect("uid").to_owned())
        .collect();
    assert_eq!(uids, expected_uidls(&user, messages.len()));
    assert_eq!(json["messages"][0]["subject"], "Hello");
    assert_eq!(json["messages"][0]["preview"], "First line\nsecond line");
    assert_eq!(json["messages"][1]["subject"], "Café à midi");
    assert_eq!(json["messages"][1]["from"], "Renée <r@example.fr>");
    assert_eq!(
        json["messages"][1]["preview"],
        ".starts with a dot\n..two\ndéjà vu"
    );
    // Nothing changed on the server.
    assert_eq!(user.count(), messages.len());
}

#[test]
fn dovecot_wrong_password_and_untrusted_certificate() {
    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("check-fail");
    user.deliver(b"Subject: x\r\n\r\ny\r\n");
    let ca = dc.ca_file().display().to_string();
    let tls = format!("pop3s://{}@localhost:{}", user.name(), dc.tls_port());
    let run = letterbox(
        &["check", "--url", &tls, "--ca-file", &ca],
        "not the password",
    );
    run.expect_code(5);
    let run = letterbox(&["check", "--url", &tls], dc.password());
    run.expect_code(4);
    run.stderr_has("SHA-256 fingerprint");
    assert_eq!(user.count(), 1);
}

#[test]
fn test_connection_reports_what_dovecot_supports() {
    use letterbox::engine;
    use letterbox::net::{Observe, Security};
    use letterbox::pop3::AuthMethod;

    let dc = crate::dovecot_or_skip!();
    let user = dc.new_user("probe");
    user.deliver(b"Subject: one\r\n\r\nx\r\n");
    for (security, port, encryption) in [
        (Security::Tls, dc.tls_port(), "TLS 1.3"),
        (Security::StartTls, dc.plain_port(), "TLS (STARTTLS)"),
    ] {
        let account = crate::dovecot_fetch::account_over(dc, &user, security, port);
        let report =
            engine::test_connection(&account, Observe::default()).expect("test connection");
        assert_eq!(report.encryption, encryption);
        assert!(
            report.auth_methods.iter().any(|m| m == "CRAM-MD5"),
            "{report:?}"
        );
        assert!(
            report.auth_methods.iter().any(|m| m == "APOP"),
            "{report:?}"
        );
        assert!(report.pipelining && report.top && report.uidl, "{report:?}");
        assert_eq!(report.logged_in_with, Some(AuthMethod::CramMd5));
        assert_eq!(report.message_count, Some(1));
        assert!(
            report.certificate_sha256.is_some(),
            "the certificate is reported over TLS and STARTTLS"
        );
    }
}
