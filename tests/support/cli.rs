//! Runs the real `letterbox` binary, the way a script or a user would.

use std::process::{Command, Output};
use std::time::Duration;

/// What a run of the binary printed and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Panics with what the binary wrote to stderr unless it contains
    /// `text`.
    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Run {
        assert!(
            self.stderr.contains(text),
            "stderr does not contain {text:?}:\n{}",
            self.stderr
        );
        self
    }

    /// Panics with what the binary wrote to stdout unless it contains
    /// `text`.
    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Run {
        assert!(
            self.stdout.contains(text),
            "stdout does not contain {text:?}:\n{}",
            self.stdout
        );
        self
    }

    /// Panics with everything printed unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs `letterbox ARGS` with the password in the environment, killing it
/// if it runs longer than a minute.
pub fn letterbox(args: &[&str], password: &str) -> Run {
    letterbox_env(args, &[("LETTERBOX_PASSWORD", password)])
}

/// Runs `letterbox COMMAND --url pop3://USER@127.0.0.1:PORT --security none
/// --allow-plaintext EXTRA` with `password`: a mailbox of the test server
/// without TLS, where nothing about encryption is under test.
pub fn plain(command: &str, (user, password): (&str, &str), port: u16, extra: &[&str]) -> Run {
    let url = format!("pop3://{user}@127.0.0.1:{port}");
    let mut args = vec![
        command,
        "--url",
        &url,
        "--security",
        "none",
        "--allow-plaintext",
    ];
    args.extend_from_slice(extra);
    letterbox(&args, password)
}

/// Runs `letterbox ARGS` with exactly these Letterbox variables. The app's
/// settings folder is an empty one unless `LETTERBOX_CONFIG_DIR` is given:
/// tests never read the real user's settings or store mail in their home.
pub fn letterbox_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let empty_config = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_letterbox"));
    command
        .args(args)
        .env_remove("LETTERBOX_PASSWORD")
        .env("LETTERBOX_CONFIG_DIR", empty_config.path());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = run_with_timeout(command, Duration::from_secs(60));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn run_with_timeout(mut command: Command, limit: Duration) -> Output {
    use std::process::Stdio;
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start letterbox");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.expect("wait for letterbox"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("letterbox ran longer than {limit:?}");
        }
    }
}
