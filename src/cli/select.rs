//! Which mailbox a command works on: `--url` (with its store, or the app's
//! store for the same mailbox) or `--account` from the app's settings, and
//! the password for it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::accounts;
use crate::accounts::stores::{
    MailboxId, StoreHome, percent_decode, store_for_account, store_for_url, url_store_in,
};
use crate::engine::Account;
use crate::explain::Explain as _;
use crate::net::Endpoint;
use crate::pop3::{Secret, Security};
use crate::settings::secrets::Passwords;
use crate::settings::{AccountSettings, PasswordStorage, Paths, Settings};
use crate::store::StoreError;

use super::*;

/// The mailbox a command works on: how to reach it, and its store (if the
/// command keeps one).
pub(super) struct Target {
    pub(super) account: Account,
    pub(super) store: Option<StoreHome>,
}

/// Why a command could not start.
pub(super) enum Refusal {
    Usage(String),
    /// The app's settings could not be read: going on without them could
    /// download mail the app already has.
    Store(StoreError),
    /// A browser sign-in has to be (re)done, or its token could not be had.
    SignIn(String, u8),
}

impl Refusal {
    pub(super) fn exit(self) -> ExitCode {
        match self {
            Refusal::Usage(message) => usage(&message),
            Refusal::Store(error) => fail(&error.into()),
            Refusal::SignIn(message, code) => {
                eprintln!("letterbox: {message}");
                ExitCode::from(code)
            }
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
pub(super) fn config_paths(args: &ConnectArgs) -> Option<Paths> {
    match &args.config_dir {
        Some(dir) => Some(Paths::in_dir(dir)),
        None => Paths::standard(),
    }
}

/// Works out the mailbox and its store, the same way the app does.
/// `profile`: where --url stores live; without it a store is kept only if
/// `store_by_default` (then in the app's accounts folder).
pub(super) fn target(
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
            store_for_url(paths, &settings, &profile, &id, &typed_host).0
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
pub(super) fn load_settings(paths: &Paths) -> Result<Settings, Refusal> {
    let (settings, notices) =
        Settings::load(&paths.settings_file).map_err(|e| Refusal::Store(e.into()))?;
    for notice in notices {
        eprintln!(
            "letterbox: note on {}: {notice}",
            paths.settings_file.display()
        );
    }
    Ok(settings)
}

/// `--account NAME`: the app's account, with everything the app would use.
pub(super) fn account_target(
    args: &ConnectArgs,
    name: &str,
    paths: &Paths,
) -> Result<Target, Refusal> {
    let settings = load_settings(paths)?;
    let settings_account = find_account(&settings, name, &paths.settings_file)?;
    let label = settings_account.display_name();
    if let Some(problem) = accounts::problems(settings_account).first() {
        return Err(format!("the account {label:?} cannot be used yet: {problem}").into());
    }
    let password = match settings_account.oauth {
        Some(_) => account_token(paths, settings_account)?,
        None => account_password(paths, settings_account)?,
    };
    let mut account = accounts::to_account(settings_account, password)
        .map_err(|problem| format!("the account {label:?} cannot be used: {problem}"))?;
    set_timeouts(&mut account.endpoint, args.timeout_secs);
    Ok(Target {
        account,
        store: Some(store_for_account(
            paths,
            settings_account,
            &settings.general,
        )),
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

pub(super) fn account_list<'a>(accounts: impl Iterator<Item = &'a AccountSettings>) -> String {
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

/// A browser sign-in's access token, fresh from the refresh token kept
/// where the app keeps it.
fn account_token(paths: &Paths, account: &AccountSettings) -> Result<Secret<String>, Refusal> {
    let passwords = Passwords::system(paths.password_file.clone());
    let cancel = crate::net::CancelToken::new();
    crate::oauth::access_token(&passwords, account, None, &cancel).map_err(|e| {
        let message = e.user_message();
        let next = if e.needs_sign_in() {
            format!(
                "sign in with `letterbox sign-in --account {:?}`, or in the app.",
                account.display_name()
            )
        } else {
            message.next_step.clone()
        };
        let code = if e.is_transient() {
            exit::NETWORK
        } else {
            exit::AUTH
        };
        Refusal::SignIn(
            format!("{} {next} ({})", message.headline, message.detail),
            code,
        )
    })
}

/// The password from where the app keeps it; `LETTERBOX_PASSWORD` when it
/// is not kept anywhere ("ask each session") or could not be read.
pub(super) fn account_password(
    paths: &Paths,
    account: &AccountSettings,
) -> Result<Secret<String>, String> {
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

pub(super) fn set_timeouts(endpoint: &mut Endpoint, timeout_secs: u64) {
    endpoint.timeouts.io = Duration::from_secs(timeout_secs.max(1));
    endpoint.timeouts.connect = endpoint.timeouts.io.min(Duration::from_secs(30));
    endpoint.timeouts.no_progress = endpoint.timeouts.io * 2;
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

/// Builds the account from `--url` and the other connection arguments, the
/// way the app builds one from its settings (`accounts::to_account`).
pub fn connection(args: &ConnectArgs) -> Result<Account, String> {
    let url = args
        .url
        .as_deref()
        .ok_or_else(|| "give --url or --account".to_owned())?;
    let url = parse_url(url)?;
    let security = args.security.unwrap_or(url.security);
    let settings = AccountSettings {
        host: url.host,
        port: url.port.unwrap_or(security.default_port()),
        security,
        username: url.user,
        auth: args.auth,
        allow_plaintext: args.allow_plaintext,
        trusted_fingerprint: args.fingerprint.clone(),
        ca_file: args.ca_file.clone(),
        ..AccountSettings::default()
    };
    // A bad certificate argument is reported before a missing password.
    let password = std::env::var("LETTERBOX_PASSWORD").ok();
    let mut account =
        accounts::to_account(&settings, Secret::new(password.clone().unwrap_or_default()))?;
    if password.is_none() {
        return Err("set the password in the environment variable LETTERBOX_PASSWORD".into());
    }
    set_timeouts(&mut account.endpoint, args.timeout_secs);
    Ok(account)
}
