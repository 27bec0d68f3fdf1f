//! The real binary's tray icon, as a desktop panel meets it: on a private
//! session bus with a StatusNotifierWatcher of the test's own, under Xvfb.
//! The icon registers, its tooltip counts the new mail of the first check;
//! the window's close button hides the window and Letterbox goes on (a
//! check from the icon's menu finds new mail); a click on the icon brings
//! the window back, and Quit in its menu ends Letterbox.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use letterbox::demo::{self, DemoServer};
use letterbox::pop3::Secret;
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{PasswordStorage, Paths};
use zbus::zvariant::{OwnedValue, Value};

use crate::support::desktop::{app_process, artifacts, display_with, log_tail};
use crate::support::notifications::{PrivateBus, Watcher};

type Pixmaps = Vec<(i32, i32, Vec<u8>)>;

fn wait_for<T>(what: &str, log: &std::path::Path, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = found() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; the app's log ends:\n{}",
            log_tail(log, 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The id of the visible window named Letterbox, if there is one.
fn visible_window(display: &str) -> Option<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "Letterbox"])
        .env("DISPLAY", display)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(str::to_owned)
}

#[test]
fn the_tray_icon_counts_new_mail_keeps_letterbox_running_hidden_and_quits() {
    let Some(display) = display_with(&["Xvfb", "xdotool"], "1024x768") else {
        return;
    };
    let Some(bus) = PrivateBus::start() else {
        return;
    };
    let watcher = Watcher::serve(&bus);
    let server = DemoServer::start(0, true).expect("demo server");
    let home = tempfile::tempdir().expect("home");
    let runtime = tempfile::tempdir().expect("runtime");
    // The user's settings: the demo mailbox, checked every five minutes,
    // kept running in the background; the password in the password file.
    let config = home.path().join("config/letterbox");
    let paths = Paths {
        settings_file: config.join("settings.toml"),
        accounts_dir: home.path().join("data/letterbox/accounts"),
        password_file: config.join("passwords.toml"),
    };
    let mut settings = demo::demo_settings(server.port());
    settings.general.check_interval_mins = Some(5);
    settings.general.keep_running = Some(true);
    settings.accounts[0].password_storage = PasswordStorage::File;
    std::fs::create_dir_all(&config).expect("config dir");
    settings.save(&paths.settings_file).expect("settings");
    Passwords::new(
        std::sync::Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    )
    .set(&settings.accounts[0], &Secret::new(demo::PASSWORD.into()))
    .expect("password");

    let log = artifacts().join("tray-stderr.log");
    let runtime_dir = runtime.path().to_str().expect("utf-8");
    let mut app = app_process(
        &display.name,
        home.path(),
        &log,
        &[],
        &[
            ("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str()),
            ("XDG_RUNTIME_DIR", runtime_dir),
            ("LETTERBOX_LOG", "letterbox=info,eframe=debug"),
        ],
    );
    let item = wait_for("the tray icon to register", &log, || {
        watcher.items().into_iter().next()
    });
    let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .expect("address")
        .build()
        .expect("a connection");
    // Asked each time: the item announces changes with signals of its own,
    // not the PropertiesChanged a caching proxy would wait for.
    let sni: zbus::blocking::Proxy<'_> = zbus::blocking::proxy::Builder::new(&connection)
        .destination(item.as_str())
        .expect("destination")
        .path("/StatusNotifierItem")
        .expect("path")
        .interface("org.kde.StatusNotifierItem")
        .expect("interface")
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .expect("the item");
    let title: String = sni.get_property("Title").expect("Title");
    assert_eq!(title, "Letterbox");
    let pixmaps: Pixmaps = sni.get_property("IconPixmap").expect("IconPixmap");
    assert!(
        pixmaps
            .iter()
            .any(|(w, h, data)| *w > 0 && data.len() == (w * h * 4) as usize)
    );
    // The first check's 21 new messages.
    wait_for("the count in the tooltip", &log, || {
        let (_, _, _, text): (String, Pixmaps, String, String) =
            sni.get_property("ToolTip").ok()?;
        (text == "21 new messages").then_some(())
    });
    let status: String = sni.get_property("Status").expect("Status");
    assert_eq!(status, "NeedsAttention");

    let menu = zbus::blocking::Proxy::new(
        &connection,
        item.as_str(),
        "/MenuBar",
        "com.canonical.dbusmenu",
    )
    .expect("the menu");
    let click = |label: &str| {
        let id = (1..10)
            .find(|id| {
                let found: Result<OwnedValue, _> = menu.call("GetProperty", &(*id, "label"));
                found
                    .ok()
                    .and_then(|v| String::try_from(v).ok())
                    .is_some_and(|l| l == label)
            })
            .unwrap_or_else(|| panic!("no “{label}” in the menu"));
        let no_data = Value::from(0i32);
        let _: () = menu
            .call("Event", &(id, "clicked", no_data, 0u32))
            .expect("Event");
    };

    // The window's close button: Letterbox goes on in the tray, its
    // window hidden.
    // (Sent again every few seconds while the window shows: now and then
    // the first request never reaches the app's event loop under Xvfb,
    // with nothing in eframe's log; the app is judged on what it does
    // with a request it gets.)
    let mut sent_at: Option<Instant> = None;
    wait_for("the window hidden", &log, || {
        let Some(window) = visible_window(&display.name) else {
            return Some(());
        };
        if sent_at.is_none_or(|at| at.elapsed() > Duration::from_secs(3)) {
            let closed = Command::new("/usr/bin/python3")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/close_window.py"))
                .args([display.name.as_str(), window.as_str()])
                .status()
                .expect("close_window.py");
            assert!(closed.success());
            sent_at = Some(Instant::now());
        }
        None
    });
    assert!(log_tail(&log, 80).contains("checking in the background, in the tray"));
    assert!(app.0.try_wait().expect("wait").is_none(), "Letterbox ended");

    // Hidden, it still works: new mail, "Check mail now", and the count.
    server.deliver(demo::arriving_message());
    click("Check mail now");
    wait_for("the new count in the tooltip", &log, || {
        let (_, _, _, text): (String, Pixmaps, String, String) =
            sni.get_property("ToolTip").ok()?;
        (text == "22 new messages").then_some(())
    });

    // A click on the icon brings the window back.
    sni.call_method("Activate", &(0i32, 0i32))
        .expect("Activate");
    wait_for("the window brought back", &log, || {
        visible_window(&display.name)
    });
    assert!(log_tail(&log, 80).contains("the window was asked for"));

    // Quit in its menu ends Letterbox.
    click("Quit");
    let status = wait_for("Letterbox to quit", &log, || {
        app.0.try_wait().ok().flatten()
    });
    assert!(status.success(), "{status:?}: {}", log_tail(&log, 20));
}
