//! The POP3 client session as a state machine with no I/O: the driver feeds
//! it received bytes (`handle_input`), takes bytes to send
//! (`poll_transmit`) and reads what happened (`poll_event`). POP3 replies do
//! not say which command they answer, so the session keeps the queue of
//! commands in flight and knows which replies are multi-line; that queue is
//! also what makes pipelining (RFC 2449) safe.

use std::collections::VecDeque;

use super::command::{AuthLine, Command};
pub use super::events::{
    CommandId, Event, Limits, ProtocolError, Reply, ReplyError, State, UsageError,
};
use super::framing::BodyDecoder;
use super::reply::{
    BadStatus, ScanBuilder, Status, StatusLine, UidlBuilder, parse_capabilities, parse_scan_line,
    parse_stat, parse_status_line, parse_uidl_line, shorten,
};

/// How many accepted body bytes count as one step of progress.
const PROGRESS_BYTES: u64 = 64 * 1024;

#[derive(Debug)]
struct Pending {
    id: CommandId,
    command: Command,
    stream: bool,
}

#[derive(Debug)]
enum Phase {
    Greeting,
    Status,
    /// Skipping an over-long status line up to its LF.
    SkipLine {
        ok: bool,
    },
    Body(Body),
}

/// Where the bytes of a multi-line body go.
#[derive(Debug)]
enum Collect {
    /// Kept whole: CAPA, and TOP or RETR submitted collected.
    Bytes(Vec<u8>),
    /// Handed out as `Event::Data`: TOP or RETR submitted streamed.
    Stream,
    Scan(Box<ScanBuilder>),
    Uidl(Box<UidlBuilder>),
    /// Nothing: the reply already broke its cap.
    Skip,
}

#[derive(Debug)]
struct Body {
    decoder: BodyDecoder,
    status: Option<Status>,
    collect: Collect,
    len: u64,
    max_bytes: u64,
    command: &'static str,
    failed: Option<ReplyError>,
}

#[derive(Debug)]
pub struct Session {
    limits: Limits,
    state: State,
    phase: Phase,
    window: usize,
    next_id: u64,
    queued: VecDeque<Pending>,
    in_flight: VecDeque<Pending>,
    auth_lines: Vec<AuthLine>,
    awaiting_challenge_answer: bool,
    input: Vec<u8>,
    input_start: usize,
    events: VecDeque<Event>,
    stream_chunk: Vec<u8>,
    quit_submitted: bool,
    stls_sent: bool,
    awaiting_tls: bool,
    poisoned: bool,
    /// The server ends lines with a bare LF: its greeting did, and every
    /// status line since (after STLS, the first reply over TLS decides).
    bare_lf: bool,
    /// TLS was just established: the next status line decides `bare_lf`.
    relearn_line_end: bool,
    /// Replies completed (or failed) plus continuations: see `progress`.
    finished_replies: u64,
    /// Body bytes accepted (within their cap); skipped bytes don't count.
    accepted_bytes: u64,
}

impl Session {
    pub fn new(limits: Limits) -> Session {
        Session {
            limits,
            state: State::Greeting,
            phase: Phase::Greeting,
            window: 1,
            next_id: 0,
            queued: VecDeque::new(),
            in_flight: VecDeque::new(),
            auth_lines: Vec::new(),
            awaiting_challenge_answer: false,
            input: Vec::new(),
            input_start: 0,
            events: VecDeque::new(),
            stream_chunk: Vec::new(),
            quit_submitted: false,
            stls_sent: false,
            awaiting_tls: false,
            poisoned: false,
            bare_lf: false,
            relearn_line_end: false,
            finished_replies: 0,
            accepted_bytes: 0,
        }
    }

    /// A number that grows whenever the session gets somewhere: a reply
    /// is complete, or another 64 KiB of a reply body has arrived (also
    /// of one over its cap and skipped, until the reply passes 1 GiB).
    /// Bytes of an endless reply or an over-long line do not count, so a
    /// driver that sees this number stand still for too long knows the
    /// server is wasting its time, however many bytes flow.
    pub fn progress(&self) -> u64 {
        self.finished_replies + self.accepted_bytes / PROGRESS_BYTES
    }

    /// Whether the server ends its lines with a bare LF (told by its greeting).
    pub fn bare_lf(&self) -> bool {
        self.bare_lf
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many commands may be in flight at once: 1 unless the server
    /// advertised PIPELINING. Bounded so that the commands waiting in the
    /// socket's send buffer stay tiny and a blocking driver can never
    /// deadlock with a server whose replies fill the receive buffer.
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Commands submitted whose reply has not been completed yet.
    pub fn outstanding(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }

    /// Commands sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True after STLS was accepted and before [`Session::tls_established`].
    pub fn awaiting_tls(&self) -> bool {
        self.awaiting_tls
    }

    /// Queues a command; its reply comes parsed in [`Event::Reply`] (a
    /// TOP or RETR body collected whole, within its cap).
    pub fn submit(&mut self, command: Command) -> Result<CommandId, UsageError> {
        self.enqueue(command, false)
    }

    /// Queues a command whose TOP or RETR body comes as [`Event::Data`]
    /// chunks, so a large message never has to be held in memory. Other
    /// commands are parsed as with `submit` (listings line by line as they
    /// arrive, so they are never held as text either).
    pub fn submit_streamed(&mut self, command: Command) -> Result<CommandId, UsageError> {
        self.enqueue(command, true)
    }

    fn enqueue(&mut self, command: Command, stream: bool) -> Result<CommandId, UsageError> {
        if self.quit_submitted {
            return Err(UsageError::AfterQuit);
        }
        let allowed = match &command {
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop { .. }
            | Command::Auth { .. }
            | Command::Stls => matches!(self.state, State::Greeting | State::Authorization),
            Command::Stat
            | Command::List(_)
            | Command::Uidl(_)
            | Command::Top { .. }
            | Command::Retr(_)
            | Command::Dele(_)
            | Command::Rset
            | Command::Noop => self.state == State::Transaction,
            Command::Capa | Command::Quit => matches!(
                self.state,
                State::Greeting | State::Authorization | State::Transaction
            ),
        };
        if !allowed {
            return Err(UsageError::WrongState {
                command: command.keyword(),
                state: self.state,
            });
        }
        if command == Command::Stls {
            if self.stls_sent {
                return Err(UsageError::StlsAgain);
            }
            self.stls_sent = true;
        }
        if command == Command::Quit {
            self.quit_submitted = true;
        }
        let id = CommandId(self.next_id);
        self.next_id += 1;
        self.queued.push_back(Pending {
            id,
            command,
            stream,
        });
        Ok(id)
    }

    /// Answers the pending AUTH challenge.
    pub fn auth_respond(&mut self, line: AuthLine) -> Result<(), UsageError> {
        if !self.awaiting_challenge_answer {
            return Err(UsageError::NoChallenge);
        }
        self.awaiting_challenge_answer = false;
        self.auth_lines.push(line);
        Ok(())
    }

    /// Call once the TLS handshake after STLS has succeeded. The server's
    /// capabilities must be asked for again (RFC 2595 §4).
    pub fn tls_established(&mut self) {
        self.awaiting_tls = false;
        // The clear-text greeting could have been rewritten by anyone on
        // the path: the line ending is learned again from the first reply
        // that came over TLS.
        self.bare_lf = false;
        self.relearn_line_end = true;
    }

    /// Appends the bytes that may be sent now to `out`; returns how many.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let before = out.len();
        // Nothing before the greeting, nothing once closed (a `-ERR`
        // greeting or QUIT's reply), nothing in clear once TLS is agreed.
        if self.poisoned
            || self.awaiting_tls
            || matches!(self.state, State::Greeting | State::Closed)
        {
            return 0;
        }
        for line in self.auth_lines.drain(..) {
            line.encode(out);
        }
        while let Some(next) = self.queued.front() {
            let barrier_in_flight = self.in_flight.iter().any(|p| p.command.is_barrier());
            let must_wait = barrier_in_flight
                || (next.command.is_barrier() && !self.in_flight.is_empty())
                || self.in_flight.len() >= self.window;
            if must_wait {
                break;
            }
            let Some(pending) = self.queued.pop_front() else {
                break;
            };
            pending.command.encode(out);
            if pending.command == Command::Quit && self.state == State::Transaction {
                self.state = State::Update;
            }
            self.in_flight.push_back(pending);
        }
        out.len() - before
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Feeds bytes received from the server. An error means the stream can
    /// no longer be trusted; the connection must be dropped.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<(), ProtocolError> {
        if self.poisoned {
            return Err(ProtocolError::Poisoned);
        }
        if self.state == State::Closed {
            return Ok(());
        }
        if self.input_start > 0 && self.input_start == self.input.len() {
            self.input.clear();
            self.input_start = 0;
        }
        self.input.extend_from_slice(data);
        let result = self.process();
        self.flush_stream_chunk();
        // Drop consumed bytes once they dominate the buffer.
        if self.input_start > 64 * 1024 && self.input_start * 2 > self.input.len() {
            self.input.drain(..self.input_start);
            self.input_start = 0;
        }
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn process(&mut self) -> Result<(), ProtocolError> {
        loop {
            if self.input_start == self.input.len() || self.state == State::Closed {
                return Ok(());
            }
            if self.awaiting_tls {
                // RFC 2595 §4 / CVE-2011-0411 class: anything buffered after
                // the STLS reply came in clear text and must not be trusted.
                return Err(ProtocolError::DataAfterStls);
            }
            let progressed = match std::mem::replace(&mut self.phase, Phase::Status) {
                Phase::Greeting => {
                    self.phase = Phase::Greeting;
                    self.read_greeting()?
                }
                Phase::Status => self.read_status()?,
                Phase::SkipLine { ok } => self.skip_line(ok),
                Phase::Body(body) => self.read_body(body),
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// The next complete line in the buffer, without its line ending
    /// (CRLF, or a bare LF from a sloppy server). `Err` holds the start of a
    /// line that is already longer than the status-line limit.
    fn take_line(&mut self) -> Option<Result<Vec<u8>, Vec<u8>>> {
        let max = self.limits.max_status_line_bytes;
        let buffered = &self.input[self.input_start..];
        match memchr::memchr(b'\n', buffered) {
            Some(lf) if lf < max => {
                let line = &buffered[..lf];
                let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
                self.input_start += lf + 1;
                Some(Ok(line))
            }
            None if buffered.len() < max => None,
            _ => Some(Err(buffered[..buffered.len().min(80)].to_vec())),
        }
    }

    /// Whether the next complete line in the buffer ends in a bare LF;
    /// `None` until a whole line is there.
    fn next_line_ends_bare(&self) -> Option<bool> {
        let buffered = self.buffered();
        let lf = memchr::memchr(b'\n', buffered)?;
        Some(lf == 0 || buffered[lf - 1] != b'\r')
    }

    fn buffered(&self) -> &[u8] {
        &self.input[self.input_start..]
    }

    fn read_greeting(&mut self) -> Result<bool, ProtocolError> {
        // The greeting shows the server's line ending; a few servers use a
        // bare LF everywhere, and their bodies must be framed that way.
        if let Some(bare) = self.next_line_ends_bare() {
            self.bare_lf = bare;
        }
        let line = match self.take_line() {
            None => return Ok(false),
            Some(Ok(line)) => line,
            Some(Err(head)) => {
                return Err(ProtocolError::BadGreeting {
                    shown: shorten(&head),
                });
            }
        };
        let status = match parse_status_line(&line, false) {
            Ok(StatusLine::Status(status)) => status,
            _ => {
                return Err(ProtocolError::BadGreeting {
                    shown: shorten(&line),
                });
            }
        };
        self.state = if status.ok {
            State::Authorization
        } else {
            State::Closed
        };
        self.phase = Phase::Status;
        self.finished_replies += 1;
        self.events.push_back(Event::Greeting(status));
        Ok(true)
    }

    fn read_status(&mut self) -> Result<bool, ProtocolError> {
        let Some(front) = self.in_flight.front() else {
            return Err(ProtocolError::Unsolicited {
                shown: shorten(self.buffered()),
            });
        };
        let (id, is_auth, multiline) = (
            front.id,
            matches!(front.command, Command::Auth { .. }),
            front.command.is_multiline(),
        );
        match self.next_line_ends_bare() {
            Some(bare) if self.relearn_line_end => {
                self.bare_lf = bare;
                self.relearn_line_end = false;
            }
            // A server that ends lines with bare LF does so everywhere; one
            // CRLF and the strict framing is back, since in bare-LF framing
            // a CRLF server's message could end early and forge the next
            // reply (its bare LFs are content there, and not dot-stuffed).
            Some(false) => self.bare_lf = false,
            _ => {}
        }
        let line = match self.take_line() {
            None => return Ok(false),
            Some(Ok(line)) => line,
            Some(Err(head)) => {
                // Too long to be a reply line. If it at least starts like one,
                // fail just this reply and skip the rest of the line.
                let ok = if head.starts_with(b"+OK") {
                    true
                } else if head.starts_with(b"-ERR") {
                    false
                } else {
                    return Err(BadStatus {
                        shown: shorten(&head),
                    }
                    .into());
                };
                self.phase = Phase::SkipLine { ok };
                return Ok(true);
            }
        };
        match parse_status_line(&line, is_auth)? {
            StatusLine::Continuation(challenge) => {
                self.awaiting_challenge_answer = true;
                self.finished_replies += 1;
                self.events.push_back(Event::Continuation { id, challenge });
            }
            StatusLine::Status(status) => {
                if status.ok && multiline {
                    self.phase = Phase::Body(self.new_body(Some(status), None));
                } else {
                    self.complete(status, None);
                }
            }
        }
        Ok(true)
    }

    fn skip_line(&mut self, ok: bool) -> bool {
        let max_bytes = self.limits.max_status_line_bytes;
        match memchr::memchr(b'\n', self.buffered()) {
            None => {
                self.input_start = self.input.len();
                self.phase = Phase::SkipLine { ok };
                false
            }
            Some(lf) => {
                self.input_start += lf + 1;
                let error = ReplyError::StatusLineTooLong { max_bytes };
                let multiline = self
                    .in_flight
                    .front()
                    .is_some_and(|p| p.command.is_multiline());
                if ok && multiline {
                    self.phase = Phase::Body(self.new_body(None, Some(error)));
                } else {
                    self.fail(error);
                }
                true
            }
        }
    }

    fn new_body(&self, status: Option<Status>, failed: Option<ReplyError>) -> Body {
        let (max_bytes, collect, command) = match self.in_flight.front() {
            Some(p) => {
                let (max_bytes, collect) = match p.command {
                    Command::Capa => (self.limits.max_capa_bytes, Collect::Bytes(Vec::new())),
                    Command::List(_) => {
                        (self.limits.max_listing_bytes, Collect::Scan(Box::default()))
                    }
                    Command::Uidl(_) => {
                        (self.limits.max_listing_bytes, Collect::Uidl(Box::default()))
                    }
                    Command::Top { .. } => (self.limits.max_top_bytes, message_collect(p.stream)),
                    _ => (self.limits.max_message_bytes, message_collect(p.stream)),
                };
                (max_bytes, collect, p.command.keyword())
            }
            None => (0, Collect::Skip, ""),
        };
        Body {
            decoder: BodyDecoder::new(self.bare_lf),
            status,
            collect: if failed.is_some() {
                Collect::Skip
            } else {
                collect
            },
            len: 0,
            max_bytes,
            command,
            failed,
        }
    }

    fn read_body(&mut self, mut body: Body) -> bool {
        let start = self.input_start;
        let stream_chunk = &mut self.stream_chunk;
        let accepted_bytes = &mut self.accepted_bytes;
        let endless_after = self.limits.endless_reply_bytes;
        let (used, done) = body.decoder.decode(&self.input[start..], |span| {
            body.len += span.len() as u64;
            // Bytes skipped past a cap are progress too while the reply
            // could still be a real one (a server that ignores TOP's line
            // count sends a whole large message); past that, only the
            // deadline ends it.
            if body.len <= endless_after {
                *accepted_bytes += span.len() as u64;
            }
            if body.failed.is_some() {
                return;
            }
            if body.len > body.max_bytes {
                body.failed = Some(ReplyError::TooLarge {
                    command: body.command,
                    max_bytes: body.max_bytes,
                });
                body.collect = Collect::Skip;
                return;
            }
            match &mut body.collect {
                Collect::Bytes(collected) => collected.extend_from_slice(span),
                Collect::Stream => stream_chunk.extend_from_slice(span),
                Collect::Scan(builder) => builder.feed(span),
                Collect::Uidl(builder) => builder.feed(span),
                Collect::Skip => {}
            }
        });
        self.input_start += used;
        if !done {
            self.phase = Phase::Body(body);
            return false;
        }
        match (body.failed, body.status) {
            (Some(error), _) => {
                // Chunks already streamed belong to a reply that failed; the
                // consumer learns that from ReplyFailed.
                self.flush_stream_chunk();
                self.fail(error);
            }
            (None, Some(status)) => {
                self.flush_stream_chunk();
                self.complete(status, Some(body.collect));
            }
            (None, None) => unreachable!("a body without status always carries its error"),
        }
        true
    }

    fn flush_stream_chunk(&mut self) {
        if self.stream_chunk.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.stream_chunk);
        if let Some(id) = self.in_flight.front().map(|p| p.id) {
            self.events.push_back(Event::Data { id, chunk });
        }
    }

    /// The reply of the oldest command in flight is complete: `body` holds
    /// what its multi-line body became, `None` for a single-line reply.
    fn complete(&mut self, status: Status, body: Option<Collect>) {
        let Some(pending) = self.in_flight.pop_front() else {
            return;
        };
        self.phase = Phase::Status;
        self.awaiting_challenge_answer = false;
        self.finished_replies += 1;
        match &pending.command {
            Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. } if status.ok => {
                self.state = State::Transaction;
            }
            Command::Stls if status.ok => self.awaiting_tls = true,
            Command::Quit => self.state = State::Closed,
            _ => {}
        }
        let id = pending.id;
        let event = if !status.ok {
            Event::Refused {
                id,
                command: pending.command.keyword(),
                status,
            }
        } else {
            match typed_reply(&pending.command, &status, body) {
                Ok(reply) => Event::Reply { id, status, reply },
                Err(error) => Event::ReplyFailed { id, error },
            }
        };
        self.events.push_back(event);
    }

    fn fail(&mut self, error: ReplyError) {
        let Some(pending) = self.in_flight.pop_front() else {
            return;
        };
        self.phase = Phase::Status;
        self.awaiting_challenge_answer = false;
        self.finished_replies += 1;
        if pending.command == Command::Quit {
            self.state = State::Closed;
        }
        self.events.push_back(Event::ReplyFailed {
            id: pending.id,
            error,
        });
    }
}

fn message_collect(stream: bool) -> Collect {
    if stream {
        Collect::Stream
    } else {
        Collect::Bytes(Vec::new())
    }
}

/// What a `+OK` to `command` carries. A reply that does not read as its
/// command's (a STAT without numbers) fails alone.
fn typed_reply(
    command: &Command,
    status: &Status,
    body: Option<Collect>,
) -> Result<Reply, ReplyError> {
    let line = status.text.as_bytes();
    Ok(match (command, body) {
        (Command::Stat, _) => {
            let (count, size_bytes) = parse_stat(status)?;
            Reply::Stat { count, size_bytes }
        }
        (Command::List(Some(_)), _) => {
            let (msg, size) = parse_scan_line(line)?;
            Reply::ScanLine(msg, size)
        }
        (Command::Uidl(Some(_)), _) => {
            let (msg, uid) = parse_uidl_line(line)?;
            Reply::UidLine(msg, uid)
        }
        (Command::Capa, Some(Collect::Bytes(body))) => {
            Reply::Capabilities(parse_capabilities(&body))
        }
        (_, Some(Collect::Bytes(body))) => Reply::Message(body),
        (_, Some(Collect::Stream)) => Reply::Streamed,
        (_, Some(Collect::Scan(builder))) => Reply::Scan(builder.finish()?),
        (_, Some(Collect::Uidl(builder))) => Reply::Uidl(builder.finish()),
        (_, Some(Collect::Skip) | None) => Reply::Done,
    })
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
