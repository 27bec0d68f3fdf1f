//! Reading downloaded mail in the real app, driven by labels as a screen
//! reader user would: download from the demo server, open Downloaded, read
//! a message whole, see its photo, save its PDF through the app's own save
//! dialog (the bytes are the decoded part), delete and undo, find it again
//! by a word of its text, and empty the Trash.

use egui_kittest::kittest::Queryable as _;
use letterbox::mail::{MessageView, attachment_bytes};

use crate::ui::{Fixture, check_mail, has_label, has_text, settle, wait_until};

const INVOICE: &str = "Votre facture n° 2026-1187 (réparation du fauteuil)";
const PHOTO: &str = "Sunset from the ferry (picture attached)";
const WELCOME: &str = "Welcome to the Letterbox demo mailbox";

/// The Maildir files of the demo account, wherever they are now.
fn message_files(fixture: &Fixture) -> Vec<std::path::PathBuf> {
    let maildir = fixture.paths().accounts_dir.join("demo/Maildir");
    let mut files = Vec::new();
    for sub in ["new", "cur", ".Trash/new", ".Trash/cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
    }
    files
}

/// The downloaded list is shown and loaded (labels of the server list may
/// linger for a frame after the switch).
fn in_list(harness: &egui_kittest::Harness<'_, letterbox::app::App>) -> bool {
    has_label(harness, "Search:")
        && !has_text(harness, "Loading…")
        && !has_text(harness, "No downloaded mail yet")
}

fn file_with_subject(fixture: &Fixture, subject: &str) -> std::path::PathBuf {
    message_files(fixture)
        .into_iter()
        .find(|p| MessageView::from_bytes(&std::fs::read(p).unwrap()).subject == subject)
        .unwrap_or_else(|| panic!("no file for {subject:?}"))
}

#[test]
fn download_read_save_delete_undo_and_search() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    harness.step();
    check_mail(&mut harness);

    // Download the invoice and the photo (kept on the server).
    harness.get_by_label(INVOICE).click();
    harness.step();
    harness
        .get_by_label(PHOTO)
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the downloads", |_| {
        message_files(&fixture).len() == 2
    });

    // The Downloaded place lists them, unread.
    wait_until(&mut harness, "the unread count", |h| {
        has_text(h, "Downloaded (2 unread)")
    });
    harness
        .get_by_label_contains("Downloaded (2 unread)")
        .click();
    wait_until(&mut harness, "the list", |h| {
        in_list(h) && has_label(h, INVOICE) && has_label(h, PHOTO)
    });

    // Read the invoice whole: its text and its attachment.
    harness.get_by_label(INVOICE).click();
    wait_until(&mut harness, "the message", |h| {
        has_text(h, "Montant total : 184,00 EUR TTC")
    });
    assert!(has_text(&harness, "facture-2026-1187.pdf (application/pdf"));
    // Reading it marks it read, in the Maildir's own way.
    wait_until(&mut harness, "the read mark", |h| {
        has_text(h, "Downloaded (1 unread)")
    });
    let invoice_file = file_with_subject(&fixture, INVOICE);
    assert!(
        invoice_file.to_string_lossy().ends_with(":2,S"),
        "{}",
        invoice_file.display()
    );

    // Save its PDF through the typed-path dialog (no desktop portal here).
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("invoice.pdf");
    harness.get_by_label("Save…").click();
    wait_until(&mut harness, "the save dialog", |h| has_label(h, "File"));
    harness.get_by_label("File").focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("File")
        .type_text(&target.display().to_string());
    harness.step();
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the saved file", |h| has_text(h, "Saved as"));
    let raw = std::fs::read(&invoice_file).unwrap();
    let view = MessageView::from_bytes(&raw);
    let pdf = &view.attachments[0];
    assert_eq!(
        std::fs::read(&target).unwrap(),
        attachment_bytes(&raw, pdf.part).unwrap(),
        "the saved bytes are the decoded part"
    );
    assert!(std::fs::read(&target).unwrap().starts_with(b"%PDF"));

    // Saving again at the same path asks before replacing.
    harness.get_by_label("Save…").click();
    wait_until(&mut harness, "the save dialog", |h| has_label(h, "File"));
    harness.get_by_label("File").focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("File")
        .type_text(&target.display().to_string());
    harness.step();
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the replace question", |h| {
        has_text(h, "already exists. Replace it?")
    });
    harness.get_by_label("Choose another name").click();
    settle(&mut harness);
    assert!(has_label(&harness, "File"));
    harness.get_by_label("Cancel").click();
    settle(&mut harness);

    // The photo shows as a picture.
    harness.get_by_label(PHOTO).click();
    wait_until(&mut harness, "the picture", |h| {
        has_label(h, "Picture: ferry-sunset.png")
    });

    // Delete moves it to Trash; Undo brings it back.
    harness.get_by_label("Delete").click();
    wait_until(&mut harness, "the trash", |h| {
        has_text(h, "1 message moved to Trash.")
    });
    wait_until(&mut harness, "the list without it", |h| {
        !has_label(h, PHOTO)
    });
    assert!(
        file_with_subject(&fixture, PHOTO)
            .to_string_lossy()
            .contains(".Trash/cur/")
    );
    // It is still on the server: Letterbox offers to remove it there too.
    wait_until(&mut harness, "the offer", |h| {
        has_text(h, "Also remove it from the server?")
    });
    harness.get_by_label("Keep on the server").click();
    settle(&mut harness);
    harness.get_by_label("Undo").click();
    wait_until(&mut harness, "the photo back", |h| has_label(h, PHOTO));
    assert!(
        !file_with_subject(&fixture, PHOTO)
            .to_string_lossy()
            .contains(".Trash")
    );

    // Search by a word of the invoice's text, as you type.
    harness.get_by_label("Search:").focus();
    harness.get_by_label("Search:").type_text("fauteu");
    wait_until(&mut harness, "the search", |h| {
        has_label(h, INVOICE) && !has_label(h, PHOTO)
    });
    assert!(has_text(&harness, "1 message found"));
    harness.get_by_label("Clear search").click();
    wait_until(&mut harness, "the whole list", |h| has_label(h, PHOTO));

    // All downloaded mail shows them too.
    harness.get_by_label_contains("All downloaded mail").click();
    wait_until(&mut harness, "all mail", |h| {
        in_list(h) && has_label(h, "Account") && has_label(h, INVOICE) && has_label(h, PHOTO)
    });
}

#[test]
fn trash_can_be_emptied_and_other_programs_changes_show() {
    let fixture = Fixture::new();
    // The demo's own sample downloads, as `--demo` makes them.
    let settings = letterbox::demo::demo_settings(fixture.server.port());
    let seeded = letterbox::demo::seed_downloads(&fixture.paths(), &settings).expect("seed");
    assert_eq!(seeded, letterbox::demo::SEEDED.len());
    let mut harness = fixture.app(false);
    wait_until(&mut harness, "the unread count", |h| {
        has_text(h, &format!("Downloaded ({seeded} unread)"))
    });
    harness.get_by_label_contains("Downloaded (").click();
    wait_until(&mut harness, "the list", |h| {
        in_list(h) && has_label(h, WELCOME)
    });

    // Delete the welcome letter, then empty the Trash.
    harness.get_by_label(WELCOME).click();
    harness.step();
    harness.get_by_label("Delete").click();
    wait_until(&mut harness, "the offer", |h| {
        has_text(h, "This message is still on the server.")
    });
    harness.get_by_label("Keep on the server").click();
    wait_until(&mut harness, "the trash", |h| has_text(h, "Trash (1)"));
    harness.get_by_label("Trash (1)").click();
    wait_until(&mut harness, "the trash list", |h| {
        has_label(h, "Empty trash") && has_label(h, WELCOME)
    });
    let inbox_before: Vec<_> = message_files(&fixture)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".Trash"))
        .collect();
    let trashed = file_with_subject(&fixture, WELCOME);
    assert!(trashed.to_string_lossy().contains(".Trash/"));
    harness.get_by_label("Empty trash").click();
    wait_until(&mut harness, "the question", |h| {
        has_text(h, "Empty the trash?")
    });
    harness.get_by_label("Remove for good").click();
    wait_until(&mut harness, "the empty trash", |h| {
        has_text(h, "1 message removed for good.")
    });
    assert!(!trashed.exists(), "the trashed file is gone");
    let mut inbox_after = message_files(&fixture);
    inbox_after.sort();
    let mut expected = inbox_before;
    expected.sort();
    assert_eq!(inbox_after, expected, "nothing else was touched");

    // Another program marks a message read: the list follows when the
    // user comes back to it.
    let file = message_files(&fixture)
        .into_iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with("new")))
        .expect("an unread file");
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let read = file
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("cur")
        .join(format!("{name}:2,S"));
    std::fs::rename(&file, &read).unwrap();
    harness.get_by_label_contains("On the server").click();
    harness.step();
    harness.get_by_label_contains("Downloaded (").click();
    wait_until(&mut harness, "the new count", |h| {
        has_text(h, &format!("Downloaded ({} unread)", seeded - 2))
    });
}

#[test]
fn a_message_with_remote_content_makes_no_network_request() {
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    // A web server on loopback that counts every connection made to it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = std::thread::spawn({
        let (requests, stop) = (requests.clone(), stop.clone());
        move || {
            while !stop.load(Ordering::SeqCst) {
                if listener.accept().is_ok() {
                    requests.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    });

    let url = |path: &str| format!("http://127.0.0.1:{port}/{path}");
    let html = format!(
        r#"<html><head><link rel="stylesheet" href="{css}">
<style>body {{ background: url({bg}) }} @import url("{more}");</style>
<script src="{js}"></script><script>fetch("{beacon}")</script>
<meta http-equiv="refresh" content="0; url={refresh}"></head>
<body><p>Hello reader, nothing here calls home.</p>
<img src="{pixel}" width="1" height="1"><iframe src="{frame}"></iframe>
<video src="{video}" autoplay></video>
<a href="{click}">a link</a></body></html>"#,
        css = url("style.css"),
        bg = url("bg.png"),
        more = url("more.css"),
        js = url("app.js"),
        beacon = url("beacon"),
        refresh = url("refresh"),
        pixel = url("pixel.gif"),
        frame = url("frame.html"),
        video = url("video.mp4"),
        click = url("click"),
    );
    let raw = format!(
        "From: Tracker <news@tracker.example>\r\nSubject: Remote content\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    );
    let fixture = Fixture::new();
    let maildir = fixture.paths().accounts_dir.join("demo/Maildir");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(maildir.join("new/1.remote.test,S=1"), raw).unwrap();

    let mut harness = fixture.app(false);
    wait_until(&mut harness, "the unread count", |h| {
        has_text(h, "Downloaded (1 unread)")
    });
    harness.get_by_label_contains("Downloaded (").click();
    wait_until(&mut harness, "the list", |h| {
        in_list(h) && has_label(h, "Remote content")
    });
    harness.get_by_label("Remote content").click();
    wait_until(&mut harness, "the message", |h| {
        has_text(h, "Hello reader, nothing here calls home.")
    });
    // The link is listed with where it goes; clicking it only asks.
    harness.get_by_label(&url("click")).click();
    wait_until(&mut harness, "the question", |h| {
        has_text(h, "Open this link?")
    });
    harness.get_by_label("Cancel").click();
    for _ in 0..50 {
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    counter.join().unwrap();
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "the message made requests"
    );
}
