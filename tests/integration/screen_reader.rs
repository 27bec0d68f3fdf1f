//! The real binary as a screen reader meets it: `letterbox --demo` on a
//! private Xvfb display, with its own session bus and accessibility bus
//! (what a desktop gives Orca), driven through AT-SPI by names and actions
//! only (tests/support/atspi_journey.py): Check mail, select a message by
//! its list item's default action, read its preview, Download, and hear
//! the item say "Downloaded".

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::desktop::{Display, Killed, artifacts, demo_app, log_tail, missing_tool};

const BUS_LAUNCHER: &str = "/usr/libexec/at-spi-bus-launcher";
/// Debian's Python, where `python3-pyatspi` is installed (not a pyenv's).
const PYTHON: &str = "/usr/bin/python3";

/// A private D-Bus session bus, killed when dropped.
struct SessionBus {
    address: String,
    pid: u32,
}

impl SessionBus {
    fn start() -> SessionBus {
        let out = Command::new("dbus-launch")
            .arg("--sh-syntax")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .expect("dbus-launch");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}='")))
                .and_then(|rest| rest.split('\'').next())
                .map(str::to_owned)
        };
        let address = value("DBUS_SESSION_BUS_ADDRESS")
            .unwrap_or_else(|| panic!("dbus-launch gave no address: {text}"));
        let pid = text
            .lines()
            .find_map(|l| l.strip_prefix("DBUS_SESSION_BUS_PID="))
            .and_then(|p| p.trim_end_matches(';').parse().ok())
            .unwrap_or_else(|| panic!("dbus-launch gave no pid: {text}"));
        SessionBus { address, pid }
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

#[test]
fn a_screen_reader_can_check_select_read_and_download() {
    let tools = ["Xvfb", "dbus-launch", "dbus-send", BUS_LAUNCHER, PYTHON];
    if let Some(missing) = missing_tool(&tools, "LETTERBOX_REQUIRE_ATSPI") {
        eprintln!("skipped: {missing} is not installed");
        return;
    }
    let has_pyatspi = Command::new(PYTHON)
        .args(["-c", "import pyatspi"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_pyatspi {
        assert!(
            std::env::var("LETTERBOX_REQUIRE_ATSPI").as_deref() != Ok("1"),
            "python3-pyatspi is not installed, and LETTERBOX_REQUIRE_ATSPI=1"
        );
        eprintln!("skipped: python3-pyatspi is not installed");
        return;
    }

    let display = Display::start("1280x800");
    let bus = SessionBus::start();
    let home = tempfile::tempdir().expect("home");
    let with_bus = |command: &mut Command| {
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("DISPLAY", &display.name)
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", home.path());
    };

    // The accessibility bus, as a desktop session starts it.
    let mut launcher = Command::new(BUS_LAUNCHER);
    launcher
        .arg("--launch-immediately")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    with_bus(&mut launcher);
    let _launcher = Killed(launcher.spawn().expect("start at-spi-bus-launcher"));
    // Turn accessibility on, as a screen reader does: applications that
    // ask (AccessKit does) then publish their tree.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut enable = Command::new("dbus-send");
        enable.args([
            "--session",
            "--dest=org.a11y.Bus",
            "--type=method_call",
            "--print-reply",
            "/org/a11y/bus",
            "org.freedesktop.DBus.Properties.Set",
            "string:org.a11y.Status",
            "string:IsEnabled",
            "variant:boolean:true",
        ]);
        with_bus(&mut enable);
        let done = enable
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the accessibility bus did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let log_path = artifacts().join("screen-reader-demo-stderr.log");
    let mut app = demo_app(
        &display.name,
        home.path(),
        &log_path,
        &[("DBUS_SESSION_BUS_ADDRESS", bus.address.as_str())],
    );

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/atspi_journey.py");
    let mut journey = Command::new(PYTHON);
    journey.arg(&script);
    with_bus(&mut journey);
    let out = journey.output().expect("run the AT-SPI journey");
    let said = String::from_utf8_lossy(&out.stdout);
    let exited = app.0.try_wait().ok().flatten();
    assert!(
        out.status.success(),
        "the screen reader's journey failed:\n{said}\n{}\napp exited: {exited:?}; its log ends:\n{}",
        String::from_utf8_lossy(&out.stderr),
        log_tail(&log_path, 30)
    );
    // Each step is reported; the last only after the item said Downloaded.
    assert!(said.contains("list item: New, from "), "{said}");
    assert!(said.contains("list item: Downloaded, from "), "{said}");
    assert!(said.trim_end().ends_with("journey complete"), "{said}");
}
