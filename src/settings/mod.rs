//! Settings: the accounts and the general options, saved as TOML in the
//! config folder. Loading is tolerant — a bad or unknown field falls back to
//! its default and produces a notice, never a crash or a reset — and
//! validation happens in one place. No password is ever part of these
//! types; passwords live in `secrets` (the OS keyring by default).

pub mod presets;
mod sign_in;
pub use sign_in::OAuthSettings;
pub mod secrets;

use std::path::{Path, PathBuf};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Serialize};

use crate::fsutil::{FileError, write_atomic};
use crate::pop3::{AuthMethod, Security};

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

// The settings file names a security mode or a sign-in method by its key
// ("tls", "cram-md5"): the same names the command line takes.
impl Serialize for Security {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for Security {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Security, D::Error> {
        let key = String::deserialize(deserializer)?;
        Security::from_key(&key).ok_or_else(|| D::Error::custom(format!("no security {key:?}")))
    }
}

impl Serialize for AuthMethod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

impl<'de> Deserialize<'de> for AuthMethod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AuthMethod, D::Error> {
        let key = String::deserialize(deserializer)?;
        AuthMethod::from_key(&key)
            .ok_or_else(|| D::Error::custom(format!("no sign-in method {key:?}")))
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountSettings {
    /// Stable, never shown; names the account's folder and keyring entry.
    pub id: String,
    pub name: String,
    pub email: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub auth: AuthMethod,
    /// The explicit permission to send the password unencrypted (only
    /// matters with `Security::None`).
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
    /// Checked by itself when automatic checks are on (General).
    pub check_automatically: bool,
    /// Its own interval; `None`: the general one.
    pub check_every_mins: Option<u32>,
    /// A desktop notification when an automatic check finds new mail.
    pub notify_new_mail: bool,
    /// Signs in through the provider's page in the browser (OAuth 2)
    /// instead of with a password; the refresh token is kept where a
    /// password would be.
    pub oauth: Option<OAuthSettings>,
}

impl Default for AccountSettings {
    fn default() -> AccountSettings {
        AccountSettings::new("")
    }
}

impl AccountSettings {
    pub fn new(id: &str) -> AccountSettings {
        AccountSettings {
            id: id.to_owned(),
            name: String::new(),
            email: String::new(),
            host: String::new(),
            port: 995,
            security: Security::Tls,
            username: String::new(),
            auth: AuthMethod::Auto,
            allow_plaintext: false,
            password_storage: PasswordStorage::Keyring,
            leave_on_server: true,
            delete_after_days: None,
            quota_mb: None,
            preview_lines: None,
            trusted_fingerprint: None,
            ca_file: None,
            check_automatically: true,
            check_every_mins: None,
            notify_new_mail: true,
            oauth: None,
        }
    }

    /// How often this account is checked by itself, if at all: its own
    /// interval, else the general one.
    pub fn check_interval(&self, general: &General) -> Option<std::time::Duration> {
        if !self.check_automatically {
            return None;
        }
        self.check_every_mins
            .filter(|m| *m > 0)
            .or(general.check_interval_mins)
            .map(|mins| std::time::Duration::from_secs(u64::from(mins) * 60))
    }

    /// What the sidebar shows.
    pub fn display_name(&self) -> String {
        [&self.name, &self.email, &self.username, &self.host]
            .into_iter()
            .find(|s| !s.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| "New account".into())
    }

    /// Problems that keep the account from being used, as sentences: the
    /// ones the settings alone show (`accounts::problems` adds those that
    /// need the network layer's rules, such as a malformed fingerprint).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push("Enter the mail server's name (for example pop.example.org).".into());
        } else if self.host.trim().contains(char::is_whitespace) || self.host.contains('/') {
            problems.push("The server name cannot contain spaces or slashes.".into());
        }
        if self.port == 0 {
            problems.push("Enter a port number between 1 and 65535.".into());
        }
        if self.username.trim().is_empty() {
            problems.push("Enter the user name your provider gave you.".into());
        }
        if let Some(oauth) = &self.oauth
            && oauth.provider().is_none()
        {
            problems.push(format!(
                "The sign-in provider {:?} is not one Letterbox knows (microsoft, google).",
                oauth.provider
            ));
        }
        if self.security == Security::None && !self.allow_plaintext {
            problems.push(
                "An unencrypted connection must be confirmed: anyone on the network could read your mail and password.".into(),
            );
        }
        problems
    }

    pub fn effective_preview_lines(&self, general: &General) -> u32 {
        self.preview_lines.unwrap_or(general.preview_lines)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Light or dark, or as the desktop says.
    pub theme: Theme,
    /// Closing the window keeps Letterbox checking in the background;
    /// `None`: not asked yet (asked the first time the window is closed
    /// with automatic checks on).
    pub keep_running: Option<bool>,
}

/// The window's colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// As the desktop is set (dark if it says nothing).
    #[default]
    System,
    Light,
    Dark,
}

impl Default for General {
    fn default() -> General {
        General {
            check_interval_mins: None,
            mail_folder: None,
            preview_lines: 10,
            preview_download_limit_kb: 1000,
            theme: Theme::System,
            keep_running: None,
        }
    }
}

/// The whole file. Read through `Settings::parse`, which is lenient field
/// by field; the derived `Deserialize` only names the sections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub fn load(path: &Path) -> Result<(Settings, Vec<Notice>), FileError> {
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
            Err(source) => return Err(FileError::new("read", path, source)),
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
        reader.unknown(&table, field_names::<Settings>(), "");
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
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| FileError::new("create the folder", dir, source))?;
        }
        write_atomic(path, self.to_toml().as_bytes())
    }

    pub fn account(&self, id: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// Every account's id, in the order of the list.
    pub fn account_ids(&self) -> Vec<String> {
        self.accounts.iter().map(|a| a.id.clone()).collect()
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

    /// Reads a section of type `T` (which has `#[serde(default)]`)
    /// leniently: unknown keys and values of the wrong type are dropped with
    /// a notice, missing ones take their defaults, everything else is kept.
    /// The known keys come from `T` itself. Also returns the keys that were
    /// kept, for defaults that depend on other fields.
    fn section<T: DeserializeOwned + Default>(
        &mut self,
        table: &toml::Table,
        context: &str,
    ) -> (T, toml::Table) {
        self.unknown(table, field_names::<T>(), context);
        let mut kept = toml::Table::new();
        for (key, value) in table {
            if !field_names::<T>().contains(&key.as_str()) {
                continue;
            }
            let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
            if toml::Value::Table(alone).try_into::<T>().is_ok() {
                kept.insert(key.clone(), value.clone());
            } else {
                self.note(format!(
                    "The setting “{context}{key} = {value}” has a value Letterbox does not understand; the default is used"
                ));
            }
        }
        // Each kept value read on its own, so together they read too.
        let section = toml::Value::Table(kept.clone())
            .try_into::<T>()
            .unwrap_or_default();
        (section, kept)
    }

    fn general(&mut self, g: &toml::Table) -> General {
        let (mut general, _) = self.section::<General>(g, "general.");
        general.check_interval_mins = general.check_interval_mins.filter(|m| *m > 0);
        general.preview_lines = general.preview_lines.min(1000);
        general.preview_download_limit_kb = general.preview_download_limit_kb.min(100_000);
        general
    }

    fn account(&mut self, t: &toml::Table, index: usize) -> AccountSettings {
        let (mut account, kept) = self.section::<AccountSettings>(t, "accounts.");
        if account.id.is_empty()
            || !account
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            account.id = format!("account-{}", index + 1);
        }
        let default_port = account.security.default_port();
        if !kept.contains_key("port") {
            account.port = default_port;
        } else if account.port == 0 {
            self.note(format!(
                "The port 0 of an account is not valid; {default_port} is used"
            ));
            account.port = default_port;
        }
        account
    }
}

/// The field names a derived `Deserialize` of `T` expects: serde hands
/// them to `deserialize_struct`, and this deserializer only records them.
fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::value::Error;

    struct Introspect<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Introspect<'_> {
        type Error = Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Error> {
            *self.0 = fields;
            Err(Error::custom("only the field names were wanted"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Introspect(&mut fields));
    fields
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
        account.check_every_mins = Some(30);
        account.notify_new_mail = false;
        Settings {
            general: General {
                check_interval_mins: Some(15),
                mail_folder: Some("/home/me/Mail".into()),
                preview_lines: 20,
                preview_download_limit_kb: 500,
                theme: Theme::Light,
                keep_running: Some(true),
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
        assert_eq!(work.security, Security::Tls);
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
    fn validation() {
        let mut account = sample().accounts[0].clone();
        assert!(account.problems().is_empty());
        account.security = Security::None;
        assert_eq!(account.problems().len(), 1, "plain text needs confirming");
        account.allow_plaintext = true;
        assert!(account.problems().is_empty());
        account.host = "has space".into();
        account.username.clear();
        assert_eq!(account.problems().len(), 2);
    }

    #[test]
    fn known_keys_come_from_the_types() {
        assert_eq!(field_names::<Settings>(), ["general", "accounts"]);
        let general = field_names::<General>();
        assert!(
            general.contains(&"preview_download_limit_kb"),
            "{general:?}"
        );
        let account = field_names::<AccountSettings>();
        for key in ["id", "host", "port", "security", "auth", "ca_file"] {
            assert!(account.contains(&key), "{key} missing from {account:?}");
        }
        // Every field that is written is also known when read back.
        let text = sample().to_toml();
        let table: toml::Table = text.parse().unwrap();
        let written = table["accounts"].as_array().unwrap()[0].as_table().unwrap();
        for key in written.keys() {
            assert!(account.contains(&key.as_str()), "{key} written, not known");
        }
    }

    #[test]
    fn names_in_the_file() {
        let mut account = AccountSettings::new("a");
        account.security = Security::StartTls;
        account.auth = AuthMethod::UserPass;
        let text = toml::to_string(&account).unwrap();
        assert!(text.contains("security = \"starttls\""), "{text}");
        assert!(text.contains("auth = \"user-pass\""), "{text}");
        let (settings, notices) =
            Settings::parse("[[accounts]]\nid = \"a\"\nsecurity = \"none\"\nauth = \"cram-md5\"\n");
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(settings.accounts[0].security, Security::None);
        assert_eq!(settings.accounts[0].auth, AuthMethod::CramMd5);
        assert_eq!(
            settings.accounts[0].port, 110,
            "the port follows the security"
        );
    }
}
