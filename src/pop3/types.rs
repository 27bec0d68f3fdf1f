//! Value types that cannot hold invalid protocol values: a message number is
//! never zero, a UIDL is always 1–512 printable ASCII bytes, a command argument
//! never contains a line break (no command injection), and a secret never
//! prints itself.

use std::fmt;
use std::num::NonZeroU32;

/// A message number of the *current* session (RFC 1939 §2: 1-based).
///
/// Message numbers are only meaningful inside the session that produced them;
/// code that remembers messages across sessions must use [`Uidl`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct MsgNum(NonZeroU32);

impl MsgNum {
    /// Returns `None` for zero.
    pub fn new(n: u32) -> Option<MsgNum> {
        NonZeroU32::new(n).map(MsgNum)
    }

    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// Parses a decimal message number as it appears on the wire.
    pub fn parse(text: &[u8]) -> Option<MsgNum> {
        parse_decimal_u32(text).and_then(MsgNum::new)
    }
}

impl fmt::Display for MsgNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A unique-id listing entry (RFC 1939 §7): characters in 0x21..=0x7E, at
/// least one. RFC 1939 allows 70; providers have shipped longer ones, so up
/// to [`Uidl::MAX_LEN`] are taken (they only ever name ledger entries, never
/// a file).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uidl(String);

impl Uidl {
    pub const MAX_LEN: usize = 512;

    pub fn new(text: &str) -> Option<Uidl> {
        Uidl::from_bytes(text.as_bytes())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Uidl> {
        let valid = !bytes.is_empty()
            && bytes.len() <= Uidl::MAX_LEN
            && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
        // Only printable ASCII passed, so this conversion cannot fail.
        valid.then(|| Uidl(String::from_utf8_lossy(bytes).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Uidl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Uidl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uidl({:?})", self.0)
    }
}

/// A value that must never reach a log: passwords, APOP digests, SASL
/// responses, OAuth tokens. `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Secret<T> {
        Secret(value)
    }

    /// The one way to look inside; grep for it to audit where secrets go.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Why a command argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("the value is empty")]
    Empty,
    #[error("the value contains a line break or NUL character")]
    ControlCharacter,
    #[error("the value is longer than {max} bytes")]
    TooLong { max: usize },
}

/// A command argument: non-empty, no CR, LF or NUL, at most
/// [`Arg::MAX_LEN`] bytes (RFC 1939 allows 40 per argument; real servers and
/// e-mail-address user names need more, OAuth tokens go through SASL instead).
#[derive(Clone, PartialEq, Eq)]
pub struct Arg(String);

impl Arg {
    pub const MAX_LEN: usize = 255;

    pub fn new(text: &str) -> Result<Arg, ArgError> {
        check_line_safe(text)?;
        if text.is_empty() {
            return Err(ArgError::Empty);
        }
        if text.len() > Arg::MAX_LEN {
            return Err(ArgError::TooLong { max: Arg::MAX_LEN });
        }
        Ok(Arg(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Refuses text that could end a command line early or confuse a server.
pub(crate) fn check_line_safe(text: &str) -> Result<(), ArgError> {
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        Err(ArgError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// Strict decimal: ASCII digits only, no sign, no overflow.
pub(crate) fn parse_decimal_u32(text: &[u8]) -> Option<u32> {
    parse_decimal_u64(text).and_then(|v| u32::try_from(v).ok())
}

pub(crate) fn parse_decimal_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgnum_rejects_zero_and_garbage() {
        assert_eq!(MsgNum::new(0), None);
        assert_eq!(MsgNum::parse(b"0"), None);
        assert_eq!(MsgNum::parse(b"-1"), None);
        assert_eq!(MsgNum::parse(b"4294967296"), None);
        assert_eq!(MsgNum::parse(b"17").map(MsgNum::get), Some(17));
    }

    #[test]
    fn uidl_is_printable_ascii_up_to_512() {
        assert!(Uidl::new("").is_none());
        assert!(Uidl::new("has space").is_none());
        assert!(Uidl::new("tab\there").is_none());
        assert!(Uidl::new("ümlaut").is_none());
        assert!(Uidl::new(&"x".repeat(513)).is_none());
        assert_eq!(
            Uidl::new(&"x".repeat(512)).map(|u| u.as_str().len()),
            Some(512)
        );
        assert_eq!(
            Uidl::new("QhdPYR:00WBw1Ph7x7").unwrap().as_str(),
            "QhdPYR:00WBw1Ph7x7"
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("hunter2".to_string());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: String,
            password: Secret<String>,
        }
        let login = Login {
            user: "alice".into(),
            password: secret,
        };
        let printed = format!("{login:?} {login:#?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("alice"));
    }

    #[test]
    fn arg_refuses_injection() {
        assert_eq!(Arg::new("bob\r\nDELE 1"), Err(ArgError::ControlCharacter));
        assert_eq!(Arg::new("bob\n"), Err(ArgError::ControlCharacter));
        assert_eq!(Arg::new("bob\0"), Err(ArgError::ControlCharacter));
        assert_eq!(Arg::new(""), Err(ArgError::Empty));
        assert_eq!(
            Arg::new(&"a".repeat(256)),
            Err(ArgError::TooLong { max: 255 })
        );
        assert_eq!(
            Arg::new("alice@example.org").unwrap().as_str(),
            "alice@example.org"
        );
    }

    #[test]
    fn decimal_parsing_is_strict() {
        assert_eq!(parse_decimal_u64(b"0"), Some(0));
        assert_eq!(parse_decimal_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal_u64(b"18446744073709551616"), None);
        assert_eq!(parse_decimal_u64(b"+5"), None);
        assert_eq!(parse_decimal_u64(b" 5"), None);
        assert_eq!(parse_decimal_u64(b""), None);
    }
}

/// How the connection is protected. Its `key` names it in the settings
/// file and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Security {
    /// TLS from the first byte (POP3S, port 995). The default.
    #[default]
    Tls,
    /// Plain connection upgraded with STLS before login (port 110). If the
    /// server does not offer STLS the session stops: no silent downgrade.
    StartTls,
    /// No encryption. Only on the account's explicit request.
    None,
}

impl Security {
    pub const ALL: [Security; 3] = [Security::Tls, Security::StartTls, Security::None];

    pub fn default_port(self) -> u16 {
        match self {
            Security::Tls => 995,
            Security::StartTls | Security::None => 110,
        }
    }

    /// Its name in the settings file and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::StartTls => "starttls",
            Security::None => "none",
        }
    }

    pub fn from_key(key: &str) -> Option<Security> {
        Security::ALL.into_iter().find(|s| s.key() == key)
    }
}
