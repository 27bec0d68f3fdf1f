//! Which folder holds a mailbox's store (ledger, previews, Maildir), for
//! the app and the command line alike, and taking over the stores earlier
//! versions left elsewhere. One mailbox — one user on one server port — has
//! one store, whichever front end fetches it, so nothing is downloaded
//! twice. Choosing is pure; only `StoreHome::settle` touches the disk, and
//! it only ever renames whole folders (atomic, nothing copied), never
//! deletes or merges anything.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{create_private_dir, sync_dir};
use crate::settings::{AccountSettings, General, Paths, Settings};
use crate::store::{AccountStore, StoreError, StorePaths};

/// What makes two accounts the same mailbox: the user name (exactly as
/// the server gets it), the server name (case does not matter in DNS) and
/// the port. The security mode is not part of it: TLS or STARTTLS to the
/// same port reaches the same mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MailboxId {
    user: String,
    host: String,
    port: u16,
}

impl MailboxId {
    pub fn new(user: &str, host: &str, port: u16) -> MailboxId {
        let host = host.trim().to_lowercase();
        // `pop.example.org.` (fully qualified) is the same server.
        let host = match host.strip_suffix('.') {
            Some(stripped) if !stripped.is_empty() => stripped.to_owned(),
            _ => host,
        };
        MailboxId {
            user: user.trim().to_owned(),
            host,
            port,
        }
    }

    pub fn of_account(account: &AccountSettings) -> MailboxId {
        MailboxId::new(&account.username, &account.host, account.port)
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store folder's name: `USER@HOST_PORT`, with every byte outside
    /// `a-z 0-9 . -` percent-encoded (`%`, `@`, `_` and capitals included),
    /// so the name can be read back unambiguously: two different mailboxes
    /// never share a folder, not even on a file system that ignores case.
    pub fn folder_name(&self) -> String {
        format!(
            "{}@{}_{}",
            encode_component(&self.user),
            encode_component(&self.host),
            self.port
        )
    }

    /// Reads a folder name back (the inverse of `folder_name`); `None` for
    /// anything `folder_name` cannot have produced.
    pub fn from_folder_name(name: &str) -> Option<MailboxId> {
        let (user, rest) = name.split_once('@')?;
        let (host, port) = rest.split_once('_')?;
        let port: u16 = port.parse().ok()?;
        let id = MailboxId {
            user: percent_decode(user)?,
            host: percent_decode(host)?,
            port,
        };
        (id.folder_name() == name).then_some(id)
    }
}

fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, byte) in text.bytes().enumerate() {
        let safe = byte.is_ascii_lowercase()
            || byte.is_ascii_digit()
            || byte == b'-'
            // A leading dot would hide the folder.
            || (byte == b'.' && i > 0);
        if safe {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `%XX` escapes back to bytes (also for user names in `pop3://` URLs);
/// `None` for a broken escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
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

/// The folder name the command line used before mailbox identities:
/// `USER@HOST` as typed, port left out, other characters folded to `_`.
/// Kept only to find and take over such folders.
pub fn legacy_folder_name(user: &str, host: &str) -> String {
    format!("{user}@{host}")
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "@.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where an account's store lives, and the folders where an earlier
/// version (or the other front end) may already have kept this mailbox's
/// store.
#[derive(Clone, Debug)]
pub struct StoreHome {
    pub paths: StorePaths,
    /// Earlier store folders (ledger inside, Maildir in `Maildir/`), in
    /// order of preference: the first that exists is moved to
    /// `paths.state_dir` when that does not exist yet.
    pub earlier: Vec<PathBuf>,
}

impl From<StorePaths> for StoreHome {
    fn from(paths: StorePaths) -> StoreHome {
        StoreHome {
            paths,
            earlier: Vec::new(),
        }
    }
}

/// THE rule for an account of the app's settings, used by the app and
/// by `letterbox --account` (and by `--url` when the app has an account
/// for the same mailbox): the store is `accounts/<id>` (existing users
/// keep their history), the Maildir inside it or, with
/// `general.mail_folder`, at `mail_folder/<id>`. A store the command
/// line kept for the same mailbox is taken over on first use.
pub fn store_for_account(paths: &Paths, account: &AccountSettings, general: &General) -> StoreHome {
    let state_dir = paths.accounts_dir.join(&account.id);
    let maildir = match &general.mail_folder {
        Some(root) => root.join(&account.id),
        None => state_dir.join("Maildir"),
    };
    StoreHome {
        paths: StorePaths { state_dir, maildir },
        earlier: cli_store_folders(
            &paths.accounts_dir,
            &MailboxId::of_account(account),
            account.host.trim(),
        ),
    }
}

/// The store for `letterbox --url` (`typed_host` as it was written,
/// to find folders of earlier versions): the store of the app's account
/// for the same mailbox if there is one (that account is returned
/// too), else `profile/<folder_name>`.
pub fn store_for_url<'s>(
    paths: &Paths,
    settings: &'s Settings,
    profile: &Path,
    id: &MailboxId,
    typed_host: &str,
) -> (StoreHome, Option<&'s AccountSettings>) {
    if let Some(account) = settings
        .accounts
        .iter()
        .find(|a| MailboxId::of_account(a) == *id)
    {
        let mut home = store_for_account(paths, account, &settings.general);
        if profile != paths.accounts_dir {
            for dir in cli_store_folders(profile, id, typed_host) {
                if !home.earlier.contains(&dir) {
                    home.earlier.push(dir);
                }
            }
        }
        return (home, Some(account));
    }
    (url_store_in(profile, id, typed_host), None)
}

/// The store of a mailbox no app account knows: `profile/<folder_name>`.
pub fn url_store_in(profile: &Path, id: &MailboxId, typed_host: &str) -> StoreHome {
    let dir = profile.join(id.folder_name());
    StoreHome {
        earlier: cli_store_folders(profile, id, typed_host)
            .into_iter()
            .filter(|d| *d != dir)
            .collect(),
        paths: StorePaths::in_dir(&dir),
    }
}

/// Where the command line keeps (or an earlier version kept) this
/// mailbox's store inside `dir`, most specific first.
fn cli_store_folders(dir: &Path, id: &MailboxId, typed_host: &str) -> Vec<PathBuf> {
    let mut folders = vec![dir.join(id.folder_name())];
    for host in [typed_host, id.host()] {
        let legacy = dir.join(legacy_folder_name(id.user(), host));
        if !folders.contains(&legacy) {
            folders.push(legacy);
        }
    }
    folders
}

impl StoreHome {
    /// Takes over an earlier store if this one does not exist yet, moves a
    /// Maildir left inside the store folder to `mail_folder` if that is
    /// where it belongs now, and returns the paths to open. Renames only:
    /// if one fails because the target appeared meanwhile (another
    /// Letterbox got there first), that one's choice stands; any other
    /// failure is an error, so the mailbox is never started afresh while
    /// its history sits elsewhere.
    pub fn settle(&self) -> Result<StorePaths, StoreError> {
        let target = &self.paths.state_dir;
        let earlier: Vec<&PathBuf> = self
            .earlier
            .iter()
            .filter(|dir| *dir != target && looks_like_store(dir))
            .collect();
        if exists(target)? {
            for dir in earlier {
                tracing::warn!(
                    kept = %dir.display(),
                    used = %target.display(),
                    "an earlier store of this mailbox was left alone: this one already exists"
                );
            }
        } else if let Some(dir) = earlier.first() {
            take_over(dir, target)?;
        }
        self.settle_maildir()
    }

    fn settle_maildir(&self) -> Result<StorePaths, StoreError> {
        let state_dir = &self.paths.state_dir;
        let inside = state_dir.join("Maildir");
        if self.paths.maildir == inside || exists(&self.paths.maildir)? || !inside.is_dir() {
            return Ok(self.paths.clone());
        }
        // The mail was downloaded into the store folder (by the command
        // line, or before a mail folder was chosen): move it where it now
        // belongs, or keep using it where it is.
        let _lock = lock_store(state_dir)?;
        if let Some(parent) = self.paths.maildir.parent() {
            create_private_dir(parent)?;
        }
        match fs::rename(&inside, &self.paths.maildir) {
            Ok(()) => {
                sync_dir(state_dir)?;
                if let Some(parent) = self.paths.maildir.parent() {
                    sync_dir(parent)?;
                }
                Ok(self.paths.clone())
            }
            Err(e) if target_taken(&e) => Ok(self.paths.clone()),
            Err(e) => {
                tracing::warn!(
                    maildir = %inside.display(),
                    error = %e,
                    "the downloaded mail could not be moved to the mail folder; it stays where it is"
                );
                Ok(StorePaths {
                    state_dir: state_dir.clone(),
                    maildir: inside,
                })
            }
        }
    }

    pub fn open(&self) -> Result<AccountStore, StoreError> {
        AccountStore::open(&self.settle()?)
    }

    pub fn open_starting_over(&self) -> Result<AccountStore, StoreError> {
        AccountStore::open_starting_over(&self.settle()?)
    }
}

/// A folder Letterbox made for a store, not anything else that happens to
/// have the same name (a profile may be any folder).
fn looks_like_store(dir: &Path) -> bool {
    dir.join("store.sqlite").is_file()
        || dir.join("ledger.json").is_file()
        || dir.join("Maildir").join("new").is_dir()
}

fn exists(path: &Path) -> Result<bool, StoreError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("look at", path, e)),
    }
}

/// Whether a rename failed because its target exists by now.
fn target_taken(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
    )
}

/// The same lock `AccountStore` holds, so no Letterbox (of this version or
/// an earlier one) is working in a store while it moves.
fn lock_store(dir: &Path) -> Result<fs::File, StoreError> {
    let path = dir.join("lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StoreError::io("open", &path, source))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Busy { path }),
        Err(fs::TryLockError::Error(source)) => Err(StoreError::io("lock", &path, source)),
    }
}

/// Moves the store folder `from` to `to` in one rename.
fn take_over(from: &Path, to: &Path) -> Result<(), StoreError> {
    let lock = lock_store(from)?;
    if let Some(parent) = to.parent() {
        create_private_dir(parent)?;
    }
    // Windows cannot rename a folder with a file open inside: there the
    // lock only proves nobody was busy a moment ago.
    #[cfg(not(unix))]
    drop(lock);
    let renamed = fs::rename(from, to);
    #[cfg(unix)]
    drop(lock);
    match renamed {
        Ok(()) => {
            tracing::info!(from = %from.display(), to = %to.display(), "took over an earlier store of this mailbox");
            if let Some(parent) = to.parent() {
                sync_dir(parent)?;
            }
            if let Some(parent) = from.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if target_taken(&e) => Ok(()),
        Err(source) => Err(StoreError::io(
            "move the earlier store of this mailbox",
            from,
            source,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ports_and_case() {
        let a = MailboxId::new("alice", "h", 995);
        let b = MailboxId::new("alice", "h", 1995);
        assert_ne!(a.folder_name(), b.folder_name());
        assert_eq!(
            a,
            MailboxId::new(" alice ", "H.", 995),
            "host case, FQDN dot"
        );
        assert_ne!(a, MailboxId::new("Alice", "h", 995), "user names are exact");
        assert_eq!(a.folder_name(), "alice@h_995");
        assert_eq!(
            MailboxId::new("Bob_x@ex.org", "Pop.Ex.org", 110).folder_name(),
            "%42ob%5Fx%40ex.org@pop.ex.org_110"
        );
        assert_eq!(MailboxId::new(".x", "h", 1).folder_name(), "%2Ex@h_1");
    }

    fn component() -> impl Strategy<Value = String> {
        // Mostly the characters that matter to the encoding, some of anything.
        prop_oneof![
            "[a-zA-Z0-9@_%.:+/ -]{0,12}",
            any::<String>().prop_map(|s| s.chars().take(12).collect()),
        ]
    }

    proptest! {
        /// The folder name reads back to the mailbox, so no two mailboxes
        /// share one; and it is a single safe path component whose meaning
        /// survives a file system that ignores case.
        #[test]
        fn folder_names_are_injective(user in component(), host in component(), port in any::<u16>(),
                                      user2 in component(), host2 in component(), port2 in any::<u16>()) {
            let id = MailboxId::new(&user, &host, port);
            let name = id.folder_name();
            prop_assert_eq!(MailboxId::from_folder_name(&name), Some(id.clone()));
            prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()
                || b"-.%@_ABCDEF".contains(&b)), "{}", name);
            prop_assert!(!name.starts_with('.'));
            let other = MailboxId::new(&user2, &host2, port2);
            if other != id {
                prop_assert_ne!(other.folder_name().to_lowercase(), name.to_lowercase());
            }
        }
    }

    #[test]
    fn near_misses_differ() {
        // Pairs a folding encoding would merge.
        let pairs = [
            (("a_b", "h", 1), ("a@b", "h", 1)),
            (("a", "b_c", 1), ("a_b", "c", 1)),
            (("a@b", "c", 1), ("a", "b@c", 1)),
            (("a", "h", 11), ("a", "h_1", 1)),
            (("a%40b", "h", 1), ("a@b", "h", 1)),
            (("Ab", "h", 1), ("ab", "h", 1)),
        ];
        for ((u1, h1, p1), (u2, h2, p2)) in pairs {
            let one = MailboxId::new(u1, h1, p1).folder_name();
            let two = MailboxId::new(u2, h2, p2).folder_name();
            assert_ne!(one.to_lowercase(), two.to_lowercase(), "{one} vs {two}");
        }
    }

    fn account(id: &str, user: &str, host: &str, port: u16) -> AccountSettings {
        let mut a = AccountSettings::new(id);
        a.username = user.into();
        a.host = host.into();
        a.port = port;
        a
    }

    fn seed_store(dir: &Path, marker: &str) {
        fs::create_dir_all(dir.join("Maildir/new")).unwrap();
        fs::write(dir.join("ledger.json"), marker).unwrap();
        fs::write(dir.join("Maildir/new/1.mail"), marker).unwrap();
    }

    #[test]
    fn the_app_adopts_a_command_line_store() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let acct = account("acct-1", "alice", "Pop.Example.org", 995);
        let cli = paths
            .accounts_dir
            .join(MailboxId::of_account(&acct).folder_name());
        seed_store(&cli, "from-cli");
        let home = store_for_account(&paths, &acct, &General::default());
        let settled = home.settle().unwrap();
        assert_eq!(settled.state_dir, paths.accounts_dir.join("acct-1"));
        assert_eq!(
            fs::read_to_string(settled.maildir.join("new/1.mail")).unwrap(),
            "from-cli"
        );
        assert!(!cli.exists(), "moved, not copied");
        // Once is enough: a second settle changes nothing.
        seed_store(&cli, "later");
        home.settle().unwrap();
        assert_eq!(
            fs::read_to_string(settled.state_dir.join("ledger.json")).unwrap(),
            "from-cli"
        );
        assert!(
            cli.exists(),
            "a store that cannot be taken over is left alone"
        );
    }

    #[test]
    fn legacy_folders_are_taken_over_once() {
        let dir = tempfile::tempdir().unwrap();
        let id = MailboxId::new("a.b+c@x.org", "Pop.Ex", 995);
        let legacy = dir.path().join("a.b+c@x.org@Pop.Ex");
        assert_eq!(
            legacy_folder_name("a.b+c@x.org", "Pop.Ex"),
            "a.b+c@x.org@Pop.Ex"
        );
        seed_store(&legacy, "old");
        let home = url_store_in(dir.path(), &id, "Pop.Ex");
        let settled = home.settle().unwrap();
        assert_eq!(settled.state_dir, dir.path().join(id.folder_name()));
        assert_eq!(
            fs::read_to_string(settled.state_dir.join("ledger.json")).unwrap(),
            "old"
        );
        assert!(!legacy.exists());
        // The other port of the same USER@HOST finds nothing left to take.
        let other = url_store_in(
            dir.path(),
            &MailboxId::new("a.b+c@x.org", "pop.ex", 1995),
            "Pop.Ex",
        );
        assert!(!other.settle().unwrap().state_dir.exists());
    }

    #[test]
    fn only_stores_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("alice@h");
        fs::create_dir_all(other.join("photos")).unwrap();
        let home = url_store_in(dir.path(), &MailboxId::new("alice", "h", 995), "h");
        assert_eq!(
            home.settle().unwrap().state_dir,
            dir.path().join("alice@h_995")
        );
        assert!(
            other.join("photos").is_dir(),
            "not a store: left where it is"
        );
    }

    #[test]
    fn a_busy_earlier_store_is_not_moved() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("alice@h");
        seed_store(&legacy, "old");
        // As if an earlier Letterbox were fetching into it right now.
        let holder = lock_store(&legacy).unwrap();
        let home = url_store_in(dir.path(), &MailboxId::new("alice", "h", 995), "h");
        assert!(matches!(home.settle(), Err(StoreError::Busy { .. })));
        assert!(legacy.exists());
        drop(holder);
        home.settle().unwrap();
        assert!(!legacy.exists());
    }

    #[test]
    fn the_maildir_follows_the_mail_folder() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let acct = account("acct-1", "alice", "h", 995);
        seed_store(
            &paths.accounts_dir.join(legacy_folder_name("alice", "h")),
            "old",
        );
        let general = General {
            mail_folder: Some(dir.path().join("Mail")),
            ..General::default()
        };
        let settled = store_for_account(&paths, &acct, &general).settle().unwrap();
        assert_eq!(settled.maildir, dir.path().join("Mail/acct-1"));
        assert_eq!(
            fs::read_to_string(settled.maildir.join("new/1.mail")).unwrap(),
            "old"
        );
        assert!(!settled.state_dir.join("Maildir").exists());
    }

    #[test]
    fn url_uses_the_app_account_of_the_same_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(&dir.path().join("config"));
        let settings = Settings {
            general: General::default(),
            accounts: vec![
                account("a1", "alice", "h", 1995),
                account("a2", "alice", "H", 995),
            ],
        };
        let profile = dir.path().join("profile");
        let (home, owner) = store_for_url(
            &paths,
            &settings,
            &profile,
            &MailboxId::new("alice", "h", 995),
            "h",
        );
        assert_eq!(owner.map(|a| a.id.as_str()), Some("a2"));
        assert_eq!(home.paths.state_dir, paths.accounts_dir.join("a2"));
        assert!(home.earlier.contains(&profile.join("alice@h_995")));
        let (home, owner) = store_for_url(
            &paths,
            &settings,
            &profile,
            &MailboxId::new("alice", "h", 110),
            "h",
        );
        assert!(owner.is_none());
        assert_eq!(home.paths.state_dir, profile.join("alice@h_110"));
    }
}
