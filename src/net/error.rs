//! The transport and session error: one type that answers the questions the
//! engine and the UI ask (`is_timeout`, `is_tls`, `is_auth`,
//! `is_transient`, the RFC 3206 code) and turns itself into a sentence a
//! home user understands, with the next step to take.

use std::io;
use std::time::Duration;

use crate::pop3::auth::{AuthError, ChooseError};
use crate::pop3::reply::ListingError;
use crate::pop3::{AuthMethod, LoginError, ProtocolError, ReplyError, RespCode, UsageError};

use super::tls::CertificateInfo;
use crate::explain::{Explain, UserMessage};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not look up the server name {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("could not connect to {host} port {port}: {source}")]
    Connect {
        host: String,
        port: u16,
        source: io::Error,
    },
    #[error("the server did not answer within {} seconds", .after.as_secs())]
    Timeout { after: Duration },
    /// Bytes kept coming, but no reply got anywhere (a trickle, or an
    /// endless reply past its size limit) for this long.
    #[error("the server sent nothing usable for {} seconds", .after.as_secs())]
    Stalled { after: Duration },
    #[error("the server closed the connection unexpectedly")]
    ConnectionClosed,
    #[error("network error: {0}")]
    Io(#[source] io::Error),
    #[error("the secure (TLS) connection failed: {0}")]
    Tls(String),
    #[error("the server's certificate is not trusted ({})", .0.problem)]
    Untrusted(Box<CertificateInfo>),
    #[error("the server's certificate ({}) is not the one this account trusts", .0.sha256)]
    PinMismatch(Box<CertificateInfo>),
    #[error("the server does not offer STARTTLS, so the connection cannot be secured")]
    StartTlsUnavailable,
    #[error("the server refused to start TLS: {0}")]
    StartTlsRefused(String),
    #[error("{0}")]
    AuthChoice(#[from] ChooseError),
    #[error("{0}")]
    Credential(#[from] AuthError),
    #[error("sign-in with {method} failed: {text}")]
    AuthFailed {
        method: AuthMethod,
        code: Option<RespCode>,
        text: String,
    },
    /// Automatic sign-in: the server hung up after refusing these
    /// challenge-response methods; the others may work on a new connection.
    #[error("the server closed the connection after refusing sign-in with {}", .refused.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "))]
    AuthFallbackNeedsReconnect { refused: Vec<AuthMethod> },
    #[error("the server refused the connection: {text}")]
    Greeting {
        code: Option<RespCode>,
        text: String,
    },
    #[error("the server answered {command} with an error: {text}")]
    Server {
        command: &'static str,
        code: Option<RespCode>,
        text: String,
    },
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Reply(ReplyError),
    #[error(transparent)]
    Listing(#[from] ListingError),
    #[error("internal error: {0}")]
    Usage(#[from] UsageError),
    #[error("cancelled")]
    Cancelled,
}

impl From<ReplyError> for Error {
    fn from(error: ReplyError) -> Error {
        match error {
            // A reply that does not read as its command's is a listing
            // problem to the user, whichever command it was.
            ReplyError::Malformed(e) => Error::Listing(e),
            other => Error::Reply(other),
        }
    }
}

impl From<LoginError> for Error {
    fn from(error: LoginError) -> Error {
        match error {
            LoginError::Greeting { code, text } => Error::Greeting { code, text },
            LoginError::StartTlsUnavailable => Error::StartTlsUnavailable,
            LoginError::StartTlsRefused(text) => Error::StartTlsRefused(text),
            LoginError::Choice(e) => Error::AuthChoice(e),
            LoginError::Credential(e) => Error::Credential(e),
            LoginError::AuthFailed { method, code, text } => {
                Error::AuthFailed { method, code, text }
            }
            LoginError::FallbackNeedsReconnect { refused } => {
                Error::AuthFallbackNeedsReconnect { refused }
            }
            LoginError::Reply(e) => e.into(),
        }
    }
}

impl Error {
    pub(crate) fn from_io(err: io::Error, timeout: Duration) -> Error {
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                Error::Timeout { after: timeout }
            }
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Error::ConnectionClosed,
            _ => Error::Io(err),
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            Error::Tls(_)
                | Error::Untrusted(_)
                | Error::PinMismatch(_)
                | Error::StartTlsUnavailable
                | Error::StartTlsRefused(_)
        )
    }

    /// The user's credentials or the account's sign-in settings are the
    /// problem (as opposed to the network or the server).
    pub fn is_auth(&self) -> bool {
        match self {
            Error::AuthFailed { code, .. } => !matches!(
                code,
                Some(
                    RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp | RespCode::SysPerm
                )
            ),
            Error::AuthChoice(_)
            | Error::Credential(_)
            | Error::AuthFallbackNeedsReconnect { .. } => true,
            _ => false,
        }
    }

    /// The machine seems offline: no name lookup, or no route to the
    /// server's network.
    pub fn is_offline(&self) -> bool {
        match self {
            Error::Resolve { .. } => true,
            Error::Connect { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkDown
            ),
            _ => false,
        }
    }

    /// Trying again later may work without changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Resolve { .. }
            | Error::Connect { .. }
            | Error::Timeout { .. }
            | Error::Stalled { .. }
            | Error::ConnectionClosed
            | Error::Io(_) => true,
            Error::AuthFailed { code, .. }
            | Error::Greeting { code, .. }
            | Error::Server { code, .. } => matches!(
                code,
                Some(RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp)
            ),
            _ => false,
        }
    }

    /// The RFC 2449/3206 response code the server gave, if any.
    pub fn resp_code(&self) -> Option<&RespCode> {
        match self {
            Error::AuthFailed { code, .. }
            | Error::Greeting { code, .. }
            | Error::Server { code, .. } => code.as_ref(),
            _ => None,
        }
    }

    pub fn certificate(&self) -> Option<&CertificateInfo> {
        match self {
            Error::Untrusted(info) | Error::PinMismatch(info) => Some(info),
            _ => None,
        }
    }
}

impl Explain for Error {
    fn user_message(&self) -> UserMessage {
        let (headline, next_step): (String, &str) = match self {
            Error::Resolve { host, .. } => (
                format!("Letterbox could not find the mail server “{host}”."),
                "Check the server name in the account settings and that this computer is online.",
            ),
            Error::Connect { host, .. } => (
                format!("Letterbox could not connect to the mail server “{host}”."),
                "Check that this computer is online, and the server name, port and security setting in the account settings.",
            ),
            Error::Timeout { after } => (
                format!(
                    "The mail server stopped answering (nothing for {} seconds).",
                    after.as_secs()
                ),
                "Try again in a few minutes. If it keeps happening, check your internet connection.",
            ),
            Error::Stalled { after } => (
                format!(
                    "The mail server kept the connection busy without getting anywhere for {} seconds, so Letterbox stopped.",
                    after.as_secs()
                ),
                "Try again later. Nothing was deleted from the server. If it keeps happening, the server may be broken: tell your provider.",
            ),
            Error::ConnectionClosed | Error::Io(_) => (
                "The connection to the mail server was lost.".into(),
                "Try again. Nothing was deleted from the server.",
            ),
            Error::Tls(_) => (
                "A secure connection to the mail server could not be set up.".into(),
                "Check the port and security setting (TLS usually uses port 995, STARTTLS port 110).",
            ),
            Error::Untrusted(info) => (
                format!(
                    "The mail server's certificate is not trusted: {}.",
                    info.problem
                ),
                "If you know this server uses its own certificate, compare its fingerprint with the one your provider gives and choose “Trust this certificate”.",
            ),
            Error::PinMismatch(_) => (
                "The mail server presented a different certificate from the one you trusted for this account.".into(),
                "This can mean someone is intercepting the connection. Do not continue unless your provider confirms the certificate changed.",
            ),
            Error::StartTlsUnavailable => (
                "The mail server does not offer a secure connection (STARTTLS), so Letterbox did not send your password.".into(),
                "Choose TLS on port 995 in the account settings, or ask your provider how to connect securely.",
            ),
            Error::StartTlsRefused(_) => (
                "The mail server refused to switch to a secure connection.".into(),
                "Choose TLS on port 995 in the account settings, or try again later.",
            ),
            Error::AuthChoice(ChooseError::CleartextRefused) => (
                "The connection to this server is not encrypted, so Letterbox did not sign in: your password could be read or cracked by anyone on the network.".into(),
                "Use TLS or STARTTLS in the account settings (or, only on a network you trust, allow signing in without encryption).",
            ),
            Error::AuthChoice(_) => (
                "Letterbox and the mail server have no sign-in method in common.".into(),
                "Choose a different authentication method in the account settings, or ask your provider.",
            ),
            Error::Credential(_) => (
                "The user name or password contains characters that cannot be sent to a mail server.".into(),
                "Check the user name and password in the account settings.",
            ),
            Error::AuthFallbackNeedsReconnect { .. } => (
                "The mail server did not accept the user name or password.".into(),
                "Check the user name and password in the account settings.",
            ),
            Error::AuthFailed { code, .. } => match code {
                Some(RespCode::InUse) => in_use(),
                Some(RespCode::LoginDelay) => login_delay(),
                Some(RespCode::SysTemp) => sys_temp(),
                Some(RespCode::SysPerm) => sys_perm(),
                _ => (
                    "The mail server did not accept the user name or password.".into(),
                    "Check the user name and password in the account settings.",
                ),
            },
            Error::Greeting { code, .. } | Error::Server { code, .. } => match code {
                Some(RespCode::InUse) => in_use(),
                Some(RespCode::LoginDelay) => login_delay(),
                Some(RespCode::SysTemp) => sys_temp(),
                Some(RespCode::SysPerm) => sys_perm(),
                _ => (
                    "The mail server reported a problem.".into(),
                    "Try again later. The server's own words are in the details.",
                ),
            },
            Error::Reply(ReplyError::TooLarge {
                command: "UIDL" | "LIST",
                max_bytes,
            }) => (
                format!(
                    "This mailbox holds more messages than Letterbox can list (its list of messages is over {} MB).",
                    max_bytes / 1_000_000
                ),
                "Remove old mail from the server with another program or your provider's webmail, then check again. Nothing was deleted from the server.",
            ),
            Error::Protocol(_) | Error::Reply(_) | Error::Listing(_) => (
                "The mail server sent something Letterbox could not understand.".into(),
                "Try again later. Nothing was deleted from the server. If it keeps happening, send the connection log to your provider.",
            ),
            Error::Usage(_) => (
                "Letterbox ran into an internal problem.".into(),
                "Try again. Nothing was deleted from the server.",
            ),
            Error::Cancelled => (
                "Cancelled.".into(),
                "Nothing was deleted from the server.",
            ),
        };
        UserMessage {
            headline,
            next_step: next_step.to_owned(),
            detail: self.to_string(),
        }
    }
}

fn in_use() -> (String, &'static str) {
    (
        "The mail server says the mailbox is in use by another program.".into(),
        "Close other mail programs or try again in a few minutes.",
    )
}

fn login_delay() -> (String, &'static str) {
    (
        "The mail server says it was checked too soon after the last time.".into(),
        "Wait a few minutes before checking again; Letterbox will respect the server's delay.",
    )
}

fn sys_temp() -> (String, &'static str) {
    (
        "The mail server has a temporary problem.".into(),
        "Try again in a few minutes.",
    )
}

fn sys_perm() -> (String, &'static str) {
    (
        "The mail server has a problem with this mailbox that will not go away by itself.".into(),
        "Contact your mail provider; the server's own words are in the details.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_is_no_lookup_or_no_route_and_not_a_refusal() {
        let lookup = Error::Resolve {
            host: "pop.example.org".into(),
            source: io::Error::other("Temporary failure in name resolution"),
        };
        let connect = |kind| Error::Connect {
            host: "pop.example.org".into(),
            port: 995,
            source: io::Error::from(kind),
        };
        assert!(lookup.is_offline());
        assert!(connect(io::ErrorKind::NetworkUnreachable).is_offline());
        assert!(connect(io::ErrorKind::HostUnreachable).is_offline());
        // The server is down or its port wrong: the machine is online.
        assert!(!connect(io::ErrorKind::ConnectionRefused).is_offline());
        assert!(
            !Error::Timeout {
                after: std::time::Duration::from_secs(60)
            }
            .is_offline()
        );
    }

    #[test]
    fn classification() {
        let timeout = Error::Timeout {
            after: Duration::from_secs(30),
        };
        assert!(timeout.is_timeout() && timeout.is_transient() && !timeout.is_auth());
        let bad_password = Error::AuthFailed {
            method: AuthMethod::Plain,
            code: Some(RespCode::Auth),
            text: "Authentication failed".into(),
        };
        assert!(bad_password.is_auth() && !bad_password.is_transient());
        let locked = Error::AuthFailed {
            method: AuthMethod::UserPass,
            code: Some(RespCode::InUse),
            text: "locked".into(),
        };
        assert!(!locked.is_auth() && locked.is_transient());
        assert_eq!(locked.resp_code(), Some(&RespCode::InUse));
        assert!(
            locked
                .user_message()
                .headline
                .contains("in use by another program")
        );
        let perm = Error::Server {
            command: "RETR",
            code: Some(RespCode::SysPerm),
            text: "broken".into(),
        };
        assert!(!perm.is_transient());
        assert!(Error::StartTlsUnavailable.is_tls());
        assert!(
            Error::from_io(
                io::Error::from(io::ErrorKind::WouldBlock),
                Duration::from_secs(5)
            )
            .is_timeout()
        );
    }

    #[test]
    fn every_message_names_a_next_step() {
        let errors = [
            Error::ConnectionClosed,
            Error::StartTlsUnavailable,
            Error::Cancelled,
            Error::AuthChoice(ChooseError::CleartextRefused),
            Error::Server {
                command: "STAT",
                code: None,
                text: "x".into(),
            },
            Error::Stalled {
                after: Duration::from_secs(120),
            },
            Error::AuthFallbackNeedsReconnect {
                refused: vec![AuthMethod::Apop],
            },
            Error::Reply(ReplyError::TooLarge {
                command: "UIDL",
                max_bytes: 64 * 1024 * 1024,
            }),
        ];
        let too_large = errors[errors.len() - 1].user_message();
        assert!(
            too_large
                .headline
                .contains("more messages than Letterbox can list")
        );
        assert!(
            Error::Stalled {
                after: Duration::from_secs(1)
            }
            .is_transient()
        );
        for error in errors {
            let message = error.user_message();
            assert!(message.headline.ends_with('.'), "{message:?}");
            assert!(!message.next_step.is_empty(), "{message:?}");
            assert_eq!(message.detail, error.to_string());
        }
    }
}
