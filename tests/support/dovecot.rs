//! A real Dovecot POP3 server for the integration tests.
//!
//! ```ignore
//! let Some(dc) = support::dovecot::dovecot() else {
//!     eprintln!("skipped: Dovecot not available");
//!     return;
//! };
//! // or: let dc = crate::dovecot_or_skip!();
//! let user = dc.new_user("fetch");
//! user.deliver(b"Subject: hi\r\n\r\nbody\r\n");
//! // connect to dc.host():dc.plain_port() (STLS) or dc.tls_port() (implicit TLS),
//! // trust dc.ca_file(), log in as user.name() with dc.password().
//! ```
//!
//! Where the server comes from:
//! * env `LETTERBOX_DOVECOT_DIR` set: an instance already started (by `.ci/run`) with
//!   `tests/support/dovecot/start.sh DIR`; its settings are read from `DIR/instance.env`.
//! * otherwise, if Dovecot is installed, one private instance per test process, started on
//!   first use in a temporary directory. A small watchdog shell (its own process group)
//!   holds the read end of a pipe whose write end only this process has: when the test
//!   process exits in any way, the pipe closes and the watchdog runs `stop.sh` and removes
//!   the directory.
//! * neither: [`dovecot`] returns `None` (tests skip), unless env
//!   `LETTERBOX_REQUIRE_DOVECOT=1`, then it panics with the reason.
//!
//! The server: 127.0.0.1 only; the plain port offers STLS, the TLS port is implicit TLS
//! with a self-signed certificate for `localhost` / `127.0.0.1` ([`Dovecot::ca_file`]).
//! Any user name logs in with the one shared [`Dovecot::password`] via USER/PASS, APOP
//! (timestamp in the greeting), AUTH PLAIN, LOGIN and CRAM-MD5; plaintext logins are
//! allowed without TLS. UIDLs are `%08Xu%08Xv` (UID and UIDVALIDITY in hex).
//!
//! OAuth 2: SASL `XOAUTH2` and `OAUTHBEARER` take an access token, which Dovecot checks
//! by POSTing it to `http://127.0.0.1:<oauth_idp_port>/introspect`. Nothing listens there
//! until a test starts the mock identity provider on that port
//! ([`crate::support::oauth_idp::dovecot_idp`]); the shared password is not a token.
//!
//! Line endings: Dovecot sends a stored message with every bare LF turned into CRLF and
//! existing CRLFs kept (the stored file itself is not changed). [`DovecotUser::deliver`]
//! stores the bytes exactly as given, so deliver CRLF mail and the bytes a client gets
//! from RETR (after dot-unstuffing) are exactly the stored bytes. Dovecot's messages are
//! numbered in delivery order (by maildir file name, which `deliver` makes increasing).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Env var naming the directory of an instance that is already running.
pub const DIR_ENV: &str = "LETTERBOX_DOVECOT_DIR";
/// Env var: `1` turns "Dovecot not available" from a skip into a panic.
pub const REQUIRE_ENV: &str = "LETTERBOX_REQUIRE_DOVECOT";

/// Gets the shared Dovecot server of this test process, or skips the test (returns from
/// the enclosing function, which must return `()`) when there is none.
#[macro_export]
macro_rules! dovecot_or_skip {
    () => {
        match $crate::support::dovecot::dovecot() {
            Some(dc) => dc,
            None => {
                eprintln!("skipped: Dovecot not available");
                return;
            }
        }
    };
}

/// A running Dovecot POP3 server (see the module docs).
#[derive(Debug)]
pub struct Dovecot {
    dir: PathBuf,
    plain_port: u16,
    tls_port: u16,
    /// `None` for an instance started by an older start.sh (no OAuth 2 set up).
    oauth_idp_port: Option<u16>,
    ca_file: PathBuf,
    password: String,
    mail_uid: u32,
    mail_gid: u32,
    home_root: PathBuf,
    pid: u32,
    /// Started by this process (and stopped by the watchdog when it exits).
    owned: bool,
    /// Write end of the watchdog's pipe; never dropped while the process lives.
    _watchdog: Option<ChildStdin>,
}

static INSTANCE: OnceLock<Result<Dovecot, String>> = OnceLock::new();

/// The Dovecot server for this test process: `None` when it is not available (and
/// `LETTERBOX_REQUIRE_DOVECOT` is not `1`). Started at most once per process.
pub fn dovecot() -> Option<&'static Dovecot> {
    let result = INSTANCE.get_or_init(|| {
        let r = obtain();
        if let Err(e) = &r {
            eprintln!("Dovecot not available: {e}");
        }
        r
    });
    match result {
        Ok(dc) => Some(dc),
        Err(e) if required() => panic!(
            "{REQUIRE_ENV}=1 but the Dovecot test server is not available: {e}\n\
             (install it with `apt-get install dovecot-core dovecot-pop3d`, or start one \
             with tests/support/dovecot/start.sh DIR and set {DIR_ENV}=DIR)"
        ),
        Err(_) => None,
    }
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v.trim() == "1")
}

fn support_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dovecot")
}

fn obtain() -> Result<Dovecot, String> {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let env = dir.join("instance.env");
            let text = fs::read_to_string(&env).map_err(|e| {
                format!(
                    "{DIR_ENV}={} but {} cannot be read ({e}); was start.sh run?",
                    dir.display(),
                    env.display()
                )
            })?;
            Dovecot::from_instance_env(&text, false, None)
        }
        _ => start_private(),
    }
}

/// Starts a private instance in a fresh temporary directory, with a watchdog that stops
/// it and removes the directory when this process exits.
fn start_private() -> Result<Dovecot, String> {
    let dir = tempfile::Builder::new()
        .prefix("letterbox-dovecot-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?
        .keep();
    // Dovecot's mail processes run as another uid when we are root.
    let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
    let scripts = support_dir();

    // The watchdog first, so that even a half-started server is cleaned up.
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(r#"cat >/dev/null; bash "$0" "$1" >/dev/null 2>&1; rm -rf -- "$1""#)
        .arg(scripts.join("stop.sh"))
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0) // not hit by a Ctrl-C meant for the tests: it must outlive them
        .spawn()
        .map_err(|e| {
            let _ = fs::remove_dir_all(&dir);
            format!("cannot start the watchdog shell: {e}")
        })?;
    let watchdog_stdin = watchdog.stdin.take();

    // stdin/stdout/stderr are pipes; start.sh detaches Dovecot from them.
    let out = Command::new("bash")
        .arg(scripts.join("start.sh"))
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", scripts.join("start.sh").display()))?;
    // On failure, dropping watchdog_stdin makes the watchdog clean up right away.
    match out.status.code() {
        Some(0) => {}
        Some(3) => {
            return Err(format!(
                "Dovecot is not installed ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        _ => {
            return Err(format!(
                "start.sh failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ));
        }
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Dovecot::from_instance_env(&text, true, watchdog_stdin)
}

fn parse_env(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                return None;
            }
            l.split_once('=')
        })
        .collect()
}

impl Dovecot {
    fn from_instance_env(
        text: &str,
        owned: bool,
        watchdog: Option<ChildStdin>,
    ) -> Result<Dovecot, String> {
        let kv = parse_env(text);
        let get = |k: &str| -> Result<&str, String> {
            kv.iter()
                .rev()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("instance.env has no {k}:\n{text}"))
        };
        fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("instance.env: {k}={v} is not a number"))
        }
        Ok(Dovecot {
            dir: PathBuf::from(get("DOVECOT_DIR")?),
            plain_port: num("DOVECOT_PLAIN_PORT", get("DOVECOT_PLAIN_PORT")?)?,
            tls_port: num("DOVECOT_TLS_PORT", get("DOVECOT_TLS_PORT")?)?,
            oauth_idp_port: match get("DOVECOT_OAUTH_IDP_PORT") {
                Ok(v) => Some(num("DOVECOT_OAUTH_IDP_PORT", v)?),
                Err(_) => None, // started by an older start.sh
            },
            ca_file: PathBuf::from(get("DOVECOT_CA_FILE")?),
            password: get("DOVECOT_PASSWORD")?.to_owned(),
            mail_uid: num("DOVECOT_MAIL_UID", get("DOVECOT_MAIL_UID")?)?,
            mail_gid: num("DOVECOT_MAIL_GID", get("DOVECOT_MAIL_GID")?)?,
            home_root: PathBuf::from(get("DOVECOT_HOME_ROOT")?),
            pid: num("DOVECOT_PID", get("DOVECOT_PID")?)?,
            owned,
            _watchdog: watchdog,
        })
    }

    /// `"127.0.0.1"`. The certificate is also valid for the name `"localhost"`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// POP3 port; offers STLS, and allows plaintext logins without it.
    pub fn plain_port(&self) -> u16 {
        self.plain_port
    }

    /// POP3S port (implicit TLS).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The port Dovecot's oauth2 passdb sends its token introspection requests to
    /// (`http://127.0.0.1:<port>/introspect`); the tests' mock identity provider binds
    /// it ([`crate::support::oauth_idp::dovecot_idp`]).
    ///
    /// Panics when the instance was started by an older start.sh, without OAuth 2 (its
    /// instance.env has no `DOVECOT_OAUTH_IDP_PORT`): restart it. See
    /// [`has_oauth`](Self::has_oauth).
    pub fn oauth_idp_port(&self) -> u16 {
        self.oauth_idp_port.unwrap_or_else(|| {
            panic!(
                "the Dovecot in {} was started by an older tests/support/dovecot/start.sh \
                 without OAuth 2 (its instance.env has no DOVECOT_OAUTH_IDP_PORT): restart it \
                 (tests/support/dovecot/stop.sh DIR; tests/support/dovecot/start.sh DIR)",
                self.dir.display()
            )
        })
    }

    /// Whether this instance accepts XOAUTH2 / OAUTHBEARER (false only for an instance
    /// started by an older start.sh).
    pub fn has_oauth(&self) -> bool {
        self.oauth_idp_port.is_some()
    }

    /// PEM file of the server's self-signed certificate (CN and SAN `localhost`, SAN
    /// `127.0.0.1`): trust it as a root certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The password every user name logs in with.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The instance directory (config in `conf/`, log in `log/dovecot.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Dovecot's log file (handy in assertion messages).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("log/dovecot.log")
    }

    /// PID of the Dovecot master process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this test process started the server (else CI did).
    pub fn is_private(&self) -> bool {
        self.owned
    }

    /// A user nobody has used before, with an empty Maildir: the name is
    /// `<prefix>-<pid>-<n>` (prefix characters other than `A-Za-z0-9._-` become `_`).
    pub fn new_user(&self, prefix: &str) -> DovecotUser {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let (name, home) = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}-{}-{n}", std::process::id());
            let home = self.home_root.join(&name);
            match fs::create_dir(&home) {
                Ok(()) => break (name, home),
                // left over from an earlier process with the same pid (shared CI instance)
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create Dovecot home {}: {e}", home.display()),
            }
        };
        let user = DovecotUser {
            name,
            password: self.password.clone(),
            maildir: home.join("Maildir"),
            uid: self.mail_uid,
            gid: self.mail_gid,
        };
        user.chown(&home);
        fs::create_dir(&user.maildir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", user.maildir.display()));
        user.chown(&user.maildir);
        for sub in ["cur", "new", "tmp"] {
            let p = user.maildir.join(sub);
            fs::create_dir(&p).unwrap_or_else(|e| panic!("cannot create {}: {e}", p.display()));
            user.chown(&p);
        }
        user
    }
}

/// One mailbox on the [`Dovecot`] server; see [`Dovecot::new_user`].
#[derive(Debug, Clone)]
pub struct DovecotUser {
    name: String,
    password: String,
    maildir: PathBuf,
    uid: u32,
    gid: u32,
}

/// Unique, strictly increasing (within this process) maildir time stamps in µs, so that
/// Dovecot, which numbers new mail by file name, numbers it in delivery order.
fn next_stamp_micros() -> u128 {
    static LAST: Mutex<u128> = Mutex::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    *last = now.max(*last + 1);
    *last
}

/// The size Dovecot reports for a message (LIST / STAT): bare LFs count as CRLF.
pub fn wire_size(message: &[u8]) -> usize {
    let bare_lf = message
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || message[i - 1] != b'\r'))
        .count();
    message.len() + bare_lf
}

impl DovecotUser {
    /// The login name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The password (the server's shared one).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The user's Maildir (`cur/`, `new/`, `tmp/`; Dovecot adds its index files).
    pub fn maildir(&self) -> &Path {
        &self.maildir
    }

    fn chown(&self, path: &Path) {
        chown(path, Some(self.uid), Some(self.gid)).unwrap_or_else(|e| {
            panic!(
                "cannot chown {} to {}:{} (the Dovecot mail uid/gid): {e}",
                path.display(),
                self.uid,
                self.gid
            )
        });
    }

    /// Delivers one message like an MDA: written to `tmp/`, then renamed into `new/`.
    /// The bytes are stored exactly as given (give CRLF line endings: then RETR returns
    /// exactly these bytes). The name carries `,S=<file size>,W=<wire size>`, so Dovecot
    /// need not read the file for LIST. Returns the file name.
    pub fn deliver(&self, message: &[u8]) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let stamp = next_stamp_micros();
        let name = format!(
            "{}.M{:06}P{}Q{:08}.letterbox-test,S={},W={}",
            stamp / 1_000_000,
            stamp % 1_000_000,
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            message.len(),
            wire_size(message)
        );
        let tmp = self.maildir.join("tmp").join(&name);
        let mut f = fs::File::create(&tmp)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", tmp.display()));
        f.write_all(message)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
        drop(f);
        self.chown(&tmp);
        let dest = self.maildir.join("new").join(&name);
        fs::rename(&tmp, &dest)
            .unwrap_or_else(|e| panic!("cannot move {} into new/: {e}", tmp.display()));
        name
    }

    /// [`deliver`](Self::deliver) each message in order; returns the file names.
    pub fn deliver_many<I, M>(&self, messages: I) -> Vec<String>
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        messages
            .into_iter()
            .map(|m| self.deliver(m.as_ref()))
            .collect()
    }

    /// Paths of the messages the server holds (files in `new/` and `cur/`), by name.
    fn message_paths(&self) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        for sub in ["new", "cur"] {
            let d = self.maildir.join(sub);
            let entries =
                fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
            for entry in entries {
                let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    paths.push(entry.path());
                }
            }
        }
        paths.sort();
        paths
    }

    /// Reads every message file; retries when Dovecot renames one (new/ -> cur/) meanwhile.
    fn read_messages(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut attempt = 0;
        'again: loop {
            let mut out = Vec::new();
            for p in self.message_paths() {
                match fs::read(&p) {
                    Ok(bytes) => out.push((p, bytes)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 50 => {
                        attempt += 1;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue 'again;
                    }
                    Err(e) => panic!("cannot read {}: {e}", p.display()),
                }
            }
            return out;
        }
    }

    /// The contents of every message the server still holds (`new/` and `cur/`), sorted
    /// by content: compare with the sorted list of what a client downloaded.
    pub fn server_messages(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self.read_messages().into_iter().map(|(_, b)| b).collect();
        v.sort();
        v
    }

    /// How many messages the server holds.
    pub fn count(&self) -> usize {
        self.message_paths().len()
    }

    /// Deletes every message file whose content contains `needle`, as another client
    /// would between two sessions. Returns how many were removed.
    pub fn remove_file_containing(&self, needle: &[u8]) -> usize {
        let mut removed = 0;
        for (path, bytes) in self.read_messages() {
            let hit = needle.is_empty() || bytes.windows(needle.len()).any(|w| w == needle);
            if hit {
                fs::remove_file(&path)
                    .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
                removed += 1;
            }
        }
        removed
    }
}
