//! Turns raw message bytes into what people read: decoded headers (RFC 2047
//! words, charsets), a plain-text preview, the whole message for the
//! reader (`view`: body text, links, attachments with safe names), the text
//! the search index keeps, and pictures decoded within limits. Built on
//! mailparse and html2text. Never panics and never fails: a broken message
//! gives a best-effort result. This is the only module that turns mail
//! bytes into text; it never touches the disk or the network.

use mailparse::ParsedMail;

pub mod compose;
mod html;
pub mod names;
pub mod picture;
mod search;
mod view;

pub use search::Summary;
pub use view::{Attachment, Link, MessageView, TextSource, attachment_bytes};

/// Most characters kept of one header field (From, Subject, ...). Real
/// ones are far shorter; a hostile sender can fold megabytes into one.
pub const MAX_HEADER_CHARS: usize = 1000;
/// Most characters kept of a preview's text.
pub const MAX_PREVIEW_CHARS: usize = 4000;

/// What the message list and the preview pane show before download.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Preview {
    /// The decoded From header, e.g. `Jörg Müller <joerg@example.de>`.
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The Date header as sent.
    pub date: String,
    /// The Date header as Unix seconds, when it could be parsed.
    pub date_unix: Option<i64>,
    pub message_id: String,
    /// The first lines of the text, as plain text (HTML tags removed).
    pub text: String,
    /// The message seems to carry attachments (judged from what TOP gave).
    pub has_attachments: bool,
}

impl Preview {
    /// Builds a preview from a message or its head (TOP), keeping at most
    /// `max_lines` lines of text.
    pub fn from_bytes(raw: &[u8], max_lines: usize) -> Preview {
        // Any sender controls these bytes. A bug in the parsing below must
        // cost one message its preview, never the whole check: the raw
        // start is shown instead. (Fuzzing still sees such a panic: its
        // panic hook aborts before the unwind reaches this point.)
        std::panic::catch_unwind(|| match mailparse::parse_mail(raw) {
            Ok(mail) => preview_of(&mail, max_lines),
            Err(_) => fallback(raw, max_lines),
        })
        .unwrap_or_else(|_| {
            tracing::warn!("a message could not be read for its preview; showing its raw start");
            fallback(raw, max_lines)
        })
    }

    /// The sender's name if there is one, else the address.
    pub fn from_display(&self) -> String {
        display_name(&self.from)
    }
}

/// The first `name` field, decoded and cleaned; empty if there is none.
/// Field names are compared as raw bytes, without decoding each one: a
/// check previews thousands of heads.
pub(crate) fn header_of(mail: &ParsedMail<'_>, name: &str) -> String {
    mail.headers
        .iter()
        .find(|h| {
            h.get_key_raw()
                .trim_ascii()
                .eq_ignore_ascii_case(name.as_bytes())
        })
        .map(|h| clean_line(&h.get_value()))
        .unwrap_or_default()
}

/// A Date field as Unix seconds, when it can be read.
pub(crate) fn date_of(date: &str) -> Option<i64> {
    (!date.is_empty())
        .then(|| mailparse::dateparse(date).ok())
        .flatten()
}

fn preview_of(mail: &ParsedMail<'_>, max_lines: usize) -> Preview {
    let header = |name: &str| header_of(mail, name);
    let date = header("Date");
    let date_unix = date_of(&date);
    let mut has_attachments = false;
    let mut plain = None;
    let mut html = None;
    walk(mail, &mut |part| {
        let disposition = part.get_content_disposition();
        let mime = part.ctype.mimetype.to_ascii_lowercase();
        if disposition.disposition == mailparse::DispositionType::Attachment
            || mime == "multipart/mixed"
            || (!mime.starts_with("text/") && !mime.starts_with("multipart/"))
        {
            has_attachments = true;
        }
        if disposition.disposition == mailparse::DispositionType::Attachment {
            return;
        }
        if mime == "text/plain" && plain.is_none() {
            plain = Some(body_text(part));
        } else if mime == "text/html" && html.is_none() {
            html = Some(strip_html(&body_text(part)));
        }
    });
    let text = plain.or(html).unwrap_or_default();
    Preview {
        from: header("From"),
        to: header("To"),
        subject: header("Subject"),
        date,
        date_unix,
        message_id: header("Message-ID"),
        text: first_lines(&text, max_lines),
        has_attachments,
    }
}

fn walk<'a>(part: &'a ParsedMail<'a>, visit: &mut dyn FnMut(&'a ParsedMail<'a>)) {
    visit(part);
    for sub in &part.subparts {
        walk(sub, visit);
    }
}

/// The decoded text of a part; if the transfer encoding is broken (a TOP
/// cut a base64 block short, say), the raw text is better than nothing.
fn body_text(part: &ParsedMail<'_>) -> String {
    part.get_body().unwrap_or_else(|_| {
        String::from_utf8_lossy(&part.get_body_raw().unwrap_or_default()).into_owned()
    })
}

/// Header values may carry folded whitespace and control characters, and
/// are cut at [`MAX_HEADER_CHARS`] (the cut shown as "…").
pub(crate) fn clean_line(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_HEADER_CHARS * 4));
    let mut chars = 0;
    for word in value.split_whitespace() {
        if !out.is_empty() {
            if chars >= MAX_HEADER_CHARS {
                out.push('…');
                return out;
            }
            out.push(' ');
            chars += 1;
        }
        for c in word.chars().filter(|&c| shown_as_is(c)) {
            if chars >= MAX_HEADER_CHARS {
                out.push('…');
                return out;
            }
            out.push(c);
            chars += 1;
        }
    }
    out
}

/// Characters kept in headers and previews: no control characters, and
/// none of the invisible marks that reorder text (a sender could make a
/// name or an attachment's extension read backwards).
pub(crate) fn shown_as_is(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// First `max_lines` lines, without leading blank lines and with runs of
/// blank lines collapsed to one, at most [`MAX_PREVIEW_CHARS`] in all (the
/// cut shown as "…").
fn first_lines(text: &str, max_lines: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut budget = MAX_PREVIEW_CHARS;
    for line in text.lines() {
        let line: String = line
            .trim_end()
            .chars()
            .filter(|&c| shown_as_is(c) || c == '\t')
            .collect();
        let blank = line.trim().is_empty();
        if blank && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        if lines.len() == max_lines {
            break;
        }
        let count = line.chars().count();
        if budget == 0 || count > budget {
            // Out of room: keep what fits and show that text was cut.
            let mut kept: String = line.chars().take(budget).collect();
            if kept.is_empty() {
                kept = lines.pop().unwrap_or_default();
            }
            kept.push('…');
            lines.push(kept);
            break;
        }
        budget = budget.saturating_sub(count + 1); // the line break
        lines.push(if blank { String::new() } else { line });
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

/// HTML to readable text, without rendering anything: tags dropped (script
/// and style content too), common entities decoded. Only for previews.
pub(crate) fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let after = &rest[lt..];
        let tag_end = after.find('>').map_or(after.len(), |i| i + 1);
        let tag = after[..tag_end].to_ascii_lowercase();
        rest = &after[tag_end..];
        for skipped in ["script", "style", "head"] {
            if tag.starts_with(&format!("<{skipped}")) {
                let close = format!("</{skipped}");
                let lower = rest.to_ascii_lowercase();
                rest = match lower.find(&close) {
                    Some(i) => &rest[i..],
                    None => "",
                };
            }
        }
        let breaks = [
            "<br", "<p", "</p", "<div", "</div", "<tr", "<li", "<h1", "<h2", "<h3",
        ];
        if breaks.iter().any(|b| tag.starts_with(b)) {
            out.push('\n');
        }
    }
    out.push_str(rest);
    decode_entities(&out)
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        // Entity names are short ASCII: look for the `;` among the next few
        // bytes, without slicing inside a multi-byte character.
        let end = after.bytes().take(12).position(|b| b == b';');
        let decoded = end.and_then(|end| {
            let name = &after[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// When even the header block cannot be parsed: show the raw start.
fn fallback(raw: &[u8], max_lines: usize) -> Preview {
    let text = String::from_utf8_lossy(raw);
    Preview {
        text: first_lines(&text, max_lines),
        ..Preview::default()
    }
}

/// A Unix time as an RFC 5322 date in UTC ("07 Dec 2026 10:10:45 +0000"),
/// for messages the app itself makes.
pub fn rfc5322_date(unix: i64) -> String {
    let civil = crate::civil::Civil::from_unix(unix);
    format!(
        "{:02} {} {} {} +0000",
        civil.day,
        civil.month_abbrev(),
        civil.year,
        civil.hms()
    )
}

/// Sizes as people read them: 1000-based, one decimal.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `"Name" <addr>` → `Name`; `addr` → `addr`.
pub(crate) fn display_name(from: &str) -> String {
    if let Ok(list) = mailparse::addrparse(from)
        && let Some(first) = list.iter().next()
    {
        return match first {
            mailparse::MailAddr::Single(info) => info
                .display_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| info.addr.clone()),
            mailparse::MailAddr::Group(group) => group.group_name.clone(),
        };
    }
    from.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_mail_wants_them() {
        assert_eq!(rfc5322_date(0), "01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_796_638_245), "07 Dec 2026 10:10:45 +0000");
        assert_eq!(rfc5322_date(951_782_400), "29 Feb 2000 00:00:00 +0000");
        // And it reads back as the same time.
        assert_eq!(
            mailparse::dateparse(&rfc5322_date(1_796_638_245)).ok(),
            Some(1_796_638_245)
        );
    }

    #[test]
    fn decodes_encoded_words_and_charsets() {
        let raw = b"From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.de>\r\n\
To: you@example.org\r\n\
Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +0100\r\n\
Message-ID: <1@example.de>\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Sch=F6ne Gr=FC=DFe\r\n\
\r\n\
\r\n\
zweite Zeile\r\n";
        let p = Preview::from_bytes(raw, 10);
        assert_eq!(p.from, "Jörg Müller <joerg@example.de>");
        assert_eq!(p.from_display(), "Jörg Müller");
        assert_eq!(p.subject, "Grüße aus Köln");
        assert_eq!(p.date_unix, Some(1_795_510_800));
        assert_eq!(p.text, "Schöne Grüße\n\nzweite Zeile");
        assert!(!p.has_attachments);
    }

    #[test]
    fn html_only_and_attachments() {
        let raw = b"From: shop@example.com\r\n\
Subject: Sale\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><head><style>p{}</style></head><body><p>Big&nbsp;sale &amp; more</p><script>x()</script><p>Now</p></body></html>\r\n\
--b\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=a.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0=\r\n\
--b--\r\n";
        let p = Preview::from_bytes(raw, 5);
        assert!(p.has_attachments);
        assert_eq!(p.text, "Big sale & more\n\nNow");
        assert_eq!(p.from_display(), "shop@example.com");
    }

    #[test]
    fn truncated_head_from_top_still_previews() {
        let raw = b"Subject: cut\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nfirst line\r\nsecond";
        let p = Preview::from_bytes(raw, 10);
        assert_eq!(p.subject, "cut");
        assert!(p.text.starts_with("first line"), "{:?}", p.text);
    }

    #[test]
    fn html_with_non_ascii_after_an_ampersand() {
        // Regression: a byte slice of the text after `&` used to cut a
        // multi-byte character in two and panic, which failed every check
        // of the account for as long as such a message was on the server.
        let raw = "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<p>x &aaaaaaaaaaééé y &amp; é&éééééé; &#233;</p>\r\n";
        let p = Preview::from_bytes(raw.as_bytes(), 5);
        assert_eq!(p.text, "x &aaaaaaaaaaééé y & é&éééééé; é");
        for (cut, _) in raw.char_indices() {
            let _ = decode_entities(&raw[cut..]);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Whatever the bytes, a preview stays within its caps (and the
        /// builder does not panic: a panic fails the property too).
        #[test]
        fn preview_never_exceeds_its_caps(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            subject in "[ -~é€\\t]{0,3000}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20_000),
            lines in 0usize..50,
        ) {
            let mut raw = head;
            raw.extend_from_slice(b"\r\nSubject: ");
            raw.extend_from_slice(subject.as_bytes());
            raw.extend_from_slice(b"\r\nContent-Type: text/html\r\n\r\n");
            raw.extend_from_slice(&body);
            let p = Preview::from_bytes(&raw, lines);
            for field in [&p.from, &p.to, &p.subject, &p.date, &p.message_id] {
                proptest::prop_assert!(
                    field.chars().count() <= MAX_HEADER_CHARS + 1,
                    "{} chars: {:?}", field.chars().count(), field.chars().take(80).collect::<String>()
                );
            }
            proptest::prop_assert!(p.text.chars().count() <= MAX_PREVIEW_CHARS + 1);
            proptest::prop_assert!(p.text.lines().count() <= lines);
        }
    }

    #[test]
    fn headers_and_text_are_capped() {
        // 400 such messages used to take a gigabyte of memory.
        let mut raw = String::from("From: a@b.example\r\nSubject: start");
        for _ in 0..20_000 {
            raw.push_str("\r\n folded more words");
        }
        raw.push_str("\r\n\r\n");
        for i in 0..2_000 {
            raw.push_str(&format!("line {i} {}\r\n", "x".repeat(50)));
        }
        raw.push_str(&"y".repeat(100_000));
        let p = Preview::from_bytes(raw.as_bytes(), 1_000_000);
        assert_eq!(p.subject.chars().count(), MAX_HEADER_CHARS + 1);
        assert!(p.subject.starts_with("start folded more") && p.subject.ends_with('…'));
        assert!(
            p.text.chars().count() <= MAX_PREVIEW_CHARS + 1,
            "{}",
            p.text.len()
        );
        assert!(p.text.ends_with('…'), "the cut is shown");
        // One endless line is cut too, and short text is left alone.
        let one = format!("Subject: x\r\n\r\n{}", "z".repeat(50_000));
        let p = Preview::from_bytes(one.as_bytes(), 10);
        assert_eq!(p.text.chars().count(), MAX_PREVIEW_CHARS + 1);
        let p = Preview::from_bytes(b"Subject: x\r\n\r\nshort\r\n", 10);
        assert_eq!(p.text, "short");
    }

    #[test]
    fn no_control_or_reordering_characters() {
        let raw = "Subject: invoice\u{202e}fdp.exe \u{1b}[31mred\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody \u{2066}x\u{2069} \u{9b}2J\r\n";
        let p = Preview::from_bytes(raw.as_bytes(), 5);
        assert_eq!(p.subject, "invoicefdp.exe [31mred");
        assert_eq!(p.text, "body x 2J");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(1500), "1.5 KB");
        assert_eq!(human_size(52_428_800), "52.4 MB");
    }

    #[test]
    fn limits_lines() {
        let raw = b"Subject: x\r\n\r\n1\r\n2\r\n3\r\n4\r\n";
        assert_eq!(Preview::from_bytes(raw, 2).text, "1\n2");
        assert_eq!(Preview::from_bytes(raw, 0).text, "");
    }

    #[test]
    fn never_panics_on_garbage() {
        // A cheap deterministic fuzz: many shapes of broken input.
        let mut seed: u32 = 12345;
        let pieces: [&[u8]; 12] = [
            b"Content-Type: multipart/mixed; boundary=",
            b"\r\n",
            b"--",
            b"=?utf-8?B?",
            b"?=",
            b"\xff\xfe",
            b":",
            b"Content-Transfer-Encoding: base64\r\n",
            b"=\r\n",
            b"<p",
            b"&#x110000;",
            b"Subject: ",
        ];
        for _ in 0..2000 {
            let mut raw = Vec::new();
            for _ in 0..20 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                raw.extend_from_slice(pieces[(seed >> 16) as usize % pieces.len()]);
            }
            let _ = Preview::from_bytes(&raw, 3);
        }
        assert_eq!(
            decode_entities("&#x110000; &bogus; &"),
            "&#x110000; &bogus; &"
        );
    }
}
