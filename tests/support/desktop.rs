//! A private desktop for the tests that run the real binary: an Xvfb
//! display nobody else uses, and what the tests need around it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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

/// A running Xvfb on a display number nobody uses.
pub struct Display {
    pub name: String,
    _server: Killed,
}

impl Display {
    pub fn start(size: &str) -> Display {
        let number = (200..400)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .expect("a free display number");
        let name = format!(":{number}");
        let server = Killed(
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
        let socket = format!("/tmp/.X11-unix/X{number}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Path::new(&socket).exists() {
            assert!(Instant::now() < deadline, "Xvfb did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Display {
            name,
            _server: server,
        }
    }
}

/// `letterbox --demo` on `display`, in a fresh home; its log goes to
/// `log` (a pipe nobody reads could fill and stall it).
pub fn demo_app(display: &str, home: &Path, log: &Path, env: &[(&str, &str)]) -> Killed {
    let log = std::fs::File::create(log).expect("app log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command
        .arg("--demo")
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
    Killed(command.spawn().expect("start letterbox --demo"))
}

/// The last lines of a log file, for a failing test's message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(lines).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}
