//! What the session hands its driver: the events of a conversation, the
//! typed replies they carry, the errors it can end in, the state it is in,
//! and the limits it enforces. Values only; the machine that produces them
//! is in `session`.

use super::reply::{BadStatus, Capabilities, ListingError, Status, UidlListing};
use super::types::{MsgNum, Uidl};

/// Caps that keep a hostile or broken server from making the client
/// allocate without bound. A reply over a cap fails that reply only; the
/// rest of it is skipped and the session goes on.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A status line, CRLF included (RFC 2449 §4 says 512; servers stretch it).
    pub max_status_line_bytes: usize,
    /// The whole CAPA reply.
    pub max_capa_bytes: u64,
    /// A LIST or UIDL listing (about 30 bytes per message).
    pub max_listing_bytes: u64,
    /// One message (RETR).
    pub max_message_bytes: u64,
    /// One message head with its first lines (TOP). Small, because many are
    /// collected at once and a server may ignore the line count.
    pub max_top_bytes: u64,
    /// A reply longer than this makes no progress (see `Session::progress`),
    /// whatever its cap: no real message is that large, so the server is
    /// sending without end.
    pub endless_reply_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_status_line_bytes: 4096,
            max_capa_bytes: 64 * 1024,
            max_listing_bytes: 64 * 1024 * 1024,
            max_message_bytes: 256 * 1024 * 1024,
            max_top_bytes: 1024 * 1024,
            endless_reply_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// RFC 1939 §3 session states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Waiting for the server's greeting.
    Greeting,
    Authorization,
    Transaction,
    /// QUIT was sent in the transaction state: the server commits deletions.
    Update,
    Closed,
}

/// Identifies a submitted command in the events that answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub(super) u64);

impl CommandId {
    /// The id of a session's first command, for tests of code that only
    /// passes ids along.
    #[cfg(test)]
    pub(crate) const fn first() -> CommandId {
        CommandId(0)
    }

    /// How many commands were submitted between `earlier` and this one;
    /// `None` if this one came first.
    pub fn distance_from(self, earlier: CommandId) -> Option<usize> {
        self.0
            .checked_sub(earlier.0)
            .and_then(|d| usize::try_from(d).ok())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The server's first line. A `-ERR` greeting closes the session.
    Greeting(Status),
    /// A `+` challenge during AUTH; answer with [`Session::auth_respond`].
    Continuation { id: CommandId, challenge: String },
    /// Decoded body bytes of a streamed TOP or RETR, in order.
    Data { id: CommandId, chunk: Vec<u8> },
    /// The command was answered `+OK`; `reply` is what that answer
    /// carries, already parsed for the command it belongs to.
    Reply {
        id: CommandId,
        status: Status,
        reply: Reply,
    },
    /// The command was answered `-ERR`.
    Refused {
        id: CommandId,
        /// The command's keyword, as sent.
        command: &'static str,
        status: Status,
    },
    /// The reply was framed but broke a limit or could not be parsed; its
    /// bytes were skipped and the session can go on.
    ReplyFailed { id: CommandId, error: ReplyError },
}

/// What a `+OK` reply carries, by the command it answers. The session
/// knows which command each reply belongs to, so callers never parse.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Only the status line: USER, PASS, APOP, AUTH, STLS, DELE, RSET,
    /// NOOP and QUIT.
    Done,
    /// STAT: how many messages, how many octets.
    Stat {
        count: u32,
        size_bytes: u64,
    },
    /// `LIST n`.
    ScanLine(MsgNum, u64),
    /// `LIST`: each message number with its size, in the server's order.
    Scan(Vec<(MsgNum, u64)>),
    /// `UIDL n`.
    UidLine(MsgNum, Uidl),
    /// `UIDL`, with the lines that could not be used.
    Uidl(UidlListing),
    Capabilities(Capabilities),
    /// TOP or RETR, collected whole (within its cap).
    Message(Vec<u8>),
    /// TOP or RETR submitted streamed: its bytes came as [`Event::Data`].
    Streamed,
}

/// A problem with one reply that leaves the stream usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("the server's reply line was longer than {max_bytes} bytes")]
    StatusLineTooLong { max_bytes: usize },
    #[error("the server's reply to {command} was larger than the limit of {max_bytes} bytes")]
    TooLarge {
        command: &'static str,
        max_bytes: u64,
    },
    #[error(transparent)]
    Malformed(#[from] ListingError),
}

/// A problem after which the byte stream cannot be trusted: the session is
/// over and the connection must be dropped (without QUIT, so the server
/// deletes nothing).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("the server's greeting is not a POP3 greeting: {shown:?}")]
    BadGreeting { shown: String },
    #[error(transparent)]
    BadStatus(#[from] BadStatus),
    #[error("the server sent data that no command asked for: {shown:?}")]
    Unsolicited { shown: String },
    #[error("the server sent data right after agreeing to start TLS (possible injection attack)")]
    DataAfterStls,
    #[error("the session is already broken by an earlier protocol error")]
    Poisoned,
}

/// A command that cannot be sent now (a bug in the caller, not the server).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("{command} is not allowed in the {state:?} state")]
    WrongState { command: &'static str, state: State },
    #[error("QUIT was already sent")]
    AfterQuit,
    #[error("STLS can only be used once, before login")]
    StlsAgain,
    #[error("no AUTH exchange is waiting for a response")]
    NoChallenge,
}
