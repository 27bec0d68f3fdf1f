//! The preview builder and the reader's whole-message view on arbitrary
//! message bytes: MIME structure, transfer encodings, charsets, RFC 2047
//! words, HTML to text, attachment names. They must never panic, and what
//! the window relies on must hold: at most `lines` lines of preview text;
//! header fields that are single lines without control characters; no
//! control (but tab and newline) or reordering characters anywhere; every
//! attachment's file name one safe name (no separator, no leading dot, no
//! control character, at most 255 bytes); every listed part can be fetched.
//!
//! Input layout: `[lines] message bytes...`.

#![no_main]

use letterbox::mail::{MessageView, Preview, attachment_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&lines, raw)) = data.split_first() else {
        return;
    };
    let lines = usize::from(lines % 64);
    let preview = Preview::from_bytes(raw, lines);

    let count = if preview.text.is_empty() {
        0
    } else {
        preview.text.split('\n').count()
    };
    assert!(
        count <= lines,
        "{count} lines of text, at most {lines} asked for"
    );
    assert!(
        !preview
            .text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_override(c)),
        "control or reordering character in the text: {:?}",
        preview.text
    );
    for (name, value) in [
        ("From", &preview.from),
        ("To", &preview.to),
        ("Subject", &preview.subject),
        ("Date", &preview.date),
        ("Message-ID", &preview.message_id),
    ] {
        assert!(
            !value.chars().any(|c| c.is_control() || is_bidi_override(c)),
            "control character in {name}: {value:?}"
        );
    }
    if preview.date.is_empty() {
        assert_eq!(preview.date_unix, None, "a date from no Date header");
    }
    let _ = preview.from_display();

    let view = MessageView::from_bytes(raw);
    assert!(
        !view
            .text
            .chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi_override(c)),
        "control or reordering character in the body: {:?}",
        view.text
    );
    for (name, value) in [
        ("From", &view.from),
        ("To", &view.to),
        ("Cc", &view.cc),
        ("Subject", &view.subject),
    ] {
        assert!(
            !value.chars().any(|c| c.is_control() || is_bidi_override(c)),
            "control character in {name}: {value:?}"
        );
    }
    for attachment in &view.attachments {
        let name = &attachment.file_name;
        assert!(!name.is_empty() && name.len() <= 255, "{name:?}");
        assert!(!name.starts_with('.'), "{name:?}");
        assert!(!name.contains(['/', '\\']), "{name:?}");
        assert!(
            !name.chars().any(|c| c.is_control() || is_bidi_override(c)),
            "{name:?}"
        );
        assert!(
            attachment_bytes(raw, attachment.part).is_some(),
            "part {} is listed but cannot be fetched",
            attachment.part
        );
    }
});

/// Marks that reorder how text is shown: a sender could make a name or a
/// file extension read backwards.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
