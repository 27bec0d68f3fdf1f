//! The status icon (StatusNotifierItem over the session D-Bus, through
//! ksni) where the desktop shows one (KDE, Xfce, most others; GNOME only
//! with the AppIndicator extension): the new-mail count in its tooltip, a
//! click brings the window up, and its menu opens Letterbox, checks now or
//! quits. Without one, `start` says so and the app minimises its window
//! instead of hiding it.

use std::sync::mpsc::Sender;

use ksni::blocking::TrayMethods as _;

use super::{DesktopEvent, Wake};

const ICON_PNG: &[u8] =
    include_bytes!("../../assets/icons/hicolor/32x32/apps/org.letterbox.Letterbox.png");

struct Item {
    /// New messages over all accounts.
    new: usize,
    events: Sender<DesktopEvent>,
    wake: Wake,
    icon: Vec<ksni::Icon>,
}

impl Item {
    fn send(&self, event: DesktopEvent) {
        if self.events.send(event).is_ok() {
            (self.wake)();
        }
    }
}

/// The tooltip's line for `new` messages.
pub fn summary(new: usize) -> String {
    match new {
        0 => "No new mail".to_owned(),
        1 => "1 new message".to_owned(),
        n => format!("{n} new messages"),
    }
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        "letterbox".into()
    }

    fn title(&self) -> String {
        "Letterbox".into()
    }

    fn category(&self) -> ksni::Category {
        ksni::Category::Communications
    }

    fn status(&self) -> ksni::Status {
        if self.new > 0 {
            ksni::Status::NeedsAttention
        } else {
            ksni::Status::Active
        }
    }

    fn icon_name(&self) -> String {
        "org.letterbox.Letterbox".into()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icon.clone()
    }

    fn attention_icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.icon.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip {
            title: "Letterbox".into(),
            description: summary(self.new),
            ..Default::default()
        }
    }

    fn activate(&mut self, _x: i32, _y: i32) {
        self.send(DesktopEvent::Show);
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        use ksni::menu::StandardItem;
        vec![
            StandardItem {
                label: "Open Letterbox".into(),
                activate: Box::new(|item: &mut Item| item.send(DesktopEvent::Show)),
                ..Default::default()
            }
            .into(),
            StandardItem {
                label: "Check mail now".into(),
                activate: Box::new(|item: &mut Item| item.send(DesktopEvent::CheckNow)),
                ..Default::default()
            }
            .into(),
            ksni::MenuItem::Separator,
            StandardItem {
                label: "Quit".into(),
                activate: Box::new(|item: &mut Item| item.send(DesktopEvent::Quit)),
                ..Default::default()
            }
            .into(),
        ]
    }
}

/// The icon, as the StatusNotifierItem spec wants it (ARGB32, big-endian).
fn icon() -> Vec<ksni::Icon> {
    let Ok(image) = image::load_from_memory(ICON_PNG) else {
        return Vec::new();
    };
    let image = image.to_rgba8();
    let (width, height) = image.dimensions();
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for pixel in image.pixels() {
        let [r, g, b, a] = pixel.0;
        data.extend_from_slice(&[a, r, g, b]);
    }
    vec![ksni::Icon {
        width: width as i32,
        height: height as i32,
        data,
    }]
}

/// The status icon, while it is shown.
pub struct Tray {
    handle: ksni::blocking::Handle<Item>,
}

impl Tray {
    /// Shows the icon on the session bus. An error (no bus, no tray on
    /// this desktop) is a sentence for the settings and the log.
    pub fn start(events: Sender<DesktopEvent>, wake: Wake) -> Result<Tray, String> {
        let item = Item {
            new: 0,
            events,
            wake,
            icon: icon(),
        };
        match item.spawn() {
            Ok(handle) => Ok(Tray { handle }),
            Err(ksni::Error::Watcher(_)) | Err(ksni::Error::WontShow) => {
                Err("This desktop shows no tray icons".to_owned())
            }
            Err(e) => Err(format!("The tray icon could not be shown ({e})")),
        }
    }

    /// The new-mail count it shows.
    pub fn set_new(&self, new: usize) {
        self.handle.update(|item| item.new = new);
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        self.handle.shutdown().wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tooltip_counts_new_mail() {
        assert_eq!(summary(0), "No new mail");
        assert_eq!(summary(1), "1 new message");
        assert_eq!(summary(12), "12 new messages");
    }

    #[test]
    fn the_icon_is_argb_of_the_right_size() {
        let icons = icon();
        assert_eq!(icons.len(), 1);
        let icon = &icons[0];
        assert_eq!((icon.width, icon.height), (32, 32));
        assert_eq!(icon.data.len(), 32 * 32 * 4);
        // Not all transparent.
        assert!(icon.data.chunks(4).any(|p| p[0] > 0));
    }
}
