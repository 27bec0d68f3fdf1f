//! Reply parsing: status lines with RFC 2449/3206 response codes, the
//! greeting's APOP timestamp, and the bodies of STAT, LIST, UIDL and CAPA.
//! Pure functions over bytes that have already been framed.

use std::fmt;

use super::types::{MsgNum, Uidl, parse_decimal_u32, parse_decimal_u64};

/// An extended response code (RFC 2449 §8, RFC 3206), the bracketed word at
/// the start of a status text. Unknown codes are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespCode {
    /// `[IN-USE]`: another session holds the mailbox lock.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too soon after the last login.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary problem on the server; retrying may work.
    SysTemp,
    /// `[SYS/PERM]`: a lasting problem on the server; retrying won't help.
    SysPerm,
    /// `[AUTH]`: the credentials were wrong (as opposed to a server problem).
    Auth,
    /// `[UTF8]`: the reply relates to UTF-8 mode (RFC 6856).
    Utf8,
    Other(String),
}

impl RespCode {
    fn parse(code: &str) -> RespCode {
        // Codes are hierarchical ("SYS/TEMP/DISK-FULL" is a kind of SYS/TEMP).
        let upper = code.to_ascii_uppercase();
        let is = |name: &str| upper == name || upper.starts_with(&format!("{name}/"));
        if is("IN-USE") {
            RespCode::InUse
        } else if is("LOGIN-DELAY") {
            RespCode::LoginDelay
        } else if is("SYS/TEMP") {
            RespCode::SysTemp
        } else if is("SYS/PERM") {
            RespCode::SysPerm
        } else if is("AUTH") {
            RespCode::Auth
        } else if is("UTF8") {
            RespCode::Utf8
        } else {
            RespCode::Other(code.to_owned())
        }
    }
}

impl fmt::Display for RespCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RespCode::InUse => "IN-USE",
            RespCode::LoginDelay => "LOGIN-DELAY",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
            RespCode::Auth => "AUTH",
            RespCode::Utf8 => "UTF8",
            RespCode::Other(other) => other,
        })
    }
}

/// The first line of a reply: `+OK` or `-ERR`, an optional response code,
/// and the human text (lossily decoded; servers send any charset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub ok: bool,
    pub code: Option<RespCode>,
    pub text: String,
}

/// One line from the server while a command is pending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusLine {
    Status(Status),
    /// `+ base64` during an AUTH exchange (RFC 5034): the raw, still encoded text.
    Continuation(String),
}

/// A line that is neither `+OK`, `-ERR` nor (during AUTH) `+`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server sent a line that is not a POP3 reply: {shown:?}")]
pub struct BadStatus {
    pub shown: String,
}

/// Parses a status line (without its line ending).
pub fn parse_status_line(line: &[u8], allow_continuation: bool) -> Result<StatusLine, BadStatus> {
    let starts = |prefix: &[u8]| {
        line.len() >= prefix.len()
            && line[..prefix.len()].eq_ignore_ascii_case(prefix)
            && (line.len() == prefix.len() || line[prefix.len()] == b' ')
    };
    let (ok, rest) = if starts(b"+OK") {
        (true, &line[3..])
    } else if starts(b"-ERR") {
        (false, &line[4..])
    } else if allow_continuation && starts(b"+") {
        let text = String::from_utf8_lossy(&line[1..]).trim().to_owned();
        return Ok(StatusLine::Continuation(text));
    } else {
        return Err(BadStatus {
            shown: shorten(line),
        });
    };
    let rest = escape_controls(&String::from_utf8_lossy(rest));
    let rest = rest.trim();
    let (code, text) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((code, text)) if !code.is_empty() && !code.contains(' ') => {
            (Some(RespCode::parse(code)), text.trim())
        }
        _ => (None, rest),
    };
    Ok(StatusLine::Status(Status {
        ok,
        code,
        text: text.to_owned(),
    }))
}

/// At most 80 characters of a line, for error messages, with control
/// characters escaped.
pub(crate) fn shorten(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let mut shown: String = escape_controls(&text.chars().take(80).collect::<String>());
    if text.chars().count() > 80 {
        shown.push('…');
    }
    shown
}

/// Server text made safe to show in a terminal or a log: control
/// characters (C0, DEL, C1 — terminal escape sequences start with them)
/// and the bidirectional overrides that reorder what is shown become
/// visible escapes like `\x1b` or `\u{202e}`. Anything a server says goes
/// through this before it reaches a person.
pub fn escape_controls(text: &str) -> String {
    let needs =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(needs) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !needs(c) => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

/// The `<timestamp>` of an APOP-capable greeting (RFC 1939 §7), including
/// the angle brackets. It must look like a msg-id: printable ASCII, no
/// spaces, with an `@`.
pub fn apop_timestamp(greeting_text: &str) -> Option<String> {
    let start = greeting_text.find('<')?;
    let end = start + greeting_text[start..].find('>')?;
    let stamp = &greeting_text[start..=end];
    let inner = &stamp[1..stamp.len() - 1];
    let valid = inner.len() >= 3
        && inner.contains('@')
        && inner
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'<' && b != b'>');
    valid.then(|| stamp.to_owned())
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    #[error("the server's {what} reply is not in the expected form: {shown:?}")]
    Malformed { what: &'static str, shown: String },
}

fn malformed(what: &'static str, line: &[u8]) -> ListingError {
    ListingError::Malformed {
        what,
        shown: shorten(line),
    }
}

/// `+OK nn mm` → (message count, mailbox size in octets).
pub fn parse_stat(status: &Status) -> Result<(u32, u64), ListingError> {
    let mut words = status.text.split_ascii_whitespace();
    let count = words.next().and_then(|w| parse_decimal_u32(w.as_bytes()));
    let size = words.next().and_then(|w| parse_decimal_u64(w.as_bytes()));
    match (count, size) {
        (Some(count), Some(size)) => Ok((count, size)),
        _ => Err(malformed("STAT", status.text.as_bytes())),
    }
}

/// Lines of a multi-line body, without their CRLF (or bare LF) endings.
/// Empty lines are skipped: some servers end listings with one.
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

fn two_words(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut words = line
        .split(|b| *b == b' ' || *b == b'\t')
        .filter(|w| !w.is_empty());
    Some((words.next()?, words.next()?))
}

/// A scan listing (`LIST` or `LIST n`): message number and size. Extra
/// fields after the size are allowed (RFC 1939 §5: "scan listing" may be
/// followed by more information in future).
pub fn parse_scan_line(line: &[u8]) -> Result<(MsgNum, u64), ListingError> {
    let (num, size) = two_words(line).ok_or_else(|| malformed("LIST", line))?;
    match (MsgNum::parse(num), parse_decimal_u64(size)) {
        (Some(num), Some(size)) => Ok((num, size)),
        _ => Err(malformed("LIST", line)),
    }
}

/// A whole LIST body; the session builds the same listing as it streams in.
pub fn parse_scan_listing(body: &[u8]) -> Result<Vec<(MsgNum, u64)>, ListingError> {
    let mut builder = ScanBuilder::default();
    builder.feed(body);
    builder.finish()
}

/// A unique-id listing line (`UIDL` or `UIDL n`).
pub fn parse_uidl_line(line: &[u8]) -> Result<(MsgNum, Uidl), ListingError> {
    let (num, uid) = two_words(line).ok_or_else(|| malformed("UIDL", line))?;
    match (MsgNum::parse(num), Uidl::from_bytes(uid)) {
        (Some(num), Some(uid)) => Ok((num, uid)),
        _ => Err(malformed("UIDL", line)),
    }
}

/// A unique-id listing, with the lines that could not be used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UidlListing {
    pub entries: Vec<(MsgNum, Uidl)>,
    /// Each unusable line (shortened, control characters escaped). Only
    /// the message on that line loses its identity, not the mailbox: it is
    /// left alone on the server.
    pub skipped: Vec<String>,
}

/// Parses a UIDL listing, skipping (and reporting) lines with an identity
/// that cannot be used instead of failing the whole mailbox.
pub fn parse_uidl_listing(body: &[u8]) -> UidlListing {
    let mut builder = UidlBuilder::default();
    builder.feed(body);
    builder.finish()
}

/// RFC 2449 EXPIRE: how long the server keeps retrieved mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expire {
    Never,
    /// Days; 0 means the server deletes a message once it has been retrieved,
    /// whatever the client asks.
    Days(u32),
}

/// What the server says it supports (RFC 2449 CAPA).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub top: bool,
    pub user: bool,
    pub uidl: bool,
    pub pipelining: bool,
    pub resp_codes: bool,
    pub auth_resp_code: bool,
    pub stls: bool,
    pub utf8: bool,
    /// SASL mechanisms, upper-cased.
    pub sasl: Vec<String>,
    /// Seconds between logins, when the server enforces one.
    pub login_delay_secs: Option<u32>,
    pub expire: Option<Expire>,
    pub implementation: Option<String>,
    /// Capability lines this client does not know, kept for the connection report.
    pub other: Vec<String>,
}

impl Capabilities {
    pub fn supports_sasl(&self, mechanism: &str) -> bool {
        self.sasl.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }
}

/// Parses a CAPA body. Unknown or malformed lines are kept in `other`;
/// a capability list is advice, not something to fail a session over.
pub fn parse_capabilities(body: &[u8]) -> Capabilities {
    let mut caps = Capabilities::default();
    for line in body_lines(body) {
        let line = String::from_utf8_lossy(line);
        let mut words = line.split_ascii_whitespace();
        let Some(tag) = words.next() else { continue };
        let args: Vec<&str> = words.collect();
        match tag.to_ascii_uppercase().as_str() {
            "TOP" => caps.top = true,
            "USER" => caps.user = true,
            "UIDL" => caps.uidl = true,
            "PIPELINING" => caps.pipelining = true,
            "RESP-CODES" => caps.resp_codes = true,
            "AUTH-RESP-CODE" => caps.auth_resp_code = true,
            "STLS" => caps.stls = true,
            "UTF8" => caps.utf8 = true,
            "SASL" => {
                caps.sasl
                    .extend(args.iter().map(|m| m.to_ascii_uppercase()));
            }
            "LOGIN-DELAY" => {
                caps.login_delay_secs = args.first().and_then(|a| parse_decimal_u32(a.as_bytes()));
            }
            "EXPIRE" => {
                caps.expire = match args.first() {
                    Some(a) if a.eq_ignore_ascii_case("NEVER") => Some(Expire::Never),
                    Some(a) => parse_decimal_u32(a.as_bytes()).map(Expire::Days),
                    None => None,
                };
            }
            "IMPLEMENTATION" => caps.implementation = Some(args.join(" ")),
            _ => caps.other.push(line.trim().to_owned()),
        }
    }
    caps
}

/// Cuts body bytes, arriving in pieces of any size, into lines (without
/// their CRLF or bare LF).
#[derive(Debug, Default)]
pub(crate) struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub(crate) fn feed(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(&[u8])) {
        while let Some(lf) = memchr::memchr(b'\n', chunk) {
            let piece = &chunk[..lf];
            if self.partial.is_empty() {
                on_line(piece.strip_suffix(b"\r").unwrap_or(piece));
            } else {
                self.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut self.partial);
                on_line(line.strip_suffix(b"\r").unwrap_or(&line));
            }
            chunk = &chunk[lf + 1..];
        }
        self.partial.extend_from_slice(chunk);
    }

    pub(crate) fn finish(&mut self, mut on_line: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            on_line(line.strip_suffix(b"\r").unwrap_or(&line));
        }
    }
}

/// A LIST listing built line by line as its body arrives, so a listing of
/// a million messages is never held as text. The first malformed line
/// fails the whole listing: sizes decide what fits on disk.
#[derive(Debug, Default)]
pub(crate) struct ScanBuilder {
    lines: LineSplitter,
    entries: Vec<(MsgNum, u64)>,
    bad: Option<ListingError>,
}

impl ScanBuilder {
    pub(crate) fn feed(&mut self, span: &[u8]) {
        let (entries, bad) = (&mut self.entries, &mut self.bad);
        self.lines.feed(span, |line| scan_into(entries, bad, line));
    }

    pub(crate) fn finish(mut self) -> Result<Vec<(MsgNum, u64)>, ListingError> {
        let (entries, bad) = (&mut self.entries, &mut self.bad);
        self.lines.finish(|line| scan_into(entries, bad, line));
        match self.bad {
            Some(bad) => Err(bad),
            None => Ok(self.entries),
        }
    }
}

/// A UIDL listing built line by line; a malformed line costs only its own
/// message.
#[derive(Debug, Default)]
pub(crate) struct UidlBuilder {
    lines: LineSplitter,
    listing: UidlListing,
}

impl UidlBuilder {
    pub(crate) fn feed(&mut self, span: &[u8]) {
        let listing = &mut self.listing;
        self.lines.feed(span, |line| uidl_into(listing, line));
    }

    pub(crate) fn finish(mut self) -> UidlListing {
        let listing = &mut self.listing;
        self.lines.finish(|line| uidl_into(listing, line));
        self.listing
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

fn scan_into(entries: &mut Vec<(MsgNum, u64)>, bad: &mut Option<ListingError>, line: &[u8]) {
    if is_blank(line) || bad.is_some() {
        return;
    }
    match parse_scan_line(line) {
        Ok(entry) => entries.push(entry),
        Err(e) => *bad = Some(e),
    }
}

fn uidl_into(listing: &mut UidlListing, line: &[u8]) {
    if is_blank(line) {
        return;
    }
    match parse_uidl_line(line) {
        Ok(entry) => listing.entries.push(entry),
        Err(_) => listing.skipped.push(shorten(line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(line: &str) -> Status {
        match parse_status_line(line.as_bytes(), false).unwrap() {
            StatusLine::Status(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status("+OK 2 320"),
            Status {
                ok: true,
                code: None,
                text: "2 320".into()
            }
        );
        assert_eq!(status("+OK").text, "");
        assert!(status("+ok lower case").ok);
        let err = status("-ERR [IN-USE] Mailbox locked");
        assert!(!err.ok);
        assert_eq!(err.code, Some(RespCode::InUse));
        assert_eq!(err.text, "Mailbox locked");
        assert_eq!(status("-ERR [SYS/TEMP] busy").code, Some(RespCode::SysTemp));
        assert_eq!(status("-ERR [SYS/PERM] gone").code, Some(RespCode::SysPerm));
        assert_eq!(status("-ERR [AUTH] nope").code, Some(RespCode::Auth));
        assert_eq!(
            status("-ERR [LOGIN-DELAY] wait").code,
            Some(RespCode::LoginDelay)
        );
        assert_eq!(status("-ERR [UTF8] x").code, Some(RespCode::Utf8));
        assert_eq!(
            status("-ERR [SYS/TEMP/DISK] full").code,
            Some(RespCode::SysTemp)
        );
        assert_eq!(
            status("-ERR [X-FOO] custom").code,
            Some(RespCode::Other("X-FOO".into()))
        );
        // Brackets that are not a code stay in the text.
        let plain = status("-ERR [not a code] text");
        assert_eq!(plain.code, None);
        assert_eq!(plain.text, "[not a code] text");
    }

    #[test]
    fn bad_status_lines() {
        for line in ["", "OK", "+OKAY", "-ERROR", "* BYE", "+ challenge"] {
            assert!(parse_status_line(line.as_bytes(), false).is_err(), "{line}");
        }
        assert_eq!(
            parse_status_line(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+", true).unwrap(),
            StatusLine::Continuation("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+".into())
        );
        assert_eq!(
            parse_status_line(b"+", true).unwrap(),
            StatusLine::Continuation(String::new())
        );
        // Non-UTF-8 bytes in a status text do not fail the parse.
        assert!(parse_status_line(b"-ERR \xff\xfe", false).is_ok());
    }

    #[test]
    fn server_text_cannot_reach_a_terminal_raw() {
        let err = status("-ERR \x1b]0;pwned\x07\x1b[2J gone \u{202e}txt.exe");
        assert_eq!(err.text, "\\x1b]0;pwned\\x07\\x1b[2J gone \\u{202e}txt.exe");
        assert!(!err.text.chars().any(char::is_control));
        let c1 = parse_status_line("+OK \u{9b}31m".as_bytes(), false).unwrap();
        assert_eq!(
            c1,
            StatusLine::Status(Status {
                ok: true,
                code: None,
                text: "\\u{9b}31m".into()
            })
        );
        assert_eq!(shorten(b"x\x1by"), "x\\x1by");
        assert_eq!(escape_controls("plain text, é"), "plain text, é");
    }

    #[test]
    fn apop_timestamps() {
        assert_eq!(
            apop_timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>").as_deref(),
            Some("<1896.697170952@dbc.mtview.ca.us>")
        );
        assert_eq!(apop_timestamp("Dovecot ready."), None);
        assert_eq!(apop_timestamp("ready <no-at-sign>"), None);
        assert_eq!(apop_timestamp("ready <a b@c>"), None);
        assert_eq!(apop_timestamp("ready <unterminated@x"), None);
    }

    #[test]
    fn stat() {
        assert_eq!(parse_stat(&status("+OK 2 320")).unwrap(), (2, 320));
        assert_eq!(parse_stat(&status("+OK 0 0 extra")).unwrap(), (0, 0));
        assert!(parse_stat(&status("+OK two 320")).is_err());
        assert!(parse_stat(&status("+OK 2")).is_err());
    }

    #[test]
    fn listings() {
        let scan = parse_scan_listing(b"1 120\r\n2 200 extra info\r\n\r\n").unwrap();
        assert_eq!(scan.len(), 2);
        assert_eq!(scan[1].0.get(), 2);
        assert_eq!(scan[1].1, 200);
        assert!(parse_scan_listing(b"1\r\n").is_err());
        assert!(parse_scan_listing(b"0 12\r\n").is_err());
        assert!(parse_scan_listing(b"1 -12\r\n").is_err());

        let uidl =
            parse_uidl_listing(b"1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\n").entries;
        assert_eq!(uidl[0].1.as_str(), "whqtswO00WBw418f9t5JxYwZ");
        assert_eq!(uidl[1].1.as_str(), "QhdPYR:00WBw1Ph7x7");
        // Long UIDLs exist in the wild (providers ship 100+ characters);
        // up to 512 bytes are taken, and a bad line costs only its message.
        let long = "u".repeat(120);
        let mut body = format!("1 {long}\r\n2 ").into_bytes();
        body.extend_from_slice(b"\xff\r\n");
        body.extend_from_slice(format!("3 {}\r\n4 ok\r\nfive x\r\n", "v".repeat(513)).as_bytes());
        let odd = parse_uidl_listing(&body);
        let numbers: Vec<u32> = odd.entries.iter().map(|(n, _)| n.get()).collect();
        assert_eq!(numbers, [1, 4]);
        assert_eq!(odd.entries[0].1.as_str(), long);
        assert_eq!(odd.skipped.len(), 3);
        assert_eq!(parse_uidl_line(b"3 abc").unwrap().0.get(), 3);
    }

    #[test]
    fn capabilities() {
        let caps = parse_capabilities(
            b"TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\n\
              SASL PLAIN login CRAM-MD5\r\nLOGIN-DELAY 900\r\nEXPIRE 0\r\nIMPLEMENTATION Test server 1.0\r\nX-THING\r\n",
        );
        assert!(caps.top && caps.uidl && caps.resp_codes && caps.pipelining);
        assert!(caps.auth_resp_code && caps.stls && caps.user && !caps.utf8);
        assert_eq!(caps.sasl, vec!["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(caps.supports_sasl("login"));
        assert_eq!(caps.login_delay_secs, Some(900));
        assert_eq!(caps.expire, Some(Expire::Days(0)));
        assert_eq!(caps.implementation.as_deref(), Some("Test server 1.0"));
        assert_eq!(caps.other, vec!["X-THING"]);
        assert_eq!(
            parse_capabilities(b"EXPIRE NEVER\r\n").expire,
            Some(Expire::Never)
        );
        assert_eq!(parse_capabilities(b"\xff\xfe garbage\r\n").other.len(), 1);
    }
}
