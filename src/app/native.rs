//! Opening the real window: title, app id, icon and size, then eframe's
//! event loop. Tests build `App` directly instead (egui_kittest).

use std::sync::Arc;

use super::{App, AppConfig};

/// The app's id: window class on X11/Wayland, icon and metainfo name.
pub const APP_ID: &str = "org.letterbox.Letterbox";

/// The window icon (rendered from `assets/icons/org.letterbox.Letterbox.svg`).
const ICON_PNG: &[u8] =
    include_bytes!("../../assets/icons/hicolor/256x256/apps/org.letterbox.Letterbox.png");

/// Opens the window and runs until it is closed. `persistence_path`
/// overrides where window geometry and UI state are kept (the demo keeps
/// them in its temporary profile).
pub fn run_native(
    config: AppConfig,
    persistence_path: Option<std::path::PathBuf>,
) -> Result<(), String> {
    let title = config.window_title();
    let mut viewport = egui::ViewportBuilder::default()
        .with_title(title)
        .with_app_id(APP_ID)
        .with_inner_size([1100.0, 720.0])
        .with_min_inner_size([640.0, 420.0]);
    match eframe::icon_data::from_png_bytes(ICON_PNG) {
        Ok(icon) => viewport = viewport.with_icon(Arc::new(icon)),
        Err(e) => tracing::warn!("the window icon could not be read: {e}"),
    }
    let options = eframe::NativeOptions {
        viewport,
        persistence_path,
        // The app installs its own system font lookup (see `fonts`).
        system_font_fallback: false,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "letterbox",
        options,
        Box::new(move |cc| Ok(Box::new(App::new(cc, config)))),
    )
    .map_err(|e| e.to_string())
}
