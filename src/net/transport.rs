//! The socket: TCP with timeouts, every address of a host tried in turn,
//! implicit TLS or an STLS upgrade in place, and a cancel token that can
//! interrupt a blocked read from another thread.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use native_tls::TlsStream;

use super::error::Error;
use super::tls::{self, CertificateInfo, HandshakeFailure, Trust};
use crate::pop3::Security;

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Per address tried.
    pub connect: Duration,
    /// Any single read or write; a slow ISP must survive it.
    pub io: Duration,
    /// A session ends when it gets nowhere for this long, even while bytes
    /// arrive: see `pop3::Session::progress`.
    pub no_progress: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(20),
            io: Duration::from_secs(60),
            no_progress: Duration::from_secs(120),
        }
    }
}

/// Lets another thread stop a session: sets a flag the driver checks, and
/// shuts the socket down so a blocked read returns at once. A cancelled
/// session never sends QUIT, so the server deletes nothing.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    socket: Mutex<Option<TcpStream>>,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        if let Ok(socket) = self.0.socket.lock()
            && let Some(socket) = socket.as_ref()
        {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    pub(crate) fn watch(&self, socket: &TcpStream) {
        if let (Ok(mut slot), Ok(clone)) = (self.0.socket.lock(), socket.try_clone()) {
            *slot = Some(clone);
        }
        if self.is_cancelled() {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

/// A byte stream a POP3 session can run over. Implemented by [`Stream`]
/// for real sockets, and by test doubles that replay transcripts.
pub trait Transport: Read + Write {
    fn is_encrypted(&self) -> bool;
    /// Upgrades the connection to TLS in place (after STLS was accepted).
    fn start_tls(&mut self, host: &str, trust: &Trust) -> Result<(), Error>;
    /// The server's certificate (DER), once the connection is encrypted.
    fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        None
    }
}

/// A real connection: plain TCP or TLS over TCP.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<ReadAhead>>),
    /// Only while an upgrade is under way, or after it failed.
    Broken,
}

impl Stream {
    /// Connects to the first address of `host` that answers, then does the
    /// TLS handshake if `security` is implicit TLS.
    pub fn connect(
        host: &str,
        port: u16,
        security: Security,
        trust: &Trust,
        timeouts: Timeouts,
        cancel: Option<&CancelToken>,
    ) -> Result<Stream, Error> {
        let tcp = connect_tcp(host, port, timeouts, cancel)?;
        if security != Security::Tls {
            return Ok(Stream::Plain(tcp));
        }
        match tls::handshake(host, tcp, trust) {
            Ok(stream) => Ok(Stream::Tls(Box::new(stream))),
            Err(HandshakeFailure::Other(e)) => Err(e),
            Err(HandshakeFailure::Certificate(problem)) => {
                // Look at the certificate over a second connection that
                // sends nothing, so the user can see what they would trust.
                let tcp = connect_tcp(host, port, timeouts, cancel)?;
                let der = tls::fetch_certificate(host, tcp)?;
                Err(Error::Untrusted(Box::new(CertificateInfo::from_der(
                    &der, problem,
                ))))
            }
        }
    }
}

/// Looks a host name up on a helper thread, so that a resolver that hangs
/// (no network, a dead DNS server) neither outlasts the connect timeout nor
/// ignores Cancel. A lookup that never returns leaves only that thread.
fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
    cancel: Option<&CancelToken>,
) -> Result<Vec<std::net::SocketAddr>, Error> {
    if cancel.is_some_and(CancelToken::is_cancelled) {
        return Err(Error::Cancelled);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("letterbox-dns".into())
        .spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>());
            let _ = tx.send(result);
        });
    if let Err(source) = spawned {
        return Err(Error::Io(source));
    }
    let started = std::time::Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(result) => {
                return result.map_err(|source| Error::Resolve {
                    host: host.to_owned(),
                    source,
                });
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if cancel.is_some_and(CancelToken::is_cancelled) {
                    return Err(Error::Cancelled);
                }
                if started.elapsed() >= timeout {
                    return Err(Error::Timeout { after: timeout });
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Resolve {
                    host: host.to_owned(),
                    source: io::Error::other("the name lookup stopped"),
                });
            }
        }
    }
}

pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    timeouts: Timeouts,
    cancel: Option<&CancelToken>,
) -> Result<TcpStream, Error> {
    let addrs = resolve(host, port, timeouts.connect, cancel)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no addresses");
    for addr in addrs {
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Err(Error::Cancelled);
        }
        match TcpStream::connect_timeout(&addr, timeouts.connect) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeouts.io)).map_err(Error::Io)?;
                tcp.set_write_timeout(Some(timeouts.io))
                    .map_err(Error::Io)?;
                let _ = tcp.set_nodelay(true);
                if let Some(cancel) = cancel {
                    cancel.watch(&tcp);
                }
                return Ok(tcp);
            }
            Err(e) => {
                tracing::debug!(%addr, error = %e, "connect failed");
                last = e;
            }
        }
    }
    if last.kind() == io::ErrorKind::TimedOut || last.kind() == io::ErrorKind::WouldBlock {
        return Err(Error::Timeout {
            after: timeouts.connect,
        });
    }
    Err(Error::Connect {
        host: host.to_owned(),
        port,
        source: last,
    })
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Broken => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Broken => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Broken => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Transport for Stream {
    fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        match self {
            Stream::Tls(tls) => tls.peer_certificate().ok().flatten()?.to_der().ok(),
            _ => None,
        }
    }

    fn is_encrypted(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    fn start_tls(&mut self, host: &str, trust: &Trust) -> Result<(), Error> {
        let Stream::Plain(tcp) = std::mem::replace(self, Stream::Broken) else {
            return Err(Error::Tls("the connection is already encrypted".into()));
        };
        let peer = tcp.peer_addr().ok();
        match tls::handshake(host, tcp, trust) {
            Ok(stream) => {
                *self = Stream::Tls(Box::new(stream));
                Ok(())
            }
            Err(HandshakeFailure::Other(e)) => Err(e),
            Err(HandshakeFailure::Certificate(problem)) => Err(Error::Untrusted(Box::new(
                untrusted_after_stls(host, peer, problem),
            ))),
        }
    }
}

/// A TCP stream that reads ahead in large chunks. OpenSSL reads a TLS
/// record's header and body with separate small reads; under it, this turns
/// tens of thousands of `recv` calls per 50 MB into a few hundred.
pub struct ReadAhead {
    tcp: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadAhead {
    const CAPACITY: usize = 128 * 1024;

    pub(crate) fn new(tcp: TcpStream) -> ReadAhead {
        ReadAhead {
            tcp,
            buf: vec![0; Self::CAPACITY].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            if out.len() >= self.buf.len() {
                return self.tcp.read(out);
            }
            self.end = self.tcp.read(&mut self.buf)?;
            self.start = 0;
        }
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

impl Write for ReadAhead {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tcp.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// For STLS the certificate can only be read after another greeting and STLS
/// exchange; done on a fresh connection that never sends credentials.
fn untrusted_after_stls(
    host: &str,
    peer: Option<std::net::SocketAddr>,
    problem: String,
) -> CertificateInfo {
    let fetch = || -> Option<Vec<u8>> {
        let peer = peer?;
        let mut tcp = TcpStream::connect_timeout(&peer, Duration::from_secs(10)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let mut line = Vec::new();
        read_line(&mut tcp, &mut line)?; // greeting
        tcp.write_all(b"STLS\r\n").ok()?;
        line.clear();
        read_line(&mut tcp, &mut line)?;
        if !line.starts_with(b"+OK") {
            return None;
        }
        tls::fetch_certificate(host, tcp).ok()
    };
    match fetch() {
        Some(der) => CertificateInfo::from_der(&der, problem),
        None => CertificateInfo {
            sha256: tls::Fingerprint([0; 32]),
            subject: "(could not be read)".into(),
            issuer: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            problem,
        },
    }
}

/// Reads one line byte by byte (only for the tiny certificate probe, where
/// reading past the line would eat the TLS handshake).
fn read_line(tcp: &mut TcpStream, line: &mut Vec<u8>) -> Option<()> {
    let mut byte = [0u8];
    while line.len() < 4096 {
        if tcp.read(&mut byte).ok()? == 0 {
            return None;
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return Some(());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_resolve_and_honour_cancel() {
        let found = resolve("localhost", 110, Duration::from_secs(10), None).expect("localhost");
        assert!(found.iter().all(|a| a.port() == 110) && !found.is_empty());
        let cancel = CancelToken::new();
        cancel.cancel();
        assert!(matches!(
            resolve("localhost", 110, Duration::from_secs(10), Some(&cancel)),
            Err(Error::Cancelled)
        ));
        assert!(matches!(
            resolve("no-such-host.invalid", 110, Duration::from_secs(10), None),
            Err(Error::Resolve { .. } | Error::Timeout { .. })
        ));
    }
}
