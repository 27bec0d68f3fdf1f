//! `letterbox index`, `search` and `attachments` on real files: a profile
//! with two stores, hostile attachment names that must land inside the
//! chosen folder under safe names, and a file that is already there.

use std::path::{Path, PathBuf};

use crate::support::cli::letterbox_env;

fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn deliver(maildir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let path = maildir.join("new").join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn letter(subject: &str, body: &str) -> Vec<u8> {
    crlf(&format!(
        "From: Alice <alice@example.org>\nSubject: {subject}\nDate: Tue, 24 Nov 2026 12:00:00 +0000\n\n{body}\n"
    ))
}

#[test]
fn index_and_search_every_store_of_a_profile() {
    let profile = tempfile::tempdir().unwrap();
    let one = profile.path().join("alice@127.0.0.1_1995/Maildir");
    let two = profile.path().join("bob@127.0.0.1_2995/Maildir");
    deliver(&one, "1.a", &letter("Dinner", "Pasta with pesto at eight"));
    deliver(&one, "2.a", &letter("Invoice", "Amount due"));
    let found = deliver(&two, "3.b", &letter("Recipe", "Pesto needs basil"));
    let dir = profile.path().to_str().unwrap();

    let run = letterbox_env(&["index", "--profile", dir, "--json"], &[]);
    run.expect_code(0);
    let json = run.json();
    assert_eq!(json["messages"], 3);
    assert_eq!(json["indexed"], 3);
    assert!(json["seconds"].as_f64().unwrap() >= 0.0);
    // Again: nothing new to index.
    let again = letterbox_env(&["index", "--profile", dir, "--json"], &[]).json();
    assert_eq!(
        (again["messages"].as_u64(), again["indexed"].as_u64()),
        (Some(3), Some(0))
    );

    let run = letterbox_env(&["search", "--profile", dir, "pesto", "--json"], &[]);
    run.expect_code(0);
    let hits = run.json();
    let subjects: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 2, "{hits}");
    assert!(subjects.contains(&"Dinner") && subjects.contains(&"Recipe"));
    let recipe = hits
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["subject"] == "Recipe")
        .unwrap();
    assert_eq!(recipe["file"], found.to_str().unwrap());
    assert_eq!(recipe["from"], "Alice <alice@example.org>");
    assert_eq!(recipe["date"], "2026-11-24T12:00:00Z");
    // Two words: both must match; the last may be the start of a word.
    let narrow = letterbox_env(&["search", "--profile", dir, "pesto", "bas", "--json"], &[]).json();
    assert_eq!(narrow.as_array().unwrap().len(), 1);
    assert_eq!(narrow[0]["subject"], "Recipe");
    // A file another program removed is gone from the results.
    std::fs::remove_file(&found).unwrap();
    let after = letterbox_env(&["search", "--profile", dir, "basil", "--json"], &[]).json();
    assert_eq!(after.as_array().unwrap().len(), 0);
}

/// One attachment per hostile name, each with its own content.
fn hostile_message() -> (Vec<u8>, Vec<(String, String)>) {
    use base64::Engine as _;
    let long = format!("{}.txt", "n".repeat(300));
    let names: Vec<(&str, String)> = vec![
        ("traversal", "filename=\"../../etc/passwd\"".into()),
        ("absolute", "filename=\"/abs/path/evil.sh\"".into()),
        ("device", "filename=\"CON\"".into()),
        (
            "nul",
            "filename=\"a\\u{0}b.txt\"".replace("\\u{0}", "\u{0}"),
        ),
        ("long", format!("filename=\"{long}\"")),
        ("newline", "filename=\"two\r\n lines.txt\"".into()),
        (
            "continuation",
            "filename*0*=UTF-8''%C3%9Cber; filename*1=\"sicht.pdf\"".into(),
        ),
        ("taken", "filename=\"taken.txt\"".into()),
        ("hidden", "filename=\".profile\"".into()),
    ];
    let mut raw = String::from(
        "From: x@example.org\nSubject: hostile\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n",
    );
    let mut expected = Vec::new();
    for (tag, disposition) in &names {
        let content = format!("content of {tag}");
        raw.push_str(&format!(
            "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; {disposition}\nContent-Transfer-Encoding: base64\n\n{}\n",
            base64::engine::general_purpose::STANDARD.encode(&content)
        ));
        expected.push(((*tag).to_owned(), content));
    }
    raw.push_str("--b--\n");
    (crlf(&raw), expected)
}

#[test]
fn hostile_attachment_names_are_saved_safely_inside_the_folder() {
    let work = tempfile::tempdir().unwrap();
    let (raw, expected) = hostile_message();
    let message = work.path().join("hostile.eml");
    std::fs::write(&message, &raw).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("taken.txt"), b"the user's own file").unwrap();

    let listed = letterbox_env(&["attachments", message.to_str().unwrap(), "--json"], &[]);
    listed.expect_code(0);
    assert_eq!(listed.json().as_array().unwrap().len(), expected.len());

    let run = letterbox_env(
        &[
            "attachments",
            message.to_str().unwrap(),
            "--save",
            out.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    run.expect_code(0);
    let saved = run.json();
    let saved = saved.as_array().unwrap();
    assert_eq!(saved.len(), expected.len());
    for (item, (tag, content)) in saved.iter().zip(&expected) {
        let path = PathBuf::from(item["saved"].as_str().unwrap());
        assert_eq!(
            path.parent(),
            Some(out.as_path()),
            "{tag}: {}",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(!name.starts_with('.'), "{tag}: {name}");
        assert!(name.len() <= 255, "{tag}: {} bytes", name.len());
        assert!(!name.chars().any(char::is_control), "{tag}: {name:?}");
        assert_eq!(&std::fs::read_to_string(&path).unwrap(), content, "{tag}");
        match tag.as_str() {
            "traversal" => assert_eq!(name, "passwd"),
            "absolute" => assert_eq!(name, "evil.sh"),
            "device" => assert_eq!(name, "_CON"),
            "nul" => assert_eq!(name, "a_b.txt"),
            "long" => assert!(name.ends_with(".txt")),
            "continuation" => assert_eq!(name, "Übersicht.pdf"),
            "taken" => assert_eq!(name, "taken (2).txt"),
            "hidden" => assert_eq!(name, "profile"),
            _ => {}
        }
    }
    // Nothing was written anywhere but into the folder, and the user's
    // file is as it was.
    assert_eq!(
        std::fs::read(out.join("taken.txt")).unwrap(),
        b"the user's own file"
    );
    let mut outside: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    outside.sort();
    assert_eq!(outside, ["hostile.eml", "out"]);
    assert!(!work.path().join("etc").exists());
    let inside = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(inside, expected.len() + 1);

    // Saving them all again: every name is taken now, the long one too;
    // each gets a number, within 255 bytes, and nothing is replaced.
    let again = letterbox_env(
        &[
            "attachments",
            message.to_str().unwrap(),
            "--save",
            out.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    again.expect_code(0);
    for (item, (tag, content)) in again.json().as_array().unwrap().iter().zip(&expected) {
        let path = PathBuf::from(item["saved"].as_str().unwrap());
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 255 && name.contains(" ("), "{tag}: {name}");
        assert_eq!(&std::fs::read_to_string(&path).unwrap(), content, "{tag}");
    }
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        2 * expected.len() + 1
    );
}

#[test]
fn a_message_that_cannot_be_read_is_reported() {
    let run = letterbox_env(&["attachments", "/no/such/message.eml", "--json"], &[]);
    run.expect_code(2).stderr_has("could not read");
}
