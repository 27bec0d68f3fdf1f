//! Letterbox checking by itself and telling the desktop: the schedule run
//! by a clock the test moves (no sleeping for minutes), notifications sent
//! to a notification service of the test's own on a private session bus,
//! and a click on one bringing up the account.

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use letterbox::app::{App, AppConfig, Desktop};
use letterbox::desktop::notify::Bus;
use letterbox::desktop::schedule::Clock;

use super::support::desktop::missing_tool;
use super::support::notifications::{Notifications, PrivateBus};
use super::ui::{
    Fixture, close_window, commands_over_frames, harness, has_text, settle, viewport_commands,
    wait_until,
};

const INTERVAL: Duration = Duration::from_secs(5 * 60);

fn dinner() -> Vec<u8> {
    b"From: Alice Martin <alice@example.org>\r\nTo: you@letterbox.example\r\nSubject: Dinner Saturday\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <dinner@example.org>\r\n\r\nShall we say eight?\r\n".to_vec()
}

/// The demo app, checking every five minutes by `clock`, its notifications
/// going to `bus` (if any), its settings changed by `tweak` first.
fn app_with(
    fixture: &Fixture,
    bus: Option<&PrivateBus>,
    clock: &Clock,
    tweak: impl FnOnce(&mut letterbox::settings::Settings),
) -> Harness<'static, App> {
    let mut config = AppConfig::demo(
        fixture.paths(),
        fixture.keyring.clone(),
        fixture.server.port(),
    );
    if let Some(settings) = config.fixed_settings.as_mut() {
        settings.general.check_interval_mins = Some(5);
        tweak(settings);
    }
    let mut desktop = Desktop::default();
    if let Some(bus) = bus {
        desktop.notifications = Bus::Address(bus.address.clone());
    }
    desktop.clock = clock.clone();
    config.desktop = desktop;
    harness(config)
}

/// The same, as it comes.
fn app(fixture: &Fixture, bus: &PrivateBus, clock: &Clock) -> Harness<'static, App> {
    app_with(fixture, Some(bus), clock, |_| {})
}

/// A notification service on a private bus, and the demo app checking by
/// `clock`, its first check (at start) over. `None` without dbus-daemon.
struct Scene {
    service: Notifications,
    fixture: Fixture,
    clock: Clock,
    harness: Harness<'static, App>,
    _bus: PrivateBus,
}

impl Scene {
    fn start(tweak: impl FnOnce(&mut letterbox::settings::Settings)) -> Option<Scene> {
        let bus = PrivateBus::start()?;
        let service = Notifications::serve(&bus);
        let fixture = Fixture::new();
        let clock = Clock::manual();
        let mut harness = app_with(&fixture, Some(&bus), &clock, tweak);
        wait_until(&mut harness, "the first session's end", |h| {
            fixture.server.sessions() == 1 && has_text(h, "Checked ") && !has_text(h, "Working…")
        });
        Some(Scene {
            service,
            fixture,
            clock,
            harness,
            _bus: bus,
        })
    }

    fn next_check(&mut self) {
        next_check(&mut self.harness, &self.fixture, &self.clock);
    }
}

/// Moves the clock past the next check and waits for that check to end:
/// its session over on the server, and the app no longer working (the
/// check's start reached the app before its connection did).
fn next_check(harness: &mut Harness<'static, App>, fixture: &Fixture, clock: &Clock) {
    let sessions = fixture.server.sessions();
    clock.advance(INTERVAL);
    wait_until(harness, "the automatic check", |h| {
        fixture.server.sessions() > sessions && !has_text(h, "Working…")
    });
    settle(harness);
}

#[test]
fn new_mail_found_by_an_automatic_check_is_told_once_and_the_click_opens_the_account() {
    let Some(mut s) = Scene::start(|_| {}) else {
        return;
    };

    // Nothing new: nothing said.
    s.next_check();
    assert!(s.service.calls().is_empty(), "{:?}", s.service.calls());

    // New mail arrives and the next automatic check finds it.
    s.fixture.server.deliver(dinner());
    s.next_check();
    wait_until(&mut s.harness, "the notification", |_| {
        !s.service.calls().is_empty()
    });
    let calls = s.service.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let note = &calls[0];
    assert_eq!(note.app_name, "Letterbox");
    assert_eq!(note.summary, "1 new message for Demo");
    assert_eq!(note.body, "Alice Martin: Dinner Saturday");
    assert_eq!(note.actions, ["default", "Open Letterbox"]);
    assert!(note.hints.contains(&"desktop-entry".to_owned()), "{note:?}");

    // The next check finds the same message: it was told already.
    s.next_check();
    assert_eq!(s.service.calls().len(), 1, "{:?}", s.service.calls());

    // The user looks at the downloaded mail, then clicks the notification:
    // Letterbox comes up on the account's server list.
    s.harness
        .query_all_by_label_contains("Downloaded")
        .last()
        .expect("the Downloaded place")
        .click();
    wait_until(&mut s.harness, "the downloaded view", |h| {
        has_text(h, "Downloaded to Demo")
    });
    s.service.click(note.id);
    wait_until(&mut s.harness, "the window brought up", |h| {
        h.state().times_shown_on_request() == 1
    });
    wait_until(&mut s.harness, "the server list", |h| {
        has_text(h, "Dinner Saturday") && !has_text(h, "Downloaded to Demo")
    });
}

#[test]
fn turned_off_for_an_account_nothing_is_told() {
    let Some(mut s) = Scene::start(|settings| {
        settings.accounts[0].notify_new_mail = false;
    }) else {
        return;
    };
    s.fixture.server.deliver(dinner());
    s.next_check();
    assert!(has_text(&s.harness, "Dinner Saturday"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(s.service.calls().is_empty(), "{:?}", s.service.calls());
}

#[test]
fn without_a_notification_service_checks_go_on() {
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    // A bus, but nobody serving notifications on it.
    let fixture = Fixture::new();
    let clock = Clock::manual();
    let mut harness = app(&fixture, &bus, &clock);
    wait_until(&mut harness, "the first check", |h| has_text(h, "Checked "));
    fixture.server.deliver(dinner());
    next_check(&mut harness, &fixture, &clock);
    assert!(has_text(&harness, "Dinner Saturday"));
    assert!(!has_text(&harness, "went wrong"));
    // And again, without the service still.
    next_check(&mut harness, &fixture, &clock);
    assert!(has_text(&harness, "Dinner Saturday"));
}

#[test]
fn idle_between_automatic_checks_asks_for_no_frames() {
    let Some(mut s) = Scene::start(|_| {}) else {
        return;
    };
    // A check is due in five minutes: until then, no frame is asked for.
    let steps = s.harness.try_run();
    assert!(
        steps.is_ok(),
        "repaints while waiting for the next check: {steps:?}"
    );
}

#[test]
fn start_at_login_is_an_autostart_entry_written_and_removed_from_settings() {
    let fixture = Fixture::new();
    let home = tempfile::tempdir().expect("home");
    let dir = home.path().join("autostart");
    let entry = dir.join("letterbox.desktop");
    let mut config = AppConfig::demo(
        fixture.paths(),
        fixture.keyring.clone(),
        fixture.server.port(),
    );
    let mut desktop = Desktop::default();
    desktop.autostart_dir = Some(dir.clone());
    config.desktop = desktop;
    let mut harness = harness(config);
    let toggle = |harness: &mut Harness<'static, App>| {
        harness.get_by_label("Settings").click();
        settle(harness);
        harness.get_by_label("General").click();
        settle(harness);
        harness
            .get_by_label("Start Letterbox when I log in")
            .click();
        settle(harness);
        harness.get_by_label("Save").click();
        settle(harness);
    };
    toggle(&mut harness);
    wait_until(&mut harness, "the autostart entry", |_| entry.is_file());
    let text = std::fs::read_to_string(&entry).expect("entry");
    let program = std::env::current_exe().expect("this program");
    assert!(
        text.contains(&format!("\nExec={}\n", program.display())),
        "{text}"
    );
    if missing_tool(&["desktop-file-validate"], "LETTERBOX_REQUIRE_DESKTOP").is_none() {
        let out = std::process::Command::new("desktop-file-validate")
            .arg(&entry)
            .output()
            .expect("desktop-file-validate");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Settings shows it on, and turning it off removes the entry.
    harness.get_by_label("Settings").click();
    settle(&mut harness);
    harness.get_by_label("General").click();
    settle(&mut harness);
    assert_eq!(
        harness
            .get_by_label("Start Letterbox when I log in")
            .accesskit_node()
            .toggled(),
        Some(egui::accesskit::Toggled::True)
    );
    harness.get_by_label("Close").click();
    settle(&mut harness);
    toggle(&mut harness);
    wait_until(&mut harness, "the entry removed", |_| !entry.exists());
}

#[test]
fn closing_the_window_asks_once_then_keeps_checking_and_tells() {
    let Some(mut s) = Scene::start(|_| {}) else {
        return;
    };
    // The window title carries the new count.
    assert!(
        s.harness
            .state()
            .window_title()
            .starts_with("Letterbox — 21 new"),
        "{}",
        s.harness.state().window_title()
    );
    // First close: held back, and asked.
    let commands = close_window(&mut s.harness);
    assert!(commands.contains(&"CancelClose".to_owned()), "{commands:?}");
    settle(&mut s.harness);
    assert!(has_text(&s.harness, "Keep checking for mail?"));
    s.harness
        .get_by_label("Keep checking in the background")
        .click();
    let commands = commands_over_frames(&mut s.harness, 5);
    assert!(
        commands.contains(&"Minimized(true)".to_owned()),
        "{commands:?}"
    );
    assert!(
        !commands.contains(&"Close".to_owned()) || commands.contains(&"CancelClose".to_owned())
    );
    // Closing again does not ask again.
    let mut commands = close_window(&mut s.harness);
    commands.extend(commands_over_frames(&mut s.harness, 3));
    assert!(commands.contains(&"CancelClose".to_owned()), "{commands:?}");
    assert!(
        commands.contains(&"Minimized(true)".to_owned()),
        "{commands:?}"
    );
    assert!(!has_text(&s.harness, "Keep checking for mail?"));

    // In the background, new mail is checked for and told.
    s.fixture.server.deliver(dinner());
    s.next_check();
    wait_until(&mut s.harness, "the notification", |_| {
        !s.service.calls().is_empty()
    });
    assert_eq!(s.service.calls()[0].summary, "1 new message for Demo");
    assert!(
        s.harness
            .state()
            .window_title()
            .starts_with("Letterbox — 22 new")
    );
    // Clicking it brings the window back.
    s.service.click(s.service.calls()[0].id);
    let mut commands = Vec::new();
    wait_until(&mut s.harness, "the window shown", |h| {
        commands.extend(viewport_commands(h));
        commands.contains(&"Focus".to_owned())
    });
    assert!(
        commands.contains(&"Minimized(false)".to_owned()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"Visible(true)".to_owned()),
        "{commands:?}"
    );

    // Ctrl+Q still quits.
    s.harness
        .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Q);
    let mut commands = commands_over_frames(&mut s.harness, 1);
    commands.extend(close_window(&mut s.harness));
    commands.extend(commands_over_frames(&mut s.harness, 3));
    assert!(
        !commands.contains(&"CancelClose".to_owned()),
        "{commands:?}"
    );
}

#[test]
fn choosing_quit_when_asked_quits_and_is_remembered() {
    let fixture = Fixture::new();
    let mut harness = app_with(&fixture, None, &Clock::manual(), |_| {});
    wait_until(&mut harness, "the first check", |h| has_text(h, "Checked "));
    close_window(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Quit Letterbox").click();
    let commands = commands_over_frames(&mut harness, 5);
    assert!(commands.contains(&"Close".to_owned()), "{commands:?}");
    // The close goes through: not held back again, no question.
    let commands = close_window(&mut harness);
    assert!(
        !commands.contains(&"CancelClose".to_owned()),
        "{commands:?}"
    );
    assert!(!has_text(&harness, "Keep checking for mail?"));
}

#[test]
fn a_full_mailbox_is_told_once_a_day() {
    let Some(mut s) = Scene::start(|settings| {
        // 3.2 MB on the server.
        settings.accounts[0].quota_mb = Some(3);
    }) else {
        return;
    };
    s.next_check();
    wait_until(&mut s.harness, "the warning", |_| {
        !s.service.calls().is_empty()
    });
    s.next_check();
    std::thread::sleep(Duration::from_millis(200));
    let calls = s.service.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].summary, "The mailbox of Demo is full");
    assert!(calls[0].body.contains("turns new mail away"), "{calls:?}");
}
