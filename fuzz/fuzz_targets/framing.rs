//! Multi-line framing and reply parsing, fed arbitrary server bytes.
//!
//! The framer is private to the crate, so it is driven the way the net driver
//! drives it: through `Session`, logged in with a scripted USER/PASS, with a
//! fuzz-chosen mix of single- and multi-line commands all in flight at once
//! (so every reply in the input has a command waiting for it). The same
//! server bytes are fed whole and then cut at fuzz-chosen points; every
//! split must give the same events, the same error and the same end state.
//! Each reply must come parsed as its command's kind; the raw input, whole
//! and split into lines, also goes through the public parsers in
//! `pop3::reply`.
//!
//! Input layout: `[limits] [shape: n, bare LF] [n command selectors] [k]
//! [k split points as u16] server bytes...`; missing header bytes count as
//! zero.

#![no_main]

use letterbox::pop3::reply::{
    BadStatus, apop_timestamp, escape_controls, parse_capabilities, parse_scan_line,
    parse_scan_listing, parse_stat, parse_status_line, parse_uidl_line, parse_uidl_listing,
};
use letterbox::pop3::{
    Command, CommandId, Event, Limits, MsgNum, ProtocolError, Reply, Secret, Session, State,
    StatusLine,
};
use libfuzzer_sys::fuzz_target;

/// Takes bytes off the front of the input; zero once it runs dry.
struct Header<'a>(&'a [u8]);

impl Header<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
}

fn msg(n: u32) -> MsgNum {
    MsgNum::new(n).expect("non-zero")
}

/// The commands the fuzzer chooses from, and whether the body is streamed.
fn command(selector: u8) -> (Command, bool) {
    let n = msg(u32::from(selector >> 4) + 1);
    match selector % 11 {
        0 => (Command::Stat, false),
        1 => (Command::List(None), false),
        2 => (Command::List(Some(n)), false),
        3 => (Command::Uidl(None), false),
        4 => (Command::Uidl(Some(n)), false),
        5 => (
            Command::Top {
                msg: n,
                lines: u32::from(selector >> 4),
            },
            false,
        ),
        6 => (Command::Retr(n), false),
        7 => (Command::Retr(n), true),
        8 => (Command::Capa, false),
        9 => (Command::Noop, false),
        _ => (Command::Dele(n), false),
    }
}

fn limits(selector: u8) -> Limits {
    if selector & 1 == 0 {
        return Limits::default();
    }
    // Small caps, so that oversize replies and over-long status lines
    // (and the skipping after them) are reached often.
    let small = u64::from(selector >> 1) + 1;
    Limits {
        // Room for the scripted login's lines ("+OK ready\r\n").
        max_status_line_bytes: (selector >> 1) as usize + 12,
        max_capa_bytes: small * 4,
        max_listing_bytes: small * 8,
        max_message_bytes: small * 16,
        max_top_bytes: small * 2,
        endless_reply_bytes: small * 32,
    }
}

/// A logged-in session with every command sent.
fn session(
    limits: &Limits,
    bare_lf: bool,
    commands: &[(Command, bool)],
) -> (Session, Vec<CommandId>) {
    let mut s = Session::new(limits.clone());
    let mut out = Vec::new();
    let eol: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
    s.handle_input(&[b"+OK ready", eol].concat())
        .expect("greeting");
    assert_eq!(s.bare_lf(), bare_lf);
    s.submit(Command::user("u").expect("user")).expect("USER");
    s.poll_transmit(&mut out);
    s.handle_input(&[b"+OK", eol].concat()).expect("USER reply");
    s.submit(Command::pass(&Secret::new("p".into())).expect("pass"))
        .expect("PASS");
    s.poll_transmit(&mut out);
    s.handle_input(&[b"+OK", eol].concat()).expect("PASS reply");
    assert_eq!(s.state(), State::Transaction);
    while s.poll_event().is_some() {}
    s.set_window(commands.len());
    let ids = commands
        .iter()
        .map(|(c, streamed)| {
            if *streamed {
                s.submit_streamed(c.clone())
            } else {
                s.submit(c.clone())
            }
            .expect("allowed in Transaction")
        })
        .collect();
    s.poll_transmit(&mut out);
    assert_eq!(s.in_flight(), commands.len(), "all commands are in flight");
    (s, ids)
}

/// What a run produced, with streamed chunks merged (their boundaries
/// depend on how the input was cut and carry no meaning).
#[derive(Debug)]
struct Outcome {
    events: Vec<Event>,
    error: Option<ProtocolError>,
    state: State,
    outstanding: usize,
    open_data: Vec<u8>,
}

fn run(limits: &Limits, bare_lf: bool, commands: &[(Command, bool)], pieces: &[&[u8]]) -> Outcome {
    let (mut s, ids) = session(limits, bare_lf, commands);
    let mut error = None;
    let mut events: Vec<Event> = Vec::new();
    for piece in pieces {
        match s.handle_input(piece) {
            Ok(()) => {}
            Err(e) if error.is_none() => error = Some(e),
            Err(e) => assert_eq!(e, ProtocolError::Poisoned, "a broken session stays broken"),
        }
        while let Some(event) = s.poll_event() {
            if let (
                Some(Event::Data {
                    id: last,
                    chunk: merged,
                }),
                Event::Data { id, chunk },
            ) = (events.last_mut(), &event)
                && last == id
            {
                merged.extend_from_slice(chunk);
                continue;
            }
            // A streamed reply that breaks its cap may have passed on some
            // data first; how much depends on the cut, and the consumer
            // throws it away on ReplyFailed. Only its size is checked.
            if let Event::ReplyFailed { id, .. } = &event
                && let Some(Event::Data { id: data_id, chunk }) = events.last()
                && data_id == id
            {
                let cap = usize::try_from(limits.max_message_bytes).unwrap_or(usize::MAX);
                assert!(chunk.len() <= cap, "streamed past the cap");
                events.pop();
            }
            events.push(event);
        }
    }
    check_events(commands, &ids, &events);
    // An error shows the start of what was buffered when it was found
    // (80 bytes at most), and how much that was depends on the cut; which
    // error it is does not.
    match &mut error {
        Some(ProtocolError::Unsolicited { shown })
        | Some(ProtocolError::BadGreeting { shown })
        | Some(ProtocolError::BadStatus(BadStatus { shown })) => shown.clear(),
        _ => {}
    }
    // Data of a streamed reply still open at the end: if it is already
    // over its cap, how much came before the cap was seen depends on the
    // cut (as above), so it is compared apart, in `same`.
    let open_data = match events.last() {
        Some(Event::Data { .. }) => match events.pop() {
            Some(Event::Data { chunk, .. }) => chunk,
            _ => unreachable!(),
        },
        _ => Vec::new(),
    };
    Outcome {
        events,
        error,
        state: s.state(),
        outstanding: s.outstanding(),
        open_data,
    }
}

/// Two runs agree: the same outcome, and the data of a reply still open
/// at the end is the same or, past the cap, one is the start of the other.
fn same(a: &Outcome, b: &Outcome, limits: &Limits, what: &str) {
    let (a_data, b_data) = (&a.open_data, &b.open_data);
    assert_eq!(a.events, b.events, "{what}");
    assert_eq!(a.error, b.error, "{what}");
    assert_eq!((a.state, a.outstanding), (b.state, b.outstanding), "{what}");
    if a_data != b_data {
        let cap = usize::try_from(limits.max_message_bytes).unwrap_or(usize::MAX);
        let (short, long) = if a_data.len() < b_data.len() {
            (a_data, b_data)
        } else {
            (b_data, a_data)
        };
        assert!(long.starts_with(short), "{what}: open data differs");
        assert!(long.len() <= cap, "{what}: streamed past the cap");
    }
}

/// Replies come in the order the commands were sent, each exactly once;
/// data only for streamed commands, each reply parsed for its command.
fn check_events(commands: &[(Command, bool)], ids: &[CommandId], events: &[Event]) {
    let mut next = 0;
    for event in events {
        match event {
            Event::Greeting(_) | Event::Continuation { .. } => {
                panic!("no greeting or AUTH here: {event:?}")
            }
            Event::Data { id, chunk } => {
                assert_eq!(
                    Some(id),
                    ids.get(next),
                    "data for the command being answered"
                );
                assert!(commands[next].1, "data only for a streamed command");
                assert!(!chunk.is_empty(), "no empty data events");
            }
            Event::Reply { id, status, reply } => {
                assert_eq!(Some(id), ids.get(next), "replies in order");
                assert!(status.ok, "a reply event is a +OK");
                let (command, streamed) = &commands[next];
                check_reply(command, *streamed, reply);
                next += 1;
            }
            Event::Refused {
                id,
                command,
                status,
            } => {
                assert_eq!(Some(id), ids.get(next), "refusals in order");
                assert!(!status.ok, "a refusal is a -ERR");
                assert_eq!(*command, commands[next].0.keyword());
                next += 1;
            }
            Event::ReplyFailed { id, .. } => {
                assert_eq!(Some(id), ids.get(next), "failures in order");
                next += 1;
            }
        }
    }
}

/// Each +OK carries the kind of reply its command has, parsed.
fn check_reply(command: &Command, streamed: bool, reply: &Reply) {
    match (command, reply) {
        (Command::Stat, Reply::Stat { .. })
        | (Command::List(Some(_)), Reply::ScanLine(..))
        | (Command::Uidl(Some(_)), Reply::UidLine(..))
        | (Command::Noop | Command::Dele(_), Reply::Done) => {}
        (Command::List(None), Reply::Scan(sizes)) => {
            assert!(sizes.iter().all(|(n, _)| n.get() > 0));
        }
        (Command::Uidl(None), Reply::Uidl(listing)) => {
            for shown in &listing.skipped {
                assert_safe_to_show(shown);
            }
            for (_, uidl) in &listing.entries {
                assert!(uidl.as_str().bytes().all(|b| (0x21..=0x7e).contains(&b)));
            }
        }
        (Command::Capa, Reply::Capabilities(caps)) => {
            assert!(
                caps.sasl
                    .iter()
                    .all(|m| !m.chars().any(|c| c.is_ascii_lowercase()))
            );
        }
        (Command::Top { .. } | Command::Retr(_), Reply::Message(_)) => assert!(!streamed),
        (Command::Top { .. } | Command::Retr(_), Reply::Streamed) => assert!(streamed),
        (command, reply) => panic!("{command:?} answered with {reply:?}"),
    }
}

/// The whole-body parsers agree with what the session built as the
/// listing streamed in.
fn parse_bodies(data: &[u8]) {
    if let Ok(listing) = parse_scan_listing(data) {
        assert!(listing.len() <= data.len() / 3);
    }
    let listing = parse_uidl_listing(data);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(listing.entries.len() + listing.skipped.len() <= lines);
    for shown in &listing.skipped {
        assert_safe_to_show(shown);
    }
}

/// Server text on its way to a terminal or log carries no control
/// characters and no bidirectional overrides (they would be escapes).
fn assert_safe_to_show(shown: &str) {
    assert!(
        !shown.chars().any(|c| c.is_control() || is_bidi_override(c)),
        "{shown:?}"
    );
}

fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The public parsers on each raw line of the input.
fn parse_lines(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for continuation in [false, true] {
            match parse_status_line(line, continuation) {
                Ok(StatusLine::Status(status)) => {
                    assert!(line.len() >= 3);
                    assert_eq!(status.ok, line[0] == b'+');
                    let _ = parse_stat(&status);
                    if let Some(stamp) = apop_timestamp(&status.text) {
                        assert!(stamp.starts_with('<') && stamp.ends_with('>'));
                        assert!(status.text.contains(&stamp));
                    }
                }
                Ok(StatusLine::Continuation(_)) => assert!(continuation),
                Err(_) => {}
            }
        }
        if let Ok((_, size)) = parse_scan_line(line) {
            assert!(line.len() > size.to_string().len());
        }
        if let Ok((_, uidl)) = parse_uidl_line(line) {
            assert!(uidl.as_str().bytes().all(|b| (0x21..=0x7e).contains(&b)));
        }
        let text = String::from_utf8_lossy(line);
        if let Some(stamp) = apop_timestamp(&text) {
            assert!(text.contains(&stamp));
        }
        let shown = escape_controls(&text);
        assert_safe_to_show(&shown);
        if !text.chars().any(|c| c.is_control() || is_bidi_override(c)) {
            assert_eq!(shown, text, "harmless text is shown as it is");
        }
    }
    let _ = parse_capabilities(data);
    parse_bodies(data);
}

fuzz_target!(|data: &[u8]| {
    let mut header = Header(data);
    let limits = limits(header.byte());
    let shape = header.byte();
    let count = usize::from(shape % 12) + 1;
    // A server that ends lines in a bare LF (its greeting shows it) is
    // framed differently.
    let bare_lf = shape & 0x80 != 0;
    let commands: Vec<(Command, bool)> = (0..count).map(|_| command(header.byte())).collect();
    let cuts = usize::from(header.byte() % 16);
    let mut points: Vec<usize> = (0..cuts).map(|_| usize::from(header.u16())).collect();
    let wire = header.0;
    for p in &mut points {
        *p %= wire.len() + 1;
    }
    points.sort_unstable();
    points.push(wire.len());

    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for &end in &points {
        pieces.push(&wire[start..end]);
        start = end;
    }

    let whole = run(&limits, bare_lf, &commands, &[wire]);
    let split = run(&limits, bare_lf, &commands, &pieces);
    same(&whole, &split, &limits, &format!("cut at {points:?}"));
    // One byte at a time is the worst case for a framer; keep it for short inputs.
    if wire.len() <= 256 {
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        same(
            &whole,
            &run(&limits, bare_lf, &commands, &bytes),
            &limits,
            "byte at a time",
        );
    }
    parse_lines(wire);
});
