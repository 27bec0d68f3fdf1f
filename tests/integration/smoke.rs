//! The real binary, in a real (virtual) X server: `letterbox --demo` must
//! open its window, draw it with Mesa's software OpenGL, check the demo
//! mailbox when "Check mail" is clicked, and leave a screenshot in
//! `target/ci-artifacts/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a child process when dropped, whatever happens in the test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

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
    if let Some(missing) = tools.iter().find(|t| !have(t)) {
        assert!(
            std::env::var("LETTERBOX_REQUIRE_XVFB").as_deref() != Ok("1"),
            "{missing} is not installed, and LETTERBOX_REQUIRE_XVFB=1"
        );
        eprintln!("skipped: {missing} is not installed");
        return;
    }
    // A display number nobody uses.
    let number = (200..300)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free display number");
    let display = format!(":{number}");
    let _xvfb = Killed(
        Command::new("Xvfb")
            .args([
                display.as_str(),
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb"),
    );
    let socket = format!("/tmp/.X11-unix/X{number}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(&socket).exists() {
        assert!(Instant::now() < deadline, "Xvfb did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let home = tempfile::tempdir().expect("home");
    // The app's log goes to a file: a pipe nobody reads could fill and stall
    // it, and the file says what happened when the window does not come.
    let log_path = artifacts().join("smoke-demo-stderr.log");
    let log = std::fs::File::create(&log_path).expect("smoke log");
    let mut app = Killed(
        Command::new(env!("CARGO_BIN_EXE_letterbox"))
            .arg("--demo")
            .env("DISPLAY", &display)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start letterbox --demo"),
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let window = loop {
        let found = xdotool(&display, &["search", "--name", "Letterbox"]);
        if let Some(id) = found.lines().next().filter(|l| !l.is_empty()) {
            break id.to_owned();
        }
        let exited = app.0.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "no Letterbox window appeared (app exited: {exited:?}); its log ends:\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Give it time to draw its first frames with software rendering.
    std::thread::sleep(Duration::from_secs(2));
    let first = artifacts().join("smoke-demo-start.png");
    screenshot(&display, &first);
    assert!(colours(&first) > 20, "the window looks blank");

    // Click "Check mail" (top left of the window) and let the check finish.
    xdotool(
        &display,
        &["mousemove", "--window", &window, "40", "16", "click", "1"],
    );
    std::thread::sleep(Duration::from_secs(3));
    xdotool(
        &display,
        &["mousemove", "--window", &window, "520", "124", "click", "1"],
    );
    std::thread::sleep(Duration::from_secs(2));
    let checked = artifacts().join("smoke-demo-checked.png");
    screenshot(&display, &checked);
    assert!(
        differing_pixels(&first, &checked) > 2000,
        "the window did not change after Check mail and a click on a message"
    );
    drop(app);
}
