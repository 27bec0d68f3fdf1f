//! A scriptable, fault-injecting POP3 server on loopback for the integration
//! tests.
//!
//! [`MailServer`] is a model RFC 1939 server (with the RFC 2449 extensions,
//! APOP and SASL that the client uses) over an in-memory mailbox shared by
//! all its sessions. It records what every session did ([`SessionRecord`])
//! and breaks on cue ([`Fault`]) so the client's "no mail is ever lost" and
//! pipelining logic can be tested against drops, stalls and garbage at exact
//! points. [`ScriptServer`] plays a fixed byte-level script for protocol edge
//! cases that a correct server would never produce.
//!
//! This is test support, so two rules hold everywhere below: nothing a
//! client does (hanging up mid-reply, sending junk, never reading) may panic
//! a server thread — only setup mistakes panic; and dropping a server stops
//! and joins all its threads, because tests start hundreds of servers.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit as _, Mac as _};
use letterbox::pop3::{LineStarts, dot_stuff};
use md5::Digest as _;
use native_tls::{HandshakeError, Identity, TlsAcceptor, TlsStream};

/// How often a blocked server thread wakes up to check whether its server
/// was dropped. Short, so dropping a server never holds a test up.
const POLL: Duration = Duration::from_millis(20);
/// A client that stops reading must not pin a server thread for ever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest command line accepted before the session is cut off. RFC 2449
/// allows 255 octets; this is generous so only a runaway client hits it.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// A client that hangs up and reconnects at once would otherwise race the
/// old session's thread noticing the hang-up and see a spurious IN-USE.
const LOCK_GRACE: Duration = Duration::from_millis(250);
/// How long a [`ScriptServer`] waits for a connection or an expected line.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Mailbox and configuration
// ---------------------------------------------------------------------------

/// One message in the server's mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub uidl: String,
    /// The exact message as RETR delivers it once dot-unstuffed: CRLF line
    /// ends, ending in CRLF. LIST and STAT sizes are its length.
    pub bytes: Vec<u8>,
}

impl Message {
    /// A message from text with any line ends; they become CRLF and a final
    /// CRLF is added, so the size the server reports is what the client
    /// must store.
    pub fn new(uidl: impl Into<String>, text: &str) -> Message {
        let mut crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        if !crlf.is_empty() && !crlf.ends_with("\r\n") {
            crlf.push_str("\r\n");
        }
        Message::raw(uidl, crlf.into_bytes())
    }

    /// A message with these exact bytes (for malformed-mail tests).
    pub fn raw(uidl: impl Into<String>, bytes: Vec<u8>) -> Message {
        Message {
            uidl: uidl.into(),
            bytes,
        }
    }

    /// A small well-formed mail with the usual headers.
    pub fn sample(uidl: &str, subject: &str, body: &str) -> Message {
        Message::new(
            uidl,
            &format!(
                "From: Sender <sender@example.test>\r\n\
                 To: Alice <alice@example.test>\r\n\
                 Subject: {subject}\r\n\
                 Date: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
                 Message-ID: <{uidl}@example.test>\r\n\
                 \r\n\
                 {body}"
            ),
        )
    }
}

/// `count` sample messages with UIDLs `uid-0001`, `uid-0002`, ...
pub fn sample_mailbox(count: usize) -> Vec<Message> {
    (1..=count)
        .map(|i| {
            Message::sample(
                &format!("uid-{i:04}"),
                &format!("Message {i}"),
                &format!("Hello,\r\nthis is message number {i}.\r\n"),
            )
        })
        .collect()
}

/// How TLS is offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (POP3S, port 995 style).
    Implicit,
    /// Plain text until the client sends STLS (RFC 2595).
    Stls,
}

/// What the model server offers and how it misbehaves. Start from
/// `ServerConfig::default()` and override fields.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub user: String,
    /// Also the XOAUTH2 bearer token.
    pub password: String,
    /// Advertise PIPELINING in CAPA (the server always accepts pipelined
    /// commands, as RFC 2449 servers must read them in order anyway).
    pub pipelining: bool,
    /// If false, CAPA answers -ERR, like an RFC 1939-only server.
    pub capa: bool,
    /// If false, UIDL answers -ERR and is not advertised.
    pub uidl: bool,
    /// If false, TOP answers -ERR and is not advertised.
    pub top: bool,
    /// Advertise RESP-CODES / AUTH-RESP-CODE and put `[IN-USE]`, `[AUTH]`,
    /// ... in -ERR replies.
    pub resp_codes: bool,
    /// SASL mechanisms advertised and accepted: any of PLAIN, LOGIN,
    /// CRAM-MD5, XOAUTH2.
    pub sasl: Vec<String>,
    /// USER/PASS accepted and advertised.
    pub user_pass: bool,
    /// The greeting carries an APOP timestamp and APOP is accepted.
    pub apop: bool,
    /// With `apop`: the server has the APOP secret for the user. Many real
    /// servers put a timestamp in their greeting without having one, and
    /// refuse every APOP: set this to false for them.
    pub apop_secret: bool,
    /// Hang up right after refusing a sign-in attempt (some servers do).
    pub close_after_auth_failure: bool,
    /// End every line with a bare LF instead of CRLF, messages included
    /// (their LIST sizes count the bare-LF form), like a few old servers.
    pub bare_lf: bool,
    pub tls: Option<TlsMode>,
    /// With `TlsMode::Stls`: if false, STLS is neither advertised nor
    /// accepted, as when a man in the middle strips it.
    pub advertise_stls: bool,
    /// Fixture name (`tests/fixtures/tls/NAME.pem`) of the certificate the
    /// server presents: "localhost" or "other".
    pub cert: String,
    /// Replaces the greeting line (without CRLF). With `apop`, a `<...>` in
    /// it is used as the APOP timestamp.
    pub greeting: Option<String>,
    pub faults: Vec<Fault>,
    /// Sleep this long before answering the first command after login, then
    /// read everything already sent, so `max_unanswered` shows how far ahead
    /// a pipelining client got.
    pub answer_delay: Option<Duration>,
    /// Argument of an `EXPIRE` CAPA line.
    pub expire: Option<String>,
    /// Argument of a `LOGIN-DELAY` CAPA line.
    pub login_delay: Option<u32>,
    /// Lock the mailbox while a session is logged in, like real servers: a
    /// second concurrent login gets `-ERR [IN-USE]`.
    pub lock_mailbox: bool,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            user: "alice".to_owned(),
            password: "secret".to_owned(),
            pipelining: true,
            capa: true,
            uidl: true,
            top: true,
            resp_codes: true,
            sasl: vec!["PLAIN".to_owned()],
            user_pass: true,
            apop: false,
            apop_secret: true,
            close_after_auth_failure: false,
            bare_lf: false,
            tls: None,
            advertise_stls: true,
            cert: "localhost".to_owned(),
            greeting: None,
            faults: Vec::new(),
            answer_delay: None,
            expire: None,
            login_delay: None,
            lock_mailbox: true,
        }
    }
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// A misbehaviour injected at one point of a session. Each fault fires at
/// most once per session; when several match, the first listed wins.
#[derive(Clone, Debug)]
pub struct Fault {
    /// 0-based connection index (in accept order); `None` = every session.
    pub session: Option<usize>,
    pub trigger: Trigger,
    pub action: Action,
}

impl Fault {
    pub fn on_connect(action: Action) -> Fault {
        Fault {
            session: None,
            trigger: Trigger::OnConnect,
            action,
        }
    }

    /// At the `nth` (1-based) occurrence of `keyword` in a session.
    pub fn on_command(keyword: &str, nth: usize, action: Action) -> Fault {
        Fault {
            session: None,
            trigger: Trigger::OnCommand {
                keyword: keyword.to_owned(),
                nth,
            },
            action,
        }
    }

    /// Once `bytes` reply bytes (greeting included) were sent.
    pub fn after_reply_bytes(bytes: u64, action: Action) -> Fault {
        Fault {
            session: None,
            trigger: Trigger::AfterReplyBytes(bytes),
            action,
        }
    }

    /// `offset` bytes into the reply to the `nth` `keyword`.
    pub fn in_reply(keyword: &str, nth: usize, offset: usize, action: Action) -> Fault {
        Fault {
            session: None,
            trigger: Trigger::InReply {
                keyword: keyword.to_owned(),
                nth,
                offset,
            },
            action,
        }
    }

    /// Limits the fault to one connection (0-based).
    pub fn in_session(mut self, index: usize) -> Fault {
        self.session = Some(index);
        self
    }
}

/// Where a fault fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Before the greeting is sent.
    OnConnect,
    /// When the `nth` (1-based) command with this keyword (any case) arrives,
    /// before it is executed. SASL continuation lines are not commands.
    OnCommand { keyword: String, nth: usize },
    /// Once this many reply bytes were sent in the session, counting from
    /// the first greeting byte. The reply crossing the mark is cut there.
    AfterReplyBytes(u64),
    /// `offset` bytes into the final reply to the `nth` command with this
    /// keyword (an offset past its end means "right after it"). Easier than
    /// `AfterReplyBytes` for "cut the 2nd RETR after 500 bytes".
    InReply {
        keyword: String,
        nth: usize,
        offset: usize,
    },
}

/// What happens when a fault fires.
///
/// With `OnCommand` the command is not executed unless the action says so
/// (`DropAfterReply`, `ApplyThenDrop`, `OversizeLine`). With the byte
/// triggers the command was already executed; the action applies at the cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Close the connection at once: OnConnect sends no greeting, OnCommand
    /// no reply (so a QUIT applies nothing), the byte triggers send exactly
    /// up to the mark.
    Drop,
    /// Send nothing more for this long, keeping the socket open, then close.
    Stall(Duration),
    /// Send this raw text (CRLF added if missing) instead of the reply. The
    /// session goes on; on connect, a reply starting with -ERR closes it.
    Reply(String),
    /// Send these bytes instead of the reply (or the rest of it); the
    /// session goes on.
    Garbage(Vec<u8>),
    /// Execute the command, send its full reply, then close.
    DropAfterReply,
    /// Execute the command but close without sending its reply: for QUIT,
    /// the deletions are applied and the client never sees "+OK".
    ApplyThenDrop,
    /// A line of this many bytes (CRLF included): OnConnect / OnCommand pad
    /// the status line of the (executed) reply to this length; the byte
    /// triggers insert an `xxx...` line at the mark and then send the rest.
    OversizeLine(usize),
}

// ---------------------------------------------------------------------------
// Session records
// ---------------------------------------------------------------------------

/// What one connection did, for assertions. Readable while the session is
/// still running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionRecord {
    /// 0-based connection index, as in [`Fault::session`].
    pub index: usize,
    /// Every line received, in order: commands as sent except that secrets
    /// are `[redacted]` ("PASS [redacted]", "AUTH PLAIN [redacted]"); SASL
    /// continuation lines are "[redacted]" (or "*" for a cancel).
    pub commands: Vec<String>,
    /// `commands.len()`.
    pub commands_received: usize,
    /// Times the server needed the next line, had none buffered and had to
    /// wait on the socket. A strictly sequential client causes exactly one
    /// per line; a pipelining one far fewer.
    pub blocking_reads: usize,
    /// Largest number of complete lines received but not yet answered at
    /// any moment (counted just before each answer, after reading all that
    /// was already readable). 1 for a sequential client.
    pub max_unanswered: usize,
    /// Bytes handed to the socket (greeting included; TLS framing excluded).
    pub bytes_sent: u64,
    pub authenticated: bool,
    /// QUIT was received (in any state), even if a fault kept it from running.
    pub quit_received: bool,
    /// The UPDATE state was reached: deletions were applied.
    pub updated: bool,
    /// UIDLs deleted from the mailbox at UPDATE.
    pub deleted_uidls: Vec<String>,
    /// TLS was active from this many received lines on (Some(0) for
    /// implicit TLS): everything in `commands[..n]` travelled in clear.
    pub tls_from_command: Option<usize>,
    /// Bytes the client sent after STLS before the handshake (discarded, as
    /// RFC 2595 requires; non-zero means the client pipelined past STLS).
    pub plaintext_after_stls_bytes: usize,
    /// Why the server-side TLS handshake failed (e.g. the client rejected
    /// the certificate).
    pub tls_error: Option<String>,
    /// Indices into `ServerConfig::faults` that fired, in order.
    pub faults_fired: Vec<usize>,
    /// The session thread is done and the socket closed.
    pub finished: bool,
}

impl SessionRecord {
    /// The received lines whose keyword is `keyword` (any case).
    pub fn commands_with(&self, keyword: &str) -> Vec<&str> {
        self.commands
            .iter()
            .filter(|c| keyword_of(c).eq_ignore_ascii_case(keyword))
            .map(String::as_str)
            .collect()
    }

    /// The keywords of all received lines, upper-cased.
    pub fn keywords(&self) -> Vec<String> {
        self.commands
            .iter()
            .map(|c| keyword_of(c).to_ascii_uppercase())
            .collect()
    }
}

fn keyword_of(line: &str) -> &str {
    line.split(' ').next().unwrap_or("")
}

// ---------------------------------------------------------------------------
// MailServer
// ---------------------------------------------------------------------------

/// The model POP3 server; see the module docs. Dropping it stops all its
/// threads and closes every connection.
pub struct MailServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

struct Shared {
    config: ServerConfig,
    acceptor: Option<TlsAcceptor>,
    mailbox: Mutex<Mailbox>,
    records: Mutex<Vec<SessionRecord>>,
    shutdown: AtomicBool,
    /// Clones of the open sockets, so `Drop` can unblock their threads.
    live: Mutex<Vec<(usize, TcpStream)>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Makes APOP timestamps and CRAM-MD5 challenges unique.
    nonce: AtomicU64,
}

struct Mailbox {
    messages: Vec<Message>,
    lock_holder: Option<usize>,
}

/// Locks a mutex even if a panicking server thread poisoned it: the data
/// is still fine for the next test assertion, and the panic is reported
/// when the server is dropped.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MailServer {
    /// Starts listening on 127.0.0.1 (a free port) with this mailbox.
    /// Panics on setup errors (no loopback, missing TLS fixture).
    pub fn start(config: ServerConfig, messages: Vec<Message>) -> MailServer {
        let acceptor = config.tls.map(|_| tls_acceptor(&config.cert));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let shared = Arc::new(Shared {
            config,
            acceptor,
            mailbox: Mutex::new(Mailbox {
                messages,
                lock_holder: None,
            }),
            records: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            live: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            nonce: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("pop3-accept-{}", addr.port()))
            .spawn(move || accept_loop(accept_shared, listener))
            .expect("spawn the accept thread");
        MailServer {
            shared,
            addr,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The mailbox as it is now (after any UPDATE).
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.shared.mailbox).messages.clone()
    }

    /// The UIDLs in the mailbox, in order.
    pub fn uidls(&self) -> Vec<String> {
        lock(&self.shared.mailbox)
            .messages
            .iter()
            .map(|m| m.uidl.clone())
            .collect()
    }

    /// Replaces the mailbox, as if another client or new deliveries changed
    /// it. Sessions already logged in keep their own view.
    pub fn set_messages(&self, messages: Vec<Message>) {
        lock(&self.shared.mailbox).messages = messages;
    }

    /// Appends a newly delivered message.
    pub fn add_message(&self, message: Message) {
        lock(&self.shared.mailbox).messages.push(message);
    }

    /// Removes a message, as if another client deleted it. Returns whether
    /// it was there.
    pub fn remove_uidl(&self, uidl: &str) -> bool {
        let mut mailbox = lock(&self.shared.mailbox);
        let before = mailbox.messages.len();
        mailbox.messages.retain(|m| m.uidl != uidl);
        mailbox.messages.len() != before
    }

    /// Whether a logged-in session holds the mailbox lock right now.
    pub fn is_locked(&self) -> bool {
        lock(&self.shared.mailbox).lock_holder.is_some()
    }

    /// Records of all connections so far, in accept order.
    pub fn sessions(&self) -> Vec<SessionRecord> {
        lock(&self.shared.records).clone()
    }

    /// Waits until at least `count` sessions have finished, then returns all
    /// records. Use it after the client hung up, since the server notices a
    /// hang-up a moment later. Panics after `timeout` (a test failure).
    pub fn wait_for_finished(&self, count: usize, timeout: Duration) -> Vec<SessionRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.sessions();
            if records.iter().filter(|r| r.finished).count() >= count {
                return records;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {count} finished POP3 sessions within {timeout:?}, have {records:#?}"
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept thread, blocked in accept(); it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let accept_panicked = self
            .accept_thread
            .take()
            .is_some_and(|handle| handle.join().is_err());
        // Only now is the list of sessions final. Shutting their sockets
        // down unblocks reads and writes at once.
        for (_, socket) in lock(&self.shared.live).iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *lock(&self.shared.workers));
        let mut worker_panicked = false;
        for handle in workers {
            worker_panicked |= handle.join().is_err();
        }
        if (accept_panicked || worker_panicked) && !thread::panicking() {
            panic!("a thread of the POP3 test server panicked (see its message above)");
        }
    }
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut index = 0;
    loop {
        let accepted = listener.accept();
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // E.g. the peer reset before accept; nothing to serve.
                thread::sleep(Duration::from_millis(1));
                continue;
            }
        };
        lock(&shared.records).push(SessionRecord {
            index,
            ..SessionRecord::default()
        });
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.live).push((index, clone));
        }
        let session_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("pop3-session-{index}"))
            .spawn(move || Session::new(session_shared, index, stream).run());
        match spawned {
            Ok(handle) => lock(&shared.workers).push(handle),
            Err(_) => mark_finished(&shared, index),
        }
        index += 1;
    }
}

fn mark_finished(shared: &Shared, index: usize) {
    lock(&shared.live).retain(|(i, _)| *i != index);
    if let Some(record) = lock(&shared.records).get_mut(index) {
        record.finished = true;
    }
}

// ---------------------------------------------------------------------------
// The connection: plain or TLS, with an input buffer
// ---------------------------------------------------------------------------

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the socket is being moved into a TLS handshake.
    Gone,
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Gone => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// A server-side connection: the socket (kept separately to toggle
/// blocking mode and shut it down under TLS), the stream and unread input.
struct Conn {
    tcp: TcpStream,
    stream: Stream,
    input: Vec<u8>,
    peer_closed: bool,
}

/// A line taken from the input: its text without the line end, and whether
/// it ended in CRLF (not a bare LF).
struct Line {
    text: String,
    crlf: bool,
}

impl Conn {
    /// Panics only if the OS cannot duplicate a fresh socket (setup error).
    fn new(tcp: TcpStream) -> Conn {
        // Reads wake up every POLL to check the shutdown flag.
        let _ = tcp.set_read_timeout(Some(POLL));
        let _ = tcp.set_write_timeout(Some(WRITE_TIMEOUT));
        let _ = tcp.set_nodelay(true);
        let stream = Stream::Plain(tcp.try_clone().expect("duplicate a socket handle"));
        Conn {
            tcp,
            stream,
            input: Vec::new(),
            peer_closed: false,
        }
    }

    fn take_line(&mut self) -> Option<Line> {
        let end = memchr::memchr(b'\n', &self.input)?;
        let mut raw: Vec<u8> = self.input.drain(..=end).collect();
        raw.pop();
        let crlf = raw.last() == Some(&b'\r');
        if crlf {
            raw.pop();
        }
        Some(Line {
            text: String::from_utf8_lossy(&raw).into_owned(),
            crlf,
        })
    }

    fn complete_lines_buffered(&self) -> usize {
        memchr::memchr_iter(b'\n', &self.input).count()
    }

    /// Blocks until some input arrives. False on EOF, error, shutdown or
    /// deadline.
    fn fill_blocking(&mut self, shutdown: &AtomicBool, deadline: Option<Instant>) -> bool {
        let mut buf = [0u8; 16 * 1024];
        loop {
            if self.peer_closed || shutdown.load(Ordering::SeqCst) {
                return false;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    return false;
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    return true;
                }
                Err(e) if is_retry(&e) => continue,
                Err(_) => {
                    self.peer_closed = true;
                    return false;
                }
            }
        }
    }

    /// Reads whatever the client already sent, without waiting.
    fn drain_available(&mut self) {
        if self.peer_closed || self.tcp.set_nonblocking(true).is_err() {
            return;
        }
        let mut buf = [0u8; 16 * 1024];
        while self.input.len() <= MAX_LINE_BYTES * 4 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.peer_closed = true;
                    break;
                }
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.peer_closed = true;
                    break;
                }
            }
        }
        let _ = self.tcp.set_nonblocking(false);
    }

    fn write_all(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// Server side of a TLS handshake on this socket. Input buffered so far
    /// is dropped (RFC 2595: it was sent in clear before the handshake) and
    /// its size returned. Err carries the handshake error text.
    fn start_tls(
        &mut self,
        acceptor: &TlsAcceptor,
        shutdown: &AtomicBool,
    ) -> Result<usize, String> {
        let discarded = self.input.len();
        self.input.clear();
        let Stream::Plain(plain) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err("TLS is already active".to_owned());
        };
        let mut attempt = acceptor.accept(plain);
        loop {
            match attempt {
                Ok(tls) => {
                    self.stream = Stream::Tls(Box::new(tls));
                    return Ok(discarded);
                }
                // The read timeout fired mid-handshake: keep going unless
                // the server is being dropped.
                Err(HandshakeError::WouldBlock(mid)) => {
                    if shutdown.load(Ordering::SeqCst) {
                        return Err("server shut down during the handshake".to_owned());
                    }
                    attempt = mid.handshake();
                }
                Err(HandshakeError::Failure(e)) => return Err(e.to_string()),
            }
        }
    }

    /// Closes the connection. `graceful` sends a TLS close_notify first.
    fn close(&mut self, graceful: bool) {
        if graceful && let Stream::Tls(tls) = &mut self.stream {
            let _ = tls.shutdown();
        }
        let _ = self.tcp.shutdown(Shutdown::Both);
        self.stream = Stream::Gone;
    }
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Sleeps for `duration`, or less if the server is being dropped.
fn sleep_unless_shutdown(duration: Duration, shutdown: &AtomicBool) {
    let deadline = Instant::now() + duration;
    while !shutdown.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep(POLL.min(deadline - now));
    }
}

// ---------------------------------------------------------------------------
// One POP3 session
// ---------------------------------------------------------------------------

/// How a session goes on after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Orderly end (after QUIT): TLS close_notify, then close.
    Close,
    /// Abrupt end: the client hung up, or a fault cuts the connection.
    Drop,
}

/// What the server does after sending a command's reply.
enum Next {
    Continue,
    Close,
    StartTls,
    /// The connection was lost while executing (mid-SASL).
    Lost,
}

struct Answer {
    bytes: Vec<u8>,
    next: Next,
}

impl Answer {
    fn line(text: impl AsRef<str>) -> Answer {
        Answer {
            bytes: crlf_line(text.as_ref()),
            next: Next::Continue,
        }
    }

    fn then(mut self, next: Next) -> Answer {
        self.next = next;
        self
    }

    fn lost() -> Answer {
        Answer {
            bytes: Vec::new(),
            next: Next::Lost,
        }
    }
}

enum State {
    Authorization {
        user: Option<String>,
    },
    /// The mailbox as it was at login (message n = `snapshot[n - 1]`) and
    /// the deletion marks of this session.
    Transaction {
        snapshot: Vec<Message>,
        deleted: Vec<bool>,
    },
}

struct Session {
    shared: Arc<Shared>,
    index: usize,
    conn: Conn,
    state: State,
    /// Occurrences of each (upper-case) keyword so far in this session.
    counts: HashMap<String, usize>,
    fired: Vec<bool>,
    sent: u64,
    apop_timestamp: Option<String>,
    tls_active: bool,
    /// Set at login: the next answer waits for `answer_delay`.
    delay_armed: bool,
}

impl Session {
    fn new(shared: Arc<Shared>, index: usize, tcp: TcpStream) -> Session {
        let fired = vec![false; shared.config.faults.len()];
        Session {
            shared,
            index,
            conn: Conn::new(tcp),
            state: State::Authorization { user: None },
            counts: HashMap::new(),
            fired,
            sent: 0,
            apop_timestamp: None,
            tls_active: false,
            delay_armed: false,
        }
    }

    fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    fn shutdown(&self) -> &AtomicBool {
        &self.shared.shutdown
    }

    fn record(&self, update: impl FnOnce(&mut SessionRecord)) {
        if let Some(record) = lock(&self.shared.records).get_mut(self.index) {
            update(record);
        }
    }

    fn run(mut self) {
        let flow = self.serve();
        // Release the lock before the client can see the connection close,
        // so an immediate reconnect is not refused as IN-USE.
        self.release_lock();
        self.conn.close(flow == Flow::Close);
        mark_finished(&self.shared, self.index);
    }

    fn serve(&mut self) -> Flow {
        if self.config().tls == Some(TlsMode::Implicit) && !self.upgrade_tls() {
            return Flow::Drop;
        }
        let greeting = self.greeting();
        let mut greeting_flow = Flow::Continue;
        let greeting_bytes = match self.take_action(|t| *t == Trigger::OnConnect) {
            None => crlf_line(&greeting),
            Some(Action::Drop) => return Flow::Drop,
            Some(Action::Stall(duration)) => return self.stall(duration),
            Some(Action::Reply(text)) => {
                self.apop_timestamp = self.apop_timestamp_in(&text);
                if text.starts_with("-ERR") {
                    greeting_flow = Flow::Close;
                }
                crlf_line(&text)
            }
            Some(Action::Garbage(bytes)) => bytes,
            Some(Action::DropAfterReply | Action::ApplyThenDrop) => {
                greeting_flow = Flow::Drop;
                crlf_line(&greeting)
            }
            Some(Action::OversizeLine(len)) => pad_status_line(crlf_line(&greeting), len),
        };
        match self.send(None, greeting_bytes) {
            Flow::Continue if greeting_flow == Flow::Continue => {}
            Flow::Continue => return greeting_flow,
            other => return other,
        }
        loop {
            let Some(line) = self.next_line() else {
                return Flow::Drop;
            };
            match self.handle_command(&line.text) {
                Flow::Continue => {}
                end => return end,
            }
        }
    }

    fn greeting(&mut self) -> String {
        if let Some(text) = self.config().greeting.clone() {
            self.apop_timestamp = self.apop_timestamp_in(&text);
            return text;
        }
        if !self.config().apop {
            return "+OK Letterbox test POP3 server ready".to_owned();
        }
        let nonce = self.shared.nonce.fetch_add(1, Ordering::SeqCst);
        let timestamp = format!("<{}.{nonce}@letterbox.test>", std::process::id());
        let text = format!("+OK Letterbox test POP3 server ready {timestamp}");
        self.apop_timestamp = Some(timestamp);
        text
    }

    fn apop_timestamp_in(&self, greeting: &str) -> Option<String> {
        if !self.config().apop {
            return None;
        }
        let start = greeting.find('<')?;
        let end = start + greeting[start..].find('>')?;
        Some(greeting[start..=end].to_owned())
    }

    /// Marks and returns the first unfired fault for this session whose
    /// trigger matches.
    fn take_fault(&mut self, matches: impl Fn(&Trigger) -> bool) -> Option<Fault> {
        let position = self
            .shared
            .config
            .faults
            .iter()
            .enumerate()
            .position(|(i, f)| {
                !self.fired[i] && f.session.is_none_or(|s| s == self.index) && matches(&f.trigger)
            })?;
        self.fired[position] = true;
        self.record(|r| r.faults_fired.push(position));
        Some(self.shared.config.faults[position].clone())
    }

    fn take_action(&mut self, matches: impl Fn(&Trigger) -> bool) -> Option<Action> {
        self.take_fault(matches).map(|f| f.action)
    }

    fn stall(&self, duration: Duration) -> Flow {
        sleep_unless_shutdown(duration, self.shutdown());
        Flow::Drop
    }

    /// The next line from the client, counting a blocking read if none was
    /// buffered. None when the client hung up or the server is dropped.
    fn next_line(&mut self) -> Option<Line> {
        let mut waited = false;
        loop {
            if let Some(line) = self.conn.take_line() {
                self.record(|r| r.commands_received += 1);
                return Some(line);
            }
            if self.conn.input.len() > MAX_LINE_BYTES {
                let reply = crlf_line("-ERR line too long");
                let _ = self.send(None, reply);
                return None;
            }
            if !waited {
                waited = true;
                self.record(|r| r.blocking_reads += 1);
            }
            if !self.conn.fill_blocking(&self.shared.shutdown, None) {
                return None;
            }
        }
    }

    /// Called once per command before answering it: applies the answer
    /// delay, reads all that is readable and notes how many lines wait.
    fn before_answer(&mut self) {
        if self.delay_armed {
            self.delay_armed = false;
            if let Some(delay) = self.config().answer_delay {
                sleep_unless_shutdown(delay, self.shutdown());
            }
        }
        self.conn.drain_available();
        let waiting = 1 + self.conn.complete_lines_buffered();
        self.record(|r| r.max_unanswered = r.max_unanswered.max(waiting));
    }

    fn handle_command(&mut self, line: &str) -> Flow {
        let (keyword, args) = match line.split_once(' ') {
            Some((k, a)) => (k.to_ascii_uppercase(), a),
            None => (line.to_ascii_uppercase(), ""),
        };
        let logged = redact(&keyword, line);
        let quit = keyword == "QUIT";
        self.record(|r| {
            r.commands.push(logged);
            r.quit_received |= quit;
        });
        let nth = {
            let count = self.counts.entry(keyword.clone()).or_insert(0);
            *count += 1;
            *count
        };
        self.before_answer();

        let fault = self.take_action(|t| match t {
            Trigger::OnCommand { keyword: k, nth: n } => {
                k.eq_ignore_ascii_case(&keyword) && *n == nth
            }
            _ => false,
        });
        let answer = match fault {
            None => self.execute(&keyword, args),
            Some(Action::Drop) => return Flow::Drop,
            Some(Action::Stall(duration)) => return self.stall(duration),
            Some(Action::Reply(text)) => return self.send(Some(&keyword), crlf_line(&text)),
            Some(Action::Garbage(bytes)) => return self.send(Some(&keyword), bytes),
            Some(Action::DropAfterReply) => {
                let answer = self.execute(&keyword, args);
                if !matches!(answer.next, Next::Lost) {
                    let _ = self.send(Some(&keyword), answer.bytes);
                }
                return Flow::Drop;
            }
            Some(Action::ApplyThenDrop) => {
                let _ = self.execute(&keyword, args);
                return Flow::Drop;
            }
            Some(Action::OversizeLine(len)) => {
                let answer = self.execute(&keyword, args);
                Answer {
                    bytes: pad_status_line(answer.bytes, len),
                    next: answer.next,
                }
            }
        };
        if matches!(answer.next, Next::Lost) {
            return Flow::Drop;
        }
        match self.send(Some(&keyword), answer.bytes) {
            Flow::Continue => {}
            end => return end,
        }
        match answer.next {
            Next::Continue => Flow::Continue,
            Next::Close => Flow::Close,
            Next::Lost => Flow::Drop,
            Next::StartTls => {
                if self.upgrade_tls() {
                    Flow::Continue
                } else {
                    Flow::Drop
                }
            }
        }
    }

    /// Sends one reply, applying byte-offset faults. `keyword` names the
    /// command answered (None for the greeting and SASL challenges).
    fn send(&mut self, keyword: Option<&str>, bytes: Vec<u8>) -> Flow {
        let bytes = if self.config().bare_lf {
            crlf_to_lf(&bytes)
        } else {
            bytes
        };
        let len = bytes.len();
        let sent = self.sent;
        let nth = keyword.map_or(0, |k| self.counts.get(k).copied().unwrap_or(0));
        let fault = self.take_fault(|t| match t {
            Trigger::AfterReplyBytes(mark) => *mark <= sent + len as u64,
            Trigger::InReply {
                keyword: k, nth: n, ..
            } => keyword.is_some_and(|kw| k.eq_ignore_ascii_case(kw)) && *n == nth,
            _ => false,
        });
        let offset = match fault.as_ref().map(|f| &f.trigger) {
            Some(Trigger::AfterReplyBytes(mark)) => {
                usize::try_from(mark.saturating_sub(sent)).unwrap_or(usize::MAX)
            }
            Some(Trigger::InReply { offset, .. }) => *offset,
            _ => 0,
        }
        .min(len);
        let (head, tail) = bytes.split_at(offset);
        match fault.map(|f| f.action) {
            None => self.write(&bytes),
            Some(Action::Drop | Action::ApplyThenDrop) => {
                let _ = self.write(head);
                Flow::Drop
            }
            Some(Action::Stall(duration)) => match self.write(head) {
                Flow::Continue => self.stall(duration),
                end => end,
            },
            Some(Action::Reply(text)) => match self.write(head) {
                Flow::Continue => self.write(&crlf_line(&text)),
                end => end,
            },
            Some(Action::Garbage(garbage)) => match self.write(head) {
                Flow::Continue => self.write(&garbage),
                end => end,
            },
            Some(Action::DropAfterReply) => {
                let _ = self.write(&bytes);
                Flow::Drop
            }
            Some(Action::OversizeLine(line_len)) => {
                for part in [head, &oversize_line(line_len), tail] {
                    if self.write(part) != Flow::Continue {
                        return Flow::Drop;
                    }
                }
                Flow::Continue
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Flow {
        if bytes.is_empty() {
            return Flow::Continue;
        }
        // Counted before the write so a client that has read the reply
        // always finds it in the record.
        self.sent += bytes.len() as u64;
        let len = bytes.len() as u64;
        self.record(|r| r.bytes_sent += len);
        if self.conn.write_all(bytes) {
            Flow::Continue
        } else {
            Flow::Drop
        }
    }

    fn upgrade_tls(&mut self) -> bool {
        let Some(acceptor) = self.shared.acceptor.clone() else {
            return false;
        };
        match self.conn.start_tls(&acceptor, &self.shared.shutdown) {
            Ok(discarded) => {
                self.tls_active = true;
                self.record(|r| {
                    r.tls_from_command = Some(r.commands_received);
                    r.plaintext_after_stls_bytes += discarded;
                });
                true
            }
            Err(error) => {
                self.record(|r| r.tls_error = Some(error));
                false
            }
        }
    }

    fn release_lock(&self) {
        let mut mailbox = lock(&self.shared.mailbox);
        if mailbox.lock_holder == Some(self.index) {
            mailbox.lock_holder = None;
        }
    }

    fn try_lock_mailbox(&self) -> bool {
        if !self.config().lock_mailbox {
            return true;
        }
        let deadline = Instant::now() + LOCK_GRACE;
        loop {
            {
                let mut mailbox = lock(&self.shared.mailbox);
                match mailbox.lock_holder {
                    None => {
                        mailbox.lock_holder = Some(self.index);
                        return true;
                    }
                    Some(holder) if holder == self.index => return true,
                    Some(_) => {}
                }
            }
            if Instant::now() >= deadline || self.shutdown().load(Ordering::SeqCst) {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// `-ERR [CODE] text`, or `-ERR text` without RESP-CODES.
    /// `-ERR [AUTH]`, and a hang-up when the config says so.
    fn refuse_sign_in(&self, text: &str) -> Answer {
        let answer = self.err("AUTH", text);
        if self.config().close_after_auth_failure {
            answer.then(Next::Close)
        } else {
            answer
        }
    }

    fn err(&self, code: &str, text: &str) -> Answer {
        if self.config().resp_codes && !code.is_empty() {
            Answer::line(format!("-ERR [{code}] {text}"))
        } else {
            Answer::line(format!("-ERR {text}"))
        }
    }

    // -- commands ----------------------------------------------------------

    fn execute(&mut self, keyword: &str, args: &str) -> Answer {
        if keyword == "CAPA" {
            return self.capa();
        }
        if keyword == "QUIT" {
            return match self.state {
                State::Authorization { .. } => Answer::line("+OK bye").then(Next::Close),
                State::Transaction { .. } => self.update(),
            };
        }
        match self.state {
            State::Authorization { .. } => self.execute_authorization(keyword, args),
            State::Transaction { .. } => self.execute_transaction(keyword, args),
        }
    }

    fn capa(&self) -> Answer {
        let config = self.config();
        if !config.capa {
            return Answer::line("-ERR unknown command");
        }
        let authorization = matches!(self.state, State::Authorization { .. });
        let mut lines = Vec::new();
        if config.top {
            lines.push("TOP".to_owned());
        }
        if config.uidl {
            lines.push("UIDL".to_owned());
        }
        if authorization && config.user_pass {
            lines.push("USER".to_owned());
        }
        if authorization && !config.sasl.is_empty() {
            lines.push(format!("SASL {}", config.sasl.join(" ")));
        }
        if config.resp_codes {
            lines.push("RESP-CODES".to_owned());
            lines.push("AUTH-RESP-CODE".to_owned());
        }
        if config.pipelining {
            lines.push("PIPELINING".to_owned());
        }
        if let Some(expire) = &config.expire {
            lines.push(format!("EXPIRE {expire}"));
        }
        if let Some(delay) = config.login_delay {
            lines.push(format!("LOGIN-DELAY {delay}"));
        }
        if authorization
            && config.tls == Some(TlsMode::Stls)
            && config.advertise_stls
            && !self.tls_active
        {
            lines.push("STLS".to_owned());
        }
        lines.push("IMPLEMENTATION Letterbox-test-server".to_owned());
        let mut body = lines.join("\r\n");
        body.push_str("\r\n");
        Answer {
            bytes: multiline("+OK Capability list follows", body.as_bytes()),
            next: Next::Continue,
        }
    }

    fn execute_authorization(&mut self, keyword: &str, args: &str) -> Answer {
        match keyword {
            "USER" if self.config().user_pass => {
                if args.is_empty() {
                    return Answer::line("-ERR USER needs a name");
                }
                self.state = State::Authorization {
                    user: Some(args.to_owned()),
                };
                Answer::line("+OK send PASS")
            }
            "PASS" if self.config().user_pass => {
                let State::Authorization { user: Some(user) } = &self.state else {
                    return Answer::line("-ERR send USER first");
                };
                let ok = *user == self.config().user && args == self.config().password;
                self.state = State::Authorization { user: None };
                if ok {
                    self.login()
                } else {
                    self.refuse_sign_in("invalid user name or password")
                }
            }
            "APOP" if self.config().apop => {
                let Some(timestamp) = self.apop_timestamp.clone() else {
                    return Answer::line("-ERR APOP not available");
                };
                let Some((name, digest)) = args.split_once(' ') else {
                    return Answer::line("-ERR APOP needs a name and a digest");
                };
                let expected = md5_hex(format!("{timestamp}{}", self.config().password).as_bytes());
                if self.config().apop_secret
                    && name == self.config().user
                    && digest.eq_ignore_ascii_case(&expected)
                {
                    self.login()
                } else {
                    self.refuse_sign_in("invalid user name or digest")
                }
            }
            "AUTH" => self.auth(args),
            "STLS" => {
                let config = self.config();
                if config.tls == Some(TlsMode::Stls) && config.advertise_stls && !self.tls_active {
                    Answer::line("+OK begin TLS negotiation").then(Next::StartTls)
                } else {
                    Answer::line("-ERR STLS not available")
                }
            }
            "STAT" | "LIST" | "RETR" | "DELE" | "NOOP" | "RSET" | "TOP" | "UIDL" => {
                Answer::line("-ERR not logged in")
            }
            _ => Answer::line("-ERR unknown command"),
        }
    }

    /// Enters TRANSACTION with this session's view of the mailbox.
    fn login(&mut self) -> Answer {
        if !self.try_lock_mailbox() {
            return self.err("IN-USE", "mailbox is locked by another session");
        }
        let mut snapshot = lock(&self.shared.mailbox).messages.clone();
        if self.config().bare_lf {
            for message in &mut snapshot {
                message.bytes = crlf_to_lf(&message.bytes);
            }
        }
        let total: usize = snapshot.iter().map(|m| m.bytes.len()).sum();
        let reply = format!(
            "+OK {}'s maildrop has {} messages ({total} octets)",
            self.config().user,
            snapshot.len()
        );
        self.state = State::Transaction {
            deleted: vec![false; snapshot.len()],
            snapshot,
        };
        self.delay_armed = true;
        self.record(|r| r.authenticated = true);
        Answer::line(reply)
    }

    fn auth(&mut self, args: &str) -> Answer {
        let mut parts = args.split_whitespace();
        let Some(mechanism) = parts.next().map(str::to_ascii_uppercase) else {
            return Answer::line("-ERR AUTH needs a mechanism");
        };
        let initial = parts.next().map(str::to_owned);
        if !self
            .config()
            .sasl
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&mechanism))
        {
            return Answer::line("-ERR unsupported SASL mechanism");
        }
        let result = match mechanism.as_str() {
            "PLAIN" => self.auth_plain(initial),
            "LOGIN" => self.auth_login(initial),
            "CRAM-MD5" => self.auth_cram_md5(initial),
            "XOAUTH2" => self.auth_xoauth2(initial),
            _ => return Answer::line("-ERR unsupported SASL mechanism"),
        };
        match result {
            Ok(true) => self.login(),
            Ok(false) => self.refuse_sign_in("authentication failed"),
            Err(answer) => answer,
        }
    }

    /// Sends a SASL challenge and returns the decoded response. Err is the
    /// answer to give instead (cancelled, bad base64, connection lost).
    fn sasl_step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, Answer> {
        let line = format!("+ {}", BASE64.encode(challenge));
        // RFC 5034: "+", one space, the base64 (even when empty).
        if self.send(None, crlf_line(&line)) != Flow::Continue {
            return Err(Answer::lost());
        }
        let Some(response) = self.next_line() else {
            return Err(Answer::lost());
        };
        let cancelled = response.text == "*";
        let logged = if cancelled { "*" } else { "[redacted]" };
        self.record(|r| r.commands.push(logged.to_owned()));
        if cancelled {
            return Err(Answer::line("-ERR authentication cancelled"));
        }
        self.decode_sasl(&response.text)
    }

    fn decode_sasl(&self, text: &str) -> Result<Vec<u8>, Answer> {
        if text == "=" {
            return Ok(Vec::new());
        }
        BASE64
            .decode(text.trim())
            .map_err(|_| Answer::line("-ERR invalid base64 in SASL response"))
    }

    fn initial_or_step(&mut self, initial: Option<String>) -> Result<Vec<u8>, Answer> {
        match initial {
            Some(text) => self.decode_sasl(&text),
            None => self.sasl_step(b""),
        }
    }

    fn auth_plain(&mut self, initial: Option<String>) -> Result<bool, Answer> {
        let response = self.initial_or_step(initial)?;
        let fields: Vec<&[u8]> = response.split(|b| *b == 0).collect();
        let [_authzid, authcid, password] = fields.as_slice() else {
            return Ok(false);
        };
        Ok(*authcid == self.config().user.as_bytes()
            && *password == self.config().password.as_bytes())
    }

    fn auth_login(&mut self, initial: Option<String>) -> Result<bool, Answer> {
        let user = match initial {
            Some(text) => self.decode_sasl(&text)?,
            None => self.sasl_step(b"Username:")?,
        };
        let password = self.sasl_step(b"Password:")?;
        Ok(user == self.config().user.as_bytes() && password == self.config().password.as_bytes())
    }

    fn auth_cram_md5(&mut self, initial: Option<String>) -> Result<bool, Answer> {
        if initial.is_some() {
            return Err(Answer::line("-ERR CRAM-MD5 takes no initial response"));
        }
        let nonce = self.shared.nonce.fetch_add(1, Ordering::SeqCst);
        let challenge = format!("<{}.{nonce}@letterbox.test>", std::process::id());
        let response = self.sasl_step(challenge.as_bytes())?;
        let response = String::from_utf8_lossy(&response).into_owned();
        let Some((user, digest)) = response.rsplit_once(' ') else {
            return Ok(false);
        };
        let expected = hmac_md5_hex(self.config().password.as_bytes(), challenge.as_bytes());
        Ok(user == self.config().user && digest.eq_ignore_ascii_case(&expected))
    }

    fn auth_xoauth2(&mut self, initial: Option<String>) -> Result<bool, Answer> {
        let response = self.initial_or_step(initial)?;
        let expected = format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.config().user,
            self.config().password
        );
        Ok(response == expected.as_bytes())
    }

    fn execute_transaction(&mut self, keyword: &str, args: &str) -> Answer {
        match keyword {
            "STAT" => {
                let (count, size) = self.visible_totals();
                Answer::line(format!("+OK {count} {size}"))
            }
            "LIST" => self.list_like(args, "scan listing follows", |n, m| {
                format!("{n} {}", m.bytes.len())
            }),
            "UIDL" if self.config().uidl => {
                self.list_like(args, "unique-id listing follows", |n, m| {
                    format!("{n} {}", m.uidl)
                })
            }
            "RETR" => match self.message(args) {
                Ok((_, message)) => Answer {
                    bytes: multiline(
                        &format!("+OK {} octets", message.bytes.len()),
                        &message.bytes,
                    ),
                    next: Next::Continue,
                },
                Err(answer) => answer,
            },
            "TOP" if self.config().top => {
                let Some((number, lines)) = args.split_once(' ') else {
                    return Answer::line("-ERR TOP needs a message number and a line count");
                };
                let Ok(lines) = lines.trim().parse::<usize>() else {
                    return Answer::line("-ERR invalid line count");
                };
                match self.message(number) {
                    Ok((_, message)) => Answer {
                        bytes: multiline("+OK top of message follows", &top(&message.bytes, lines)),
                        next: Next::Continue,
                    },
                    Err(answer) => answer,
                }
            }
            "DELE" => match self.message(args) {
                Ok((n, _)) => {
                    if let State::Transaction { deleted, .. } = &mut self.state {
                        deleted[n - 1] = true;
                    }
                    Answer::line(format!("+OK message {n} deleted"))
                }
                Err(answer) => answer,
            },
            "NOOP" => Answer::line("+OK"),
            "RSET" => {
                if let State::Transaction { deleted, .. } = &mut self.state {
                    deleted.fill(false);
                }
                let (count, size) = self.visible_totals();
                Answer::line(format!("+OK maildrop has {count} messages ({size} octets)"))
            }
            "USER" | "PASS" | "APOP" | "AUTH" | "STLS" => {
                Answer::line("-ERR command not valid after login")
            }
            _ => Answer::line("-ERR unknown command"),
        }
    }

    /// Visible (not deleted) messages with their numbers.
    fn visible(&self) -> Vec<(usize, &Message)> {
        match &self.state {
            State::Transaction { snapshot, deleted } => snapshot
                .iter()
                .enumerate()
                .filter(|(i, _)| !deleted[*i])
                .map(|(i, m)| (i + 1, m))
                .collect(),
            State::Authorization { .. } => Vec::new(),
        }
    }

    fn visible_totals(&self) -> (usize, usize) {
        let visible = self.visible();
        let size = visible.iter().map(|(_, m)| m.bytes.len()).sum();
        (visible.len(), size)
    }

    /// Looks a message number up; Err is the -ERR answer.
    fn message(&self, arg: &str) -> Result<(usize, Message), Answer> {
        let State::Transaction { snapshot, deleted } = &self.state else {
            return Err(Answer::line("-ERR not logged in"));
        };
        let n = match arg.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(Answer::line("-ERR invalid message number")),
        };
        if n > snapshot.len() {
            return Err(Answer::line(format!(
                "-ERR no such message, only {} messages in maildrop",
                snapshot.len()
            )));
        }
        if deleted[n - 1] {
            return Err(Answer::line(format!("-ERR message {n} already deleted")));
        }
        Ok((n, snapshot[n - 1].clone()))
    }

    /// LIST and UIDL: one message with an argument, all without.
    fn list_like(
        &self,
        args: &str,
        heading: &str,
        format_line: impl Fn(usize, &Message) -> String,
    ) -> Answer {
        if !args.trim().is_empty() {
            return match self.message(args) {
                Ok((n, message)) => Answer::line(format!("+OK {}", format_line(n, &message))),
                Err(answer) => answer,
            };
        }
        let mut body = String::new();
        for (n, message) in self.visible() {
            body.push_str(&format_line(n, message));
            body.push_str("\r\n");
        }
        let (count, size) = self.visible_totals();
        Answer {
            bytes: multiline(
                &format!("+OK {count} messages ({size} octets), {heading}"),
                body.as_bytes(),
            ),
            next: Next::Continue,
        }
    }

    /// QUIT in TRANSACTION: the UPDATE state. Deletions are applied by UIDL,
    /// so changes made meanwhile through `set_messages` are respected.
    fn update(&mut self) -> Answer {
        let State::Transaction { snapshot, deleted } = &self.state else {
            return Answer::line("+OK bye").then(Next::Close);
        };
        let doomed: Vec<String> = snapshot
            .iter()
            .zip(deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uidl.clone())
            .collect();
        let left = {
            let mut mailbox = lock(&self.shared.mailbox);
            mailbox.messages.retain(|m| !doomed.contains(&m.uidl));
            if mailbox.lock_holder == Some(self.index) {
                mailbox.lock_holder = None;
            }
            mailbox.messages.len()
        };
        self.record(|r| {
            r.updated = true;
            r.deleted_uidls = doomed;
        });
        self.state = State::Authorization { user: None };
        Answer::line(format!("+OK bye, {left} messages left")).then(Next::Close)
    }
}

/// The command line as recorded, with secrets replaced.
fn redact(keyword: &str, line: &str) -> String {
    let mut words = line.split(' ');
    let first = words.next().unwrap_or("");
    match keyword {
        "PASS" => format!("{first} [redacted]"),
        "APOP" => match words.next() {
            Some(name) => format!("{first} {name} [redacted]"),
            None => line.to_owned(),
        },
        "AUTH" => {
            let rest: Vec<&str> = words.collect();
            match rest.as_slice() {
                [mechanism, _, ..] => format!("{first} {mechanism} [redacted]"),
                _ => line.to_owned(),
            }
        }
        _ => line.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Wire format helpers
// ---------------------------------------------------------------------------

fn crlf_line(text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    if !text.ends_with("\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes
}

/// A multi-line reply: status line, dot-stuffed body (a final CRLF added if
/// missing), then the terminating ".".
fn multiline(status: &str, body: &[u8]) -> Vec<u8> {
    let mut out = crlf_line(status);
    // A bare LF also starts a line here (`ServerConfig::bare_lf` sends
    // bodies in bare-LF form), so no client can mistake a line for the
    // terminator whichever line end it splits on.
    out.extend_from_slice(&dot_stuff(body, LineStarts::AfterAnyLf));
    out
}

/// Every CRLF as a bare LF (for `ServerConfig::bare_lf`).
pub fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// TOP: the header, the blank line and the first `lines` body lines.
fn top(message: &[u8], lines: usize) -> Vec<u8> {
    let header_end = if message.starts_with(b"\r\n") {
        Some(2)
    } else if message.starts_with(b"\n") {
        Some(1)
    } else {
        memchr::memmem::find(message, b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| memchr::memmem::find(message, b"\n\n").map(|i| i + 2))
    };
    let Some(header_end) = header_end else {
        return message.to_vec();
    };
    let mut end = header_end;
    for _ in 0..lines {
        if end >= message.len() {
            break;
        }
        end = match memchr::memchr(b'\n', &message[end..]) {
            Some(i) => end + i + 1,
            None => message.len(),
        };
    }
    message[..end].to_vec()
}

/// Pads the first line of a reply to `len` bytes (CRLF included), keeping
/// the rest of the reply.
fn pad_status_line(reply: Vec<u8>, len: usize) -> Vec<u8> {
    let first_end = memchr::memmem::find(&reply, b"\r\n").unwrap_or(reply.len());
    let mut out = reply[..first_end].to_vec();
    if out.len() + 2 < len {
        out.push(b' ');
    }
    while out.len() + 2 < len {
        out.push(b'x');
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(reply.get(first_end + 2..).unwrap_or(&[]));
    out
}

/// A line of `len` bytes (CRLF included, at least the CRLF).
fn oversize_line(len: usize) -> Vec<u8> {
    let mut line = vec![b'x'; len.saturating_sub(2)];
    line.extend_from_slice(b"\r\n");
    line
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex MD5, as APOP wants it.
pub fn md5_hex(data: &[u8]) -> String {
    hex(&md5::Md5::digest(data))
}

/// Lower-case hex HMAC-MD5, as CRAM-MD5 (RFC 2195) wants it.
pub fn hmac_md5_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<md5::Md5>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

// ---------------------------------------------------------------------------
// TLS fixtures
// ---------------------------------------------------------------------------

/// `tests/fixtures/tls/FILE`.
pub fn tls_fixture_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(file)
}

fn read_fixture(file: &str) -> Vec<u8> {
    let path = tls_fixture_path(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read TLS fixture {}: {e}", path.display()))
}

/// The PEM certificate `tests/fixtures/tls/NAME.pem` ("localhost", "other").
pub fn cert_pem(name: &str) -> Vec<u8> {
    read_fixture(&format!("{name}.pem"))
}

/// The certificate's DER encoding (what fingerprints are computed over).
pub fn cert_der(name: &str) -> Vec<u8> {
    let pem = String::from_utf8(cert_pem(name)).expect("PEM fixtures are ASCII");
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .map(str::trim)
        .collect();
    BASE64
        .decode(body)
        .unwrap_or_else(|e| panic!("fixture {name}.pem is not valid PEM: {e}"))
}

/// SHA-256 of the certificate's DER, lower-case hex without separators
/// (`openssl x509 -noout -fingerprint -sha256` prints the same digits).
pub fn cert_sha256_hex(name: &str) -> String {
    hex(&sha2::Sha256::digest(cert_der(name)))
}

/// The server identity (certificate and PKCS#8 key) for fixture NAME.
pub fn tls_identity(name: &str) -> Identity {
    Identity::from_pkcs8(&cert_pem(name), &read_fixture(&format!("{name}.key")))
        .unwrap_or_else(|e| panic!("load TLS identity {name}: {e}"))
}

/// A TLS acceptor presenting fixture NAME.
pub fn tls_acceptor(name: &str) -> TlsAcceptor {
    TlsAcceptor::new(tls_identity(name)).unwrap_or_else(|e| panic!("TLS acceptor {name}: {e}"))
}

/// A client-side connector that trusts only fixture NAME (for raw tests).
pub fn tls_connector_trusting(name: &str) -> native_tls::TlsConnector {
    let cert = native_tls::Certificate::from_pem(&cert_pem(name))
        .unwrap_or_else(|e| panic!("parse certificate {name}: {e}"));
    native_tls::TlsConnector::builder()
        .add_root_certificate(cert)
        .disable_built_in_roots(true)
        .build()
        .unwrap_or_else(|e| panic!("TLS connector: {e}"))
}

// ---------------------------------------------------------------------------
// ScriptServer
// ---------------------------------------------------------------------------

/// One step of a [`ScriptServer`] script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these exact bytes.
    Send(Vec<u8>),
    /// Read one CRLF line; a different line (or a bare-LF line end) is a
    /// mismatch.
    Expect(String),
    /// Read one CRLF line that must start with this text.
    ExpectPrefix(String),
    /// Read one CRLF line, whatever it is.
    ExpectAny,
    /// Wait until the client closes the connection; a line is a mismatch.
    ExpectClose,
    /// Send nothing for this long.
    Stall(Duration),
    /// Close the connection at once and end the script.
    Drop,
    /// Server side of a TLS handshake (fixture "localhost") on the socket,
    /// as after "+OK" to STLS. Bytes received before it are a mismatch.
    StartTls,
}

impl Step {
    /// `Send` of `text` plus CRLF.
    pub fn line(text: &str) -> Step {
        Step::Send(crlf_line(text))
    }

    pub fn expect(text: &str) -> Step {
        Step::Expect(text.to_owned())
    }
}

/// What a [`ScriptServer`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptOutcome {
    /// Every line read, without its line end.
    pub received: Vec<String>,
    /// One entry per step that did not go as scripted.
    pub mismatches: Vec<String>,
}

/// Serves one connection with a fixed script, then closes. Dropping it
/// without `finish` stops the script.
pub struct ScriptServer {
    addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    /// A clone of the accepted socket, so `Drop` can unblock a write to a
    /// client that stopped reading.
    socket: Arc<Mutex<Option<TcpStream>>>,
    thread: Option<JoinHandle<ScriptOutcome>>,
}

impl ScriptServer {
    pub fn start(steps: Vec<Step>) -> ScriptServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let shutdown = Arc::new(AtomicBool::new(false));
        let socket = Arc::new(Mutex::new(None));
        let flag = Arc::clone(&shutdown);
        let slot = Arc::clone(&socket);
        let thread = thread::Builder::new()
            .name(format!("pop3-script-{}", addr.port()))
            .spawn(move || run_script(listener, steps, &flag, &slot))
            .expect("spawn the script thread");
        ScriptServer {
            addr,
            shutdown,
            socket,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Waits for the script to end (the client must be done or gone) and
    /// returns what happened.
    pub fn finish(mut self) -> ScriptOutcome {
        let thread = self.thread.take().expect("finish is called once");
        match thread.join() {
            Ok(outcome) => outcome,
            Err(_) => panic!("the POP3 script server thread panicked"),
        }
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(socket) = lock(&self.socket).as_ref() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_script(
    listener: TcpListener,
    steps: Vec<Step>,
    shutdown: &AtomicBool,
    socket: &Mutex<Option<TcpStream>>,
) -> ScriptOutcome {
    let mut outcome = ScriptOutcome::default();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let tcp = loop {
        match listener.accept() {
            Ok((tcp, _)) => break tcp,
            Err(_) if shutdown.load(Ordering::SeqCst) => {
                outcome
                    .mismatches
                    .push("no connection before the script was dropped".into());
                return outcome;
            }
            Err(_) if Instant::now() >= deadline => {
                outcome
                    .mismatches
                    .push(format!("no connection within {SCRIPT_TIMEOUT:?}"));
                return outcome;
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    };
    // Accepted sockets may inherit non-blocking mode on some platforms.
    let _ = tcp.set_nonblocking(false);
    *lock(socket) = tcp.try_clone().ok();
    let mut conn = Conn::new(tcp);
    let mut graceful = true;
    for (i, step) in steps.into_iter().enumerate() {
        let n = i + 1;
        let ok = match step {
            Step::Send(bytes) => {
                let ok = conn.write_all(&bytes);
                if !ok {
                    outcome
                        .mismatches
                        .push(format!("step {n}: client gone before Send"));
                }
                ok
            }
            Step::Expect(expected) => script_read(&mut conn, shutdown, n, &mut outcome, |line| {
                (line == expected)
                    .then_some(())
                    .ok_or(format!("expected {expected:?}"))
            }),
            Step::ExpectPrefix(prefix) => {
                script_read(&mut conn, shutdown, n, &mut outcome, |line| {
                    line.starts_with(&prefix)
                        .then_some(())
                        .ok_or(format!("expected a line starting with {prefix:?}"))
                })
            }
            Step::ExpectAny => script_read(&mut conn, shutdown, n, &mut outcome, |_| Ok(())),
            Step::ExpectClose => {
                let deadline = Instant::now() + SCRIPT_TIMEOUT;
                while conn.fill_blocking(shutdown, Some(deadline)) {}
                let extra = String::from_utf8_lossy(&conn.input).into_owned();
                if !conn.input.is_empty() {
                    outcome.mismatches.push(format!(
                        "step {n}: expected the client to close, got {extra:?}"
                    ));
                } else if !conn.peer_closed {
                    outcome
                        .mismatches
                        .push(format!("step {n}: the client did not close"));
                }
                false
            }
            Step::Stall(duration) => {
                sleep_unless_shutdown(duration, shutdown);
                true
            }
            Step::Drop => {
                graceful = false;
                false
            }
            Step::StartTls => {
                if !conn.input.is_empty() {
                    let early = String::from_utf8_lossy(&conn.input).into_owned();
                    outcome.mismatches.push(format!(
                        "step {n}: bytes before the TLS handshake: {early:?}"
                    ));
                }
                match conn.start_tls(&tls_acceptor("localhost"), shutdown) {
                    Ok(_) => true,
                    Err(e) => {
                        outcome
                            .mismatches
                            .push(format!("step {n}: TLS handshake failed: {e}"));
                        graceful = false;
                        false
                    }
                }
            }
        };
        if !ok || shutdown.load(Ordering::SeqCst) {
            break;
        }
    }
    conn.close(graceful);
    *lock(socket) = None;
    outcome
}

/// Reads one line for an Expect step and checks it. False ends the script
/// (the client is gone or silent).
fn script_read(
    conn: &mut Conn,
    shutdown: &AtomicBool,
    step: usize,
    outcome: &mut ScriptOutcome,
    check: impl FnOnce(&str) -> Result<(), String>,
) -> bool {
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    loop {
        if let Some(line) = conn.take_line() {
            if let Err(expected) = check(&line.text) {
                outcome
                    .mismatches
                    .push(format!("step {step}: {expected}, got {:?}", line.text));
            } else if !line.crlf {
                outcome
                    .mismatches
                    .push(format!("step {step}: {:?} ended in a bare LF", line.text));
            }
            outcome.received.push(line.text);
            return true;
        }
        if !conn.fill_blocking(shutdown, Some(deadline)) {
            let why = if conn.peer_closed {
                "the client closed the connection"
            } else {
                "timed out"
            };
            outcome
                .mismatches
                .push(format!("step {step}: {why} while waiting for a line"));
            return false;
        }
    }
}
