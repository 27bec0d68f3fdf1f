//! "Free up space" against a real Dovecot: the window lists what is on the
//! server, one click marks exactly the messages that are downloaded and
//! older than the days chosen, and after Apply the server holds exactly
//! that much less.

use std::time::{SystemTime, UNIX_EPOCH};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable as _;
use letterbox::app::{AppConfig, Desktop};
use letterbox::mail::rfc5322_date;
use letterbox::pop3::{Secret, Security};
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{AccountSettings, General, Paths, Settings};

use super::support::dovecot::{dovecot, wire_size};
use super::ui::{harness, has_text, settle, wait_until};

fn message(subject: &str, unix: i64, padding: usize) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.org>\r\nTo: you@example.org\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{}\r\n",
        rfc5322_date(unix),
        "x".repeat(padding)
    )
    .into_bytes()
}

#[test]
fn free_up_space_marks_what_is_downloaded_and_old_and_apply_frees_that() {
    let Some(dc) = dovecot() else {
        return;
    };
    let user = dc.new_user("freespace");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let day = 86_400;
    // Newest first, as the list sorts them: three recent, three old.
    let recent: Vec<Vec<u8>> = (1..=3)
        .map(|n| message(&format!("Recent {n}"), now - n * day, 1_000 * n as usize))
        .collect();
    let old: Vec<Vec<u8>> = (1..=3)
        .map(|n| {
            message(
                &format!("Old {n}"),
                now - (60 + n) * day,
                5_000 * n as usize,
            )
        })
        .collect();
    for m in recent.iter().chain(&old) {
        user.deliver(m);
    }
    let server_bytes = || -> usize { user.server_messages().iter().map(|m| wire_size(m)).sum() };
    let before = server_bytes();

    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let mut account = AccountSettings::new("dovecot");
    account.name = "Dovecot".into();
    account.host = dc.host().into();
    account.port = dc.tls_port();
    account.security = Security::Tls;
    account.username = user.name().into();
    account.ca_file = Some(dc.ca_file().to_owned());
    account.password_storage = letterbox::settings::PasswordStorage::AskEachSession;
    account.quota_mb = Some(1);
    let passwords = Passwords::new(
        std::sync::Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    );
    passwords
        .set_for_session("dovecot", &Secret::new(user.password().into()))
        .expect("password");
    let mut harness = harness(AppConfig {
        paths,
        passwords,
        fixed_settings: Some(Settings {
            general: General::default(),
            accounts: vec![account],
        }),
        note: None,
        native_dialogs: false,
        desktop: Desktop::default(),
    });
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the check", |h| {
        has_text(h, "6 new") && has_text(h, "Checked ")
    });

    // Download the five newest (Recent 1-3, Old 1-2); Old 3 stays only on
    // the server.
    harness
        .root()
        .query_all_by_role(Role::ListItem)
        .next()
        .expect("a row")
        .click();
    settle(&mut harness);
    for _ in 0..4 {
        harness.key_press_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowDown);
        harness.step();
    }
    settle(&mut harness);
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the download", |h| {
        has_text(h, "5 messages downloaded")
    });

    // The sidebar settles once the index counted the downloads (a line
    // longer); then the button is where it is.
    wait_until(&mut harness, "the downloads counted", |h| {
        has_text(h, "Downloaded (5 unread)")
    });
    harness.get_by_label("Free up space…").click();
    wait_until(&mut harness, "the Free up space window", |h| {
        has_text(h, "6 messages on the server")
    });
    // Older than 30 days and downloaded: Old 1 and Old 2, not Old 3.
    let freed = wire_size(&old[0]) + wire_size(&old[1]);
    let size = letterbox::mail::human_size(freed as u64);
    let mark = format!("Mark them for deletion (2 messages, {size})");
    harness.get_by_label(&mark).click();
    settle(&mut harness);
    assert!(
        has_text(
            &harness,
            &format!("Marked for deletion: 2 messages. Apply frees {size} on the server.")
        ),
        "{:?}",
        super::ui::labels(&harness)
    );
    assert!(has_text(&harness, "Nothing more to mark"));
    harness.get_by_label("Apply (2)…").click();
    settle(&mut harness);
    harness.get_by_label("Delete from server").click();
    wait_until(&mut harness, "the Apply", |h| {
        has_text(h, "2 messages deleted from the server")
    });
    assert_eq!(before - server_bytes(), freed);
    let left: Vec<String> = user
        .server_messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(left.len(), 4);
    assert!(left.iter().any(|m| m.contains("Subject: Old 3")));
    assert!(
        !left
            .iter()
            .any(|m| m.contains("Subject: Old 1") || m.contains("Subject: Old 2"))
    );
}
