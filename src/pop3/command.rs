//! POP3 commands (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) and
//! their wire encoding. Every payload is a checked type, so an encoded
//! command is always exactly one line.

use std::fmt;

use base64::Engine as _;

use super::types::{Arg, ArgError, MsgNum, Secret};

/// A base64-encoded SASL response. Built from raw bytes, so it always holds
/// valid base64 and never a line break.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SaslResponse(Secret<String>);

impl SaslResponse {
    pub fn encode(raw: &[u8]) -> SaslResponse {
        SaslResponse(Secret::new(
            base64::engine::general_purpose::STANDARD.encode(raw),
        ))
    }

    /// The response as sent on the wire. RFC 5034 §4: an empty initial
    /// response is sent as `=`; an empty continuation response as an empty line.
    fn wire(&self, initial: bool) -> &str {
        let text = self.0.expose().as_str();
        if initial && text.is_empty() {
            "="
        } else {
            text
        }
    }

    pub fn wire_len(&self) -> usize {
        self.0.expose().len().max(1)
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Command {
    User(Arg),
    Pass(Secret<Arg>),
    Apop {
        name: Arg,
        digest: Secret<Arg>,
    },
    Auth {
        mechanism: Arg,
        initial_response: Option<SaslResponse>,
    },
    Capa,
    Stls,
    Stat,
    /// `LIST` without an argument is a multi-line scan listing.
    List(Option<MsgNum>),
    /// `UIDL` without an argument is a multi-line unique-id listing.
    Uidl(Option<MsgNum>),
    Top {
        msg: MsgNum,
        lines: u32,
    },
    Retr(MsgNum),
    Dele(MsgNum),
    Rset,
    Noop,
    Quit,
}

impl Command {
    pub fn user(name: &str) -> Result<Command, ArgError> {
        Arg::new(name).map(Command::User)
    }

    /// RFC 1939 lets a password contain spaces (it is the rest of the line),
    /// but never a line break.
    pub fn pass(password: &Secret<String>) -> Result<Command, ArgError> {
        Arg::new(password.expose()).map(|arg| Command::Pass(Secret::new(arg)))
    }

    /// Whether a positive reply to this command is multi-line (RFC 1939 §3).
    pub fn is_multiline(&self) -> bool {
        matches!(
            self,
            Command::Capa
                | Command::List(None)
                | Command::Uidl(None)
                | Command::Top { .. }
                | Command::Retr(_)
        )
    }

    /// Commands after which nothing may be sent until their reply is in:
    /// they change the session state or the transport (RFC 2449 §6.6 only
    /// allows pipelining of commands whose effect does not depend on the
    /// previous reply). QUIT waits for every earlier reply so no reply can be
    /// lost to the server closing the connection.
    pub fn is_barrier(&self) -> bool {
        matches!(
            self,
            Command::User(_)
                | Command::Pass(_)
                | Command::Apop { .. }
                | Command::Auth { .. }
                | Command::Stls
                | Command::Quit
        )
    }

    /// The keyword as sent on the wire.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Top { .. } => "TOP",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
        }
    }

    /// Appends the command line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.write_line(out, false);
    }

    fn write_line(&self, out: &mut Vec<u8>, redact: bool) {
        use std::io::Write as _;
        let hide = |secret: &str| {
            if redact {
                "[redacted]".to_owned()
            } else {
                secret.to_owned()
            }
        };
        // Writing into a Vec cannot fail.
        let _ = match self {
            Command::User(name) => write!(out, "USER {name}"),
            Command::Pass(password) => write!(out, "PASS {}", hide(password.expose().as_str())),
            Command::Apop { name, digest } => {
                write!(out, "APOP {name} {}", hide(digest.expose().as_str()))
            }
            Command::Auth {
                mechanism,
                initial_response: None,
            } => write!(out, "AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial_response: Some(response),
            } => write!(out, "AUTH {mechanism} {}", hide(response.wire(true))),
            Command::List(Some(n)) | Command::Uidl(Some(n)) => {
                write!(out, "{} {n}", self.keyword())
            }
            Command::Retr(n) | Command::Dele(n) => write!(out, "{} {n}", self.keyword()),
            Command::Top { msg, lines } => write!(out, "TOP {msg} {lines}"),
            Command::Capa
            | Command::Stls
            | Command::Stat
            | Command::List(None)
            | Command::Uidl(None)
            | Command::Rset
            | Command::Noop
            | Command::Quit => write!(out, "{}", self.keyword()),
        };
        out.extend_from_slice(b"\r\n");
    }

    /// The command as it may appear in a log: secrets replaced by `[redacted]`.
    pub fn redacted(&self) -> String {
        let mut out = Vec::new();
        self.write_line(&mut out, true);
        out.truncate(out.len() - 2);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A line sent in the middle of an AUTH exchange, in answer to a `+` challenge.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AuthLine {
    Response(SaslResponse),
    /// `*`: the client gives up the exchange (RFC 5034 §4).
    Cancel,
}

impl AuthLine {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            AuthLine::Response(response) => out.extend_from_slice(response.wire(false).as_bytes()),
            AuthLine::Cancel => out.push(b'*'),
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(cmd: &Command) -> String {
        let mut out = Vec::new();
        cmd.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn n(v: u32) -> MsgNum {
        MsgNum::new(v).unwrap()
    }

    #[test]
    fn encodes_every_command() {
        let cases = [
            (Command::user("alice").unwrap(), "USER alice\r\n"),
            (
                Command::pass(&Secret::new("p w".into())).unwrap(),
                "PASS p w\r\n",
            ),
            (
                Command::Apop {
                    name: Arg::new("mrose").unwrap(),
                    digest: Secret::new(Arg::new("c4c9334bac560ecc979e58001b3e22fb").unwrap()),
                },
                "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n",
            ),
            (
                Command::Auth {
                    mechanism: Arg::new("PLAIN").unwrap(),
                    initial_response: Some(SaslResponse::encode(b"\0a\0b")),
                },
                "AUTH PLAIN AGEAYg==\r\n",
            ),
            (
                Command::Auth {
                    mechanism: Arg::new("EXTERNAL").unwrap(),
                    initial_response: Some(SaslResponse::encode(b"")),
                },
                "AUTH EXTERNAL =\r\n",
            ),
            (Command::Capa, "CAPA\r\n"),
            (Command::Stls, "STLS\r\n"),
            (Command::Stat, "STAT\r\n"),
            (Command::List(None), "LIST\r\n"),
            (Command::List(Some(n(3))), "LIST 3\r\n"),
            (Command::Uidl(None), "UIDL\r\n"),
            (Command::Uidl(Some(n(9))), "UIDL 9\r\n"),
            (
                Command::Top {
                    msg: n(1),
                    lines: 10,
                },
                "TOP 1 10\r\n",
            ),
            (Command::Retr(n(2)), "RETR 2\r\n"),
            (Command::Dele(n(2)), "DELE 2\r\n"),
            (Command::Rset, "RSET\r\n"),
            (Command::Noop, "NOOP\r\n"),
            (Command::Quit, "QUIT\r\n"),
        ];
        for (cmd, expected) in cases {
            assert_eq!(wire(&cmd), expected);
        }
    }

    #[test]
    fn multiline_and_barrier_classification() {
        assert!(Command::Capa.is_multiline());
        assert!(Command::List(None).is_multiline());
        assert!(!Command::List(Some(n(1))).is_multiline());
        assert!(Command::Uidl(None).is_multiline());
        assert!(!Command::Uidl(Some(n(1))).is_multiline());
        assert!(Command::Retr(n(1)).is_multiline());
        assert!(
            Command::Top {
                msg: n(1),
                lines: 0
            }
            .is_multiline()
        );
        assert!(!Command::Stat.is_multiline());
        assert!(Command::Stls.is_barrier());
        assert!(Command::Quit.is_barrier());
        assert!(!Command::Retr(n(1)).is_barrier());
    }

    #[test]
    fn secrets_are_redacted_in_logs() {
        let pass = Command::pass(&Secret::new("hunter2".into())).unwrap();
        assert_eq!(pass.redacted(), "PASS [redacted]");
        assert!(!format!("{pass:?}").contains("hunter2"));
        let auth = Command::Auth {
            mechanism: Arg::new("PLAIN").unwrap(),
            initial_response: Some(SaslResponse::encode(b"\0alice\0hunter2")),
        };
        assert_eq!(auth.to_string(), "AUTH PLAIN [redacted]");
        assert!(!format!("{auth:?}").contains("AGFsaWNl"));
    }

    #[test]
    fn password_with_line_break_is_refused() {
        assert!(Command::pass(&Secret::new("x\r\nDELE 1".into())).is_err());
        assert!(Command::user("a\nb").is_err());
    }

    #[test]
    fn auth_lines() {
        let mut out = Vec::new();
        AuthLine::Response(SaslResponse::encode(b"")).encode(&mut out);
        AuthLine::Cancel.encode(&mut out);
        AuthLine::Response(SaslResponse::encode(b"x")).encode(&mut out);
        assert_eq!(out, b"\r\n*\r\neA==\r\n");
    }
}
