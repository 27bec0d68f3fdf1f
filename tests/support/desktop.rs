//! A private desktop for the tests that run the real binary: an Xvfb
//! display nobody else uses, and what the tests need around it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Kills a child process when dropped, whatever happens in the test.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `program` is on the PATH (or is an existing file).
pub fn have(program: &str) -> bool {
    Path::new(program).is_file()
        || Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// The first of `tools` that is missing, if any; fails instead when
/// `require_var` is set to 1 (CI installs them all).
pub fn missing_tool(tools: &[&str], require_var: &str) -> Option<String> {
    let missing = tools.iter().find(|t| !have(t))?;
    assert!(
        std::env::var(require_var).as_deref() != Ok("1"),
        "{missing} is not installed, and {require_var}=1"
    );
    Some((*missing).to_owned())
}

/// `target/ci-artifacts/`, where logs and screenshots are left for people.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

/// A private Xvfb display of `size` when `tools` are installed; `None`
/// (the test is skipped, and says so) when one is missing, unless
/// `LETTERBOX_REQUIRE_XVFB=1` makes that a failure.
pub fn display_with(tools: &[&str], size: &str) -> Option<Display> {
    if let Some(missing) = missing_tool(tools, "LETTERBOX_REQUIRE_XVFB") {
        eprintln!("skipped: {missing} is not installed");
        return None;
    }
    Some(Display::start(size))
}

/// A running Xvfb on a display number nobody uses.
pub struct Display {
    pub name: String,
    _server: Killed,
}

impl Display {
    /// Tests run in parallel: each takes the next number this process has
    /// not handed out, skips those another process holds, and moves on if
    /// its Xvfb lost a race for one.
    pub fn start(size: &str) -> Display {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = 200 + (std::process::id() % 50) * 4;
        for _ in 0..200 {
            let number = 200 + (base - 200 + NEXT.fetch_add(1, Ordering::Relaxed)) % 200;
            let socket = format!("/tmp/.X11-unix/X{number}");
            if Path::new(&socket).exists() || Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                continue;
            }
            let name = format!(":{number}");
            let mut server = Killed(
                Command::new("Xvfb")
                    .args([
                        name.as_str(),
                        "-screen",
                        "0",
                        &format!("{size}x24"),
                        "-nolisten",
                        "tcp",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start Xvfb"),
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            let started = loop {
                if server.0.try_wait().ok().flatten().is_some() {
                    break false; // another Xvfb took the number first
                }
                if Path::new(&socket).exists() {
                    // Ours, not a racing one's: it still runs a moment on.
                    std::thread::sleep(Duration::from_millis(100));
                    break server.0.try_wait().ok().flatten().is_none();
                }
                assert!(Instant::now() < deadline, "Xvfb did not start");
                std::thread::sleep(Duration::from_millis(50));
            };
            if started {
                return Display {
                    name,
                    _server: server,
                };
            }
        }
        panic!("no free display number for Xvfb");
    }
}

/// `letterbox --demo` on `display`, in a fresh home; its log goes to
/// `log` (a pipe nobody reads could fill and stall it).
pub fn demo_app(display: &str, home: &Path, log: &Path, env: &[(&str, &str)]) -> Killed {
    app_process(display, home, log, &["--demo"], env)
}

/// `letterbox ARGS` on `display`, with `home` as its home folder.
pub fn app_process(
    display: &str,
    home: &Path,
    log: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Killed {
    let log = std::fs::File::create(log).expect("app log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command
        .args(args)
        .env("DISPLAY", display)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(log);
    for (key, value) in env {
        command.env(key, value);
    }
    Killed(command.spawn().expect("start letterbox"))
}

/// The last lines of a log file, for a failing test's message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}
