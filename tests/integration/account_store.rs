//! One mailbox, one store: `letterbox --url` and `--account NAME` (an
//! account of the app's settings) share the store the app uses, different
//! ports of one user and server do not, and stores of earlier versions are
//! taken over instead of downloading everything again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use letterbox::accounts::stores::store_for_account;
use letterbox::engine::{self, CheckReport, FetchPolicy};
use letterbox::net::Observe;
use letterbox::settings::secrets::{MemoryStore, Passwords};
use letterbox::settings::{Paths, Settings};
use letterbox::store::{AccountStore, StorePaths};
use letterbox::worker::{AccountJob, Event, Request, Worker};

use crate::fetch_faults::account_for;
use crate::support::cli::{Run, letterbox_env};
use crate::support::pop3_server::{
    MailServer, Message, ServerConfig, TlsMode, cert_sha256_hex, sample_mailbox,
};

/// A settings folder like the app's: `settings.toml`, `passwords.toml`,
/// `accounts/`.
struct Config {
    dir: tempfile::TempDir,
}

impl Config {
    fn new() -> Config {
        Config {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn accounts(&self) -> PathBuf {
        self.path().join("accounts")
    }

    /// Writes `settings.toml`: `general` (TOML lines, may be empty) and
    /// `[[accounts]]` sections.
    fn settings(&self, general: &str, accounts: &[String]) {
        let mut text = format!("[general]\n{general}\n");
        for account in accounts {
            text.push_str("\n[[accounts]]\n");
            text.push_str(account);
        }
        std::fs::write(self.path().join("settings.toml"), text).expect("settings");
    }

    fn passwords(&self, text: &str) {
        std::fs::write(self.path().join("passwords.toml"), text).expect("passwords");
    }

    /// Runs letterbox with this settings folder and, if given, a password
    /// in the environment.
    fn run(&self, args: &[&str], password: Option<&str>) -> Run {
        let dir = self.path().display().to_string();
        let mut env = vec![("LETTERBOX_CONFIG_DIR", dir.as_str())];
        if let Some(password) = password {
            env.push(("LETTERBOX_PASSWORD", password));
        }
        letterbox_env(args, &env)
    }
}

/// An unencrypted account of the app for `alice` on `port`, password in
/// the password file.
fn plain_account(id: &str, name: &str, port: u16) -> String {
    format!(
        "id = \"{id}\"\nname = \"{name}\"\nemail = \"alice@example.org\"\nhost = \"127.0.0.1\"\n\
         port = {port}\nsecurity = \"none\"\nallow_plaintext = true\nusername = \"alice\"\n\
         password_storage = \"file\"\n"
    )
}

fn url(server: &MailServer) -> String {
    format!("pop3://alice@127.0.0.1:{}", server.port())
}

/// `fetch --url` for `alice` on the server (password "secret" in the
/// environment) with extra arguments.
fn fetch_url(config: &Config, server: &MailServer, extra: &[&str]) -> Run {
    let url = url(server);
    let mut args = vec![
        "fetch",
        "--url",
        &url,
        "--security",
        "none",
        "--allow-plaintext",
        "--json",
    ];
    args.extend_from_slice(extra);
    config.run(&args, Some("secret"))
}

/// `fetch --account NAME --json`, with no password in the environment.
fn fetch_account(config: &Config, name: &str) -> Run {
    config.run(&["fetch", "--account", name, "--json"], None)
}

fn downloaded(run: &Run) -> u64 {
    run.expect_code(0);
    run.json()["downloaded"].as_u64().expect("downloaded")
}

fn maildir_of(run: &Run) -> PathBuf {
    PathBuf::from(run.json()["maildir"].as_str().expect("maildir"))
}

/// Messages delivered into a Maildir.
fn delivered(maildir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|sub| {
            std::fs::read_dir(maildir.join(sub)).map_or(0, |entries| entries.flatten().count())
        })
        .sum()
}

/// RETR commands the server received, over all sessions.
fn retrieved(server: &MailServer) -> usize {
    server
        .sessions()
        .iter()
        .map(|s| s.commands_with("RETR").len())
        .sum()
}

#[test]
fn ports_of_one_user_and_server_get_separate_stores() {
    // Two mailboxes with the same UIDLs, as two servers numbering alike.
    let first = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let second = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    let profile = tempfile::tempdir().expect("tempdir");
    let profile_arg = profile.path().display().to_string();
    let one = fetch_url(&config, &first, &["--profile", &profile_arg]);
    assert_eq!(downloaded(&one), 3);
    let two = fetch_url(&config, &second, &["--profile", &profile_arg]);
    assert_eq!(
        downloaded(&two),
        3,
        "the other port is another mailbox: {}",
        two.stdout
    );
    assert_ne!(maildir_of(&one), maildir_of(&two));
    assert_eq!(delivered(&maildir_of(&one)), 3);
    assert_eq!(delivered(&maildir_of(&two)), 3);
    assert_eq!(
        maildir_of(&two),
        profile
            .path()
            .join(format!("alice@127.0.0.1_{}/Maildir", second.port()))
    );
}

#[test]
fn url_first_then_account_downloads_nothing_twice() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    config.settings("", &[plain_account("home", "Home", server.port())]);
    config.passwords("home = \"secret\"\n");
    // Even with a profile of its own, --url uses the app's store of the
    // same mailbox.
    let profile = tempfile::tempdir().expect("tempdir");
    let profile_arg = profile.path().display().to_string();
    let by_url = fetch_url(&config, &server, &["--profile", &profile_arg]);
    assert_eq!(downloaded(&by_url), 3);
    assert_eq!(maildir_of(&by_url), config.accounts().join("home/Maildir"));
    let by_account = fetch_account(&config, "home");
    assert_eq!(downloaded(&by_account), 0, "{}", by_account.stdout);
    assert_eq!(by_account.json()["skipped"], 3);
    assert_eq!(maildir_of(&by_account), maildir_of(&by_url));
    assert_eq!(retrieved(&server), 3, "each message retrieved once");
    server.add_message(Message::sample("uid-late", "late", "hi\n"));
    assert_eq!(downloaded(&fetch_account(&config, "home")), 1);
    assert_eq!(delivered(&maildir_of(&by_url)), 4);
    assert!(
        std::fs::read_dir(profile.path())
            .expect("profile")
            .next()
            .is_none(),
        "nothing was kept in the profile"
    );
}

#[test]
fn account_first_then_url_downloads_nothing_twice() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    config.settings("", &[plain_account("home", "Home", server.port())]);
    config.passwords("home = \"secret\"\n");
    let by_account = fetch_account(&config, "HOME");
    assert_eq!(downloaded(&by_account), 3);
    assert_eq!(
        maildir_of(&by_account),
        config.accounts().join("home/Maildir")
    );
    let by_url = fetch_url(&config, &server, &[]);
    assert_eq!(downloaded(&by_url), 0, "{}", by_url.stdout);
    assert_eq!(maildir_of(&by_url), maildir_of(&by_account));
    assert_eq!(retrieved(&server), 3);
    // `check --url --profile` compares with the same store.
    let profile = tempfile::tempdir().expect("tempdir");
    let url = url(&server);
    let check = config.run(
        &[
            "check",
            "--url",
            &url,
            "--security",
            "none",
            "--allow-plaintext",
            "--profile",
            &profile.path().display().to_string(),
            "--json",
        ],
        Some("secret"),
    );
    check.expect_code(0);
    let new: Vec<_> = check.json()["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["new"].clone())
        .collect();
    assert_eq!(new, [false, false, false]);
}

#[test]
fn the_account_a_cli_store_belongs_to_adopts_it() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    // First only the command line knows the mailbox...
    let by_url = fetch_url(&config, &server, &[]);
    assert_eq!(downloaded(&by_url), 3);
    let cli_store = config
        .accounts()
        .join(format!("alice@127.0.0.1_{}", server.port()));
    assert_eq!(maildir_of(&by_url), cli_store.join("Maildir"));
    // ...then the app gets an account for it, with a mail folder of its own.
    let mail = config.path().join("Mail");
    config.settings(
        &format!("mail_folder = {:?}", mail.display().to_string()),
        &[plain_account("home", "Home", server.port())],
    );
    config.passwords("home = \"secret\"\n");
    let by_account = fetch_account(&config, "Home");
    assert_eq!(downloaded(&by_account), 0, "{}", by_account.stdout);
    assert_eq!(maildir_of(&by_account), mail.join("home"));
    assert_eq!(delivered(&mail.join("home")), 3, "the mail moved along");
    assert!(!cli_store.exists(), "taken over, not copied");
    assert!(config.accounts().join("home/store.sqlite").is_file());
    assert_eq!(retrieved(&server), 3);
}

/// Checks the account `id` the way the app does: a worker job with the
/// store `Paths::store_paths` gives it.
fn check_in_the_app(config: &Config, id: &str) -> CheckReport {
    let paths = Paths::in_dir(config.path());
    let (settings, _) = Settings::load(&paths.settings_file).expect("settings");
    let account = settings.account(id).expect("account").clone();
    let passwords = Passwords::new(
        Arc::new(MemoryStore::default()),
        paths.password_file.clone(),
    );
    let worker = Worker::start(passwords, Arc::new(|| {}));
    worker.send(Request::Check(AccountJob {
        store: store_for_account(&paths, &account, &settings.general),
        settings: account,
        preview_lines: 5,
        retr_preview_max_bytes: 0,
    }));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match worker.try_recv() {
            Some(Event::Checked { report, .. }) => return report,
            Some(Event::Failed { failure, .. }) => panic!("the check failed: {failure:?}"),
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    panic!("the check did not end");
}

#[test]
fn the_app_knows_what_the_command_line_downloaded() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    assert_eq!(downloaded(&fetch_url(&config, &server, &[])), 3);
    config.settings("", &[plain_account("home", "Home", server.port())]);
    config.passwords("home = \"secret\"\n");
    server.add_message(Message::sample("uid-late", "late", "hi\n"));
    let report = check_in_the_app(&config, "home");
    let new: Vec<bool> = report.messages.iter().map(|m| m.is_new).collect();
    assert_eq!(new, [false, false, false, true], "only the late one is new");
    assert_eq!(delivered(&config.accounts().join("home/Maildir")), 3);
    assert!(
        !config
            .accounts()
            .join(format!("alice@127.0.0.1_{}", server.port()))
            .exists()
    );
    // And the command line, asked by URL again, now uses the app's store.
    let again = fetch_url(&config, &server, &[]);
    assert_eq!(downloaded(&again), 1);
    assert_eq!(maildir_of(&again), config.accounts().join("home/Maildir"));
}

#[test]
fn a_store_of_the_earlier_user_at_host_folder_is_taken_over() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    let config = Config::new();
    let profile = tempfile::tempdir().expect("tempdir");
    // What an earlier version left: PROFILE/USER@HOST, port left out.
    let legacy = profile.path().join("alice@127.0.0.1");
    let mut store = AccountStore::open(&StorePaths::in_dir(&legacy)).expect("store");
    let report = engine::fetch(
        &account_for(server.port(), "secret"),
        &mut store,
        FetchPolicy::default(),
        Observe::default(),
        &mut |_| {},
    )
    .expect("fetch");
    assert_eq!(report.downloaded.len(), 3);
    drop(store);
    let profile_arg = profile.path().display().to_string();
    let run = fetch_url(&config, &server, &["--profile", &profile_arg]);
    assert_eq!(downloaded(&run), 0, "{}", run.stdout);
    let store = profile
        .path()
        .join(format!("alice@127.0.0.1_{}", server.port()));
    assert_eq!(maildir_of(&run), store.join("Maildir"));
    assert_eq!(delivered(&store.join("Maildir")), 3);
    assert!(!legacy.exists(), "renamed into the new place");
    assert_eq!(retrieved(&server), 3);
    // Another port of the same USER@HOST does not get that history.
    let other = MailServer::start(ServerConfig::default(), sample_mailbox(3));
    assert_eq!(
        downloaded(&fetch_url(&config, &other, &["--profile", &profile_arg])),
        3
    );
}

#[test]
fn an_app_account_takes_over_an_earlier_cli_folder_in_its_accounts_folder() {
    let server = MailServer::start(ServerConfig::default(), sample_mailbox(2));
    let config = Config::new();
    config.settings("", &[plain_account("home", "Home", server.port())]);
    config.passwords("home = \"secret\"\n");
    let legacy = config.accounts().join("alice@127.0.0.1");
    let mut store = AccountStore::open(&StorePaths::in_dir(&legacy)).expect("store");
    engine::fetch(
        &account_for(server.port(), "secret"),
        &mut store,
        FetchPolicy::default(),
        Observe::default(),
        &mut |_| {},
    )
    .expect("fetch");
    drop(store);
    let run = fetch_account(&config, "alice@example.org");
    assert_eq!(downloaded(&run), 0, "{}", run.stdout);
    assert_eq!(delivered(&config.accounts().join("home/Maildir")), 2);
    assert!(!legacy.exists());
}

#[test]
fn account_uses_its_stored_password_and_its_connection_settings() {
    // TLS from the first byte with a self-signed certificate: only the
    // account's security and pinned fingerprint reach this server.
    let server = MailServer::start(
        ServerConfig {
            tls: Some(TlsMode::Implicit),
            ..ServerConfig::default()
        },
        sample_mailbox(2),
    );
    let config = Config::new();
    let account = |storage: &str| {
        format!(
            "id = \"work\"\nname = \"Work\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"tls\"\n\
             username = \"alice\"\npassword_storage = \"{storage}\"\ntrusted_fingerprint = \"{}\"\n",
            server.port(),
            cert_sha256_hex("localhost")
        )
    };
    config.settings("", &[account("file")]);
    config.passwords("work = \"secret\"\n");
    let check =
        |password: Option<&str>| config.run(&["check", "--account", "work", "--json"], password);
    let run = check(None);
    run.expect_code(0);
    assert_eq!(run.json()["total"], 2);
    let sessions = server.sessions();
    assert_eq!(
        sessions.last().expect("a session").tls_from_command,
        Some(0)
    );
    // The stored password wins over the environment...
    check(Some("wrong")).expect_code(0);
    // ...and a wrong stored one is refused by the server.
    config.passwords("work = \"wrong\"\n");
    check(None).expect_code(5);
    // Nothing stored ("ask each session"): LETTERBOX_PASSWORD, or a usage error.
    config.settings("", &[account("ask-each-session")]);
    let run = check(None);
    run.expect_code(2);
    run.stderr_has("LETTERBOX_PASSWORD");
    check(Some("secret")).expect_code(0);
    // Stored in the file, but not there (yet): the same.
    config.settings("", &[account("file")]);
    config.passwords("other = \"secret\"\n");
    let run = check(None);
    run.expect_code(2);
    run.stderr_has("passwords.toml");
    check(Some("secret")).expect_code(0);
    // Without the pinned fingerprint the certificate is not trusted.
    config.settings(
        "",
        &[account("file").replace("trusted_fingerprint", "# trusted_fingerprint")],
    );
    config.passwords("work = \"secret\"\n");
    check(None).expect_code(4);
}

#[test]
fn account_names_must_name_one_account() {
    let config = Config::new();
    let run = config.run(&["fetch", "--account", "Home"], None);
    run.expect_code(2);
    run.stderr_has("no accounts");
    config.settings(
        "",
        &[
            plain_account("a1", "Work", 1995),
            plain_account("a2", "work", 995),
        ],
    );
    let run = config.run(&["fetch", "--account", "WORK"], None);
    run.expect_code(2);
    run.stderr_has("id a1").stderr_has("id a2");
    let run = config.run(&["check", "--account", "Holiday"], None);
    run.expect_code(2);
    run.stderr_has("Holiday")
        .stderr_has("127.0.0.1:1995, id a1");
    // --url and --account exclude each other, and so do --account and the
    // connection options it takes from the settings.
    for args in [
        &["check", "--account", "a1", "--url", "pop3s://alice@h"][..],
        &["check", "--account", "a1", "--security", "none"][..],
        &["fetch", "--account", "a1", "--profile", "/tmp"][..],
        &["fetch"][..],
    ] {
        config.run(args, Some("secret")).expect_code(2);
    }
}
