//! The session state machine driven from the greeting on: the input is a
//! script of client actions (submit any command, poll, answer an AUTH
//! challenge, finish a TLS handshake, change the window) and server bytes.
//! The session must never panic, and what it promises must hold after every
//! step: `outstanding()` only grows by a successful submit, events only name
//! submitted commands, each command is answered once and in order, nothing
//! is sent before the greeting or while TLS is pending, a broken session
//! stays broken, and every line sent is one CRLF-terminated line.

#![no_main]

use std::collections::HashSet;

use letterbox::pop3::{
    Arg, AuthLine, Command, CommandId, Event, Limits, MsgNum, ProtocolError, Reply, SaslResponse,
    Secret, Session, State,
};
use libfuzzer_sys::fuzz_target;

struct Script<'a>(&'a [u8]);

impl<'a> Script<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// Server lines that move a session along; raw bytes alone rarely do.
const CANNED: &[&[u8]] = &[
    b"+OK\r\n",
    b"-ERR no\r\n",
    b".\r\n",
    b"+OK POP3 ready <1.2@host>\r\n",
    b"+ VXNlcm5hbWU6\r\n",
    b"+ \r\n",
    b"+OK\r\nline\r\n..dotted\r\n.\r\n",
    b"+OK 2 300\r\n",
    b"+OK\r\n1 100\r\n2 200\r\n.\r\n",
    b"+OK\r\n1 uid-1\r\n2 uid-2\r\n.\r\n",
    b"+OK\r\nSTLS\r\nSASL PLAIN LOGIN\r\nPIPELINING\r\nTOP\r\nUIDL\r\n.\r\n",
    b"-ERR [IN-USE] locked\r\n",
    b"+OK begin TLS\r\n",
    b"+OK bye\r\n",
];

fn arg(text: &[u8]) -> Arg {
    Arg::new(&String::from_utf8_lossy(text)).unwrap_or_else(|_| Arg::new("x").expect("valid"))
}

fn command(script: &mut Script<'_>) -> Command {
    let selector = script.byte().unwrap_or(0);
    let n = MsgNum::new(u32::from(selector >> 5) + 1).expect("non-zero");
    match selector % 16 {
        0 => Command::User(arg(script.bytes(3))),
        1 => Command::Pass(Secret::new(arg(script.bytes(3)))),
        2 => Command::Apop {
            name: arg(b"u"),
            digest: Secret::new(arg(b"c4c9334bac560ecc979e58001b3e22fb")),
        },
        3 => Command::Auth {
            mechanism: arg(b"LOGIN"),
            initial_response: None,
        },
        4 => Command::Auth {
            mechanism: arg(b"PLAIN"),
            initial_response: Some(SaslResponse::encode(script.bytes(4))),
        },
        5 => Command::Capa,
        6 => Command::Stls,
        7 => Command::Stat,
        8 => Command::List(None),
        9 => Command::List(Some(n)),
        10 => Command::Uidl(None),
        11 => Command::Uidl(Some(n)),
        12 => Command::Top { msg: n, lines: 1 },
        13 => Command::Retr(n),
        14 => Command::Dele(n),
        _ => match selector >> 6 {
            0 => Command::Rset,
            1 => Command::Noop,
            _ => Command::Quit,
        },
    }
}

fn limits(selector: u8) -> Limits {
    if selector & 1 == 0 {
        return Limits::default();
    }
    let small = u64::from(selector >> 1) + 1;
    Limits {
        max_status_line_bytes: (selector >> 1) as usize + 8,
        max_capa_bytes: small * 4,
        max_listing_bytes: small * 8,
        max_message_bytes: small * 16,
        max_top_bytes: small * 2,
        endless_reply_bytes: small * 32,
    }
}

/// What the harness knows about the commands it submitted.
#[derive(Default)]
struct Ledger {
    /// Submitted and not yet answered, in submission order.
    open: Vec<(CommandId, Command, bool)>,
    answered: HashSet<CommandId>,
    greeted: bool,
    poisoned: bool,
}

impl Ledger {
    fn check_event(&mut self, event: &Event, state: State) {
        match event {
            Event::Greeting(_) => {
                assert!(!self.greeted, "one greeting");
                self.greeted = true;
            }
            _ if !self.greeted => panic!("{event:?} before the greeting"),
            Event::Continuation { id, .. } => {
                let (front, command, _) = self.open.first().expect("a command is open");
                assert_eq!(id, front, "challenge for the oldest open command");
                assert!(
                    matches!(command, Command::Auth { .. }),
                    "challenge only for AUTH"
                );
            }
            Event::Data { id, chunk } => {
                assert!(!chunk.is_empty());
                let (front, command, streamed) = self.open.first().expect("a command is open");
                assert_eq!(id, front, "data for the oldest open command");
                assert!(
                    *streamed && matches!(command, Command::Top { .. } | Command::Retr(_)),
                    "data only for a streamed TOP or RETR"
                );
            }
            Event::Refused {
                id,
                command,
                status,
            } => {
                let (sent, _) = self.answer(*id);
                assert!(!status.ok);
                assert_eq!(*command, sent.keyword());
            }
            Event::Reply { id, status, reply } => {
                let (command, streamed) = self.answer(*id);
                assert!(status.ok);
                let message = matches!(command, Command::Top { .. } | Command::Retr(_));
                assert_eq!(
                    matches!(reply, Reply::Streamed),
                    message && streamed,
                    "{command:?}"
                );
                assert_eq!(
                    matches!(reply, Reply::Message(_)),
                    message && !streamed,
                    "{command:?}"
                );
                if matches!(
                    command,
                    Command::Pass(_) | Command::Apop { .. } | Command::Auth { .. }
                ) {
                    assert!(matches!(
                        state,
                        State::Transaction | State::Update | State::Closed
                    ));
                }
            }
            Event::ReplyFailed { id, .. } => {
                self.answer(*id);
            }
        }
    }

    /// Closes the oldest open command, which must be `id`.
    fn answer(&mut self, id: CommandId) -> (Command, bool) {
        assert!(self.answered.insert(id), "answered twice: {id:?}");
        assert!(!self.open.is_empty(), "reply for a command never submitted");
        let (front, command, streamed) = self.open.remove(0);
        assert_eq!(front, id, "replies in submission order");
        (command, streamed)
    }
}

fn rank(state: State) -> u8 {
    match state {
        State::Greeting => 0,
        State::Authorization => 1,
        State::Transaction => 2,
        State::Update => 3,
        State::Closed => 4,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script(data);
    let mut session = Session::new(limits(script.byte().unwrap_or(0)));
    let mut ledger = Ledger::default();
    let mut sent = Vec::new();
    while let Some(op) = script.byte() {
        let before_outstanding = session.outstanding();
        let before_in_flight = session.in_flight();
        let before_state = session.state();
        let before_progress = session.progress();
        match op % 10 {
            0 | 1 => {
                let streamed = op & 0x80 != 0;
                let command = command(&mut script);
                let result = if streamed {
                    session.submit_streamed(command.clone())
                } else {
                    session.submit(command.clone())
                };
                match result {
                    Ok(id) => {
                        assert!(ledger.open.iter().all(|(open, ..)| *open < id), "ids grow");
                        assert!(!ledger.answered.contains(&id), "fresh id");
                        ledger.open.push((id, command, streamed));
                        assert_eq!(session.outstanding(), before_outstanding + 1);
                    }
                    Err(_) => assert_eq!(session.outstanding(), before_outstanding),
                }
            }
            2 | 3 => {
                let len = usize::from(script.byte().unwrap_or(0));
                let input = script.bytes(len);
                feed(&mut session, &mut ledger, input);
            }
            4 => {
                let line = CANNED[usize::from(script.byte().unwrap_or(0)) % CANNED.len()];
                feed(&mut session, &mut ledger, line);
            }
            5 | 6 => {
                // Closed by a `-ERR` greeting or by QUIT's reply: silent
                // (tests/integration/fuzz_regressions.rs,
                // session_sends_nothing_after_an_err_greeting).
                let closed = session.state() == State::Closed;
                let quiet = session.awaiting_tls()
                    || ledger.poisoned
                    || closed
                    || session.state() == State::Greeting;
                let start = sent.len();
                let n = session.poll_transmit(&mut sent);
                assert_eq!(n, sent.len() - start, "the count is what was appended");
                if quiet {
                    assert_eq!(n, 0, "nothing is sent now");
                }
                let out = &sent[start..];
                if !out.is_empty() {
                    for line in out.split_inclusive(|&b| b == b'\n') {
                        let line = line.strip_suffix(b"\r\n").expect("whole CRLF lines");
                        assert!(!line.contains(&b'\r') && !line.contains(&0), "{line:?}");
                    }
                }
                assert!(
                    session.in_flight() <= before_in_flight.max(session.window()),
                    "window respected"
                );
                sent.clear();
            }
            7 => session.tls_established(),
            8 => {
                let line = match script.byte() {
                    Some(b) if b & 1 == 0 => AuthLine::Cancel,
                    _ => AuthLine::Response(SaslResponse::encode(script.bytes(4))),
                };
                let _ = session.auth_respond(line);
            }
            _ => session.set_window(usize::from(script.byte().unwrap_or(0) % 8)),
        }
        if !matches!(op % 10, 0 | 1) {
            assert!(
                session.outstanding() <= before_outstanding,
                "grew without a submit"
            );
        }
        assert!(session.window() >= 1);
        assert!(session.in_flight() <= session.outstanding());
        assert_eq!(
            session.outstanding(),
            ledger.open.len(),
            "outstanding matches the ledger"
        );
        assert!(
            rank(session.state()) >= rank(before_state),
            "states only move forward"
        );
        assert!(
            session.progress() >= before_progress,
            "progress never goes back"
        );
    }
});

fn feed(session: &mut Session, ledger: &mut Ledger, input: &[u8]) {
    let was_closed = session.state() == State::Closed;
    let was_greeting = session.state() == State::Greeting;
    match session.handle_input(input) {
        Ok(()) => assert!(!ledger.poisoned, "a broken session stays broken"),
        Err(e) => {
            if ledger.poisoned {
                assert_eq!(e, ProtocolError::Poisoned);
            }
            ledger.poisoned = true;
        }
    }
    if was_closed {
        assert_eq!(session.state(), State::Closed);
    }
    while let Some(event) = session.poll_event() {
        if matches!(event, Event::Greeting(_)) {
            assert!(was_greeting, "a greeting only in the greeting state");
        }
        ledger.check_event(&event, session.state());
    }
    if was_greeting && session.state() != State::Greeting {
        assert!(ledger.greeted, "the greeting is reported");
    }
}
