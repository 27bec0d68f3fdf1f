//! The real app, driven the way a screen reader user would: every widget is
//! found by its role and label (egui_kittest over AccessKit). The app runs
//! against the built-in demo server with its real worker threads, in a
//! temporary profile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use letterbox::app::{App, AppConfig};
use letterbox::demo::{self, DemoServer};
use letterbox::pop3::Secret;
use letterbox::settings::Paths;
use letterbox::settings::secrets::{MemoryStore, Passwords, SecretStore};

pub(crate) struct Fixture {
    pub server: DemoServer,
    pub profile: tempfile::TempDir,
    pub keyring: Arc<MemoryStore>,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture {
            server: DemoServer::start(0, true).expect("demo server"),
            profile: tempfile::tempdir().expect("profile"),
            keyring: Arc::new(MemoryStore::default()),
        }
    }

    pub(crate) fn paths(&self) -> Paths {
        Paths::in_dir(self.profile.path())
    }

    /// The app with the demo account; `save_settings` lets it write the
    /// settings file (it normally does; the demo does not).
    pub(crate) fn app(&self, save_settings: bool) -> Harness<'static, App> {
        let paths = self.paths();
        let file = paths.settings_file.clone();
        let mut config = AppConfig::demo(paths, self.keyring.clone(), self.server.port());
        if save_settings && let Some(settings) = config.fixed_settings.take() {
            settings.save(&file).expect("settings");
        }
        harness(config)
    }

    pub(crate) fn maildir_files(&self) -> Vec<Vec<u8>> {
        let new = self.paths().accounts_dir.join("demo/Maildir/new");
        let mut files: Vec<Vec<u8>> = std::fs::read_dir(new)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read(e.path()).expect("read"))
            .collect();
        files.sort();
        files
    }
}

/// A harness around the real app. Emoji in the demo mail have no glyph in
/// any font egui can draw (it has no colour emoji): tofu, as on screen.
pub(crate) fn harness(mut config: AppConfig) -> Harness<'static, App> {
    // No desktop portal here: the app's own typed-path dialog.
    config.native_dialogs = false;
    let mut harness = Harness::builder()
        .with_size([1200.0, 800.0])
        .allow_missing_glyphs()
        .build_eframe(move |cc| App::new(cc, config));
    settle(&mut harness);
    wait_until(&mut harness, "the settings to be read", |h| {
        !has_text(h, "Loading your accounts")
    });
    harness
}

/// A few frames: windows and menus take one to size themselves.
pub(crate) fn settle(harness: &mut Harness<'_, App>) {
    for _ in 0..3 {
        harness.step();
    }
}

/// Steps frames until `done`, with the worker threads running meanwhile.
pub(crate) fn wait_until(
    harness: &mut Harness<'_, App>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        harness.step();
        if done(harness) {
            harness.step();
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out waiting for {what}; on screen: {:?}",
                labels(harness)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The window's close button (the window manager's close request); the
/// viewport commands of that frame.
pub(crate) fn close_window(harness: &mut Harness<'_, App>) -> Vec<String> {
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
    viewport_commands(harness)
}

pub(crate) fn viewport_commands(harness: &Harness<'_, App>) -> Vec<String> {
    harness
        .output()
        .viewport_output
        .get(&egui::ViewportId::ROOT)
        .map(|v| v.commands.iter().map(|c| format!("{c:?}")).collect())
        .unwrap_or_default()
}

/// The viewport commands of the next few frames.
pub(crate) fn commands_over_frames(harness: &mut Harness<'_, App>, frames: usize) -> Vec<String> {
    let mut all = Vec::new();
    for _ in 0..frames {
        harness.step();
        all.extend(viewport_commands(harness));
    }
    all
}

/// Every label on screen, for a failing test's message.
pub(crate) fn labels(harness: &Harness<'_, App>) -> Vec<String> {
    harness
        .root()
        .children_recursive()
        .filter_map(|node| {
            let node = node.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .filter(|label| !label.is_empty())
        .collect()
}

pub(crate) fn has_label(harness: &Harness<'_, App>, label: &str) -> bool {
    harness.query_all_by_label(label).next().is_some()
}

pub(crate) fn has_text(harness: &Harness<'_, App>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

/// Checks the demo mailbox and waits until the check has finished (the
/// rows show while the previews still arrive; "Checked" comes at the end).
pub(crate) fn check_mail(harness: &mut Harness<'_, App>) {
    harness.get_by_label("Check mail").click();
    wait_until(harness, "the check to finish", |h| {
        has_text(h, "21 new") && has_text(h, "Checked ")
    });
}

#[test]
fn check_preview_download_keep_and_delete() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    harness.step();
    assert!(has_text(&harness, "Click “Check mail”"));

    // Check mail: the counts appear, in the sidebar and the status bar.
    check_mail(&mut harness);
    assert!(has_label(&harness, "Demo  (21 new)"));
    assert!(has_text(&harness, "21 messages"));

    // Select a message: its preview comes from TOP, without downloading.
    harness
        .get_by_label("Reset your Kiln Cloud password")
        .click();
    wait_until(&mut harness, "the preview", |h| {
        has_text(h, "Someone (hopefully you) asked")
    });
    assert!(has_label(
        &harness,
        "Kiln Cloud Accounts <security@kiln-cloud.example>"
    ));
    assert!(
        fixture.maildir_files().is_empty(),
        "a preview downloads nothing"
    );

    // Download it: the file appears in the Maildir, the row says so.
    harness.get_by_label("Download").click();
    wait_until(&mut harness, "the download", |h| {
        fixture.maildir_files().len() == 1 && h.query_all_by_label("Downloaded").count() == 2
    });
    let files = fixture.maildir_files();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .windows(30)
            .any(|w| w == b"Reset your Kiln Cloud password")
    );
    assert_eq!(
        fixture.server.uidls().len(),
        21,
        "kept on the server by default"
    );
    assert!(has_text(&harness, "Demo  (20 new)"));

    // Keep another: it is no longer new, and stays on the server.
    harness
        .get_by_label("Your parcel is on its way: PB447109268NL")
        .click();
    harness.step();
    harness.get_by_label("Keep").click();
    wait_until(&mut harness, "keep", |h| has_label(h, "Seen"));
    assert!(has_text(&harness, "Demo  (19 new)"));

    // Delete the spam: staged, undone, staged again, applied.
    let spam = "CONGRATULATIONS!!! Your Email Has WON $4,500,000.00 USD - CLAIM NOW!!!";
    harness.get_by_label("Filter:").focus();
    harness.get_by_label("Filter:").type_text("lottery");
    settle(&mut harness);
    assert!(has_label(&harness, spam), "the filter finds it by sender");
    assert!(
        !has_label(&harness, "Reset your Kiln Cloud password"),
        "the filter hides others"
    );
    harness.get_by_label(spam).click();
    wait_until(&mut harness, "the spam's preview", |h| {
        has_text(h, "mega-jackpot-awards")
    });
    harness.get_by_label("Delete").click();
    settle(&mut harness);
    assert!(
        has_label(&harness, "To delete"),
        "staged, shown struck through"
    );
    harness.get_by_label("Undo delete").click();
    settle(&mut harness);
    assert!(!has_label(&harness, "To delete"), "undone");
    harness.get_by_label("Delete").click();
    settle(&mut harness);
    harness.get_by_label("Apply (1)").click();
    settle(&mut harness);
    assert!(has_text(
        &harness,
        "1 message will be deleted from the server."
    ));
    assert!(has_text(&harness, "1 of them was not downloaded"));
    assert_eq!(
        fixture.server.uidls().len(),
        21,
        "nothing deleted before confirming"
    );
    harness.get_by_label("Delete from server").click();
    wait_until(&mut harness, "the deletion", |h| !has_label(h, spam));
    assert_eq!(fixture.server.uidls().len(), 20, "gone from the server");
    assert!(has_text(&harness, "20 messages"));

    // The connection log shows the conversation, without the password.
    harness.get_by_label("Connection log").click();
    settle(&mut harness);
    assert!(has_text(&harness, "C: DELE"));
    assert!(has_text(&harness, "[redacted]"));
    assert!(!has_text(&harness, "PASS demo"));
}

#[test]
fn settings_add_account_and_test_a_failing_server() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(true);
    harness.step();
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("Add account").click();
    settle(&mut harness);
    // The e-mail address fills in a known provider's server.
    harness.get_by_label("Email address").focus();
    harness
        .get_by_label("Email address")
        .type_text("someone@gmail.com");
    harness.step();
    assert_eq!(
        harness.get_by_label("Server").value().as_deref(),
        Some("pop.gmail.com")
    );
    assert!(has_text(
        &harness,
        "Server settings for Gmail were filled in"
    ));
    // Point it at a port where nothing listens, and test.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = harness.get_by_label("Server");
    server.focus();
    server.type_text("");
    harness.step();
    harness
        .get_by_label("Server")
        .set_text_value_accesskit("127.0.0.1");
    harness.step();
    harness
        .get_by_label("Port")
        .set_value_accesskit(f64::from(closed));
    harness.step();
    harness.get_by_label("Password").focus();
    harness.get_by_label("Password").type_text("hunter2-secret");
    harness.step();
    // The form is taller than the window: the button scrolls into view
    // when it takes the focus, as with Tab.
    harness.get_by_label("Test connection").focus();
    settle(&mut harness);
    harness.get_by_label("Test connection").click();
    wait_until(&mut harness, "the test result", |h| {
        has_text(h, "could not connect")
    });
    assert!(has_text(&harness, "Check that this computer is online"));

    // Save: the account is there, its password is in the keyring, not the file.
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the settings to close", |h| {
        !has_label(h, "Add account") || h.query_by_label("Save").is_none()
    });
    // Saving happens off the UI thread; wait for the file.
    let mut text = String::new();
    wait_until(&mut harness, "the settings file", |_| {
        text = std::fs::read_to_string(fixture.paths().settings_file).unwrap_or_default();
        text.contains("someone@gmail.com")
    });
    assert!(text.contains("host = \"127.0.0.1\""), "{text}");
    assert!(text.contains("someone@gmail.com"), "{text}");
    assert!(
        !text.contains("hunter2"),
        "the password is not in the settings file"
    );
    let saved = (|| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            harness.step();
            let ids: Vec<String> = text
                .lines()
                .filter_map(|l| l.strip_prefix("id = \""))
                .map(|l| l.trim_end_matches('"').to_owned())
                .collect();
            for id in ids {
                if let Ok(Some(secret)) = fixture.keyring.get(&id) {
                    return Some(secret.expose().clone());
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    })();
    assert_eq!(saved.as_deref(), Some("hunter2-secret"));
    assert!(
        has_text(&harness, "someone@gmail.com"),
        "the new account is in the sidebar"
    );
}

#[test]
fn untrusted_certificate_can_be_trusted_from_the_banner() {
    let fixture = Fixture::new();
    let paths = fixture.paths();
    let passwords = Passwords::new(fixture.keyring.clone(), paths.password_file.clone());
    let mut settings = demo::demo_settings(fixture.server.port());
    settings.accounts[0].trusted_fingerprint = None;
    passwords
        .set_for_session("demo", &Secret::new(demo::PASSWORD.into()))
        .expect("password");
    settings.save(&paths.settings_file).expect("save");
    let config = AppConfig {
        paths: paths.clone(),
        passwords,
        fixed_settings: None,
        note: None,
        native_dialogs: false,
        desktop: Default::default(),
    };
    let mut harness = harness(config);
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the certificate problem", |h| {
        has_text(h, "certificate is not trusted")
    });
    assert!(has_text(&harness, "CN=Letterbox demo server"));
    assert!(has_label(
        &harness,
        &demo::certificate_fingerprint().to_string()
    ));
    harness.get_by_label("Trust this certificate").click();
    wait_until(&mut harness, "the check after trusting", |h| {
        has_text(h, "21 new")
    });
    // Saving happens off the UI thread; wait for the pin to reach the file.
    let pin = demo::certificate_fingerprint().to_string();
    wait_until(&mut harness, "the pin in the settings file", |_| {
        std::fs::read_to_string(&paths.settings_file).is_ok_and(|t| t.contains(&pin))
    });
}

#[test]
fn idle_app_does_not_repaint() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    // Once the work is done and nothing moves, the app asks for no frames.
    let steps = harness.try_run();
    assert!(
        steps.is_ok(),
        "the app keeps asking for repaints while idle: {steps:?}"
    );
}

/// An app on a demo server holding `messages`.
fn app_with(messages: Vec<Vec<u8>>) -> (DemoServer, tempfile::TempDir, Harness<'static, App>) {
    let server = DemoServer::with_messages(0, true, messages).expect("server");
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let config = AppConfig::demo(paths, Arc::new(MemoryStore::default()), server.port());
    (server, profile, harness(config))
}

fn numbered(count: usize) -> Vec<Vec<u8>> {
    (1..=count)
        .map(|i| {
            format!(
                "From: Sender {i} <s{i}@example.test>\r\nSubject: Message {i:05}\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nBody {i}\r\n"
            )
            .into_bytes()
        })
        .collect()
}

#[test]
fn ten_thousand_rows_are_laid_out_lazily() {
    let (_server, _profile, mut harness) = app_with(numbered(10_000));
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "10,000 messages", |h| {
        has_text(h, "10000 new") && has_text(h, "Checked ")
    });
    // Only the rows on screen exist as widgets: virtual scrolling.
    let shown = harness.query_all_by_label_contains("Message 0").count();
    assert!(
        shown > 5 && shown < 80,
        "{shown} rows laid out for 10,000 messages"
    );
}

#[test]
fn shift_and_ctrl_select_and_keyboard() {
    let (server, _profile, mut harness) = app_with(numbered(6));
    // F5 checks, like Ctrl+R.
    harness.key_press(egui::Key::F5);
    wait_until(&mut harness, "the check", |h| {
        has_text(h, "6 new") && has_text(h, "Checked ")
    });
    // Sort by subject, ascending, so the order is known.
    harness.get_by_label("Subject").click();
    settle(&mut harness);
    harness.get_by_label("Message 00002").click();
    settle(&mut harness);
    harness
        .get_by_label("Message 00004")
        .click_modifiers(egui::Modifiers::SHIFT);
    settle(&mut harness);
    harness
        .get_by_label("Message 00006")
        .click_modifiers(egui::Modifiers::COMMAND);
    settle(&mut harness);
    // Down arrow extends nothing without Shift: it moves the selection.
    harness.get_by_label("Delete").click();
    settle(&mut harness);
    assert_eq!(
        harness.query_all_by_label("To delete").count(),
        4,
        "rows 2, 3, 4 and 6"
    );
    harness.get_by_label("Apply (4)").click();
    settle(&mut harness);
    assert!(has_text(
        &harness,
        "4 messages will be deleted from the server."
    ));
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert_eq!(server.uidls().len(), 6, "cancelled: nothing deleted");
    // Arrow keys move the selection; Delete stages it.
    harness.get_by_label("Message 00001").click();
    settle(&mut harness);
    harness.key_press(egui::Key::ArrowDown);
    settle(&mut harness);
    harness.get_by_label("Undo delete").click();
    settle(&mut harness);
    assert_eq!(
        harness.query_all_by_label("To delete").count(),
        3,
        "row 2 was selected by the arrow key and unmarked"
    );
}

#[test]
fn show_more_lines_fetches_a_longer_head() {
    let fixture = Fixture::new();
    let mut harness = fixture.app(false);
    check_mail(&mut harness);
    harness
        .get_by_label("Two weeks on the canal: the whole story")
        .click();
    settle(&mut harness);
    assert!(
        !has_text(&harness, "grumpy old men"),
        "not in the first ten lines"
    );
    harness.get_by_label("Show more lines").click();
    wait_until(&mut harness, "the longer preview", |h| {
        has_text(h, "grumpy old men")
    });
    assert!(
        fixture.maildir_files().is_empty(),
        "still nothing downloaded"
    );
}

/// A server without TOP: the app says so for the account, previews the
/// small message from a download within the limit, and explains in the
/// preview pane why the large one has none.
#[test]
fn server_without_top_explains_missing_previews() {
    use crate::support::pop3_server::{
        MailServer, Message, ServerConfig, TlsMode, cert_sha256_hex,
    };
    let big = format!(
        "From: big@example.test\nSubject: Large one\n\n{}",
        "a long line of a large message\n".repeat(200)
    );
    let server = MailServer::start(
        ServerConfig {
            top: false,
            tls: Some(TlsMode::Implicit),
            ..ServerConfig::default()
        },
        vec![
            Message::sample("uid-small", "Small one", "Hello from a server without TOP."),
            Message::new("uid-big", &big),
        ],
    );
    let profile = tempfile::tempdir().expect("profile");
    let paths = Paths::in_dir(profile.path());
    let keyring = Arc::new(MemoryStore::default());
    let passwords = Passwords::new(keyring, paths.password_file.clone());
    let mut settings = demo::demo_settings(server.port());
    settings.general.preview_download_limit_kb = 2;
    let account = &mut settings.accounts[0];
    account.username = "alice".into();
    account.trusted_fingerprint = Some(cert_sha256_hex("localhost"));
    passwords
        .set_for_session("demo", &Secret::new("secret".into()))
        .expect("session password");
    let mut harness = harness(AppConfig {
        paths,
        passwords,
        fixed_settings: Some(settings),
        note: None,
        native_dialogs: false,
        desktop: Default::default(),
    });
    harness.get_by_label("Check mail").click();
    wait_until(&mut harness, "the check", |h| {
        has_text(h, "2 new") && has_text(h, "Checked ")
    });
    assert!(has_text(
        &harness,
        "messages up to 2.0 KB are downloaded to preview them"
    ));
    harness.get_by_label("Small one").click();
    wait_until(&mut harness, "the small preview", |h| {
        has_text(h, "Hello from a server without TOP.")
    });
    // "Show more lines" works there too, from a download within the limit.
    harness.get_by_label("Show more lines").click();
    wait_until(&mut harness, "more lines", |_| {
        server.sessions().len() == 2 && server.sessions()[1].finished
    });
    assert_eq!(server.sessions()[1].commands_with("RETR"), ["RETR 1"]);
    harness.get_by_label("(no subject)").click();
    wait_until(&mut harness, "the explanation", |h| {
        has_text(h, "only messages up to 2.0 KB are previewed")
    });
    let retrieved: Vec<String> = server.sessions()[0]
        .commands_with("RETR")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        retrieved,
        ["RETR 1"],
        "never the large one, just to preview"
    );
}

/// The settings file is read off the UI thread: a file that cannot be read
/// yet (here a pipe nobody writes to) leaves a window that draws and says
/// so, with Settings closed so nothing overwrites the file meanwhile.
#[cfg(unix)]
#[test]
fn settings_are_read_off_the_ui_thread() {
    let fixture = Fixture::new();
    let paths = fixture.paths();
    std::fs::create_dir_all(paths.settings_file.parent().unwrap()).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&paths.settings_file)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let passwords = Passwords::new(fixture.keyring.clone(), paths.password_file.clone());
    passwords
        .set_for_session("demo", &Secret::new(demo::PASSWORD.into()))
        .expect("session password");
    let config = AppConfig {
        paths: paths.clone(),
        passwords,
        fixed_settings: None,
        note: None,
        native_dialogs: false,
        desktop: Default::default(),
    };
    // The file arrives when the test says so, or after 10 s: an app that
    // read it on the UI thread would only get there that late, and then
    // show no "Loading".
    let text = demo::demo_settings(fixture.server.port()).to_toml();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let file = paths.settings_file.clone();
    let writer = std::thread::spawn(move || {
        let _ = wait.recv_timeout(Duration::from_secs(10));
        std::fs::write(file, text)
    });
    // Built without `harness()`, which waits for the settings.
    let mut harness = Harness::builder()
        .with_size([1200.0, 800.0])
        .allow_missing_glyphs()
        .build_eframe(move |cc| App::new(cc, config));
    settle(&mut harness);
    assert!(has_text(&harness, "Loading your accounts"));
    assert!(
        harness
            .get_by_label("Settings")
            .accesskit_node()
            .is_disabled(),
        "no editing before the file is read"
    );
    go.send(()).unwrap();
    wait_until(&mut harness, "the account from the settings file", |h| {
        has_label(h, "Demo")
    });
    writer.join().unwrap().expect("write the pipe");
    assert!(
        !harness
            .get_by_label("Settings")
            .accesskit_node()
            .is_disabled()
    );
    check_mail(&mut harness);
}
