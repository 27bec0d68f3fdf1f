//! A private session bus (`dbus-daemon`, started here) with a notification
//! service of our own on it: it records every `Notify` call, answers like
//! a desktop's would, and can play the user clicking a notification.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use zbus::zvariant::OwnedValue;

use super::desktop::{Killed, missing_tool};

/// A `dbus-daemon` nobody else uses; stops when dropped.
pub struct PrivateBus {
    pub address: String,
    _daemon: Killed,
    _dir: tempfile::TempDir,
}

impl PrivateBus {
    /// `None` when `dbus-daemon` is not installed (a failure instead with
    /// `LETTERBOX_REQUIRE_DESKTOP=1`).
    pub fn start() -> Option<PrivateBus> {
        if let Some(missing) = missing_tool(&["dbus-daemon"], "LETTERBOX_REQUIRE_DESKTOP") {
            eprintln!("skipped: {missing} is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("bus dir");
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!(
                "--address=unix:path={}",
                dir.path().join("bus").display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon");
        let stdout = daemon.stdout.take().expect("stdout");
        let mut address = String::new();
        BufReader::new(stdout)
            .read_line(&mut address)
            .expect("the bus address");
        Some(PrivateBus {
            address: address.trim().to_owned(),
            _daemon: Killed(daemon),
            _dir: dir,
        })
    }
}

/// One `Notify` call, as the service saw it.
#[derive(Clone, Debug)]
pub struct Notified {
    pub id: u32,
    pub app_name: String,
    pub summary: String,
    pub body: String,
    pub actions: Vec<String>,
    pub hints: Vec<String>,
}

struct Service {
    calls: Arc<Mutex<Vec<Notified>>>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Service {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut calls = self.calls.lock().expect("calls");
        let id = calls.len() as u32 + 1;
        let mut hints: Vec<String> = hints.into_keys().collect();
        hints.sort();
        calls.push(Notified {
            id,
            app_name,
            summary,
            body,
            actions,
            hints,
        });
        id
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["actions".into(), "body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "letterbox-tests".into(),
            "Letterbox".into(),
            "1".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

/// The notification service, on a private bus.
pub struct Notifications {
    connection: zbus::blocking::Connection,
    calls: Arc<Mutex<Vec<Notified>>>,
}

const PATH: &str = "/org/freedesktop/Notifications";

impl Notifications {
    pub fn serve(bus: &PrivateBus) -> Notifications {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
            .expect("address")
            .name("org.freedesktop.Notifications")
            .expect("name")
            .serve_at(
                PATH,
                Service {
                    calls: calls.clone(),
                },
            )
            .expect("serve")
            .build()
            .expect("the notification service");
        Notifications { connection, calls }
    }

    pub fn calls(&self) -> Vec<Notified> {
        self.calls.lock().expect("calls").clone()
    }

    /// The user clicks notification `id` (its default action).
    pub fn click(&self, id: u32) {
        self.connection
            .emit_signal(
                None::<zbus::names::BusName<'_>>,
                PATH,
                "org.freedesktop.Notifications",
                "ActionInvoked",
                &(id, "default"),
            )
            .expect("ActionInvoked");
    }
}

/// A StatusNotifierWatcher of our own (the part of a desktop's panel that
/// tray icons register with), recording who registered.
pub struct Watcher {
    _connection: zbus::blocking::Connection,
    items: Arc<Mutex<Vec<String>>>,
}

struct WatcherService {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl WatcherService {
    fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // An item names its bus name, or its object path on the sender.
        let name = if service.starts_with('/') {
            header.sender().map(|s| s.to_string()).unwrap_or_default()
        } else {
            service
        };
        self.items.lock().expect("items").push(name);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

impl Watcher {
    pub fn serve(bus: &PrivateBus) -> Watcher {
        let items = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
            .expect("address")
            .name("org.kde.StatusNotifierWatcher")
            .expect("name")
            .serve_at(
                "/StatusNotifierWatcher",
                WatcherService {
                    items: items.clone(),
                },
            )
            .expect("serve")
            .build()
            .expect("the watcher");
        Watcher {
            _connection: connection,
            items,
        }
    }

    /// The bus names of the items registered so far.
    pub fn items(&self) -> Vec<String> {
        self.items.lock().expect("items").clone()
    }
}
