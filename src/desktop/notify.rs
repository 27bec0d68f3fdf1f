//! Desktop notifications (the freedesktop.org Notifications service over
//! the session D-Bus): "3 new messages for Home" with who sent what, and
//! clicking it opens that account in Letterbox. Everything runs on a
//! thread of its own, so a slow or missing service never holds up the
//! window; where no service answers, nothing is shown and nothing breaks.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use zbus::zvariant::Value;

use super::{DesktopEvent, Wake};

#[zbus::proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications",
    gen_async = false
)]
trait Notifications {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, Value<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;

    #[zbus(signal)]
    fn action_invoked(&self, id: u32, action_key: String) -> zbus::Result<()>;
}

/// One notification: its text, and the account a click opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub account_id: String,
    pub summary: String,
    pub body: String,
}

/// A new message, as the notification lists it.
#[derive(Clone, Debug)]
pub struct Arrival {
    pub from: String,
    pub subject: String,
}

/// The most messages a notification names; the rest are counted.
const NAMED: usize = 3;

/// "3 new messages for Home" and one line per message ("Alice: Dinner
/// Saturday"), the first few only.
pub fn new_mail(account_id: &str, account_name: &str, arrivals: &[Arrival]) -> Note {
    let count = arrivals.len();
    let summary = if count == 1 {
        format!("1 new message for {account_name}")
    } else {
        format!("{count} new messages for {account_name}")
    };
    let mut lines: Vec<String> = arrivals
        .iter()
        .take(NAMED)
        .map(|a| {
            let from = if a.from.trim().is_empty() {
                "(unknown sender)"
            } else {
                a.from.trim()
            };
            let subject = if a.subject.trim().is_empty() {
                "(no subject)"
            } else {
                a.subject.trim()
            };
            format!("{from}: {subject}")
        })
        .collect();
    if count > NAMED {
        lines.push(format!("and {} more", count - NAMED));
    }
    Note {
        account_id: account_id.to_owned(),
        summary,
        body: lines.join("\n"),
    }
}

/// "The mailbox of Home is 93% full": once a day at most (the caller
/// keeps the day).
pub fn nearly_full(account_id: &str, account_name: &str, percent: u32) -> Note {
    let summary = if percent >= 100 {
        format!("The mailbox of {account_name} is full")
    } else {
        format!("The mailbox of {account_name} is {percent}% full")
    };
    Note {
        account_id: account_id.to_owned(),
        summary,
        body: "When it is full, the server turns new mail away. Delete or download messages that are still on the server to make room.".to_owned(),
    }
}

/// Notification servers may read the body as a little markup: what the
/// mail says is shown as it is.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where the notification service is.
#[derive(Clone, Debug)]
pub enum Bus {
    /// The user's session bus.
    Session,
    /// A bus at this address (tests run a private one).
    Address(String),
    /// Nowhere: notifications are dropped (the command line, some tests).
    None,
}

/// Sends notifications from a thread of its own and reports clicks as
/// `DesktopEvent::OpenAccount`.
pub struct Notifier {
    sender: Option<Sender<Note>>,
}

impl Notifier {
    pub fn start(bus: Bus, events: Sender<DesktopEvent>, wake: Wake) -> Notifier {
        if matches!(bus, Bus::None) {
            return Notifier { sender: None };
        }
        let (sender, notes) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("notifications".into())
            .spawn(move || run(bus, notes, events, wake));
        if let Err(e) = spawned {
            tracing::warn!("notifications are off: no thread for them ({e})");
            return Notifier { sender: None };
        }
        Notifier {
            sender: Some(sender),
        }
    }

    /// Shows the note (eventually; never blocks).
    pub fn show(&self, note: Note) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(note);
        }
    }
}

fn connect(bus: &Bus) -> zbus::Result<zbus::blocking::Connection> {
    match bus {
        Bus::Session | Bus::None => zbus::blocking::Connection::session(),
        Bus::Address(address) => {
            zbus::blocking::connection::Builder::address(address.as_str())?.build()
        }
    }
}

fn run(bus: Bus, notes: Receiver<Note>, events: Sender<DesktopEvent>, wake: Wake) {
    // Which account each shown notification opens.
    let shown: Arc<Mutex<HashMap<u32, String>>> = Arc::default();
    let mut proxy: Option<NotificationsProxy<'static>> = None;
    let mut listening = false;
    for note in notes {
        if proxy.is_none() {
            match connect(&bus).and_then(|c| NotificationsProxy::new(&c)) {
                Ok(p) => proxy = Some(p),
                Err(e) => {
                    // Tried again with the next note: the desktop may
                    // start its service later.
                    tracing::info!("no notification service: {e}");
                    continue;
                }
            }
        }
        let Some(service) = &proxy else { continue };
        if !listening {
            listening = listen(service, shown.clone(), events.clone(), wake.clone());
        }
        let mut hints = HashMap::new();
        hints.insert("desktop-entry", Value::from("letterbox"));
        hints.insert("category", Value::from("email.arrived"));
        let body = escape(&note.body);
        let sent = service.notify(
            "Letterbox",
            0,
            "letterbox",
            &note.summary,
            &body,
            &["default", "Open Letterbox"],
            hints,
            -1,
        );
        match sent {
            Ok(id) => {
                shown
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, note.account_id);
            }
            Err(e) => {
                tracing::info!("the notification was not shown: {e}");
                // The service may have gone: connect again next time.
                proxy = None;
                listening = false;
            }
        }
    }
}

/// Waits for clicks on our notifications, on a thread of its own.
fn listen(
    service: &NotificationsProxy<'static>,
    shown: Arc<Mutex<HashMap<u32, String>>>,
    events: Sender<DesktopEvent>,
    wake: Wake,
) -> bool {
    let clicks = match service.receive_action_invoked() {
        Ok(clicks) => clicks,
        Err(e) => {
            tracing::info!("clicks on notifications will not be seen: {e}");
            return false;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("notification-clicks".into())
        .spawn(move || {
            for click in clicks {
                let Ok(args) = click.args() else { continue };
                let account = shown
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&args.id)
                    .cloned();
                if let Some(account) = account {
                    if events.send(DesktopEvent::OpenAccount(account)).is_err() {
                        return;
                    }
                    wake();
                }
            }
        });
    spawned.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(from: &str, subject: &str) -> Arrival {
        Arrival {
            from: from.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn one_message_is_named() {
        let note = new_mail("a", "Home", &[arrival("Alice", "Dinner Saturday")]);
        assert_eq!(note.summary, "1 new message for Home");
        assert_eq!(note.body, "Alice: Dinner Saturday");
        assert_eq!(note.account_id, "a");
    }

    #[test]
    fn many_messages_name_the_first_three_and_count_the_rest() {
        let arrivals: Vec<Arrival> = (1..=5)
            .map(|n| arrival(&format!("Sender {n}"), &format!("Subject {n}")))
            .collect();
        let note = new_mail("a", "Work", &arrivals);
        assert_eq!(note.summary, "5 new messages for Work");
        assert_eq!(
            note.body,
            "Sender 1: Subject 1\nSender 2: Subject 2\nSender 3: Subject 3\nand 2 more"
        );
    }

    #[test]
    fn missing_senders_and_subjects_are_said_and_markup_is_escaped() {
        let note = new_mail("a", "Home", &[arrival(" ", "")]);
        assert_eq!(note.body, "(unknown sender): (no subject)");
        assert_eq!(
            escape("Tom & Jerry <tom@example.org>"),
            "Tom &amp; Jerry &lt;tom@example.org&gt;"
        );
    }

    #[test]
    fn a_full_mailbox_says_what_happens_and_what_to_do() {
        let note = nearly_full("a", "Home", 93);
        assert_eq!(note.summary, "The mailbox of Home is 93% full");
        assert!(note.body.contains("turns new mail away"));
        assert_eq!(
            nearly_full("a", "Home", 322).summary,
            "The mailbox of Home is full"
        );
    }
}
