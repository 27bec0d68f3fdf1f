//! The server side of a socket, for the embedded demo mailbox: a listener
//! on loopback that hands each accepted connection (TLS already set up when
//! asked for) to a handler on its own thread. It knows nothing of POP3; the
//! handler speaks it. Accepting blocks (no polling, so an idle demo costs
//! no CPU); stopping wakes the accept with a connection of its own.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use native_tls::{Identity, TlsAcceptor};

/// An accepted connection, plain or TLS.
pub trait ServerStream: Read + Write + Send {}
impl<T: Read + Write + Send> ServerStream for T {}

/// How long an accepted connection may sit silent before it is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A listener on 127.0.0.1; stops accepting when dropped. Connections
/// already handed out run on until their handler returns.
pub struct LoopbackListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackListener {
    /// Listens on 127.0.0.1:`port` (0: any free port). With `tls` (a
    /// certificate and its PKCS#8 key, both PEM) each connection is
    /// TLS from its first byte; a failed handshake drops it unseen.
    pub fn start<H>(port: u16, tls: Option<(&[u8], &[u8])>, handler: H) -> io::Result<Self>
    where
        H: Fn(Box<dyn ServerStream>) + Send + Sync + 'static,
    {
        let acceptor = match tls {
            Some((cert_pem, key_pem)) => {
                let identity = Identity::from_pkcs8(cert_pem, key_pem).map_err(io::Error::other)?;
                Some(Arc::new(
                    TlsAcceptor::new(identity).map_err(io::Error::other)?,
                ))
            }
            None => None,
        };
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("letterbox-listener".into())
            .spawn(move || {
                for incoming in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(tcp) = incoming else {
                        // A connection that failed before it was accepted
                        // (reset, out of descriptors): wait a little.
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let (acceptor, handler) = (acceptor.clone(), handler.clone());
                    let _ = std::thread::Builder::new()
                        .name("letterbox-listener-conn".into())
                        .spawn(move || {
                            if let Some(stream) = accept(tcp, acceptor.as_deref()) {
                                handler(stream);
                            }
                        });
                }
            })?;
        Ok(LoopbackListener {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn accept(tcp: TcpStream, acceptor: Option<&TlsAcceptor>) -> Option<Box<dyn ServerStream>> {
    tcp.set_read_timeout(Some(IDLE_TIMEOUT)).ok()?;
    Some(match acceptor {
        Some(acceptor) => Box::new(acceptor.accept(tcp).ok()?),
        None => Box::new(tcp),
    })
}

impl Drop for LoopbackListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees the flag and ends.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
            && let Some(thread) = self.thread.take()
        {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn hands_each_connection_to_the_handler_and_stops_when_dropped() {
        let listener = LoopbackListener::start(0, None, |mut stream| {
            let mut line = String::new();
            let mut reader = BufReader::new(&mut stream);
            if reader.read_line(&mut line).is_ok() {
                let _ = stream.write_all(format!("echo {line}").as_bytes());
            }
        })
        .expect("listen");
        let port = listener.port();
        for n in 0..3 {
            let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            tcp.write_all(format!("hello {n}\n").as_bytes())
                .expect("send");
            let mut reply = String::new();
            BufReader::new(&tcp).read_line(&mut reply).expect("reply");
            assert_eq!(reply, format!("echo hello {n}\n"));
        }
        drop(listener);
        // The port is closed: nothing accepts any more.
        let refused = TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2),
        );
        assert!(refused.is_err(), "still accepting after drop");
    }
}
