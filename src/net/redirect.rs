//! The one-shot listener that catches a browser sign-in's redirect
//! (RFC 8252 §7.3): `http://127.0.0.1:<port>/` on a port of the system's
//! choosing, loopback only. It answers the browser with a short page and
//! hands the query's parameters back; it never follows anything and never
//! serves anything else.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::CancelToken;

/// How long a connection may take to send its request: a browser sends
/// it at once (an idle pre-connection must not hold up the real one).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest request head read (a redirect's URL is well under this).
const MAX_HEAD: usize = 16 * 1024;

/// Why no redirect arrived.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("nobody finished signing in in time")]
    TimedOut,
    #[error("the sign-in was cancelled")]
    Cancelled,
    #[error("the listener for the browser's answer failed: {0}")]
    Io(#[from] io::Error),
}

/// A listener on 127.0.0.1 (and on ::1 at the same port where it can,
/// for a browser that takes "localhost" to be that), waiting for one
/// request to `/`.
pub struct RedirectListener {
    listeners: Vec<TcpListener>,
    port: u16,
}

/// What the browser brought, and how to answer it.
pub struct Redirect {
    pub params: HashMap<String, String>,
    stream: TcpStream,
}

impl Redirect {
    /// Answers the browser with a short page (plain text, so nothing in
    /// it is ever interpreted) and closes the connection.
    pub fn reply(mut self, text: &str) {
        let body = text.as_bytes();
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = self.stream.write_all(head.as_bytes());
        let _ = self.stream.write_all(body);
        let _ = self.stream.flush();
    }
}

impl RedirectListener {
    pub fn bind() -> io::Result<RedirectListener> {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let port = listener.local_addr()?.port();
        let mut listeners = vec![listener];
        if let Ok(v6) = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
            listeners.push(v6);
        }
        for listener in &listeners {
            listener.set_nonblocking(true)?;
        }
        Ok(RedirectListener { listeners, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the browser's request to `/` until `timeout` or `cancel`.
    /// Anything else (a favicon, a stray connection, garbage) gets a 404
    /// and the wait goes on.
    pub fn wait(&self, timeout: Duration, cancel: &CancelToken) -> Result<Redirect, RedirectError> {
        let deadline = Instant::now() + timeout;
        loop {
            if cancel.is_cancelled() {
                return Err(RedirectError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(RedirectError::TimedOut);
            }
            let mut idle = true;
            for listener in &self.listeners {
                match listener.accept() {
                    Ok((stream, _)) => {
                        idle = false;
                        if let Some(redirect) = read_request(stream) {
                            return Ok(redirect);
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                        ) => {}
                    Err(e) => return Err(RedirectError::Io(e)),
                }
            }
            // Polled a few times a second: this runs only while a sign-in
            // page is open, and needs no waker.
            if idle {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads one request; `Some` only for a GET of `/` (with its query).
fn read_request(mut stream: TcpStream) -> Option<Redirect> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT)).ok()?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut words = line.split(' ');
    let (method, target) = (words.next()?, words.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != "/" {
        let _ = stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return None;
    }
    Some(Redirect {
        params: parse_query(query),
        stream,
    })
}

/// `a=b&c=d`, percent- and '+'-decoded (the `url` crate's form
/// decoding); a repeated name keeps its first value.
pub fn parse_query(query: &str) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for (name, value) in oauth2::url::form_urlencoded::parse(query.as_bytes()) {
        params
            .entry(name.into_owned())
            .or_insert_with(|| value.into_owned());
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        let q = parse_query("code=a%2Fb%3D&state=x+y&error=&code=second&bad=%zz&end=%4&u=%é");
        assert_eq!(q["code"], "a/b=");
        assert_eq!(q["state"], "x y");
        assert_eq!(q["error"], "");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["end"], "%4");
        assert_eq!(q["u"], "%é");
    }

    #[test]
    fn catches_the_redirect_and_ignores_other_requests() {
        let listener = RedirectListener::bind().unwrap();
        let port = listener.port();
        let browser = std::thread::spawn(move || {
            let mut favicon = TcpStream::connect(("127.0.0.1", port)).unwrap();
            favicon
                .write_all(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            favicon.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            let mut real = TcpStream::connect(("127.0.0.1", port)).unwrap();
            real.write_all(b"GET /?code=c1&state=s1 HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = String::new();
            real.read_to_string(&mut answer).unwrap();
            answer
        });
        let redirect = listener
            .wait(Duration::from_secs(10), &CancelToken::new())
            .unwrap();
        assert_eq!(redirect.params["code"], "c1");
        assert_eq!(redirect.params["state"], "s1");
        redirect.reply("Signed in.");
        let answer = browser.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("Signed in."), "{answer}");
    }

    #[test]
    fn gives_up_when_cancelled_or_out_of_time() {
        let listener = RedirectListener::bind().unwrap();
        assert!(matches!(
            listener.wait(Duration::from_millis(250), &CancelToken::new()),
            Err(RedirectError::TimedOut)
        ));
        let cancel = CancelToken::new();
        cancel.cancel();
        assert!(matches!(
            listener.wait(Duration::from_secs(60), &cancel),
            Err(RedirectError::Cancelled)
        ));
    }
}
