//! The blocking driver around the sans-IO session, and the typed client
//! built on it: `Client` (authorization state) becomes a `Mailbox`
//! (transaction state) by logging in, and a `Mailbox` is consumed by
//! `quit`. A DELE before login cannot be written, and dropping a `Mailbox`
//! without `quit` closes the connection without QUIT, so the server
//! deletes nothing.

use std::time::{Duration, Instant};

use crate::pop3::auth::{AuthMethod, SaslExchange, ServerOffer, apop_command, candidate_methods};
use crate::pop3::reply::{Capabilities, apop_timestamp, parse_capabilities};
use crate::pop3::{AuthLine, Command, CommandId, Event, Limits, RespCode, Secret, Session, Status};

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

/// Who logs in, and how.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub user: String,
    /// The password, or the OAuth 2 access token for XOAUTH2.
    pub secret: Secret<String>,
    pub method: AuthMethod,
    /// The account's explicit permission to sign in over an unencrypted
    /// connection.
    pub allow_cleartext: bool,
    /// With `AuthMethod::Auto`: the method that worked last time, tried first.
    pub remembered: Option<AuthMethod>,
}

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
            Event::Reply { status, body, .. } => {
                let mut text = status_text(status);
                if let Some(body) = body {
                    text.push_str(&format!(" [{} more bytes]", body.len()));
                }
                self.log(Direction::FromServer, &text);
            }
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

    /// Runs one command and returns its status and collected body.
    pub(super) fn execute(&mut self, command: Command) -> Result<(Status, Option<Vec<u8>>), Error> {
        let id = self.submit(command, false)?;
        let mut result = None;
        self.run::<Error>(&mut |_, event| {
            match event {
                Event::Reply {
                    id: got,
                    status,
                    body,
                } if got == id => {
                    result = Some(Ok((status, body)));
                }
                Event::ReplyFailed { id: got, error } if got == id => {
                    result = Some(Err(Error::Reply(error)));
                }
                _ => {}
            }
            Ok(())
        })?;
        // `run` only returns once every reply is in, ours included.
        result.unwrap_or(Err(Error::ConnectionClosed))
    }

    /// Like `execute`, but a `-ERR` becomes an error naming the command.
    pub(super) fn expect_ok(
        &mut self,
        command: Command,
    ) -> Result<(Status, Option<Vec<u8>>), Error> {
        let keyword = command.keyword();
        let (status, body) = self.execute(command)?;
        if !status.ok {
            return Err(Error::Server {
                command: keyword,
                code: status.code,
                text: status.text,
            });
        }
        Ok((status, body))
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
    /// already done, if any). Performs STLS when the endpoint asks for it.
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
        let greeting = read_greeting(&mut driver)?;
        let mut capabilities = capa(&mut driver)?;
        if endpoint.security == Security::StartTls {
            // RFC 2595: no STLS in CAPA (or no CAPA at all) means we cannot
            // know the server supports it; a stripped capability is exactly
            // what a downgrade attack looks like, so stop.
            if !capabilities.as_ref().is_some_and(|c| c.stls) {
                return Err(Error::StartTlsUnavailable);
            }
            let (status, _) = driver.execute(Command::Stls)?;
            if !status.ok {
                return Err(Error::StartTlsRefused(status.text));
            }
            driver
                .transport
                .start_tls(&endpoint.host, &endpoint.trust)?;
            driver.session.tls_established();
            // Capabilities learned before TLS cannot be trusted.
            capabilities = capa(&mut driver)?;
        }
        if capabilities.as_ref().is_some_and(|c| c.pipelining) {
            driver.session.set_window(endpoint.max_window);
        }
        let info = ServerInfo {
            apop_timestamp: apop_timestamp(&greeting.text),
            greeting: greeting.text,
            capabilities,
            encrypted: driver.transport.is_encrypted(),
            certificate_der: driver.transport.peer_certificate_der(),
        };
        Ok(Client {
            driver,
            endpoint: endpoint.clone(),
            info,
        })
    }

    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The method `login` would try first with these credentials.
    pub fn choose_method(&self, credentials: &Credentials) -> Result<AuthMethod, Error> {
        Ok(self.candidates(credentials, &[])?[0])
    }

    fn candidates(
        &self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> Result<Vec<AuthMethod>, Error> {
        let offer = ServerOffer {
            capabilities: self.info.capabilities.as_ref(),
            apop_timestamp: self.info.apop_timestamp.as_deref(),
            encrypted: self.info.encrypted,
        };
        let mut list = candidate_methods(
            credentials.method,
            &offer,
            credentials.allow_cleartext,
            credentials.remembered,
        )?;
        list.retain(|m| !refused.contains(m));
        Ok(list)
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
        let method = self.sign_in(credentials, refused)?;
        self.logged_in(method)
    }

    /// Like `login_after`; when a new connection is needed to go on
    /// (`AuthFallbackNeedsReconnect`), also gives back the observer.
    pub fn login_keeping_observe(
        mut self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> (Result<Mailbox<T>, Error>, Option<Observe>) {
        match self.sign_in(credentials, refused) {
            Ok(method) => (self.logged_in(method), None),
            Err(e @ Error::AuthFallbackNeedsReconnect { .. }) => {
                (Err(e), Some(std::mem::take(&mut self.driver.observe)))
            }
            Err(e) => (Err(e), None),
        }
    }

    /// Tries the candidate methods in turn; the one that worked.
    fn sign_in(
        &mut self,
        credentials: &Credentials,
        refused: &[AuthMethod],
    ) -> Result<AuthMethod, Error> {
        let candidates = self.candidates(credentials, refused)?;
        let Some(&last) = candidates.last() else {
            return Err(Error::AuthFailed {
                method: refused.last().copied().unwrap_or_default(),
                code: None,
                text: "every sign-in method this account allows was refused".into(),
            });
        };
        let mut refused_here: Vec<AuthMethod> = refused.to_vec();
        for method in candidates {
            let mut secret_sent = false;
            let status = match self.login_once(method, credentials, &mut secret_sent) {
                Ok(status) => status,
                // The server hung up after refusing a challenge-response
                // method: the caller may try the rest on a new connection
                // (unless the password already went out on this one).
                Err(Error::ConnectionClosed)
                    if refused_here.len() > refused.len() && !secret_sent =>
                {
                    return Err(Error::AuthFallbackNeedsReconnect {
                        refused: refused_here,
                    });
                }
                Err(e) => return Err(e),
            };
            if status.ok {
                return Ok(method);
            }
            let temporary = matches!(
                status.code,
                Some(
                    RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp | RespCode::SysPerm
                )
            );
            let fall_back = credentials.method == AuthMethod::Auto
                && method.is_challenge_response()
                && !temporary
                && method != last;
            if !fall_back {
                return Err(Error::AuthFailed {
                    method,
                    code: status.code,
                    text: status.text,
                });
            }
            tracing::info!(%method, "sign-in method refused; trying the next one");
            refused_here.push(method);
        }
        // The loop returns on the last candidate whatever happens.
        Err(Error::ConnectionClosed)
    }

    /// One sign-in attempt with `method`; `Ok` holds the server's verdict.
    /// `secret_sent` says whether the password itself (not a digest) went
    /// out: after that, a hang-up is no reason to try again elsewhere.
    fn login_once(
        &mut self,
        method: AuthMethod,
        credentials: &Credentials,
        secret_sent: &mut bool,
    ) -> Result<Status, Error> {
        let driver = &mut self.driver;
        Ok(match method {
            AuthMethod::UserPass => {
                let (status, _) =
                    driver.execute(Command::user(&credentials.user).map_err(auth_arg)?)?;
                if status.ok {
                    *secret_sent = true;
                    driver
                        .execute(Command::pass(&credentials.secret).map_err(auth_arg)?)?
                        .0
                } else {
                    status
                }
            }
            AuthMethod::Apop => {
                let stamp = self.info.apop_timestamp.as_deref().unwrap_or_default();
                driver
                    .execute(apop_command(&credentials.user, stamp, &credentials.secret)?)?
                    .0
            }
            AuthMethod::CramMd5 => sasl_login(driver, method, credentials)?,
            _ => {
                *secret_sent = true;
                sasl_login(driver, method, credentials)?
            }
        })
    }

    fn logged_in(mut self, method: AuthMethod) -> Result<Mailbox<T>, Error> {
        let driver = &mut self.driver;
        // Some servers only list PIPELINING once logged in (RFC 2449 §5).
        let pipelining_known = self
            .info
            .capabilities
            .as_ref()
            .is_some_and(|c| c.pipelining);
        if self.info.capabilities.is_some()
            && !pipelining_known
            && let Some(after) = capa(driver)?
        {
            if after.pipelining {
                driver.session.set_window(self.endpoint.max_window);
            }
            self.info.capabilities = Some(after);
        }
        Ok(Mailbox::new(self.driver, self.info, method))
    }

    /// Ends the session politely before login.
    pub fn quit(mut self) -> Result<(), Error> {
        self.driver.expect_ok(Command::Quit).map(|_| ())
    }
}

fn auth_arg(e: crate::pop3::ArgError) -> Error {
    Error::Credential(e.into())
}

fn read_greeting<T: Transport>(driver: &mut Driver<T>) -> Result<Status, Error> {
    loop {
        driver.read_some()?;
        if let Some(event) = driver.session.poll_event() {
            driver.log_event(&event);
            return match event {
                Event::Greeting(status) if status.ok => Ok(status),
                Event::Greeting(status) => Err(Error::Greeting {
                    code: status.code,
                    text: status.text,
                }),
                _ => Err(Error::ConnectionClosed),
            };
        }
    }
}

/// CAPA; `None` if the server does not support it (RFC 1939-only servers).
fn capa<T: Transport>(driver: &mut Driver<T>) -> Result<Option<Capabilities>, Error> {
    let (status, body) = driver.execute(Command::Capa)?;
    Ok(status
        .ok
        .then(|| parse_capabilities(body.as_deref().unwrap_or_default())))
}

fn sasl_login<T: Transport>(
    driver: &mut Driver<T>,
    method: AuthMethod,
    credentials: &Credentials,
) -> Result<Status, Error> {
    let (mut exchange, command) =
        SaslExchange::start(method, &credentials.user, &credentials.secret)?;
    let id = driver.submit(command, false)?;
    let mut result: Option<Result<Status, Error>> = None;
    driver.run::<Error>(&mut |driver, event| {
        match event {
            Event::Continuation { id: got, challenge } if got == id => {
                let line = match exchange.respond(&challenge) {
                    Ok(line) => line,
                    Err(e) => {
                        // Give up the exchange cleanly; report why afterwards.
                        result = Some(Err(e.into()));
                        AuthLine::Cancel
                    }
                };
                driver.respond(line)?;
            }
            Event::Reply {
                id: got, status, ..
            } if got == id && result.is_none() => {
                result = Some(Ok(status));
            }
            Event::ReplyFailed { id: got, error } if got == id => {
                result = Some(Err(error.into()));
            }
            _ => {}
        }
        Ok(())
    })?;
    result.unwrap_or(Err(Error::ConnectionClosed))
}
