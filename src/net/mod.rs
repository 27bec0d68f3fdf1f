//! The only code that owns a socket. TCP with timeouts, implicit TLS and
//! STLS (with certificate checks and pinning), the loopback listener the
//! demo mailbox serves on, and a blocking driver that
//! feeds the sans-IO `pop3` core, keeping a bounded window of pipelined
//! commands in flight. It never decides what to download or delete; that is
//! the engine's job.

mod client;
mod error;
mod http;
mod listen;
mod mailbox;
mod redirect;
pub mod tls;
mod transport;

pub use crate::pop3::{RespCode, Security};
pub use client::{Client, Credentials, Direction, Endpoint, Observe, ServerInfo, TranscriptSink};
pub use error::Error;
pub use http::{HttpClient, HttpError};
pub use listen::{LoopbackListener, ServerStream};
pub use mailbox::{Mailbox, MailboxListing, Outcome, PlainTransport, RetrSink, StreamError};
pub use redirect::{Redirect, RedirectError, RedirectListener, parse_query};
pub use tls::{CertificateInfo, Fingerprint, Trust};
/// Whether the server at `host:port` speaks TLS 1.3: a second handshake
/// that insists on it (native-tls does not report the version of the
/// first). Only what the server speaks is learned; nothing is trusted or
/// sent, so the certificate is not checked here.
pub fn supports_tls13(host: &str, port: u16, timeouts: Timeouts) -> bool {
    transport::connect_tcp(host, port, timeouts, None)
        .is_ok_and(|tcp| tls::supports_tls13(host, tcp))
}

pub use transport::{CancelToken, ReadAhead, Stream, Timeouts, Transport};
