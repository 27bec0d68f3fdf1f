//! HTML mail as text, with html2text: paragraphs, lists and tables laid
//! out in characters, each link's text followed by `[n]` and its real
//! address listed, so a link that says one address and goes to another
//! shows both. The HTML is parsed, never rendered: no style, script,
//! frame or image is ever loaded.

use html2text::render::RichAnnotation;

use super::view::Link;

/// Columns of the text html2text lays out; the window wraps it further.
const TEXT_WIDTH: usize = 80;
/// Most HTML converted; a bigger part is mostly markup, and converting it
/// would keep the reader busy for seconds.
pub const MAX_HTML_BYTES: usize = 4 * 1024 * 1024;

/// The text of `html` and the links in it, in order, numbered from 1 as
/// the text marks them. Unparseable HTML gives its tags stripped.
pub fn to_text(html: &str) -> (String, Vec<Link>) {
    let mut end = html.len().min(MAX_HTML_BYTES);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let html = &html[..end];
    let lines = match html2text::config::rich().lines_from_read(html.as_bytes(), TEXT_WIDTH) {
        Ok(lines) => lines,
        Err(_) => return (super::strip_html(html), Vec::new()),
    };
    let mut text = String::with_capacity(html.len() / 3);
    let mut links: Vec<Link> = Vec::new();
    // The link being written, with the text seen so far.
    let mut open: Option<Link> = None;
    for line in lines {
        for piece in line.tagged_strings() {
            let url = piece.tag.iter().rev().find_map(|a| match a {
                RichAnnotation::Link(url) => Some(url.trim()),
                _ => None,
            });
            if open.as_ref().map(|l| l.url.as_str()) != url {
                close_link(&mut open, &mut links, &mut text);
                open = url.map(|url| Link {
                    text: String::new(),
                    url: url.to_owned(),
                });
            }
            text.push_str(&piece.s);
            if let Some(link) = open.as_mut() {
                link.text.push_str(&piece.s);
            }
        }
        close_link(&mut open, &mut links, &mut text);
        text.push('\n');
    }
    (text, links)
}

/// Ends the open link: its number after its text, unless it points where
/// its text already says (a bare address needs no footnote).
fn close_link(open: &mut Option<Link>, links: &mut Vec<Link>, text: &mut String) {
    let Some(mut link) = open.take() else {
        return;
    };
    link.text = link.text.split_whitespace().collect::<Vec<_>>().join(" ");
    if link.url.is_empty() || link.url.starts_with('#') {
        return;
    }
    let number = match links.iter().position(|l| l.url == link.url) {
        Some(i) => i + 1,
        None => {
            links.push(link.clone());
            links.len()
        }
    };
    if link.text != link.url && link.text.trim_end_matches('/') != link.url.trim_end_matches('/') {
        text.push_str(&format!(" [{number}]"));
    }
}

/// Web and mail addresses written out in plain text.
pub fn links_in_plain_text(text: &str) -> Vec<Link> {
    let mut links: Vec<Link> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '(' | ')'))
    {
        let lower = word.to_ascii_lowercase();
        let start = ["https://", "http://", "mailto:"]
            .iter()
            .filter_map(|scheme| lower.find(scheme))
            .min();
        let Some(start) = start else { continue };
        let url = word[start..].trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', ']']);
        if url.len() > 10 && !links.iter().any(|l| l.url == url) {
            links.push(Link {
                text: url.to_owned(),
                url: url.to_owned(),
            });
        }
    }
    links
}

/// The Content-IDs the HTML refers to (`src="cid:..."`): those parts are
/// pictures in the text, not attachments the sender meant to send.
pub fn content_ids(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut ids = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("cid:") {
        let start = from + at + 4;
        let end = html[start..]
            .find(['"', '\'', ')', ' ', '>'])
            .map_or(html.len(), |e| start + e);
        ids.push(html[start..end].to_owned());
        from = end;
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_numbered_after_their_text_with_the_real_address() {
        let html = r#"<p>Hello <b>there</b>.</p>
            <p>Pay at <a href="https://evil.example/login">https://bank.example</a> now,
            or read <a href="https://news.example/a">the news</a> and
            <a href="https://news.example/a">again</a>.</p>
            <ul><li>one</li><li>two</li></ul>
            <p><a href="https://plain.example/">https://plain.example/</a></p>"#;
        let (text, links) = to_text(html);
        assert!(text.contains("Hello there."), "{text}");
        assert!(text.contains("https://bank.example [1]"), "{text}");
        assert!(text.contains("the news [2]"), "{text}");
        assert!(text.contains("again [2]"), "{text}");
        assert!(text.contains("one") && text.contains("two"), "{text}");
        assert!(!text.contains("plain.example/ ["), "no footnote: {text}");
        assert_eq!(links[0].url, "https://evil.example/login");
        assert_eq!(links[0].text, "https://bank.example");
        assert_eq!(links[1].url, "https://news.example/a");
        assert_eq!(links.len(), 3);
    }

    #[test]
    fn scripts_styles_and_images_leave_no_code_behind() {
        let html = r#"<html><head><style>p { color: red }</style>
            <script>fetch("http://127.0.0.1:9/x")</script></head>
            <body><img src="http://tracker.example/p.gif" alt="">
            <iframe src="http://frame.example/"></iframe><p>Body</p></body></html>"#;
        let (text, _) = to_text(html);
        assert!(text.contains("Body"), "{text}");
        assert!(!text.contains("fetch") && !text.contains("color"), "{text}");
    }

    #[test]
    fn plain_text_addresses_are_found() {
        let links = links_in_plain_text(
            "See https://example.org/a?b=1, (http://x.example/y) or <mailto:me@example.org>.",
        );
        let urls: Vec<_> = links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://example.org/a?b=1",
                "http://x.example/y",
                "mailto:me@example.org"
            ]
        );
    }

    #[test]
    fn content_ids_are_collected() {
        let html = r#"<img src="cid:logo@x"><img src='CID:photo.1'>"#;
        assert_eq!(content_ids(html), ["logo@x", "photo.1"]);
    }
}
