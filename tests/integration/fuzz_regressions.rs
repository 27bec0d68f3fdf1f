//! Every input that ever crashed a fuzz target (`fuzz/`), replayed in the
//! normal suite so the crash can never come back. Each test names the
//! target that found it and holds the minimized input inline; it calls the
//! same code the target calls and checks what the target checks.

use letterbox::mail::Preview;
use letterbox::pop3::{Command, Limits, Session, State};

use crate::properties::without_panics;

/// What the `preview` target checks on every input.
fn preview_holds(raw: &[u8], lines: usize) -> Preview {
    let preview = without_panics(|| Preview::from_bytes(raw, lines));
    let count = if preview.text.is_empty() {
        0
    } else {
        preview.text.split('\n').count()
    };
    assert!(count <= lines, "{count} lines: {:?}", preview.text);
    preview
}

/// Found by review before the fuzz targets existed (issue 8), and at once
/// by the `preview` target from its seed: non-ASCII text within 12 bytes
/// after a `&` in HTML made the entity decoder slice inside a character.
#[test]
fn preview_html_non_ascii_after_ampersand() {
    let raw = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>x &aaaaaaaaaaééé y</p>\r\n";
    let preview = preview_holds(raw.as_bytes(), 10);
    assert!(preview.text.contains("ééé"), "{:?}", preview.text);
    for tail in ["&ééééééééééé", "&é", "&aaaaaaaaaa€;", "&#x41;&日本語"] {
        let raw = format!("Content-Type: text/html\r\n\r\n{tail}\r\n");
        preview_holds(raw.as_bytes(), 3);
    }
}

/// Found by the `session` target; its input submitted QUIT before the
/// greeting, fed `-ERR no`, then polled, which is what the calls below do
/// (the 39 raw bytes only mean something to that target's script decoder).
/// A command submitted before the greeting was still sent after a `-ERR`
/// greeting closed the session (its reply then never read). The net driver
/// stopped at a `-ERR` greeting, so nothing reached a server; the session's
/// promise was broken all the same. Fixed in `Session::poll_transmit`.
#[test]
fn session_sends_nothing_after_an_err_greeting() {
    let mut s = Session::new(Limits::default());
    s.submit(Command::Quit).unwrap();
    s.handle_input(b"-ERR no\r\n").unwrap();
    assert_eq!(s.state(), State::Closed);
    let mut out = Vec::new();
    assert_eq!(
        s.poll_transmit(&mut out),
        0,
        "sent {:?} on a closed session",
        String::from_utf8_lossy(&out)
    );
}
