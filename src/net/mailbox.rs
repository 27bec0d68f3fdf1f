//! The transaction state: a logged-in `Mailbox` and what can be done with
//! it — the listing (parsed as it streams in), pipelined batches, RETR
//! streamed to a sink, DELE — until `quit` commits the deletions. Dropping
//! a `Mailbox` without `quit` closes the connection without QUIT, so the
//! server deletes nothing.

use std::io::{Read, Write};

use crate::pop3::reply::{
    Capabilities, ListingError, UidlListing, parse_capabilities, parse_scan_line, parse_stat,
    parse_uidl_line, shorten,
};
use crate::pop3::{AuthMethod, Command, CommandId, Event, MsgNum, ReplyError, Status};

use super::client::{Driver, ServerInfo};
use super::error::Error;
use super::tls::Trust;
use super::transport::{Stream, Transport};

/// STAT, UIDL and LIST of one session.
#[derive(Debug)]
pub struct MailboxListing {
    pub total: u32,
    pub size_bytes: u64,
    /// `None` when the server does not support UIDL.
    pub uids: Option<UidlListing>,
    /// The server's `-ERR` to UIDL, when it refused it.
    pub uidl_refused: Option<Status>,
    /// LIST: message number and size, in the server's order.
    pub sizes: Vec<(MsgNum, u64)>,
}

fn server_error(command: &'static str, status: Status) -> Error {
    Error::Server {
        command,
        code: status.code,
        text: status.text,
    }
}

/// Cuts streamed body chunks into lines (without CRLF or bare LF).
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn feed(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(&[u8])) {
        while let Some(lf) = memchr::memchr(b'\n', chunk) {
            let piece = &chunk[..lf];
            if self.partial.is_empty() {
                on_line(piece.strip_suffix(b"\r").unwrap_or(piece));
            } else {
                self.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut self.partial);
                on_line(line.strip_suffix(b"\r").unwrap_or(&line));
            }
            chunk = &chunk[lf + 1..];
        }
        self.partial.extend_from_slice(chunk);
    }

    fn finish(&mut self, mut on_line: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            on_line(line.strip_suffix(b"\r").unwrap_or(&line));
        }
    }
}

/// What happened to one command of a pipelined batch.
#[derive(Debug)]
pub enum Outcome {
    Ok {
        status: Status,
        body: Option<Vec<u8>>,
    },
    /// The server answered `-ERR`.
    Refused(Status),
    /// The reply broke a limit and was skipped.
    Failed(ReplyError),
}

/// Receives the messages of a pipelined RETR batch as they stream in.
pub trait RetrSink {
    /// Why the sink stopped the batch (a disk error, say).
    type Error;
    /// A piece of message `index` (position in the batch), in order.
    fn data(&mut self, index: usize, chunk: &[u8]) -> Result<(), Self::Error>;
    /// Message `index` is complete (`Ok`) or failed. Returning an error
    /// stops the whole batch (the connection must then be dropped).
    fn end(&mut self, index: usize, outcome: Outcome) -> Result<(), Self::Error>;
}

/// Why a streamed batch stopped: the connection, or the sink itself.
#[derive(Debug)]
pub enum StreamError<E> {
    Net(Error),
    Sink(E),
}

impl<E> From<Error> for StreamError<E> {
    fn from(error: Error) -> StreamError<E> {
        StreamError::Net(error)
    }
}

impl From<StreamError<std::convert::Infallible>> for Error {
    fn from(error: StreamError<std::convert::Infallible>) -> Error {
        match error {
            StreamError::Net(e) => e,
            StreamError::Sink(never) => match never {},
        }
    }
}

/// A logged-in session in the transaction state.
pub struct Mailbox<T: Transport = Stream> {
    driver: Driver<T>,
    info: ServerInfo,
    method: AuthMethod,
}

impl<T: Transport> Mailbox<T> {
    pub(super) fn new(driver: Driver<T>, info: ServerInfo, method: AuthMethod) -> Mailbox<T> {
        Mailbox {
            driver,
            info,
            method,
        }
    }

    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// Asks for the capabilities again (RFC 2449: they may differ once
    /// logged in, EXPIRE per user for one) and keeps them; `None` when the
    /// server has no CAPA.
    pub fn refresh_capabilities(&mut self) -> Result<Option<&Capabilities>, Error> {
        if self.info.capabilities.is_none() {
            return Ok(None);
        }
        let (status, body) = self.driver.execute(Command::Capa)?;
        if status.ok {
            self.info.capabilities = Some(parse_capabilities(body.as_deref().unwrap_or_default()));
        }
        Ok(self.info.capabilities.as_ref())
    }

    /// Commands that may be in flight at once in this session.
    pub fn window(&self) -> usize {
        self.driver.session.window()
    }

    /// (message count, mailbox size in octets).
    pub fn stat(&mut self) -> Result<(u32, u64), Error> {
        let (status, _) = self.driver.expect_ok(Command::Stat)?;
        Ok(parse_stat(&status)?)
    }

    /// STAT, UIDL and LIST in one pipelined round, the listings parsed as
    /// they stream in, so a mailbox of a million messages never has its
    /// listings held as text. UIDL is `None` when the server refused it.
    pub fn listing(&mut self) -> Result<MailboxListing, Error> {
        let stat = self.driver.submit(Command::Stat, false)?;
        let uidl = self.driver.submit(Command::Uidl(None), true)?;
        let list = self.driver.submit(Command::List(None), true)?;
        let mut stat_reply: Option<Result<(u32, u64), Error>> = None;
        let mut uidl_lines = LineSplitter::default();
        let mut list_lines = LineSplitter::default();
        let mut uids = UidlListing::default();
        let mut sizes: Vec<(MsgNum, u64)> = Vec::new();
        let mut bad_scan: Option<ListingError> = None;
        let mut uidl_done: Option<Result<Option<Status>, Error>> = None;
        let mut list_done: Option<Result<(), Error>> = None;
        let on_uidl_line = |uids: &mut UidlListing, line: &[u8]| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            match parse_uidl_line(line) {
                Ok(entry) => uids.entries.push(entry),
                Err(_) => uids.skipped.push(shorten(line)),
            }
        };
        let on_list_line =
            |sizes: &mut Vec<(MsgNum, u64)>, bad: &mut Option<ListingError>, line: &[u8]| {
                if line.iter().all(u8::is_ascii_whitespace) || bad.is_some() {
                    return;
                }
                match parse_scan_line(line) {
                    Ok(entry) => sizes.push(entry),
                    Err(e) => *bad = Some(e),
                }
            };
        self.driver.run::<Error>(&mut |_, event| {
            match event {
                Event::Reply { id, status, .. } if id == stat => {
                    stat_reply = Some(if status.ok {
                        parse_stat(&status).map_err(Error::from)
                    } else {
                        Err(server_error("STAT", status))
                    });
                }
                Event::Data { id, chunk } if id == uidl => {
                    uidl_lines.feed(&chunk, |line| on_uidl_line(&mut uids, line));
                }
                Event::Data { id, chunk } if id == list => {
                    list_lines.feed(&chunk, |line| on_list_line(&mut sizes, &mut bad_scan, line));
                }
                Event::Reply { id, status, .. } if id == uidl => {
                    uidl_lines.finish(|line| on_uidl_line(&mut uids, line));
                    uidl_done = Some(Ok((!status.ok).then_some(status)));
                }
                Event::Reply { id, status, .. } if id == list => {
                    list_lines.finish(|line| on_list_line(&mut sizes, &mut bad_scan, line));
                    list_done = Some(if status.ok {
                        Ok(())
                    } else {
                        Err(server_error("LIST", status))
                    });
                }
                Event::ReplyFailed { id, error } if id == stat => {
                    stat_reply = Some(Err(error.into()));
                }
                Event::ReplyFailed { id, error } if id == uidl => {
                    uidl_done = Some(Err(error.into()));
                }
                Event::ReplyFailed { id, error } if id == list => {
                    list_done = Some(Err(error.into()));
                }
                _ => {}
            }
            Ok(())
        })?;
        let (total, size_bytes) = stat_reply.unwrap_or(Err(Error::ConnectionClosed))?;
        let uidl_refused = uidl_done.unwrap_or(Err(Error::ConnectionClosed))?;
        let uidl_supported = uidl_refused.is_none();
        list_done.unwrap_or(Err(Error::ConnectionClosed))?;
        if let Some(bad) = bad_scan {
            return Err(bad.into());
        }
        Ok(MailboxListing {
            total,
            size_bytes,
            uids: uidl_supported.then_some(uids),
            uidl_refused,
            sizes,
        })
    }

    /// TOP of each message with `lines` body lines, pipelined; each head
    /// is collected (within the TOP cap) and returned in order.
    pub fn top(&mut self, messages: &[MsgNum], lines: u32) -> Result<Vec<Outcome>, Error> {
        self.batch(
            messages
                .iter()
                .map(|&msg| Command::Top { msg, lines })
                .collect(),
        )
    }

    /// Runs commands pipelined (as far as the server allows) and returns
    /// each one's outcome in order. Bodies are collected. Private: callers
    /// use the typed calls, so only commands valid here are ever sent.
    fn batch(&mut self, commands: Vec<Command>) -> Result<Vec<Outcome>, Error> {
        let mut outcomes: Vec<Option<Outcome>> = (0..commands.len()).map(|_| None).collect();
        let mut ids = Vec::with_capacity(commands.len());
        for command in commands {
            ids.push(self.driver.submit(command, false)?);
        }
        let first = ids.first().copied();
        self.driver.run::<Error>(&mut |_, event| {
            let (id, outcome) = match event {
                Event::Reply { id, status, body } if status.ok => {
                    (id, Outcome::Ok { status, body })
                }
                Event::Reply { id, status, .. } => (id, Outcome::Refused(status)),
                Event::ReplyFailed { id, error } => (id, Outcome::Failed(error)),
                _ => return Ok(()),
            };
            if let Some(slot) = first
                .and_then(|f| index_of(f, id))
                .and_then(|i| outcomes.get_mut(i))
            {
                *slot = Some(outcome);
            }
            Ok(())
        })?;
        outcomes
            .into_iter()
            .map(|o| o.ok_or(Error::ConnectionClosed))
            .collect()
    }

    /// Retrieves messages pipelined, streaming each to `sink`.
    /// A sink's own error stops the batch (the connection must then be
    /// dropped) and comes back as itself.
    pub fn retr_stream<S: RetrSink + ?Sized>(
        &mut self,
        messages: &[MsgNum],
        sink: &mut S,
    ) -> Result<(), StreamError<S::Error>> {
        self.stream_batch(messages.iter().map(|&m| Command::Retr(m)).collect(), sink)
    }

    fn stream_batch<S: RetrSink + ?Sized>(
        &mut self,
        commands: Vec<Command>,
        sink: &mut S,
    ) -> Result<(), StreamError<S::Error>> {
        let mut first_id = None;
        for command in commands {
            let id = self.driver.submit(command, true)?;
            first_id.get_or_insert(id);
        }
        let sink_error = StreamError::Sink;
        let Some(first_id) = first_id else {
            return Ok(());
        };
        self.driver.run(&mut |_, event| match event {
            Event::Data { id, chunk } => match index_of(first_id, id) {
                Some(i) => sink.data(i, &chunk).map_err(sink_error),
                None => Ok(()),
            },
            Event::Reply { id, status, body } => match index_of(first_id, id) {
                Some(i) if status.ok => sink
                    .end(i, Outcome::Ok { status, body })
                    .map_err(sink_error),
                Some(i) => sink.end(i, Outcome::Refused(status)).map_err(sink_error),
                None => Ok(()),
            },
            Event::ReplyFailed { id, error } => match index_of(first_id, id) {
                Some(i) => sink.end(i, Outcome::Failed(error)).map_err(sink_error),
                None => Ok(()),
            },
            _ => Ok(()),
        })
    }

    /// Marks messages for deletion (pipelined). Nothing is deleted until
    /// `quit`; dropping the mailbox instead keeps everything.
    pub fn dele(&mut self, messages: &[MsgNum]) -> Result<Vec<Outcome>, Error> {
        self.batch(messages.iter().map(|&m| Command::Dele(m)).collect())
    }

    /// Ends the session: the server now deletes the messages marked with
    /// DELE (RFC 1939 UPDATE state). Only call this once everything the
    /// deletions depend on is safe.
    pub fn quit(mut self) -> Result<(), Error> {
        self.driver.expect_ok(Command::Quit).map(|_| ())
    }
}

/// Commands of one batch get consecutive ids, so the position in the batch
/// is the distance from the first.
fn index_of(first: CommandId, id: CommandId) -> Option<usize> {
    id.distance_from(first)
}

/// Lets `Read + Write` test doubles be used where no TLS is involved.
impl<S: Read + Write> Transport for PlainTransport<S> {
    fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    fn start_tls(&mut self, _host: &str, _trust: &Trust) -> Result<(), Error> {
        if self.encrypted {
            return Err(Error::Tls("already encrypted".into()));
        }
        self.encrypted = true;
        Ok(())
    }
}

/// A transport over any byte stream, for tests and transcript replays. Its
/// `start_tls` only pretends (it flips `is_encrypted`).
pub struct PlainTransport<S> {
    pub inner: S,
    pub encrypted: bool,
}

impl<S: Read> Read for PlainTransport<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Write> Write for PlainTransport<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
