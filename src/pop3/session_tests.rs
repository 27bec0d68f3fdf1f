//! Tests of the session state machine: every state, the pipelining
//! window, limits, STLS injection, AUTH exchanges, bare-LF servers and
//! the progress count, fed byte by byte and in pieces.

use super::*;
use crate::pop3::command::SaslResponse;
use crate::pop3::types::{Arg, MsgNum, Secret};

fn n(v: u32) -> MsgNum {
    MsgNum::new(v).unwrap()
}

fn transmit(session: &mut Session) -> String {
    let mut out = Vec::new();
    session.poll_transmit(&mut out);
    String::from_utf8(out).unwrap()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

/// A session past the greeting and logged in, with the given window.
fn logged_in(window: usize) -> Session {
    logged_in_with(Limits::default(), window)
}

fn logged_in_with(limits: Limits, window: usize) -> Session {
    let mut s = Session::new(limits);
    s.handle_input(b"+OK ready\r\n").unwrap();
    s.submit(Command::user("u").unwrap()).unwrap();
    assert_eq!(transmit(&mut s), "USER u\r\n");
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::pass(&Secret::new("p".into())).unwrap())
        .unwrap();
    assert_eq!(transmit(&mut s), "PASS p\r\n");
    s.handle_input(b"+OK logged in\r\n").unwrap();
    assert_eq!(s.state(), State::Transaction);
    events(&mut s);
    s.set_window(window);
    s
}

#[test]
fn nothing_is_sent_before_the_greeting() {
    let mut s = Session::new(Limits::default());
    s.submit(Command::Capa).unwrap();
    assert_eq!(transmit(&mut s), "");
    s.handle_input(b"+OK POP3 <1.2@host> ready\r\n").unwrap();
    assert_eq!(s.state(), State::Authorization);
    assert!(matches!(&events(&mut s)[..], [Event::Greeting(g)] if g.ok));
    assert_eq!(transmit(&mut s), "CAPA\r\n");
}

#[test]
fn err_greeting_closes_and_garbage_greeting_fails() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"-ERR too many connections\r\n").unwrap();
    assert_eq!(s.state(), State::Closed);
    let mut s = Session::new(Limits::default());
    assert!(matches!(
        s.handle_input(b"HTTP/1.1 400 Bad Request\r\n"),
        Err(ProtocolError::BadGreeting { .. })
    ));
    assert_eq!(s.handle_input(b"+OK\r\n"), Err(ProtocolError::Poisoned));
}

#[test]
fn commands_are_checked_against_the_state() {
    let mut s = Session::new(Limits::default());
    assert_eq!(
        s.submit(Command::Dele(n(1))),
        Err(UsageError::WrongState {
            command: "DELE",
            state: State::Greeting
        })
    );
    let mut s = logged_in(1);
    assert!(matches!(
        s.submit(Command::user("x").unwrap()),
        Err(UsageError::WrongState { .. })
    ));
    assert!(matches!(
        s.submit(Command::Stls),
        Err(UsageError::WrongState { .. })
    ));
    s.submit(Command::Quit).unwrap();
    assert_eq!(s.submit(Command::Stat), Err(UsageError::AfterQuit));
}

#[test]
fn window_one_sends_one_command_at_a_time() {
    let mut s = logged_in(1);
    for i in 1..=3 {
        s.submit(Command::Dele(n(i))).unwrap();
    }
    assert_eq!(transmit(&mut s), "DELE 1\r\n");
    assert_eq!(transmit(&mut s), "");
    s.handle_input(b"+OK\r\n").unwrap();
    assert_eq!(transmit(&mut s), "DELE 2\r\n");
    s.handle_input(b"+OK\r\n+OK\r\n").unwrap_err();
}

#[test]
fn pipelined_window_is_bounded_and_replies_match_in_order() {
    let mut s = logged_in(2);
    let ids: Vec<_> = (1..=5)
        .map(|i| {
            s.submit(Command::Top {
                msg: n(i),
                lines: 0,
            })
            .unwrap()
        })
        .collect();
    assert_eq!(transmit(&mut s), "TOP 1 0\r\nTOP 2 0\r\n");
    assert_eq!(s.in_flight(), 2);
    // Reply 1 arrives in two pieces, reply 2 with an error.
    s.handle_input(b"+OK\r\nSubject: one\r\n").unwrap();
    assert_eq!(transmit(&mut s), "");
    s.handle_input(b"\r\n.\r\n-ERR no such message\r\n")
        .unwrap();
    let got = events(&mut s);
    assert_eq!(got.len(), 2);
    assert!(
        matches!(&got[0], Event::Reply { id, status, reply: Reply::Message(b) }
        if *id == ids[0] && status.ok && b == b"Subject: one\r\n\r\n")
    );
    assert!(
        matches!(&got[1], Event::Refused { id, command: "TOP", status }
        if *id == ids[1] && !status.ok)
    );
    assert_eq!(transmit(&mut s), "TOP 3 0\r\nTOP 4 0\r\n");
}

#[test]
fn quit_waits_for_every_earlier_reply() {
    let mut s = logged_in(10);
    s.submit(Command::Dele(n(1))).unwrap();
    s.submit(Command::Quit).unwrap();
    assert_eq!(transmit(&mut s), "DELE 1\r\n");
    s.handle_input(b"+OK\r\n").unwrap();
    assert_eq!(transmit(&mut s), "QUIT\r\n");
    assert_eq!(s.state(), State::Update);
    s.handle_input(b"+OK bye\r\n").unwrap();
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn streamed_replies_arrive_as_data_chunks() {
    let mut s = logged_in(4);
    let id = s.submit_streamed(Command::Retr(n(1))).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK 20 octets\r\nabc\r\n..dot\r\n")
        .unwrap();
    s.handle_input(b"end\r\n.\r\n").unwrap();
    let got = events(&mut s);
    let mut data = Vec::new();
    for e in &got[..got.len() - 1] {
        match e {
            Event::Data { id: i, chunk } if *i == id => data.extend_from_slice(chunk),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(data, b"abc\r\n.dot\r\nend\r\n");
    assert!(
        matches!(got.last(), Some(Event::Reply { reply: Reply::Streamed, status, .. }) if status.ok)
    );
}

#[test]
fn oversize_reply_fails_alone_and_the_stream_goes_on() {
    let limits = Limits {
        max_message_bytes: 10,
        ..Limits::default()
    };
    let mut s = logged_in_with(limits, 5);
    let big = s.submit(Command::Retr(n(1))).unwrap();
    let small = s.submit(Command::Retr(n(2))).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n0123456789abcdef\r\n.\r\n+OK\r\nhi\r\n.\r\n")
        .unwrap();
    let got = events(&mut s);
    assert_eq!(
        got[0],
        Event::ReplyFailed {
            id: big,
            error: ReplyError::TooLarge {
                command: "RETR",
                max_bytes: 10
            }
        }
    );
    assert!(
        matches!(&got[1], Event::Reply { id, reply: Reply::Message(b), .. } if *id == small && b == b"hi\r\n")
    );
}

#[test]
fn top_has_its_own_small_cap() {
    let limits = Limits {
        max_top_bytes: 8,
        ..Limits::default()
    };
    let mut s = logged_in_with(limits, 4);
    let top = s
        .submit(Command::Top {
            msg: n(1),
            lines: 0,
        })
        .unwrap();
    let retr = s.submit(Command::Retr(n(1))).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\nSubject: far too long\r\n.\r\n+OK\r\nSubject: far too long\r\n.\r\n")
        .unwrap();
    let got = events(&mut s);
    assert_eq!(
        got[0],
        Event::ReplyFailed {
            id: top,
            error: ReplyError::TooLarge {
                command: "TOP",
                max_bytes: 8
            }
        }
    );
    assert!(
        matches!(&got[1], Event::Reply { id, .. } if *id == retr),
        "RETR has the message cap"
    );
}

#[test]
fn overlong_status_line_is_skipped() {
    let mut s = logged_in(4);
    let stat = s.submit(Command::Stat).unwrap();
    let noop = s.submit(Command::Noop).unwrap();
    transmit(&mut s);
    let mut long = b"+OK ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 10_000));
    long.extend_from_slice(b"\r\n+OK\r\n");
    s.handle_input(&long).unwrap();
    let got = events(&mut s);
    assert_eq!(
        got[0],
        Event::ReplyFailed {
            id: stat,
            error: ReplyError::StatusLineTooLong { max_bytes: 4096 }
        }
    );
    assert!(matches!(&got[1], Event::Reply { id, .. } if *id == noop));
}

#[test]
fn unsolicited_data_poisons_the_session() {
    let mut s = logged_in(1);
    assert!(matches!(
        s.handle_input(b"+OK surprise\r\n"),
        Err(ProtocolError::Unsolicited { .. })
    ));
    let mut out = Vec::new();
    s.submit(Command::Noop).unwrap();
    assert_eq!(s.poll_transmit(&mut out), 0);
}

#[test]
fn garbage_status_line_is_a_protocol_error() {
    let mut s = logged_in(1);
    s.submit(Command::Stat).unwrap();
    transmit(&mut s);
    assert!(matches!(
        s.handle_input(b"* OK IMAP4 ready\r\n"),
        Err(ProtocolError::BadStatus(_))
    ));
}

#[test]
fn stls_then_injected_data_is_refused() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::Stls).unwrap();
    s.submit(Command::Capa).unwrap();
    assert_eq!(transmit(&mut s), "STLS\r\n");
    // The +OK and a forged reply arrive in the same clear-text packet.
    assert_eq!(
        s.handle_input(b"+OK begin TLS\r\n+OK\r\nSASL PLAIN\r\n.\r\n"),
        Err(ProtocolError::DataAfterStls)
    );

    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::Stls).unwrap();
    s.submit(Command::Capa).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK begin TLS\r\n").unwrap();
    assert!(s.awaiting_tls());
    assert_eq!(transmit(&mut s), "", "nothing is sent until TLS is up");
    s.tls_established();
    assert_eq!(transmit(&mut s), "CAPA\r\n");
    assert_eq!(s.submit(Command::Stls), Err(UsageError::StlsAgain));
}

#[test]
fn auth_exchange_with_continuations() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK\r\n").unwrap();
    let id = s
        .submit(Command::Auth {
            mechanism: Arg::new("LOGIN").unwrap(),
            initial_response: None,
        })
        .unwrap();
    s.submit(Command::Capa).unwrap();
    assert_eq!(transmit(&mut s), "AUTH LOGIN\r\n");
    s.handle_input(b"+ VXNlcm5hbWU6\r\n").unwrap();
    events(&mut s);
    assert_eq!(
        s.auth_respond(AuthLine::Response(SaslResponse::encode(b"u"))),
        Ok(())
    );
    assert_eq!(
        s.auth_respond(AuthLine::Cancel),
        Err(UsageError::NoChallenge),
        "one answer per challenge"
    );
    assert_eq!(
        transmit(&mut s),
        "dQ==\r\n",
        "AUTH is a barrier: CAPA waits"
    );
    s.handle_input(b"+ UGFzc3dvcmQ6\r\n").unwrap();
    let got = events(&mut s);
    assert!(
        matches!(&got[..], [Event::Continuation { id: i, challenge }]
        if *i == id && challenge == "UGFzc3dvcmQ6")
    );
    s.auth_respond(AuthLine::Response(SaslResponse::encode(b"p")))
        .unwrap();
    assert_eq!(transmit(&mut s), "cA==\r\n");
    s.handle_input(b"+OK welcome\r\n").unwrap();
    assert_eq!(s.state(), State::Transaction);
    assert_eq!(transmit(&mut s), "CAPA\r\n");
}

#[test]
fn failed_login_stays_in_authorization() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::user("u").unwrap()).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::pass(&Secret::new("bad".into())).unwrap())
        .unwrap();
    transmit(&mut s);
    s.handle_input(b"-ERR [AUTH] invalid password\r\n").unwrap();
    assert_eq!(s.state(), State::Authorization);
    let got = events(&mut s);
    assert!(
        matches!(got.last(), Some(Event::Refused { command: "PASS", status, .. })
        if status.code == Some(crate::pop3::RespCode::Auth))
    );
}

#[test]
fn bare_lf_greeting_means_bare_lf_bodies() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK old server ready\n").unwrap();
    assert!(s.bare_lf());
    s.submit(Command::user("u").unwrap()).unwrap();
    s.submit(Command::pass(&Secret::new("p".into())).unwrap())
        .unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\n").unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK in\n").unwrap();
    let uidl = s.submit(Command::Uidl(None)).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\n1 a\n2 b\n.\n").unwrap();
    let got = events(&mut s);
    assert!(
        matches!(got.last(), Some(Event::Reply { id, reply: Reply::Uidl(l), .. })
            if *id == uidl && l.entries.len() == 2 && l.entries[1].1.as_str() == "b"),
        "{got:?}"
    );
    // A CRLF server keeps the strict rule: ".\n" is content there.
    let mut s = logged_in(1);
    assert!(!s.bare_lf());
    s.submit(Command::Uidl(None)).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n1 a\n.\n").unwrap();
    assert_eq!(s.outstanding(), 1, "still waiting for CRLF.CRLF");
}

#[test]
fn endless_replies_are_not_progress() {
    let limits = Limits {
        max_listing_bytes: 100,
        endless_reply_bytes: 1_000_000,
        ..Limits::default()
    };
    let mut s = logged_in_with(limits, 1);
    s.submit(Command::Uidl(None)).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n").unwrap();
    let start = s.progress();
    // Past its cap, a listing is read and dropped; that is progress while
    // it could still be a real reply (a server ignoring TOP's line count
    // sends a whole message), and none once it is endless.
    let line = b"12345 some-unique-id-that-goes-on\r\n".repeat(10_000);
    s.handle_input(&line[..300_000]).unwrap();
    let skipping = s.progress();
    assert!(skipping > start, "skipping a long reply is progress");
    for _ in 0..10 {
        s.handle_input(&line).unwrap();
    }
    let endless = s.progress();
    for _ in 0..10 {
        s.handle_input(&line).unwrap();
    }
    assert_eq!(s.progress(), endless, "an endless reply is not");
    assert!(
        endless <= start + 1_000_000 / (64 * 1024) + 1,
        "counted up to the limit only"
    );
    s.handle_input(b".\r\n").unwrap();
    assert!(s.progress() > start, "the failed reply ended");
    // A big message within its cap is progress as it streams.
    s.submit_streamed(Command::Retr(n(1))).unwrap();
    transmit(&mut s);
    let before = s.progress();
    s.handle_input(b"+OK\r\n").unwrap();
    s.handle_input(&vec![b'x'; 200 * 1024]).unwrap();
    assert!(s.progress() >= before + 3);
}

#[test]
fn byte_at_a_time_input_gives_the_same_events() {
    let wire: &[u8] =
        b"+OK 2 9\r\n+OK\r\n1 abc\r\n2 def\r\n.\r\n+OK\r\nx\r\n..y\r\n.\r\n-ERR [SYS/TEMP] x\r\n";
    let run = |step: usize| {
        let mut s = logged_in(8);
        s.submit(Command::Stat).unwrap();
        s.submit(Command::Uidl(None)).unwrap();
        s.submit(Command::Retr(n(1))).unwrap();
        s.submit(Command::Retr(n(2))).unwrap();
        assert_eq!(transmit(&mut s), "STAT\r\nUIDL\r\nRETR 1\r\nRETR 2\r\n");
        for piece in wire.chunks(step) {
            s.handle_input(piece).unwrap();
        }
        assert_eq!(s.outstanding(), 0);
        events(&mut s)
    };
    let whole = run(wire.len());
    assert_eq!(whole.len(), 4, "{whole:?}");
    assert!(
        matches!(&whole[2], Event::Reply { reply: Reply::Message(b), .. } if b == b"x\r\n.y\r\n")
    );
    for step in 1..8 {
        assert_eq!(run(step), whole, "step {step}");
    }
}

#[test]
fn a_forged_bare_lf_greeting_cannot_split_messages_after_stls() {
    // The clear-text greeting ends in a bare LF (rewritten on the path);
    // the server speaks CRLF over TLS. A message holding "\n.\r\n" must
    // not end early and forge the next reply.
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK ready\n").unwrap();
    assert!(s.bare_lf());
    s.submit(Command::Stls).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK begin TLS\n").unwrap();
    s.tls_established();
    s.submit(Command::Capa).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\nUSER\r\n.\r\n").unwrap();
    assert!(!s.bare_lf(), "learned again over TLS");
    s.submit(Command::user("u").unwrap()).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::pass(&Secret::new("p".into())).unwrap())
        .unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\n").unwrap();
    events(&mut s);
    s.set_window(4);
    let first = s.submit(Command::Retr(n(1))).unwrap();
    let second = s.submit(Command::Retr(n(2))).unwrap();
    transmit(&mut s);
    let message = b"Subject: one\r\n\r\nx\n.\r\n+OK\r\nSubject: forged\r\n\r\n";
    let mut wire = b"+OK\r\n".to_vec();
    wire.extend_from_slice(message);
    wire.extend_from_slice(b".\r\n+OK\r\nSubject: two\r\n\r\n.\r\n");
    s.handle_input(&wire).unwrap();
    let got = events(&mut s);
    assert!(
        matches!(&got[0], Event::Reply { id, reply: Reply::Message(b), .. } if *id == first && b == message),
        "{got:?}"
    );
    assert!(
        matches!(&got[1], Event::Reply { id, reply: Reply::Message(b), .. } if *id == second && b == b"Subject: two\r\n\r\n"),
        "{got:?}"
    );
}

#[test]
fn one_crlf_status_line_restores_strict_framing() {
    let mut s = Session::new(Limits::default());
    s.handle_input(b"+OK ready\n").unwrap();
    assert!(s.bare_lf());
    s.submit(Command::Capa).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK\r\nUSER\r\n.\r\n").unwrap();
    assert!(!s.bare_lf());
}

#[test]
fn replies_come_parsed_for_their_command() {
    let mut s = logged_in(8);
    let stat = s.submit(Command::Stat).unwrap();
    let list = s.submit_streamed(Command::List(None)).unwrap();
    let one = s.submit(Command::Uidl(Some(n(2)))).unwrap();
    let capa = s.submit(Command::Capa).unwrap();
    let dele = s.submit(Command::Dele(n(1))).unwrap();
    transmit(&mut s);
    // The listing arrives cut in the middle of a line.
    s.handle_input(b"+OK 2 320\r\n+OK 2 messages\r\n1 12")
        .unwrap();
    s.handle_input(b"0\r\n\r\n2 200 extra\r\n.\r\n+OK 2 QhdPYR:00\r\n")
        .unwrap();
    s.handle_input(b"+OK\r\nPIPELINING\r\nSASL PLAIN\r\n.\r\n+OK marked\r\n")
        .unwrap();
    let got = events(&mut s);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        matches!(&got[0], Event::Reply { id, reply: Reply::Stat { count: 2, size_bytes: 320 }, .. } if *id == stat)
    );
    assert!(
        matches!(&got[1], Event::Reply { id, reply: Reply::Scan(sizes), .. }
            if *id == list && *sizes == [(n(1), 120), (n(2), 200)]),
        "{:?}",
        got[1]
    );
    assert!(
        matches!(&got[2], Event::Reply { id, reply: Reply::UidLine(m, u), .. }
            if *id == one && *m == n(2) && u.as_str() == "QhdPYR:00")
    );
    assert!(
        matches!(&got[3], Event::Reply { id, reply: Reply::Capabilities(c), .. }
            if *id == capa && c.pipelining && c.supports_sasl("PLAIN"))
    );
    assert!(matches!(&got[4], Event::Reply { id, reply: Reply::Done, .. } if *id == dele));
}

#[test]
fn a_reply_that_does_not_read_as_its_commands_fails_alone() {
    let mut s = logged_in(8);
    let stat = s.submit(Command::Stat).unwrap();
    let list = s.submit(Command::List(None)).unwrap();
    let noop = s.submit(Command::Noop).unwrap();
    transmit(&mut s);
    s.handle_input(b"+OK lots\r\n+OK\r\n1 100\r\nbroken\r\n2 5\r\n.\r\n+OK\r\n")
        .unwrap();
    let got = events(&mut s);
    assert!(
        matches!(&got[0], Event::ReplyFailed { id, error: ReplyError::Malformed(_) } if *id == stat),
        "{got:?}"
    );
    assert!(
        matches!(&got[1], Event::ReplyFailed { id, error: ReplyError::Malformed(_) } if *id == list),
        "{got:?}"
    );
    assert!(matches!(&got[2], Event::Reply { id, .. } if *id == noop));
    assert_eq!(s.outstanding(), 0);
}
