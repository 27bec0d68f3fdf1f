//! Two small operations for the app: "Test connection" (what does this
//! server support, and does the login work?) and "Show more lines" (a
//! longer TOP of one message, found by its key in a fresh listing).

use crate::mail::Preview;
use crate::net::tls::Fingerprint;
use crate::net::{Client, Observe, Outcome, RetrSink, Security};
use crate::pop3::AuthMethod;

use super::listing::list;
use super::{Account, Error};

/// What "Test connection" found out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionReport {
    /// "TLS 1.3", "TLS 1.2", or "none (unencrypted)".
    pub encryption: String,
    pub certificate_sha256: Option<Fingerprint>,
    /// Sign-in methods the server offers, as Letterbox names them.
    pub auth_methods: Vec<String>,
    pub pipelining: bool,
    pub top: bool,
    pub uidl: bool,
    pub stls: bool,
    pub expire: Option<String>,
    pub login_delay_secs: Option<u32>,
    /// Set when the login was tried and worked.
    pub logged_in_with: Option<AuthMethod>,
    pub message_count: Option<u32>,
}

/// Connects, reads what the server offers, logs in, reads STAT, QUIT.
pub fn test_connection(account: &Account, observe: Observe) -> Result<ConnectionReport, Error> {
    let client = Client::connect(&account.endpoint, observe)?;
    let info = client.info().clone();
    let mut report = ConnectionReport {
        encryption: if !info.encrypted {
            "none (unencrypted)".into()
        } else if account.endpoint.security == Security::StartTls {
            // Probing the version would take a second full STLS session.
            "TLS (STARTTLS)".into()
        } else if tls13(account) {
            "TLS 1.3".into()
        } else {
            "TLS 1.2".into()
        },
        certificate_sha256: info.certificate_der.as_deref().map(Fingerprint::of_der),
        ..ConnectionReport::default()
    };
    if let Some(caps) = &info.capabilities {
        report.auth_methods = caps.sasl.clone();
        if caps.user {
            report.auth_methods.push("USER/PASS".into());
        }
        report.pipelining = caps.pipelining;
        report.top = caps.top;
        report.uidl = caps.uidl;
        report.stls = caps.stls || account.endpoint.security == Security::StartTls;
        report.expire = caps.expire.map(|e| match e {
            crate::pop3::Expire::Never => "never".to_owned(),
            crate::pop3::Expire::Days(0) => "deletes mail once downloaded".to_owned(),
            crate::pop3::Expire::Days(d) => format!("after {d} days"),
        });
        report.login_delay_secs = caps.login_delay_secs;
    } else {
        report.auth_methods.push("USER/PASS".into());
    }
    if info.apop_timestamp.is_some() {
        report.auth_methods.push("APOP".into());
    }
    let mut mailbox = super::apply::login_with_reconnect(account, client, None)?;
    report.logged_in_with = Some(mailbox.method());
    let after = mailbox.info().capabilities.clone();
    if let Some(caps) = after {
        report.pipelining |= caps.pipelining;
        report.top |= caps.top;
        report.uidl |= caps.uidl;
    }
    report.message_count = Some(mailbox.stat()?.0);
    mailbox.quit()?;
    Ok(report)
}

/// A second handshake that insists on TLS 1.3 tells which version the
/// server speaks (native-tls does not report it).
fn tls13(account: &Account) -> bool {
    let endpoint = &account.endpoint;
    crate::net::supports_tls13(&endpoint.host, endpoint.port, endpoint.timeouts)
}

/// The first `lines` lines of one message, found by key in a new session.
/// `None` if the message is no longer on the server. On a server without
/// TOP, a message up to `retr_max_bytes` is retrieved whole for it.
pub fn preview(
    account: &Account,
    key: &str,
    lines: u32,
    retr_max_bytes: u64,
    observe: Observe,
) -> Result<Option<Preview>, Error> {
    let mut mailbox = super::apply::connect_and_login(account, observe, None, &mut |_| {})?;
    let listing = list(&mut mailbox, 0)?;
    let Some(listed) = listing.find(key) else {
        mailbox.quit()?;
        return Ok(None);
    };
    let msg = listed.number;
    let outcome = mailbox.top(&[msg], lines)?.pop();
    let preview = match outcome {
        Some(Outcome::Ok(head)) => Some(Preview::from_bytes(&head, lines as usize)),
        // No TOP: a small message is retrieved whole instead, as a check
        // does (never on a server that deletes or expires what was sent).
        Some(Outcome::Refused(_))
            if listed.size_bytes <= retr_max_bytes
                && !matches!(
                    mailbox.info().capabilities.as_ref().and_then(|c| c.expire),
                    Some(crate::pop3::Expire::Days(_))
                ) =>
        {
            let mut sink = Collect {
                max_bytes: retr_max_bytes,
                bytes: Some(Vec::new()),
            };
            mailbox
                .retr_stream(&[msg], &mut sink)
                .map_err(crate::net::Error::from)?;
            sink.bytes
                .map(|bytes| Preview::from_bytes(&bytes, lines as usize))
        }
        _ => None,
    };
    mailbox.quit()?;
    Ok(preview)
}

/// One message, kept only if it stays within `max_bytes`.
struct Collect {
    max_bytes: u64,
    bytes: Option<Vec<u8>>,
}

impl RetrSink for Collect {
    type Error = std::convert::Infallible;

    fn data(&mut self, _index: usize, chunk: &[u8]) -> Result<(), Self::Error> {
        if let Some(bytes) = &mut self.bytes {
            if bytes.len() as u64 + chunk.len() as u64 > self.max_bytes {
                self.bytes = None;
            } else {
                bytes.extend_from_slice(chunk);
            }
        }
        Ok(())
    }

    fn end(&mut self, _index: usize, outcome: Outcome) -> Result<(), Self::Error> {
        if !matches!(outcome, Outcome::Ok { .. }) {
            self.bytes = None;
        }
        Ok(())
    }
}
