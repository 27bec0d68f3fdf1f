//! The only code that owns a socket. TCP with timeouts, implicit TLS and
//! STLS (with certificate checks and pinning), and a blocking driver that
//! feeds the sans-IO `pop3` core, keeping a bounded window of pipelined
//! commands in flight. It never decides what to download or delete; that is
//! the engine's job.

mod client;
mod error;
pub mod tls;
mod transport;

pub use crate::pop3::RespCode;
pub use client::{
    Client, Credentials, Direction, Endpoint, Mailbox, MailboxListing, Observe, Outcome,
    PlainTransport, RetrSink, ServerInfo, TranscriptSink,
};
pub use error::{Error, UserMessage};
pub use tls::{CertificateInfo, Fingerprint, Trust};
/// A plain TCP connection for a side probe (e.g. the TLS version check).
pub(crate) fn connect_tcp_for_probe(
    host: &str,
    port: u16,
    timeouts: Timeouts,
) -> Option<std::net::TcpStream> {
    transport::connect_tcp(host, port, timeouts, None).ok()
}

pub use transport::{CancelToken, ReadAhead, Security, Stream, Timeouts, Transport};
