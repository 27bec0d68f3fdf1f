//! The blocking driver around the sans-IO session, and the typed client
//! built on it: `Client` (authorization state) becomes a `Mailbox`
//! (transaction state) by logging in, and a `Mailbox` is consumed by
//! `quit`. A DELE before login cannot be written, and dropping a `Mailbox`
//! without `quit` closes the connection without QUIT, so the server
//! deletes nothing.

use std::time::{Duration, Instant};

use crate::pop3::auth::{AuthMethod, ServerOffer, candidate_methods};
use crate::pop3::reply::Capabilities;
use crate::pop3::{
    AuthLine, Command, CommandId, Event, Greeted, Handshake, Limits, LoginError, Reply, Session,
    SignIn, SignedIn, Status, Step,
};

use super::error::Error;
use super::mailbox::Mailbox;
use super::tls::Trust;
use super::transport::{CancelToken, Stream, Timeouts, Transport};
use crate::pop3::Security;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub trust: Trust,
    pub timeouts: Timeouts,
    pub limits: Limits,
    /// Commands in flight at most when the server allows pipelining. About
    /// 100 reaches the loopback limit (measured); 100 short commands also fit
    /// easily in a socket send buffer, which is what rules out a deadlock.
    pub max_window: usize,
}

impl Endpoint {
    pub fn new(host: &str, port: u16, security: Security) -> Endpoint {
        Endpoint {
            host: host.to_owned(),
            port,
            security,
            trust: Trust::default(),
            timeouts: Timeouts::default(),
            limits: Limits::default(),
            max_window: 100,
        }
    }
}

pub use crate::pop3::Credentials;

/// Which way a transcript line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    FromServer,
}

/// Receives the conversation for the connection log, secrets redacted.
pub type TranscriptSink = Box<dyn FnMut(Direction, &str) + Send>;

/// Options for a connection that are not about the server.
#[derive(Default)]
pub struct Observe {
    pub transcript: Option<TranscriptSink>,
    pub cancel: Option<CancelToken>,
}

/// Called by `Driver::run` for each event.
pub(super) type EventHandler<'a, T, E = Error> =
    dyn FnMut(&mut Driver<T>, Event) -> Result<(), E> + 'a;

/// A session over some transport: the pop3 core plus the read/write loop.
pub(super) struct Driver<T> {
    transport: T,
    pub(super) session: Session,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    io_timeout: Duration,
    /// See `Timeouts::no_progress`.
    no_progress: Duration,
    /// The session's progress count when it last changed, and when.
    last_progress: (u64, Instant),
    observe: Observe,
}

impl<T: Transport> Driver<T> {
    pub(super) fn log(&mut self, direction: Direction, text: &str) {
        tracing::trace!(?direction, "{text}");
        if let Some(sink) = self.observe.transcript.as_mut() {
            sink(direction, text);
        }
    }

    pub(super) fn check_cancel(&self) -> Result<(), Error> {
        match &self.observe.cancel {
            Some(cancel) if cancel.is_cancelled() => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }

    pub(super) fn submit(&mut self, command: Command, stream: bool) -> Result<CommandId, Error> {
        self.log(Direction::ToServer, &command.redacted());
        let id = if stream {
            self.session.submit_streamed(command)?
        } else {
            self.session.submit(command)?
        };
        Ok(id)
    }

    pub(super) fn respond(&mut self, line: AuthLine) -> Result<(), Error> {
        let shown = match line {
            AuthLine::Cancel => "*",
            AuthLine::Response(_) => "[redacted]",
        };
        self.log(Direction::ToServer, shown);
        self.session.auth_respond(line)?;
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<(), Error> {
        self.write_buf.clear();
        if self.session.poll_transmit(&mut self.write_buf) > 0 {
            // A new request: the server gets its full time to answer it.
            self.last_progress.1 = Instant::now();
            let result = self
                .transport
                .write_all(&self.write_buf)
                .and_then(|()| self.transport.flush());
            result.map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    pub(super) fn io_error(&self, e: std::io::Error) -> Error {
        if self.check_cancel().is_err() {
            Error::Cancelled
        } else {
            Error::from_io(e, self.io_timeout)
        }
    }

    /// Reads once from the transport and feeds the session.
    pub(super) fn read_some(&mut self) -> Result<(), Error> {
        self.check_cancel()?;
        let n = match self.transport.read(&mut self.read_buf) {
            Ok(0) => {
                self.check_cancel()?;
                return Err(Error::ConnectionClosed);
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(self.io_error(e)),
        };
        self.session.handle_input(&self.read_buf[..n])?;
        self.check_progress()
    }

    /// Ends a session that receives bytes but gets nowhere with them; each
    /// read has its own timeout, but a trickle or an endless reply would
    /// otherwise keep it going for ever.
    pub(super) fn check_progress(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        let progress = self.session.progress();
        if progress != self.last_progress.0 {
            self.last_progress = (progress, now);
        } else if now.duration_since(self.last_progress.1) > self.no_progress {
            return Err(Error::Stalled {
                after: self.no_progress,
            });
        }
        Ok(())
    }

    pub(super) fn log_event(&mut self, event: &Event) {
        match event {
            Event::Greeting(status) => self.log(Direction::FromServer, &status_text(status)),
            Event::Continuation { challenge, .. } => {
                let shown = crate::pop3::escape_controls(challenge);
                self.log(Direction::FromServer, &format!("+ {shown}"));
            }
            Event::Reply { status, reply, .. } => {
                let mut text = status_text(status);
                match reply {
                    Reply::Message(body) => text.push_str(&format!(" [{} more bytes]", body.len())),
                    Reply::Scan(entries) => text.push_str(&format!(" [{} lines]", entries.len())),
                    Reply::Uidl(listing) => text.push_str(&format!(
                        " [{} lines]",
                        listing.entries.len() + listing.skipped.len()
                    )),
                    Reply::Capabilities(_) => text.push_str(" [capabilities]"),
                    _ => {}
                }
                self.log(Direction::FromServer, &text);
            }
            Event::Refused { status, .. } => self.log(Direction::FromServer, &status_text(status)),
            Event::ReplyFailed { error, .. } => {
                self.log(Direction::FromServer, &format!("[reply refused: {error}]"));
            }
            Event::Data { .. } => {}
        }
    }

    /// Sends what may be sent and handles events until no command is
    /// outstanding. `on_event` may submit more commands or answer AUTH
    /// challenges; it gets the driver for that.
    pub(super) fn run<E: From<Error>>(
        &mut self,
        on_event: &mut EventHandler<'_, T, E>,
    ) -> Result<(), E> {
        loop {
            self.flush()?;
            let mut handled = false;
            while let Some(event) = self.session.poll_event() {
                handled = true;
                self.log_event(&event);
                on_event(self, event)?;
            }
            if handled {
                continue; // the handler may have queued more to send
            }
            if self.session.outstanding() == 0 {
                return Ok(());
            }
            self.read_some()?;
        }
    }

    /// Runs one command: `Ok` holds its `+OK` and what it carries, `Err`
    /// inside the `Ok` its `-ERR`.
    pub(super) fn execute(&mut self, command: Command) -> Result<Answer, Error> {
        let id = self.submit(command, false)?;
        let mut result = None;
        self.run::<Error>(&mut |_, event| {
            match event {
                Event::Reply {
                    id: got,
                    status,
                    reply,
                } if got == id => result = Some(Ok(Ok((status, reply)))),
                Event::Refused {
                    id: got, status, ..
                } if got == id => result = Some(Ok(Err(status))),
                Event::ReplyFailed { id: got, error } if got == id => {
                    result = Some(Err(Error::from(error)));
                }
                _ => {}
            }
            Ok(())
        })?;
        // `run` only returns once every reply is in, ours included.
        result.unwrap_or(Err(Error::ConnectionClosed))
    }

    /// Like `execute`, but a `-ERR` becomes an error naming the command.
    pub(super) fn expect_ok(&mut self, command: Command) -> Result<(Status, Reply), Error> {
        let keyword = command.keyword();
        self.execute(command)?.map_err(|status| Error::Server {
            command: keyword,
            code: status.code,
            text: status.text,
        })
    }

    /// Carries out a sign-in machine's steps until it is done: submits
    /// what it asks for, answers its challenges, upgrades to TLS when told.
    fn drive<M: Machine>(
        &mut self,
        machine: &mut M,
        first: Step<M::Output>,
        endpoint: &Endpoint,
    ) -> Result<M::Output, Error> {
        let mut step = first;
        loop {
            match step {
                Step::Done(output) => return Ok(output),
                Step::Send(command) => {
                    self.submit(command, false)?;
                }
                Step::Respond(line) => self.respond(line)?,
                Step::StartTls => {
                    self.transport.start_tls(&endpoint.host, &endpoint.trust)?;
                    self.session.tls_established();
                    step = machine.tls_established();
                    continue;
                }
                Step::Wait => {}
            }
            step = self.next_step(machine)?;
        }
    }

    /// Sends what is queued and feeds the machine the next event.
    fn next_step<M: Machine>(&mut self, machine: &mut M) -> Result<Step<M::Output>, Error> {
        loop {
            self.flush()?;
            if let Some(event) = self.session.poll_event() {
                self.log_event(&event);
                return Ok(machine.on_event(event)?);
            }
            match self.read_some() {
                Ok(()) => {}
                Err(Error::ConnectionClosed) => {
                    return Err(machine
                        .connection_closed()
                        .map_or(Error::ConnectionClosed, Error::from));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A command's answer: `+OK` with what it carries, or the `-ERR`.
pub(super) type Answer = Result<(Status, Reply), Status>;

/// The sign-in machines of the pop3 core, as the driver runs them.
trait Machine {
    type Output;
    fn on_event(&mut self, event: Event) -> Result<Step<Self::Output>, LoginError>;
    fn tls_established(&mut self) -> Step<Self::Output>;
    /// What the connection closing now means, when it means more than that.
    fn connection_closed(&self) -> Option<LoginError>;
}

impl Machine for Handshake {
    type Output = Greeted;

    fn on_event(&mut self, event: Event) -> Result<Step<Greeted>, LoginError> {
        Handshake::on_event(self, event)
    }

    fn tls_established(&mut self) -> Step<Greeted> {
        Handshake::tls_established(self)
    }

    fn connection_closed(&self) -> Option<LoginError> {
        None
    }
}

impl Machine for SignIn {
    type Output = SignedIn;

    fn on_event(&mut self, event: Event) -> Result<Step<SignedIn>, LoginError> {
        let before = self.method();
        let step = SignIn::on_event(self, event)?;
        if self.method() != before {
            tracing::info!(method = %before, "sign-in method refused; trying the next one");
        }
        Ok(step)
    }

    fn tls_established(&mut self) -> Step<SignedIn> {
        // A sign-in never asks for TLS; nothing to do.
        Step::Wait
    }

    fn connection_closed(&self) -> Option<LoginError> {
        SignIn::connection_closed(self)
    }
}

fn status_text(status: &Status) -> String {
    let mut text = String::from(if status.ok { "+OK" } else { "-ERR" });
    if let Some(code) = &status.code {
        text.push_str(&format!(" [{code}]"));
    }
    if !status.text.is_empty() {
        text.push(' ');
        text.push_str(&status.text);
    }
    text
}

/// What the server told us before login, for the connection report.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    pub greeting: String,
    /// `None` when the server does not support CAPA.
    pub capabilities: Option<Capabilities>,
    pub apop_timestamp: Option<String>,
    pub encrypted: bool,
    /// SHA-256 of the server certificate, when encrypted.
    pub certificate_der: Option<Vec<u8>>,
}

/// A connected session in the authorization state.
pub struct Client<T: Transport = Stream> {
    driver: Driver<T>,
    endpoint: Endpoint,
    greeted: Greeted,
    info: ServerInfo,
}

impl Client<Stream> {
    /// Connects, reads the greeting and capabilities, and secures the
    /// connection as the endpoint requires.
    pub fn connect(endpoint: &Endpoint, observe: Observe) -> Result<Client<Stream>, Error> {
        let stream = Stream::connect(
            &endpoint.host,
            endpoint.port,
            endpoint.security,
            &endpoint.trust,
            endpoint.timeouts,
            observe.cancel.as_ref(),
        )?;
        Client::over(stream, endpoint, observe)
    }
}

impl<T: Transport> Client<T> {
    /// Starts a session over an already connected transport (implicit TLS
    /// already done, if any). Performs STLS when the endpoint asks for it;
    /// the sequence itself is the pop3 core's `Handshake`.
    pub fn over(transport: T, endpoint: &Endpoint, observe: Observe) -> Result<Client<T>, Error> {
        let mut driver = Driver {
            transport,
            session: Session::new(endpoint.limits.clone()),
            read_buf: vec![0; 64 * 1024],
            write_buf: Vec::new(),
            io_timeout: endpoint.timeouts.io,
            no_progress: endpoint.timeouts.no_progress,
            last_progress: (0, Instant::now()),
            observe,
        };
        let (mut handshake, first) = Handshake::new(endpoint.security == Security::StartTls);
        let greeted = driver.drive(&mut handshake, first, endpoint)?;
        if greeted.capabilities.as_ref().is_some_and(|c| c.pipelining) {
            driver.session.set_window(endpoint.max_window);
        }
        let info = ServerInfo {
            apop_timestamp: greeted.apop_timestamp.clone(),
            greeting: greeted.greeting.text.clone(),
            capabilities: greeted.capabilities.clone(),
            encrypted: driver.transport.is_encrypted(),
            certificate_der: driver.transport.peer_certificate_der(),
        };
        Ok(Client {
            driver,
            endpoint: endpoint.clone(),
            greeted,
            info,
        })
    }

    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The method `login` would try first with these credentials.
    pub fn choose_method(&self, credentials: &Credentials) -> Result<AuthMethod, Error> {
        let offer = ServerOffer {
            capabilities: self.info.capabilities.as_ref(),
            apop_timestamp: self.info.apop_timestamp.as_deref(),
            encrypted: self.info.encrypted,
        };
        let list = candidate_methods(
            credentials.method,
            &offer,
            credentials.allow_cleartext,
            credentials.remembered,
        )?;
        Ok(list[0])
    }

    /// Logs in; on success the session is in the transaction state. With
    /// the automatic method, a refused APOP or CRAM-MD5 falls back to the
    /// next method on the same connection; when the server hangs up after
    /// such a refusal, the error says so ([`Error::AuthFallbackNeedsReconnect`])
    /// and [`Client::login_after`] goes on over a new connection.
    pub fn login(self, credentials: &Credentials) -> Result<Mailbox<T>, Error> {
        self.login_after(credentials, &[])
    }

    /// Like `login`, skipping methods refused in an earlier connection.
    pub fn login_after(
        mut self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> Result<Mailbox<T>, Error> {
        let signed = self.sign_in(credentials, refused)?;
        Ok(self.logged_in(signed))
    }

    /// Like `login_after`; when a new connection is needed to go on
    /// (`AuthFallbackNeedsReconnect`), also gives back the observer.
    pub fn login_keeping_observe(
        mut self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> (Result<Mailbox<T>, Error>, Option<Observe>) {
        match self.sign_in(credentials, refused) {
            Ok(signed) => (Ok(self.logged_in(signed)), None),
            Err(e @ Error::AuthFallbackNeedsReconnect { .. }) => {
                (Err(e), Some(std::mem::take(&mut self.driver.observe)))
            }
            Err(e) => (Err(e), None),
        }
    }

    /// Runs the pop3 core's `SignIn` over this connection.
    fn sign_in(
        &mut self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> Result<SignedIn, Error> {
        let (mut machine, first) =
            SignIn::start(credentials, &self.greeted, self.info.encrypted, refused)?;
        self.driver.drive(&mut machine, first, &self.endpoint)
    }

    fn logged_in(mut self, signed: SignedIn) -> Mailbox<T> {
        if let Some(after) = signed.capabilities_after {
            if after.pipelining {
                self.driver.session.set_window(self.endpoint.max_window);
            }
            self.info.capabilities = Some(after);
        }
        Mailbox::new(self.driver, self.info, signed.method)
    }

    /// Ends the session politely before login.
    pub fn quit(mut self) -> Result<(), Error> {
        self.driver.expect_ok(Command::Quit).map(|_| ())
    }
}
