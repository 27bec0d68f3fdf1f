//! Reply and Forward, handed to the user's mail program as `mailto:` links
//! (RFC 6068): the address, the subject with `Re:` or `Fwd:`, and the text
//! quoted. Letterbox does not send mail itself.

use super::view::MessageView;

/// Most characters of quoted text put in a link: mail programs and
/// desktops cut or refuse very long links.
pub const MAX_QUOTED_CHARS: usize = 6000;

/// A reply to the sender (or to Reply-To, when the message names one).
pub fn reply(view: &MessageView) -> String {
    let to = address_of(if view.reply_to.is_empty() {
        &view.from
    } else {
        &view.reply_to
    });
    let subject = prefixed("Re:", &view.subject);
    let intro = if view.from.is_empty() {
        "You wrote:".to_owned()
    } else {
        format!("{} wrote:", display_of(&view.from))
    };
    let body = format!("\n\n{intro}\n{}", quoted(&view.text));
    mailto(&to, &subject, &body)
}

/// The message forwarded: headers and text, to an address the user types.
pub fn forward(view: &MessageView) -> String {
    let subject = prefixed("Fwd:", &view.subject);
    let mut body = String::from("\n\n-------- Forwarded message --------\n");
    for (name, value) in [
        ("From", &view.from),
        ("Date", &view.date),
        ("Subject", &view.subject),
        ("To", &view.to),
    ] {
        if !value.is_empty() {
            body.push_str(&format!("{name}: {value}\n"));
        }
    }
    body.push('\n');
    body.push_str(&cut(&view.text));
    mailto("", &subject, &body)
}

fn prefixed(prefix: &str, subject: &str) -> String {
    let trimmed = subject.trim();
    if trimmed
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    {
        trimmed.to_owned()
    } else {
        format!("{prefix} {trimmed}").trim_end().to_owned()
    }
}

fn quoted(text: &str) -> String {
    cut(text)
        .lines()
        .map(|line| {
            if line.is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED_CHARS {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    kept.push_str("\n[…]");
    kept
}

/// The bare address of a From or Reply-To field.
fn address_of(field: &str) -> String {
    match mailparse::addrparse(field) {
        Ok(list) => list
            .iter()
            .filter_map(|a| match a {
                mailparse::MailAddr::Single(info) => Some(info.addr.clone()),
                mailparse::MailAddr::Group(group) => {
                    group.addrs.first().map(|info| info.addr.clone())
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Err(_) => field.trim().to_owned(),
    }
}

fn display_of(field: &str) -> String {
    super::display_name(field)
}

/// `mailto:TO?subject=…&body=…`, every reserved character percent-encoded
/// (line breaks as `%0D%0A`, as RFC 6068 asks).
pub fn mailto(to: &str, subject: &str, body: &str) -> String {
    let mut out = format!("mailto:{}", encode(to, true));
    let mut separator = '?';
    for (name, value) in [("subject", subject), ("body", body)] {
        if value.is_empty() {
            continue;
        }
        let value = value.replace("\r\n", "\n").replace('\n', "\r\n");
        out.push(separator);
        out.push_str(name);
        out.push('=');
        out.push_str(&encode(&value, false));
        separator = '&';
    }
    out
}

fn encode(text: &str, address: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (address && matches!(byte, b'@' | b','));
        if keep {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> MessageView {
        MessageView {
            from: "Alice Example <alice@example.org>".into(),
            to: "bob@example.org".into(),
            subject: "Dinner & drinks?".into(),
            date: "Tue, 24 Nov 2026 12:00:00 +0000".into(),
            text: "See you at 8.\n\nA.".into(),
            ..MessageView::default()
        }
    }

    #[test]
    fn a_reply_goes_to_the_sender_with_the_text_quoted() {
        let link = reply(&view());
        assert!(
            link.starts_with(
                "mailto:alice@example.org?subject=Re%3A%20Dinner%20%26%20drinks%3F&body="
            ),
            "{link}"
        );
        assert!(
            link.contains(
                "Alice%20Example%20wrote%3A%0D%0A%3E%20See%20you%20at%208.%0D%0A%3E%0D%0A%3E%20A."
            ),
            "{link}"
        );
        let mut with_reply_to = view();
        with_reply_to.reply_to = "List <list@example.org>".into();
        with_reply_to.subject = "RE: old".into();
        let link = reply(&with_reply_to);
        assert!(
            link.starts_with("mailto:list@example.org?subject=RE%3A%20old&"),
            "{link}"
        );
    }

    #[test]
    fn a_forward_carries_the_headers_and_text() {
        let link = forward(&view());
        assert!(
            link.starts_with("mailto:?subject=Fwd%3A%20Dinner"),
            "{link}"
        );
        assert!(
            link.contains("From%3A%20Alice%20Example%20%3Calice%40example.org%3E"),
            "{link}"
        );
        assert!(link.contains("See%20you%20at%208."), "{link}");
    }

    #[test]
    fn long_texts_are_cut() {
        let mut long = view();
        long.text = "x".repeat(MAX_QUOTED_CHARS * 3);
        assert!(reply(&long).len() < MAX_QUOTED_CHARS * 3 + 400);
    }
}
