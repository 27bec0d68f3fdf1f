//! Everyday use, as a home user meets it (issue 14), on the real app by
//! accessible labels: small windows and zoom, the keyboard, the list as a
//! screen reader sees it, passwords without a keyring, quitting with
//! deletions not applied, and the Settings window's unsaved changes.

use std::sync::Arc;

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use letterbox::app::{App, AppConfig};
use letterbox::demo::{self, DemoServer};
use letterbox::settings::secrets::{Passwords, SecretError, SecretStore};
use letterbox::settings::{AccountSettings, PasswordStorage, Paths};

use super::ui::{
    Fixture, check_mail, close_window, has_label, has_text, labels, settle, viewport_commands,
    wait_until,
};

/// The app on the demo mailbox in a window of `size` points at `ppp`
/// pixels per point (800×600 pixels at 150% is 533×400 points).
fn app_sized(fixture: &Fixture, size: [f32; 2], ppp: f32) -> Harness<'static, App> {
    let mut config = AppConfig::demo(
        fixture.paths(),
        fixture.keyring.clone(),
        fixture.server.port(),
    );
    config.native_dialogs = false;
    let mut harness = Harness::builder()
        .with_size(size)
        .with_pixels_per_point(ppp)
        .allow_missing_glyphs()
        .build_eframe(move |cc| App::new(cc, config));
    settle(&mut harness);
    wait_until(&mut harness, "the settings to be read", |h| {
        !has_text(h, "Loading your accounts")
    });
    harness
}

fn list_items(harness: &Harness<'_, App>) -> Vec<(String, egui::Rect, bool)> {
    harness
        .root()
        .query_all_by_role(Role::ListItem)
        .map(|n| {
            (
                n.accesskit_node().label().unwrap_or_default(),
                n.rect(),
                n.accesskit_node().is_selected() == Some(true),
            )
        })
        .collect()
}

fn selected_items(harness: &Harness<'_, App>) -> Vec<String> {
    list_items(harness)
        .into_iter()
        .filter(|(_, _, selected)| *selected)
        .map(|(name, _, _)| name)
        .collect()
}

/// Every control a user needs is inside the window, and the list never
/// runs under the preview pane.
fn assert_reachable(harness: &mut Harness<'_, App>, size: [f32; 2]) {
    let window = egui::Rect::from_min_size(egui::Pos2::ZERO, size.into());
    let inside = |harness: &Harness<'_, App>, label: &str| {
        let rect = harness.get_by_label(label).rect();
        assert!(
            window.contains_rect(rect.shrink(0.5)),
            "“{label}” at {rect:?} is not inside the {size:?} window"
        );
    };
    for label in [
        "Check mail",
        "Download",
        "Keep",
        "Delete",
        "Undo delete",
        "Apply",
        "Settings",
        "Help",
        "Connection log",
        "From",
        "Subject",
        "Date",
        "Size",
        "Attachments",
    ] {
        inside(harness, label);
    }
    // Select a message: its preview opens under the list.
    let first = harness
        .root()
        .query_all_by_role(Role::ListItem)
        .next()
        .expect("a list item")
        .rect();
    harness
        .root()
        .query_all_by_role(Role::ListItem)
        .next()
        .expect("a list item")
        .click();
    settle(harness);
    let show_more = harness.get_by_label("Show more lines").rect();
    assert!(window.contains_rect(show_more.shrink(0.5)), "{show_more:?}");
    let preview_top = harness
        .query_all_by_label("Subject")
        .map(|n| n.rect().top())
        .fold(f32::MIN, f32::max);
    for (name, rect, _) in list_items(harness) {
        assert!(
            rect.top() < preview_top - 1.0,
            "the row “{name}” at {rect:?} runs under the preview (from {preview_top})"
        );
    }
    assert!(first.top() < preview_top);

    // Settings: both pages' controls, and the buttons, fit.
    harness.get_by_label("Settings").click();
    settle(harness);
    for label in ["Save", "Close", "Server", "Move down"] {
        inside(harness, label);
    }
    // No field runs under the page's scroll bar.
    let field = harness.get_by_label("Server").rect();
    let bar = harness
        .root()
        .query_all_by_role(Role::ScrollBar)
        .map(|n| n.rect())
        .filter(|bar| bar.right() > field.left() && bar.y_range().contains(field.center().y))
        // The settings page's own bar is the right-most (the list's is
        // behind the window).
        .map(|bar| bar.left())
        .fold(f32::MIN, f32::max);
    assert!(
        field.right() <= bar,
        "{field:?} runs under the bar at {bar}"
    );
    // What is further down the page scrolls into view when the keyboard
    // gets there.
    let scrolled_to = |harness: &mut Harness<'_, App>, label: &str| {
        for _ in 0..80 {
            if harness.get_by_label(label).is_focused() {
                break;
            }
            harness.key_press(egui::Key::Tab);
            harness.step();
        }
        assert!(
            harness.get_by_label(label).is_focused(),
            "Tab reaches “{label}”"
        );
        settle(harness);
        inside(harness, label);
    };
    scrolled_to(harness, "Test connection");
    harness.get_by_label("General").click();
    settle(harness);
    scrolled_to(harness, "Choose folder…");
    for label in ["Save", "Close"] {
        inside(harness, label);
    }
    harness.get_by_label("Close").click();
    settle(harness);

    // The downloaded mail: its list, and a message open in the reader pane.
    harness.get_by_label("Download").click();
    wait_until(harness, "the download", |h| {
        list_items(h)
            .iter()
            .any(|(n, _, _)| n.starts_with("Downloaded, from "))
    });
    // The place shows its count once the index has the message.
    wait_until(harness, "the Downloaded place's count", |h| {
        h.query_all_by_label_contains("Downloaded (")
            .next()
            .is_some()
    });
    harness
        .query_all_by_label_contains("Downloaded (")
        .last()
        .expect("the account's Downloaded place")
        .click();
    wait_until(harness, "the downloaded list", |h| {
        list_items(h)
            .iter()
            .any(|(n, _, _)| n.starts_with("Unread, from "))
    });
    for label in [
        "From",
        "Subject",
        "Date",
        "Size",
        "Attachments",
        "Mark as read",
        "Delete",
    ] {
        inside(harness, label);
    }
    harness
        .root()
        .query_all_by_role(Role::ListItem)
        .next()
        .expect("a list item")
        .click();
    wait_until(harness, "the message in the reader", |h| {
        has_label(h, "Reply")
    });
    for label in ["Reply", "Forward", "View source"] {
        inside(harness, label);
    }
    let reader_top = harness.get_by_label("Reply").rect().top();
    for (name, rect, _) in list_items(harness) {
        assert!(
            rect.top() < reader_top,
            "the row “{name}” at {rect:?} runs under the reader (from {reader_top})"
        );
    }
}

#[test]
fn every_control_is_reachable_at_800_by_600_and_at_150_percent() {
    for (size, ppp) in [([800.0, 600.0], 1.0), ([533.0, 400.0], 1.5)] {
        let fixture = Fixture::new();
        let mut harness = app_sized(&fixture, size, ppp);
        check_mail(&mut harness);
        assert_reachable(&mut harness, size);
    }
}

#[test]
fn the_list_fills_its_width_after_the_window_changes_size() {
    let fixture = Fixture::new();
    let mut harness = app_sized(&fixture, [1100.0, 720.0], 1.0);
    check_mail(&mut harness);
    // Smaller, narrow enough to drop the Status column, and larger again.
    for size in [[800.0, 600.0], [600.0, 450.0], [1000.0, 700.0]] {
        harness.set_size(egui::Vec2::from(size));
        settle(&mut harness);
        // The list runs to the window's right edge (its scroll bar aside).
        let right = size[0];
        let last_column = harness
            .query_all_by_label("Attachments")
            .filter(|n| n.accesskit_node().bounding_box().is_some())
            .map(|n| n.rect())
            .find(|r| r.top() < 120.0)
            .expect("the attachments column's header");
        assert!(
            last_column.right() <= right && last_column.right() >= right - 40.0,
            "at {size:?}: the last column ends at {} in a window {right} wide",
            last_column.right(),
        );
    }
}

#[test]
fn a_screen_reader_selects_reads_and_downloads_by_the_list_items() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    let subject = "Tip: some messages are worth keeping on the server";
    let name = list_items(&harness)
        .into_iter()
        .map(|(name, _, _)| name)
        .find(|n| n.contains(subject))
        .expect("the message as one list item");
    assert!(
        name.starts_with("New, from Letterbox Demo, Tip: some messages"),
        "{name}"
    );
    assert!(name.contains("828 bytes"), "{name}");
    // Its default action (what a screen reader's "activate" does) selects it.
    harness.get_by_label(&name).click_accesskit();
    settle(&mut harness);
    assert_eq!(selected_items(&harness), [name.as_str()]);
    assert!(has_text(
        &harness,
        "This is the last message in the demo mailbox"
    ));
    harness.get_by_label("Download").click_accesskit();
    wait_until(&mut harness, "the download", |h| {
        list_items(h)
            .iter()
            .any(|(n, _, _)| n.starts_with("Downloaded, from ") && n.contains(subject))
    });
    // A message with attachments says so.
    assert!(
        list_items(&harness).iter().any(|(n, _, _)| {
            n.contains("Cabin: packing list") && n.ends_with("has attachments")
        })
    );
}

#[test]
fn the_keyboard_reaches_the_list_moves_in_it_and_takes_back_a_delete() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    let items = list_items(&harness);
    assert!(items.len() > 10, "{} rows shown", items.len());
    // Tab goes from widget to widget until it lands on the list, which is
    // one stop, at its first row; no row is selected by getting there.
    let first = items[0].0.clone();
    let mut reached = false;
    for _ in 0..40 {
        harness.key_press(egui::Key::Tab);
        harness.step();
        let focused = harness
            .root()
            .query_all_by_role(Role::ListItem)
            .find(|n| n.is_focused())
            .map(|n| n.accesskit_node().label().unwrap_or_default());
        if let Some(focused) = focused {
            assert_eq!(focused, first, "the list is entered at its first row");
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab never reached the list");
    // Space selects it; the arrows then move the selection, and the focus
    // follows.
    harness.key_press(egui::Key::Space);
    settle(&mut harness);
    assert_eq!(selected_items(&harness), [first.as_str()]);
    harness.key_press(egui::Key::ArrowDown);
    settle(&mut harness);
    let second = list_items(&harness)[1].0.clone();
    assert_eq!(selected_items(&harness), [second.as_str()]);
    let focused = harness
        .root()
        .query_all_by_role(Role::ListItem)
        .find(|n| n.is_focused())
        .map(|n| n.accesskit_node().label().unwrap_or_default());
    assert_eq!(focused.as_deref(), Some(second.as_str()));
    // End: the last message; Home: the first; Page Down: a page further.
    harness.key_press(egui::Key::End);
    settle(&mut harness);
    let selected = selected_items(&harness);
    assert!(
        selected.len() == 1 && selected[0].contains("Welcome to the Letterbox demo"),
        "{selected:?}"
    );
    harness.key_press(egui::Key::Home);
    settle(&mut harness);
    assert_eq!(selected_items(&harness), [first.as_str()]);
    harness.key_press(egui::Key::PageDown);
    settle(&mut harness);
    let after_page = selected_items(&harness);
    let position = list_items(&harness)
        .iter()
        .position(|(n, _, _)| Some(n) == after_page.first())
        .expect("the selected row is shown");
    assert!(position > 3, "Page Down moved {position} rows");

    // Delete marks it; Ctrl+Z takes that back.
    harness.key_press(egui::Key::Delete);
    settle(&mut harness);
    assert!(has_label(&harness, "Apply (1)"), "{:?}", labels(&harness));
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    settle(&mut harness);
    assert!(has_label(&harness, "Apply"), "{:?}", labels(&harness));
    assert!(!has_label(&harness, "Apply (1)"));

    // F1 lists the shortcuts, zoom included; Escape closes it.
    harness.key_press(egui::Key::F1);
    settle(&mut harness);
    assert!(has_text(&harness, "Keyboard shortcuts"));
    assert!(has_text(&harness, "Ctrl+Plus, Ctrl+Minus, Ctrl+0"));
    harness.key_press(egui::Key::Escape);
    settle(&mut harness);
    assert!(!has_text(&harness, "Ctrl+Plus, Ctrl+Minus, Ctrl+0"));
    // The toolbar's tooltips name the keys too.
    harness.get_by_label("Check mail").hover();
    for _ in 0..30 {
        harness.step();
        if has_text(&harness, "Ctrl+R, F5") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(has_text(&harness, "Ctrl+R, F5"), "{:?}", labels(&harness));
}

#[test]
fn quitting_with_deletions_not_applied_asks_first() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    let before = fixture.server.uidls().len();
    harness
        .root()
        .query_all_by_role(Role::ListItem)
        .next()
        .expect("a row")
        .click();
    harness.step();
    harness.get_by_label("Delete").click();
    settle(&mut harness);
    close_window(&mut harness);
    assert!(
        viewport_commands(&harness)
            .iter()
            .any(|c| c == "CancelClose"),
        "the close is held back: {:?}",
        viewport_commands(&harness)
    );
    settle(&mut harness);
    assert!(has_text(
        &harness,
        "1 message is marked for deletion and nothing has been deleted yet."
    ));
    // Cancel: the window stays, the mark too.
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert!(has_label(&harness, "Apply (1)"));
    // Asked again, "Quit without deleting" closes and deletes nothing.
    close_window(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Quit without deleting").click();
    let mut closed = false;
    for _ in 0..5 {
        harness.step();
        closed |= viewport_commands(&harness).iter().any(|c| c == "Close");
    }
    assert!(closed, "the window closes");
    assert_eq!(fixture.server.uidls().len(), before, "nothing deleted");
}

#[test]
fn settings_ask_before_dropping_changes() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(true);
    // "Add an account" opens a new account's page, not the General page.
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Add account").click();
    settle(&mut harness);
    harness.get_by_label("Display name").focus();
    harness.get_by_label("Display name").type_text("Work");
    settle(&mut harness);
    harness.key_press(egui::Key::Escape);
    settle(&mut harness);
    assert!(has_text(&harness, "Save your changes?"));
    harness.get_by_label("Keep editing").click();
    settle(&mut harness);
    assert!(has_label(&harness, "Test connection"), "still open");
    harness.get_by_label("Close").click();
    settle(&mut harness);
    harness.get_by_label("Discard changes").click();
    settle(&mut harness);
    assert!(!has_label(&harness, "Test connection"), "closed");
    let saved = std::fs::read_to_string(fixture.paths().settings_file).expect("settings");
    assert!(!saved.contains("Work"), "nothing was saved: {saved}");
    // Closing without changes asks nothing.
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Close").click();
    settle(&mut harness);
    assert!(!has_text(&harness, "Save your changes?"));
    assert!(!has_label(&harness, "Test connection"));
}

/// A keyring that is not there, as on a desktop without a Secret Service.
struct NoKeyring;

impl SecretStore for NoKeyring {
    fn get(&self, _: &str) -> Result<Option<letterbox::pop3::Secret<String>>, SecretError> {
        Err(SecretError::Unavailable("no Secret Service".into()))
    }
    fn set(&self, _: &str, _: &letterbox::pop3::Secret<String>) -> Result<(), SecretError> {
        Err(SecretError::Unavailable("no Secret Service".into()))
    }
    fn delete(&self, _: &str) -> Result<(), SecretError> {
        Err(SecretError::Unavailable("no Secret Service".into()))
    }
    fn available(&self) -> Result<(), SecretError> {
        Err(SecretError::Unavailable(
            "Platform failure: zbus error: no Secret Service".into(),
        ))
    }
}

/// Two accounts that ask for their password each session, on the same
/// demo server, with no password given yet, and no keyring.
fn two_asking_accounts(server: &DemoServer, profile: &std::path::Path) -> Harness<'static, App> {
    let paths = Paths::in_dir(profile);
    let mut settings = demo::demo_settings(server.port());
    let mut second = AccountSettings::new("second");
    second.name = "Second".into();
    second.host = "127.0.0.1".into();
    second.port = server.port();
    second.username = demo::USER.into();
    second.password_storage = PasswordStorage::AskEachSession;
    second.trusted_fingerprint = settings.accounts[0].trusted_fingerprint.clone();
    settings.accounts.push(second);
    settings.save(&paths.settings_file).expect("settings");
    let passwords = Passwords::new(Arc::new(NoKeyring), paths.password_file.clone());
    super::ui::harness(AppConfig {
        paths,
        passwords,
        fixed_settings: None,
        note: None,
        native_dialogs: false,
        desktop: Default::default(),
    })
}

#[test]
fn without_a_keyring_each_account_is_asked_once_one_box_after_the_other() {
    let server = DemoServer::start(0, true).expect("demo server");
    let profile = tempfile::tempdir().expect("profile");
    let mut harness = two_asking_accounts(&server, profile.path());
    harness.get_by_label("Check mail").click();
    settle(&mut harness);
    // The first box has the keyboard: typing goes into it, Enter signs in.
    assert!(has_text(&harness, "Enter the password for Demo."));
    harness
        .input_mut()
        .events
        .push(egui::Event::Text(demo::PASSWORD.into()));
    harness.step();
    harness.key_press(egui::Key::Enter);
    settle(&mut harness);
    assert!(has_text(&harness, "Enter the password for Second."));
    harness
        .input_mut()
        .events
        .push(egui::Event::Text(demo::PASSWORD.into()));
    harness.step();
    harness.get_by_label("Sign in").click();
    wait_until(&mut harness, "both accounts checked", |h| {
        !has_text(h, "Password needed") && h.query_all_by_label_contains("Checked ").count() >= 2
    });
    assert!(!has_text(&harness, "no password stored"));
    // Checked again in this session: nobody is asked.
    harness.get_by_label("Check mail").click();
    settle(&mut harness);
    assert!(!has_text(&harness, "Password needed"));

    // A new account defaults to "ask each session", and the page says why
    // in one sentence.
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Add account").click();
    settle(&mut harness);
    assert_eq!(
        harness.get_by_label("Keep the password").value().as_deref(),
        Some("ask each session")
    );
    let sentences = harness
        .query_all_by_label_contains("This computer has no keyring")
        .count();
    assert_eq!(sentences, 1, "said once");
    assert!(!has_text(&harness, "zbus"), "no raw error on the page");
    assert!(
        !has_text(&harness, "unchanged if empty"),
        "a new account's password is not “unchanged”"
    );
}

/// Whether fontconfig knows a font for `lang` (e.g. "ja").
fn system_font_for(lang: &str) -> bool {
    std::process::Command::new("fc-list")
        .arg(format!(":lang={lang}"))
        .output()
        .is_ok_and(|out| !out.stdout.is_empty())
}

#[test]
fn names_and_subjects_in_any_script_and_emoji_are_drawn_with_system_fonts() {
    if !system_font_for("ja") {
        assert!(
            std::env::var("LETTERBOX_REQUIRE_FONTS").as_deref() != Ok("1"),
            "no Japanese font is installed, and LETTERBOX_REQUIRE_FONTS=1"
        );
        eprintln!("skipped: no Japanese font is installed (fonts-wqy-microhei)");
        return;
    }
    let fixture = Fixture::new();
    let mut config = AppConfig::demo(
        fixture.paths(),
        fixture.keyring.clone(),
        fixture.server.port(),
    );
    config.native_dialogs = false;
    // No `allow_missing_glyphs`: a character no font can draw fails the test.
    let mut harness = Harness::builder()
        .with_size([1200.0, 1000.0])
        .build_eframe(move |cc| App::new(cc, config));
    settle(&mut harness);
    check_mail(&mut harness);
    // Every row of the demo is on screen: Japanese, Chinese, Russian, Greek,
    // French, German names and subjects, and emoji.
    for text in [
        "山田 花子",
        "紅葉の写真と忘年会の日程について",
        "Привет из Петербурга!",
        "Καλημέρα από τη Θεσσαλονίκη!",
        "☕ The Rusty Kettle Weekly",
        "Omas 90. Geburtstag 🎂",
    ] {
        assert!(
            harness.query_all_by_label_contains(text).next().is_some(),
            "{text} is shown"
        );
    }
    // And in the preview pane.
    harness
        .query_all_by_label_contains("紅葉の写真")
        .next()
        .expect("the row")
        .click();
    settle(&mut harness);
    assert!(has_text(&harness, "佐藤"), "{:?}", labels(&harness));
}

#[test]
fn what_download_apply_and_the_filter_did_is_said() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    let pick = |harness: &mut Harness<'_, App>, subject: &str| {
        let name = list_items(harness)
            .into_iter()
            .map(|(n, _, _)| n)
            .find(|n| n.contains(subject))
            .unwrap_or_else(|| panic!("no row for {subject}"));
        harness.get_by_label(&name).click_accesskit();
        settle(harness);
    };
    // The filter says how many rows it matched.
    harness.get_by_label("Filter:").focus();
    harness.get_by_label("Filter:").type_text("cabin");
    settle(&mut harness);
    assert!(
        has_text(&harness, "2 of 21 messages match “cabin”"),
        "{:?}",
        labels(&harness)
    );
    assert_eq!(list_items(&harness).len(), 2);
    harness.get_by_label("Clear filter").click();
    settle(&mut harness);

    pick(&mut harness, "Tip: some messages are worth keeping");
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the download's summary", |h| {
        has_text(h, "1 message downloaded.")
    });
    // Downloading it again downloads nothing, and says so.
    pick(&mut harness, "Tip: some messages are worth keeping");
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the second summary", |h| {
        has_text(
            h,
            "This message is already downloaded; it was not downloaded again.",
        )
    });
    assert_eq!(fixture.maildir_files().len(), 1, "one copy on disk");
    // A deletion, applied, is counted.
    pick(&mut harness, "Tip: some messages are worth keeping");
    harness.get_by_label("Delete").click();
    settle(&mut harness);
    harness.get_by_label("Apply (1)").click();
    settle(&mut harness);
    harness.get_by_label("Delete from server").click();
    wait_until(&mut harness, "the deletion's summary", |h| {
        has_text(h, "1 message deleted from the server.")
    });
    assert_eq!(fixture.server.uidls().len(), 20);
}

#[test]
fn trusting_a_certificate_in_settings_tests_again_by_itself() {
    let fixture = Fixture::new();
    let mut config = AppConfig::demo(
        fixture.paths(),
        fixture.keyring.clone(),
        fixture.server.port(),
    );
    if let Some(settings) = config.fixed_settings.as_mut() {
        settings.accounts[0].trusted_fingerprint = None;
    }
    let mut harness = super::ui::harness(config);
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Test connection").click();
    wait_until(&mut harness, "the untrusted certificate", |h| {
        has_label(h, "Trust this certificate")
    });
    // Further down the page: the keyboard's way there scrolls it into view.
    harness.get_by_label("Trust this certificate").focus();
    settle(&mut harness);
    harness.get_by_label("Trust this certificate").click();
    // No second click on Test: the result comes back on its own.
    wait_until(&mut harness, "the test to run again", |h| {
        has_text(h, "The connection works.")
    });
    assert!(!has_label(&harness, "Trust this certificate"));
}

#[test]
fn colours_follow_the_setting_and_no_text_is_tiny() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(true);
    let sizes = harness.ctx.global_style().text_styles.clone();
    let body = sizes[&egui::TextStyle::Body].size;
    let small = sizes[&egui::TextStyle::Small].size;
    assert!(small >= body - 1.5, "small {small} against body {body}");
    for (choice, theme) in [("light", egui::Theme::Light), ("dark", egui::Theme::Dark)] {
        harness.get_by_label("Settings").click();
        settle(&mut harness);
        harness.get_by_label("General").click();
        settle(&mut harness);
        harness.get_by_label("Colours").click();
        settle(&mut harness);
        harness.get_by_label(choice).click();
        settle(&mut harness);
        harness.get_by_label("Save").click();
        settle(&mut harness);
        assert_eq!(harness.ctx.theme(), theme, "after choosing {choice}");
    }
    // Written off the UI thread.
    wait_until(&mut harness, "the theme in the settings file", |_| {
        std::fs::read_to_string(fixture.paths().settings_file)
            .is_ok_and(|saved| saved.contains("theme = \"dark\""))
    });
}

#[test]
fn opening_a_message_leaves_the_list_its_room() {
    let fixture = Fixture::new();
    let (width, height) = (1100.0, 720.0);
    let mut harness = app_sized(&fixture, [width, height], 1.0);
    check_mail(&mut harness);
    // The preview pane of the server list.
    let first = list_items(&harness)[0].0.clone();
    harness.get_by_label(&first).click();
    settle(&mut harness);
    // "From" is the list's column too; the preview's is the lower one.
    let preview_top = harness
        .query_all_by_label("From")
        .map(|n| n.rect().top())
        .fold(0.0, f32::max);
    assert!(
        preview_top > height * 0.5,
        "the preview starts at {preview_top} of {height}"
    );
    // Two messages downloaded, and the second opened in the reader pane.
    harness.key_down_modifiers(egui::Modifiers::SHIFT, egui::Key::ArrowDown);
    settle(&mut harness);
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the Downloaded place's count", |h| {
        h.query_all_by_label_contains("Downloaded (")
            .next()
            .is_some()
    });
    harness
        .query_all_by_label_contains("Downloaded (")
        .last()
        .expect("the Downloaded place")
        .click();
    let unread = |h: &Harness<'_, App>| {
        list_items(h)
            .into_iter()
            .filter(|(name, _, _)| name.starts_with("Unread"))
            .map(|(name, _, _)| name)
            .collect::<Vec<_>>()
    };
    wait_until(&mut harness, "the downloaded rows", |h| {
        unread(h).len() == 2
    });
    harness.get_by_label(&unread(&harness)[1]).click();
    wait_until(&mut harness, "the message in the reader", |h| {
        has_label(h, "Reply")
    });
    for _ in 0..5 {
        harness.step();
        let reply = harness.get_by_label("Reply").rect().top();
        assert!(
            reply > height * 0.5,
            "the reader's buttons at {reply} of {height}: the pane grew over the list"
        );
    }
}

#[test]
fn providers_that_want_an_app_password_say_so_where_it_is_typed() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(true);
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Add account").click();
    settle(&mut harness);
    assert!(!has_text(&harness, "needs an app password"));
    harness.get_by_label("Email address").focus();
    harness
        .get_by_label("Email address")
        .type_text("someone@yahoo.com");
    settle(&mut harness);
    // The server is filled in, and the password row says what to type.
    assert!(has_text(
        &harness,
        "Server settings for Yahoo Mail were filled in"
    ));
    assert!(has_text(
        &harness,
        "Yahoo Mail needs an app password: create one under Account Info → Account security → Generate app password."
    ));
}
