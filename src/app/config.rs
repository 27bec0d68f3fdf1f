//! What the app is started with.

use std::sync::Arc;

use crate::pop3::Secret;
use crate::settings::secrets::{Passwords, SecretStore};
use crate::settings::{Paths, Settings};

/// How the app is set up: where its files are and where passwords live.
/// Tests and the demo inject their own.
pub struct AppConfig {
    pub paths: Paths,
    pub passwords: Passwords,
    /// Use these settings and never write the settings file (the demo).
    pub fixed_settings: Option<Settings>,
    /// Shown in the status bar, e.g. what the demo is.
    pub note: Option<String>,
    /// Ask where to save with the system's file dialog (through the
    /// desktop portal). Off: the app's own typed-path dialog, as where no
    /// portal answers (and in tests).
    pub native_dialogs: bool,
}

impl AppConfig {
    /// The app on the demo mailbox served on loopback at `port`: the demo
    /// account (never written to a settings file), its password kept for
    /// the session in `keyring`, files under `paths`. The one recipe for
    /// `--demo`, the UI tests and the frame benchmark.
    pub fn demo(paths: Paths, keyring: Arc<dyn SecretStore>, port: u16) -> AppConfig {
        let settings = crate::demo::demo_settings(port);
        let passwords = Passwords::new(keyring, paths.password_file.clone());
        for account in &settings.accounts {
            let password = Secret::new(crate::demo::PASSWORD.to_owned());
            if let Err(e) = passwords.set_for_session(&account.id, &password) {
                tracing::warn!("the demo password could not be kept: {e}");
            }
        }
        AppConfig {
            paths,
            passwords,
            fixed_settings: Some(settings),
            note: None,
            native_dialogs: true,
        }
    }
}
