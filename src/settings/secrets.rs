//! Passwords, kept out of the settings file: in the OS keyring by default;
//! in memory for the session when there is no keyring and the user prefers
//! to type it each time; in a file readable only by the user, only on
//! explicit choice. Keyring calls can block (D-Bus), so callers run them
//! off the UI thread.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::fsutil::write_atomic;
use crate::pop3::Secret;

use super::{AccountSettings, PasswordStorage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("no keyring is available on this computer ({0})")]
    Unavailable(String),
    #[error("the password could not be stored or read: {0}")]
    Failed(String),
}

/// One place passwords can be kept, by account id.
pub trait SecretStore: Send + Sync {
    fn get(&self, account_id: &str) -> Result<Option<Secret<String>>, SecretError>;
    fn set(&self, account_id: &str, secret: &Secret<String>) -> Result<(), SecretError>;
    fn delete(&self, account_id: &str) -> Result<(), SecretError>;
    /// Whether this store can be used at all on this computer.
    fn available(&self) -> Result<(), SecretError> {
        Ok(())
    }
}

/// The OS keyring (Secret Service on Linux, Keychain, Credential Manager).
pub struct KeyringStore;

const SERVICE: &str = "org.letterbox.Letterbox";

impl KeyringStore {
    fn entry(account_id: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, account_id).map_err(classify)
    }
}

fn classify(error: keyring::Error) -> SecretError {
    match error {
        keyring::Error::NoStorageAccess(e) => SecretError::Unavailable(e.to_string()),
        keyring::Error::NoDefaultStore => SecretError::Unavailable("no credential store".into()),
        keyring::Error::PlatformFailure(e) => SecretError::Unavailable(e.to_string()),
        other => SecretError::Failed(other.to_string()),
    }
}

impl SecretStore for KeyringStore {
    fn available(&self) -> Result<(), SecretError> {
        match keyring::Entry::store_status() {
            Ok(()) => match Self::entry("availability-probe")?.get_password() {
                Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(classify(e)),
            },
            Err(e) => Err(SecretError::Unavailable(e.to_string())),
        }
    }

    fn get(&self, account_id: &str) -> Result<Option<Secret<String>>, SecretError> {
        match Self::entry(account_id)?.get_password() {
            Ok(password) => Ok(Some(Secret::new(password))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn set(&self, account_id: &str, secret: &Secret<String>) -> Result<(), SecretError> {
        Self::entry(account_id)?
            .set_password(secret.expose())
            .map_err(classify)
    }

    fn delete(&self, account_id: &str) -> Result<(), SecretError> {
        match Self::entry(account_id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }
}

/// Passwords held in memory only, for this session.
#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Secret<String>>>,
}

impl SecretStore for MemoryStore {
    fn get(&self, account_id: &str) -> Result<Option<Secret<String>>, SecretError> {
        let map = self
            .map
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        Ok(map.get(account_id).cloned())
    }

    fn set(&self, account_id: &str, secret: &Secret<String>) -> Result<(), SecretError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        map.insert(account_id.to_owned(), secret.clone());
        Ok(())
    }

    fn delete(&self, account_id: &str) -> Result<(), SecretError> {
        let mut map = self
            .map
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        map.remove(account_id);
        Ok(())
    }
}

/// Passwords in a TOML file with mode 0600, written atomically.
pub struct FileStore {
    path: PathBuf,
    lock: Mutex<()>,
}

impl FileStore {
    pub fn new(path: PathBuf) -> FileStore {
        FileStore {
            path,
            lock: Mutex::new(()),
        }
    }

    fn read(&self) -> Result<BTreeMap<String, String>, SecretError> {
        match std::fs::read_to_string(&self.path) {
            // The parser's message quotes the line it stopped at, which holds
            // a password: only say where.
            Ok(text) => toml::from_str(&text).map_err(|e| {
                let line = e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                    .unwrap_or(1);
                SecretError::Failed(format!(
                    "{} is damaged (near line {line})",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(SecretError::Failed(format!("{}: {e}", self.path.display()))),
        }
    }

    fn write(&self, map: &BTreeMap<String, String>) -> Result<(), SecretError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SecretError::Failed(e.to_string()))?;
        }
        let text = toml::to_string(map).map_err(|e| SecretError::Failed(e.to_string()))?;
        // write_atomic creates the file 0600 (owner only) before any byte is written.
        write_atomic(&self.path, text.as_bytes()).map_err(|e| SecretError::Failed(e.to_string()))
    }
}

impl SecretStore for FileStore {
    fn get(&self, account_id: &str) -> Result<Option<Secret<String>>, SecretError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        Ok(self.read()?.remove(account_id).map(Secret::new))
    }

    fn set(&self, account_id: &str, secret: &Secret<String>) -> Result<(), SecretError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        let mut map = self.read()?;
        map.insert(account_id.to_owned(), secret.expose().clone());
        self.write(&map)
    }

    fn delete(&self, account_id: &str) -> Result<(), SecretError> {
        let _guard = self
            .lock
            .lock()
            .map_err(|_| SecretError::Failed("lock".into()))?;
        let mut map = self.read()?;
        if map.remove(account_id).is_some() {
            self.write(&map)?;
        }
        Ok(())
    }
}

/// Routes each account to the store its settings name.
///
/// An account that signs in through the browser (OAuth 2) keeps its
/// refresh token where its password would be, under a name of its own
/// (`refresh_token`); its access tokens live in memory only
/// (`access_token`), until they expire or the server refuses them.
#[derive(Clone)]
pub struct Passwords {
    keyring: Arc<dyn SecretStore>,
    file: Arc<dyn SecretStore>,
    session: Arc<dyn SecretStore>,
    access_tokens: Arc<Mutex<HashMap<String, AccessToken>>>,
}

/// An OAuth 2 access token and when it stops working.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: Secret<String>,
    pub expires: std::time::Instant,
}

/// The name a refresh token is kept under: never an account id (those
/// are letters, digits, '-' and '_').
fn refresh_key(account_id: &str) -> String {
    format!("{account_id}.oauth-refresh")
}

impl Passwords {
    pub fn new(keyring: Arc<dyn SecretStore>, password_file: PathBuf) -> Passwords {
        Passwords {
            keyring,
            file: Arc::new(FileStore::new(password_file)),
            session: Arc::new(MemoryStore::default()),
            access_tokens: Arc::default(),
        }
    }

    /// With the real OS keyring.
    pub fn system(password_file: PathBuf) -> Passwords {
        Passwords::new(Arc::new(KeyringStore), password_file)
    }

    fn store(&self, storage: PasswordStorage) -> &dyn SecretStore {
        match storage {
            PasswordStorage::Keyring => self.keyring.as_ref(),
            PasswordStorage::File => self.file.as_ref(),
            PasswordStorage::AskEachSession => self.session.as_ref(),
        }
    }

    pub fn get(&self, account: &AccountSettings) -> Result<Option<Secret<String>>, SecretError> {
        // A password typed this session wins (it may be a retry after a
        // failed login, or the keyring may be unavailable).
        if let Some(secret) = self.session.get(&account.id)? {
            return Ok(Some(secret));
        }
        self.store(account.password_storage).get(&account.id)
    }

    pub fn set(
        &self,
        account: &AccountSettings,
        secret: &Secret<String>,
    ) -> Result<(), SecretError> {
        let result = self
            .store(account.password_storage)
            .set(&account.id, secret);
        if account.password_storage != PasswordStorage::AskEachSession && result.is_ok() {
            self.session.delete(&account.id)?;
        }
        result
    }

    /// Keeps a password for this session only (e.g. typed after the keyring failed).
    pub fn set_for_session(
        &self,
        account_id: &str,
        secret: &Secret<String>,
    ) -> Result<(), SecretError> {
        self.session.set(account_id, secret)
    }

    /// Whether a password was typed for this account this session. Memory
    /// only: safe to ask on the UI thread.
    pub fn has_session(&self, account_id: &str) -> bool {
        self.session.get(account_id).is_ok_and(|s| s.is_some())
    }

    pub fn keyring_available(&self) -> Result<(), SecretError> {
        self.keyring.available()
    }

    /// Forgets the account's password, and its sign-in tokens, everywhere.
    pub fn forget(&self, account_id: &str) {
        self.delete_everywhere(account_id);
        self.forget_refresh_token(account_id);
        self.forget_access_token(account_id);
    }

    fn delete_everywhere(&self, key: &str) {
        let _ = self.session.delete(key);
        let _ = self.file.delete(key);
        let _ = self.keyring.delete(key);
    }

    /// Forgets a browser sign-in's refresh token everywhere (the provider
    /// or client changed, or the account signs in with a password now).
    pub fn forget_refresh_token(&self, account_id: &str) {
        self.delete_everywhere(&refresh_key(account_id));
    }

    /// The refresh token of a browser sign-in, from where the account's
    /// password would be kept.
    pub fn refresh_token(
        &self,
        account: &AccountSettings,
    ) -> Result<Option<Secret<String>>, SecretError> {
        let key = refresh_key(&account.id);
        if let Some(secret) = self.session.get(&key)? {
            return Ok(Some(secret));
        }
        self.store(account.password_storage).get(&key)
    }

    /// Keeps a (new) refresh token. When the store fails it is still kept
    /// for this session, so the sign-in just made is not lost.
    pub fn set_refresh_token(
        &self,
        account: &AccountSettings,
        token: &Secret<String>,
    ) -> Result<(), SecretError> {
        let key = refresh_key(&account.id);
        let result = self.store(account.password_storage).set(&key, token);
        if result.is_ok() && account.password_storage != PasswordStorage::AskEachSession {
            self.session.delete(&key)?;
        } else if result.is_err() {
            self.session.set(&key, token)?;
        }
        result
    }

    /// Whether a refresh token is at hand without asking the keyring
    /// (memory only: safe on the UI thread).
    pub fn has_session_refresh_token(&self, account_id: &str) -> bool {
        self.session
            .get(&refresh_key(account_id))
            .is_ok_and(|s| s.is_some())
    }

    /// The access token in memory, if it is good for at least `margin`.
    pub fn access_token(
        &self,
        account_id: &str,
        margin: std::time::Duration,
    ) -> Option<Secret<String>> {
        let tokens = self.access_tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(account_id)
            .filter(|t| t.expires > std::time::Instant::now() + margin)
            .map(|t| t.token.clone())
    }

    pub fn set_access_token(&self, account_id: &str, token: AccessToken) {
        self.access_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account_id.to_owned(), token);
    }

    /// Drops the access token (the server refused it, or it was signed out).
    pub fn forget_access_token(&self, account_id: &str) {
        self.access_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_password_file_never_shows_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwords.toml");
        std::fs::write(&path, "a1 = \"hunter2-secret\nb = 3\n").unwrap();
        let store = FileStore::new(path);
        let err = store.get("a1").unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn routes_by_storage_choice_and_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passwords.toml");
        let passwords = Passwords::new(Arc::new(MemoryStore::default()), file.clone());
        let mut account = AccountSettings::new("a1");
        account.password_storage = PasswordStorage::File;
        passwords
            .set(&account, &Secret::new("s3cret".into()))
            .unwrap();
        assert_eq!(passwords.get(&account).unwrap().unwrap().expose(), "s3cret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        account.password_storage = PasswordStorage::Keyring;
        assert!(
            passwords.get(&account).unwrap().is_none(),
            "each store is separate"
        );
        passwords
            .set_for_session("a1", &Secret::new("typed".into()))
            .unwrap();
        assert_eq!(passwords.get(&account).unwrap().unwrap().expose(), "typed");
        passwords.forget("a1");
        account.password_storage = PasswordStorage::File;
        assert!(passwords.get(&account).unwrap().is_none());
    }
}
