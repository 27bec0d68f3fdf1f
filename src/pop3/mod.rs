//! The POP3 protocol core, sans-IO: commands become bytes, bytes become
//! replies and events. It owns the wire format (RFC 1939, RFC 2449 CAPA and
//! response codes, RFC 2595 STLS, RFC 5034 SASL), the limits that protect
//! against hostile servers, and the session state machine with its queue of
//! pipelined commands. It never touches a socket, a thread or a clock; the
//! driver in `net` does that, and tests replay whole transcripts through it.

pub mod auth;
pub mod command;
mod events;
mod framing;
pub mod login;
pub mod reply;
pub mod session;
pub mod types;

pub use auth::{
    AuthMethod, SaslExchange, ServerOffer, apop_command, candidate_methods, choose_method,
};
pub use command::{AuthLine, Command, SaslResponse};
pub use framing::{LineStarts, dot_stuff};
pub use login::{Credentials, Greeted, Handshake, LoginError, SignIn, SignedIn, Step};
pub use reply::{Capabilities, Expire, RespCode, Status, StatusLine, UidlListing, escape_controls};
pub use session::{
    CommandId, Event, Limits, ProtocolError, Reply, ReplyError, Session, State, UsageError,
};
pub use types::{Arg, ArgError, MsgNum, Secret, Security, Uidl};
