//! The real binary, in a real (virtual) X server: `letterbox --demo` must
//! open its window, draw it with Mesa's software OpenGL, check the demo
//! mailbox when "Check mail" is clicked, and leave a screenshot in
//! `target/ci-artifacts/` for people to look at.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::desktop::{app_process, artifacts, demo_app, display_with, log_tail};

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn screenshot(display: &str, path: &Path) {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .env("DISPLAY", display)
        .status()
        .expect("import (imagemagick)");
    assert!(status.success(), "screenshot failed");
}

/// How many different colours the picture has: a blank or black window has
/// one or two, a drawn one hundreds.
fn colours(path: &Path) -> usize {
    let out = Command::new("identify")
        .args(["-format", "%k"])
        .arg(path)
        .output()
        .expect("identify");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// How many pixels differ between two pictures of the same size.
fn differing_pixels(a: &Path, b: &Path) -> u64 {
    // `compare` writes the count to stderr and exits 1 when they differ.
    let out = Command::new("compare")
        .args(["-metric", "AE"])
        .arg(a)
        .arg(b)
        .arg("null:")
        .output()
        .expect("compare (imagemagick)");
    String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

#[test]
fn demo_window_opens_under_xvfb() {
    let tools = ["Xvfb", "xdotool", "import", "identify", "compare"];
    let Some(display) = display_with(&tools, "1280x800") else {
        return;
    };
    let display = display.name.as_str();
    let home = tempfile::tempdir().expect("home");
    let log_path = artifacts().join("smoke-demo-stderr.log");
    let mut app = demo_app(display, home.path(), &log_path, &[]);
    let window = wait_for_window(display, &mut app, &log_path);
    // Give it time to draw its first frames with software rendering.
    std::thread::sleep(Duration::from_secs(2));
    let first = artifacts().join("smoke-demo-start.png");
    screenshot(display, &first);
    assert!(colours(&first) > 20, "the window looks blank");

    // Click "Check mail" (top left of the window) and let the check finish.
    xdotool(
        display,
        &["mousemove", "--window", &window, "40", "16", "click", "1"],
    );
    std::thread::sleep(Duration::from_secs(3));
    xdotool(
        display,
        &["mousemove", "--window", &window, "520", "124", "click", "1"],
    );
    std::thread::sleep(Duration::from_secs(2));
    let checked = artifacts().join("smoke-demo-checked.png");
    screenshot(display, &checked);
    assert!(
        differing_pixels(&first, &checked) > 2000,
        "the window did not change after Check mail and a click on a message"
    );
    drop(app);
}

/// Waits for a window named Letterbox on `display`; its X id.
fn wait_for_window(display: &str, app: &mut crate::support::desktop::Killed, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = xdotool(display, &["search", "--name", "Letterbox"]);
        if let Some(id) = found.lines().next().filter(|l| !l.is_empty()) {
            return id.to_owned();
        }
        let exited = app.0.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            panic!(
                "no Letterbox window appeared (app exited: {exited:?}); its log ends:\n{}",
                log_tail(log, 30)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_second_launch_brings_up_the_first_and_ends() {
    let tools = ["Xvfb", "xdotool"];
    let Some(display) = display_with(&tools, "1024x768") else {
        return;
    };
    let display = display.name.as_str();
    let home = tempfile::tempdir().expect("home");
    let runtime = tempfile::tempdir().expect("runtime dir");
    let runtime_dir = runtime.path().to_str().expect("utf-8 path");
    let env = [
        ("XDG_RUNTIME_DIR", runtime_dir),
        ("LETTERBOX_LOG", "letterbox=info"),
    ];
    let first_log = artifacts().join("instance-first-stderr.log");
    let mut first = app_process(display, home.path(), &first_log, &[], &env);
    wait_for_window(display, &mut first, &first_log);

    let second_log = artifacts().join("instance-second-stderr.log");
    let mut second = app_process(display, home.path(), &second_log, &[], &env);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = second.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second launch kept running; its log ends:\n{}",
            log_tail(&second_log, 20)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "{status:?}: {}",
        log_tail(&second_log, 20)
    );
    assert!(
        log_tail(&second_log, 20).contains("already running; its window was brought up"),
        "{}",
        log_tail(&second_log, 20)
    );
    // The first one was asked, and still runs with its one window.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_tail(&first_log, 50).contains("the window was asked for") {
        assert!(
            Instant::now() < deadline,
            "the first Letterbox was not asked; its log ends:\n{}",
            log_tail(&first_log, 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        first.0.try_wait().expect("wait").is_none(),
        "the first one ended"
    );
    let windows = xdotool(display, &["search", "--name", "Letterbox"]);
    assert_eq!(windows.lines().count(), 1, "{windows}");
}

/// CPU time (user + system) a process has used so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat format")
        .1
        .split_whitespace()
        .collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("a number");
    field(11) + field(12)
}

#[test]
fn waiting_for_its_next_automatic_check_the_app_uses_no_cpu() {
    let tools = ["Xvfb", "xdotool"];
    let Some(display) = display_with(&tools, "1024x768") else {
        return;
    };
    let display = display.name.as_str();
    let home = tempfile::tempdir().expect("home");
    let log = artifacts().join("idle-demo-stderr.log");
    // The demo checks at start and then every minute.
    let mut app = demo_app(display, home.path(), &log, &[]);
    wait_for_window(display, &mut app, &log);
    // Its first check and first frames done (software rendering is slow
    // to start), it waits for the next check, a minute after the first.
    std::thread::sleep(Duration::from_secs(10));
    let pid = app.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu_ticks(pid) - before;
    eprintln!("idle: {used} ticks of CPU in 10 s");
    // Clock ticks are 1/100 s on Linux: 0.2 s in 10 s is 2% of one core;
    // a repaint loop with software rendering takes all of it.
    assert!(
        used <= 20,
        "{used} ticks of CPU in 10 s while idle; the log ends:\n{}",
        log_tail(&log, 20)
    );
    assert!(app.0.try_wait().expect("wait").is_none(), "the app ended");
}
