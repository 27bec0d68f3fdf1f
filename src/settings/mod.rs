//! Settings: the accounts and the general options, saved as TOML in the
//! config folder. Loading is tolerant — a bad or unknown field falls back to
//! its default and produces a notice, never a crash or a reset — and
//! validation happens in one place. No password is ever part of these
//! types; passwords live in `secrets` (the OS keyring by default).

pub mod presets;
pub mod secrets;
pub mod stores;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::Account;
use crate::net::{Credentials, Endpoint, Fingerprint, Security};
use crate::pop3::{AuthMethod, Secret};
use crate::store::{StoreError, write_atomic};

/// Where Letterbox keeps its files. Injected, so tests and the demo never
/// touch the user's real settings.
#[derive(Clone, Debug)]
pub struct Paths {
    pub settings_file: PathBuf,
    /// One folder per mailbox: ledger, previews and (by default) the
    /// Maildir; `<id>` for the app's accounts, `USER@HOST_PORT` for
    /// mailboxes only the command line knows (see `stores`).
    pub accounts_dir: PathBuf,
    /// Only used for accounts whose owner chose to store the password in a
    /// file (no keyring available).
    pub password_file: PathBuf,
}

impl Paths {
    /// The platform's usual places (`~/.config/letterbox`, `~/.local/share/letterbox`).
    pub fn standard() -> Option<Paths> {
        let dirs = directories::ProjectDirs::from("org", "Letterbox", "letterbox")?;
        Some(Paths {
            settings_file: dirs.config_dir().join("settings.toml"),
            accounts_dir: dirs.data_dir().join("accounts"),
            password_file: dirs.config_dir().join("passwords.toml"),
        })
    }

    /// Everything under one folder (tests, the demo).
    pub fn in_dir(dir: &Path) -> Paths {
        Paths {
            settings_file: dir.join("settings.toml"),
            accounts_dir: dir.join("accounts"),
            password_file: dir.join("passwords.toml"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SecurityChoice {
    #[default]
    Tls,
    StartTls,
    None,
}

impl SecurityChoice {
    pub fn to_net(self) -> Security {
        match self {
            SecurityChoice::Tls => Security::Tls,
            SecurityChoice::StartTls => Security::StartTls,
            SecurityChoice::None => Security::None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SecurityChoice::Tls => "TLS",
            SecurityChoice::StartTls => "STARTTLS",
            SecurityChoice::None => "None (unencrypted)",
        }
    }

    pub fn default_port(self) -> u16 {
        self.to_net().default_port()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AuthChoice {
    #[default]
    Automatic,
    CramMd5,
    Plain,
    Login,
    Xoauth2,
    Apop,
    UserPass,
}

impl AuthChoice {
    pub const ALL: [AuthChoice; 7] = [
        AuthChoice::Automatic,
        AuthChoice::CramMd5,
        AuthChoice::Plain,
        AuthChoice::Login,
        AuthChoice::Xoauth2,
        AuthChoice::Apop,
        AuthChoice::UserPass,
    ];

    pub fn to_method(self) -> AuthMethod {
        match self {
            AuthChoice::Automatic => AuthMethod::Auto,
            AuthChoice::CramMd5 => AuthMethod::CramMd5,
            AuthChoice::Plain => AuthMethod::Plain,
            AuthChoice::Login => AuthMethod::Login,
            AuthChoice::Xoauth2 => AuthMethod::XOAuth2,
            AuthChoice::Apop => AuthMethod::Apop,
            AuthChoice::UserPass => AuthMethod::UserPass,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AuthChoice::Automatic => "Automatic (strongest available)",
            AuthChoice::CramMd5 => "CRAM-MD5",
            AuthChoice::Plain => "PLAIN",
            AuthChoice::Login => "LOGIN",
            AuthChoice::Xoauth2 => "XOAUTH2 (access token)",
            AuthChoice::Apop => "APOP",
            AuthChoice::UserPass => "USER/PASS",
        }
    }
}

/// Where an account's password is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordStorage {
    /// The OS keyring (Secret Service, Keychain, Credential Manager).
    #[default]
    Keyring,
    /// Nowhere: asked for once per session.
    AskEachSession,
    /// A file readable only by the user; only on explicit choice.
    File,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountSettings {
    /// Stable, never shown; names the account's folder and keyring entry.
    pub id: String,
    pub name: String,
    pub email: String,
    pub host: String,
    pub port: u16,
    pub security: SecurityChoice,
    pub username: String,
    pub auth: AuthChoice,
    /// The explicit permission to send the password unencrypted (only
    /// matters with `SecurityChoice::None`).
    pub allow_plaintext: bool,
    pub password_storage: PasswordStorage,
    pub leave_on_server: bool,
    /// Remove downloaded messages from the server after this many days.
    pub delete_after_days: Option<u32>,
    pub quota_mb: Option<u32>,
    /// Overrides the general preview length.
    pub preview_lines: Option<u32>,
    /// "Trust this certificate": a pinned SHA-256 fingerprint.
    pub trusted_fingerprint: Option<String>,
    /// An extra trusted certificate (PEM file).
    pub ca_file: Option<PathBuf>,
}

impl AccountSettings {
    pub fn new(id: &str) -> AccountSettings {
        AccountSettings {
            id: id.to_owned(),
            name: String::new(),
            email: String::new(),
            host: String::new(),
            port: 995,
            security: SecurityChoice::Tls,
            username: String::new(),
            auth: AuthChoice::Automatic,
            allow_plaintext: false,
            password_storage: PasswordStorage::Keyring,
            leave_on_server: true,
            delete_after_days: None,
            quota_mb: None,
            preview_lines: None,
            trusted_fingerprint: None,
            ca_file: None,
        }
    }

    /// What the sidebar shows.
    pub fn display_name(&self) -> String {
        [&self.name, &self.email, &self.username, &self.host]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "New account".into())
    }

    /// Problems that keep the account from being used, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push("Enter the mail server's name (for example pop.example.org).".into());
        } else if self.host.contains(char::is_whitespace) || self.host.contains('/') {
            problems.push("The server name cannot contain spaces or slashes.".into());
        }
        if self.port == 0 {
            problems.push("Enter a port number between 1 and 65535.".into());
        }
        if self.username.trim().is_empty() {
            problems.push("Enter the user name your provider gave you.".into());
        }
        if self.security == SecurityChoice::None && !self.allow_plaintext {
            problems.push(
                "An unencrypted connection must be confirmed: anyone on the network could read your mail and password.".into(),
            );
        }
        if let Some(fp) = &self.trusted_fingerprint
            && Fingerprint::parse(fp).is_none()
        {
            problems.push("The trusted certificate fingerprint is not valid.".into());
        }
        problems
    }

    /// The engine's view of this account, with the password supplied.
    pub fn to_account(&self, password: Secret<String>) -> Result<Account, String> {
        let mut endpoint = Endpoint::new(self.host.trim(), self.port, self.security.to_net());
        if let Some(fp) = &self.trusted_fingerprint {
            endpoint.trust.pinned = Some(
                Fingerprint::parse(fp)
                    .ok_or("The trusted certificate fingerprint is not valid.")?,
            );
        }
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                format!(
                    "The certificate file {} cannot be read: {e}.",
                    path.display()
                )
            })?;
            endpoint.trust.extra_ca_pem = Some(pem);
        }
        Ok(Account {
            endpoint,
            credentials: Credentials {
                user: self.username.trim().to_owned(),
                secret: password,
                method: self.auth.to_method(),
                allow_cleartext: self.security == SecurityChoice::None && self.allow_plaintext,
                remembered: None,
            },
        })
    }

    pub fn effective_preview_lines(&self, general: &General) -> u32 {
        self.preview_lines.unwrap_or(general.preview_lines)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct General {
    /// Check every N minutes; `None`: only when asked (the default).
    pub check_interval_mins: Option<u32>,
    /// Where downloaded mail goes (one Maildir per account inside it);
    /// `None`: inside each account's data folder.
    pub mail_folder: Option<PathBuf>,
    pub preview_lines: u32,
    /// On servers without TOP (no previews on the server), messages up to
    /// this many kilobytes are downloaded to preview them; 0: never.
    pub preview_download_limit_kb: u32,
}

impl Default for General {
    fn default() -> General {
        General {
            check_interval_mins: None,
            mail_folder: None,
            preview_lines: 10,
            preview_download_limit_kb: 1000,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub general: General,
    pub accounts: Vec<AccountSettings>,
}

/// Something in the settings file that was not understood and replaced by
/// a default; shown to the user once.
pub type Notice = String;

impl Settings {
    /// Loads the settings file; a missing file gives the defaults. Never
    /// fails on content: bad values become defaults with a notice. Only an
    /// unreadable file (permissions, I/O) is an error.
    pub fn load(path: &Path) -> Result<(Settings, Vec<Notice>), StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Settings::default(), Vec::new()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Ok((
                    Settings::default(),
                    vec!["The settings file is not valid text; default settings are used and the file will be replaced when you save.".into()],
                ));
            }
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Ok(Settings::parse(&text))
    }

    /// Parses settings text leniently.
    pub fn parse(text: &str) -> (Settings, Vec<Notice>) {
        let mut notices = Vec::new();
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(e) => {
                notices.push(format!(
                    "The settings file could not be read ({}); default settings are used until you save.",
                    e.message()
                ));
                return (Settings::default(), notices);
            }
        };
        let mut reader = Reader {
            notices: &mut notices,
        };
        reader.unknown(&table, &["general", "accounts"], "");
        let general = match table.get("general") {
            Some(toml::Value::Table(g)) => reader.general(g),
            Some(_) => {
                reader.note("[general] is not a section; its defaults are used".into());
                General::default()
            }
            None => General::default(),
        };
        let mut accounts: Vec<AccountSettings> = Vec::new();
        match table.get("accounts") {
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        toml::Value::Table(t) => {
                            let mut account = reader.account(t, i);
                            // Ids must be unique: they name folders.
                            if accounts.iter().any(|a| a.id == account.id) {
                                let fresh = new_account_id(&accounts);
                                reader.note(format!(
                                    "Account {} had the same id as another one; it was given a new one",
                                    account.display_name()
                                ));
                                account.id = fresh;
                            }
                            accounts.push(account);
                        }
                        _ => reader.note(format!(
                            "Account #{} is not a section and was skipped",
                            i + 1
                        )),
                    }
                }
            }
            Some(_) => reader
                .note("accounts must be a list of [[accounts]] sections; none were read".into()),
            None => {}
        }
        (Settings { general, accounts }, notices)
    }

    pub fn to_toml(&self) -> String {
        // Serializing plain structs of strings, numbers and booleans cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Saves atomically: a crash leaves the old or the new file.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                action: "create the folder",
                path: dir.to_owned(),
                source,
            })?;
        }
        write_atomic(path, self.to_toml().as_bytes())
    }

    pub fn account(&self, id: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

/// An id no account has yet.
pub fn new_account_id(existing: &[AccountSettings]) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    (0u32..)
        .map(|n| format!("acct-{stamp:x}-{n}"))
        .find(|id| !existing.iter().any(|a| &a.id == id))
        .unwrap_or_else(|| "acct".into())
}

struct Reader<'a> {
    notices: &'a mut Vec<Notice>,
}

impl Reader<'_> {
    fn note(&mut self, notice: String) {
        self.notices.push(notice);
    }

    fn unknown(&mut self, table: &toml::Table, known: &[&str], context: &str) {
        for key in table.keys() {
            if !known.contains(&key.as_str()) {
                self.note(format!("Unknown setting “{context}{key}” was ignored"));
            }
        }
    }

    /// The value of `key`, or `default` with a notice if it has the wrong type.
    fn field<T: DeserializeOwned>(
        &mut self,
        table: &toml::Table,
        key: &str,
        default: T,
        context: &str,
    ) -> T {
        match table.get(key) {
            None => default,
            Some(value) => match value.clone().try_into::<T>() {
                Ok(v) => v,
                Err(_) => {
                    self.note(format!("The setting “{context}{key}” has a value Letterbox does not understand; the default is used"));
                    default
                }
            },
        }
    }

    fn general(&mut self, g: &toml::Table) -> General {
        let d = General::default();
        self.unknown(
            g,
            &[
                "check_interval_mins",
                "mail_folder",
                "preview_lines",
                "preview_download_limit_kb",
            ],
            "general.",
        );
        let interval: Option<u32> =
            self.field(g, "check_interval_mins", d.check_interval_mins, "general.");
        General {
            check_interval_mins: interval.filter(|m| *m > 0),
            mail_folder: self.field(g, "mail_folder", d.mail_folder, "general."),
            preview_lines: self
                .field(g, "preview_lines", d.preview_lines, "general.")
                .min(1000),
            preview_download_limit_kb: self
                .field(
                    g,
                    "preview_download_limit_kb",
                    d.preview_download_limit_kb,
                    "general.",
                )
                .min(100_000),
        }
    }

    fn account(&mut self, t: &toml::Table, index: usize) -> AccountSettings {
        let id: String = self.field(t, "id", String::new(), "accounts.");
        let id = if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            format!("account-{}", index + 1)
        } else {
            id
        };
        let d = AccountSettings::new(&id);
        let ctx = "accounts.";
        self.unknown(
            t,
            &[
                "id",
                "name",
                "email",
                "host",
                "port",
                "security",
                "username",
                "auth",
                "allow_plaintext",
                "password_storage",
                "leave_on_server",
                "delete_after_days",
                "quota_mb",
                "preview_lines",
                "trusted_fingerprint",
                "ca_file",
            ],
            ctx,
        );
        let security = self.field(t, "security", d.security, ctx);
        let port: i64 = self.field(t, "port", i64::from(security.default_port()), ctx);
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or_else(|| {
                self.note(format!(
                    "The port {port} of an account is not valid; {} is used",
                    security.default_port()
                ));
                security.default_port()
            });
        AccountSettings {
            name: self.field(t, "name", d.name, ctx),
            email: self.field(t, "email", d.email, ctx),
            host: self.field(t, "host", d.host, ctx),
            port,
            security,
            username: self.field(t, "username", d.username, ctx),
            auth: self.field(t, "auth", d.auth, ctx),
            allow_plaintext: self.field(t, "allow_plaintext", d.allow_plaintext, ctx),
            password_storage: self.field(t, "password_storage", d.password_storage, ctx),
            leave_on_server: self.field(t, "leave_on_server", d.leave_on_server, ctx),
            delete_after_days: self.field(t, "delete_after_days", d.delete_after_days, ctx),
            quota_mb: self.field(t, "quota_mb", d.quota_mb, ctx),
            preview_lines: self.field(t, "preview_lines", d.preview_lines, ctx),
            trusted_fingerprint: self.field(t, "trusted_fingerprint", d.trusted_fingerprint, ctx),
            ca_file: self.field(t, "ca_file", d.ca_file, ctx),
            id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Settings {
        let mut account = AccountSettings::new("acct-1");
        account.name = "Home".into();
        account.email = "me@example.org".into();
        account.host = "pop.example.org".into();
        account.username = "me".into();
        account.delete_after_days = Some(14);
        account.quota_mb = Some(500);
        account.trusted_fingerprint = Some("AB".repeat(32));
        Settings {
            general: General {
                check_interval_mins: Some(15),
                mail_folder: Some("/home/me/Mail".into()),
                preview_lines: 20,
                preview_download_limit_kb: 500,
            },
            accounts: vec![account],
        }
    }

    #[test]
    fn round_trip() {
        let settings = sample();
        let (back, notices) = Settings::parse(&settings.to_toml());
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(back, settings);
    }

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.toml");
        sample().save(&path).unwrap();
        let (loaded, notices) = Settings::load(&path).unwrap();
        assert_eq!(loaded, sample());
        assert!(notices.is_empty());
        let (missing, notices) = Settings::load(&dir.path().join("nope.toml")).unwrap();
        assert_eq!(missing, Settings::default());
        assert!(notices.is_empty());
    }

    #[test]
    fn bad_fields_fall_back_with_a_notice() {
        let text = r#"
            colour = "blue"
            [general]
            check_interval_mins = "often"
            preview_lines = 5
            [[accounts]]
            id = "a1"
            name = "Work"
            host = "pop.work.example"
            port = 99999
            security = "quantum"
            username = "me"
            leave_on_server = "yes"
            shoe_size = 44
            [[accounts]]
            id = "a1"
            host = "second.example"
        "#;
        let (settings, notices) = Settings::parse(text);
        assert_eq!(settings.general.preview_lines, 5, "good fields are kept");
        assert_eq!(settings.general.check_interval_mins, None);
        let work = &settings.accounts[0];
        assert_eq!(work.name, "Work");
        assert_eq!(work.host, "pop.work.example");
        assert_eq!(work.security, SecurityChoice::Tls);
        assert_eq!(work.port, 995);
        assert!(work.leave_on_server);
        assert_ne!(settings.accounts[1].id, "a1", "duplicate ids are fixed");
        let all = notices.join("\n");
        for needle in [
            "colour",
            "check_interval_mins",
            "99999",
            "security",
            "leave_on_server",
            "shoe_size",
            "same id",
        ] {
            assert!(all.contains(needle), "no notice about {needle}: {all}");
        }
    }

    #[test]
    fn broken_file_gives_defaults_and_a_notice() {
        let (settings, notices) = Settings::parse("[[accounts]\nhost = ");
        assert_eq!(settings, Settings::default());
        assert_eq!(notices.len(), 1);
    }

    #[test]
    fn no_password_in_the_file() {
        let text = sample().to_toml();
        assert!(!text.to_lowercase().contains("password ="), "{text}");
    }

    #[test]
    fn validation_and_engine_account() {
        let mut account = sample().accounts[0].clone();
        assert!(account.problems().is_empty());
        let engine = account.to_account(Secret::new("pw".into())).unwrap();
        assert_eq!(engine.endpoint.port, 995);
        assert!(engine.endpoint.trust.pinned.is_some());
        account.security = SecurityChoice::None;
        assert_eq!(account.problems().len(), 1, "plain text needs confirming");
        account.allow_plaintext = true;
        assert!(account.problems().is_empty());
        assert!(
            account
                .to_account(Secret::new("pw".into()))
                .unwrap()
                .credentials
                .allow_cleartext
        );
        account.host = "has space".into();
        account.username.clear();
        assert_eq!(account.problems().len(), 2);
    }
}
