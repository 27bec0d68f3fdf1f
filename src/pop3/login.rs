//! The sign-in sequence as sans-IO state machines: `Handshake` (greeting,
//! CAPA, STLS and CAPA again over TLS) and `SignIn` (choosing the methods,
//! trying them with the fallback rules, CAPA again once logged in). Each
//! takes the session's events and answers with the next `Step` for the
//! driver: send a command, answer a challenge, start TLS, or done. They
//! never touch a socket or the session itself, so every path of the
//! sequence is tested here without a server; `net` only carries the steps
//! out.

use super::auth::{
    AuthError, AuthMethod, ChooseError, SaslExchange, ServerOffer, apop_command, candidate_methods,
};
use super::command::{AuthLine, Command};
use super::reply::{Capabilities, RespCode, Status, apop_timestamp};
use super::session::{Event, Reply, ReplyError};
use super::types::Secret;

/// Who signs in, and how.
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

/// What the driver does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<T> {
    /// Nothing to send: feed the next event.
    Wait,
    /// Submit this command, then feed the events that answer it.
    Send(Command),
    /// Answer the pending AUTH challenge with this line.
    Respond(AuthLine),
    /// Upgrade the connection to TLS now, tell the session
    /// (`Session::tls_established`), then call `Handshake::tls_established`.
    StartTls,
    /// The sequence is over.
    Done(T),
}

/// Why the sign-in sequence stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("the server refused the connection: {text}")]
    Greeting {
        code: Option<RespCode>,
        text: String,
    },
    /// STARTTLS was asked for and the server does not list STLS: a
    /// stripped capability is what a downgrade attack looks like.
    #[error("the server does not offer STARTTLS")]
    StartTlsUnavailable,
    #[error("the server refused to start TLS: {0}")]
    StartTlsRefused(String),
    #[error(transparent)]
    Choice(#[from] ChooseError),
    #[error(transparent)]
    Credential(#[from] AuthError),
    #[error("sign-in with {method} failed: {text}")]
    AuthFailed {
        method: AuthMethod,
        code: Option<RespCode>,
        text: String,
    },
    /// Automatic sign-in: the server hung up after refusing these
    /// challenge-response methods; the rest may work on a new connection.
    #[error("the server hung up after refusing sign-in")]
    FallbackNeedsReconnect { refused: Vec<AuthMethod> },
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

/// What the server said before anyone signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeted {
    pub greeting: Status,
    /// `None` when the server does not support CAPA (RFC 1939-only).
    pub capabilities: Option<Capabilities>,
    /// The greeting's APOP timestamp, when it has a valid one.
    pub apop_timestamp: Option<String>,
}

#[derive(Debug)]
enum HandshakePhase {
    Greeting,
    Capa,
    Stls,
    Tls,
    CapaOverTls,
    Finished,
}

/// Greeting, CAPA and, for STARTTLS, STLS and CAPA again over TLS
/// (RFC 2595 §4: what was learned in clear cannot be trusted).
#[derive(Debug)]
pub struct Handshake {
    starttls: bool,
    phase: HandshakePhase,
    greeting: Option<Status>,
}

impl Handshake {
    /// The first step is always `Wait`: nothing goes out before the greeting.
    pub fn new(starttls: bool) -> (Handshake, Step<Greeted>) {
        let handshake = Handshake {
            starttls,
            phase: HandshakePhase::Greeting,
            greeting: None,
        };
        (handshake, Step::Wait)
    }

    pub fn on_event(&mut self, event: Event) -> Result<Step<Greeted>, LoginError> {
        use HandshakePhase as P;
        match (&self.phase, event) {
            (P::Greeting, Event::Greeting(status)) => {
                if !status.ok {
                    return Err(LoginError::Greeting {
                        code: status.code,
                        text: status.text,
                    });
                }
                self.greeting = Some(status);
                self.phase = P::Capa;
                Ok(Step::Send(Command::Capa))
            }
            (P::Capa | P::CapaOverTls, Event::ReplyFailed { error, .. })
            | (P::Stls, Event::ReplyFailed { error, .. }) => Err(error.into()),
            (P::Capa, event) => {
                let Some(capabilities) = capa_answer(event) else {
                    return Ok(Step::Wait);
                };
                if !self.starttls {
                    return Ok(self.finish(capabilities));
                }
                if !capabilities.as_ref().is_some_and(|c| c.stls) {
                    return Err(LoginError::StartTlsUnavailable);
                }
                self.phase = P::Stls;
                Ok(Step::Send(Command::Stls))
            }
            (P::Stls, Event::Reply { .. }) => {
                self.phase = P::Tls;
                Ok(Step::StartTls)
            }
            (P::Stls, Event::Refused { status, .. }) => {
                Err(LoginError::StartTlsRefused(status.text))
            }
            (P::CapaOverTls, event) => match capa_answer(event) {
                Some(capabilities) => Ok(self.finish(capabilities)),
                None => Ok(Step::Wait),
            },
            _ => Ok(Step::Wait),
        }
    }

    /// The TLS handshake after STLS succeeded: ask for the capabilities
    /// again, over TLS.
    pub fn tls_established(&mut self) -> Step<Greeted> {
        self.phase = HandshakePhase::CapaOverTls;
        Step::Send(Command::Capa)
    }

    fn finish(&mut self, capabilities: Option<Capabilities>) -> Step<Greeted> {
        self.phase = HandshakePhase::Finished;
        let greeting = self.greeting.take().unwrap_or(Status {
            ok: true,
            code: None,
            text: String::new(),
        });
        Step::Done(Greeted {
            apop_timestamp: apop_timestamp(&greeting.text),
            greeting,
            capabilities,
        })
    }
}

/// The capabilities a CAPA answer gives: `Some(None)` when refused (the
/// server has no CAPA), `None` for an event that is not the answer.
fn capa_answer(event: Event) -> Option<Option<Capabilities>> {
    match event {
        Event::Reply {
            reply: Reply::Capabilities(capabilities),
            ..
        } => Some(Some(capabilities)),
        Event::Reply { .. } | Event::Refused { .. } => Some(None),
        _ => None,
    }
}

/// How a sign-in ended well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub method: AuthMethod,
    /// The capabilities asked for again after login (some servers list
    /// PIPELINING only then, RFC 2449 §5); `None` when not asked or refused.
    pub capabilities_after: Option<Capabilities>,
}

#[derive(Debug)]
enum Attempt {
    User,
    Pass,
    Apop,
    Sasl(SaslExchange),
    /// The exchange was given up with `*` for this reason; the server's
    /// answer to the cancel is awaited.
    SaslCancelled(AuthError),
    CapaAfter(AuthMethod),
    Finished,
}

/// Tries the methods both sides allow, in order. With the automatic
/// method a refused APOP or CRAM-MD5 falls back to the next one; a
/// temporary refusal (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/...]`) and a
/// refusal of the last method do not.
#[derive(Debug)]
pub struct SignIn {
    credentials: Credentials,
    apop_timestamp: Option<String>,
    /// Ask CAPA again once logged in.
    capa_after: bool,
    candidates: Vec<AuthMethod>,
    /// The candidate being tried.
    current: usize,
    attempt: Attempt,
    /// Methods refused in earlier connections plus this one.
    refused: Vec<AuthMethod>,
    refused_before: usize,
    /// The password itself (not a digest) went out in this attempt: after
    /// that, a hang-up is no reason to try again elsewhere.
    secret_sent: bool,
}

impl SignIn {
    /// Starts with the first method. `refused` lists methods an earlier
    /// connection refused; they are not tried again.
    pub fn start(
        credentials: &Credentials,
        greeted: &Greeted,
        encrypted: bool,
        refused: &[AuthMethod],
    ) -> Result<(SignIn, Step<SignedIn>), LoginError> {
        let offer = ServerOffer {
            capabilities: greeted.capabilities.as_ref(),
            apop_timestamp: greeted.apop_timestamp.as_deref(),
            encrypted,
        };
        let mut candidates = candidate_methods(
            credentials.method,
            &offer,
            credentials.allow_cleartext,
            credentials.remembered,
        )?;
        candidates.retain(|m| !refused.contains(m));
        if candidates.is_empty() {
            return Err(LoginError::AuthFailed {
                method: refused.last().copied().unwrap_or_default(),
                code: None,
                text: "every sign-in method this account allows was refused".into(),
            });
        }
        let mut sign_in = SignIn {
            credentials: credentials.clone(),
            apop_timestamp: greeted.apop_timestamp.clone(),
            capa_after: greeted.capabilities.as_ref().is_some_and(|c| !c.pipelining),
            candidates,
            current: 0,
            attempt: Attempt::Finished,
            refused: refused.to_vec(),
            refused_before: refused.len(),
            secret_sent: false,
        };
        let step = sign_in.begin()?;
        Ok((sign_in, step))
    }

    /// What the connection closing now means: `Some` when the server hung
    /// up after refusing a challenge-response method and the rest may be
    /// tried on a new connection (never once the password went out here).
    pub fn connection_closed(&self) -> Option<LoginError> {
        (self.refused.len() > self.refused_before && !self.secret_sent).then(|| {
            LoginError::FallbackNeedsReconnect {
                refused: self.refused.clone(),
            }
        })
    }

    /// The method being tried.
    pub fn method(&self) -> AuthMethod {
        self.candidates[self.current]
    }

    /// Sends the first command of the current candidate.
    fn begin(&mut self) -> Result<Step<SignedIn>, LoginError> {
        self.secret_sent = false;
        let method = self.method();
        let credentials = &self.credentials;
        let (attempt, command) = match method {
            AuthMethod::UserPass => (
                Attempt::User,
                Command::user(&credentials.user).map_err(AuthError::from)?,
            ),
            AuthMethod::Apop => {
                let stamp = self.apop_timestamp.as_deref().unwrap_or_default();
                (
                    Attempt::Apop,
                    apop_command(&credentials.user, stamp, &credentials.secret)?,
                )
            }
            _ => {
                let (exchange, command) =
                    SaslExchange::start(method, &credentials.user, &credentials.secret)?;
                // CRAM-MD5 sends a digest; every other SASL method here
                // sends the secret itself.
                self.secret_sent = method != AuthMethod::CramMd5;
                (Attempt::Sasl(exchange), command)
            }
        };
        self.attempt = attempt;
        Ok(Step::Send(command))
    }

    pub fn on_event(&mut self, event: Event) -> Result<Step<SignedIn>, LoginError> {
        let attempt = std::mem::replace(&mut self.attempt, Attempt::Finished);
        match (attempt, event) {
            (_, Event::ReplyFailed { error, .. }) => Err(error.into()),
            (Attempt::Sasl(mut exchange), Event::Continuation { challenge, .. }) => {
                match exchange.respond(&challenge) {
                    Ok(line) => {
                        self.attempt = Attempt::Sasl(exchange);
                        Ok(Step::Respond(line))
                    }
                    Err(e) => {
                        // Give the exchange up cleanly; say why once the
                        // server has answered the cancel.
                        self.attempt = Attempt::SaslCancelled(e);
                        Ok(Step::Respond(AuthLine::Cancel))
                    }
                }
            }
            (Attempt::SaslCancelled(e), Event::Reply { .. } | Event::Refused { .. }) => {
                Err(e.into())
            }
            (Attempt::User, Event::Reply { .. }) => {
                self.attempt = Attempt::Pass;
                self.secret_sent = true;
                let pass = Command::pass(&self.credentials.secret).map_err(AuthError::from)?;
                Ok(Step::Send(pass))
            }
            (Attempt::Pass | Attempt::Apop | Attempt::Sasl(_), Event::Reply { .. }) => {
                self.signed_in()
            }
            (
                Attempt::User | Attempt::Pass | Attempt::Apop | Attempt::Sasl(_),
                Event::Refused { status, .. },
            ) => self.refused(status),
            (Attempt::CapaAfter(method), event) => match capa_answer(event) {
                Some(capabilities_after) => Ok(Step::Done(SignedIn {
                    method,
                    capabilities_after,
                })),
                None => {
                    self.attempt = Attempt::CapaAfter(method);
                    Ok(Step::Wait)
                }
            },
            (attempt, _) => {
                self.attempt = attempt;
                Ok(Step::Wait)
            }
        }
    }

    fn signed_in(&mut self) -> Result<Step<SignedIn>, LoginError> {
        let method = self.method();
        if self.capa_after {
            self.attempt = Attempt::CapaAfter(method);
            return Ok(Step::Send(Command::Capa));
        }
        Ok(Step::Done(SignedIn {
            method,
            capabilities_after: None,
        }))
    }

    fn refused(&mut self, status: Status) -> Result<Step<SignedIn>, LoginError> {
        let method = self.method();
        let temporary = matches!(
            status.code,
            Some(RespCode::InUse | RespCode::LoginDelay | RespCode::SysTemp | RespCode::SysPerm)
        );
        let last = self.current + 1 == self.candidates.len();
        let fall_back = self.credentials.method == AuthMethod::Auto
            && method.is_challenge_response()
            && !temporary
            && !last;
        if !fall_back {
            return Err(LoginError::AuthFailed {
                method,
                code: status.code,
                text: status.text,
            });
        }
        self.refused.push(method);
        self.current += 1;
        self.begin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pop3::session::CommandId;

    fn status(ok: bool, code: Option<RespCode>, text: &str) -> Status {
        Status {
            ok,
            code,
            text: text.into(),
        }
    }

    fn id() -> CommandId {
        CommandId::first()
    }

    fn ok() -> Event {
        Event::Reply {
            id: id(),
            status: status(true, None, ""),
            reply: Reply::Done,
        }
    }

    fn err(code: Option<RespCode>, text: &str) -> Event {
        Event::Refused {
            id: id(),
            command: "AUTH",
            status: status(false, code, text),
        }
    }

    fn capa(lines: &[&str]) -> Event {
        let body: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        Event::Reply {
            id: id(),
            status: status(true, None, ""),
            reply: Reply::Capabilities(crate::pop3::reply::parse_capabilities(body.as_bytes())),
        }
    }

    fn credentials(method: AuthMethod) -> Credentials {
        Credentials {
            user: "tim".into(),
            secret: Secret::new("secret".into()),
            method,
            allow_cleartext: false,
            remembered: None,
        }
    }

    fn greeted(capa: &[&str], apop: bool) -> Greeted {
        let body: String = capa.iter().map(|l| format!("{l}\r\n")).collect();
        Greeted {
            greeting: status(true, None, "ready"),
            capabilities: Some(crate::pop3::reply::parse_capabilities(body.as_bytes())),
            apop_timestamp: apop.then(|| "<1.2@host>".to_owned()),
        }
    }

    fn keyword<T>(step: &Step<T>) -> &'static str {
        match step {
            Step::Send(command) => command.keyword(),
            Step::Respond(AuthLine::Cancel) => "*",
            Step::Respond(_) => "response",
            Step::StartTls => "starttls",
            Step::Wait => "wait",
            Step::Done(_) => "done",
        }
    }

    #[test]
    fn starttls_asks_capa_again_over_tls() {
        let (mut h, first) = Handshake::new(true);
        assert_eq!(first, Step::Wait);
        let greeting = Event::Greeting(status(true, None, "POP3 <9.9@x> ready"));
        assert_eq!(keyword(&h.on_event(greeting).unwrap()), "CAPA");
        assert_eq!(keyword(&h.on_event(capa(&["STLS"])).unwrap()), "STLS");
        assert_eq!(h.on_event(ok()).unwrap(), Step::StartTls);
        assert_eq!(keyword(&h.tls_established()), "CAPA");
        let Step::Done(greeted) = h.on_event(capa(&["SASL PLAIN", "PIPELINING"])).unwrap() else {
            panic!("the handshake goes on after the second CAPA");
        };
        let caps = greeted.capabilities.unwrap();
        assert!(
            caps.pipelining && !caps.stls,
            "the capabilities over TLS count"
        );
        assert_eq!(greeted.apop_timestamp.as_deref(), Some("<9.9@x>"));
    }

    #[test]
    fn a_stripped_or_refused_stls_stops_the_handshake() {
        for answer in [capa(&["SASL PLAIN"]), err(None, "no CAPA")] {
            let (mut h, _) = Handshake::new(true);
            h.on_event(Event::Greeting(status(true, None, "hi")))
                .unwrap();
            assert_eq!(h.on_event(answer), Err(LoginError::StartTlsUnavailable));
        }
        let (mut h, _) = Handshake::new(true);
        h.on_event(Event::Greeting(status(true, None, "hi")))
            .unwrap();
        h.on_event(capa(&["STLS"])).unwrap();
        assert_eq!(
            h.on_event(err(None, "not now")),
            Err(LoginError::StartTlsRefused("not now".into()))
        );
    }

    #[test]
    fn a_server_without_capa_is_greeted_without_capabilities() {
        let (mut h, _) = Handshake::new(false);
        h.on_event(Event::Greeting(status(true, None, "hi")))
            .unwrap();
        let Step::Done(greeted) = h.on_event(err(None, "what?")).unwrap() else {
            panic!("a refused CAPA ends the handshake");
        };
        assert_eq!(greeted.capabilities, None);
        let (mut h, _) = Handshake::new(false);
        assert!(matches!(
            h.on_event(Event::Greeting(status(
                false,
                Some(RespCode::InUse),
                "busy"
            ))),
            Err(LoginError::Greeting {
                code: Some(RespCode::InUse),
                ..
            })
        ));
    }

    #[test]
    fn user_pass_sends_the_password_after_user() {
        let (mut s, first) = SignIn::start(
            &credentials(AuthMethod::UserPass),
            &greeted(&["USER", "PIPELINING"], false),
            true,
            &[],
        )
        .unwrap();
        assert_eq!(keyword(&first), "USER");
        assert_eq!(keyword(&s.on_event(ok()).unwrap()), "PASS");
        assert_eq!(
            s.on_event(ok()).unwrap(),
            Step::Done(SignedIn {
                method: AuthMethod::UserPass,
                capabilities_after: None,
            })
        );
    }

    #[test]
    fn a_refused_apop_falls_back_and_a_hang_up_asks_for_a_new_connection() {
        let greeted = greeted(&["USER"], true);
        let (mut s, first) =
            SignIn::start(&credentials(AuthMethod::Auto), &greeted, true, &[]).unwrap();
        assert_eq!(keyword(&first), "APOP");
        assert_eq!(s.connection_closed(), None, "nothing refused yet");
        assert_eq!(keyword(&s.on_event(err(None, "no")).unwrap()), "USER");
        assert_eq!(
            s.connection_closed(),
            Some(LoginError::FallbackNeedsReconnect {
                refused: vec![AuthMethod::Apop]
            })
        );
        // Once PASS went out, a hang-up is no reason to try elsewhere.
        assert_eq!(keyword(&s.on_event(ok()).unwrap()), "PASS");
        assert_eq!(s.connection_closed(), None);
        // A new connection skips what was refused.
        let (_, first) = SignIn::start(
            &credentials(AuthMethod::Auto),
            &greeted,
            true,
            &[AuthMethod::Apop],
        )
        .unwrap();
        assert_eq!(keyword(&first), "USER");
    }

    #[test]
    fn temporary_refusals_and_chosen_methods_do_not_fall_back() {
        let greeted = greeted(&["SASL CRAM-MD5", "USER"], false);
        let (mut s, first) =
            SignIn::start(&credentials(AuthMethod::Auto), &greeted, true, &[]).unwrap();
        assert_eq!(keyword(&first), "AUTH");
        assert!(matches!(
            s.on_event(err(Some(RespCode::InUse), "locked")),
            Err(LoginError::AuthFailed {
                method: AuthMethod::CramMd5,
                code: Some(RespCode::InUse),
                ..
            })
        ));
        let (mut s, _) =
            SignIn::start(&credentials(AuthMethod::CramMd5), &greeted, true, &[]).unwrap();
        assert!(matches!(
            s.on_event(err(None, "wrong")),
            Err(LoginError::AuthFailed { .. })
        ));
    }

    #[test]
    fn a_bad_challenge_is_cancelled_then_reported() {
        let greeted = greeted(&["SASL CRAM-MD5"], false);
        let (mut s, _) =
            SignIn::start(&credentials(AuthMethod::CramMd5), &greeted, true, &[]).unwrap();
        let challenge = Event::Continuation {
            id: id(),
            challenge: "not base64!".into(),
        };
        assert_eq!(
            s.on_event(challenge).unwrap(),
            Step::Respond(AuthLine::Cancel)
        );
        assert_eq!(
            s.on_event(err(None, "cancelled")),
            Err(LoginError::Credential(AuthError::BadChallenge))
        );
    }

    #[test]
    fn capabilities_are_asked_again_after_login_when_pipelining_was_not_listed() {
        let (mut s, _) = SignIn::start(
            &credentials(AuthMethod::UserPass),
            &greeted(&["USER"], false),
            true,
            &[],
        )
        .unwrap();
        s.on_event(ok()).unwrap();
        assert_eq!(keyword(&s.on_event(ok()).unwrap()), "CAPA");
        let Step::Done(done) = s.on_event(capa(&["PIPELINING"])).unwrap() else {
            panic!("CAPA after login ends the sign-in");
        };
        assert!(done.capabilities_after.unwrap().pipelining);
    }

    #[test]
    fn nothing_is_tried_in_clear_without_permission() {
        assert!(matches!(
            SignIn::start(
                &credentials(AuthMethod::Auto),
                &greeted(&["USER"], true),
                false,
                &[]
            ),
            Err(LoginError::Choice(ChooseError::CleartextRefused))
        ));
    }
}
