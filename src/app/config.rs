//! What the app is started with.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};

use crate::desktop::schedule::Clock;
use crate::desktop::{DesktopEvent, Wake, notify};

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
    /// The desktop session: notifications, the clock automatic checks
    /// run by, requests from a second launch.
    pub desktop: Desktop,
}

/// The app's link to the desktop session. The default has no
/// notification service (tests that want one name a private bus) and the
/// system clock.
pub struct Desktop {
    pub notifications: notify::Bus,
    pub clock: Clock,
    /// Where the "start at login" entry goes; `None`: the option is not
    /// offered (tests that do not test it, the demo).
    pub autostart_dir: Option<std::path::PathBuf>,
    /// Show a status (tray) icon while Letterbox runs in the background.
    pub tray: bool,
    /// Opens a provider's sign-in page; `None`: the system browser. Tests
    /// play the browser with an HTTP client.
    pub browser: Option<crate::oauth::Browser>,
    sender: Sender<DesktopEvent>,
    pub(crate) receiver: Receiver<DesktopEvent>,
    /// Set once the window exists: who to wake for a desktop event.
    pub(crate) context: Arc<OnceLock<egui::Context>>,
}

impl Default for Desktop {
    fn default() -> Desktop {
        let (sender, receiver) = mpsc::channel();
        Desktop {
            notifications: notify::Bus::None,
            clock: Clock::system(),
            autostart_dir: None,
            tray: false,
            browser: None,
            sender,
            receiver,
            context: Arc::default(),
        }
    }
}

impl Desktop {
    /// The user's own session: notifications on its bus.
    pub fn session() -> Desktop {
        Desktop {
            notifications: notify::Bus::Session,
            autostart_dir: crate::desktop::autostart::autostart_dir(),
            tray: true,
            ..Desktop::default()
        }
    }

    /// Where desktop events for the app are sent (a second launch, a click
    /// on a notification).
    pub fn sender(&self) -> Sender<DesktopEvent> {
        self.sender.clone()
    }

    /// Wakes the window up for an event (before the window exists, the
    /// event waits for its first frame).
    pub fn wake(&self) -> Wake {
        let context = self.context.clone();
        Arc::new(move || {
            if let Some(ctx) = context.get() {
                ctx.request_repaint();
            }
        })
    }
}

impl AppConfig {
    /// The window's title (before any new-mail count).
    pub fn window_title(&self) -> &'static str {
        if self.note.is_some() {
            "Letterbox (demo)"
        } else {
            "Letterbox"
        }
    }

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
            desktop: Desktop::default(),
        }
    }
}
