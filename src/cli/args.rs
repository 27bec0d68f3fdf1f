//! The command line's definition (clap): subcommands, options, exit codes.
//! The man pages and completions are generated from it.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::pop3::{AuthMethod, Security};

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
    /// Sign an account in through its provider's page (Microsoft, Google):
    /// in the browser, or with a code typed on another device.
    #[command(name = "sign-in")]
    SignIn(SignInArgs),
    /// Build or bring up to date the index of downloaded mail (what the
    /// app's Downloaded list and search use) of each store.
    Index(IndexArgs),
    /// Find downloaded messages by words of their sender, subject or text
    /// (the last word may be the start of a word).
    Search(SearchArgs),
    /// List the attachments of one message file, or save them.
    Attachments(AttachmentsArgs),
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
pub struct SignInArgs {
    /// The account set up in the app, by its name, e-mail address or id.
    #[arg(long, value_name = "NAME")]
    pub account: String,
    /// Show a code to type at the provider's address on any device,
    /// instead of opening a browser here (where the provider offers it).
    #[arg(long)]
    pub with_code: bool,
    /// The app's settings folder. Default: the app's own.
    #[arg(long, value_name = "DIR", env = "LETTERBOX_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
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
stored there (\"ask each session\"). An account that signs in through its \
provider's page (Microsoft, Google) uses the sign-in kept by the app or by \
`letterbox sign-in`.";

// The command line names a security mode or a sign-in method by the same
// key as the settings file does.
impl ValueEnum for Security {
    fn value_variants<'a>() -> &'a [Security] {
        &Security::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Security::Tls => "TLS from the first byte (pop3s, port 995)",
            Security::StartTls => {
                "Plain connection upgraded with STLS (port 110); fails if the server does not offer it"
            }
            Security::None => "No encryption at all",
        };
        Some(PossibleValue::new(self.key()).help(help))
    }
}

impl ValueEnum for AuthMethod {
    fn value_variants<'a>() -> &'a [AuthMethod] {
        &AuthMethod::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.key()).aliases(self.key_aliases().iter().copied()))
    }
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
    pub security: Option<Security>,
    /// Trust this extra certificate (PEM) for the server, e.g. a self-signed one.
    #[arg(long, value_name = "PEM", conflicts_with = "account")]
    pub ca_file: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint.
    #[arg(long, value_name = "SHA256", conflicts_with = "account")]
    pub fingerprint: Option<String>,
    /// Sign-in method.
    #[arg(
        long,
        value_enum,
        default_value = "automatic",
        conflicts_with = "account"
    )]
    pub auth: AuthMethod,
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

/// Which stores `index` and `search` read.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// One account set up in the app, by its name, e-mail address or id.
    /// Default: every account of the app.
    #[arg(long, value_name = "NAME", conflicts_with = "profile")]
    pub account: Option<String>,
    /// Every store in this folder, as `fetch --profile DIR` makes them.
    #[arg(long, value_name = "DIR")]
    pub profile: Option<PathBuf>,
    /// The app's settings folder. Default: the app's own.
    #[arg(long, value_name = "DIR", env = "LETTERBOX_CONFIG_DIR")]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub stores: StoreArgs,
    /// Print `{"messages":…, "indexed":…, "seconds":…}` instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub stores: StoreArgs,
    /// The words to look for; every one must match.
    #[arg(required = true, value_name = "QUERY")]
    pub query: Vec<String>,
    /// Print a JSON array of matches (`file`, `from`, `subject`, `date`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AttachmentsArgs {
    /// A message file (from a Maildir, or any .eml).
    #[arg(value_name = "MESSAGE-FILE")]
    pub file: PathBuf,
    /// Save each attachment into this folder under a safe name; a name
    /// already taken gets a number, nothing is ever overwritten.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Print a JSON array instead of text.
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
