//! A downloaded message as people read it: the decoded headers, the whole
//! body as text (`text/plain` preferred; HTML-only mail turned into text,
//! its links numbered and listed with their real address), and the list of
//! attachments with safe file names. Nothing here ever reaches the network:
//! HTML is only read for its text and link targets, never rendered, so a
//! remote image or a script in a message is just text that is not shown.
//! Never panics on any input; a message that cannot be parsed is shown as
//! its raw text.

use mailparse::{DispositionType, MailHeaderMap as _, ParsedMail};

use super::names::{file_name_from_part, safe_file_name};
use super::{clean_line, date_of, header_of, shown_as_is};

/// Most bytes of body text shown; the rest is one click away (View
/// source). Laying out megabytes of text would make the window stutter.
pub const MAX_BODY_BYTES: usize = 512 * 1024;
/// Most header fields listed under "All headers".
pub const MAX_HEADERS: usize = 500;
/// Most attachments listed; a message with more is hostile or broken.
pub const MAX_ATTACHMENTS: usize = 1000;
/// Most links listed.
pub const MAX_LINKS: usize = 500;

/// Where the body text came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextSource {
    Plain,
    /// Converted from HTML: tags dropped, links numbered.
    Html,
    /// The message could not be parsed: its raw bytes as text.
    Raw,
    #[default]
    None,
}

/// A link found in the body: what it says and where it really goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub text: String,
    pub url: String,
}

impl Link {
    /// Only web and mail links may be handed to another program; anything
    /// else (`javascript:`, `file:`, `data:`...) is shown, never opened.
    pub fn may_open(&self) -> bool {
        let lower = self.url.to_ascii_lowercase();
        ["http://", "https://", "mailto:"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
            && !self.url.chars().any(|c| c.is_control() || c == ' ')
    }
}

/// One attachment (or inline part that is not the body text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Position among the message's parts (depth first), to find its bytes
    /// again with [`attachment_bytes`].
    pub part: usize,
    /// The name as the sender gave it, decoded and cleaned for display.
    pub name: String,
    /// A name that is safe to create in any folder (see `safe_file_name`).
    pub file_name: String,
    /// `type/subtype`, lower case.
    pub mime: String,
    /// Decoded size (estimated from the encoded size for base64).
    pub size_bytes: u64,
    /// Shown in the message rather than attached (`inline`, or an image
    /// referred to by the HTML).
    pub inline: bool,
}

impl Attachment {
    pub fn is_image(&self) -> bool {
        matches!(
            self.mime.as_str(),
            "image/png" | "image/jpeg" | "image/jpg" | "image/pjpeg" | "image/gif"
        )
    }
}

/// A downloaded message, ready to show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageView {
    pub from: String,
    pub to: String,
    pub cc: String,
    pub reply_to: String,
    pub subject: String,
    /// The Date header as sent.
    pub date: String,
    pub date_unix: Option<i64>,
    pub message_id: String,
    /// Every header field, decoded, in order (at most [`MAX_HEADERS`]).
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub text_source: TextSource,
    /// The text was cut at [`MAX_BODY_BYTES`].
    pub text_cut: bool,
    pub links: Vec<Link>,
    pub attachments: Vec<Attachment>,
    /// What could not be shown, in sentences.
    pub notes: Vec<String>,
}

impl MessageView {
    /// Reads a whole message. Any sender controls these bytes: a bug in
    /// the parsing costs the reader the structured view, never a crash;
    /// the raw text is shown instead.
    pub fn from_bytes(raw: &[u8]) -> MessageView {
        std::panic::catch_unwind(|| match mailparse::parse_mail(raw) {
            Ok(mail) => view_of(&mail),
            Err(_) => raw_view(
                raw,
                "This message is not in a form Letterbox can read; it is shown as it was received.",
            ),
        })
        .unwrap_or_else(|_| {
            tracing::warn!("a message could not be read; showing its raw text");
            raw_view(
                raw,
                "Part of this message could not be read; it is shown as it was received.",
            )
        })
    }

    /// The images among the attachments, in order.
    pub fn images(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments.iter().filter(|a| a.is_image())
    }
}

fn view_of(mail: &ParsedMail<'_>) -> MessageView {
    let header = |name: &str| header_of(mail, name);
    let date = header("Date");
    let date_unix = date_of(&date);
    let headers = mail
        .headers
        .iter()
        .take(MAX_HEADERS)
        .map(|h| (clean_line(&h.get_key()), clean_line(&h.get_value())))
        .collect();

    let mut view = MessageView {
        from: header("From"),
        to: header("To"),
        cc: header("Cc"),
        reply_to: header("Reply-To"),
        subject: header("Subject"),
        date,
        date_unix,
        message_id: header("Message-ID"),
        headers,
        ..MessageView::default()
    };

    let parts: Vec<&ParsedMail<'_>> = mail.parts().collect();
    let body = choose_body(&parts);
    match body {
        Some((index, source)) => {
            let text = decoded_text(parts[index], &mut view.notes);
            let (text, links) = match source {
                TextSource::Html => super::html::to_text(&text),
                _ => {
                    let links = super::html::links_in_plain_text(&text);
                    (text, links)
                }
            };
            view.text_source = source;
            set_text(&mut view, &text);
            view.links = links.into_iter().take(MAX_LINKS).collect();
        }
        None => view.text_source = TextSource::None,
    }
    let html_refs = body
        .filter(|(_, s)| *s == TextSource::Html)
        .map(|(i, _)| super::html::content_ids(&decoded_text(parts[i], &mut Vec::new())))
        .unwrap_or_default();
    for (index, part) in parts.iter().enumerate() {
        if Some(index) == body.map(|(i, _)| i) || !is_attachment(part, index == 0) {
            continue;
        }
        if view.attachments.len() == MAX_ATTACHMENTS {
            view.notes.push(format!(
                "This message has more than {MAX_ATTACHMENTS} attachments; only the first {MAX_ATTACHMENTS} are listed."
            ));
            break;
        }
        view.attachments
            .push(attachment_of(part, index, &html_refs));
    }
    view
}

/// The part to show as the body: the first `text/plain` that is not an
/// attachment, else the first such `text/html`.
fn choose_body(parts: &[&ParsedMail<'_>]) -> Option<(usize, TextSource)> {
    let candidate = |mime: &str| {
        parts.iter().position(|p| {
            p.ctype.mimetype.eq_ignore_ascii_case(mime)
                && p.get_content_disposition().disposition != DispositionType::Attachment
                && file_name_from_part(p).is_none()
        })
    };
    candidate("text/plain")
        .map(|i| (i, TextSource::Plain))
        .or_else(|| candidate("text/html").map(|i| (i, TextSource::Html)))
}

fn is_attachment(part: &ParsedMail<'_>, top_level: bool) -> bool {
    let mime = part.ctype.mimetype.to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        return false;
    }
    if part.get_content_disposition().disposition == DispositionType::Attachment
        || file_name_from_part(part).is_some()
    {
        return true;
    }
    // A text alternative that was not chosen as the body is not an
    // attachment; anything else that is not text is.
    !(mime.starts_with("text/") || (top_level && mime.is_empty()))
}

fn attachment_of(part: &ParsedMail<'_>, index: usize, html_refs: &[String]) -> Attachment {
    let mime = part.ctype.mimetype.to_ascii_lowercase();
    let given = file_name_from_part(part);
    let name = given
        .as_deref()
        .map(clean_line)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| unnamed(&mime));
    let content_id = part.headers.get_first_value("Content-ID").map(|id| {
        id.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    });
    let referenced = content_id.is_some_and(|id| html_refs.iter().any(|r| r == &id));
    let inline = referenced
        || (part.get_content_disposition().disposition == DispositionType::Inline
            && given.is_none()
            && mime.starts_with("image/"));
    Attachment {
        part: index,
        file_name: safe_file_name(given.as_deref().unwrap_or(&name), &mime),
        name,
        size_bytes: decoded_size(part),
        inline,
        mime,
    }
}

/// A name for a part the sender gave none.
fn unnamed(mime: &str) -> String {
    match mime {
        "message/rfc822" => "Forwarded message".into(),
        "text/calendar" => "Invitation".into(),
        m if m.starts_with("image/") => "Picture".into(),
        _ => "Attachment".into(),
    }
}

/// The decoded size without decoding: base64 carries 3 bytes in every 4
/// characters; other encodings are close to their decoded size.
fn decoded_size(part: &ParsedMail<'_>) -> u64 {
    match part.get_body_encoded() {
        mailparse::body::Body::Base64(body) => {
            let chars = body
                .get_raw()
                .iter()
                .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
                .count();
            (chars as u64 * 3) / 4
        }
        mailparse::body::Body::QuotedPrintable(body) => body.get_raw().len() as u64,
        mailparse::body::Body::SevenBit(body) | mailparse::body::Body::EightBit(body) => {
            body.get_raw().len() as u64
        }
        mailparse::body::Body::Binary(body) => body.get_raw().len() as u64,
    }
}

/// A part's text in its charset; a broken transfer encoding gives the raw
/// text and a note rather than nothing.
fn decoded_text(part: &ParsedMail<'_>, notes: &mut Vec<String>) -> String {
    part.get_body().unwrap_or_else(|_| {
        notes.push(
            "Part of this message was damaged on its way; it is shown as it was received.".into(),
        );
        let raw = part
            .get_body_raw()
            .unwrap_or_else(|_| part.get_body_encoded_raw());
        String::from_utf8_lossy(&raw).into_owned()
    })
}

fn set_text(view: &mut MessageView, text: &str) {
    let cut = text.len() > MAX_BODY_BYTES;
    let mut end = text.len().min(MAX_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let kept = &text[..end];
    let mut out = String::with_capacity(kept.len());
    for c in kept.chars() {
        if c == '\r' {
            continue;
        }
        if shown_as_is(c) || c == '\n' || c == '\t' {
            out.push(c);
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if cut {
        out.push_str("\n…");
        view.notes.push(
            "This message is too long to show whole here; View source shows all of it.".into(),
        );
    }
    view.text = out;
    view.text_cut = cut;
}

fn raw_view(raw: &[u8], note: &str) -> MessageView {
    let mut view = MessageView {
        text_source: TextSource::Raw,
        notes: vec![note.to_owned()],
        ..MessageView::default()
    };
    set_text(&mut view, &String::from_utf8_lossy(raw));
    view
}

/// The decoded bytes of the part at `part` (as numbered in
/// [`Attachment::part`]), or `None` if the message has no such part.
/// A transfer encoding that cannot be decoded gives the raw bytes: a
/// damaged picture is still the user's.
pub fn attachment_bytes(raw: &[u8], part: usize) -> Option<Vec<u8>> {
    std::panic::catch_unwind(|| {
        let mail = mailparse::parse_mail(raw).ok()?;
        let found = mail.parts().nth(part)?;
        Some(
            found
                .get_body_raw()
                .unwrap_or_else(|_| found.get_body_encoded_raw()),
        )
    })
    .ok()
    .flatten()
}

trait RawBody {
    fn get_body_encoded_raw(&self) -> Vec<u8>;
}

impl RawBody for ParsedMail<'_> {
    fn get_body_encoded_raw(&self) -> Vec<u8> {
        match self.get_body_encoded() {
            mailparse::body::Body::Base64(b) | mailparse::body::Body::QuotedPrintable(b) => {
                b.get_raw().to_vec()
            }
            mailparse::body::Body::SevenBit(b) | mailparse::body::Body::EightBit(b) => {
                b.get_raw().to_vec()
            }
            mailparse::body::Body::Binary(b) => b.get_raw().to_vec(),
        }
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
