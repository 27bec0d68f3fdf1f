//! The transaction state: a logged-in `Mailbox` and what can be done with
//! it, each call typed — `stat`, `listing` (parsed by the pop3 core as it
//! streams in), `top`, `retr_stream` to a sink, `dele`, all pipelined as
//! far as the server allows — until `quit` commits the deletions. Dropping
//! a `Mailbox` without `quit` closes the connection without QUIT, so the
//! server deletes nothing. It never builds a command the caller chose.

use std::io::{Read, Write};

use crate::pop3::reply::{Capabilities, ListingError, UidlListing};
use crate::pop3::{AuthMethod, Command, CommandId, Event, MsgNum, Reply, ReplyError, Status};

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

/// What happened to one command of a pipelined batch: `T` is what its
/// `+OK` carries (a TOP's head; nothing for DELE or a streamed RETR).
#[derive(Debug)]
pub enum Outcome<T = ()> {
    Ok(T),
    /// The server answered `-ERR`.
    Refused(Status),
    /// The reply broke a limit and was skipped.
    Failed(ReplyError),
}

/// The session answered a command with another command's kind of reply:
/// it cannot, so this only keeps a broken invariant from becoming a panic.
fn not_its_reply(command: &'static str) -> Error {
    Error::Listing(ListingError::Malformed {
        what: command,
        shown: "(a reply of another kind)".into(),
    })
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
        if let Ok((_, Reply::Capabilities(capabilities))) = self.driver.execute(Command::Capa)? {
            self.info.capabilities = Some(capabilities);
        }
        Ok(self.info.capabilities.as_ref())
    }

    /// Commands that may be in flight at once in this session.
    pub fn window(&self) -> usize {
        self.driver.session.window()
    }

    /// (message count, mailbox size in octets).
    pub fn stat(&mut self) -> Result<(u32, u64), Error> {
        match self.driver.expect_ok(Command::Stat)? {
            (_, Reply::Stat { count, size_bytes }) => Ok((count, size_bytes)),
            _ => Err(not_its_reply("STAT")),
        }
    }

    /// STAT, UIDL and LIST in one pipelined round, the listings parsed as
    /// they stream in, so a mailbox of a million messages never has its
    /// listings held as text. UIDL is `None` when the server refused it.
    pub fn listing(&mut self) -> Result<MailboxListing, Error> {
        let stat = self.driver.submit(Command::Stat, false)?;
        let uidl = self.driver.submit(Command::Uidl(None), true)?;
        let list = self.driver.submit(Command::List(None), true)?;
        let mut stat_reply: Option<Result<(u32, u64), Error>> = None;
        let mut uidl_done: Option<Result<Result<UidlListing, Status>, Error>> = None;
        let mut list_done: Option<Result<Vec<(MsgNum, u64)>, Error>> = None;
        self.driver.run::<Error>(&mut |_, event| {
            match event {
                Event::Reply {
                    reply: Reply::Stat { count, size_bytes },
                    ..
                } => stat_reply = Some(Ok((count, size_bytes))),
                Event::Reply {
                    reply: Reply::Uidl(listing),
                    ..
                } => uidl_done = Some(Ok(Ok(listing))),
                Event::Reply {
                    reply: Reply::Scan(sizes),
                    ..
                } => list_done = Some(Ok(sizes)),
                Event::Refused { id, status, .. } if id == stat => {
                    stat_reply = Some(Err(server_error("STAT", status)));
                }
                Event::Refused { id, status, .. } if id == uidl => {
                    uidl_done = Some(Ok(Err(status)));
                }
                Event::Refused { id, status, .. } if id == list => {
                    list_done = Some(Err(server_error("LIST", status)));
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
        let uidl = uidl_done.unwrap_or(Err(Error::ConnectionClosed))?;
        let sizes = list_done.unwrap_or(Err(Error::ConnectionClosed))?;
        let (uids, uidl_refused) = match uidl {
            Ok(listing) => (Some(listing), None),
            Err(status) => (None, Some(status)),
        };
        Ok(MailboxListing {
            total,
            size_bytes,
            uids,
            uidl_refused,
            sizes,
        })
    }

    /// TOP of each message with `lines` body lines, pipelined; each head
    /// is collected (within the TOP cap) and returned in order.
    pub fn top(&mut self, messages: &[MsgNum], lines: u32) -> Result<Vec<Outcome<Vec<u8>>>, Error> {
        let commands = messages.iter().map(|&msg| Command::Top { msg, lines });
        self.batch(commands, |reply| match reply {
            Reply::Message(head) => head,
            _ => Vec::new(),
        })
    }

    /// `TOP n lines` for every message in one pipelined run, handing each
    /// outcome to `each` (with its position in `messages`) as it arrives:
    /// no pause between slices, and the caller can work on a head while
    /// the next ones are on the wire.
    pub fn top_each(
        &mut self,
        messages: &[MsgNum],
        lines: u32,
        each: &mut dyn FnMut(usize, Outcome<Vec<u8>>),
    ) -> Result<(), Error> {
        let mut first = None;
        for &msg in messages {
            let id = self.driver.submit(Command::Top { msg, lines }, false)?;
            first.get_or_insert(id);
        }
        let mut seen = 0;
        self.driver.run::<Error>(&mut |_, event| {
            let (id, outcome) = match event {
                Event::Reply {
                    id,
                    reply: Reply::Message(head),
                    ..
                } => (id, Outcome::Ok(head)),
                Event::Reply { id, .. } => (id, Outcome::Ok(Vec::new())),
                Event::Refused { id, status, .. } => (id, Outcome::Refused(status)),
                Event::ReplyFailed { id, error } => (id, Outcome::Failed(error)),
                _ => return Ok(()),
            };
            if let Some(i) = first.and_then(|f| index_of(f, id))
                && i < messages.len()
            {
                seen += 1;
                each(i, outcome);
            }
            Ok(())
        })?;
        if seen < messages.len() {
            return Err(Error::ConnectionClosed);
        }
        Ok(())
    }

    /// Runs commands pipelined (as far as the server allows) and returns
    /// each one's outcome in order, `+OK` replies mapped by `take`.
    /// Private: callers use the typed calls, so only commands valid here
    /// are ever sent.
    fn batch<R>(
        &mut self,
        commands: impl Iterator<Item = Command>,
        take: impl Fn(Reply) -> R,
    ) -> Result<Vec<Outcome<R>>, Error> {
        let mut ids = Vec::new();
        for command in commands {
            ids.push(self.driver.submit(command, false)?);
        }
        let mut outcomes: Vec<Option<Outcome<R>>> = (0..ids.len()).map(|_| None).collect();
        let first = ids.first().copied();
        self.driver.run::<Error>(&mut |_, event| {
            let (id, outcome) = match event {
                Event::Reply { id, reply, .. } => (id, Outcome::Ok(take(reply))),
                Event::Refused { id, status, .. } => (id, Outcome::Refused(status)),
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
            Event::Reply { id, .. } => match index_of(first_id, id) {
                Some(i) => sink.end(i, Outcome::Ok(())).map_err(sink_error),
                None => Ok(()),
            },
            Event::Refused { id, status, .. } => match index_of(first_id, id) {
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
        self.batch(messages.iter().map(|&m| Command::Dele(m)), |_| ())
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
