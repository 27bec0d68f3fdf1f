//! The reader's view of whole messages, including broken and hostile ones.

use super::*;

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

const PDF: &[u8] = b"%PDF-1.4 pretend this is a report\n%%EOF\n";

fn with_attachments() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    crlf(&format!(
        "From: Alice <alice@example.org>
To: Bob <bob@example.org>
Cc: Carol <carol@example.org>
Subject: =?UTF-8?Q?Fotos_vom_Ausflug_=E2=9B=B0?=
Date: Tue, 24 Nov 2026 12:00:00 +0000
Message-ID: <1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain; charset=utf-8

Hallo Bob, hier die Fotos: https://photos.example.org/trip
--alt
Content-Type: multipart/related; boundary=rel

--rel
Content-Type: text/html; charset=utf-8

<p>Hallo <b>Bob</b></p><img src=\"cid:logo@x\">
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

{png}
--rel--
--alt--
--outer
Content-Type: application/pdf; name=\"Bericht.pdf\"
Content-Disposition: attachment; filename=\"Bericht.pdf\"
Content-Transfer-Encoding: base64

{pdf}
--outer--
",
        png = b64(&tiny_png()),
        pdf = b64(PDF),
    ))
}

fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbaImage::from_pixel(3, 2, image::Rgba([200, 10, 10, 255]))
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn headers_plain_text_and_attachments() {
    let raw = with_attachments();
    let view = MessageView::from_bytes(&raw);
    assert_eq!(view.from, "Alice <alice@example.org>");
    assert_eq!(view.cc, "Carol <carol@example.org>");
    assert_eq!(view.subject, "Fotos vom Ausflug ⛰");
    assert_eq!(view.date_unix, Some(1_795_521_600));
    assert_eq!(view.text_source, TextSource::Plain);
    assert_eq!(
        view.text,
        "Hallo Bob, hier die Fotos: https://photos.example.org/trip"
    );
    assert_eq!(view.links[0].url, "https://photos.example.org/trip");
    assert!(
        view.headers
            .iter()
            .any(|(k, v)| k == "Message-ID" && v == "<1@example.org>")
    );

    let names: Vec<_> = view.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Picture", "Bericht.pdf"]);
    let logo = &view.attachments[0];
    assert!(logo.inline, "referred to by the HTML");
    assert!(logo.is_image());
    let pdf = &view.attachments[1];
    assert!(!pdf.inline);
    assert_eq!(pdf.mime, "application/pdf");
    assert_eq!(pdf.file_name, "Bericht.pdf");
    assert!(
        pdf.size_bytes.abs_diff(PDF.len() as u64) <= 2,
        "{}",
        pdf.size_bytes
    );
    assert_eq!(attachment_bytes(&raw, pdf.part).unwrap(), PDF);
    assert_eq!(attachment_bytes(&raw, logo.part).unwrap(), tiny_png());
    assert_eq!(view.images().count(), 1);
    assert!(view.notes.is_empty(), "{:?}", view.notes);
}

#[test]
fn html_only_mail_is_read_as_text_with_its_links() {
    let raw = crlf(
        "From: shop@example.com
Subject: Offer
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<html><body><h1>Gro=DFe Preise</h1><p>Click <a href=3D\"https://shop.example.com/x\">here</a>.</p>
<script>document.write('x')</script><img src=3D\"https://tracker.example/p.gif\"></body></html>
",
    );
    let view = MessageView::from_bytes(&raw);
    assert_eq!(view.text_source, TextSource::Html);
    assert!(view.text.contains("Große Preise"), "{}", view.text);
    assert!(view.text.contains("here [1]"), "{}", view.text);
    assert!(!view.text.contains("document.write"), "{}", view.text);
    assert_eq!(view.links.len(), 1);
    assert_eq!(view.links[0].url, "https://shop.example.com/x");
    assert!(view.links[0].may_open());
    assert!(view.attachments.is_empty());
}

#[test]
fn only_web_and_mail_links_may_be_opened() {
    let link = |url: &str| Link {
        text: String::new(),
        url: url.into(),
    };
    assert!(link("https://a.example/").may_open());
    assert!(link("MAILTO:x@y").may_open());
    for bad in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,x",
        "https://a.example/\nfile:///x",
        "smb://host/share",
    ] {
        assert!(!link(bad).may_open(), "{bad}");
    }
}

#[test]
fn broken_mime_shows_what_it_can() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "no closing boundary",
            crlf(
                "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nstill readable\n--b\nContent-Type: application/pdf; name=a.pdf\n\nxx",
            ),
        ),
        (
            "unknown charset",
            crlf("Content-Type: text/plain; charset=x-no-such-charset\n\nplain words\n"),
        ),
        (
            "no charset, 8-bit",
            b"Subject: x\r\n\r\ncaf\xe9 au lait\r\n".to_vec(),
        ),
        (
            "bad base64",
            crlf(
                "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!not base64 at all***\n",
            ),
        ),
        (
            "bad quoted-printable",
            crlf(
                "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nbroken =ZZ and =\n",
            ),
        ),
        ("only headers", crlf("From: a@b\nSubject: nothing else")),
        ("empty", Vec::new()),
        ("binary garbage", (0..=255u8).cycle().take(5000).collect()),
    ];
    for (what, raw) in cases {
        let view = MessageView::from_bytes(&raw);
        assert!(
            view.text
                .chars()
                .all(|c| c == '\n' || c == '\t' || !c.is_control()),
            "{what}"
        );
        match what {
            "no closing boundary" => {
                assert!(view.text.contains("still readable"), "{what}: {view:?}");
                assert_eq!(view.attachments.len(), 1, "{what}");
            }
            "unknown charset" => assert!(view.text.contains("plain words"), "{what}"),
            "no charset, 8-bit" => assert!(view.text.starts_with("caf"), "{what}"),
            "only headers" => {
                assert_eq!(view.subject, "nothing else");
                assert!(view.text.is_empty());
            }
            "bad base64" => {
                assert!(view.text.contains("not base64 at all"), "{view:?}");
                assert!(!view.notes.is_empty(), "damage is said");
            }
            "bad quoted-printable" => assert!(view.text.contains("broken"), "{view:?}"),
            "empty" => assert!(view.text.is_empty() && view.attachments.is_empty()),
            // Read as a header block of sorts; View source shows it whole.
            "binary garbage" => assert!(!view.text.is_empty() || !view.headers.is_empty()),
            _ => unreachable!("{what}"),
        }
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    // 90 levels are read as they are, on a small stack...
    let view = nested(90);
    assert_eq!(view.text_source, TextSource::Plain);
    assert_eq!(view.text, "deep inside");
    // ...and deeper than mailparse goes, what is left is shown as text.
    let view = nested(150);
    assert!(view.text.contains("deep inside"), "{:?}", view.text_source);
}

fn nested(levels: usize) -> MessageView {
    let mut raw = String::new();
    for level in 0..levels {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ndeep inside\r\n");
    for level in (0..levels).rev() {
        raw.push_str(&format!("--b{level}--\r\n"));
    }
    // On a thread with a small stack, as the reader's threads are not big.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || MessageView::from_bytes(raw.as_bytes()))
        .unwrap()
        .join()
        .expect("no stack overflow")
}

#[test]
fn a_huge_attachment_is_listed_with_its_size() {
    let line = "QUFB".repeat(19) + "\r\n"; // 76 base64 characters: 57 bytes
    let lines = 50 * 1024 * 1024 / 57 + 1;
    let mut raw = crlf(
        "Subject: big\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/octet-stream; name=big.bin\nContent-Transfer-Encoding: base64\n\n",
    );
    raw.reserve(lines * line.len() + 16);
    for _ in 0..lines {
        raw.extend_from_slice(line.as_bytes());
    }
    raw.extend_from_slice(b"--b--\r\n");
    let view = MessageView::from_bytes(&raw);
    assert_eq!(view.text, "see attached");
    assert_eq!(view.attachments.len(), 1);
    assert!(view.attachments[0].size_bytes >= 50 * 1024 * 1024);
}

#[test]
fn a_long_text_is_cut_with_a_note() {
    let mut raw = crlf("Subject: long\nContent-Type: text/plain\n\n");
    for i in 0..60_000 {
        raw.extend_from_slice(format!("line {i} of a very long message\r\n").as_bytes());
    }
    let view = MessageView::from_bytes(&raw);
    assert!(view.text_cut);
    assert!(view.text.len() <= MAX_BODY_BYTES + 8);
    assert!(view.text.ends_with('…'));
    assert!(!view.notes.is_empty());
}
