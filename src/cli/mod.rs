//! The command line: `letterbox check` and `fetch` for scripting, tests
//! and benchmarks. It parses arguments into the engine's types, runs the
//! engine, and prints results; every failure class has its own exit code
//! and a sentence on stderr. A mailbox is either given whole (`--url`) or
//! taken from the app's settings (`--account`); either way its store is
//! the one the app would use (`settings::stores`), never a second one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::engine::{self, Account, ApplyReport, CheckOptions, CheckReport, FetchPolicy};
use crate::mail::human_size;
use crate::net::{Credentials, Endpoint, Error as NetError, Fingerprint, Observe, Security};
use crate::pop3::{AuthMethod, Secret, escape_controls};
use crate::settings::secrets::Passwords;
use crate::settings::stores::{MailboxId, StoreHome, url_store_in};
use crate::settings::{AccountSettings, PasswordStorage, Paths, Settings};
use crate::store::StoreError;

/// Letterbox: check your POP3 mailbox, preview mail on the server, and
/// download, keep or delete each message.
#[derive(Debug, Parser)]
#[command(name = "letterbox", version, about, long_about = None)]
pub struct Cli {
    /// Open the app on a built-in sample mailbox (a demo server on this
    /// computer; user and password are both "demo"). Your own settings are
    /// not touched.
    #[arg(long)]
    pub demo: bool,
    #[command(subcommand)]
    pub command: Option<CliCommand>,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// List the messages waiting on the server with a preview of each,
    /// without changing anything there.
    #[command(after_help = EXIT_CODES)]
    Check(CheckArgs),
    /// Download new messages into a Maildir, keeping them on the server
    /// unless --delete is given. Messages downloaded once are never
    /// downloaded again.
    #[command(after_help = EXIT_CODES)]
    Fetch(FetchArgs),
    /// Run the demo POP3 server alone (for scripts and tests). User and
    /// password are both "demo"; with TLS, trust its certificate with
    /// --fingerprint (printed at start).
    DemoServer(DemoServerArgs),
    /// Write the man pages and shell completions (for packaging).
    #[command(hide = true)]
    GenerateDocs {
        /// Folder to write man/ and completions/ into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct DemoServerArgs {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Serve plain POP3 instead of TLS.
    #[arg(long)]
    pub plain: bool,
}

const EXIT_CODES: &str = "\
Exit codes: 0 success, 1 internal error, 2 bad arguments, 3 network problem \
(may work later), 4 TLS or certificate problem, 5 sign-in refused, \
6 the server reported an error (mailbox in use, checked too soon, ...), \
7 the server broke the protocol, 8 local storage problem (disk full, damaged \
record of downloaded mail, another Letterbox busy with the account), 130 cancelled.

With --url the password is read from the environment variable \
LETTERBOX_PASSWORD. With --account it is taken where the app keeps it (the \
keyring, or the password file), and from LETTERBOX_PASSWORD if it is not \
stored there (\"ask each session\").";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SecurityArg {
    /// TLS from the first byte (pop3s, port 995)
    Tls,
    /// Plain connection upgraded with STLS (port 110); fails if the server
    /// does not offer it
    Starttls,
    /// No encryption at all
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AuthArg {
    Auto,
    CramMd5,
    Plain,
    Login,
    Xoauth2,
    Apop,
    User,
}

/// How to reach and log in to the server; shared by the subcommands.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("mailbox").required(true).args(["url", "account"])))]
pub struct ConnectArgs {
    /// pop3s://USER@HOST[:PORT] (implicit TLS) or pop3://USER@HOST[:PORT]
    /// (STARTTLS unless --security says otherwise). A user name containing
    /// @ may be written as is or with %40.
    #[arg(long)]
    pub url: Option<String>,
    /// An account set up in the app, by its name, e-mail address or id
    /// (any case): its server, security, certificate, sign-in method,
    /// password (where the app keeps it; else LETTERBOX_PASSWORD) and store.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Overrides the security implied by the URL scheme.
    #[arg(long, value_enum, conflicts_with = "account")]
    pub security: Option<SecurityArg>,
    /// Trust this extra certificate (PEM) for the server, e.g. a self-signed one.
    #[arg(long, value_name = "PEM", conflicts_with = "account")]
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint.
    #[arg(long, value_name = "SHA256", conflicts_with = "account")]
    pub fingerprint: Option<String>,
    /// Sign-in method.
    #[arg(long, value_enum, default_value = "auto", conflicts_with = "account")]
    pub auth: AuthArg,
    /// Allow sending the password unencrypted (only matters with
    /// --security none).
    #[arg(long, conflicts_with = "account")]
    pub allow_plaintext: bool,
    /// Seconds to wait for the server before giving up.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub timeout_secs: u64,
    /// The app's settings folder (settings.toml, passwords.toml, accounts/).
    /// Default: the app's own (on Linux ~/.config/letterbox, with stores in
    /// ~/.local/share/letterbox/accounts).
    #[arg(long, value_name = "DIR", env = "LETTERBOX_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Lines of each message's text to preview.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub preview_lines: u32,
    /// On a server without TOP, download messages up to this many KB to
    /// preview them (larger ones get no preview; 0: never).
    #[arg(long, default_value_t = 1000, value_name = "KB")]
    pub preview_download_limit_kb: u64,
    /// Print JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Compare with (and record in) the mailbox's store in this folder, so
    /// each message says whether it is new. See `fetch --profile`. With
    /// --account the account's store is always used.
    #[arg(long, value_name = "DIR", conflicts_with = "account")]
    pub profile: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Where the stores of --url mailboxes live (the record of downloaded
    /// mail, and the Maildir): DIR/USER@HOST_PORT/Maildir, with characters
    /// of USER and HOST other than a-z 0-9 . - %-encoded. Default: the
    /// app's accounts folder (CONFIG_DIR/accounts with --config-dir). If the
    /// app has an account for the same user, server and port, that
    /// account's store is used instead, so no mail is downloaded twice.
    #[arg(long, value_name = "DIR", conflicts_with = "account")]
    pub profile: Option<PathBuf>,
    /// Delete downloaded messages on the server, once they are safely on disk.
    #[arg(long)]
    pub delete: bool,
    /// Also download messages kept on the server earlier.
    #[arg(long)]
    pub all: bool,
    /// The record of downloaded mail was damaged and set aside: start a new
    /// one (messages still on the server may be downloaded again).
    #[arg(long)]
    pub start_new_ledger: bool,
    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Exit codes, one per failure class.
pub mod exit {
    pub const INTERNAL: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NETWORK: u8 = 3;
    pub const TLS: u8 = 4;
    pub const AUTH: u8 = 5;
    pub const SERVER: u8 = 6;
    pub const PROTOCOL: u8 = 7;
    pub const STORE: u8 = 8;
    pub const CANCELLED: u8 = 130;
}

/// Runs a parsed subcommand.
pub fn run(command: CliCommand) -> ExitCode {
    match command {
        CliCommand::Check(args) => run_check(&args),
        CliCommand::Fetch(args) => run_fetch(&args),
        CliCommand::DemoServer(args) => run_demo_server(&args),
        CliCommand::GenerateDocs { out } => match generate_docs(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!(
                    "letterbox: could not write the documentation into {}: {e}",
                    out.display()
                );
                ExitCode::from(exit::INTERNAL)
            }
        },
    }
}

/// Man pages (one per command) and completions for bash, zsh and fish,
/// generated from the same definition the parser uses, so they never drift.
pub fn generate_docs(out: &Path) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let command = Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    std::fs::write(man.join("letterbox.1"), page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("letterbox-{}", sub.get_name());
        let sub = sub.clone().name(name.clone());
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        std::fs::write(man.join(format!("{name}.1")), page)?;
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut command = Cli::command();
        clap_complete::generate_to(shell, &mut command, "letterbox", &completions)?;
    }
    Ok(())
}

fn run_demo_server(args: &DemoServerArgs) -> ExitCode {
    let server = match crate::demo::DemoServer::start(args.port, !args.plain) {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "letterbox: could not start the demo server on port {}: {e}",
                args.port
            );
            return ExitCode::from(exit::NETWORK);
        }
    };
    let scheme = if args.plain { "pop3" } else { "pop3s" };
    let mut banner = format!(
        "Demo POP3 server on 127.0.0.1:{} ({}). User: demo, password: demo.\n",
        server.port(),
        if args.plain { "plain" } else { "TLS" }
    );
    if !args.plain {
        banner.push_str(&format!(
            "Certificate SHA-256 fingerprint: {}\n",
            crate::demo::certificate_fingerprint()
        ));
    }
    banner.push_str(&format!(
        "Try: LETTERBOX_PASSWORD=demo letterbox check --url {scheme}://demo@127.0.0.1:{}{}\n",
        server.port(),
        if args.plain {
            " --security none --allow-plaintext".to_owned()
        } else {
            format!(" --fingerprint {}", crate::demo::certificate_fingerprint())
        }
    ));
    // Whoever started us may stop reading; the server keeps running anyway.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes());
    let _ = out.flush();
    drop(out);
    loop {
        std::thread::park();
    }
}

fn run_check(args: &CheckArgs) -> ExitCode {
    let Target { account, store } = match target(&args.connect, args.profile.as_deref(), false) {
        Ok(target) => target,
        Err(refusal) => return refusal.exit(),
    };
    let mut store = match store.map(|home| home.open()).transpose() {
        Ok(store) => store,
        Err(error) => return fail(&error.into()),
    };
    let options = CheckOptions {
        preview_lines: args.preview_lines,
        expire_after_days: None,
        retr_preview_max_bytes: args.preview_download_limit_kb * 1000,
    };
    let result = engine::check(
        &account,
        store.as_mut(),
        &options,
        Observe::default(),
        &mut |_| {},
    );
    match result {
        Ok(report) => {
            warn_unidentifiable(&report.previews.skipped_uidls);
            let with_new = store.is_some();
            let printed = if args.json {
                print_json(&report, with_new)
            } else {
                print_text(&report, &account)
            };
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(exit::INTERNAL),
            }
        }
        Err(error) => fail(&error),
    }
}

fn run_fetch(args: &FetchArgs) -> ExitCode {
    let (account, home) = match target(&args.connect, args.profile.as_deref(), true) {
        Ok(Target {
            account,
            store: Some(home),
        }) => (account, home),
        Ok(Target { store: None, .. }) => {
            return usage("no data folder is known for this user; give --profile DIR");
        }
        Err(refusal) => return refusal.exit(),
    };
    let opened = if args.start_new_ledger {
        home.open_starting_over()
    } else {
        home.open()
    };
    let mut store = match opened {
        Ok(store) => store,
        Err(error) => return fail(&error.into()),
    };
    let policy = FetchPolicy {
        delete: args.delete,
        all: args.all,
    };
    match engine::fetch(
        &account,
        &mut store,
        policy,
        Observe::default(),
        &mut |_| {},
    ) {
        Ok(report) => {
            warn_unidentifiable(&report.unidentifiable);
            let printed = if args.json {
                print_fetch_json(&report, store.maildir.root())
            } else {
                print_fetch_text(&report, store.maildir.root())
            };
            if printed.is_err() {
                return ExitCode::from(exit::INTERNAL);
            }
            if report.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                for (key, reason) in &report.failed {
                    eprintln!(
                        "letterbox: message {key} was not fetched: {}",
                        escape_controls(reason)
                    );
                }
                ExitCode::from(exit::SERVER)
            }
        }
        Err(error) => fail(&error),
    }
}

/// The mailbox a command works on: how to reach it, and its store (if the
/// command keeps one).
struct Target {
    account: Account,
    store: Option<StoreHome>,
}

/// Why a command could not start.
enum Refusal {
    Usage(String),
    /// The app's settings could not be read: going on without them could
    /// download mail the app already has.
    Store(StoreError),
}

impl Refusal {
    fn exit(self) -> ExitCode {
        match self {
            Refusal::Usage(message) => usage(&message),
            Refusal::Store(error) => fail(&error.into()),
        }
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::Usage(message)
    }
}

/// The app's files: `--config-dir` (or `LETTERBOX_CONFIG_DIR`), else the
/// app's standard places.
fn config_paths(args: &ConnectArgs) -> Option<Paths> {
    match &args.config_dir {
        Some(dir) => Some(Paths::in_dir(dir)),
        None => Paths::standard(),
    }
}

/// Works out the mailbox and its store, the same way the app does.
/// `profile`: where --url stores live; without it a store is kept only if
/// `store_by_default` (then in the app's accounts folder).
fn target(
    args: &ConnectArgs,
    profile: Option<&Path>,
    store_by_default: bool,
) -> Result<Target, Refusal> {
    let paths = config_paths(args);
    if let Some(name) = &args.account {
        let paths = paths.ok_or_else(|| {
            "no settings folder is known for this user; give --config-dir DIR".to_owned()
        })?;
        return account_target(args, name, &paths);
    }
    let account = connection(args)?;
    let profile = match (profile, &paths) {
        (Some(profile), _) => profile.to_owned(),
        (None, Some(paths)) if store_by_default => paths.accounts_dir.clone(),
        _ => {
            return Ok(Target {
                account,
                store: None,
            });
        }
    };
    let typed_host = account.endpoint.host.clone();
    let id = MailboxId::new(
        &account.credentials.user,
        &typed_host,
        account.endpoint.port,
    );
    let store = match &paths {
        Some(paths) => {
            let settings = load_settings(paths)?;
            paths.url_store(&settings, &profile, &id, &typed_host).0
        }
        None => url_store_in(&profile, &id, &typed_host),
    };
    Ok(Target {
        account,
        store: Some(store),
    })
}

/// The app's settings, read as the app reads them; what it would tell the
/// user about them goes to stderr.
fn load_settings(paths: &Paths) -> Result<Settings, Refusal> {
    let (settings, notices) = Settings::load(&paths.settings_file).map_err(Refusal::Store)?;
    for notice in notices {
        eprintln!(
            "letterbox: note on {}: {notice}",
            paths.settings_file.display()
        );
    }
    Ok(settings)
}

/// `--account NAME`: the app's account, with everything the app would use.
fn account_target(args: &ConnectArgs, name: &str, paths: &Paths) -> Result<Target, Refusal> {
    let settings = load_settings(paths)?;
    let settings_account = find_account(&settings, name, &paths.settings_file)?;
    let label = settings_account.display_name();
    if let Some(problem) = settings_account.problems().first() {
        return Err(format!("the account {label:?} cannot be used yet: {problem}").into());
    }
    let password = account_password(paths, settings_account)?;
    let mut account = settings_account
        .to_account(password)
        .map_err(|problem| format!("the account {label:?} cannot be used: {problem}"))?;
    set_timeouts(&mut account.endpoint, args.timeout_secs);
    Ok(Target {
        account,
        store: Some(paths.store_paths(settings_account, &settings.general)),
    })
}

/// The account whose name, e-mail address or id is `name` (any case). An
/// id always works, even where names are shared.
pub fn find_account<'s>(
    settings: &'s Settings,
    name: &str,
    settings_file: &Path,
) -> Result<&'s AccountSettings, String> {
    let wanted = name.trim().to_lowercase();
    let same = |field: &str| !field.trim().is_empty() && field.trim().to_lowercase() == wanted;
    let matches: Vec<&AccountSettings> = settings
        .accounts
        .iter()
        .filter(|a| same(&a.name) || same(&a.email) || same(&a.id))
        .collect();
    let by_id: Vec<&AccountSettings> = matches.iter().copied().filter(|a| same(&a.id)).collect();
    match (matches.as_slice(), by_id.as_slice()) {
        ([one], _) | (_, [one]) => Ok(*one),
        ([], _) if settings.accounts.is_empty() => Err(format!(
            "the app has no accounts (settings: {}); set one up in the app, or use --url",
            settings_file.display()
        )),
        ([], _) => Err(format!(
            "no account is called {name:?}. The app's accounts:\n{}",
            account_list(settings.accounts.iter())
        )),
        (many, _) => Err(format!(
            "{name:?} could be any of these accounts; give its id:\n{}",
            account_list(many.iter().copied())
        )),
    }
}

fn account_list<'a>(accounts: impl Iterator<Item = &'a AccountSettings>) -> String {
    accounts
        .map(|a| {
            let email = if a.email.trim().is_empty() {
                String::new()
            } else {
                format!(" <{}>", a.email.trim())
            };
            format!(
                "  {}{email}  ({}@{}:{}, id {})",
                a.display_name(),
                a.username.trim(),
                a.host.trim(),
                a.port,
                a.id
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The password from where the app keeps it; `LETTERBOX_PASSWORD` when it
/// is not kept anywhere ("ask each session") or could not be read.
fn account_password(paths: &Paths, account: &AccountSettings) -> Result<Secret<String>, String> {
    let stored = Passwords::system(paths.password_file.clone()).get(account);
    let from_env = std::env::var("LETTERBOX_PASSWORD").ok();
    let label = account.display_name();
    match (stored, from_env) {
        (Ok(Some(password)), _) => Ok(password),
        (_, Some(password)) => Ok(Secret::new(password)),
        (Ok(None), None) => Err(match account.password_storage {
            PasswordStorage::AskEachSession => format!(
                "the app asks for the password of {label:?} each session; give it in the environment variable LETTERBOX_PASSWORD"
            ),
            PasswordStorage::Keyring => format!(
                "no password for {label:?} is in the keyring; save it in the app, or give it in LETTERBOX_PASSWORD"
            ),
            PasswordStorage::File => format!(
                "no password for {label:?} is in {}; save it in the app, or give it in LETTERBOX_PASSWORD",
                paths.password_file.display()
            ),
        }),
        (Err(error), None) => Err(format!(
            "the password of {label:?} could not be read: {error}; give it in LETTERBOX_PASSWORD"
        )),
    }
}

fn set_timeouts(endpoint: &mut Endpoint, timeout_secs: u64) {
    endpoint.timeouts.io = Duration::from_secs(timeout_secs.max(1));
    endpoint.timeouts.connect = endpoint.timeouts.io.min(Duration::from_secs(30));
    endpoint.timeouts.no_progress = endpoint.timeouts.io * 2;
}

fn usage(message: &str) -> ExitCode {
    eprintln!("letterbox: {message}");
    ExitCode::from(exit::USAGE)
}

/// Prints the error as a sentence, the next step, and the detail.
/// Everything is escaped on the way out: the server's words (and its
/// certificate's) must not reach the terminal as escape sequences.
fn fail(error: &engine::Error) -> ExitCode {
    let message = error.user_message();
    let mut text = format!("letterbox: {}\n  {}\n", message.headline, message.next_step);
    if let Some(cert) = error.net().and_then(NetError::certificate) {
        text.push_str(&format!(
            "  certificate subject: {}\n  issuer: {}\n  valid: {} to {}\n  SHA-256 fingerprint: {}\n  (to trust it: --fingerprint {})\n",
            cert.subject, cert.issuer, cert.not_before, cert.not_after, cert.sha256, cert.sha256
        ));
    }
    text.push_str(&format!("  detail: {}", message.detail));
    for line in text.lines() {
        eprintln!("{}", escape_controls(line));
    }
    ExitCode::from(exit_code(error))
}

pub fn exit_code(error: &engine::Error) -> u8 {
    let error = match error {
        engine::Error::Store(_) => return exit::STORE,
        engine::Error::Net(e) => e,
    };
    match error {
        NetError::Cancelled => exit::CANCELLED,
        e if e.is_tls() => exit::TLS,
        e if e.is_auth() => exit::AUTH,
        NetError::Resolve { .. }
        | NetError::Connect { .. }
        | NetError::Timeout { .. }
        | NetError::Stalled { .. }
        | NetError::ConnectionClosed
        | NetError::Io(_) => exit::NETWORK,
        NetError::AuthFailed { .. } | NetError::Greeting { .. } | NetError::Server { .. } => {
            exit::SERVER
        }
        NetError::Protocol(_) | NetError::Reply(_) | NetError::Listing(_) => exit::PROTOCOL,
        _ => exit::INTERNAL,
    }
}

/// Parsed `pop3[s]://user@host[:port]`.
#[derive(Debug, PartialEq, Eq)]
pub struct PopUrl {
    pub security: Security,
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
}

pub fn parse_url(url: &str) -> Result<PopUrl, String> {
    let (security, rest) = if let Some(rest) = url.strip_prefix("pop3s://") {
        (Security::Tls, rest)
    } else if let Some(rest) = url.strip_prefix("pop3://") {
        (Security::StartTls, rest)
    } else {
        return Err(format!(
            "the URL {url:?} must start with pop3s:// (TLS) or pop3:// (STARTTLS)"
        ));
    };
    let rest = rest.trim_end_matches('/');
    // The last @ separates the user, who may be an e-mail address.
    let (user, hostport) = rest
        .rsplit_once('@')
        .ok_or_else(|| format!("the URL {url:?} has no user name (pop3s://USER@HOST)"))?;
    let user = percent_decode(user).ok_or_else(|| format!("bad %-escape in {user:?}"))?;
    if user.is_empty() {
        return Err("the user name in the URL is empty".into());
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("unclosed [ in {hostport:?}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(format!("the URL {url:?} has no server name"));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{p:?} is not a port number"))
        })
        .transpose()?;
    Ok(PopUrl {
        security,
        user,
        host: host.to_owned(),
        port,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Builds the account (endpoint and credentials) from the shared arguments.
pub fn connection(args: &ConnectArgs) -> Result<Account, String> {
    let url = args
        .url
        .as_deref()
        .ok_or_else(|| "give --url or --account".to_owned())?;
    let url = parse_url(url)?;
    let security = match args.security {
        Some(SecurityArg::Tls) => Security::Tls,
        Some(SecurityArg::Starttls) => Security::StartTls,
        Some(SecurityArg::None) => Security::None,
        None => url.security,
    };
    let port = url.port.unwrap_or(security.default_port());
    let mut endpoint = Endpoint::new(&url.host, port, security);
    set_timeouts(&mut endpoint, args.timeout_secs);
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the certificate file {}: {e}", path.display()))?;
        endpoint.trust.extra_ca_pem = Some(pem);
    }
    if let Some(text) = &args.fingerprint {
        endpoint.trust.pinned = Some(
            Fingerprint::parse(text)
                .ok_or_else(|| format!("{text:?} is not a SHA-256 fingerprint (64 hex digits)"))?,
        );
    }
    let password = std::env::var("LETTERBOX_PASSWORD").map_err(|_| {
        "set the password in the environment variable LETTERBOX_PASSWORD".to_owned()
    })?;
    let method = match args.auth {
        AuthArg::Auto => AuthMethod::Auto,
        AuthArg::CramMd5 => AuthMethod::CramMd5,
        AuthArg::Plain => AuthMethod::Plain,
        AuthArg::Login => AuthMethod::Login,
        AuthArg::Xoauth2 => AuthMethod::XOAuth2,
        AuthArg::Apop => AuthMethod::Apop,
        AuthArg::User => AuthMethod::UserPass,
    };
    let credentials = Credentials {
        user: url.user,
        secret: Secret::new(password),
        method,
        allow_cleartext: args.allow_plaintext,
        remembered: None,
    };
    Ok(Account {
        endpoint,
        credentials,
    })
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    total: u32,
    size_bytes: u64,
    messages: JsonMessages<'a>,
}

/// The messages, turned into JSON one at a time as they are written: a
/// mailbox may list a million of them.
struct JsonMessages<'a> {
    report: &'a CheckReport,
    with_new: bool,
}

impl serde::Serialize for JsonMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.report;
        serializer.collect_seq(report.messages.iter().map(|m| JsonMessage {
            number: m.number.get(),
            uid: m.key.as_deref().filter(|_| report.uidl_supported),
            size: m.size_bytes,
            from: m.preview.as_ref().map(|p| p.from.as_str()),
            subject: m.preview.as_ref().map(|p| p.subject.as_str()),
            date: m.preview.as_ref().map(|p| p.date.as_str()),
            preview: m.preview.as_ref().map(|p| p.text.as_str()),
            new: self.with_new.then_some(m.is_new),
        }))
    }
}

#[derive(serde::Serialize)]
struct JsonMessage<'a> {
    number: u32,
    uid: Option<&'a str>,
    size: u64,
    from: Option<&'a str>,
    subject: Option<&'a str>,
    date: Option<&'a str>,
    preview: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new: Option<bool>,
}

fn print_json(report: &CheckReport, with_new: bool) -> std::io::Result<()> {
    let json = JsonReport {
        total: report.total,
        size_bytes: report.size_bytes,
        messages: JsonMessages { report, with_new },
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, &json)?;
    writeln!(out)?;
    out.flush()
}

fn print_text(report: &CheckReport, account: &Account) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let plural = if report.total == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} on {}: {} message{plural}, {}",
        account.credentials.user,
        account.endpoint.host,
        report.total,
        human_size(report.size_bytes)
    )?;
    if !report.uidl_supported {
        writeln!(out, "(this server does not support UIDL)")?;
    }
    for m in &report.messages {
        writeln!(out)?;
        let mark = match m.status {
            Some(_) if m.is_new => "  new",
            _ => "",
        };
        writeln!(
            out,
            "#{}  {}  {}{mark}",
            m.number,
            m.key
                .as_deref()
                .filter(|_| report.uidl_supported)
                .unwrap_or("-"),
            human_size(m.size_bytes)
        )?;
        match &m.preview {
            Some(p) => {
                writeln!(out, "  From:    {}", p.from)?;
                writeln!(out, "  Subject: {}", p.subject)?;
                writeln!(out, "  Date:    {}", p.date)?;
                for line in p.text.lines() {
                    writeln!(out, "  | {line}")?;
                }
            }
            None => writeln!(out, "  ({})", report.no_preview_reason(m.size_bytes))?,
        }
    }
    out.flush()
}

/// Says on stderr which messages the server listed with an identity that
/// cannot be used; they are left alone.
fn warn_unidentifiable(lines: &[String]) {
    for line in lines {
        eprintln!(
            "letterbox: the server listed a message with an identity (UIDL) Letterbox cannot use, so it is left alone on the server: {line}"
        );
    }
}

#[derive(serde::Serialize)]
struct FetchJson<'a> {
    downloaded: usize,
    deleted: usize,
    bytes: u64,
    skipped: usize,
    failed: usize,
    maildir: &'a Path,
}

fn print_fetch_json(report: &ApplyReport, maildir: &Path) -> std::io::Result<()> {
    let json = FetchJson {
        downloaded: report.downloaded.len(),
        deleted: report.deleted.len(),
        bytes: report.bytes,
        skipped: report.listed.saturating_sub(report.downloaded.len()),
        failed: report.failed.len(),
        maildir,
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &json)?;
    writeln!(out)
}

fn print_fetch_text(report: &ApplyReport, maildir: &Path) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Downloaded {} message(s), {} into {}",
        report.downloaded.len(),
        human_size(report.bytes),
        maildir.display()
    )?;
    if !report.deleted.is_empty() {
        writeln!(
            out,
            "Deleted {} message(s) on the server.",
            report.deleted.len()
        )?;
    }
    let skipped = report.listed.saturating_sub(report.downloaded.len());
    if skipped > 0 {
        writeln!(
            out,
            "{skipped} message(s) on the server were not downloaded again: they were downloaded or kept before."
        )?;
    }
    for (key, reason) in &report.not_deleted {
        writeln!(out, "Kept {key} on the server: {reason}.")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("pop3s://alice@mail.example.org").unwrap(),
            PopUrl {
                security: Security::Tls,
                user: "alice".into(),
                host: "mail.example.org".into(),
                port: None
            }
        );
        let u = parse_url("pop3://alice@example.org@pop.example.org:1110/").unwrap();
        assert_eq!(
            (u.security, u.user.as_str(), u.port),
            (Security::StartTls, "alice@example.org", Some(1110))
        );
        assert_eq!(parse_url("pop3s://a%40b.c@h").unwrap().user, "a@b.c");
        let v6 = parse_url("pop3s://u@[::1]:995").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(995)));
        for bad in [
            "imap://u@h",
            "pop3s://h",
            "pop3s://@h",
            "pop3s://u@",
            "pop3s://u@h:0",
            "pop3s://u@h:x",
            "pop3s://u%4@h",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docs_are_generated_for_every_command() {
        let dir = tempfile::tempdir().unwrap();
        generate_docs(dir.path()).unwrap();
        for page in [
            "letterbox.1",
            "letterbox-check.1",
            "letterbox-fetch.1",
            "letterbox-demo-server.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
            assert!(text.contains(".TH"), "{page} is a man page");
        }
        assert!(
            !dir.path().join("man/letterbox-generate-docs.1").exists(),
            "hidden commands get no page"
        );
        let fetch = std::fs::read_to_string(dir.path().join("man/letterbox-fetch.1")).unwrap();
        assert!(fetch.contains("delete"), "options are documented");
        for file in ["letterbox.bash", "_letterbox", "letterbox.fish"] {
            let text = std::fs::read_to_string(dir.path().join("completions").join(file)).unwrap();
            assert!(text.contains("fetch"), "{file} completes subcommands");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
