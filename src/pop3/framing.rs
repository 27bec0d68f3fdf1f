//! Multi-line framing (RFC 1939 §3): a body ends at `CRLF.CRLF`, and a line
//! that starts with `.` has that dot removed. Everything else is passed
//! through byte for byte: 8-bit data, bare LF, bare CR. Decoding is
//! incremental, so a body can be streamed to disk as it arrives.
//!
//! Some servers end every line with a bare LF. Their greeting shows it, and
//! for them a line ends at any LF: the body ends at a `.` line ended by LF
//! or CRLF, and a dot is unstuffed after any LF. With a CRLF server, a bare
//! LF is content, as the RFC says.

use memchr::memmem;

/// Decodes one multi-line body that may arrive in pieces.
#[derive(Debug)]
pub(crate) struct BodyDecoder {
    /// True right after a line ending (and at the very start of the body,
    /// which follows the status line's): a `.` here is special.
    at_line_start: bool,
    /// Lines end at a bare LF too (a server whose greeting ended in one).
    bare_lf: bool,
}

impl BodyDecoder {
    pub(crate) fn new(bare_lf: bool) -> BodyDecoder {
        BodyDecoder {
            at_line_start: true,
            bare_lf,
        }
    }

    /// Decodes as much of `input` as can be decided now and hands the body
    /// bytes to `emit` in as few, as large spans as possible. Returns how many
    /// input bytes were consumed and whether the terminating `.` line was
    /// consumed. Bytes not consumed (at most two: a partial line ending or a
    /// lone dot) must be offered again with more input.
    pub(crate) fn decode(&mut self, input: &[u8], emit: impl FnMut(&[u8])) -> (usize, bool) {
        if self.bare_lf {
            self.decode_bare_lf(input, emit)
        } else {
            self.decode_crlf(input, emit)
        }
    }

    fn decode_crlf(&mut self, input: &[u8], mut emit: impl FnMut(&[u8])) -> (usize, bool) {
        let finder = memmem::Finder::new(b"\r\n.");
        let mut pos = 0;
        loop {
            if self.at_line_start {
                let rest = &input[pos..];
                match rest {
                    [] | [b'.'] | [b'.', b'\r'] => return (pos, false),
                    [b'.', b'\r', b'\n', ..] => return (pos + 3, true),
                    // A dot-stuffed line: the first dot is not content.
                    [b'.', ..] => pos += 1,
                    _ => {}
                }
                self.at_line_start = false;
            }
            let rest = &input[pos..];
            match finder.find(rest) {
                Some(i) => {
                    // Up to and including the CRLF; the dot is looked at next.
                    emit(&rest[..i + 2]);
                    pos += i + 2;
                    self.at_line_start = true;
                }
                None => {
                    let (take, line_start) = if rest.ends_with(b"\r\n") {
                        (rest.len(), true)
                    } else if rest.ends_with(b"\r") {
                        (rest.len() - 1, false)
                    } else {
                        (rest.len(), false)
                    };
                    if take > 0 {
                        emit(&rest[..take]);
                    }
                    self.at_line_start = line_start;
                    return (pos + take, false);
                }
            }
        }
    }

    /// The same for a server that ends lines with a bare LF (or mixes).
    fn decode_bare_lf(&mut self, input: &[u8], mut emit: impl FnMut(&[u8])) -> (usize, bool) {
        let mut pos = 0;
        loop {
            if self.at_line_start {
                match &input[pos..] {
                    [] | [b'.'] | [b'.', b'\r'] => return (pos, false),
                    [b'.', b'\n', ..] => return (pos + 2, true),
                    [b'.', b'\r', b'\n', ..] => return (pos + 3, true),
                    [b'.', ..] => pos += 1,
                    _ => {}
                }
                self.at_line_start = false;
            }
            let rest = &input[pos..];
            match memmem::find(rest, b"\n.") {
                Some(i) => {
                    // Up to and including the LF; the dot is looked at next.
                    emit(&rest[..=i]);
                    pos += i + 1;
                    self.at_line_start = true;
                }
                None => {
                    if !rest.is_empty() {
                        emit(rest);
                    }
                    self.at_line_start = rest.ends_with(b"\n");
                    return (pos + rest.len(), false);
                }
            }
        }
    }
}

/// Where a line starts, for [`dot_stuff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStarts {
    /// After CRLF only, as on a CRLF server: a bare LF is content.
    AfterCrlf,
    /// After any LF: what a server does when it cannot know how its client
    /// splits lines (the demo server, and the test server's bare-LF mode),
    /// so no client mistakes a line for the terminator.
    AfterAnyLf,
}

/// Encodes a message body as a multi-line reply body (RFC 1939 §3), the
/// inverse of the framer: a `.` that starts a line gets a second one, and
/// the terminating `.` line is appended. A body that does not end its last
/// line gets a CRLF first, because the terminator must start a line (with
/// `AfterAnyLf`, a body in bare-LF form, ending in LF with no CRLF in it,
/// counts as ended). With `AfterCrlf`, a body that is empty or ends in CRLF
/// comes back from the framer byte for byte. For servers (the demo, tests)
/// and property tests: the client never sends a multi-line body.
pub fn dot_stuff(body: &[u8], starts: LineStarts) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut rest = body;
    if rest.first() == Some(&b'.') {
        out.push(b'.');
    }
    let (line_end, skip): (&[u8], usize) = match starts {
        LineStarts::AfterCrlf => (b"\r\n.", 2),
        LineStarts::AfterAnyLf => (b"\n.", 1),
    };
    while let Some(i) = memmem::find(rest, line_end) {
        out.extend_from_slice(&rest[..i + skip]);
        out.push(b'.');
        rest = &rest[i + skip..];
    }
    out.extend_from_slice(rest);
    let bare_lf_form = starts == LineStarts::AfterAnyLf
        && body.ends_with(b"\n")
        && memmem::find(body, b"\r\n").is_none();
    if !body.is_empty() && !body.ends_with(b"\r\n") && !bare_lf_form {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a decoder in pieces of `step` bytes, the way a socket
    /// might deliver it; returns the body and the bytes after the terminator.
    fn decode_in_steps(wire: &[u8], step: usize) -> (Vec<u8>, Vec<u8>) {
        decode_in_steps_with(BodyDecoder::new(false), wire, step)
    }

    fn decode_in_steps_with(
        mut decoder: BodyDecoder,
        wire: &[u8],
        step: usize,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let end = (fed + step).min(wire.len());
            pending.extend_from_slice(&wire[fed..end]);
            fed = end;
            let (used, done) = decoder.decode(&pending, |span| body.extend_from_slice(span));
            pending.drain(..used);
            if done {
                pending.extend_from_slice(&wire[fed..]);
                return (body, pending);
            }
            assert!(fed < wire.len(), "ran out of input before the terminator");
        }
    }

    #[test]
    fn unstuffs_and_finds_the_end_at_every_split() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n..\r\n...\r\nbare\nLF and bare\rCR \xff\r\n.\r\n+OK next";
        let expected =
            b"Subject: x\r\n\r\n.leading dot\r\n.\r\n..\r\nbare\nLF and bare\rCR \xff\r\n";
        for step in 1..=wire.len() {
            let (body, rest) = decode_in_steps(wire, step);
            assert_eq!(body, expected, "step {step}");
            assert_eq!(rest, b"+OK next", "step {step}");
        }
    }

    #[test]
    fn bare_lf_server_at_every_split() {
        let wire = b"Subject: x\n\n..leading dot\n..\nmixed\r\n.\rodd\nend\n.\n+OK next";
        let expected = b"Subject: x\n\n.leading dot\n.\nmixed\r\n\rodd\nend\n";
        for step in 1..=wire.len() {
            let (body, rest) = decode_in_steps_with(BodyDecoder::new(true), wire, step);
            assert_eq!(body, expected, "step {step}");
            assert_eq!(rest, b"+OK next", "step {step}");
        }
        // A CRLF terminator ends the body too, and an empty body is fine.
        let (body, rest) = decode_in_steps_with(BodyDecoder::new(true), b"a\r\n.\r\nX", 1);
        assert_eq!(
            (body.as_slice(), rest.as_slice()),
            (&b"a\r\n"[..], &b"X"[..])
        );
        let (body, rest) = decode_in_steps_with(BodyDecoder::new(true), b".\nX", 1);
        assert_eq!((body.as_slice(), rest.as_slice()), (&b""[..], &b"X"[..]));
    }

    #[test]
    fn empty_body() {
        let (body, rest) = decode_in_steps(b".\r\n", 1);
        assert!(body.is_empty());
        assert!(rest.is_empty());
    }

    #[test]
    fn dot_line_ending_in_bare_lf_is_content() {
        // Only CRLF.CRLF ends a body; ".\n" is a stuffed line holding "\n".
        let (body, _) = decode_in_steps(b"a\r\n.\nb\r\n.\r\n", 2);
        assert_eq!(body, b"a\r\n\nb\r\n");
    }

    #[test]
    fn body_without_final_crlf_before_dot_is_not_terminated() {
        // "x.\r\n" is not a terminator: the dot is not at a line start.
        let mut decoder = BodyDecoder::new(false);
        let mut body = Vec::new();
        let (used, done) = decoder.decode(b"x.\r\n", |s| body.extend_from_slice(s));
        assert!(!done);
        assert_eq!(used, 4);
        assert_eq!(body, b"x.\r\n");
    }

    #[test]
    fn large_spans_are_emitted_whole() {
        let mut wire = Vec::new();
        for i in 0..1000 {
            wire.extend_from_slice(format!("line {i} of a message body\r\n").as_bytes());
        }
        let content_len = wire.len();
        wire.extend_from_slice(b".\r\n");
        let mut decoder = BodyDecoder::new(false);
        let mut spans = 0;
        let mut total = 0;
        let (_, done) = decoder.decode(&wire, |s| {
            spans += 1;
            total += s.len();
        });
        assert!(done);
        assert_eq!(total, content_len);
        assert_eq!(spans, 1, "no dotted lines, so one span");
    }

    #[test]
    fn stuffing_marks_line_starts_by_the_chosen_line_end() {
        let body = b".a\r\n.b\n.c";
        assert_eq!(
            dot_stuff(body, LineStarts::AfterCrlf),
            b"..a\r\n..b\n.c\r\n.\r\n"
        );
        assert_eq!(
            dot_stuff(body, LineStarts::AfterAnyLf),
            b"..a\r\n..b\n..c\r\n.\r\n"
        );
        // A body in bare-LF form is already ended; a CRLF one round-trips
        // through a bare-LF decoder too.
        assert_eq!(
            dot_stuff(b"x\n.y\n", LineStarts::AfterAnyLf),
            b"x\n..y\n.\r\n"
        );
        for bare_lf in [false, true] {
            let wire = dot_stuff(b"one\r\n.two\r\n", LineStarts::AfterAnyLf);
            let mut decoder = BodyDecoder::new(bare_lf);
            let mut out = Vec::new();
            let (_, done) = decoder.decode(&wire, |s| out.extend_from_slice(s));
            assert!(done);
            assert_eq!(out, b"one\r\n.two\r\n");
        }
    }
}
