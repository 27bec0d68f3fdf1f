//! What talks to the desktop session rather than to a mail server: when
//! accounts are checked by themselves (`schedule`), notifications
//! (`notify`), one Letterbox at a time (`instance`), starting at login
//! (`autostart`) and the status icon (`tray`). Below the app and never egui: what the user should see
//! comes back as a `DesktopEvent`, with a wake-up call.

pub mod autostart;
pub mod instance;
pub mod notify;
pub mod schedule;
pub mod tray;

pub use crate::worker::Wake;

/// Something the desktop asked of the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DesktopEvent {
    /// A notification was clicked: show this account's server list.
    OpenAccount(String),
    /// Letterbox was started again: bring the window to the front.
    Show,
    /// "Check mail now" in the tray menu.
    CheckNow,
    /// "Quit" in the tray menu.
    Quit,
    /// The tray icon is shown, or why not.
    TrayShown(Result<(), String>),
    /// Whether Letterbox starts at login, as the autostart folder says.
    StartsAtLogin(bool),
    /// Something the user asked of the desktop did not work: a sentence.
    Problem(String),
}
