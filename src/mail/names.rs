//! Attachment file names, made safe. A sender chooses the name, so it may
//! try to climb out of the folder (`../../.bashrc`), be absolute, hide an
//! extension behind control or bidi characters, be a device name on
//! Windows (`CON`), or be thousands of bytes long. The rules here make any
//! name one plain file name inside the folder the user chose, and keep
//! the extension where they can.

use mailparse::ParsedMail;

/// Longest file name most file systems accept, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The file name the sender gave a part (Content-Disposition `filename`,
/// else Content-Type `name`), with RFC 2231 parameters (done by
/// mailparse) and RFC 2047 encoded words (done here: many mailers quote
/// them into the parameter) decoded.
pub fn file_name_from_part(part: &ParsedMail<'_>) -> Option<String> {
    let disposition = part.get_content_disposition();
    let raw = disposition
        .params
        .get("filename")
        .or_else(|| part.ctype.params.get("name"))?;
    let decoded = decode_words(raw);
    (!decoded.trim().is_empty()).then_some(decoded)
}

/// Decodes RFC 2047 encoded words in a parameter value by reading it as
/// a header's value.
fn decode_words(value: &str) -> String {
    if !value.contains("=?") {
        return value.to_owned();
    }
    let line = format!("X: {value}\r\n");
    match mailparse::parse_header(line.as_bytes()) {
        Ok((header, _)) => header.get_value(),
        Err(_) => value.to_owned(),
    }
}

/// Makes `name` safe to create inside any folder: only its last path
/// component is kept; path separators, control and bidi characters, and
/// characters Windows forbids become `_`; `..` and leading dots go (no
/// hidden files, no climbing); trailing dots and spaces go; a name Windows
/// reserves (`CON`, `NUL`, `COM1`, ...) gets a `_` in front; the result has
/// at most 255 bytes, cut in the stem so the extension survives. An empty
/// result becomes `attachment` with an extension for `mime`.
pub fn safe_file_name(name: &str, mime: &str) -> String {
    // The last component, whichever separator the sender used.
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut cleaned: String = last
        .chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
                || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    while cleaned.contains("..") {
        cleaned = cleaned.replace("..", ".");
    }
    let cleaned = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    let mut cleaned = if cleaned.chars().all(|c| c == '_') {
        String::new()
    } else {
        cleaned
    };
    if cleaned.is_empty() {
        cleaned = format!("attachment{}", extension_for(mime));
    }
    if is_windows_reserved(&cleaned) {
        cleaned.insert(0, '_');
    }
    shorten(&cleaned, MAX_NAME_BYTES)
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9`, with or
/// without an extension, in any case.
fn is_windows_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper.as_bytes()[3].is_ascii_digit()
            && upper.as_bytes()[3] != b'0')
}

/// At most `max` bytes, cutting the stem (on a character boundary) and
/// keeping a short extension.
fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 && dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    let mut end = max.saturating_sub(ext.len()).min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

/// A file extension for parts that came without a name.
pub fn extension_for(mime: &str) -> &'static str {
    match mime {
        "application/pdf" => ".pdf",
        "image/png" => ".png",
        "image/jpeg" | "image/jpg" | "image/pjpeg" => ".jpg",
        "image/gif" => ".gif",
        "image/webp" => ".webp",
        "text/plain" => ".txt",
        "text/html" => ".html",
        "text/calendar" => ".ics",
        "message/rfc822" => ".eml",
        "application/zip" => ".zip",
        _ => ".bin",
    }
}

/// Types that run code when opened: opening one from a mail is how most
/// malware arrives, so Letterbox warns first.
pub fn runs_code_when_opened(file_name: &str) -> bool {
    const RISKY: &[&str] = &[
        "exe", "com", "bat", "cmd", "scr", "pif", "msi", "msp", "cpl", "dll", "js", "jse", "vbs",
        "vbe", "wsf", "wsh", "ps1", "psm1", "hta", "jar", "sh", "bash", "zsh", "csh", "run", "bin",
        "desktop", "appimage", "deb", "rpm", "py", "pl", "rb", "lnk", "reg", "iso", "img", "apk",
        "app", "command", "action", "workflow", "docm", "xlsm", "pptm",
    ];
    let lower = file_name.to_ascii_lowercase();
    lower
        .rsplit('.')
        .next()
        .filter(|_| lower.contains('.'))
        .is_some_and(|ext| RISKY.contains(&ext))
}

/// A name not taken in `folder`: `name`, else `name (2).ext`, `name (3).ext`,
/// ... (the stem cut so the number always fits in 255 bytes). `None` when
/// 10,000 numbers are taken. Saving creates the file exclusively all the
/// same, so a name another program takes in between is never overwritten.
pub fn unused_name(folder: &std::path::Path, name: &str) -> Option<String> {
    // A dangling symbolic link takes a name too.
    let taken = |name: &str| std::fs::symlink_metadata(folder.join(name)).is_ok();
    if !taken(name) {
        return Some(name.to_owned());
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    (2..10_000)
        .map(|n| {
            let suffix = format!(" ({n}){ext}");
            let mut end = MAX_NAME_BYTES.saturating_sub(suffix.len()).min(stem.len());
            while !stem.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{suffix}", &stem[..end])
        })
        .find(|candidate| !taken(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_plain_names_inside_the_folder() {
        let cases = [
            ("../../etc/passwd", "passwd"),
            ("/abs/path/report.pdf", "report.pdf"),
            ("C:\\Users\\x\\evil.exe", "evil.exe"),
            ("..", "attachment.pdf"),
            ("...hidden", "hidden"),
            (".bashrc", "bashrc"),
            ("a\0b.txt", "a_b.txt"),
            ("line\nbreak.txt", "line_break.txt"),
            ("CON", "_CON"),
            ("con.txt", "_con.txt"),
            ("LPT1.doc", "_LPT1.doc"),
            ("COM0.doc", "COM0.doc"),
            ("trailing. . ", "trailing"),
            ("invoice\u{202e}fdp.exe", "invoice_fdp.exe"),
            ("what?.txt", "what_.txt"),
            ("", "attachment.pdf"),
            ("////", "attachment.pdf"),
        ];
        for (given, expected) in cases {
            assert_eq!(
                safe_file_name(given, "application/pdf"),
                expected,
                "{given:?}"
            );
        }
    }

    #[test]
    fn long_names_keep_their_extension_within_255_bytes() {
        let long = format!("{}.pdf", "ä".repeat(300));
        let safe = safe_file_name(&long, "application/pdf");
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("ä.pdf"));
        let no_ext = "x".repeat(300);
        assert_eq!(safe_file_name(&no_ext, "").len(), MAX_NAME_BYTES);
    }

    #[test]
    fn executables_are_recognised_by_extension() {
        for risky in ["setup.EXE", "run.sh", "a.tar.js", "x.desktop", "Thing.jar"] {
            assert!(runs_code_when_opened(risky), "{risky}");
        }
        for fine in ["photo.jpg", "report.pdf", "exe", "notes.txt"] {
            assert!(!runs_code_when_opened(fine), "{fine}");
        }
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(unused_name(dir.path(), "a.pdf").unwrap(), "a.pdf");
        std::fs::write(dir.path().join("a.pdf"), b"1").unwrap();
        assert_eq!(unused_name(dir.path(), "a.pdf").unwrap(), "a (2).pdf");
        std::fs::write(dir.path().join("a (2).pdf"), b"2").unwrap();
        assert_eq!(unused_name(dir.path(), "a.pdf").unwrap(), "a (3).pdf");
        std::fs::write(dir.path().join("noext"), b"3").unwrap();
        assert_eq!(unused_name(dir.path(), "noext").unwrap(), "noext (2)");
        // A name as long as a name can be still gets its number.
        let long = safe_file_name(&format!("{}.pdf", "x".repeat(400)), "");
        assert_eq!(long.len(), MAX_NAME_BYTES);
        std::fs::write(dir.path().join(&long), b"4").unwrap();
        let next = unused_name(dir.path(), &long).unwrap();
        assert!(
            next.ends_with("x (2).pdf") && next.len() <= MAX_NAME_BYTES,
            "{next}"
        );
        std::fs::write(dir.path().join(&next), b"5").unwrap();
        assert!(
            unused_name(dir.path(), &long)
                .unwrap()
                .ends_with("x (3).pdf")
        );
    }

    #[test]
    fn encoded_words_and_rfc2231_names_are_decoded() {
        let raw = concat!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: application/pdf; name=\"=?UTF-8?B?UsOpc3Vtw6kucGRm?=\"\r\n\r\nx\r\n",
            "--b\r\nContent-Type: application/pdf\r\n",
            "Content-Disposition: attachment; filename*0*=UTF-8''%C3%9Cber; filename*1=\"sicht.pdf\"\r\n\r\nx\r\n",
            "--b--\r\n"
        );
        let mail = mailparse::parse_mail(raw.as_bytes()).unwrap();
        let names: Vec<_> = mail
            .parts()
            .skip(1)
            .map(|p| file_name_from_part(p))
            .collect();
        assert_eq!(
            names,
            [
                Some("Résumé.pdf".to_owned()),
                Some("Übersicht.pdf".to_owned())
            ]
        );
    }
}
