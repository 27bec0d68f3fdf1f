//! Properties that must hold for every input, checked on random ones
//! (proptest): the framer gives the same replies however the server's bytes
//! are cut, dot-stuffing round-trips through the session, the preview
//! builder never panics and keeps to its line count, and the settings
//! loader never panics and reads back what it saves. The coverage-guided
//! fuzz targets in `fuzz/` check the same with far more inputs; these keep
//! the properties in the normal suite. Few cases each, so they stay fast.

use std::cell::Cell;
use std::sync::Once;

use letterbox::mail::Preview;
use letterbox::pop3::LineStarts::AfterCrlf;
use letterbox::pop3::{Command, Event, Limits, MsgNum, Reply, Secret, Session, State, dot_stuff};
use letterbox::settings::Settings;
use proptest::prelude::*;

thread_local! {
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` and fails if anything in it panicked, even a panic it caught
/// itself: `Preview::from_bytes` catches panics in its parsing (one bad
/// message must not fail a whole check), so without this a crash there
/// would pass unnoticed. A panic hook, installed once, counts panics per
/// thread and then reports them as before.
pub(crate) fn without_panics<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.set(p.get() + 1));
            previous(info);
        }));
    });
    let before = PANICS.with(Cell::get);
    let value = f();
    assert_eq!(
        PANICS.with(Cell::get),
        before,
        "panicked inside (see the message above)"
    );
    value
}

/// One command of a pipelined batch and the reply the server sends to it.
#[derive(Clone, Debug)]
enum Exchange {
    /// A single-line command (STAT, DELE, NOOP…) and its status line text.
    Single { ok: bool, text: String },
    /// RETR, collected or streamed, answered with this body.
    Retr { streamed: bool, body: Vec<u8> },
    /// RETR refused with `-ERR`.
    RetrRefused,
}

fn msg(n: u32) -> MsgNum {
    MsgNum::new(n).unwrap()
}

/// A logged-in session with a window wide enough for `commands`, all sent.
fn session_with(commands: &[(Command, bool)]) -> Session {
    let mut s = Session::new(Limits::default());
    let mut out = Vec::new();
    s.handle_input(b"+OK ready\r\n").unwrap();
    s.submit(Command::user("u").unwrap()).unwrap();
    s.poll_transmit(&mut out);
    s.handle_input(b"+OK\r\n").unwrap();
    s.submit(Command::pass(&Secret::new("p".into())).unwrap())
        .unwrap();
    s.poll_transmit(&mut out);
    s.handle_input(b"+OK\r\n").unwrap();
    assert_eq!(s.state(), State::Transaction);
    while s.poll_event().is_some() {}
    s.set_window(commands.len().max(1));
    for (command, streamed) in commands {
        if *streamed {
            s.submit_streamed(command.clone()).unwrap();
        } else {
            s.submit(command.clone()).unwrap();
        }
    }
    s.poll_transmit(&mut out);
    assert_eq!(s.in_flight(), commands.len());
    s
}

/// Feeds `wire` cut at `cuts` (sorted offsets) and returns the events, with
/// the data chunks of a streamed reply merged: where they are cut carries
/// no meaning.
fn feed(commands: &[(Command, bool)], wire: &[u8], cuts: &[usize]) -> Vec<Event> {
    let mut s = session_with(commands);
    let mut events: Vec<Event> = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([&wire.len()]) {
        s.handle_input(&wire[start..end]).unwrap();
        start = end;
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
            events.push(event);
        }
    }
    assert_eq!(s.outstanding(), 0, "every reply was read");
    events
}

fn cut_points(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// Bytes that make framing interesting: dots, CR, LF, and the terminator.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b".".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"..".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// A body as a message is stored: it ends in CRLF (or is empty).
fn message_body() -> impl Strategy<Value = Vec<u8>> {
    body_bytes().prop_map(|mut body| {
        if !body.is_empty() && !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body
    })
}

fn exchange() -> impl Strategy<Value = Exchange> {
    prop_oneof![
        (any::<bool>(), "[a-zA-Z0-9 ]{0,20}").prop_map(|(ok, text)| Exchange::Single { ok, text }),
        (any::<bool>(), message_body())
            .prop_map(|(streamed, body)| Exchange::Retr { streamed, body }),
        Just(Exchange::RetrRefused),
    ]
}

/// The commands of a batch and the server's bytes answering them.
fn batch(exchanges: &[Exchange]) -> (Vec<(Command, bool)>, Vec<u8>) {
    let mut commands = Vec::new();
    let mut wire = Vec::new();
    for (i, exchange) in exchanges.iter().enumerate() {
        let n = msg(i as u32 + 1);
        match exchange {
            Exchange::Single { ok, text } => {
                commands.push((Command::Dele(n), false));
                wire.extend_from_slice(if *ok { b"+OK " } else { b"-ERR " });
                wire.extend_from_slice(text.as_bytes());
                wire.extend_from_slice(b"\r\n");
            }
            Exchange::Retr { streamed, body } => {
                commands.push((Command::Retr(n), *streamed));
                wire.extend_from_slice(b"+OK message follows\r\n");
                wire.extend_from_slice(&dot_stuff(body, AfterCrlf));
            }
            Exchange::RetrRefused => {
                commands.push((Command::Retr(n), false));
                wire.extend_from_slice(b"-ERR no such message\r\n");
            }
        }
    }
    (commands, wire)
}

/// The body each reply must carry: collected, or streamed as data.
fn bodies(events: &[Event]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut streamed: Option<Vec<u8>> = None;
    for event in events {
        match event {
            Event::Data { chunk, .. } => streamed
                .get_or_insert_with(Vec::new)
                .extend_from_slice(chunk),
            Event::Reply { reply, .. } => out.push(match reply {
                Reply::Message(body) => Some(body.clone()),
                _ => streamed.take(),
            }),
            Event::Refused { .. } => out.push(streamed.take()),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn framing_is_the_same_for_every_split(
        exchanges in proptest::collection::vec(exchange(), 1..8),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (commands, wire) = batch(&exchanges);
        let whole = feed(&commands, &wire, &[]);
        let split = feed(&commands, &wire, &cut_points(wire.len(), &raw_cuts));
        prop_assert_eq!(&split, &whole);
        let bytewise: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(&feed(&commands, &wire, &bytewise), &whole);

        // And the replies are the ones sent.
        let got = bodies(&whole);
        prop_assert_eq!(got.len(), exchanges.len());
        for (exchange, body) in exchanges.iter().zip(&got) {
            match exchange {
                Exchange::Retr { body: sent, streamed } => {
                    if *streamed && sent.is_empty() {
                        // An empty streamed body sends no data at all.
                        prop_assert_eq!(body, &None);
                    } else {
                        prop_assert_eq!(body.as_deref(), Some(&sent[..]));
                    }
                }
                _ => prop_assert_eq!(body, &None),
            }
        }
        let statuses: Vec<(bool, &str)> = whole
            .iter()
            .filter_map(|e| match e {
                Event::Reply { status, .. } | Event::Refused { status, .. } => {
                    Some((status.ok, status.text.as_str()))
                }
                _ => None,
            })
            .collect();
        for (exchange, (ok, text)) in exchanges.iter().zip(statuses) {
            match exchange {
                Exchange::Single { ok: sent_ok, text: sent } => {
                    prop_assert_eq!(ok, *sent_ok);
                    prop_assert_eq!(text, sent.trim());
                }
                Exchange::Retr { .. } => prop_assert!(ok),
                Exchange::RetrRefused => prop_assert!(!ok),
            }
        }
    }

    #[test]
    fn dot_stuffing_round_trips(
        body in message_body(),
        streamed in any::<bool>(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let stuffed = dot_stuff(&body, AfterCrlf);
        prop_assert!(stuffed.ends_with(b".\r\n"));
        let mut wire = b"+OK\r\n".to_vec();
        wire.extend_from_slice(&stuffed);
        let commands = [(Command::Retr(msg(1)), streamed)];
        let events = feed(&commands, &wire, &cut_points(wire.len(), &raw_cuts));
        let got = bodies(&events);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].clone().unwrap_or_default(), body);
    }

    #[test]
    fn preview_never_panics_and_keeps_to_its_lines(
        pieces in proptest::collection::vec(mail_piece(), 0..40),
        lines in 0usize..12,
    ) {
        let raw = pieces.concat();
        let preview = without_panics(|| Preview::from_bytes(&raw, lines));
        let count = if preview.text.is_empty() { 0 } else { preview.text.split('\n').count() };
        prop_assert!(count <= lines, "{} lines, {} allowed: {:?}", count, lines, preview.text);
        let reorders = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        for field in [&preview.from, &preview.to, &preview.subject, &preview.date] {
            prop_assert!(!field.chars().any(|c| c.is_control() || reorders(c)), "{:?}", field);
        }
        prop_assert!(
            !preview.text.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || reorders(c)),
            "{:?}",
            preview.text
        );
    }

    #[test]
    fn settings_never_panic_and_read_back_what_they_save(
        pieces in proptest::collection::vec(settings_piece(), 0..30),
    ) {
        let text = pieces.concat();
        let (settings, _) = without_panics(|| Settings::parse(&text));
        let saved = settings.to_toml();
        let (again, notices) = Settings::parse(&saved);
        prop_assert!(notices.is_empty(), "{:?}\n{}", notices, saved);
        prop_assert_eq!(again, settings);
    }
}

/// Fragments of MIME messages: headers, boundaries, encodings, charsets,
/// HTML with entities, non-ASCII text, and arbitrary bytes.
fn mail_piece() -> impl Strategy<Value = Vec<u8>> {
    const FRAGMENTS: &[&[u8]] = &[
        b"From: =?UTF-8?Q?J=C3=B6rg?= <j@example.de>\r\n",
        b"Subject: =?iso-8859-1?B?R3L8w58=?=\r\n",
        b"Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n",
        b"Content-Type: multipart/alternative; boundary=b\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n",
        b"Content-Type: text/plain; charset=koi8-r\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename=a.pdf\r\n",
        b"\r\n",
        b"\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"<p>",
        b"</p>",
        b"<br>",
        b"<script>",
        b"&amp;",
        b"&#x263A;",
        b"&aaaaaaaaaa",
        "é€日本".as_bytes(),
        "\u{202e}fdp.exe\u{2066}".as_bytes(),
        b"\x1b[31m\x07",
        b"=C3=A9=\r\n",
        b"SGVsbG8=\r\n",
        b"\xff\xfe\x00",
        b" \t",
    ];
    prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ]
}

/// Fragments of settings files: sections, keys of the right and wrong
/// types, odd strings and numbers.
fn settings_piece() -> impl Strategy<Value = String> {
    const FRAGMENTS: &[&str] = &[
        "[general]\n",
        "[[accounts]]\n",
        "preview_lines = 20\n",
        "check_interval_mins = 0\n",
        "mail_folder = \"/home/me/Mail\"\n",
        "id = \"a1\"\n",
        "id = \"bad id\"\n",
        "host = \"pop.example.org\"\n",
        "port = 70000\n",
        "port = 110\n",
        "security = \"starttls\"\n",
        "security = \"none\"\n",
        "auth = \"apop\"\n",
        "password_storage = \"file\"\n",
        "delete_after_days = 14\n",
        "quota_mb = -1\n",
        "name = \"Ünïcödé \\u00e9\"\n",
        "trusted_fingerprint = \"AB:CD\"\n",
        "leave_on_server = \"yes\"\n",
        "unknown = 1\n",
        "= broken\n",
        "\"",
    ];
    prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => "[ -~\n]{0,12}",
    ]
}
