//! TLS with the platform's trust store (native-tls), plus the two ways an
//! account can trust a server the store does not: one extra CA certificate
//! (PEM), or a pinned SHA-256 fingerprint of the server's certificate. A
//! failed check is reported with the certificate's fingerprint, subject and
//! expiry, so the user can decide to trust it.

use std::fmt;
use std::net::TcpStream;

use super::transport::ReadAhead;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use native_tls::{Certificate, HandshakeError, Protocol, TlsConnector, TlsStream};
use sha2::Digest as _;

use super::error::Error;

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    pub fn of_der(der: &[u8]) -> Fingerprint {
        Fingerprint(sha2::Sha256::digest(der).into())
    }

    /// Accepts hex with or without colons or spaces, any case, optionally
    /// prefixed with `sha256:` / `SHA256=` (as openssl prints it).
    pub fn parse(text: &str) -> Option<Fingerprint> {
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let hex_part = lower
            .strip_prefix("sha256 fingerprint=")
            .or_else(|| lower.strip_prefix("sha256:"))
            .or_else(|| lower.strip_prefix("sha256="))
            .unwrap_or(&lower);
        let digits: Vec<u8> = hex_part
            .bytes()
            .filter(|b| !matches!(b, b':' | b' ' | b'-'))
            .collect();
        if digits.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    /// Colon-separated upper-case hex, as browsers and openssl show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// What a server certificate says about itself, for a trust decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    pub sha256: Fingerprint,
    pub subject: String,
    pub issuer: String,
    /// `YYYY-MM-DD` (UTC).
    pub not_before: String,
    pub not_after: String,
    /// Why the certificate was refused, in plain words.
    pub problem: String,
}

impl CertificateInfo {
    pub fn from_der(der: &[u8], problem: String) -> CertificateInfo {
        let sha256 = Fingerprint::of_der(der);
        match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => CertificateInfo {
                sha256,
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before: ymd(cert.validity().not_before.timestamp()),
                not_after: ymd(cert.validity().not_after.timestamp()),
                problem,
            },
            Err(_) => CertificateInfo {
                sha256,
                subject: "(unreadable certificate)".into(),
                issuer: String::new(),
                not_before: String::new(),
                not_after: String::new(),
                problem,
            },
        }
    }
}

/// Unix seconds → `YYYY-MM-DD` (proleptic Gregorian, UTC).
fn ymd(unix_secs: i64) -> String {
    crate::civil::Civil::from_unix(unix_secs).ymd()
}

/// How an account trusts its server.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    /// One extra trusted CA or self-signed certificate, PEM. The host name
    /// is still checked.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// Trust exactly the certificate with this fingerprint, whatever its
    /// issuer, name or dates ("Trust this certificate").
    pub pinned: Option<Fingerprint>,
}

/// Setting up TLS reads the system's trusted certificates (with OpenSSL,
/// the whole bundle, twice: about 50 ms here), so a connector is made once
/// per way of trusting and kept for the process: every later connection
/// (each check of the app, each account) reuses it.
type ConnectorCell = Arc<OnceLock<Result<TlsConnector, String>>>;
/// By the extra CA (PEM) and whether the chain is verified.
type ConnectorKey = (Option<Vec<u8>>, bool);

static CONNECTORS: LazyLock<Mutex<HashMap<ConnectorKey, ConnectorCell>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl Trust {
    /// Starts making this trust's connector on a thread of its own, so
    /// that it is ready by the time the connection needs it (the command
    /// line opens the store meanwhile).
    pub fn prepare(&self) {
        let trust = self.clone();
        let _ = std::thread::Builder::new()
            .name("letterbox-tls-setup".into())
            .spawn(move || {
                let _ = trust.connector(true);
            });
    }

    fn connector(&self, verify: bool) -> Result<TlsConnector, Error> {
        // Verification is off for a pinned certificate (its fingerprint is
        // compared instead) and for fetching a certificate to show.
        let verify = verify && self.pinned.is_none();
        let cell = {
            let mut cache = CONNECTORS.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .entry((self.extra_ca_pem.clone(), verify))
                .or_default()
                .clone()
        };
        // Another thread making the same connector is waited for, not
        // duplicated.
        cell.get_or_init(|| self.build_connector(verify).map_err(|e| e.to_string()))
            .clone()
            .map_err(Error::Tls)
    }

    fn build_connector(&self, verify: bool) -> Result<TlsConnector, Error> {
        let mut builder = TlsConnector::builder();
        builder.min_protocol_version(Some(Protocol::Tlsv12));
        if let Some(pem) = &self.extra_ca_pem {
            let cert = Certificate::from_pem(pem).map_err(|e| {
                Error::Tls(format!(
                    "the trusted certificate file is not valid PEM: {e}"
                ))
            })?;
            builder.add_root_certificate(cert);
        }
        if !verify {
            // Pinned: the fingerprint comparison below replaces the chain
            // and name checks, and happens before any credential is sent.
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
        builder
            .build()
            .map_err(|e| Error::Tls(format!("could not set up TLS: {e}")))
    }
}

/// Why a handshake failed: the certificate (worth showing to the user), or
/// anything else.
pub(crate) enum HandshakeFailure {
    Certificate(String),
    Other(Error),
}

/// Performs the TLS handshake on `tcp` and applies the account's trust rules.
pub(crate) fn handshake(
    host: &str,
    tcp: TcpStream,
    trust: &Trust,
) -> Result<TlsStream<ReadAhead>, HandshakeFailure> {
    let connector = trust.connector(true).map_err(HandshakeFailure::Other)?;
    let waited = tcp.read_timeout().ok().flatten().unwrap_or_default();
    let stream = match connector.connect(host, ReadAhead::new(tcp)) {
        Ok(stream) => stream,
        Err(HandshakeError::Failure(e)) => {
            let text = e.to_string();
            return Err(if looks_like_certificate_problem(&text) {
                HandshakeFailure::Certificate(plain_reason(&text))
            } else {
                HandshakeFailure::Other(Error::Tls(text))
            });
        }
        // The socket's read timeout ran out in the middle of the handshake:
        // the server did not answer in time.
        Err(HandshakeError::WouldBlock(_)) => {
            return Err(HandshakeFailure::Other(Error::Timeout { after: waited }));
        }
    };
    if let Some(pin) = trust.pinned {
        let der = peer_der(&stream).map_err(HandshakeFailure::Other)?;
        let actual = Fingerprint::of_der(&der);
        if actual != pin {
            return Err(HandshakeFailure::Other(Error::PinMismatch(Box::new(
                CertificateInfo::from_der(&der, "it is not the certificate you trusted".into()),
            ))));
        }
    }
    Ok(stream)
}

/// Handshakes without any check, only to read the certificate for an error
/// report. Nothing is sent over this connection afterwards.
pub(crate) fn fetch_certificate(host: &str, tcp: TcpStream) -> Result<Vec<u8>, Error> {
    let connector = Trust::default().connector(false)?;
    let stream = connector
        .connect(host, tcp)
        .map_err(|e| Error::Tls(e.to_string()))?;
    peer_der(&stream)
}

fn peer_der<S: std::io::Read + std::io::Write>(stream: &TlsStream<S>) -> Result<Vec<u8>, Error> {
    stream
        .peer_certificate()
        .ok()
        .flatten()
        .and_then(|c| c.to_der().ok())
        .ok_or_else(|| Error::Tls("the server sent no certificate".into()))
}

/// Whether the server speaks TLS 1.3, by a handshake that insists on it.
/// Only for the connection report; nothing is sent over this connection.
pub(crate) fn supports_tls13(host: &str, tcp: TcpStream) -> bool {
    let mut builder = TlsConnector::builder();
    builder.min_protocol_version(Some(Protocol::Tlsv13));
    builder.danger_accept_invalid_certs(true);
    builder.danger_accept_invalid_hostnames(true);
    builder
        .build()
        .ok()
        .is_some_and(|c| c.connect(host, tcp).is_ok())
}

fn looks_like_certificate_problem(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "certificate",
        "verify",
        "hostname",
        "host name",
        "self-signed",
        "self signed",
        "expired",
        "issuer",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Turns OpenSSL's wording into the user's.
fn plain_reason(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if lower.contains("self-signed") || lower.contains("self signed") {
        "it is self-signed".into()
    } else if lower.contains("expired") {
        "it has expired".into()
    } else if lower.contains("not yet valid") {
        "it is not valid yet".into()
    } else if lower.contains("hostname")
        || lower.contains("host name")
        || lower.contains("mismatch")
    {
        "it was issued for a different server name".into()
    } else if lower.contains("unable to get local issuer") || lower.contains("issuer") {
        "it was issued by an authority this computer does not know".into()
    } else {
        format!("verification failed: {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_formats_round_trip() {
        let fp = Fingerprint([0xab; 32]);
        let shown = fp.to_string();
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(Fingerprint::parse(&shown), Some(fp));
        assert_eq!(Fingerprint::parse(&"AB".repeat(32)), Some(fp));
        assert_eq!(
            Fingerprint::parse(&format!("sha256 Fingerprint={shown}")),
            Some(fp)
        );
        assert_eq!(
            Fingerprint::parse(&format!("sha256:{}", "ab".repeat(32))),
            Some(fp)
        );
        assert_eq!(Fingerprint::parse("abcd"), None);
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), None);
    }

    #[test]
    fn dates() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(951_782_400), "2000-02-29");
        assert_eq!(ymd(4_102_444_800), "2100-01-01");
        assert_eq!(ymd(-86_400), "1969-12-31");
    }

    #[test]
    fn reasons_in_plain_words() {
        assert_eq!(
            plain_reason(
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:ssl/statem/statem_clnt.c:1889: (self-signed certificate)"
            ),
            "it is self-signed"
        );
        assert_eq!(
            plain_reason("certificate verify failed (certificate has expired)"),
            "it has expired"
        );
        assert_eq!(
            plain_reason("certificate verify failed (hostname mismatch)"),
            "it was issued for a different server name"
        );
    }
}
